"""Helpers for evaluations: pilots of one year with different results, so their indicators
differ."""

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationMajor, PilotApplication, PilotPlan, PlanStatus
from app.exams.models import IssuedCertificate
from app.reference.models import Certificate, College, Major
from app.trainings.models import TrainingStatus
from tests.exams.factories import (
    make_pilot,
    make_registration,
    make_result,
    make_session,
    pilot_students,
)
from tests.reference.factories import make_college, make_major, make_teacher
from tests.trainings.factories import assign, make_training

EVALUATIONS = "/api/v1/evaluations"
SCHEMES = "/api/v1/evaluation-schemes"
YEAR = 2022
_numbers = itertools.count(1)


@dataclass
class Built:
    pilot: PilotApplication
    college: College


def file_plan(db: Session, pilot: PilotApplication, filed_at: datetime | None = None) -> PilotPlan:
    major_id = db.exec(
        select(ApplicationMajor.major_id).where(ApplicationMajor.application_id == pilot.id)
    ).first()
    plan = PilotPlan(
        application_id=pilot.id,
        major_id=major_id,
        status=PlanStatus.filed,
        filed_at=filed_at or datetime(2022, 3, 1, 2, 0, tzinfo=UTC),
    )
    db.add(plan)
    db.commit()
    db.refresh(plan)
    return plan


def add_candidates(db: Session, pilot: PilotApplication, sat: int, passed: int) -> None:
    """``sat`` students sit a held exam of the pilot; the first ``passed`` pass and get their
    certificate."""
    exam = make_session(db, pilot, opens_in_days=-40, closes_in_days=-20, exam_in_days=-10)
    for index, student in enumerate(pilot_students(db, pilot, sat)):
        registration = make_registration(db, exam, student)
        result = make_result(db, registration, passed=index < passed)
        if index < passed:
            db.add(
                IssuedCertificate(
                    number=f"EV{next(_numbers):08d}",
                    result_id=result.id,
                    student_id=student.id,
                    session_id=exam.id,
                    issue_date=date(2022, 12, 1),
                )
            )
            db.commit()


def certified_teacher(db: Session, pilot: PilotApplication) -> None:
    teacher = make_teacher(db)
    certificate = db.get(Certificate, pilot.certificate_id)
    assert certificate is not None
    make_training(db, teacher, certificate, status=TrainingStatus.certified)
    assign(db, pilot, teacher)


def build_pilot(
    db: Session,
    *,
    plan: bool = True,
    sat: int = 0,
    passed: int = 0,
    teacher: bool = True,
    headcount: int = 10,
    college: College | None = None,
) -> Built:
    college = college or make_college(db)
    major: Major = make_major(db, college)
    pilot = make_pilot(db, major=major, headcount=headcount)
    if plan:
        file_plan(db, pilot)
    if sat:
        add_candidates(db, pilot, sat, passed)
    if teacher:
        certified_teacher(db, pilot)
    return Built(pilot=pilot, college=college)


def indicator(evaluation: dict[str, Any], key: str) -> dict[str, Any]:
    return next(i for i in evaluation["indicators"] if i["key"] == key)


def by_application(run: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {e["application_id"]: e for e in run["evaluations"]}


def compute(client: TestClient, headers: dict[str, str], year: int = YEAR) -> Any:
    return client.post(f"{EVALUATIONS}/compute", params={"year": year}, headers=headers)


def score(client: TestClient, headers: dict[str, str], evaluation_id: int, value: str) -> Any:
    return client.put(
        f"{EVALUATIONS}/{evaluation_id}/committee-score",
        json={"score": value, "comments": "评审意见"},
        headers=headers,
    )
