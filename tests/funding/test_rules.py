"""Each rule of a budget line's money is written once (:mod:`app.funding.rules`): its boundaries,
and the same words whether an expenditure comes one at a time or in an upload."""

from decimal import Decimal

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.funding.models import Category, Expenditure
from app.funding.rules import base_problem, overdraw_problem, voucher_problem
from tests.exams.factories import make_pilot
from tests.funding.factories import make_line, make_source
from tests.imports.helpers import upload
from tests.reference.factories import office


def test_a_line_spends_up_to_its_amount_and_not_a_fen_more() -> None:
    amount, spent = Decimal("1000.00"), Decimal("999.99")
    assert overdraw_problem(7, amount, spent, Decimal("0.01")) is None
    assert overdraw_problem(7, amount, spent, Decimal("0.02")) == (
        "budget line 7 has 0.01 left of 1000.00 (999.99 spent); 0.02 is asked for"
    )
    assert overdraw_problem(7, amount, Decimal("0.00"), Decimal("1000.00")) is None


def test_an_upload_counts_its_earlier_rows_against_the_line() -> None:
    amount, spent, earlier = Decimal("1000.00"), Decimal("200.00"), Decimal("300.00")
    assert overdraw_problem(7, amount, spent, Decimal("500.00"), earlier) is None
    assert overdraw_problem(7, amount, spent, Decimal("500.01"), earlier) == (
        "budget line 7 has 500.00 left of 1000.00 (200.00 spent, 300.00 taken by earlier rows "
        "of this file); 500.01 is asked for"
    )


def test_a_reversal_frees_what_it_reverses() -> None:
    """Σ spent nets the negative reversals, so a reversed payment leaves the whole line."""
    spent = Decimal("600.00") + Decimal("-600.00")
    assert overdraw_problem(7, Decimal("1000.00"), spent, Decimal("1000.00")) is None


def test_only_an_equipment_payment_names_a_base() -> None:
    assert base_problem(7, Category.equipment, names_base=True) is None
    assert base_problem(7, Category.teacher_training, names_base=False) is None
    assert base_problem(7, Category.teacher_training, names_base=True) == (
        "budget line 7 is for 师资培训; only an equipment (设备采购) payment names the training "
        "base it equips"
    )


def test_a_voucher_is_recorded_once() -> None:
    assert voucher_problem("PZ-1", None) is None
    assert voucher_problem("PZ-1", 12) == (
        "voucher PZ-1 is already recorded (expenditure 12); each voucher is recorded once"
    )


def test_an_overdraft_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db), amount="1000.00")
    body = {"line_id": line.id, "spent_on": "2022-11-02", "payee": "某公司"}
    first = client.post(
        "/api/v1/expenditures",
        json={**body, "amount": "999.99", "voucher_no": "A-1"},
        headers=headers,
    )
    assert first.status_code == 201, first.text

    alone = client.post(
        "/api/v1/expenditures",
        json={**body, "amount": "0.02", "voucher_no": "A-2"},
        headers=headers,
    )
    uploaded = upload(
        client,
        headers,
        "expenditures",
        "e.csv",
        f"预算ID,金额,日期,收款方,凭证号\n{line.id},0.02,2022-11-02,某公司,A-3\n".encode(),
    )

    expected = overdraw_problem(line.id, Decimal("1000.00"), Decimal("999.99"), Decimal("0.02"))
    assert expected is not None
    assert alone.status_code == 409 and alone.json()["code"] == "line_exceeded"
    assert alone.json()["detail"] == f"Nothing was recorded: {expected}"
    assert uploaded.status_code == 422
    assert [(e["column"], e["reason"]) for e in uploaded.json()["errors"]] == [("金额", expected)]
    assert len(db.exec(select(Expenditure)).all()) == 1
