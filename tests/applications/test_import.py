"""The ``applications`` import kind with the real 2022 一览表, typos and all."""

import csv
import io

import pytest
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from app.applications.importers import PLACEHOLDER_ORG
from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
)
from app.core.roles import Role
from app.reference.models import Certificate, EvaluationOrg, Level
from tests.applications.factories import TABLE, import_table, load_sample_majors
from tests.imports.helpers import upload
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    manager_of,
    office,
    xlsx_bytes,
)

TABLE_TEXT = TABLE.read_text(encoding="utf-8")


def _table_with(old: str, new: str) -> bytes:
    assert old in TABLE_TEXT
    return TABLE_TEXT.replace(old, new, 1).encode("utf-8")


def _counts(db: Session) -> tuple[int, int, int, int]:
    db.expire_all()
    applications = db.exec(select(func.count()).select_from(PilotApplication)).one()
    headcount = db.exec(select(func.sum(PilotApplication.headcount))).one()
    majors = db.exec(select(func.count(func.distinct(ApplicationMajor.major_id)))).one()
    per_app = (
        select(ApplicationCohort.application_id)
        .group_by(ApplicationCohort.application_id)  # type: ignore[arg-type]
        .having(func.count() == 2)
        .subquery()
    )
    two_cohorts = db.exec(select(func.count()).select_from(per_app)).one()
    db.commit()
    return int(applications), int(headcount or 0), int(majors), int(two_cohorts)


def test_2022_table_imports_32_drafts_3300_students_37_majors_4_with_two_cohorts(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    load_sample_majors(client, headers)

    response = import_table(client, headers)

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["created"], report["errors_total"]) == (32, 32, 0)
    assert _counts(db) == (32, 3300, 37, 4)
    statuses = set(db.exec(select(PilotApplication.status)).all())
    assert statuses == {ApplicationStatus.draft}
    assert "网店运营推" in report["created_certificates"]
    assert "集成店里开发与测试" in report["created_certificates"]
    assert "大数据应用开发 (python)" in report["created_certificates"]
    assert "Web前端开发" in report["created_certificates"]
    assert len(report["created_certificates"]) == 32
    assert report["also_created"]["certificates"] == 32
    led = db.exec(
        select(PilotApplication)
        .join(Certificate)
        .where(Certificate.normalized_name == "led显示屏应用")
    ).one()
    assert (led.headcount, led.level, led.year) == (210, Level.intermediate, 2022)


def test_uploading_the_table_again_changes_nothing(client: TestClient, db: Session) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    import_table(client, headers)
    certificates = db.exec(select(func.count()).select_from(Certificate)).one()
    db.commit()

    again = import_table(client, headers)

    assert again.status_code == 200
    report = again.json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 32)
    assert report["created_certificates"] == []
    assert _counts(db) == (32, 3300, 37, 4)
    assert db.exec(select(func.count()).select_from(Certificate)).one() == certificates
    versions = set(db.exec(select(PilotApplication.version)).all())
    assert versions == {1}


def _as_xlsx() -> tuple[str, bytes]:
    """As Excel keeps it: numbers (序号, 申报人数, a bare 2020) as numeric cells, a title row."""
    rows = list(csv.reader(io.StringIO(TABLE_TEXT), delimiter="\t"))
    typed = [[int(cell) if cell.isdigit() else cell for cell in row] for row in rows]
    return "table.xlsx", xlsx_bytes([["2022年1+X证书试点申报一览表"], *typed])


def _as_gb18030_csv() -> tuple[str, bytes]:
    rows = list(csv.reader(io.StringIO(TABLE_TEXT), delimiter="\t"))
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return "table.csv", buffer.getvalue().encode("gb18030")


@pytest.mark.parametrize("make_file", [_as_xlsx, _as_gb18030_csv], ids=["xlsx", "gb18030-csv"])
def test_the_same_table_as_xlsx_or_gb18030_csv_gives_the_same_applications(
    client: TestClient, db: Session, make_file: object
) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    name, content = make_file()  # type: ignore[operator]

    response = upload(client, headers, "applications", name, content, year=2022)

    assert response.status_code == 200, response.text
    assert _counts(db) == (32, 3300, 37, 4)
    again = import_table(client, headers)
    assert again.json()["unchanged"] == 32


