"""The ``applications`` import kind: the 一览表 (application table) as the academic office
typed it, with a ``year`` and an optional ``status`` given as query parameters."""

import re
from collections import defaultdict
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from app.applications.models import (
    MAX_HEADCOUNT,
    MAX_YEAR,
    MIN_YEAR,
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
    Tier,
    cohort_problem,
)
from app.applications.rules import draft_problem
from app.core.i18n import N_, _
from app.core.roles import Principal
from app.imports.cells import choice, integer, multi, text
from app.imports.engine import (
    Column,
    ImportKind,
    Plan,
    RowRefused,
    cell_or_option,
    grouped,
    insert_new,
    optional,
    replace_links,
    use_created,
)
from app.imports.registry import register
from app.reference.importers import (
    CertificateEntry,
    certificate_column,
    certificates_by_name,
    level_column,
    major_lookups,
    majors_column,
    resolve_majors,
)
from app.reference.models import (
    MAX_COHORT,
    MIN_COHORT,
    Certificate,
    EvaluationOrg,
    Level,
    levels_to_text,
    normalise_certificate_name,
)
from app.reference.rules import level_problem

PLACEHOLDER_ORG = "未登记的培训评价组织"
"""Certificates first seen in an upload belong here until the office names their organisation."""
_LEADING_1X = re.compile(r"^\s*1\s*\+\s*x\s*", re.IGNORECASE)


class ImportStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"


class ApplicationImportOptions(BaseModel):
    year: int | None = Field(
        default=None, ge=MIN_YEAR, le=MAX_YEAR, description="The year, unless a 年度 column has it"
    )
    status: ImportStatus = Field(
        default=ImportStatus.draft,
        description="The state new applications start in: a decided year loads as approved",
    )


def display_certificate_name(raw: str) -> str:
    """The name a certificate first seen in an upload gets: no leading ``1+X``, no trailing
    ``证书``, spaces kept inside."""
    name = _LEADING_1X.sub("", raw.strip()).strip()
    return name.removesuffix("证书").strip() or raw.strip()


def _row_key(cells: dict[str, Any], options: Any) -> Any:
    if not (cells.get("certificate") and cells.get("level") and cells.get("tier")):
        return None
    return (
        cell_or_option(cells, options, "year"),
        normalise_certificate_name(cells["certificate"]),
        cells["level"],
        cells["tier"],
    )


def _prepare(session: Session, _principal: Principal) -> Plan:
    table: sa.Table = PilotApplication.__table__  # type: ignore[attr-defined]
    majors_of = grouped(session, ApplicationMajor.application_id, ApplicationMajor.major_id)
    cohorts_of = grouped(session, ApplicationCohort.application_id, ApplicationCohort.cohort)
    existing: dict[Any, dict[str, Any]] = {}
    # The rows compared are locked until the upload commits: a submit or approve sent
    # meanwhile waits and then acts on what the upload wrote (instead of the upload being
    # refused as changed underneath it).
    for row in session.execute(
        sa.select(table, col(Certificate.normalized_name))
        .join(Certificate, col(Certificate.id) == table.c.certificate_id)
        .order_by(table.c.id)
        .with_for_update(of=table)
    ).mappings():
        values = dict(row)
        values["major_ids"] = sorted(majors_of.get(values["id"], []))
        values["cohorts"] = sorted(cohorts_of.get(values["id"], []))
        key = (
            values["year"],
            values.pop("normalized_name"),
            Level(values["level"]).value,
            Tier(values["tier"]).value,
        )
        existing[key] = values
    return Plan(
        existing=existing,
        report={"created_certificates": []},
        lookups={
            "certificates": certificates_by_name(session),
            **major_lookups(session),
            "pending_created": {"certificates": set()},
            "pending_names": {},
            "pending_levels": defaultdict(set),
        },
    )


def _certificate_id(plan: Plan, raw: str, level: Level) -> int | None:
    normalized = normalise_certificate_name(raw)
    known: dict[str, CertificateEntry] = plan.lookups["certificates"]
    if normalized in known:
        cert_id, levels, name = known[normalized]
        problem = level_problem(name, levels, level)
        if problem:
            raise RowRefused(
                _("{problem}; add the level to the certificate first", problem=problem),
                "申报级别",
                level.value,
            )
        return cert_id
    plan.lookups["pending_created"]["certificates"].add(normalized)
    plan.lookups["pending_names"].setdefault(normalized, display_certificate_name(raw))
    plan.lookups["pending_levels"][normalized].add(level)
    created = sorted(plan.lookups["pending_names"].values())
    plan.report["created_certificates"] = created
    return None


COMPARED = ("headcount", "major_ids", "cohorts", "contact", "notes")


