"""The ``expenditures`` import kind: a ledger of payments from budget lines, matched on the
voucher number. A voucher already recorded with the same values is unchanged; with other
values it is refused (money records are never edited). Every line's Σ spent stays within its
amount: checked row by row, then again with the lines locked before writing."""

import re
import unicodedata
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from app.bases.models import TrainingBase
from app.core.audit import record_row
from app.core.i18n import N_, _
from app.core.params import MAX_DB_ID
from app.core.roles import Principal
from app.funding import service
from app.funding.models import (
    MAX_AMOUNT,
    VOUCHER_PATTERN,
    BudgetLine,
    Expenditure,
    ExpenditureKind,
)
from app.funding.rules import base_problem, overdraw_problem, voucher_problem
from app.imports.cells import CellError, date_cell, integer, money, text
from app.imports.engine import Column, ImportKind, Plan, RowRefused, known, rows_by
from app.imports.registry import register

COMPARED = ("line_id", "kind", "amount", "spent_on", "payee", "voucher_no", "description")
_VOUCHER = re.compile(VOUCHER_PATTERN)
money_cell = money(MAX_AMOUNT)


def voucher_cell(raw: str) -> str:
    value = unicodedata.normalize("NFKC", raw).strip()
    if value.endswith(".0") and value[:-2].isdigit():
        value = value[:-2]
    if len(value) > 64 or not _VOUCHER.match(value):
        raise CellError(_("one word without spaces, at most 64 characters (e.g. PZ-001, 记-12)"))
    return value


def _prepare(session: Session, principal: Principal) -> Plan:
    existing = rows_by(session, Expenditure, "voucher_no")
    lines = {
        line_id: {"amount": amount, "spent": service.yuan(spent), "category": category}
        for line_id, amount, spent, category in session.exec(
            select(  # type: ignore[call-overload]
                BudgetLine.id,
                BudgetLine.amount,
                service.line_spent_fen(),
                BudgetLine.category,
            )
        ).all()
    }
    bases = {
        name: base_id for base_id, name in session.exec(select(TrainingBase.id, TrainingBase.name))
    }
    return Plan(
        existing=existing,
        lookups={
            "lines": lines,
            "bases": bases,
            "pending": defaultdict(Decimal),
            "principal": principal,
        },
    )


def _base_id(plan: Plan, cells: dict[str, Any]) -> int | None:
    """The training base a row's 实训基地 cell names (by name), or None when it names none."""
    name = cells.get("base")
    if not name:
        return None
    bases: dict[str, int] = plan.lookups["bases"]
    return known(
        bases,
        name,
        "实训基地",
        N_(
            "unknown training base {name}{hint}; use the name of one that exists "
            "(GET /api/v1/training-bases)"
        ),
        name=repr(name),
    )


def _values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    values: dict[str, Any] = {
        "line_id": cells["line_id"],
        "kind": ExpenditureKind.payment,
        "amount": cells["amount"],
        "spent_on": cells["spent_on"],
        "payee": cells["payee"],
        "voucher_no": cells["voucher_no"],
        "description": cells.get("description") or None,
    }
    compared: tuple[str, ...] = COMPARED
    if "base" in cells:
        values["base_id"] = _base_id(plan, cells)
        compared = (*COMPARED, "base_id")
    current = plan.existing.get(cells["voucher_no"])
    if current is not None:
        changed = [k for k in compared if current.get(k) != values[k]]
        if changed:
            raise RowRefused(
                _(
                    "{problem}, and this row has other values ({changed}); money records are "
                    "never edited: reverse it and record a new voucher",
                    problem=voucher_problem(cells["voucher_no"], current["id"]),
                    changed=", ".join(changed),
                ),
                "凭证号",
                cells["voucher_no"],
            )
        return values
    line: dict[str, Any] = known(
        plan.lookups["lines"],
        cells["line_id"],
        "预算ID",
        N_("no budget line with id {line_id} (GET /api/v1/budget-lines)"),
        line_id=cells["line_id"],
    )
    problem = base_problem(cells["line_id"], line["category"], values.get("base_id") is not None)
    if problem:
        raise RowRefused(problem, "实训基地", str(cells["base"]))
    pending: dict[int, Decimal] = plan.lookups["pending"]
    problem = overdraw_problem(
        cells["line_id"], line["amount"], line["spent"], cells["amount"], pending[cells["line_id"]]
    )
    if problem:
        raise RowRefused(problem, "金额", f"{cells['amount']}")
    pending[cells["line_id"]] += cells["amount"]
    return values


def _lock_and_recheck(
    session: Session, _principal: Principal, _plan: Plan, rows: list[dict[str, Any]]
) -> None:
    """Lock the lines (in id order) and check Σ spent again: a single expenditure may have
    been recorded while the file was checked."""
    for line_id in sorted({r["line_id"] for r in rows}):
        line = service.locked_line(session, line_id)
        spent = service.spent_on_line(session, line_id)
        new = sum((r["amount"] for r in rows if r["line_id"] == line_id), Decimal(0))
        if overdraw_problem(line_id, line.amount, spent, new):
            raise service.line_exceeded(line, spent, new)


def _audit(session: Session, plan: Plan, rows: list[dict[str, Any]]) -> None:
    """One ``create`` event per expenditure the upload recorded, as a single one makes."""
    if not rows:
        return
    for expenditure in session.exec(
        select(Expenditure).where(col(Expenditure.voucher_no).in_([r["voucher_no"] for r in rows]))
    ).all():
        record_row(session, plan.lookups["principal"], expenditure, service.EXPENDITURE_ENTITY)


register(
    ImportKind(
        name="expenditures",
        title="经费支出",
        model=Expenditure,
        key="voucher_no",
        columns=(
            Column(
                "line_id",
                "预算ID",
                integer(1, MAX_DB_ID),
                aliases=("预算行ID", "line_id", "budget_line"),
                example="1",
                help=N_("the budget line's id (GET /api/v1/budget-lines)"),
                en="budget_line_id",
            ),
            Column("amount", "金额", money_cell, aliases=("支出金额",), example="1280.00"),
            Column(
                "spent_on",
                "日期",
                date_cell,
                aliases=("支出日期", "spent_on"),
                example="2022-10-20",
                en="date",
            ),
            Column("payee", "收款方", text(200), aliases=("收款单位",), example="某公司"),
            Column(
                "voucher_no",
                "凭证号",
                voucher_cell,
                aliases=("凭证编号",),
                example="PZ-2022-0001",
                help=N_("unique across the service"),
            ),
            Column(
                "description",
                "摘要",
                text(2000),
                required=False,
                aliases=("说明", "备注"),
                example="实训设备采购",
            ),
            Column(
                "base",
                "实训基地",
                text(100),
                required=False,
                aliases=("基地", "training_base_name"),
                example="Web前端开发产教融合实训基地",
                help=N_("equipment (设备采购) lines only: the base the payment equips, by name"),
                en="training_base",
            ),
        ),
        prepare=_prepare,
        to_values=_values,
        before_write=_lock_and_recheck,
        write_extra=_audit,
        description="Payments from budget lines by voucher number; a line is never overdrawn, "
        "and a recorded voucher is never changed (reverse it instead)",
    )
)
