"""The credit-rules upload: certificates matched like the applications upload, courses by
code (created when new), majors by name or code; a bad row writes nothing."""

from decimal import Decimal

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.credits.models import ConversionRequest, ConversionRule
from app.reference.models import Certificate, Course
from tests.applications.factories import import_table, load_sample_majors, major_named
from tests.credits.factories import issue_certificate
from tests.credits.test_scenario import load_sample_rules
from tests.imports.helpers import count, upload
from tests.reference.factories import make_student, office

HEADER = "证书名称\t最低级别\t课程代码\t课程名称\t学分\t转换方式\t适用专业\n"


def _upload(client: TestClient, headers: dict[str, str], rows: str, **kw: object) -> dict:
    response = upload(client, headers, "credit-rules", "rules.tsv", (HEADER + rows).encode(), **kw)
    return {"status": response.status_code, **response.json()}


def _ready(client: TestClient, db: Session) -> dict[str, str]:
    headers = office(db)
    load_sample_majors(client, headers)
    assert import_table(client, headers, status="approved").status_code == 200
    return headers


def test_a_dry_run_reports_and_writes_nothing(client: TestClient, db: Session) -> None:
    headers = _ready(client, db)
    rows = "1+X Web前端开发\t中级\tC1\t网页基础\t4\t替换\t软件技术\n"

    report = _upload(client, headers, rows, dry_run=True)

    assert report["status"] == 200 and report["created"] == 1
    assert report["also_created"] == {"courses": 1}
    assert count(db, ConversionRule) == 0 and count(db, Course) == 0


def test_certificate_names_match_like_the_applications_upload(
    client: TestClient, db: Session
) -> None:
    headers = _ready(client, db)
    rows = "大数据应用开发（Python）\t中级\tC1\tPython\t4\t替换\t大数据技术\n"

    report = _upload(client, headers, rows)

    assert report["status"] == 200, report
    assert count(db, ConversionRule) == 1


def test_bad_rows_are_named_and_nothing_is_written(client: TestClient, db: Session) -> None:
    headers = _ready(client, db)
    rows = (
        "Web前端开发\t中级\tC1\t网页基础\t4\t替换\t软件技术\n"
        "Web前端开发X\t中级\tC2\t脚本\t4\t替换\t软件技术\n"
        "Web前端开发\t中级\tC3\t脚本\t0\t替换\t软件技术\n"
        "Web前端开发\t中级\tC4\t脚本\t2\t抵扣\t软件技术\n"
        "Web前端开发\t中级\tC5\t脚本\t2\t免修\t软件工程\n"
        "Web前端开发\t特级\tC6\t脚本\t2\t免修\t软件技术\n"
        "Web前端开发\t中级\tC7\t\t2\t免修\t软件技术\n"
    )

    report = _upload(client, headers, rows)

    assert report["status"] == 422 and report["code"] == "import_rejected"
    reasons = {e["row"]: (e["column"], e["reason"]) for e in report["errors"]}
    assert set(reasons) == {3, 4, 5, 6, 7, 8}
    assert "unknown certificate" in reasons[3][1] and "Web前端开发" in reasons[3][1]
    assert reasons[4][0] == "学分"
    assert reasons[5][0] == "转换方式"
    assert "unknown major" in reasons[6][1]
    assert reasons[7][0] == "最低级别"
    assert "课程名称" in reasons[8][1]
    assert count(db, ConversionRule) == 0 and count(db, Course) == 0


def test_an_existing_course_is_matched_by_code_and_its_name_checked(
    client: TestClient, db: Session
) -> None:
    headers = _ready(client, db)
    _upload(client, headers, "Web前端开发\t中级\tC1\t网页基础\t4\t替换\t软件技术\n")

    wrong = _upload(client, headers, "移动应用开发\t中级\tC1\t移动开发\t4\t替换\t软件技术\n")
    right = _upload(client, headers, "移动应用开发\t中级\tC1\t网页基础\t4\t替换\t软件技术\n")

    assert wrong["status"] == 422
    assert "网页基础" in wrong["errors"][0]["reason"]
    assert right["status"] == 200 and right["created"] == 1 and right["also_created"] == {}
    assert count(db, Course) == 1


