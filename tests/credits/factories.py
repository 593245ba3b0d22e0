"""Helpers for the credit bank: an issued certificate for a student, a conversion rule."""

import itertools
from datetime import date
from decimal import Decimal

from sqlmodel import Session, select

from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
)
from app.credits.models import (
    ConversionMode,
    ConversionRequest,
    ConversionRule,
    ConversionRuleMajor,
)
from app.exams.models import CertificateStatus, IssuedCertificate
from app.reference.models import Certificate, Course, Level, Major, Student
from tests.applications.factories import make_application
from tests.exams.factories import make_registration, make_result, make_session
from tests.reference.factories import make_certificate, make_course

_numbers = itertools.count(1)


def pilot_for(
    db: Session, student: Student, certificate: Certificate, level: Level, year: int = 2022
) -> PilotApplication:
    """The approved pilot of ``certificate`` at ``level`` in ``year``, covering the student."""
    pilot = db.exec(
        select(PilotApplication).where(
            PilotApplication.year == year,
            PilotApplication.certificate_id == certificate.id,
            PilotApplication.level == level,
        )
    ).first()
    major = db.get(Major, student.major_id)
    assert major is not None
    if pilot is None:
        return make_application(
            db,
            majors=[major],
            certificate=certificate,
            status=ApplicationStatus.approved,
            level=level,
            cohorts=(student.cohort,),
            year=year,
        )
    if db.get(ApplicationMajor, (pilot.id, major.id)) is None:
        db.add(ApplicationMajor(application_id=pilot.id, major_id=major.id))
    if db.get(ApplicationCohort, (pilot.id, student.cohort)) is None:
        db.add(ApplicationCohort(application_id=pilot.id, cohort=student.cohort))
    db.commit()
    return pilot


def issue_certificate(
    db: Session,
    student: Student,
    certificate: Certificate | None = None,
    *,
    level: Level = Level.intermediate,
    issue_date: date = date(2022, 12, 20),
    status: CertificateStatus = CertificateStatus.valid,
    year: int = 2022,
) -> IssuedCertificate:
    """A passed exam of an approved pilot covering the student, and its certificate number."""
    application = pilot_for(db, student, certificate or make_certificate(db), level, year)
    exam = make_session(db, application, opens_in_days=-40, closes_in_days=-20, exam_in_days=-10)
    registration = make_registration(db, exam, student)
    result = make_result(db, registration, passed=True)
    issued = IssuedCertificate(
        number=f"CB{next(_numbers):08d}",
        result_id=result.id,
        student_id=student.id,
        session_id=exam.id,
        issue_date=issue_date,
        status=status,
        revoke_reason="撤销" if status == CertificateStatus.revoked else None,
    )
    db.add(issued)
    db.commit()
    db.refresh(issued)
    return issued


def make_rule(
    db: Session,
    certificate: Certificate,
    majors: list[Major],
    *,
    course: Course | None = None,
    min_level: Level = Level.intermediate,
    credits: str = "4",
    mode: ConversionMode = ConversionMode.substitution,
    effective_from: date | None = None,
    effective_to: date | None = None,
) -> ConversionRule:
    rule = ConversionRule(
        certificate_id=certificate.id,
        min_level=min_level,
        course_id=(course or make_course(db)).id,
        credits=Decimal(credits),
        mode=mode,
        effective_from=effective_from,
        effective_to=effective_to,
    )
    db.add(rule)
    db.commit()
    db.refresh(rule)
    for major in majors:
        db.add(ConversionRuleMajor(rule_id=rule.id, major_id=major.id))
    db.commit()
    return rule


def file_request(
    db: Session, student: Student, issued: IssuedCertificate, rule: ConversionRule
) -> ConversionRequest:
    """A submitted conversion request, written directly (no checks)."""
    request = ConversionRequest(
        student_id=student.id,
        issued_certificate_id=issued.id,
        rule_id=rule.id,
        course_id=rule.course_id,
    )
    db.add(request)
    db.commit()
    db.refresh(request)
    return request
