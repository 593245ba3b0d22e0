"""Imports every table model so that ``SQLModel.metadata`` knows the whole schema."""

from app.accounts.models import ApiKey, LoginFailure, RevokedToken, User
from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    PilotApplication,
    PilotPlan,
    PilotTeacher,
    PlanCourse,
)
from app.bases.models import (
    TrainingBase,
    TrainingBaseApplication,
    TrainingBaseCertificate,
    TrainingBasePartner,
)
from app.committee.models import Expert, Meeting, MeetingAttendee, MeetingDecision
from app.core.audit import AuditEvent
from app.credits.models import (
    ConversionRequest,
    ConversionRule,
    ConversionRuleMajor,
    CreditRecord,
)
from app.evaluations.models import Evaluation, EvaluationScheme
from app.exams.models import (
    ExamRegistration,
    ExamResult,
    ExamSession,
    IssuedCertificate,
    PublicLookup,
)
from app.funding.models import BudgetLine, Expenditure, FundingSource, SubsidyRun
from app.imports.models import ImportBatch
from app.reconciliation.models import NationalIdentity, Reconciliation, ReconciliationRow
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
    EvaluatorQualification,
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
    "BudgetLine",
    "Certificate",
    "College",
    "ConversionRequest",
    "ConversionRule",
    "ConversionRuleMajor",
    "Course",
    "CourseMajor",
    "CreditRecord",
    "Evaluation",
    "EvaluationOrg",
    "EvaluationScheme",
    "EvaluatorQualification",
    "ExamRegistration",
    "ExamResult",
    "ExamSession",
    "Expenditure",
    "Expert",
    "FundingSource",
    "ImportBatch",
    "IssuedCertificate",
    "LoginFailure",
    "Major",
    "Meeting",
    "MeetingAttendee",
    "MeetingDecision",
    "NationalIdentity",
    "PilotApplication",
    "PilotPlan",
    "PilotTeacher",
    "PlanCourse",
    "PublicLookup",
    "Reconciliation",
    "ReconciliationRow",
    "RevokedToken",
    "Student",
    "SubsidyRun",
    "Teacher",
    "TeacherTraining",
    "TrainingBase",
    "TrainingBaseApplication",
    "TrainingBaseCertificate",
    "TrainingBasePartner",
    "TrainingBatch",
    "TrainingBatchInstructor",
    "TrainingEnrollment",
    "User",
]