def _values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    options: ApplicationImportOptions = plan.options or ApplicationImportOptions()
    year = cell_or_option(cells, options, "year")
    if year is None:
        raise RowRefused(_("no year: pass ?year=2022 with the upload or add a 年度 column"), "年度")
    level = Level(cells["level"])
    cohorts = sorted(set(cells["cohorts"] or []))
    if not cohorts:
        raise RowRefused(_("at least one cohort, like 2020级"), "申报年级", "")
    for cohort in cohorts:
        problem = cohort_problem(year, cohort)
        if problem:
            raise RowRefused(problem, "申报年级", str(cohort))
    values: dict[str, Any] = {
        "year": year,
        "tier": Tier(cells["tier"]),
        "level": level,
        "headcount": cells["headcount"],
        "major_ids": sorted(resolve_majors(plan, cells["majors"] or [], "申报专业")),
        "cohorts": cohorts,
        "status": ApplicationStatus(options.status.value),
    }
    values.update(optional(cells, "contact", "notes"))
    certificate_id = _certificate_id(plan, cells["certificate"], level)
    values["certificate_id"] = certificate_id
    if certificate_id is None:
        values["_certificate_key"] = normalise_certificate_name(cells["certificate"])
    existing = plan.existing.get(_row_key(cells, options))
    if existing is not None:
        status = ApplicationStatus(existing["status"])
        problem = draft_problem(existing["id"], status, N_("changed"))
        if problem:
            changed = [f for f in COMPARED if f in values and values[f] != existing.get(f)]
            if changed:
                raise RowRefused(
                    _(
                        "{problem}; this row would change {changes}",
                        problem=problem,
                        changes=", ".join(
                            f"{f} ({existing.get(f)} → {values[f]})" for f in changed
                        ),
                    ),
                    "申报试点证书名称",
                    cells["certificate"],
                )
            values["status"] = existing["status"]
    return values


def _create_certificates(
    session: Session, _principal: Principal, plan: Plan, rows: list[dict[str, Any]]
) -> None:
    pending: set[str] = plan.lookups["pending_created"]["certificates"]
    if not pending:
        return
    org_id = session.execute(
        select(EvaluationOrg.id).where(EvaluationOrg.name == PLACEHOLDER_ORG)
    ).scalar()
    if org_id is None:
        org = EvaluationOrg(name=PLACEHOLDER_ORG, contact=None)
        session.add(org)
        session.flush()
        org_id = org.id
        plan.also_created["evaluation_orgs"] = 1
    new = [
        {
            "name": plan.lookups["pending_names"][normalized],
            "normalized_name": normalized,
            "evaluation_org_id": org_id,
            "levels": levels_to_text(sorted(plan.lookups["pending_levels"][normalized])),
        }
        for normalized in sorted(pending)
    ]
    ids = insert_new(session, Certificate, "normalized_name", new)
    use_created(plan, rows, "certificates", ids, via="_certificate_key", field="certificate_id")


def _write_links(session: Session, _plan: Plan, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    years = sorted({r["year"] for r in rows})
    ids = {
        (year, cert, Level(level), Tier(tier)): app_id
        for app_id, year, cert, level, tier in session.execute(
            sa.select(  # type: ignore[call-overload]
                PilotApplication.id,
                PilotApplication.year,
                PilotApplication.certificate_id,
                PilotApplication.level,
                PilotApplication.tier,
            ).where(col(PilotApplication.year).in_(years))
        )
    }
    by_id = {ids[(r["year"], r["certificate_id"], r["level"], r["tier"])]: r for r in rows}
    majors = {app_id: row["major_ids"] for app_id, row in by_id.items()}
    cohorts = {app_id: row["cohorts"] for app_id, row in by_id.items()}
    replace_links(session, ApplicationMajor.application_id, ApplicationMajor.major_id, majors)
    replace_links(session, ApplicationCohort.application_id, ApplicationCohort.cohort, cohorts)


register(
    ImportKind(
        name="applications",
        title="试点申报一览表",
        model=PilotApplication,
        key="certificate",
        row_key=_row_key,
        options=ApplicationImportOptions,
        columns=(
            Column("seq", "序号", text(20), required=False, example="1", en="no"),
            Column(
                "tier",
                "本科/高职/中职",
                choice([t.value for t in Tier]),
                aliases=("层次", "办学层次"),
                example="高职",
                help=N_("本科, 高职 or 中职"),
                choices=tuple(t.value for t in Tier),
            ),
            certificate_column("申报试点证书名称", ("证书名称", "试点证书名称", "证书")),
            level_column("申报级别", ("级别", "等级"), N_("初级, 中级 or 高级")),
            majors_column("申报专业"),
            Column(
                "cohorts",
                "申报年级",
                multi(integer(MIN_COHORT, MAX_COHORT, "级")),
                aliases=("年级",),
                example="2020级、2021级",
                help=N_("entry years like 2020级, 2020 级 or 2020, separated by 、"),
            ),
            Column(
                "headcount",
                "申报人数",
                integer(1, MAX_HEADCOUNT),
                aliases=("人数",),
                example="120",
            ),
            Column(
                "year",
                "年度",
                integer(MIN_YEAR, MAX_YEAR, "年"),
                required=False,
                aliases=("申报年度",),
                example="2022",
                help=N_("or pass ?year= with the upload"),
            ),
            Column("contact", "联系人", text(100), required=False, example="王老师"),
            Column("notes", "备注", text(2000), required=False, example=""),
        ),
        prepare=_prepare,
        to_values=_values,
        before_write=_create_certificates,
        extra_fields=("major_ids", "cohorts"),
        write_extra=_write_links,
        description="Pilot applications matched by (year, certificate, level, tier); unknown "
        "certificates are created, unknown majors are row errors",
    )
)
