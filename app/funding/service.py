"""Funding rules: who writes money (the academic office) and who reads it, 专款专用, the limits
that hold under concurrent writers (Σ lines ≤ source, Σ spent ≤ line: the source or line row
is locked before summing), append-only expenditures with reversals, pass-only subsidy runs,
and the one computation of allocated and spent money that the report and the annual
evaluation share. Sums run in SQL over integer fen, so they are exact on every database."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from app.applications.models import ApplicationMajor, PilotApplication
from app.applications.service import approved_application
from app.bases.models import TrainingBase
from app.core.audit import apply_changes, delete_row, record, record_row, save_new, snapshot
from app.core.auth import require_office
from app.core.db import refuse_taken
from app.core.errors import Conflict, Forbidden, InvalidState, NotFound, UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.listing import Listing, each, where_equal
from app.core.locks import lock_row
from app.core.roles import READ_ALL, READ_ALL_OR_COLLEGE, Principal, Role
from app.core.types import CENT, FEN_PER_YUAN
from app.core.versions import check_version
from app.exams.models import ExamRegistration, ExamResult, ExamSession, RegistrationStatus
from app.funding.models import (
    CATEGORY_NAMES,
    EARMARKED_CATEGORIES,
    EARMARKED_KINDS,
    BudgetLine,
    Category,
    Expenditure,
    ExpenditureCreate,
    ExpenditureFilters,
    ExpenditureKind,
    ExpenditurePublic,
    ExpenditureReverseBody,
    FundingKind,
    FundingSource,
    LineCreate,
    LineFilters,
    LinePublic,
    LineUpdate,
    SourceCreate,
    SourceFilters,
    SourcePublic,
    SourceUpdate,
    SubsidyPayment,
    SubsidyRun,
    SubsidyRunCreate,
    SubsidyRunFilters,
    SubsidyRunPublic,
    SubsidyRunSummary,
)
from app.funding.rules import base_problem, overdraw_problem, voucher_problem
from app.reference.models import Certificate, Major, Student

SOURCE_ENTITY = "funding_source"
LINE_ENTITY = "budget_line"
EXPENDITURE_ENTITY = "expenditure"
SUBSIDY_RUN_ENTITY = "subsidy_run"
ZERO = Decimal("0.00")


def yuan(fen: int | None) -> Decimal:
    """Integer fen from SQL as a two-place Decimal (exact)."""
    return (Decimal(int(fen or 0)) / FEN_PER_YUAN).quantize(CENT)


def _fen(expression: Any) -> Any:
    """A MoneyFen column read as its stored integer, for exact SQL sums."""
    return sa.type_coerce(expression, sa.BigInteger())


def sum_fen(expression: Any) -> Any:
    return func.coalesce(func.sum(_fen(expression)), 0)


# --- who may do what ---------------------------------------------------------------------------


def reader_scope(principal: Principal, what: str) -> int | None:
    """None for readers of everything; a college manager's college id; 403 for the others."""
    if principal.role in READ_ALL:
        return None
    if principal.role == Role.college_manager:
        return principal.college_id or -1
    raise Forbidden(
        _(
            "Role {role} may not read {what}; allowed roles: academic_office, "
            "auditor, admin, college_manager (their own pilots)",
            role=label(principal.role),
            what=translate(what),
        ),
        allowed_roles=sorted(r.value for r in READ_ALL_OR_COLLEGE),
    )


def _pilots_of_college(college_id: int) -> Any:
    return (
        select(ApplicationMajor.application_id)
        .join(Major, col(Major.id) == ApplicationMajor.major_id)
        .where(Major.college_id == college_id)
    )


# --- sums --------------------------------------------------------------------------------------


def spent_on_line(session: Session, line_id: int) -> Decimal:
    """Σ of the line's entries (reversals are negative), as the line keeps it."""
    return yuan(session.exec(select(line_spent_fen()).where(BudgetLine.id == line_id)).one())


def allocated_from_source(session: Session, source_id: int, *, except_line: int = 0) -> Decimal:
    return yuan(
        session.exec(
            select(sum_fen(BudgetLine.amount)).where(
                BudgetLine.source_id == source_id, BudgetLine.id != except_line
            )
        ).one()
    )


def line_spent_fen() -> Any:
    """A line's Σ of entries in integer fen: ``budget_lines.spent``, which the database's
    triggers on ``expenditures`` keep in the writing transaction (migration 0021), so reading
    it costs the same at any number of entries."""
    return _fen(BudgetLine.spent).label("spent_fen")


# --- funding sources ---------------------------------------------------------------------------


def source_statement(_session: Session, principal: Principal, filters: SourceFilters) -> Any:
    """Funds with what is allocated to budget lines and spent. The academic office, auditors
    and admins see all, with the fund's whole totals; a college manager those funding their
    pilots, with the totals of their own college's lines only (the lines they read) and no
    ``unallocated``, which would tell what the other colleges' lines hold."""
    scope = reader_scope(principal, N_("funding sources"))
    allocated_lines = select(sum_fen(BudgetLine.amount)).where(
        col(BudgetLine.source_id) == col(FundingSource.id)
    )
    spent_lines = select(sum_fen(BudgetLine.spent)).where(
        col(BudgetLine.source_id) == col(FundingSource.id)
    )
    if scope is not None:
        own_lines = col(BudgetLine.application_id).in_(_pilots_of_college(scope))
        allocated_lines = allocated_lines.where(own_lines)
        spent_lines = spent_lines.where(own_lines)
    whole = sa.literal(scope is None)
    statement = select(
        FundingSource, allocated_lines.scalar_subquery(), spent_lines.scalar_subquery(), whole
    )
    if scope is not None:
        statement = statement.where(
            col(FundingSource.id).in_(
                select(BudgetLine.source_id).where(
                    col(BudgetLine.application_id).in_(_pilots_of_college(scope))
                )
            )
        )
    statement = where_equal(
        statement,
        filters,
        year=FundingSource.fiscal_year,
        kind=FundingSource.kind,
        earmarked=FundingSource.earmarked,
    )
    return statement


