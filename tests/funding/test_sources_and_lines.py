"""Funding sources and budget lines: who writes, 专款专用, Σ lines ≤ source, amounts never
below what is allocated or spent, If-Match, deletion only of what holds no money."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.funding.models import (
    BudgetLine,
    Category,
    Expenditure,
    ExpenditureKind,
    FundingKind,
    FundingSource,
)
from tests.exams.factories import make_pilot
from tests.funding.factories import make_line, make_source
from tests.reference.factories import headers_for, make_college, make_major, manager_of, office


def _source_body(**overrides: object) -> dict[str, object]:
    return {
        "name": "2022年市教委1+X专项",
        "kind": "municipal_special",
        "fiscal_year": 2022,
        "amount": "200000.00",
        **overrides,
    }


def _spend(db: Session, line: BudgetLine, amount: str, voucher: str = "V-1") -> None:
    db.add(
        Expenditure(
            line_id=line.id,
            kind=ExpenditureKind.payment,
            amount=Decimal(amount),
            spent_on=date(2022, 10, 1),
            payee="某公司",
            voucher_no=voucher,
        )
    )
    db.commit()


def test_special_funds_are_always_earmarked(client: TestClient, db: Session) -> None:
    headers = office(db)

    refused = client.post(
        "/api/v1/funding-sources", json=_source_body(earmarked=False), headers=headers
    )
    other = client.post(
        "/api/v1/funding-sources",
        json=_source_body(name="企业捐赠", kind="other", earmarked=True),
        headers=headers,
    )

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.earmarked"
    assert other.status_code == 201 and other.json()["earmarked"] is True
    assert other.headers["location"] == f"/api/v1/funding-sources/{other.json()['id']}"


def test_a_second_source_with_the_same_name_and_year_is_a_conflict(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    assert client.post("/api/v1/funding-sources", json=_source_body(), headers=headers).is_success

    again = client.post("/api/v1/funding-sources", json=_source_body(), headers=headers)

    assert again.status_code == 409 and again.json()["code"] == "duplicate"


def test_amounts_take_at_most_two_decimals_and_are_strings(client: TestClient, db: Session) -> None:
    headers = office(db)

    refused = client.post(
        "/api/v1/funding-sources", json=_source_body(amount="1.005"), headers=headers
    )
    created = client.post(
        "/api/v1/funding-sources", json=_source_body(amount=12.5), headers=headers
    )

    assert refused.status_code == 422
    assert created.json()["amount"] == "12.50"


def test_only_the_academic_office_writes_money(client: TestClient, db: Session) -> None:
    for role in (Role.auditor, Role.college_manager, Role.admin, Role.student):
        response = client.post(
            "/api/v1/funding-sources", json=_source_body(), headers=headers_for(db, role)
        )
        assert response.status_code == 403, role
    assert db.exec(select(FundingSource)).all() == []


def test_the_source_amount_never_drops_below_its_lines(client: TestClient, db: Session) -> None:
    headers = office(db)
    source = make_source(db, amount="1000.00")
    make_line(db, source, make_pilot(db), amount="600.00")
    etag = client.get(f"/api/v1/funding-sources/{source.id}", headers=headers).headers["etag"]

    refused = client.patch(
        f"/api/v1/funding-sources/{source.id}",
        json={"amount": "599.99"},
        headers={**headers, "If-Match": etag},
    )
    lowered = client.patch(
        f"/api/v1/funding-sources/{source.id}",
        json={"amount": "600.00"},
        headers={**headers, "If-Match": etag},
    )
    stale = client.patch(
        f"/api/v1/funding-sources/{source.id}",
        json={"amount": "700.00"},
        headers={**headers, "If-Match": etag},
    )

    assert refused.status_code == 409 and refused.json()["code"] == "amount_below_allocated"
    assert lowered.status_code == 200
    assert lowered.json()["unallocated"] == "0.00"
    assert stale.status_code == 412
    db.refresh(source)
    assert source.amount == Decimal("600.00")


def test_a_source_with_lines_is_not_deleted(client: TestClient, db: Session) -> None:
    headers = office(db)
    used, empty = make_source(db), make_source(db)
    make_line(db, used, make_pilot(db))
    empty_id = empty.id

    assert client.delete(f"/api/v1/funding-sources/{used.id}", headers=headers).status_code == 409
    assert client.delete(f"/api/v1/funding-sources/{empty_id}", headers=headers).status_code == 204
    ids = db.exec(select(FundingSource.id)).all()
    assert ids == [used.id]


def test_an_earmarked_source_refuses_other_and_a_school_fund_takes_it(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    pilot = make_pilot(db)
    moe = make_source(db)
    school = make_source(db, kind=FundingKind.school)

    refused = client.post(
        "/api/v1/budget-lines",
        json={"source_id": moe.id, "application_id": pilot.id, "category": "other", "amount": "1"},
        headers=headers,
    )
    accepted = client.post(
        "/api/v1/budget-lines",
        json={
            "source_id": school.id,
            "application_id": pilot.id,
            "category": "other",
            "amount": "1",
        },
        headers=headers,
    )

    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "earmarked_category"
    assert "专款专用" in body["detail"] and "teacher_training" in body["detail"]
    assert body["errors"][0]["field"] == "body.category"
    assert accepted.status_code == 201


def test_lines_of_a_source_never_exceed_it(client: TestClient, db: Session) -> None:
    headers = office(db)
    source = make_source(db, amount="1000.00")
    pilot = make_pilot(db)
    make_line(db, source, pilot, category=Category.equipment, amount="999.00")

    refused = client.post(
        "/api/v1/budget-lines",
        json={
            "source_id": source.id,
            "application_id": pilot.id,
            "category": "exam_fee",
            "amount": "1.01",
        },
        headers=headers,
    )
    fits = client.post(
        "/api/v1/budget-lines",
        json={
            "source_id": source.id,
            "application_id": pilot.id,
            "category": "exam_fee",
            "amount": "1.00",
        },
        headers=headers,
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "source_exceeded"
    assert refused.json()["available"] == "1.00"
    assert fits.status_code == 201


def test_lines_are_only_for_approved_pilots_and_one_per_category(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    source = make_source(db)
    draft = make_pilot(db, status=ApplicationStatus.draft)
    pilot = make_pilot(db)
    make_line(db, source, pilot)

    not_approved = client.post(
        "/api/v1/budget-lines",
        json={
            "source_id": source.id,
            "application_id": draft.id,
            "category": "equipment",
            "amount": "1",
        },
        headers=headers,
    )
    duplicate = client.post(
        "/api/v1/budget-lines",
        json={
            "source_id": source.id,
            "application_id": pilot.id,
            "category": "equipment",
            "amount": "1",
        },
        headers=headers,
    )
    unknown = client.post(
        "/api/v1/budget-lines",
        json={"source_id": 999, "application_id": pilot.id, "category": "equipment", "amount": "1"},
        headers=headers,
    )

    assert not_approved.status_code == 409 and not_approved.json()["code"] == "invalid_state"
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "duplicate"
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.source_id"


def test_a_line_never_drops_below_what_it_spent_nor_rises_above_its_source(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    source = make_source(db, amount="1000.00")
    line = make_line(db, source, make_pilot(db), amount="500.00")
    _spend(db, line, "300.00")

    below = client.patch(
        f"/api/v1/budget-lines/{line.id}", json={"amount": "299.99"}, headers=headers
    )
    above = client.patch(
        f"/api/v1/budget-lines/{line.id}", json={"amount": "1000.01"}, headers=headers
    )
    ok = client.patch(f"/api/v1/budget-lines/{line.id}", json={"amount": "300.00"}, headers=headers)

    assert below.status_code == 409 and below.json()["code"] == "amount_below_spent"
    assert below.json()["spent"] == "300.00"
    assert above.status_code == 409 and above.json()["code"] == "source_exceeded"
    assert ok.status_code == 200
    assert ok.json()["remaining"] == "0.00"
    assert ok.headers["etag"] == '"2"'
    events = db.exec(select(AuditEvent).where(AuditEvent.entity == "budget_line")).all()
    assert [e.action for e in events] == ["update"]


def test_a_line_with_expenditures_is_never_deleted(client: TestClient, db: Session) -> None:
    headers = office(db)
    source = make_source(db)
    spent = make_line(db, source, make_pilot(db))
    unused = make_line(db, source, make_pilot(db))
    _spend(db, spent, "1.00")

    refused = client.delete(f"/api/v1/budget-lines/{spent.id}", headers=headers)

    assert refused.status_code == 409 and refused.json()["code"] == "has_expenditures"
    assert client.delete(f"/api/v1/budget-lines/{unused.id}", headers=headers).status_code == 204
    assert db.get(BudgetLine, spent.id) is not None


def test_a_college_manager_reads_only_their_pilots_lines_and_sources(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    own = make_pilot(db, major=make_major(db, college))
    foreign = make_pilot(db)
    shared, elsewhere = make_source(db), make_source(db)
    own_line = make_line(db, shared, own)
    make_line(db, shared, foreign, category=Category.exam_fee)
    foreign_line = make_line(db, elsewhere, foreign)
    headers = manager_of(db, college)

    lines = client.get("/api/v1/budget-lines", headers=headers).json()
    sources = client.get("/api/v1/funding-sources", headers=headers).json()

    assert [item["id"] for item in lines["items"]] == [own_line.id]
    assert [item["id"] for item in sources["items"]] == [shared.id]
    assert client.get(f"/api/v1/budget-lines/{foreign_line.id}", headers=headers).status_code == 404
    assert (
        client.get("/api/v1/budget-lines", headers=headers_for(db, Role.teacher)).status_code == 403
    )
    assert (
        client.get("/api/v1/budget-lines", headers=headers_for(db, Role.auditor)).json()["total"]
        == 3
    )


@pytest.mark.usefixtures("chinese")
def test_lines_export_as_csv_with_chinese_headers(client: TestClient, db: Session) -> None:
    make_line(db, make_source(db), make_pilot(db), amount="1234.50")

    response = client.get("/api/v1/budget-lines?format=csv", headers=office(db))

    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("预算ID,经费来源")
    assert "1234.50" in text


def test_kind_year_and_earmarking_are_changed_by_patch_within_the_rules(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    school = make_source(db, kind=FundingKind.school, earmarked=False, amount="1000.00")
    make_line(db, school, make_pilot(db), category=Category.other, amount="100.00")
    moe = make_source(db, amount="1000.00")

    def patch(source: FundingSource, body: dict[str, object]) -> Any:
        etag = client.get(f"/api/v1/funding-sources/{source.id}", headers=headers)
        return client.patch(
            f"/api/v1/funding-sources/{source.id}",
            json=body,
            headers={**headers, "If-Match": etag.headers["etag"]},
        )

    to_special = patch(school, {"kind": "municipal_special"})
    to_earmarked = patch(school, {"earmarked": True})
    unearmark_moe = patch(moe, {"earmarked": False})
    moe_to_school = patch(moe, {"kind": "school", "earmarked": False, "fiscal_year": 2023})
    back_to_moe = patch(moe, {"kind": "moe_special"})
    clash = patch(moe, {"name": school.name, "fiscal_year": school.fiscal_year})

    for refused in (to_special, to_earmarked):
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "earmarked_category"
        assert "other" in refused.json()["detail"]
        assert refused.json()["budget_line_ids"]
    assert unearmark_moe.status_code == 422
    assert unearmark_moe.json()["errors"][0]["field"] == "body.earmarked"
    assert moe_to_school.status_code == 200, moe_to_school.text
    assert moe_to_school.json()["kind"] == "school"
    assert moe_to_school.json()["earmarked"] is False
    assert moe_to_school.json()["fiscal_year"] == 2023
    assert back_to_moe.status_code == 200
    assert back_to_moe.json()["earmarked"] is True
    assert clash.status_code == 409 and clash.json()["code"] == "duplicate"
    db.refresh(school)
    db.refresh(moe)
    assert (school.kind, school.earmarked) == (FundingKind.school, False)
    assert (moe.kind, moe.earmarked, moe.fiscal_year) == (FundingKind.moe_special, True, 2023)


def test_a_college_manager_reads_a_funds_totals_of_their_own_colleges_lines_only(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    own = make_pilot(db, major=make_major(db, college))
    foreign = make_pilot(db)
    source = make_source(db, amount="300000.00")
    own_line = make_line(db, source, own, amount="156000.00")
    foreign_line = make_line(db, source, foreign, category=Category.exam_fee, amount="50000.00")
    _spend(db, own_line, "1000.00", "V-OWN")
    _spend(db, foreign_line, "7000.00", "V-FOREIGN")
    headers = manager_of(db, college)

    one = client.get(f"/api/v1/funding-sources/{source.id}", headers=headers).json()
    listed = client.get("/api/v1/funding-sources", headers=headers).json()["items"]
    exported = client.get("/api/v1/funding-sources", params={"format": "csv"}, headers=headers)
    whole = client.get(f"/api/v1/funding-sources/{source.id}", headers=office(db)).json()

    # The manager's view adds up their college's lines; nothing tells what the others hold.
    for seen in (one, listed[0]):
        assert (seen["amount"], seen["allocated"], seen["spent"]) == (
            "300000.00",
            "156000.00",
            "1000.00",
        )
        assert seen["unallocated"] is None
    assert "206000.00" not in exported.text and "8000.00" not in exported.text
    assert "156000.00" in exported.text
    # The office reads the fund's whole totals.
    assert (whole["allocated"], whole["unallocated"], whole["spent"]) == (
        "206000.00",
        "94000.00",
        "8000.00",
    )
