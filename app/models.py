"""Imports every table model so that ``SQLModel.metadata`` knows the whole schema."""

from app.accounts.models import ApiKey, LoginFailure, User
from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    PilotApplication,
    PilotPlan,
    PilotTeacher,
    PlanCourse,
)
from app.committee.models import Expert, Meeting, MeetingAttendee, MeetingDecision
from app.core.audit import AuditEvent
from app.evaluations.models import Evaluation, EvaluationScheme
from app.exams.models import (
    ExamRegistration,
    ExamResult,
    ExamSession,
    IssuedCertificate,
    PublicLookup,
)
from app.imports.models import ImportBatch
from app.reference.models import (
    Certificate,
    College,
    Course,
    CourseMajor,
    EvaluationOrg,
    Major,
    Student,
    Teacher,
)
from app.trainings.models import (
    TeacherTraining,
    TrainingBatch,
    TrainingBatchInstructor,
    TrainingEnrollment,
)

__all__ = [
    "ApiKey",
    "ApplicationCohort",
    "ApplicationMajor",
    "AuditEvent",
    "Certificate",
    "College",
    "Course",
    "CourseMajor",
    "Evaluation",
    "EvaluationOrg",
    "EvaluationScheme",
    "ExamRegistration",
    "ExamResult",
    "ExamSession",
    "Expert",
    "ImportBatch",
    "IssuedCertificate",
    "LoginFailure",
    "Major",
    "Meeting",
    "MeetingAttendee",
    "MeetingDecision",
    "PilotApplication",
    "PilotPlan",
    "PilotTeacher",
    "PlanCourse",
    "PublicLookup",
    "Student",
    "Teacher",
    "TeacherTraining",
    "TrainingBatch",
    "TrainingBatchInstructor",
    "TrainingEnrollment",
    "User",
]