def _source_public(row: Any) -> SourcePublic:
    source, allocated, spent, whole = row
    return SourcePublic.model_validate(
        {
            **source.model_dump(),
            "allocated": yuan(allocated),
            "unallocated": source.amount - yuan(allocated) if whole else None,
            "spent": yuan(spent),
        }
    )


SOURCES = Listing(
    noun=N_("funding source"),
    statement=source_statement,
    order=[col(FundingSource.fiscal_year).desc(), col(FundingSource.name), col(FundingSource.id)],
    to_items=each(_source_public),
    filters=SourceFilters,
    key=FundingSource.id,
    columns=[
        ExportColumn("id", N_("Funding source ID")),
        ExportColumn("name", N_("Funding name")),
        ExportColumn("kind", N_("Category")),
        ExportColumn("fiscal_year", N_("Year")),
        ExportColumn("document_no", N_("Document number")),
        ExportColumn("earmarked", N_("Earmarked")),
        ExportColumn("amount", N_("Amount")),
        ExportColumn("allocated", N_("Allocated")),
        ExportColumn("unallocated", N_("Unallocated")),
        ExportColumn("spent", N_("Spent")),
    ],
    filename="funding-sources",
    sheet=N_("Funding sources"),
)


def _check_source_unique(
    session: Session, year: int, name: str, except_id: int | None = None
) -> None:
    refuse_taken(
        session,
        select(FundingSource.id).where(
            FundingSource.fiscal_year == year,
            FundingSource.name == name,
            FundingSource.id != (except_id or 0),
        ),
        lambda existing: _(
            "A funding source named {name} already exists for {year} (id {existing})",
            name=repr(name),
            year=year,
            existing=existing,
        ),
    )


def _earmarking(kind: FundingKind, earmarked: bool | None) -> bool | None:
    """True for the two special kinds (422 for an explicit false), else as sent."""
    if kind not in EARMARKED_KINDS:
        return earmarked
    if earmarked is False:
        raise UnprocessableEntity(
            _(
                "A {kind} fund is special money and always earmarked (专款专用); leave "
                "earmarked out or send true",
                kind=kind.value,
            ),
            errors=[{"field": "body.earmarked", "message": _("must be true for this kind")}],
        )
    return True


def create_source(session: Session, principal: Principal, data: SourceCreate) -> FundingSource:
    """A fund; the two special kinds are always earmarked (专款专用)."""
    require_office(principal, N_("create funding sources"))
    earmarked = _earmarking(data.kind, data.earmarked)
    _check_source_unique(session, data.fiscal_year, data.name)
    source = FundingSource(**data.model_dump(exclude={"earmarked"}), earmarked=bool(earmarked))
    save_new(session, principal, source, SOURCE_ENTITY)
    return source


def _locked_source(session: Session, source_id: int, field: str | None = None) -> FundingSource:
    return lock_row(session, FundingSource, source_id, N_("funding source"), field=field)


def update_source(
    session: Session,
    principal: Principal,
    source_id: int,
    data: SourceUpdate,
    if_match: int | None,
) -> FundingSource:
    """Change a fund; its amount never drops below what its budget lines allocate, a special
    kind stays earmarked, and an earmarked fund has no `other` lines (专款专用). The source
    row is locked, as by every writer of its lines."""
    require_office(principal, N_("change funding sources"))
    source = _locked_source(session, source_id)
    check_version(source.version, if_match, N_("funding source"))
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes or "fiscal_year" in changes:
        _check_source_unique(
            session,
            changes.get("fiscal_year", source.fiscal_year),
            changes.get("name", source.name),
            source_id,
        )
    earmarked = _earmarking(changes.get("kind", source.kind), changes.get("earmarked"))
    if earmarked is not None and ("kind" in changes or "earmarked" in changes):
        changes["earmarked"] = earmarked
    if changes.get("earmarked") and not source.earmarked:
        _refuse_other_lines(session, source)
    if "amount" in changes:
        allocated = allocated_from_source(session, source_id)
        if changes["amount"] < allocated:
            raise Conflict(
                _(
                    "Funding source {source_id} has {allocated} allocated to budget lines; "
                    "its amount cannot go below that (asked for {asked})",
                    source_id=source_id,
                    allocated=allocated,
                    asked=changes["amount"],
                ),
                code="amount_below_allocated",
                allocated=f"{allocated}",
            )
    apply_changes(session, principal, source, changes, SOURCE_ENTITY)
    return source


def _refuse_other_lines(session: Session, source: FundingSource) -> None:
    """An earmarked fund has no `other` lines: refuse to earmark one that has."""
    others = session.exec(
        select(BudgetLine.id)
        .where(BudgetLine.source_id == source.id, BudgetLine.category == Category.other)
        .order_by(col(BudgetLine.id))
    ).all()
    if others:
        raise Conflict(
            _(
                "Funding source {id} ({name}) has {count} budget line(s) for other (ids "
                "{ids}); earmarked money (专款专用) may only be budgeted to {allowed}. Delete "
                "or move those lines first",
                id=source.id,
                name=source.name,
                count=len(others),
                ids=", ".join(str(i) for i in others),
                allowed=", ".join(label(c) for c in EARMARKED_CATEGORIES),
            ),
            code="earmarked_category",
            budget_line_ids=list(others),
            allowed_categories=[c.value for c in EARMARKED_CATEGORIES],
        )


