"""The credit-conversion report for the credit-bank registry, and the figures the annual
evaluation reads."""

import io
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.roles import Principal, Role
from app.credits import reports
from app.credits.models import (
    ConversionMode,
    ConversionReport,
    ConversionReportRow,
    ConversionRequest,
)
from app.exams.models import ExamSession, IssuedCertificate
from app.reference.models import Level, Major
from tests.credits.factories import issue_certificate, make_rule
from tests.exams.factories import school_today
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_major,
    make_student,
    office,
)

URL = "/api/v1/reports/credit-conversions"


def _conversions(client: TestClient, db: Session) -> dict[str, Any]:
    major = make_major(db)
    students = [make_student(db, major, cohort=2021) for _ in range(2)]
    certificate = make_certificate(db)
    rules = [
        make_rule(db, certificate, [major], credits="4"),
        make_rule(db, certificate, [major], credits="2", mode=ConversionMode.exemption),
    ]
    headers = office(db)
    requests = []
    for student in students:
        issued = issue_certificate(db, student, certificate)
        for rule in rules:
            request = client.post(
                "/api/v1/conversion-requests",
                json={
                    "student_id": student.id,
                    "issued_certificate_id": issued.id,
                    "rule_id": rule.id,
                },
                headers=headers,
            ).json()
            requests.append(request)
    for request in requests[:3]:
        approved = client.post(
            f"/api/v1/conversion-requests/{request['id']}/approve", headers=headers
        )
        assert approved.status_code == 200, approved.text
    return {"major": major, "students": students, "rules": rules, "requests": requests}


def test_one_row_per_approved_conversion_and_counts(client: TestClient, db: Session) -> None:
    setup = _conversions(client, db)
    year = school_today().year

    response = client.get(URL, params={"year": year}, headers=office(db))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["conversions"] == 3 and body["credits"] == "10.0"
    row = body["rows"][0]
    assert row["student_no"] == setup["students"][0].student_no
    assert row["major_name"] == setup["major"].name and row["cohort"] == 2021
    assert row["certificate_number"].startswith("CB") and row["issue_date"] == "2022-12-20"
    assert row["level"] == "中级" and row["evaluation_org_name"]
    by_rule = {r["rule_id"]: r["conversions"] for r in body["per_rule"]}
    assert by_rule == {setup["rules"][0].id: 2, setup["rules"][1].id: 1}
    assert sum(c["conversions"] for c in body["per_course"]) == 3
    other_year = client.get(URL, params={"year": year - 3}, headers=office(db)).json()
    assert other_year["rows"] == []


def _whole_report(engine: Engine) -> ConversionReport:
    """The report as the service reads it (in a transaction: its rows come from a cursor)."""
    with Session(engine) as session:
        streamed = reports.conversion_report(
            session, Principal(role=Role.academic_office, label="test"), year=None
        )
        rows = list(streamed.items())
        return streamed.summary().model_copy(update={"rows": rows})


def test_rows_built_unvalidated_equal_validated_ones(
    client: TestClient, db: Session, engine: Engine
) -> None:
    """The report builds its rows without validating them again (their SQL columns hold the
    fields' types): each equals, and dumps like, the row validation would build."""
    _conversions(client, db)
    report = _whole_report(engine)

    assert len(report.rows) == 3
    for row in report.rows:
        validated = ConversionReportRow.model_validate(row.model_dump())
        assert row == validated
        assert row.model_dump_json() == validated.model_dump_json()
        assert isinstance(row.level, Level) and isinstance(row.mode, ConversionMode)


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_the_json_is_written_chunk_by_chunk_as_the_whole_report(
    client: TestClient, db: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The rows are read from the cursor a chunk at a time and written as they come (the
    answer's memory does not grow with them); the body is the whole report's JSON, the counts
    those of the rows written."""
    _conversions(client, db)
    whole = _whole_report(engine)
    monkeypatch.setattr(reports, "EXPORT_CHUNK_ROWS", chunk)

    response = client.get(URL, headers=office(db))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "content-length" not in response.headers  # streamed
    body = response.json()
    assert body == whole.model_dump(mode="json")
    assert list(body) == list(ConversionReport.model_fields)
    assert len(body["rows"]) == body["conversions"] == 3
    assert body["credits"] == "10.0"


def test_a_report_without_rows_is_an_empty_list(client: TestClient, db: Session) -> None:
    body = client.get(URL, params={"year": 2001}, headers=office(db)).json()
    assert body == {
        "year": 2001,
        "rows": [],
        "per_rule": [],
        "per_course": [],
        "conversions": 0,
        "credits": "0.0",
    }


@pytest.mark.usefixtures("chinese")
def test_the_report_exports_as_csv_and_xlsx(client: TestClient, db: Session) -> None:
    _conversions(client, db)
    headers = office(db)

    csv = client.get(URL, params={"format": "csv"}, headers=headers)
    xlsx = client.get(URL, params={"format": "xlsx"}, headers=headers)

    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:4] == ["学号", "姓名", "专业", "年级"]
    assert len(lines) == 5  # header, three conversions, 合计 (Σ credits)
    assert lines[-1].startswith("合计,")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == 6  # title, header, three rows, 合计


def test_who_reads_the_report(client: TestClient, db: Session) -> None:
    setup = _conversions(client, db)
    college_id = db.get(Major, setup["major"].id).college_id  # type: ignore[union-attr]

    own = client.get(URL, headers=headers_for(db, Role.college_manager, college_id=college_id))
    other = client.get(
        URL, headers=headers_for(db, Role.college_manager, college_id=make_college(db).id)
    )

    assert own.json()["conversions"] == 3 and other.json()["conversions"] == 0
    assert client.get(URL, headers=headers_for(db, Role.auditor)).status_code == 200
    assert client.get(URL, headers=headers_for(db, Role.student)).status_code == 403
    assert client.get(URL, headers=headers_for(db, Role.teacher)).status_code == 403


def test_the_evaluation_reads_approved_conversions_per_pilot(
    client: TestClient, db: Session
) -> None:
    _conversions(client, db)
    application_ids = set(
        db.exec(
            select(ExamSession.application_id)
            .join(IssuedCertificate, IssuedCertificate.session_id == ExamSession.id)
            .join(
                ConversionRequest, ConversionRequest.issued_certificate_id == IssuedCertificate.id
            )
        ).all()
    )
    (application_id,) = application_ids

    by_pilot = reports.approved_conversions_by_application(db, 2022)
    totals = reports.credit_totals(db, 2022)

    assert by_pilot == {application_id: 3}
    assert totals == (3, Decimal("10.0"))
    assert reports.approved_conversions_by_application(db, 2021) == {}
    assert reports.credit_totals(db, 2021) == (0, Decimal("0.0"))
