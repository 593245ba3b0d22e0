"""A base's stations and the capacity of the sessions held there hold together under
concurrent requests: sessions that seat 30 racing a cut of the base to 20 stations (by PATCH
or by upload) never leave a coming session larger than the base (row locks on PostgreSQL;
SQLite serialises writers)."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.bases.models import TrainingBase
from app.exams.models import ExamSession
from tests.concurrency import Call, fire_concurrently
from tests.exams.factories import make_pilot, school_today
from tests.reference.factories import office

ROUNDS = 5
SESSIONS = 12


@pytest.mark.slow
@pytest.mark.parametrize("cut_by", ["patch", "upload"])
def test_sessions_racing_a_cut_of_stations_never_outgrow_the_base(
    app: FastAPI, db: Session, engine: Engine, cut_by: str
) -> None:
    pilot = make_pilot(db)
    headers = office(db)
    today = school_today()
    session_body = {
        "application_id": pilot.id,
        "exam_date": str(today + timedelta(days=20)),
        "site": "基地",
        "capacity": 30,
        "registration_opens": str(today),
        "registration_closes": str(today + timedelta(days=10)),
        "fee": "100.00",
    }
    for round_ in range(ROUNDS):
        base = TrainingBase(name=f"基地{round_}", stations=30, exam_site=True)
        db.add(base)
        db.commit()
        db.refresh(base)
        cut = (
            Call(
                "PATCH",
                f"/api/v1/training-bases/{base.id}",
                {"json": {"stations": 20}, "headers": {**headers, "If-Match": '"1"'}},
            )
            if cut_by == "patch"
            else Call(
                "POST",
                "/api/v1/imports/training-bases",
                {
                    "files": {"file": ("b.csv", f"基地名称,工位数\n{base.name},20\n".encode())},
                    "headers": headers,
                },
            )
        )
        creates = [
            Call(
                "POST",
                "/api/v1/exam-sessions",
                {"json": {**session_body, "base_id": base.id}, "headers": headers},
            )
            for _ in range(SESSIONS)
        ]
        calls = [*creates[: SESSIONS // 2], cut, *creates[SESSIONS // 2 :]]

        responses = fire_concurrently(app, calls, max_in_flight=20)

        assert all(r.status_code in (200, 201, 409) for r in responses), [
            (r.status_code, r.text) for r in responses
        ]
        db.expire_all()
        stations = db.get(TrainingBase, base.id).stations  # type: ignore[union-attr]
        largest = db.exec(
            select(col(ExamSession.capacity)).where(ExamSession.base_id == base.id)
        ).all()
        assert all(capacity <= stations for capacity in largest), (stations, largest)
        cut_answer = responses[SESSIONS // 2]
        assert (cut_answer.status_code == 200) == (not largest), (cut_answer.text, largest)