def delete_source(session: Session, principal: Principal, source_id: int) -> None:
    """Only a fund with no budget lines is deleted."""
    require_office(principal, N_("delete funding sources"))
    source = _locked_source(session, source_id)
    lines = session.exec(select(func.count()).where(BudgetLine.source_id == source_id)).one()
    if lines:
        raise Conflict(
            _(
                "Funding source {source_id} has {lines} budget line(s); delete them first "
                "(a line with expenditures is never deleted)",
                source_id=source_id,
                lines=lines,
            ),
            code="has_budget_lines",
            referenced_by=[{"entity": "budget-lines", "count": int(lines)}],
        )
    delete_row(session, principal, source, SOURCE_ENTITY)


# --- budget lines ------------------------------------------------------------------------------


def line_statement(_session: Session, principal: Principal, filters: LineFilters) -> Any:
    """Budget lines with their fund, pilot and spent. A college manager sees their own
    pilots' lines (pilots with a major of their college)."""
    scope = reader_scope(principal, N_("budget lines"))
    statement = (
        select(  # type: ignore[call-overload]
            BudgetLine,
            FundingSource.name,
            FundingSource.fiscal_year,
            FundingSource.earmarked,
            PilotApplication.year,
            PilotApplication.level,
            PilotApplication.tier,
            Certificate.name,
            line_spent_fen(),
        )
        .join(FundingSource, col(FundingSource.id) == BudgetLine.source_id)
        .join(PilotApplication, col(PilotApplication.id) == BudgetLine.application_id)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
    )
    if scope is not None:
        statement = statement.where(col(BudgetLine.application_id).in_(_pilots_of_college(scope)))
    statement = where_equal(
        statement,
        filters,
        source_id=BudgetLine.source_id,
        application_id=BudgetLine.application_id,
        category=BudgetLine.category,
        year=FundingSource.fiscal_year,
    )
    if filters.college_id is not None:
        statement = statement.where(
            col(BudgetLine.application_id).in_(_pilots_of_college(filters.college_id))
        )
    return statement


def pilot_label(certificate: str, level: Any, tier: Any, year: int) -> str:
    return f"{certificate} {getattr(level, 'value', level)} ({getattr(tier, 'value', tier)} {year})"


def _line_public(row: Any) -> LinePublic:
    line, source_name, fiscal_year, earmarked, app_year, level, tier, certificate, spent = row
    return LinePublic.model_validate(
        {
            **line.model_dump(),
            "source_name": source_name,
            "fiscal_year": fiscal_year,
            "earmarked": earmarked,
            "application_label": pilot_label(certificate, level, tier, app_year),
            "spent": yuan(spent),
            "remaining": line.amount - yuan(spent),
        }
    )


LINES = Listing(
    noun=N_("budget line"),
    statement=line_statement,
    order=[col(BudgetLine.source_id), col(BudgetLine.application_id), col(BudgetLine.id)],
    to_items=each(_line_public),
    filters=LineFilters,
    key=BudgetLine.id,
    columns=[
        ExportColumn("id", N_("Budget line ID")),
        ExportColumn("source_name", N_("Funding source")),
        ExportColumn("fiscal_year", N_("Year")),
        ExportColumn("application_label", N_("Pilot project")),
        ExportColumn("category", N_("Spending category")),
        ExportColumn("amount", N_("Budget amount")),
        ExportColumn("spent", N_("Spent")),
        ExportColumn("remaining", N_("Remaining")),
        ExportColumn("notes", N_("Notes")),
    ],
    filename="budget-lines",
    sheet=N_("Budget lines"),
)


def _earmark_problem(source: FundingSource, category: Category) -> None:
    if source.earmarked and category not in EARMARKED_CATEGORIES:
        allowed = "、".join(f"{c.value} ({CATEGORY_NAMES[c]})" for c in EARMARKED_CATEGORIES)
        raise UnprocessableEntity(
            _(
                "Funding source {id} ({name}) is earmarked (专款专用): its money may only be "
                "budgeted to {allowed}; not to {category}",
                id=source.id,
                name=source.name,
                allowed=allowed,
                category=label(category),
            ),
            code="earmarked_category",
            errors=[
                {
                    "field": "body.category",
                    "message": _(
                        "allowed on an earmarked source: {allowed}",
                        allowed=", ".join(label(c) for c in EARMARKED_CATEGORIES),
                    ),
                }
            ],
            allowed_categories=[c.value for c in EARMARKED_CATEGORIES],
        )


def _source_exceeded(source: FundingSource, allocated: Decimal, amount: Decimal) -> Conflict:
    available = source.amount - allocated
    return Conflict(
        _(
            "Funding source {id} ({name}) has {amount}, of which {allocated} is "
            "already allocated; {available} is left, {asked} asked for",
            id=source.id,
            name=source.name,
            amount=source.amount,
            allocated=allocated,
            available=available,
            asked=amount,
        ),
        code="source_exceeded",
        source_amount=f"{source.amount}",
        allocated=f"{allocated}",
        available=f"{available}",
    )


