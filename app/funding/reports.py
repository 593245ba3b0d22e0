"""The funding report: budget execution (预算执行) per fund, category, pilot or college.

Allocated, spent, remaining, execution rate (spent ÷ allocated) and the pass subsidies paid
(count and amount, reversed ones not counted), per group and overall, from the one computation
of each line's money that the annual evaluation shares (:func:`line_money_statement`), summed per
group in SQL (per training base, each line is split in Python over the bases its payments
name). Money is exact: the sums run in SQL over integer fen."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.applications.models import ApplicationMajor, PilotApplication
from app.bases.models import TrainingBase
from app.core.export import ExportColumn
from app.core.i18n import N_, translate
from app.core.reports import TOTAL
from app.core.roles import Principal
from app.funding.models import (
    CATEGORY_NAMES,
    Category,
    Expenditure,
    FundingGroupBy,
    FundingReport,
    FundingRow,
    FundingSource,
)
from app.funding.service import (
    ZERO,
    LineFigures,
    line_figures,
    line_money_statement,
    pilot_label,
    reader_scope,
    sum_fen,
    yuan,
)
from app.reference.models import Certificate, College, Major


def execution_rate(allocated: Decimal, spent: Decimal) -> float | None:
    if not allocated:
        return None
    return float((spent / allocated).quantize(Decimal("0.0001")))


@dataclass
class _Tally:
    label: str
    allocated: Decimal = ZERO
    spent: Decimal = ZERO
    subsidies_paid: int = 0
    subsidies_amount: Decimal = ZERO

    def add(self, line: LineFigures) -> None:
        self.allocated += line.allocated
        self.spent += line.spent
        self.subsidies_paid += line.subsidies_paid
        self.subsidies_amount += line.subsidies_amount

    def row(self, key: str) -> FundingRow:
        return FundingRow(
            key=key,
            label=self.label,
            allocated=self.allocated,
            spent=self.spent,
            remaining=self.allocated - self.spent,
            execution_rate=execution_rate(self.allocated, self.spent),
            subsidies_paid=self.subsidies_paid,
            subsidies_amount=self.subsidies_amount,
        )


def _sums(lines: Any) -> list[Any]:
    """Σ allocated, Σ spent, Σ subsidies paid, Σ their fen over ``lines`` (a subquery of
    :func:`line_money_statement`)."""
    return [
        func.coalesce(func.sum(lines.c.allocated), 0),
        func.coalesce(func.sum(lines.c.spent), 0),
        func.coalesce(func.sum(lines.c.subsidies), 0),
        func.coalesce(func.sum(lines.c.subsidy_fen), 0),
    ]


def _group_statement(lines: Any, group_by: FundingGroupBy, scope: int | None) -> Any:
    """The lines summed per group, each row (key, label parts…, the four sums). A pilot with
    majors in several colleges counts in each of them (only the reader's own college for a
    college manager)."""
    if group_by == FundingGroupBy.source:
        keys: list[Any] = [lines.c.source_id, lines.c.source_name]
        return select(*keys, *_sums(lines)).group_by(*keys)
    if group_by == FundingGroupBy.category:
        return select(lines.c.category, *_sums(lines)).group_by(lines.c.category)
    if group_by == FundingGroupBy.application:
        keys = [
            lines.c.application_id,
            col(Certificate.name),
            col(PilotApplication.level),
            col(PilotApplication.tier),
            col(PilotApplication.year),
        ]
        return (
            select(*keys, *_sums(lines))
            .join(PilotApplication, col(PilotApplication.id) == lines.c.application_id)
            .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
            .group_by(*keys)
        )
    colleges = (
        select(ApplicationMajor.application_id, College.id, College.name)
        .join(Major, col(Major.id) == ApplicationMajor.major_id)
        .join(College, col(College.id) == Major.college_id)
        .distinct()
    )
    if scope is not None:
        colleges = colleges.where(College.id == scope)
    pilot_colleges = colleges.subquery("pilot_colleges")
    keys = [pilot_colleges.c.id, pilot_colleges.c.name]
    return (
        select(*keys, *_sums(lines))
        .select_from(lines)
        .join(pilot_colleges, pilot_colleges.c.application_id == lines.c.application_id)
        .group_by(*keys)
    )


def _key_and_label(group_by: FundingGroupBy, parts: Sequence[Any]) -> tuple[str, str]:
    if group_by == FundingGroupBy.category:
        category = Category(parts[0])
        return category.value, CATEGORY_NAMES[category]
    if group_by == FundingGroupBy.application:
        app_id, certificate, level, tier, app_year = parts
        return str(app_id), pilot_label(certificate, level, tier, app_year)
    return str(parts[0] or 0), parts[1]


def _tally_of(label: str, allocated: Any, spent: Any, paid: Any, paid_fen: Any) -> _Tally:
    return _Tally(
        label=label,
        allocated=yuan(allocated),
        spent=yuan(spent),
        subsidies_paid=int(paid),
        subsidies_amount=yuan(paid_fen),
    )


def _grouped(
    session: Session, year: int | None, scope: int | None, group_by: FundingGroupBy
) -> tuple[list[FundingRow], _Tally, Decimal | None]:
    """The rows per group, the total (every line once) and, for a reader of every fund, the
    funds' whole amount, from one statement: the lines' money computed once (a CTE), summed
    per group and, in the last row (marked), over every line."""
    lines = line_money_statement(year, scope).cte("lines")
    groups = _group_statement(lines, group_by, scope)
    keys = len(groups.selected_columns) - 4
    amount = _sources_amount_column(year) if scope is None else sa.null()
    total = sa.select(*[sa.null()] * keys, *_sums(lines), sa.literal(1), amount)
    statement = sa.union_all(groups.add_columns(sa.literal(0), sa.null()), total)
    rows = []
    total_row: Any = None
    for row in session.connection().execute(statement).all():
        if row[-2] == 1:
            total_row = row
            continue
        key, label = _key_and_label(group_by, row[:keys])
        rows.append(_tally_of(label, *row[keys:-2]).row(key))
    whole = yuan(total_row[-1]) if scope is None else None
    return rows, _tally_of(translate(TOTAL), *total_row[keys:-2]), whole


NO_BASE = ("none", "未指定实训基地")


def _base_spend(session: Session, line_ids: list[int]) -> dict[int, list[tuple[int, str, Decimal]]]:
    """Per budget line: (base id, base name, Σ spent naming it, reversals netted)."""
    spend: dict[int, list[tuple[int, str, Decimal]]] = defaultdict(list)
    if not line_ids:
        return spend
    for line_id, base_id, name, fen in session.exec(
        select(Expenditure.line_id, TrainingBase.id, TrainingBase.name, sum_fen(Expenditure.amount))
        .join(TrainingBase, col(TrainingBase.id) == Expenditure.base_id)
        .where(col(Expenditure.line_id).in_(line_ids))
        .group_by(col(Expenditure.line_id), col(TrainingBase.id), col(TrainingBase.name))
    ).all():
        spend[line_id].append((base_id or 0, name, yuan(fen)))
    return spend


def _by_base(
    line: LineFigures, spend: list[tuple[int, str, Decimal]]
) -> list[tuple[str, str, LineFigures]]:
    """A line split over the bases its payments name: each base counts what was spent on it
    (as allocated and as spent: a base has no budget of its own); the rest of the line — what
    is unspent, and spent naming no base, with the subsidies — counts as 未指定实训基地."""
    parts = []
    attributed = ZERO
    for base_id, name, amount in spend:
        attributed += amount
        part = replace(
            line, allocated=amount, spent=amount, subsidies_paid=0, subsidies_amount=ZERO
        )
        parts.append((str(base_id), name, part))
    rest = replace(line, allocated=line.allocated - attributed, spent=line.spent - attributed)
    parts.append((*NO_BASE, rest))
    return parts


def _sources_amount_column(year: int | None) -> Any:
    """Σ of the amounts of the funds of fiscal ``year`` (every year when None), in fen."""
    statement = select(sum_fen(FundingSource.amount))
    if year is not None:
        statement = statement.where(FundingSource.fiscal_year == year)
    return statement.scalar_subquery()


def _sources_amount(session: Session, year: int | None) -> Decimal:
    """Σ of the amounts of the funds of fiscal ``year`` (every year when None)."""
    return yuan(session.connection().execute(select(_sources_amount_column(year))).scalar())


def report(
    session: Session, principal: Principal, *, year: int | None, group_by: FundingGroupBy
) -> FundingReport:
    """Allocated, spent, remaining, execution rate and subsidies per group and overall. A
    pilot with majors in several colleges counts in each college's group; the total counts
    every line once."""
    scope = reader_scope(principal, N_("the funding report"))
    if group_by != FundingGroupBy.base:
        rows, total, whole = _grouped(session, year, scope, group_by)
        return _report(year, group_by, rows, total, whole)
    lines = line_figures(session, year, scope)
    tallies: dict[str, _Tally] = {}
    total = _Tally(label=translate(TOTAL))
    spend = _base_spend(session, [line.line_id for line in lines])
    for line in lines:
        total.add(line)
        for key, label, part in _by_base(line, spend.get(line.line_id, [])):
            tallies.setdefault(key, _Tally(label=label)).add(part)
    return _report(
        year,
        group_by,
        [t.row(k) for k, t in tallies.items()],
        total,
        _sources_amount(session, year) if scope is None else None,
    )


def _report(
    year: int | None,
    group_by: FundingGroupBy,
    rows: list[FundingRow],
    total: _Tally,
    sources_amount: Decimal | None,
) -> FundingReport:
    return FundingReport(
        year=year,
        group_by=group_by,
        rows=sorted(rows, key=lambda r: (r.label, r.key)),
        total=total.row("total"),
        sources_amount=sources_amount,
    )


# --- the report's download -------------------------------------------------------------------

REPORT_GROUPS = {
    FundingGroupBy.source: N_("Funding source"),
    FundingGroupBy.category: N_("Spending category"),
    FundingGroupBy.application: N_("Pilot project"),
    FundingGroupBy.college: N_("College"),
    FundingGroupBy.base: N_("Training base"),
}
REPORT_COLUMNS = [
    ExportColumn("allocated", N_("Budget amount")),
    ExportColumn("spent", N_("Spent")),
    ExportColumn("remaining", N_("Remaining")),
    ExportColumn("execution_rate", N_("Execution rate"), percent=True),
    ExportColumn("subsidies_paid", N_("Students subsidised")),
    ExportColumn("subsidies_amount", N_("Subsidies paid")),
]