def test_a_changed_row_updates_an_unused_rule(client: TestClient, db: Session) -> None:
    headers = _ready(client, db)
    _upload(client, headers, "Web前端开发\t中级\tC1\t网页基础\t4\t替换\t软件技术\n")

    report = _upload(
        client, headers, "Web前端开发\t中级\tC1\t网页基础\t3\t替换\t软件技术、计算机应用技术\n"
    )

    assert report["status"] == 200 and report["updated"] == 1
    rule = db.exec(select(ConversionRule)).one()
    assert rule.credits == Decimal("3.0")
    response = client.get(f"/api/v1/credit-rules/{rule.id}", headers=headers).json()
    assert sorted(m["name"] for m in response["majors"]) == ["计算机应用技术", "软件技术"]


def load_sample_rules_headers(client: TestClient, db: Session) -> dict[str, str]:
    headers = office(db)
    load_sample_rules(client, headers)
    return headers


def test_an_upload_does_not_change_a_used_rule(client: TestClient, db: Session) -> None:
    headers = load_sample_rules_headers(client, db)
    rule = db.exec(select(ConversionRule).join(Course).where(Course.code == "C5102031")).one()
    student = make_student(db, major_named(db, "软件技术"), cohort=2020)
    web = db.get(Certificate, rule.certificate_id)
    issued = issue_certificate(db, student, web)
    response = client.post(
        "/api/v1/conversion-requests",
        json={"student_id": student.id, "issued_certificate_id": issued.id, "rule_id": rule.id},
        headers=headers,
    )
    assert response.status_code == 201

    report = _upload(
        client, headers, "1+X Web前端开发\t中级\tC5102031\tWeb前端开发基础\t3\t替换\t软件技术\n"
    )

    assert report["status"] == 422
    assert f"PATCH /api/v1/credit-rules/{rule.id}" in report["errors"][0]["reason"]
    assert count(db, ConversionRequest) == 1


def test_the_template_has_the_chinese_headers(client: TestClient, db: Session) -> None:
    response = client.get("/api/v1/imports/credit-rules/template", headers=office(db))

    assert response.status_code == 200


def test_an_upload_does_not_open_a_new_version_back_over_its_predecessor(
    client: TestClient, db: Session
) -> None:
    headers = load_sample_rules_headers(client, db)
    old_id, new_id = _replaced(client, db, headers)
    header = HEADER.rstrip("\n") + "\t生效日期\n"
    row = "Web前端开发\t中级\tC5102033\t响应式网页设计\t2\t免修\t软件技术\t\n"

    response = upload(client, headers, "credit-rules", "r.tsv", (header + row).encode())

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["column"] == "生效日期" and str(old_id) in error["reason"]
    assert client.get(f"/api/v1/credit-rules/{new_id}", headers=headers).json()["credits"] == "3.0"