def create_line(session: Session, principal: Principal, data: LineCreate) -> BudgetLine:
    """Allocate part of a source to an approved pilot, with the source row locked while Σ of
    its lines is checked."""
    require_office(principal, N_("create budget lines"))
    source = _locked_source(session, data.source_id, field="body.source_id")
    application = approved_application(session, data.application_id, N_("Money is budgeted"))
    _earmark_problem(source, data.category)
    refuse_taken(
        session,
        select(BudgetLine.id).where(
            BudgetLine.source_id == source.id,
            BudgetLine.application_id == application.id,
            BudgetLine.category == data.category,
        ),
        lambda existing: _(
            "Funding source {id} already has a {category} line for pilot {application_id} "
            "(id {existing}); change its amount instead",
            id=source.id,
            category=label(data.category),
            application_id=application.id,
            existing=existing,
        ),
    )
    allocated = allocated_from_source(session, source.id or 0)
    if allocated + data.amount > source.amount:
        raise _source_exceeded(source, allocated, data.amount)
    line = BudgetLine(**data.model_dump())
    save_new(session, principal, line, LINE_ENTITY)
    return line


def locked_line(session: Session, line_id: int, field: str | None = None) -> BudgetLine:
    """The line's row, locked: every writer of its money (a payment, an upload, a subsidy run,
    a reversal, a change of its amount) takes it before summing what was spent."""
    return lock_row(session, BudgetLine, line_id, N_("budget line"), field=field)


def update_line(
    session: Session, principal: Principal, line_id: int, data: LineUpdate, if_match: int | None
) -> BudgetLine:
    """Change a line's amount or notes: never below what it has spent, and its source's lines
    never above the source (the source, then the line, are locked: the order every writer
    takes them in)."""
    require_office(principal, N_("change budget lines"))
    current = session.get(BudgetLine, line_id)
    if current is None:
        raise NotFound(_("No budget line with id {line_id}", line_id=line_id))
    source = _locked_source(session, current.source_id)
    line = locked_line(session, line_id)
    check_version(line.version, if_match, N_("budget line"))
    changes = data.model_dump(exclude_unset=True)
    if "amount" in changes:
        amount: Decimal = changes["amount"]
        spent = spent_on_line(session, line_id)
        if amount < spent:
            raise Conflict(
                _(
                    "Budget line {line_id} has already spent {spent}; its amount cannot go "
                    "below that (asked for {amount})",
                    line_id=line_id,
                    spent=spent,
                    amount=amount,
                ),
                code="amount_below_spent",
                spent=f"{spent}",
            )
        others = allocated_from_source(session, source.id or 0, except_line=line_id)
        if others + amount > source.amount:
            raise _source_exceeded(source, others, amount)
    apply_changes(session, principal, line, changes, LINE_ENTITY)
    return line


def delete_line(session: Session, principal: Principal, line_id: int) -> None:
    """Only a line nothing was ever spent from (or paid by a subsidy run) is deleted."""
    require_office(principal, N_("delete budget lines"))
    line = locked_line(session, line_id)
    entries = session.exec(select(func.count()).where(Expenditure.line_id == line_id)).one()
    runs = session.exec(select(func.count()).where(SubsidyRun.line_id == line_id)).one()
    if entries or runs:
        raise Conflict(
            _(
                "Budget line {line_id} has {entries} expenditure(s) and {runs} subsidy "
                "run(s); money records are kept, so the line stays (lower its amount to "
                "what was spent instead)",
                line_id=line_id,
                entries=entries,
                runs=runs,
            ),
            code="has_expenditures",
            referenced_by=[
                {"entity": "expenditures", "count": int(entries)},
                {"entity": "subsidy-runs", "count": int(runs)},
            ],
        )
    delete_row(session, principal, line, LINE_ENTITY)


# --- expenditures ------------------------------------------------------------------------------

_Reversal = aliased(Expenditure)


def not_reversed() -> Any:
    """An ``Expenditure`` row no reversal points at."""
    return ~(select(_Reversal.id).where(col(_Reversal.reverses_id) == col(Expenditure.id)).exists())


def standing_subsidies(session: Session, result_ids: list[int]) -> dict[int, str]:
    """Exam result id → the voucher of its pass subsidy that stands (paid and not reversed)."""
    if not result_ids:
        return {}
    return dict(
        session.execute(
            sa.select(Expenditure.exam_result_id, Expenditure.voucher_no).where(  # type: ignore[call-overload]
                col(Expenditure.exam_result_id).in_(sorted(result_ids)), not_reversed()
            )
        ).all()
    )


_REVERSED_BY = (
    select(_Reversal.id).where(col(_Reversal.reverses_id) == col(Expenditure.id)).scalar_subquery()
)
"""The id of the reversal pointing at an expenditure, if any."""


def expenditure_statement(
    _session: Session, principal: Principal, filters: ExpenditureFilters
) -> Any:
    """Expenditures with their line's fund, pilot and category and the reversal pointing at
    them. A college manager sees their own pilots' spending."""
    scope = reader_scope(principal, N_("expenditures"))
    statement = select(  # type: ignore[call-overload]
        Expenditure,
        BudgetLine.source_id,
        BudgetLine.application_id,
        BudgetLine.category,
        _REVERSED_BY,
    ).join(BudgetLine, col(BudgetLine.id) == Expenditure.line_id)
    if scope is not None:
        statement = statement.where(col(BudgetLine.application_id).in_(_pilots_of_college(scope)))
    return _filter_expenditures(statement, filters)


