"""Helpers for pilot applications: the sample majors, the 2022 table, applications and plans."""

from pathlib import Path
from typing import Any

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
    Tier,
)
from app.reference.models import Certificate, College, Course, CourseMajor, Level, Major
from tests.imports.helpers import upload
from tests.reference.factories import make_certificate, make_course, make_major

FIXTURES = Path(__file__).resolve().parents[2] / "app" / "demo" / "fixtures"
TABLE = FIXTURES / "applications-2022.tsv"


def load_sample_majors(client: TestClient, headers: dict[str, str]) -> None:
    response = upload(
        client, headers, "majors", "majors.tsv", (FIXTURES / "majors-sample.tsv").read_bytes()
    )
    assert response.status_code == 200, response.text


def import_table(
    client: TestClient, headers: dict[str, str], *, year: int = 2022, **params: Any
) -> Any:
    return upload(
        client,
        headers,
        "applications",
        "applications-2022.tsv",
        TABLE.read_bytes(),
        year=year,
        **params,
    )


def make_application(
    db: Session,
    *,
    majors: list[Major] | None = None,
    certificate: Certificate | None = None,
    status: ApplicationStatus = ApplicationStatus.draft,
    year: int = 2022,
    level: Level = Level.intermediate,
    tier: Tier = Tier.higher_vocational,
    cohorts: tuple[int, ...] = (2021,),
    headcount: int = 40,
) -> PilotApplication:
    majors = majors or [make_major(db)]
    certificate = certificate or make_certificate(db)
    application = PilotApplication(
        year=year,
        tier=tier,
        certificate_id=certificate.id,
        level=level,
        headcount=headcount,
        status=status,
    )
    db.add(application)
    db.flush()
    for major in majors:
        db.add(ApplicationMajor(application_id=application.id, major_id=major.id))
    for cohort in cohorts:
        db.add(ApplicationCohort(application_id=application.id, cohort=cohort))
    db.commit()
    db.refresh(application)
    db.commit()
    return application


def major_courses(db: Session, major: Major, count: int) -> list[Course]:
    """``count`` courses of ``major``'s college, taught to ``major``."""
    college = db.get(College, major.college_id)
    courses = []
    for _ in range(count):
        course = make_course(db, college)
        db.add(CourseMajor(course_id=course.id, major_id=major.id))
        db.commit()
        courses.append(course)
    db.commit()
    return courses


def major_named(db: Session, name: str) -> Major:
    major = db.exec(select(Major).where(Major.name == name)).one()
    db.commit()
    return major
