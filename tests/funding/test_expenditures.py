"""Expenditures: never over the line, unique vouchers, never edited or deleted (405), reversed
once, scoped reading, and the ``expenditures`` upload."""

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.funding.importers import voucher_cell
from app.funding.models import Expenditure
from app.funding.service import spent_on_line
from tests.exams.factories import make_pilot
from tests.funding.factories import ledger_csv, make_line, make_source, post_expenditure
from tests.imports.helpers import upload
from tests.reference.factories import headers_for, make_college, make_major, manager_of, office


def test_spending_stops_at_the_line_amount(client: TestClient, db: Session) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db), amount="1000.00")

    first = post_expenditure(client, headers, line, "999.99", "A-1")
    over = post_expenditure(client, headers, line, "0.02", "A-2")
    last = post_expenditure(client, headers, line, "0.01", "A-3")

    assert first.status_code == 201
    assert first.headers["location"] == f"/api/v1/expenditures/{first.json()['id']}"
    assert first.json()["kind"] == "payment" and first.json()["amount"] == "999.99"
    assert over.status_code == 409
    assert over.json()["code"] == "line_exceeded"
    assert over.json()["remaining"] == "0.01" and over.json()["shortfall"] == "0.01"
    assert last.status_code == 201
    assert spent_on_line(db, line.id or 0) == Decimal("1000.00")


def test_bad_amounts_and_duplicate_vouchers_are_refused(client: TestClient, db: Session) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db))
    assert post_expenditure(client, headers, line, "10", "B-1").status_code == 201

    assert post_expenditure(client, headers, line, "0", "B-2").status_code == 422
    assert post_expenditure(client, headers, line, "-5", "B-3").status_code == 422
    assert post_expenditure(client, headers, line, "1.001", "B-4").status_code == 422
    duplicate = post_expenditure(client, headers, line, "10", "B-1")
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "duplicate"
    assert len(db.exec(select(Expenditure)).all()) == 1


def test_voucher_numbers_as_chinese_ledgers_write_them_are_taken(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db))

    taken = [
        post_expenditure(client, headers, line, "1", v) for v in ("记-0012", "银付(10)-3", " PZ-7 ")
    ]
    refused = [post_expenditure(client, headers, line, "1", v) for v in ("记 12", "A\tB", "")]

    assert [r.status_code for r in taken] == [201, 201, 201], [r.text for r in taken]
    assert [r.json()["voucher_no"] for r in taken] == ["记-0012", "银付(10)-3", "PZ-7"]
    assert [r.json()["errors"][0]["field"] for r in refused] == ["body.voucher_no"] * 3
    assert voucher_cell("记-0012") == "记-0012"
    assert len(db.exec(select(Expenditure)).all()) == 3


def test_expenditures_are_never_edited_or_deleted(client: TestClient, db: Session) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db))
    created = post_expenditure(client, headers, line, "10", "C-1").json()

    patched = client.patch(
        f"/api/v1/expenditures/{created['id']}", json={"amount": "1"}, headers=headers
    )
    deleted = client.delete(f"/api/v1/expenditures/{created['id']}", headers=headers)

    for response in (patched, deleted):
        assert response.status_code == 405
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["allow"] == "GET, HEAD"
        assert response.json()["code"] == "method_not_allowed"
        assert "never edited" in response.json()["detail"]
        assert "/reverse" in response.json()["detail"]
    stored = db.exec(select(Expenditure)).one()
    assert stored.amount == Decimal("10.00")


def test_a_reversal_frees_the_amount_once(client: TestClient, db: Session) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db), amount="100.00")
    original = post_expenditure(client, headers, line, "100.00", "D-1").json()
    assert post_expenditure(client, headers, line, "1", "D-2").status_code == 409

    reversal = client.post(
        f"/api/v1/expenditures/{original['id']}/reverse",
        json={"reason": "重复报销"},
        headers=headers,
    )
    twice = client.post(
        f"/api/v1/expenditures/{original['id']}/reverse", json={"reason": "again"}, headers=headers
    )
    of_reversal = client.post(
        f"/api/v1/expenditures/{reversal.json()['id']}/reverse",
        json={"reason": "x"},
        headers=headers,
    )

    assert reversal.status_code == 201
    body = reversal.json()
    assert body["kind"] == "reversal" and body["amount"] == "-100.00"
    assert body["voucher_no"] == "D-1-R" and body["description"] == "重复报销"
    assert twice.status_code == 409 and twice.json()["reversed_by_id"] == body["id"]
    assert of_reversal.status_code == 409 and of_reversal.json()["code"] == "invalid_state"
    shown = client.get(f"/api/v1/expenditures/{original['id']}", headers=headers).json()
    assert shown["reversed_by_id"] == body["id"]
    assert post_expenditure(client, headers, line, "100.00", "D-3").status_code == 201
    events = db.exec(select(AuditEvent).where(AuditEvent.entity == "expenditure")).all()
    assert [e.action for e in events] == ["create", "reverse", "create"]