def _filter_expenditures(statement: Any, filters: ExpenditureFilters) -> Any:
    statement = where_equal(
        statement,
        filters,
        line_id=Expenditure.line_id,
        source_id=BudgetLine.source_id,
        application_id=BudgetLine.application_id,
        category=BudgetLine.category,
        kind=Expenditure.kind,
        subsidy_run_id=Expenditure.subsidy_run_id,
        base_id=Expenditure.base_id,
    )
    if filters.date_from is not None:
        statement = statement.where(col(Expenditure.spent_on) >= filters.date_from)
    if filters.date_to is not None:
        statement = statement.where(col(Expenditure.spent_on) <= filters.date_to)
    if filters.voucher_no is not None:
        statement = statement.where(Expenditure.voucher_no == filters.voucher_no)
    return statement


def _expenditure_public(row: Any) -> ExpenditurePublic:
    expenditure, source_id, application_id, category, reversed_by = row
    return ExpenditurePublic.model_validate(
        {
            **expenditure.model_dump(),
            "source_id": source_id,
            "application_id": application_id,
            "category": category,
            "reversed_by_id": reversed_by,
        }
    )


EXPENDITURES = Listing(
    noun=N_("expenditure"),
    statement=expenditure_statement,
    order=[col(Expenditure.spent_on).desc(), col(Expenditure.id).desc()],
    to_items=each(_expenditure_public),
    filters=ExpenditureFilters,
    key=Expenditure.id,
    columns=[
        ExportColumn("id", N_("Expenditure ID"), Expenditure.id),
        ExportColumn("line_id", N_("Budget line ID"), Expenditure.line_id),
        ExportColumn("category", N_("Spending category"), BudgetLine.category),
        ExportColumn("kind", N_("Type"), Expenditure.kind),
        ExportColumn("spent_on", N_("Date"), Expenditure.spent_on),
        ExportColumn("amount", N_("Amount"), Expenditure.amount),
        ExportColumn("payee", N_("Payee"), Expenditure.payee),
        ExportColumn("voucher_no", N_("Voucher number"), Expenditure.voucher_no),
        ExportColumn("description", N_("Description"), Expenditure.description),
        ExportColumn("reverses_id", N_("Reverses expenditure ID"), Expenditure.reverses_id),
        ExportColumn("reversed_by_id", N_("Reversed by"), _REVERSED_BY),
        ExportColumn("base_id", N_("Training base ID"), Expenditure.base_id),
    ],
    filename="expenditures",
    sheet=N_("Expenditures"),
    updated=[Expenditure.updated_at],
)


def _check_voucher(session: Session, voucher_no: str) -> None:
    refuse_taken(
        session,
        select(Expenditure.id).where(Expenditure.voucher_no == voucher_no),
        lambda existing: _(
            "Cannot record the expenditure: {problem}",
            problem=voucher_problem(voucher_no, existing),
        ),
    )


def line_exceeded(line: BudgetLine, spent: Decimal, amount: Decimal) -> Conflict:
    """The 409 of money that would overdraw ``line`` (``spent`` already, ``amount`` asked)."""
    remaining = line.amount - spent
    return Conflict(
        _(
            "Nothing was recorded: {problem}",
            problem=overdraw_problem(line.id, line.amount, spent, amount),
        ),
        code="line_exceeded",
        amount=f"{line.amount}",
        spent=f"{spent}",
        remaining=f"{remaining}",
        shortfall=f"{amount - remaining}",
    )


def _check_base(session: Session, line: BudgetLine, base_id: int) -> None:
    """Only an equipment (设备采购) payment names the training base it equips, and the base
    exists (422 otherwise)."""
    problem = base_problem(line.id, line.category, names_base=True)
    if problem:
        raise UnprocessableEntity(
            _("Cannot record the expenditure: {problem}", problem=problem),
            code="base_not_for_category",
            errors=[{"field": "body.base_id", "message": _("only on an equipment line")}],
        )
    if session.get(TrainingBase, base_id) is None:
        raise UnprocessableEntity(
            _("No training base with id {id}", id=base_id),
            errors=[
                {"field": "body.base_id", "message": _("No training base with id {id}", id=base_id)}
            ],
        )


def create_expenditure(
    session: Session, principal: Principal, data: ExpenditureCreate, today: date
) -> Expenditure:
    """Spend from a line; the line row is locked before Σ spent is checked, so concurrent
    expenditures never overdraw it."""
    require_office(principal, N_("record expenditures"))
    line = locked_line(session, data.line_id, field="body.line_id")
    if data.base_id is not None:
        _check_base(session, line, data.base_id)
    spent = spent_on_line(session, data.line_id)
    if overdraw_problem(line.id, line.amount, spent, data.amount):
        raise line_exceeded(line, spent, data.amount)
    _check_voucher(session, data.voucher_no)
    expenditure = Expenditure(
        **data.model_dump(exclude={"spent_on"}),
        spent_on=data.spent_on or today,
        kind=ExpenditureKind.payment,
    )
    save_new(session, principal, expenditure, EXPENDITURE_ENTITY)
    return expenditure


