"""Helpers for exams: an approved pilot with students, a session whose window is open."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from app.applications.models import ApplicationStatus, PilotApplication
from app.exams.models import (
    ExamRegistration,
    ExamResult,
    ExamSession,
    IssuedCertificate,
    RegistrationStatus,
)
from app.reference.models import Certificate, Major, Student
from tests.applications.factories import make_application
from tests.reference.factories import make_major, make_student


def school_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def make_pilot(
    db: Session,
    *,
    major: Major | None = None,
    headcount: int = 40,
    cohorts: tuple[int, ...] = (2021,),
    status: ApplicationStatus = ApplicationStatus.approved,
) -> PilotApplication:
    return make_application(
        db,
        majors=[major or make_major(db)],
        status=status,
        headcount=headcount,
        cohorts=cohorts,
    )


def make_session(
    db: Session,
    application: PilotApplication,
    *,
    capacity: int = 30,
    opens_in_days: int = -5,
    closes_in_days: int = 5,
    exam_in_days: int = 10,
) -> ExamSession:
    today = school_today()
    certificate = db.get(Certificate, application.certificate_id)
    assert certificate is not None
    exam = ExamSession(
        application_id=application.id,
        certificate_id=application.certificate_id,
        level=application.level,
        evaluation_org_id=certificate.evaluation_org_id,
        exam_date=today + timedelta(days=exam_in_days),
        site="实训楼A301",
        capacity=capacity,
        registration_opens=today + timedelta(days=opens_in_days),
        registration_closes=today + timedelta(days=closes_in_days),
        fee=Decimal("260.00"),
    )
    db.add(exam)
    db.commit()
    db.refresh(exam)
    return exam


def pilot_students(db: Session, application: PilotApplication, count: int) -> list[Student]:
    """``count`` students of the pilot's first major and cohort."""
    from sqlmodel import select

    from app.applications.models import ApplicationCohort, ApplicationMajor

    major_id = db.exec(
        select(ApplicationMajor.major_id).where(ApplicationMajor.application_id == application.id)
    ).first()
    cohort = db.exec(
        select(ApplicationCohort.cohort).where(ApplicationCohort.application_id == application.id)
    ).first()
    major = db.get(Major, major_id)
    assert major is not None and cohort is not None
    return [make_student(db, major, cohort=cohort) for _ in range(count)]


def make_registration(
    db: Session,
    exam: ExamSession,
    student: Student,
    status: RegistrationStatus = RegistrationStatus.registered,
) -> ExamRegistration:
    registration = ExamRegistration(
        session_id=exam.id,
        student_id=student.id,
        application_id=exam.application_id,
        status=status,
        live=None if status == RegistrationStatus.cancelled else True,
    )
    db.add(registration)
    db.commit()
    db.refresh(registration)
    return registration


def make_result(db: Session, registration: ExamRegistration, passed: bool = True) -> ExamResult:
    registration.status = RegistrationStatus.sat
    db.add(registration)
    result = ExamResult(
        registration_id=registration.id,
        theory_score=Decimal("80.0"),
        practical_score=Decimal("75.5"),
        passed=passed,
    )
    db.add(result)
    db.commit()
    db.refresh(result)
    return result


def issue_certificate(
    db: Session, registration: ExamRegistration, number: str
) -> IssuedCertificate:
    """A valid certificate ``number`` for the registration's result, issued on 2022-12-20."""
    result_id = db.exec(
        select(ExamResult.id).where(ExamResult.registration_id == registration.id)
    ).one()
    issued = IssuedCertificate(
        number=number,
        result_id=result_id,
        student_id=registration.student_id,
        session_id=registration.session_id,
        issue_date=date(2022, 12, 20),
    )
    db.add(issued)
    db.commit()
    db.refresh(issued)
    return issued
