"""``pilot_candidates``: per student and pilot, the live registrations, sat, passed, certified
and training enrolments, kept by the database's triggers on every way those rows are written
(migration 0022) and filled from the rows already there when the migration runs. Each check
compares the kept rows with a count of the rows they stand for."""

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.migrations import alembic_config
from app.core.roles import Role
from tests.exams.factories import (
    issue_certificate,
    make_pilot,
    make_registration,
    make_result,
    make_session,
    pilot_students,
)
from tests.imports.helpers import upload
from tests.reference.factories import headers_for, office, xlsx_bytes
from tests.trainings.factories import make_batch

Counts = tuple[int, int, int, int, int]
"""(registered, sat, passed, certified, trained)"""

COUNTED = """
SELECT application_id, student_id, sum(registered), sum(sat), sum(passed), sum(certified),
  sum(trained) FROM (
  SELECT r.application_id, r.student_id, 1 AS registered,
    CASE WHEN r.status = 'sat' THEN 1 ELSE 0 END AS sat,
    CASE WHEN x.passed THEN 1 ELSE 0 END AS passed,
    CASE WHEN c.id IS NOT NULL THEN 1 ELSE 0 END AS certified, 0 AS trained
  FROM exam_registrations r LEFT JOIN exam_results x ON x.registration_id = r.id
  LEFT JOIN issued_certificates c ON c.result_id = x.id AND c.status = 'valid'
  WHERE r.live
  UNION ALL
  SELECT b.application_id, e.student_id, 0, 0, 0, 0, 1
  FROM training_enrollments e JOIN training_batches b ON b.id = e.batch_id
) AS p GROUP BY application_id, student_id
"""
KEPT = """SELECT application_id, student_id, registered, sat, passed, certified, trained
FROM pilot_candidates"""


def _rows(connection: Any, sql: str) -> dict[tuple[int, int], Counts]:
    return {
        (row[0], row[1]): tuple(int(n) for n in row[2:])  # type: ignore[misc]
        for row in connection.execute(sa.text(sql)).all()
    }


def _agree(connection: Any) -> dict[tuple[int, int], Counts]:
    """The kept candidates, after checking they are the ones counted from their rows."""
    kept = _rows(connection, KEPT)
    assert kept == _rows(connection, COUNTED)
    return kept


def _kept(db: Session) -> dict[tuple[int, int], Counts]:
    db.rollback()  # a fresh read
    return _agree(db.connection())