def reverse_expenditure(
    session: Session,
    principal: Principal,
    expenditure_id: int,
    data: ExpenditureReverseBody,
    today: date,
) -> Expenditure:
    """Write the reversal (红冲) of an entry: the negative amount on the same line, pointing at
    the original. Once per entry (also a unique constraint); a reversal is not reversed."""
    require_office(principal, N_("reverse expenditures"))
    current = session.get(Expenditure, expenditure_id)
    if current is None:
        raise NotFound(_("No expenditure with id {expenditure_id}", expenditure_id=expenditure_id))
    locked_line(session, current.line_id)
    original = lock_row(session, Expenditure, expenditure_id, N_("expenditure"))
    if original.kind == ExpenditureKind.reversal:
        raise InvalidState(
            _(
                "Expenditure {expenditure_id} is itself the reversal of {reverses_id}; "
                "record a new expenditure to restore the amount",
                expenditure_id=expenditure_id,
                reverses_id=original.reverses_id,
            ),
            current_state="reversal",
            allowed_actions=[],
        )
    existing = session.exec(
        select(Expenditure.id).where(Expenditure.reverses_id == expenditure_id)
    ).first()
    if existing is not None:
        raise InvalidState(
            _(
                "Expenditure {expenditure_id} was already reversed by expenditure {existing}",
                expenditure_id=expenditure_id,
                existing=existing,
            ),
            current_state="reversed",
            allowed_actions=[],
            reversed_by_id=existing,
        )
    voucher = data.voucher_no or f"{original.voucher_no[:62]}-R"
    _check_voucher(session, voucher)
    reversal = Expenditure(
        line_id=original.line_id,
        kind=ExpenditureKind.reversal,
        amount=-original.amount,
        spent_on=data.spent_on or today,
        payee=original.payee,
        voucher_no=voucher,
        description=data.reason,
        reverses_id=original.id,
        base_id=original.base_id,
    )
    session.add(reversal)
    session.flush()
    record_row(
        session,
        principal,
        reversal,
        EXPENDITURE_ENTITY,
        action="reverse",
        before=snapshot(original),
    )
    session.commit()
    return reversal


# --- subsidy runs ------------------------------------------------------------------------------


def _passed_candidates(session: Session, session_id: int) -> list[Any]:
    return list(
        session.exec(
            select(ExamResult.id, Student.id, Student.student_no, Student.name)
            .join(ExamRegistration, col(ExamRegistration.id) == ExamResult.registration_id)
            .join(Student, col(Student.id) == ExamRegistration.student_id)
            .where(
                ExamRegistration.session_id == session_id,
                ExamRegistration.status == RegistrationStatus.sat,
                col(ExamResult.passed).is_(True),
            )
            .order_by(col(Student.student_no))
        ).all()
    )


def _subsidy_voucher(run_id: int | str, result_id: int) -> str:
    return f"SUB{run_id}-{result_id}"


def _subsidy_line(session: Session, data: SubsidyRunCreate, exam: ExamSession) -> BudgetLine:
    """The run's line, locked: an ``exam_subsidy`` line of the session's pilot (422 else)."""
    line = locked_line(session, data.line_id, field="body.line_id")
    if line.category != Category.exam_subsidy:
        raise UnprocessableEntity(
            _(
                "Budget line {id} is for {category}; pass subsidies are paid from an "
                "exam_subsidy (奖励补贴) line",
                id=line.id,
                category=label(line.category),
            ),
            errors=[{"field": "body.line_id", "message": _("not an exam_subsidy line")}],
        )
    if line.application_id != exam.application_id:
        raise UnprocessableEntity(
            _(
                "Budget line {id} belongs to pilot {application_id}, exam session "
                "{session_id} to pilot {session_application_id}; use an exam_subsidy line "
                "of the session's pilot",
                id=line.id,
                application_id=line.application_id,
                session_id=exam.id,
                session_application_id=exam.application_id,
            ),
            errors=[{"field": "body.line_id", "message": _("a line of another pilot")}],
        )
    return line


def _paid_before(session: Session, passed: list[Any]) -> set[int]:
    """The passed results that already have a payment that stands."""
    return set(standing_subsidies(session, [p[0] for p in passed]))


def _refuse_short_line(line: BudgetLine, remaining: Decimal, amount: Decimal, count: int) -> None:
    total = amount * count
    problem = overdraw_problem(line.id, line.amount, line.amount - remaining, total)
    if problem:
        raise Conflict(
            _(
                "Cannot pay {count} passed candidate(s) {amount} each: {problem}, {short} "
                "short. Nobody was paid",
                count=count,
                amount=amount,
                problem=problem,
                short=total - remaining,
            ),
            code="insufficient_funds",
            needed=f"{total}",
            available=f"{remaining}",
            shortfall=f"{total - remaining}",
            candidates=count,
        )


def _refuse_nothing_to_pay(exam_id: int, passed: int, already_paid: int) -> None:
    """A run that would pay nobody is not recorded: 409, so a clerk who runs it twice (or two
    clerks at once) sees that the other run paid, not an empty run in the list."""
    if passed == 0:
        detail = _(
            "Exam session {exam_id} has no passed candidate; there is nothing to pay",
            exam_id=exam_id,
        )
    else:
        detail = _(
            "All {passed} passed candidate(s) of exam session {exam_id} already have a "
            "subsidy payment that stands (see the session's subsidy runs); there is nothing "
            "to pay",
            passed=passed,
            exam_id=exam_id,
        )
    raise Conflict(
        _("{detail}. No run was recorded", detail=detail),
        code="nothing_to_pay",
        passed=passed,
        already_paid=already_paid,
    )


def _would_pay(to_pay: list[Any], amount: Decimal) -> list[SubsidyPayment]:
    """A dry run's payments: who would be paid, with no expenditure behind them."""
    return [
        SubsidyPayment(
            expenditure_id=None,
            exam_result_id=result_id,
            student_id=student_id,
            student_no=student_no,
            student_name=name,
            amount=amount,
            voucher_no=_subsidy_voucher("<run>", result_id),
        )
        for result_id, student_id, student_no, name in to_pay
    ]


