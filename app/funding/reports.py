"""The funding report: budget execution (预算执行) per fund, category, pilot or college.

Allocated, spent, remaining, execution rate (spent ÷ allocated) and the pass subsidies paid
(count and amount, reversed ones not counted), per group and overall, from the one computation
of each line's money that the annual evaluation shares (:func:`line_figures`). Money is exact:
the sums run in SQL over integer fen."""

from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlmodel import Session, col, select

from app.applications.models import ApplicationMajor, PilotApplication
from app.bases.models import TrainingBase
from app.core.export import ExportColumn
from app.core.i18n import N_, translate
from app.core.reports import TOTAL
from app.core.roles import Principal
from app.funding.models import (
    CATEGORY_NAMES,
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


@dataclass
class _Pilots:
    """The pilots the lines fund: their labels, and the colleges (id, name) of their majors
    (only the reader's own college for a college manager)."""

    labels: dict[int, str]
    colleges: dict[int, list[tuple[int, str]]]


def _pilots(
    session: Session, application_ids: list[int], scope: int | None, group_by: FundingGroupBy
) -> _Pilots:
    """What the grouping names of the pilots: their labels (by pilot) or their colleges (by
    college); nothing for the other groupings."""
    pilots = _Pilots(labels={}, colleges=defaultdict(list))
    if not application_ids or group_by not in (FundingGroupBy.application, FundingGroupBy.college):
        return pilots
    if group_by == FundingGroupBy.college:
        _read_colleges(session, application_ids, scope, pilots)
        return pilots
    for app_id, app_year, level, tier, certificate in session.exec(
        select(  # type: ignore[call-overload]
            PilotApplication.id,
            PilotApplication.year,
            PilotApplication.level,
            PilotApplication.tier,
            Certificate.name,
        )
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(col(PilotApplication.id).in_(application_ids))
    ).all():
        pilots.labels[app_id] = pilot_label(certificate, level, tier, app_year)
    return pilots


def _read_colleges(
    session: Session, application_ids: list[int], scope: int | None, pilots: _Pilots
) -> None:
    for app_id, college_id, college_name in session.exec(
        select(ApplicationMajor.application_id, College.id, College.name)
        .join(Major, col(Major.id) == ApplicationMajor.major_id)
        .join(College, col(College.id) == Major.college_id)
        .where(col(ApplicationMajor.application_id).in_(application_ids))
        .distinct()
    ).all():
        if scope is None or college_id == scope:
            pilots.colleges[app_id].append((college_id or 0, college_name))


def _groups(line: LineFigures, group_by: FundingGroupBy, pilots: _Pilots) -> list[tuple[str, str]]:
    """The (key, label) of each group ``line`` counts in: one, or a pilot's every college."""
    if group_by == FundingGroupBy.source:
        return [(str(line.source_id), line.source_name)]
    if group_by == FundingGroupBy.category:
        return [(line.category.value, CATEGORY_NAMES[line.category])]
    if group_by == FundingGroupBy.application:
        return [(str(line.application_id), pilots.labels[line.application_id])]
    return [(str(c), name) for c, name in pilots.colleges[line.application_id]]


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


def _sources_amount(session: Session, year: int | None) -> Decimal:
    """Σ of the amounts of the funds of fiscal ``year`` (every year when None)."""
    statement = select(sum_fen(FundingSource.amount))
    if year is not None:
        statement = statement.where(FundingSource.fiscal_year == year)
    return yuan(session.exec(statement).one())


def report(
    session: Session, principal: Principal, *, year: int | None, group_by: FundingGroupBy
) -> FundingReport:
    """Allocated, spent, remaining, execution rate and subsidies per group and overall. A
    pilot with majors in several colleges counts in each college's group; the total counts
    every line once."""
    scope = reader_scope(principal, N_("the funding report"))
    lines = line_figures(session, year, scope)
    pilots = _pilots(session, sorted({line.application_id for line in lines}), scope, group_by)
    tallies: dict[str, _Tally] = {}
    total = _Tally(label=translate(TOTAL))
    spend = _base_spend(session, [line.line_id for line in lines]) if group_by == "base" else {}
    for line in lines:
        total.add(line)
        if group_by == FundingGroupBy.base:
            for key, label, part in _by_base(line, spend.get(line.line_id, [])):
                tallies.setdefault(key, _Tally(label=label)).add(part)
            continue
        for key, label in _groups(line, group_by, pilots):
            tallies.setdefault(key, _Tally(label=label)).add(line)
    rows = sorted((t.row(k) for k, t in tallies.items()), key=lambda r: (r.label, r.key))
    return FundingReport(
        year=year,
        group_by=group_by,
        rows=rows,
        total=total.row("total"),
        sources_amount=_sources_amount(session, year) if scope is None else None,
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
