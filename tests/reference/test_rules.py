"""Each rule of the reference data is written once (:mod:`app.reference.rules`): its boundaries,
and the same words whether a teacher's 双师型 recognition is set one at a time or uploaded."""

from datetime import date, timedelta

from sqlmodel import Session
from starlette.testclient import TestClient

from app.reference.models import Level, Teacher
from app.reference.rules import certificate_name_problem, dual_period_problem, level_problem
from tests.imports.helpers import upload
from tests.reference.factories import make_certificate, make_org, make_teacher, office

OFFERED = [Level.junior, Level.intermediate]


def test_a_certificate_is_used_only_at_a_level_it_offers() -> None:
    assert level_problem("Web前端开发", OFFERED, Level.junior) is None
    assert level_problem("Web前端开发", OFFERED, Level.intermediate) is None
    assert level_problem("Web前端开发", OFFERED, Level.senior) == (
        "the certificate Web前端开发 is offered at Junior、Intermediate, not at Senior"
    )
    # a higher level offered does not cover a lower one: the level itself is offered or not
    assert level_problem("Web前端开发", [Level.senior], Level.intermediate) == (
        "the certificate Web前端开发 is offered at Senior, not at Intermediate"
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


NO_NAME = "a certificate name, such as Web前端开发"


def test_a_certificate_name_must_say_which_certificate_it_is() -> None:
    assert certificate_name_problem("web前端开发") is None
    assert certificate_name_problem("") == NO_NAME


def test_a_name_of_only_1x_and_zhengshu_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session
) -> None:
    org = make_org(db, name="某评价组织")
    existing = make_certificate(db)
    headers = office(db)
    body = {"name": "1+X 证书", "evaluation_org_id": org.id, "levels": ["初级"]}

    created = client.post("/api/v1/certificates", json=body, headers=headers)
    renamed = client.patch(
        f"/api/v1/certificates/{existing.id}",
        json={"name": "1+X证书"},
        headers={**headers, "If-Match": f'"{existing.version}"'},
    )
    uploaded = upload(
        client,
        headers,
        "certificates",
        "c.csv",
        "证书名称,培训评价组织,等级\n1+X证书,某评价组织,初级\n".encode(),
    )

    for refused in (created, renamed):
        assert refused.status_code == 422, refused.text
        assert any(NO_NAME in e["message"] for e in refused.json()["errors"])
    assert uploaded.status_code == 422
    assert [e["reason"] for e in uploaded.json()["errors"]] == [NO_NAME]
    assert client.get("/api/v1/certificates", headers=headers).json()["total"] == 1