def _pay(
    session: Session, principal: Principal, run: SubsidyRun, exam: ExamSession, to_pay: list[Any]
) -> None:
    """Write the run, one subsidy expenditure per result in ``to_pay``, and their audit."""
    session.add(run)
    session.flush()
    assert run.id is not None
    entries = [
        Expenditure(
            line_id=run.line_id,
            kind=ExpenditureKind.subsidy,
            amount=run.amount_per_student,
            spent_on=run.spent_on,
            payee=f"{name} ({student_no})"[:200],
            voucher_no=_subsidy_voucher(run.id, result_id),
            description=f"考核{exam.id}通过奖励补贴",
            subsidy_run_id=run.id,
            exam_result_id=result_id,
        )
        for result_id, _student_id, student_no, name in to_pay
    ]
    session.add_all(entries)
    session.flush()
    record(
        session,
        principal,
        action="create",
        entity=SUBSIDY_RUN_ENTITY,
        entity_id=run.id,
        after={
            **(snapshot(run) or {}),
            "exam_result_ids": [p[0] for p in to_pay],
            "expenditure_ids": [e.id for e in entries],
        },
    )
    for entry in entries:
        record_row(session, principal, entry, EXPENDITURE_ENTITY)


def run_subsidies(
    session: Session,
    principal: Principal,
    data: SubsidyRunCreate,
    today: date,
    *,
    dry_run: bool,
) -> SubsidyRunPublic:
    """Pay every passed candidate of the session without a payment that stands (one paid
    and not reversed), from the pilot's ``exam_subsidy`` line, all or nothing. The exam
    session's row is locked first, then the line: runs over one session (from any line)
    take turns, so a result never has two payments that stand; a reversed payment (a
    mistake corrected by 红冲) is paid again by the next run. A run that would pay nobody
    (everyone already paid, by an earlier or a concurrent run) is refused with 409
    ``nothing_to_pay`` and not recorded; its dry run shows the empty list."""
    require_office(principal, N_("run exam subsidies"))
    exam = lock_row(
        session, ExamSession, data.session_id, N_("exam session"), field="body.session_id"
    )
    line = _subsidy_line(session, data, exam)
    passed = _passed_candidates(session, exam.id or 0)
    paid_before = _paid_before(session, passed)
    to_pay = [p for p in passed if p[0] not in paid_before]
    amount = data.amount_per_student
    total = amount * len(to_pay)
    remaining = line.amount - spent_on_line(session, line.id or 0)
    _refuse_short_line(line, remaining, amount, len(to_pay))
    if not to_pay and not dry_run:
        session.rollback()
        _refuse_nothing_to_pay(exam.id or 0, len(passed), len(paid_before))
    run = SubsidyRun(
        session_id=exam.id or 0,
        line_id=line.id or 0,
        amount_per_student=amount,
        passed_count=len(passed),
        already_paid_count=len(paid_before),
        paid_count=len(to_pay),
        total=total,
        spent_on=data.spent_on or today,
        actor=principal.label[:100],
    )
    if dry_run:
        session.rollback()
        payments = _would_pay(to_pay, amount)
        return _run_public(run, exam.application_id, payments, remaining - total, dry_run=True)
    _pay(session, principal, run, exam, to_pay)
    session.commit()
    assert run.id is not None
    return get_subsidy_run(session, principal, run.id)


def _run_public(
    run: SubsidyRun,
    application_id: int,
    payments: list[SubsidyPayment],
    line_remaining: Decimal,
    *,
    dry_run: bool,
) -> SubsidyRunPublic:
    return SubsidyRunPublic.model_validate(
        {
            **run.model_dump(),
            "dry_run": dry_run,
            "application_id": application_id,
            "passed": run.passed_count,
            "already_paid": run.already_paid_count,
            "payments": payments,
            "line_remaining": line_remaining,
            "created_at": None if dry_run else run.created_at,
        }
    )


def subsidy_run_statement(
    _session: Session, principal: Principal, filters: SubsidyRunFilters
) -> Any:
    """Subsidy runs with their line's pilot. A college manager sees their own pilots' runs."""
    scope = reader_scope(principal, N_("subsidy runs"))
    statement = select(SubsidyRun, BudgetLine.application_id).join(
        BudgetLine, col(BudgetLine.id) == SubsidyRun.line_id
    )
    if scope is not None:
        statement = statement.where(col(BudgetLine.application_id).in_(_pilots_of_college(scope)))
    statement = where_equal(
        statement,
        filters,
        session_id=SubsidyRun.session_id,
        line_id=SubsidyRun.line_id,
        application_id=BudgetLine.application_id,
    )
    return statement


def _run_summary(row: Any) -> SubsidyRunSummary:
    run, application_id = row
    return SubsidyRunSummary.model_validate({**run.model_dump(), "application_id": application_id})


SUBSIDY_RUNS = Listing(
    noun=N_("subsidy run"),
    statement=subsidy_run_statement,
    order=[col(SubsidyRun.id).desc()],
    to_items=each(_run_summary),
    filters=SubsidyRunFilters,
    key=SubsidyRun.id,
    columns=[
        ExportColumn("id", N_("Subsidy run ID")),
        ExportColumn("session_id", N_("Exam session ID")),
        ExportColumn("line_id", N_("Budget line ID")),
        ExportColumn("application_id", N_("Pilot ID")),
        ExportColumn("amount_per_student", N_("Amount per student")),
        ExportColumn("passed_count", N_("Students passed")),
        ExportColumn("already_paid_count", N_("Students paid before")),
        ExportColumn("paid_count", N_("Students paid in this run")),
        ExportColumn("total", N_("Total paid")),
        ExportColumn("spent_on", N_("Paid on")),
        ExportColumn("actor", N_("Handled by")),
        ExportColumn("created_at", N_("Created at")),
    ],
    filename="subsidy-runs",
    sheet=N_("Subsidy runs"),
)