def test_college_managers_read_their_pilots_spending_and_write_nothing(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    own = make_line(db, make_source(db), make_pilot(db, major=make_major(db, college)))
    foreign = make_line(db, make_source(db), make_pilot(db))
    headers = office(db)
    mine = post_expenditure(client, headers, own, "1", "E-1").json()
    theirs = post_expenditure(client, headers, foreign, "1", "E-2").json()
    manager = manager_of(db, college)

    listed = client.get("/api/v1/expenditures", headers=manager).json()

    assert [item["id"] for item in listed["items"]] == [mine["id"]]
    assert client.get(f"/api/v1/expenditures/{theirs['id']}", headers=manager).status_code == 404
    assert post_expenditure(client, manager, own, "1", "E-3").status_code == 403
    auditor = headers_for(db, Role.auditor)
    assert client.get("/api/v1/expenditures", headers=auditor).json()["total"] == 2
    assert post_expenditure(client, auditor, own, "1", "E-4").status_code == 403
    assert (
        client.get("/api/v1/expenditures", headers=headers_for(db, Role.student)).status_code == 403
    )


@pytest.mark.usefixtures("chinese")
def test_expenditures_filter_and_export(client: TestClient, db: Session) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db))
    post_expenditure(client, headers, line, "12.30", "F-1")
    post_expenditure(client, headers, line, "1.00", "F-2")

    listed = client.get(f"/api/v1/expenditures?line_id={line.id}&voucher_no=F-1", headers=headers)
    exported = client.get("/api/v1/expenditures?format=csv", headers=headers)

    assert [item["voucher_no"] for item in listed.json()["items"]] == ["F-1"]
    text = exported.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("支出ID,预算ID")
    assert "12.30" in text


def test_an_expenditures_upload_records_the_ledger_once(client: TestClient, db: Session) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db), amount="1000.00")
    content = ledger_csv(line.id or 0, ("¥300.00", "G-1", "设备"), ("1200.5元", "G-2", "x"))

    too_much = upload(client, headers, "expenditures", "ledger.csv", content)
    fitting = ledger_csv(line.id or 0, ("300.00", "G-1", "设备"), ("699.99", "G-2", "耗材"))
    first = upload(client, headers, "expenditures", "ledger.csv", fitting)
    again = upload(client, headers, "expenditures", "ledger.csv", fitting)
    edited = upload(
        client,
        headers,
        "expenditures",
        "ledger.csv",
        ledger_csv(line.id or 0, ("300.01", "G-1", "设备")),
    )

    assert too_much.status_code == 422
    error = too_much.json()["errors"][0]
    assert error["row"] == 3 and error["column"] == "金额" and "700.00 left" in error["reason"]
    assert first.status_code == 200 and first.json()["created"] == 2
    assert again.json()["created"] == 0 and again.json()["unchanged"] == 2
    assert edited.status_code == 422 and "never edited" in edited.json()["errors"][0]["reason"]
    assert spent_on_line(db, line.id or 0) == Decimal("999.99")
    events = db.exec(select(AuditEvent).where(AuditEvent.entity == "expenditure")).all()
    assert len(events) == 2


def test_only_the_office_uploads_expenditures(client: TestClient, db: Session) -> None:
    line = make_line(db, make_source(db), make_pilot(db))
    content = ledger_csv(line.id or 0, ("1.00", "H-1", ""))

    response = upload(client, headers_for(db, Role.auditor), "expenditures", "ledger.csv", content)

    assert response.status_code == 403


def test_the_expenditures_template_has_the_ledger_headers(client: TestClient, db: Session) -> None:
    response = client.get("/api/v1/imports/expenditures/template", headers=office(db))

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    headers = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    assert headers[:5] == ["预算ID", "金额", "日期", "收款方", "凭证号"]


def test_money_in_exponent_form_nan_or_infinity_is_refused_naming_the_form(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db), amount="5000.00")
    refused = ["1e3", "1E+3", "12.5e1", "NaN", "nan", "Infinity", "-Infinity", "inf", "1.234"]

    responses = [
        post_expenditure(client, headers, line, amount, f"E-{i}")
        for i, amount in enumerate(refused)
    ]
    accepted = post_expenditure(client, headers, line, "1000", "OK-1")

    for amount, response in zip(refused, responses, strict=True):
        assert response.status_code == 422, (amount, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        (error,) = response.json()["errors"]
        assert error["field"] == "body.amount"
        assert '"1234.50"' in error["message"] and "two decimals" in error["message"]
    assert accepted.status_code == 201 and accepted.json()["amount"] == "1000.00"
    assert [e.amount for e in db.exec(select(Expenditure)).all()] == [Decimal("1000.00")]
