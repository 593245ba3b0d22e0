"""Each rule of the reference data is written once (:mod:`app.reference.rules`): its boundaries,
and the same words whether a teacher's 双师型 recognition is set one at a time or uploaded."""

from datetime import date, timedelta

from sqlmodel import Session
from starlette.testclient import TestClient

from app.reference.models import Level, Teacher
from app.reference.rules import dual_period_problem, level_problem
from tests.imports.helpers import upload
from tests.reference.factories import make_teacher, office

OFFERED = [Level.junior, Level.intermediate]


def test_a_certificate_is_used_only_at_a_level_it_offers() -> None:
    assert level_problem("Web前端开发", OFFERED, Level.junior) is None
    assert level_problem("Web前端开发", OFFERED, Level.intermediate) is None
    assert level_problem("Web前端开发", OFFERED, Level.senior) == (
        "the certificate Web前端开发 is offered at 初级、中级, not at Senior"
    )
    # a higher level offered does not cover a lower one: the level itself is offered or not
    assert level_problem("Web前端开发", [Level.senior], Level.intermediate) == (
        "the certificate Web前端开发 is offered at 高级, not at Intermediate"
    )


def test_a_recognition_holds_from_its_first_day_on() -> None:
    recognised = date(2022, 9, 1)
    assert dual_period_problem(recognised, None) is None
    assert dual_period_problem(recognised, recognised) is None
    assert dual_period_problem(recognised, recognised + timedelta(days=1)) is None
    assert dual_period_problem(recognised, recognised - timedelta(days=1)) == (
        "valid until 2022-08-31 is before the day it was recognised (2022-09-01)"
    )


def test_a_recognition_ending_before_it_begins_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session
) -> None:
    teacher = make_teacher(db)
    headers = office(db)

    alone = client.put(
        f"/api/v1/teachers/{teacher.id}/dual-qualification",
        json={
            "basis": "vocational_certificate",
            "recognised_on": "2022-09-01",
            "valid_until": "2022-08-31",
        },
        headers={**headers, "If-Match": f'"{teacher.version}"'},
    )
    uploaded = upload(
        client,
        headers,
        "dual-qualifications",
        "d.csv",
        f"工号,认定依据,认定日期,有效期至\n{teacher.staff_no},职业技能等级证书,2022-09-01,"
        "2022-08-31\n".encode(),
    )

    expected = dual_period_problem(date(2022, 9, 1), date(2022, 8, 31))
    assert alone.status_code == 422
    assert [e["message"] for e in alone.json()["errors"]] == [expected]
    assert uploaded.status_code == 422
    assert [(e["column"], e["reason"]) for e in uploaded.json()["errors"]] == [
        ("有效期至", expected)
    ]
    db.expire_all()
    stored = db.get(Teacher, teacher.id)
    assert stored is not None and stored.dual_basis is None