def get_subsidy_run(session: Session, principal: Principal, run_id: int) -> SubsidyRunPublic:
    """A run with everyone it paid (reversed payments are still listed)."""
    scope = reader_scope(principal, N_("subsidy runs"))
    statement = (
        select(SubsidyRun, BudgetLine)
        .join(BudgetLine, col(BudgetLine.id) == SubsidyRun.line_id)
        .where(SubsidyRun.id == run_id)
    )
    if scope is not None:
        statement = statement.where(col(BudgetLine.application_id).in_(_pilots_of_college(scope)))
    row = session.exec(statement).first()
    if row is None:
        raise NotFound(_("No subsidy run with id {run_id}", run_id=run_id))
    run, line = row
    payments = [
        SubsidyPayment(
            expenditure_id=entry.id,
            exam_result_id=entry.exam_result_id or 0,
            student_id=student_id or 0,
            student_no=student_no,
            student_name=name,
            amount=entry.amount,
            voucher_no=entry.voucher_no,
        )
        for entry, student_id, student_no, name in session.exec(
            select(Expenditure, Student.id, Student.student_no, Student.name)
            .join(ExamResult, col(ExamResult.id) == Expenditure.exam_result_id)
            .join(ExamRegistration, col(ExamRegistration.id) == ExamResult.registration_id)
            .join(Student, col(Student.id) == ExamRegistration.student_id)
            .where(Expenditure.subsidy_run_id == run_id)
            .order_by(col(Student.student_no))
        ).all()
    ]
    remaining = line.amount - spent_on_line(session, line.id or 0)
    return _run_public(run, line.application_id, payments, remaining, dry_run=False)


# --- allocated and spent: one computation for the report and the evaluation ----------------------


@dataclass(frozen=True)
class LineFigures:
    """One budget line's money, from integer-fen sums."""

    line_id: int
    source_id: int
    source_name: str
    application_id: int
    category: Category
    allocated: Decimal
    spent: Decimal
    subsidies_paid: int
    subsidies_amount: Decimal


def line_money_statement(year: int | None = None, college_id: int | None = None) -> Any:
    """Every budget line (of sources of fiscal ``year``; of pilots with a major of
    ``college_id``): id, source_id, source_name, application_id, category and, in integer fen,
    allocated, spent (reversals netted: the line's kept figure), then the subsidies paid and
    not reversed (count, fen): the lines left-joined to their entries (and each entry to the
    reversal pointing at it, at most one), counted per line."""
    standing_subsidy = sa.and_(
        col(Expenditure.kind) == ExpenditureKind.subsidy, col(_Reversal.id).is_(None)
    )
    statement = (
        select(  # type: ignore[call-overload]
            col(BudgetLine.id).label("id"),
            col(BudgetLine.source_id).label("source_id"),
            col(FundingSource.name).label("source_name"),
            col(BudgetLine.application_id).label("application_id"),
            col(BudgetLine.category).label("category"),
            _fen(BudgetLine.amount).label("allocated"),
            line_spent_fen().label("spent"),
            func.count(sa.case((standing_subsidy, col(Expenditure.id)))).label("subsidies"),
            sum_fen(sa.case((standing_subsidy, col(Expenditure.amount)))).label("subsidy_fen"),
        )
        .join(FundingSource, col(FundingSource.id) == BudgetLine.source_id)
        .outerjoin(Expenditure, col(Expenditure.line_id) == BudgetLine.id)
        .outerjoin(_Reversal, col(_Reversal.reverses_id) == col(Expenditure.id))
        .group_by(col(BudgetLine.id), col(FundingSource.id))
    )
    if year is not None:
        statement = statement.where(FundingSource.fiscal_year == year)
    if college_id is not None:
        statement = statement.where(
            col(BudgetLine.application_id).in_(_pilots_of_college(college_id))
        )
    return statement


def line_figures(
    session: Session, year: int | None = None, college_id: int | None = None
) -> list[LineFigures]:
    """Every budget line of :func:`line_money_statement` with its money, in one statement."""
    statement = line_money_statement(year, college_id)
    return [
        LineFigures(
            line_id=line_id,
            source_id=source_id,
            source_name=source_name,
            application_id=application_id,
            category=Category(category),
            allocated=yuan(allocated),
            spent=yuan(spent),
            subsidies_paid=int(count or 0),
            subsidies_amount=yuan(subsidy),
        )
        for (
            line_id,
            source_id,
            source_name,
            application_id,
            category,
            allocated,
            spent,
            count,
            subsidy,
        ) in session.connection().execute(statement.order_by(col(BudgetLine.id))).all()
    ]


def execution_by_application(
    session: Session, year: int | None
) -> dict[int, tuple[Decimal, Decimal]]:
    """For the annual evaluation: per pilot application id, (allocated, spent) over the budget
    lines of the sources of fiscal ``year`` (every year when None). Pilots without a line are
    absent; execution rate = spent ÷ allocated."""
    figures: dict[int, tuple[Decimal, Decimal]] = {}
    for line in line_figures(session, year):
        allocated, spent = figures.get(line.application_id, (ZERO, ZERO))
        figures[line.application_id] = (allocated + line.allocated, spent + line.spent)
    return figures


def funding_totals(session: Session, year: int | None) -> tuple[Decimal, Decimal]:
    """For the annual evaluation's overview: (allocated, spent) over every budget line of the
    sources of fiscal ``year``."""
    allocated, spent = ZERO, ZERO
    for line in line_figures(session, year):
        allocated += line.allocated
        spent += line.spent
    return allocated, spent