def test_every_way_of_writing_the_rows_keeps_the_candidates(
    client: TestClient, db: Session
) -> None:
    pilot = make_pilot(db)
    other = make_pilot(db)
    exam = make_session(db, pilot, closes_in_days=0, exam_in_days=0)
    first, second, third = pilot_students(db, pilot, 3)
    one, two, three = (make_registration(db, exam, s) for s in (first, second, third))
    a, b = pilot.id or 0, other.id or 0
    s1, s2, s3 = (s.id or 0 for s in (first, second, third))
    assert _kept(db) == {
        (a, s1): (1, 0, 0, 0, 0),
        (a, s2): (1, 0, 0, 0, 0),
        (a, s3): (1, 0, 0, 0, 0),
    }

    # Results through the API (the candidate sat; passed or not).
    marker = headers_for(db, Role.evaluation_org, evaluation_org_id=exam.evaluation_org_id)
    for registration, passed in ((one, True), (two, False)):
        url = f"/api/v1/registrations/{registration.id}/result"
        assert client.put(url, json={"passed": passed}, headers=marker).status_code == 200
    assert _kept(db)[(a, s1)] == (1, 1, 1, 0, 0)
    assert _kept(db)[(a, s2)] == (1, 1, 0, 0, 0)

    # A certificate issued, then revoked through the API.
    issued = issue_certificate(db, one, "C-001").id
    assert _kept(db)[(a, s1)] == (1, 1, 1, 1, 0)
    revoke = f"/api/v1/issued-certificates/{issued}/revoke"
    assert client.post(revoke, json={"reason": "误发"}, headers=marker).status_code == 200
    assert _kept(db)[(a, s1)] == (1, 1, 1, 0, 0)

    # A registration cancelled through the API: its candidate is gone.
    cancel = f"/api/v1/registrations/{three.id}/cancel"
    assert client.post(cancel, headers=office(db)).status_code == 200
    assert (a, s3) not in _kept(db)

    # A results upload turns the failed result into a pass.
    content = xlsx_bytes([["考核ID", "学号", "是否通过"], [exam.id, second.student_no, "是"]])
    uploaded = upload(client, office(db), "exam-results", "r.xlsx", content)
    assert uploaded.status_code == 200, uploaded.text
    assert _kept(db)[(a, s2)] == (1, 1, 1, 0, 0)

    # Enrolments through the API; the batch moved to another pilot and deleted in plain SQL.
    batch = make_batch(db, pilot)
    for student in (first, third):
        enrolled = client.post(
            f"/api/v1/training-batches/{batch.id}/enrollments",
            json={"student_id": student.id},
            headers=office(db),
        )
        assert enrolled.status_code == 201, enrolled.text
    assert _kept(db)[(a, s1)] == (1, 1, 1, 0, 1)
    assert _kept(db)[(a, s3)] == (0, 0, 0, 0, 1)
    sql = db.connection()
    sql.execute(sa.text("UPDATE training_batches SET application_id = :b"), {"b": b})
    db.commit()
    assert _kept(db)[(a, s1)] == (1, 1, 1, 0, 0)
    assert (a, s3) not in _kept(db)
    assert _kept(db)[(b, s1)] == _kept(db)[(b, s3)] == (0, 0, 0, 0, 1)
    db.connection().execute(
        sa.text("DELETE FROM training_enrollments WHERE student_id = :s"), {"s": s3}
    )
    db.commit()
    assert (b, s3) not in _kept(db)
    db.connection().execute(sa.text("DELETE FROM training_batches"))
    db.commit()
    assert (b, s1) not in _kept(db)

    # Plain SQL on results, certificates and registrations.
    connection = db.connection()
    connection.execute(sa.text("UPDATE issued_certificates SET status = 'valid'"))
    connection.execute(
        sa.text("UPDATE exam_results SET passed = false WHERE registration_id = :r"), {"r": two.id}
    )
    db.commit()
    assert _kept(db)[(a, s1)] == (1, 1, 1, 1, 0)
    assert _kept(db)[(a, s2)] == (1, 1, 0, 0, 0)
    db.connection().execute(
        sa.text("DELETE FROM exam_results WHERE registration_id = :r"), {"r": two.id}
    )
    db.connection().execute(
        sa.text("UPDATE exam_registrations SET student_id = :s WHERE id = :r"),
        {"s": s3, "r": two.id},
    )
    db.commit()
    assert (a, s2) not in _kept(db)
    assert _kept(db)[(a, s3)] == (1, 1, 0, 0, 0)
    db.connection().execute(sa.text("DELETE FROM issued_certificates"))
    db.connection().execute(sa.text("DELETE FROM exam_results"))
    db.connection().execute(sa.text("DELETE FROM exam_registrations"))
    db.commit()
    assert _kept(db) == {}


def test_what_the_funnel_counts_is_the_kept_candidates(client: TestClient, db: Session) -> None:
    pilot = make_pilot(db)
    exam = make_session(db, pilot)
    students = pilot_students(db, pilot, 3)
    for student, passed in zip(students, (True, True, False), strict=True):
        make_result(db, make_registration(db, exam, student), passed=passed)
    # A candidate the kept rows say passed, whatever the rows say: the funnel reads them.
    db.connection().execute(sa.text("UPDATE pilot_candidates SET passed = 1"))
    db.commit()

    funnel = client.get("/api/v1/reports/funnel", headers=office(db)).json()

    assert (funnel["total"]["sat"], funnel["total"]["passed"]) == (3, 3)


def test_emptying_the_tables_leaves_the_candidates_of_what_is_left(
    db: Session, is_postgres: bool
) -> None:
    pilot = make_pilot(db)
    exam = make_session(db, pilot)
    student, other = pilot_students(db, pilot, 2)
    registration = make_registration(db, exam, student)
    make_result(db, registration)
    issue_certificate(db, registration, "T-1")
    make_registration(db, exam, other)
    key = (pilot.id or 0, student.id or 0)
    assert _kept(db)[key] == (1, 1, 1, 1, 0)

    # TRUNCATE on PostgreSQL (no row is deleted one by one); a DELETE of every row on SQLite.
    if is_postgres:
        db.connection().execute(sa.text("TRUNCATE issued_certificates, exam_results CASCADE"))
    else:
        db.connection().execute(sa.text("DELETE FROM issued_certificates"))
        db.connection().execute(sa.text("DELETE FROM exam_results"))
    db.commit()

    assert _kept(db) == {key: (1, 1, 0, 0, 0), (pilot.id or 0, other.id or 0): (1, 0, 0, 0, 0)}