def test_existing_certificates_match_despite_prefix_suffix_spaces_and_bracket_width(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    web = make_certificate(db, name="Web 前端开发")
    big_data = make_certificate(db, name="大数据应用开发（Python）")

    response = import_table(client, headers)

    assert response.status_code == 200, response.text
    created = response.json()["created_certificates"]
    assert "Web前端开发" not in created
    assert "大数据应用开发 (python)" not in created
    assert len(created) == 30
    certificate_ids = set(db.exec(select(PilotApplication.certificate_id)).all())
    assert {web.id, big_data.id} <= certificate_ids
    placeholder = db.exec(select(EvaluationOrg).where(EvaluationOrg.name == PLACEHOLDER_ORG))
    assert placeholder.one().id is not None


def test_unknown_major_is_a_row_error_naming_the_closest_majors_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    content = _table_with("工业机器人技术", "工业机器人技朮")

    response = upload(client, headers, "applications", "t.tsv", content, year=2022)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "import_rejected"
    error = body["errors"][0]
    assert error["row"] == 3
    assert error["column"] == "申报专业"
    assert "unknown major '工业机器人技朮'" in error["reason"]
    assert "工业机器人技术" in error["reason"]
    assert _counts(db)[0] == 0
    assert db.exec(select(Certificate)).all() == []


def test_every_major_unknown_without_the_sample_majors(client: TestClient, db: Session) -> None:
    response = import_table(client, office(db))

    assert response.status_code == 422
    assert response.json()["errors_total"] == 32


def test_office_loads_a_decided_year_as_approved(client: TestClient, db: Session) -> None:
    headers = office(db)
    load_sample_majors(client, headers)

    response = import_table(client, headers, status="approved")

    assert response.status_code == 200
    statuses = set(db.exec(select(PilotApplication.status)).all())
    assert statuses == {ApplicationStatus.approved}


def test_an_unknown_status_option_and_a_year_out_of_range_are_422(
    client: TestClient, db: Session
) -> None:
    headers = office(db)

    closed = import_table(client, headers, status="closed")
    old = import_table(client, headers, year=1990)

    assert closed.status_code == 422
    assert closed.json()["errors"][0]["field"] == "query.status"
    assert old.status_code == 422
    assert old.json()["errors"][0]["field"] == "query.year"


def test_reimporting_a_changed_row_of_an_approved_application_is_a_row_error(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    import_table(client, headers, status="approved")
    content = _table_with("\t无人机应用技术\t2020 级\t65", "\t无人机应用技术\t2020 级\t66")

    response = upload(client, headers, "applications", "t.tsv", content, year=2022)

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["row"] == 22
    assert "is Approved" in error["reason"]
    assert "headcount (65 → 66)" in error["reason"]
    assert _counts(db)[1] == 3300


def test_reimporting_a_changed_draft_row_updates_that_application_only(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    import_table(client, headers)
    content = _table_with("\t无人机应用技术\t2020 级\t65", "\t无人机应用技术\t2020 级、2021 级\t70")

    response = upload(client, headers, "applications", "t.tsv", content, year=2022)

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["updated"], report["unchanged"]) == (1, 31)
    assert _counts(db) == (32, 3305, 37, 5)


def test_the_year_comes_from_a_year_column_or_is_a_row_error_when_missing(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    no_year = upload(client, headers, "applications", "t.tsv", TABLE.read_bytes())
    lines = TABLE_TEXT.splitlines()
    with_column = "\n".join(
        [lines[0] + "\t年度", *(line + "\t2021年" for line in lines[1:])]
    ).encode()

    by_column = upload(client, headers, "applications", "t.tsv", with_column)

    assert no_year.status_code == 422
    assert "?year=" in no_year.json()["errors"][0]["reason"]
    assert by_column.status_code == 200, by_column.text
    years = set(db.exec(select(PilotApplication.year)).all())
    assert years == {2021}


def test_a_cohort_far_from_the_year_is_a_row_error(client: TestClient, db: Session) -> None:
    headers = office(db)
    load_sample_majors(client, headers)

    response = upload(
        client, headers, "applications", "t.tsv", _table_with("2022 级", "2012 级"), year=2022
    )

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["row"], error["column"]) == (15, "申报年级")
    assert "not plausible" in error["reason"]


def test_two_rows_for_the_same_certificate_level_and_tier_are_a_row_error(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    content = _table_with("网络安全运维", "网络安全应急响应")

    response = upload(client, headers, "applications", "t.tsv", content, year=2022)

    assert response.status_code == 422
    assert "already appears in row 29" in response.json()["errors"][0]["reason"]


def test_only_the_academic_office_imports_applications(client: TestClient, db: Session) -> None:
    college = make_college(db)
    for headers in (manager_of(db, college), headers_for(db, Role.auditor)):
        response = import_table(client, headers)
        assert response.status_code == 403
        assert "Academic office" in response.json()["detail"]


def test_the_template_has_the_tables_headers(client: TestClient, db: Session) -> None:
    response = client.get("/api/v1/imports/applications/template", headers=office(db))

    assert response.status_code == 200
    assert response.content.startswith(b"PK")


def test_english_headers_are_accepted(client: TestClient, db: Session) -> None:
    headers = office(db)
    load_sample_majors(client, headers)
    content = (
        "no,tier,certificate,level,majors,cohorts,headcount,year\n"
        '1,高职,Web前端开发,中级,"软件技术,计算机应用技术",2021,60,2023\n'
    ).encode()

    response = upload(client, headers, "applications", "en.csv", content)

    assert response.status_code == 200, response.text
    application = db.exec(select(PilotApplication)).one()
    assert (application.year, application.headcount) == (2023, 60)


def test_the_openapi_schema_shows_the_year_and_status_options_of_the_upload(
    client: TestClient,
) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/imports/{kind}"]["post"]
    parameters = {p["name"]: p for p in operation["parameters"]}

    assert parameters["year"]["schema"] == {"type": "integer", "minimum": 2000, "maximum": 2100}
    assert parameters["status"]["schema"]["enum"] == ["draft", "submitted", "approved"]
    assert "applications" in parameters["year"]["description"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(
    ("language", "ignored"), [("zh-CN", ["状态", "已报备方案"]), ("en", ["Status", "Plans filed"])]
)
def test_an_export_of_the_list_uploads_again_unchanged(
    client: TestClient, db: Session, fmt: str, language: str, ignored: list[str]
) -> None:
    """In either language: an English export's levels and tiers (Intermediate, Higher
    vocational) read as the Chinese ones."""
    headers = office(db)
    load_sample_majors(client, headers)
    assert import_table(client, headers, status="approved").status_code == 200
    before = _counts(db)

    exported = client.get(
        "/api/v1/applications",
        params={"format": fmt},
        headers={**headers, "Accept-Language": language},
    )
    again = upload(client, headers, "applications", f"export.{fmt}", exported.content)

    assert exported.status_code == 200
    body = again.json()
    assert again.status_code == 200, again.text
    assert (body["rows"], body["created"], body["updated"], body["unchanged"]) == (32, 0, 0, 32)
    assert body["ignored_columns"] == ignored
    assert _counts(db) == before