def _replaced(client: TestClient, db: Session, headers: dict[str, str]) -> tuple[int, int]:
    """A used rule (C5102033) replaced by a new version from 2030-09-01: (old id, new id)."""
    rule = db.exec(select(ConversionRule).join(Course).where(Course.code == "C5102033")).one()
    student = make_student(db, major_named(db, "软件技术"), cohort=2020)
    issued = issue_certificate(db, student, db.get(Certificate, rule.certificate_id))
    client.post(
        "/api/v1/conversion-requests",
        json={"student_id": student.id, "issued_certificate_id": issued.id, "rule_id": rule.id},
        headers=headers,
    )
    new = client.patch(
        f"/api/v1/credit-rules/{rule.id}",
        json={"credits": "3", "effective_from": "2030-09-01"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert new.status_code == 200, new.text
    return rule.id or 0, new.json()["id"]


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_with_replaced_versions_uploads_again_unchanged(
    client: TestClient, db: Session, fmt: str, language: str
) -> None:
    """Every version is a row of its own (by 规则ID), and an English export's levels and modes
    (Intermediate, Exemption) read as the Chinese ones."""
    headers = load_sample_rules_headers(client, db)
    _replaced(client, db, headers)
    rules = count(db, ConversionRule)

    exported = client.get(
        "/api/v1/credit-rules",
        params={"format": fmt},
        headers={**headers, "Accept-Language": language},
    )
    again = upload(client, headers, "credit-rules", f"rules.{fmt}", exported.content)

    body = again.json()
    assert again.status_code == 200, again.text
    assert (body["rows"], body["created"], body["updated"]) == (rules, 0, 0)
    assert body["unchanged"] == rules and body["ignored_columns"] == []
    assert count(db, ConversionRule) == rules


def test_a_row_with_a_rule_id_changes_that_rule_not_the_newest_of_its_course(
    client: TestClient, db: Session
) -> None:
    headers = load_sample_rules_headers(client, db)
    rule = db.exec(select(ConversionRule).join(Course).where(Course.code == "C5102031")).one()
    closed = client.patch(
        f"/api/v1/credit-rules/{rule.id}",
        json={"effective_to": "2025-08-31"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert closed.status_code == 200, closed.text
    later = client.post(
        "/api/v1/credit-rules",
        json={
            "certificate_id": rule.certificate_id,
            "min_level": "中级",
            "course_id": rule.course_id,
            "credits": "2",
            "mode": "免修",
            "major_ids": [major_named(db, "软件技术").id],
            "effective_from": "2025-09-01",
        },
        headers=headers,
    )
    assert later.status_code == 201, later.text
    header = "规则ID\t" + HEADER.rstrip("\n") + "\t生效日期\t失效日期\n"
    row = f"{rule.id}\tWeb前端开发\t中级\tC5102031\t\t3\t替换\t计算机应用技术\t\t2025-08-31\n"

    report = upload(client, headers, "credit-rules", "r.tsv", (header + row).encode()).json()

    assert (report["updated"], report["created"], report["errors"]) == (1, 0, [])
    old = client.get(f"/api/v1/credit-rules/{rule.id}", headers=headers).json()
    new = client.get(f"/api/v1/credit-rules/{later.json()['id']}", headers=headers).json()
    assert old["credits"] == "3.0" and [m["name"] for m in old["majors"]] == ["计算机应用技术"]
    assert new["credits"] == "2.0" and [m["name"] for m in new["majors"]] == ["软件技术"]


def test_a_row_may_not_change_a_replaced_version_or_another_courses_rule(
    client: TestClient, db: Session
) -> None:
    headers = load_sample_rules_headers(client, db)
    old_id, new_id = _replaced(client, db, headers)
    other = db.exec(select(ConversionRule).join(Course).where(Course.code == "C5102031")).one()
    header = "规则ID\t" + HEADER
    rows = (
        f"{old_id}\tWeb前端开发\t中级\tC5102033\t\t4\t免修\t软件技术\n"
        f"{other.id}\tWeb前端开发\t中级\tC5102033\t\t2\t免修\t软件技术\n"
        "999999\tWeb前端开发\t中级\tC5102033\t\t2\t免修\t软件技术\n"
    )

    response = upload(client, headers, "credit-rules", "r.tsv", (header + rows).encode())

    assert response.status_code == 422
    reasons = {e["row"]: e["reason"] for e in response.json()["errors"]}
    assert f"replaced by version {new_id}" in reasons[2]
    assert f"conversion rule {other.id} maps another certificate or course" in reasons[3]
    assert "No conversion rule with id 999999" in reasons[4]
    assert {e["column"] for e in response.json()["errors"]} == {"规则ID"}