RESULT = (
    "INSERT INTO exam_results (created_at, updated_at, version, registration_id, passed) "
    "VALUES (now(), now(), 1, :registration, true)"
)
CANCEL = "UPDATE exam_registrations SET status = 'cancelled', live = NULL WHERE id = :registration"
ENROL = (
    "INSERT INTO training_enrollments (created_at, updated_at, version, batch_id, student_id, "
    "attended_hours, completed) VALUES (now(), now(), 1, :batch, :student, 0, false)"
)
MOVE = "UPDATE training_batches SET application_id = :other WHERE id = :batch"


@pytest.mark.parametrize(
    ("first", "second"),
    [(RESULT, CANCEL), (CANCEL, RESULT), (ENROL, MOVE), (MOVE, ENROL)],
    ids=["result-cancel", "cancel-result", "enrol-move", "move-enrol"],
)
def test_two_writers_at_the_same_moment_leave_the_candidates_right(
    db: Session, engine: Engine, is_postgres: bool, first: str, second: str
) -> None:
    """Two transactions at once: a passed result recorded while its registration is cancelled,
    or a student enrolled while the batch is moved to another pilot. Whichever writes first,
    the other waits for its commit and counts what it left. Without the triggers' lock on the
    batch, an enrolment and a move would each count from what it saw alone (the enrolment left
    on the pilot the batch left); a result and a cancel wait for each other on the
    registration's key already."""
    if not is_postgres:
        pytest.skip("SQLite runs one writer at a time")
    pilot, other = make_pilot(db), make_pilot(db)
    exam = make_session(db, pilot)
    (student,) = pilot_students(db, pilot, 1)
    registration = make_registration(db, exam, student)
    batch = make_batch(db, pilot)
    values = {
        "registration": registration.id,
        "batch": batch.id,
        "student": student.id,
        "other": other.id,
    }
    done: list[str] = []

    def write_second() -> None:
        with engine.begin() as connection:
            connection.execute(sa.text(second), values)
        done.append(second)

    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(sa.text(first), values)
        waiting = threading.Thread(target=write_second)
        waiting.start()
        time.sleep(0.5)
        assert done == []  # the second writer waits for the first's commit
        transaction.commit()
    waiting.join(timeout=10)

    assert done == [second]
    kept = _kept(db)
    if RESULT in (first, second):
        assert kept == {}
    else:
        assert kept == {
            (pilot.id or 0, student.id or 0): (1, 0, 0, 0, 0),
            (other.id or 0, student.id or 0): (0, 0, 0, 0, 1),
        }


def test_the_migration_fills_the_candidates_from_the_rows_already_recorded(
    own_url: str, own_engine: Engine
) -> None:
    with Session(own_engine, expire_on_commit=False) as db:
        pilot = make_pilot(db)
        exam = make_session(db, pilot)
        students = pilot_students(db, pilot, 3)
        batch = make_batch(db, pilot)
        batch_id, ids = batch.id, [s.id for s in students]
    command.downgrade(alembic_config(own_url), "0021")
    with own_engine.begin() as connection:
        for index, student_id in enumerate(ids):
            connection.execute(
                sa.text(
                    "INSERT INTO exam_registrations (created_at, updated_at, version, "
                    "session_id, student_id, application_id, status, live) VALUES "
                    "(:now, :now, 1, :exam, :student, :pilot, :status, :live)"
                ),
                {
                    "now": "2022-10-01 00:00:00",
                    "exam": exam.id,
                    "student": student_id,
                    "pilot": pilot.id,
                    "status": "cancelled" if index == 2 else "sat",
                    "live": None if index == 2 else True,
                },
            )
        connection.execute(
            sa.text(
                "INSERT INTO exam_results (created_at, updated_at, version, registration_id, "
                "passed) SELECT created_at, updated_at, 1, id, true FROM exam_registrations "
                "WHERE student_id = :student"
            ),
            {"student": ids[0]},
        )
        connection.execute(
            sa.text(
                "INSERT INTO training_enrollments (created_at, updated_at, version, batch_id, "
                "student_id, attended_hours, completed) VALUES "
                "(:now, :now, 1, :batch, :student, 0, false)"
            ),
            {"now": "2022-10-01 00:00:00", "batch": batch_id, "student": ids[2]},
        )
    command.upgrade(alembic_config(own_url), "head")
    with own_engine.connect() as connection:
        filled = _agree(connection)
    p = pilot.id or 0
    assert filled == {
        (p, ids[0]): (1, 1, 1, 0, 0),
        (p, ids[1]): (1, 1, 0, 0, 0),
        (p, ids[2]): (0, 0, 0, 0, 1),
    }
