"""Helpers for funding: sources, lines, and a held exam session with passed and failed
candidates."""

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import PilotApplication
from app.exams.models import ExamSession, RegistrationStatus
from app.funding.models import BudgetLine, Category, FundingKind, FundingSource
from tests.exams.factories import (
    make_registration,
    make_result,
    make_session,
    pilot_students,
    school_today,
)

_counter = itertools.count(1)


def make_source(
    db: Session,
    *,
    kind: FundingKind = FundingKind.moe_special,
    amount: str = "500000.00",
    year: int = 2022,
    earmarked: bool | None = None,
) -> FundingSource:
    source = FundingSource(
        name=f"经费{next(_counter)}",
        kind=kind,
        fiscal_year=year,
        amount=Decimal(amount),
        earmarked=kind in {FundingKind.moe_special, FundingKind.municipal_special}
        if earmarked is None
        else earmarked,
    )
    db.add(source)
    db.commit()
    db.refresh(source)
    return source


def make_line(
    db: Session,
    source: FundingSource,
    application: PilotApplication,
    *,
    category: Category = Category.equipment,
    amount: str = "10000.00",
) -> BudgetLine:
    line = BudgetLine(
        source_id=source.id,
        application_id=application.id,
        category=category,
        amount=Decimal(amount),
    )
    db.add(line)
    db.commit()
    db.refresh(line)
    return line


def held_session(
    db: Session, application: PilotApplication, *, passed: int, failed: int
) -> ExamSession:
    """A held session of ``application`` where ``passed`` candidates passed and ``failed``
    did not."""
    exam = make_session(db, application, capacity=passed + failed + 5)
    exam.exam_date = school_today() - timedelta(days=1)
    exam.registration_opens = school_today() - timedelta(days=20)
    exam.registration_closes = school_today() - timedelta(days=10)
    db.add(exam)
    db.commit()
    for index, student in enumerate(pilot_students(db, application, passed + failed)):
        registration = make_registration(db, exam, student, RegistrationStatus.registered)
        make_result(db, registration, passed=index < passed)
    return exam


def post_expenditure(
    client: TestClient, headers: dict[str, str], line: BudgetLine, amount: str, voucher: str
) -> Any:
    """POST /expenditures: ``amount`` from ``line`` with the voucher ``voucher``."""
    return client.post(
        "/api/v1/expenditures",
        json={
            "line_id": line.id,
            "amount": amount,
            "spent_on": "2022-11-02",
            "payee": "某培训机构",
            "voucher_no": voucher,
            "description": "师资培训费",
        },
        headers=headers,
    )


def ledger_csv(line_id: int, *rows: tuple[str, str, str]) -> bytes:
    """An expenditures upload (.csv) of ``(amount, voucher, note)`` rows on ``line_id``."""
    lines = ["预算ID,金额,日期,收款方,凭证号,摘要"]
    lines += [
        f"{line_id},{amount},2022-10-0{i + 1},某公司,{voucher},{note}"
        for i, (amount, voucher, note) in enumerate(rows)
    ]
    return ("\n".join(lines) + "\n").encode()
