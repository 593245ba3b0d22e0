"""Training bases (实训基地) end to end: the base with its partners, certificates and pilots;
who reads and writes which; an exam session held at a base never seats more than its
stations (and the stations never drop below such a session); equipment payments that name
the base, and the funding report by base."""

import csv
import io
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.funding.models import Category
from tests.applications.factories import make_application
from tests.exams.factories import make_pilot, make_session, school_today
from tests.funding.factories import make_line, make_source
from tests.imports.helpers import upload
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_major,
    manager_of,
    office,
)

BASES = "/api/v1/training-bases"
SESSIONS = "/api/v1/exam-sessions"
EXPENDITURES = "/api/v1/expenditures"


def _base(client: TestClient, headers: dict[str, str], **fields: object) -> dict:
    body = {"name": "智能制造实训基地", "stations": 30, "exam_site": True, **fields}
    response = client.post(BASES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _session_body(application_id: int, **fields: object) -> dict:
    today = school_today()
    return {
        "application_id": application_id,
        "exam_date": str(today + timedelta(days=20)),
        "site": "实训楼A301",
        "capacity": 30,
        "registration_opens": str(today),
        "registration_closes": str(today + timedelta(days=10)),
        "fee": "260.00",
        **fields,
    }


def test_a_base_with_partners_certificates_and_pilots_is_created_read_listed_and_exported(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, "机电学院")
    certificate = make_certificate(db, name="工业机器人操作与运维")
    pilot = make_application(db, certificate=certificate, status=ApplicationStatus.approved)
    headers = office(db)

    base = _base(
        client,
        headers,
        college_id=college.id,
        on_campus=False,
        partners=["新松机器人", "新松机器人", "华为技术有限公司"],
        certificate_ids=[certificate.id],
        application_ids=[pilot.id],
    )
    read = client.get(f"{BASES}/{base['id']}", headers=headers)
    listed = client.get(BASES, params={"q": "华为"}, headers=headers).json()
    exported = client.get(BASES, params={"format": "csv"}, headers=headers)

    assert read.headers["etag"] == '"1"'
    assert base["partners"] == ["华为技术有限公司", "新松机器人"]
    assert base["certificates"] == [{"id": certificate.id, "name": "工业机器人操作与运维"}]
    assert (base["application_ids"], base["college_name"], base["on_campus"]) == (
        [pilot.id],
        "机电学院",
        False,
    )
    assert [b["id"] for b in listed["items"]] == [base["id"]]
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["ID", "Base name", "College", "On or off campus", "Stations"]
    assert rows[1][3] == "校外" and "华为技术有限公司" in rows[1][6]
    created = db.exec(select(AuditEvent).where(AuditEvent.entity == "training_base")).one()
    assert created.after is not None and created.after["partners"] == base["partners"]


def test_colleges_run_their_own_bases_the_office_all_and_auditors_only_read(
    client: TestClient, db: Session
) -> None:
    own, other = make_college(db, "一学院"), make_college(db, "二学院")
    headers = office(db)
    school = _base(client, headers, name="校级公共实训中心")
    others = _base(client, headers, name="二学院基地", college_id=other.id)
    manager = manager_of(db, own)

    mine = client.post(
        BASES, json={"name": "一学院基地", "stations": 10, "college_id": own.id}, headers=manager
    )
    school_by_manager = client.post(BASES, json={"name": "X", "stations": 1}, headers=manager)
    seen = {b["name"] for b in client.get(BASES, headers=manager).json()["items"]}
    others_read = client.get(f"{BASES}/{others['id']}", headers=manager)
    change_others = client.patch(
        f"{BASES}/{others['id']}", json={"stations": 5}, headers={**manager, "If-Match": '"1"'}
    )
    change_school = client.patch(
        f"{BASES}/{school['id']}", json={"stations": 5}, headers={**manager, "If-Match": '"1"'}
    )
    auditor = headers_for(db, Role.auditor)
    auditor_reads = client.get(BASES, headers=auditor)
    auditor_writes = client.post(BASES, json={"name": "Y", "stations": 1}, headers=auditor)
    student_reads = client.get(BASES, headers=headers_for(db, Role.student))
    duplicate = client.post(BASES, json={"name": "二学院基地", "stations": 1}, headers=headers)

    assert mine.status_code == 201, mine.text
    assert school_by_manager.status_code == 403
    assert seen == {"校级公共实训中心", "一学院基地", "二学院基地"}  # every role reads every base
    assert others_read.status_code == 200
    assert change_others.status_code == 403
    assert change_school.status_code == 403
    assert auditor_reads.status_code == 200 and auditor_reads.json()["total"] == 3
    assert auditor_writes.status_code == 403
    assert student_reads.status_code == 200 and student_reads.json()["total"] == 3
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "duplicate"


def test_a_session_at_a_base_with_30_stations_refuses_capacity_31(
    client: TestClient, db: Session
) -> None:
    pilot = make_pilot(db)
    headers = office(db)
    base = _base(client, headers, stations=30)

    too_many = client.post(
        SESSIONS, json=_session_body(pilot.id, base_id=base["id"], capacity=31), headers=headers
    )
    fits = client.post(
        SESSIONS, json=_session_body(pilot.id, base_id=base["id"], capacity=30), headers=headers
    )
    grow = client.patch(
        f"{SESSIONS}/{fits.json()['id']}",
        json={"capacity": 31},
        headers={**headers, "If-Match": fits.headers["etag"]},
    )
    listed = client.get(SESSIONS, params={"base_id": base["id"]}, headers=headers).json()

    assert too_many.status_code == 409, too_many.text
    assert too_many.json()["code"] == "capacity_above_stations"
    assert too_many.json()["stations"] == 30
    assert "the base has 30 stations" in too_many.json()["detail"]
    chinese = client.post(
        SESSIONS,
        json=_session_body(pilot.id, base_id=base["id"], capacity=31),
        headers={**headers, "Accept-Language": "zh-CN"},
    )
    assert "该基地只有 30 个工位" in chinese.json()["detail"]
    assert fits.status_code == 201, fits.text
    assert fits.json()["base_id"] == base["id"]
    assert grow.status_code == 409 and grow.json()["code"] == "capacity_above_stations"
    assert [s["id"] for s in listed["items"]] == [fits.json()["id"]]


def test_a_base_that_is_not_an_exam_site_or_missing_is_refused_for_a_session(
    client: TestClient, db: Session
) -> None:
    pilot = make_pilot(db)
    headers = office(db)
    classroom = _base(client, headers, exam_site=False)

    not_a_site = client.post(
        SESSIONS, json=_session_body(pilot.id, base_id=classroom["id"]), headers=headers
    )
    missing = client.post(SESSIONS, json=_session_body(pilot.id, base_id=999999), headers=headers)

    assert not_a_site.status_code == 422 and not_a_site.json()["code"] == "not_an_exam_site"
    assert missing.status_code == 422


def _base_with_a_coming_session(client: TestClient, db: Session) -> tuple[Any, dict, dict, dict]:
    """A pilot, the office's headers, a base of 30 stations and a coming session of 28 there."""
    pilot = make_pilot(db)
    headers = office(db)
    base = _base(client, headers, stations=30)
    coming = client.post(
        SESSIONS, json=_session_body(pilot.id, base_id=base["id"], capacity=28), headers=headers
    ).json()
    return pilot, headers, base, coming


def test_stations_never_drop_below_a_coming_session_but_a_held_one_does_not_hold_them(
    client: TestClient, db: Session
) -> None:
    pilot, headers, base, coming = _base_with_a_coming_session(client, db)
    held = make_session(db, pilot, capacity=30, opens_in_days=-30, closes_in_days=-20)
    held.exam_date = school_today() - timedelta(days=10)
    held.base_id = base["id"]
    db.add(held)
    db.commit()

    below = client.patch(
        f"{BASES}/{base['id']}", json={"stations": 27}, headers={**headers, "If-Match": '"1"'}
    )
    down_to_coming = client.patch(
        f"{BASES}/{base['id']}", json={"stations": 28}, headers={**headers, "If-Match": '"1"'}
    )
    not_a_site = client.patch(
        f"{BASES}/{base['id']}", json={"exam_site": False}, headers={**headers, "If-Match": '"2"'}
    )
    referenced = client.delete(f"{BASES}/{base['id']}", headers=headers)

    assert below.status_code == 409, below.text
    assert below.json()["code"] == "stations_below_session_capacity"
    assert below.json()["sessions"] == [coming["id"]]
    assert down_to_coming.status_code == 200, down_to_coming.text
    assert down_to_coming.json()["stations"] == 28
    assert not_a_site.status_code == 409, not_a_site.text
    assert not_a_site.json()["code"] == "exam_site_has_sessions"
    assert not_a_site.json()["sessions"] == [coming["id"]]
    assert referenced.status_code == 409 and referenced.json()["code"] == "still_referenced"


def test_an_upload_lowers_stations_or_ends_an_exam_site_only_as_far_as_a_patch_may(
    client: TestClient, db: Session
) -> None:
    _pilot, headers, base, coming = _base_with_a_coming_session(client, db)
    header = "基地名称,工位数,考点\n"

    def sheet(stations: int, exam_site: str) -> bytes:
        return f"{header}{base['name']},{stations},{exam_site}\n".encode()

    below = upload(client, headers, "training-bases", "b.csv", sheet(27, "是"))
    not_a_site = upload(client, headers, "training-bases", "b.csv", sheet(30, "否"))
    unchanged = client.get(f"{BASES}/{base['id']}", headers=headers).json()
    down_to_coming = upload(client, headers, "training-bases", "b.csv", sheet(28, "是"))

    assert below.status_code == 409, below.text
    assert below.json()["code"] == "stations_below_session_capacity"
    assert below.json()["sessions"] == [coming["id"]]
    assert not_a_site.status_code == 409, not_a_site.text
    assert not_a_site.json()["code"] == "exam_site_has_sessions"
    assert (unchanged["stations"], unchanged["exam_site"], unchanged["version"]) == (30, True, 1)
    assert down_to_coming.status_code == 200, down_to_coming.text
    assert down_to_coming.json()["updated"] == 1
    after = client.get(f"{BASES}/{base['id']}", headers=headers).json()
    assert (after["stations"], after["exam_site"]) == (28, True)


def test_equipment_payments_name_the_base_and_the_funding_report_groups_by_base(
    client: TestClient, db: Session
) -> None:
    pilot = make_pilot(db)
    headers = office(db)
    base = _base(client, headers, name="电子商务实训基地")
    source = make_source(db)
    equipment = make_line(db, source, pilot, category=Category.equipment, amount="10000.00")
    training = make_line(db, source, pilot, category=Category.teacher_training, amount="500.00")

    def pay(line_id: int, voucher: str, amount: str, base_id: int | None) -> Any:
        body = {
            "line_id": line_id,
            "amount": amount,
            "payee": "某设备公司",
            "voucher_no": voucher,
            "base_id": base_id,
        }
        return client.post(EXPENDITURES, json=body, headers=headers)

    paid = pay(equipment.id, "PZ-1", "6000.00", base["id"])
    unnamed = pay(equipment.id, "PZ-2", "1000.00", None)
    wrong_category = pay(training.id, "PZ-3", "100.00", base["id"])
    unknown = pay(equipment.id, "PZ-4", "100.00", 999999)
    reversed_ = client.post(
        f"{EXPENDITURES}/{paid.json()['id']}/reverse",
        json={"reason": "退货", "voucher_no": "PZ-1-R"},
        headers=headers,
    )
    repaid = pay(equipment.id, "PZ-5", "4000.00", base["id"])
    report = client.get(
        "/api/v1/reports/funding", params={"group_by": "base"}, headers=headers
    ).json()
    listed = client.get(EXPENDITURES, params={"base_id": base["id"]}, headers=headers).json()

    assert paid.status_code == 201 and paid.json()["base_id"] == base["id"]
    assert unnamed.status_code == 201
    assert wrong_category.status_code == 422
    assert wrong_category.json()["code"] == "base_not_for_category"
    assert unknown.status_code == 422
    assert reversed_.status_code == 201 and reversed_.json()["base_id"] == base["id"]
    assert repaid.status_code == 201
    rows = {r["key"]: r for r in report["rows"]}
    assert rows[str(base["id"])]["label"] == "电子商务实训基地"
    assert rows[str(base["id"])]["spent"] == "4000.00"
    assert rows["none"]["spent"] == "1000.00"
    assert rows["none"]["allocated"] == "6500.00"
    assert report["total"]["allocated"] == "10500.00" and report["total"]["spent"] == "5000.00"
    assert len(listed["items"]) == 3


def test_a_college_manager_links_only_pilots_they_read(client: TestClient, db: Session) -> None:
    own, other = make_college(db), make_college(db)
    theirs = make_application(db, majors=[make_major(db, other)], status=ApplicationStatus.approved)
    manager = manager_of(db, own)

    refused = client.post(
        BASES,
        json={"name": "基地", "stations": 5, "college_id": own.id, "application_ids": [theirs.id]},
        headers=manager,
    )

    assert refused.status_code == 422
    assert str(theirs.id) in refused.json()["detail"]


def test_bases_upload_with_partners_and_certificates_and_a_second_upload_changes_nothing(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, "机电学院")
    certificate = make_certificate(db, name="工业机器人操作与运维")
    content = (
        "基地名称,二级学院,校内/校外,工位数,考点,合作企业,服务证书\n"
        "智能制造实训基地,机电学院,校外,40,是,新松机器人、华为技术有限公司,工业机器人操作与运维\n"
        "公共实训中心,,校内,100,否,,\n"
    ).encode()
    headers = office(db)

    first = upload(client, headers, "training-bases", "b.csv", content)
    second = upload(client, headers, "training-bases", "b.csv", content)
    by_manager = upload(client, manager_of(db, college), "training-bases", "b.csv", content)
    listed = {b["name"]: b for b in client.get(BASES, headers=headers).json()["items"]}

    assert first.status_code == 200, first.text
    assert first.json()["created"] == 2
    assert second.json()["unchanged"] == 2
    assert by_manager.status_code == 422  # the school-level row is not their college's
    base = listed["智能制造实训基地"]
    assert base["partners"] == ["华为技术有限公司", "新松机器人"]
    assert base["certificates"] == [{"id": certificate.id, "name": "工业机器人操作与运维"}]
    assert (base["on_campus"], base["exam_site"], base["college_id"]) == (False, True, college.id)
    assert listed["公共实训中心"]["college_id"] is None


def test_expenditures_upload_names_the_base_on_equipment_lines_only(
    client: TestClient, db: Session
) -> None:
    pilot = make_pilot(db)
    headers = office(db)
    base = _base(client, headers, name="电子商务实训基地")
    source = make_source(db)
    equipment = make_line(db, source, pilot, category=Category.equipment)
    training = make_line(db, source, pilot, category=Category.teacher_training)
    header = "预算ID,金额,日期,收款方,凭证号,实训基地\n"

    good = upload(
        client,
        headers,
        "expenditures",
        "e.csv",
        f"{header}{equipment.id},100.00,2022-10-01,某公司,PZ-9,电子商务实训基地\n".encode(),
    )
    wrong = upload(
        client,
        headers,
        "expenditures",
        "w.csv",
        f"{header}{training.id},100.00,2022-10-01,某公司,PZ-10,电子商务实训基地\n".encode(),
    )
    listed = client.get(EXPENDITURES, params={"base_id": base["id"]}, headers=headers).json()

    assert good.status_code == 200, good.text
    assert wrong.status_code == 422
    assert [e["voucher_no"] for e in listed["items"]] == ["PZ-9"]
