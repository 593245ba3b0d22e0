"""The funding report and the figures the annual evaluation reads: exact to the fen, per
source, category, pilot and college."""

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.roles import Role
from app.funding.models import Category, Expenditure, ExpenditureKind, FundingKind
from app.funding.service import execution_by_application, funding_totals
from tests.applications.factories import make_application
from tests.exams.factories import make_pilot
from tests.funding.factories import make_line, make_source
from tests.reference.factories import headers_for, make_college, make_major, manager_of, office

TENTHS = 1000


def _spend_many(db: Session, line_id: int, amount: str, count: int) -> None:
    for i in range(count):
        db.add(
            Expenditure(
                line_id=line_id,
                kind=ExpenditureKind.payment,
                amount=Decimal(amount),
                spent_on=date(2022, 10, 1),
                payee="某公司",
                voucher_no=f"T{line_id}-{i}",
            )
        )
    db.commit()


def test_a_thousand_ten_fen_payments_sum_exactly(client: TestClient, db: Session) -> None:
    pilot = make_pilot(db)
    line = make_line(db, make_source(db), pilot, amount="100.00")
    _spend_many(db, line.id or 0, "0.10", TENTHS)

    report = client.get("/api/v1/reports/funding?year=2022", headers=office(db)).json()

    assert report["total"]["spent"] == "100.00"
    assert report["total"]["remaining"] == "0.00"
    assert report["total"]["execution_rate"] == 1.0
    assert execution_by_application(db, 2022) == {pilot.id: (Decimal("100.00"), Decimal("100.00"))}


def test_groups_by_category_application_and_college(client: TestClient, db: Session) -> None:
    first, second = make_college(db, name="甲学院"), make_college(db, name="乙学院")
    shared = make_application(
        db,
        majors=[make_major(db, first), make_major(db, second)],
        status=ApplicationStatus.approved,
    )
    own = make_pilot(db, major=make_major(db, first))
    source = make_source(db)
    school = make_source(db, kind=FundingKind.school, amount="1000.00")
    a = make_line(db, source, shared, category=Category.equipment, amount="300.00")
    b = make_line(db, source, own, category=Category.teacher_training, amount="200.00")
    c = make_line(db, school, own, category=Category.equipment, amount="100.00")
    _spend_many(db, a.id or 0, "50.00", 3)
    _spend_many(db, b.id or 0, "20.00", 1)
    _spend_many(db, c.id or 0, "0.01", 1)
    make_source(db, year=2023, amount="7.00")
    headers = office(db)

    def rows(group_by: str) -> dict[str, dict[str, object]]:
        body = client.get(
            f"/api/v1/reports/funding?year=2022&group_by={group_by}", headers=headers
        ).json()
        assert body["total"]["allocated"] == "600.00"
        assert body["total"]["spent"] == "170.01"
        assert body["sources_amount"] == "501000.00"
        return {row["label"]: row for row in body["rows"]}

    by_category = rows("category")
    assert by_category["设备采购"]["allocated"] == "400.00"
    assert by_category["设备采购"]["spent"] == "150.01"
    assert by_category["师资培训"]["execution_rate"] == 0.1
    by_college = rows("college")
    assert by_college["甲学院"]["allocated"] == "600.00"
    assert by_college["乙学院"]["allocated"] == "300.00"
    by_application = rows("application")
    assert len(by_application) == 2
    assert funding_totals(db, 2022) == (Decimal("600.00"), Decimal("170.01"))
    assert funding_totals(db, 2023) == (Decimal("0.00"), Decimal("0.00"))
    assert execution_by_application(db, 2022)[own.id or 0] == (
        Decimal("300.00"),
        Decimal("20.01"),
    )

    manager = client.get(
        "/api/v1/reports/funding?group_by=college", headers=manager_of(db, second)
    ).json()
    assert manager["total"]["allocated"] == "300.00"
    assert [row["label"] for row in manager["rows"]] == ["乙学院"]
    assert manager["sources_amount"] is None


@pytest.mark.usefixtures("chinese")
def test_the_report_exports_with_a_total_row(client: TestClient, db: Session) -> None:
    line = make_line(db, make_source(db), make_pilot(db), amount="10.00")
    _spend_many(db, line.id or 0, "2.50", 1)
    headers = office(db)

    csv = client.get("/api/v1/reports/funding?format=csv&group_by=source", headers=headers)
    xlsx = client.get("/api/v1/reports/funding?format=xlsx", headers=headers)

    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:4] == ["经费来源", "预算金额", "已支出", "余额"]
    assert lines[-1].startswith("合计,10.00,2.50,7.50,0.25")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == 4  # title, header, one group, 合计
    assert str(sheet["A1"].value).startswith("预算执行情况")
    assert sheet["A4"].value == "合计" and sheet["A4"].font.bold


def test_teachers_and_students_do_not_read_the_report(client: TestClient, db: Session) -> None:
    for role in (Role.teacher, Role.student, Role.evaluation_org):
        response = client.get("/api/v1/reports/funding", headers=headers_for(db, role))
        assert response.status_code == 403


def test_money_in_the_report_is_two_decimal_strings_even_beyond_one_amounts_digits(
    client: TestClient, db: Session
) -> None:
    """Σ of two funds at the largest amount has 15 digits: the report still answers exactly,
    every money figure a string with two decimals; the rate is a number (spent ÷ allocated)."""
    headers = office(db)
    largest = "999999999999.99"
    first, second = make_source(db, amount=largest), make_source(db, amount=largest)
    pilot = make_pilot(db)
    make_line(db, first, pilot, amount=largest)
    make_line(db, second, pilot, category=Category.teacher_training, amount=largest)

    report = client.get("/api/v1/reports/funding?year=2022&group_by=application", headers=headers)

    assert report.status_code == 200, report.text
    body = report.json()
    assert body["sources_amount"] == "1999999999999.98"
    assert body["total"]["allocated"] == "1999999999999.98"
    assert body["total"]["execution_rate"] == 0.0
    money = ("allocated", "spent", "remaining", "subsidies_amount")
    for row in [*body["rows"], body["total"]]:
        for field in money:
            assert isinstance(row[field], str)
            whole, cents = row[field].split(".")
            assert whole.lstrip("-").isdigit() and len(cents) == 2, row[field]
        assert isinstance(row["execution_rate"], float)
