"""The applications summary report (申报汇总): count and Σ headcount per group over the
applications a principal may read, as JSON or as a CSV/XLSX download."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.applications.models import (
    ApplicationMajor,
    ApplicationsReport,
    ApplicationStatus,
    PilotApplication,
    ReportGroupBy,
    ReportRow,
)
from app.applications.service import visible
from app.core.export import ExportColumn
from app.core.i18n import N_, translate
from app.core.reports import TOTAL
from app.core.roles import Principal
from app.reference.models import Certificate, College, Major

GROUP_HEADERS = {
    ReportGroupBy.certificate: N_("Pilot certificate"),
    ReportGroupBy.college: N_("College"),
    ReportGroupBy.major: N_("Majors applied for"),
    ReportGroupBy.level: N_("Level applied for"),
    ReportGroupBy.tier: N_("School tier"),
}

APP_ID = col(PilotApplication.id)
HEADCOUNT = col(PilotApplication.headcount)


def _chosen(principal: Principal, year: int | None, status: ApplicationStatus | None) -> Any:
    """True for the applications the report counts: readable, of ``year``, and of ``status``
    (without it, every status but rejected)."""
    base = visible(select(PilotApplication.id), principal)
    if year is not None:
        base = base.where(PilotApplication.year == year)
    if status is not None:
        base = base.where(PilotApplication.status == status)
    else:
        base = base.where(PilotApplication.status != ApplicationStatus.rejected)
    chosen = base.subquery()
    return APP_ID.in_(select(chosen.c.id))


def _by_value(session: Session, inside: Any, group_by: ReportGroupBy) -> list[Any]:
    """(key, label, applications, Σ headcount) per level or tier."""
    column = col(
        PilotApplication.level if group_by == ReportGroupBy.level else PilotApplication.tier
    )
    result = session.exec(
        select(column, func.count(APP_ID), func.sum(HEADCOUNT))
        .where(inside)
        .group_by(column)
        .order_by(column)
    ).all()
    return [(value.value, value.value, n, total) for value, n, total in result]


def _by_certificate(session: Session, inside: Any) -> list[Any]:
    """(certificate id, name, applications, Σ headcount) per certificate."""
    return list(
        session.exec(
            select(Certificate.id, Certificate.name, func.count(APP_ID), func.sum(HEADCOUNT))
            .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
            .where(inside)
            .group_by(col(Certificate.id), col(Certificate.name))
            .order_by(col(Certificate.name), col(Certificate.id))
        ).all()
    )


def _by_major_or_college(session: Session, inside: Any, group_by: ReportGroupBy) -> list[Any]:
    """(id, name, applications, Σ headcount) per major or college; an application counts once
    in each group it has a major in."""
    group_id = col(Major.id) if group_by == ReportGroupBy.major else col(College.id)
    group_name = col(Major.name) if group_by == ReportGroupBy.major else col(College.name)
    pairs = (
        select(
            APP_ID.label("app_id"),
            HEADCOUNT.label("headcount"),
            group_id.label("gid"),
            group_name.label("name"),
        )
        .join(ApplicationMajor, col(ApplicationMajor.application_id) == APP_ID)
        .join(Major, col(Major.id) == ApplicationMajor.major_id)
        .join(College, col(College.id) == Major.college_id)
        .where(inside)
        .distinct()
        .subquery()
    )
    return list(
        session.execute(
            sa.select(
                pairs.c.gid,
                pairs.c.name,
                sa.func.count(pairs.c.app_id),
                sa.func.sum(pairs.c.headcount),
            )
            .group_by(pairs.c.gid, pairs.c.name)
            .order_by(pairs.c.name, pairs.c.gid)
        ).all()
    )


def report(
    session: Session,
    principal: Principal,
    *,
    year: int | None,
    group_by: ReportGroupBy,
    status: ApplicationStatus | None,
) -> ApplicationsReport:
    """Count and Σ headcount per group. An application with several majors (or colleges)
    counts in each of their groups; the totals count it once. Without ``status`` rejected
    applications are left out."""
    inside = _chosen(principal, year, status)
    if group_by in (ReportGroupBy.level, ReportGroupBy.tier):
        rows = _by_value(session, inside, group_by)
    elif group_by == ReportGroupBy.certificate:
        rows = _by_certificate(session, inside)
    else:
        rows = _by_major_or_college(session, inside, group_by)
    totals = session.exec(
        select(func.count(APP_ID), func.coalesce(func.sum(HEADCOUNT), 0)).where(inside)
    ).one()
    return ApplicationsReport(
        year=year,
        group_by=group_by,
        rows=[
            ReportRow(
                key=str(key), label=str(label), applications=int(n), headcount=int(total or 0)
            )
            for key, label, n, total in rows
        ],
        total_applications=int(totals[0]),
        total_headcount=int(totals[1]),
    )


REPORT_COLUMNS = [
    ExportColumn("applications", N_("Applications")),
    ExportColumn("headcount", N_("Headcount")),
]


def report_rows(result: ApplicationsReport) -> list[dict[str, Any]]:
    """The download's rows: one per group, then the 合计 row."""
    items: list[dict[str, Any]] = [row.model_dump() for row in result.rows]
    items.append(
        {
            "label": translate(TOTAL),
            "applications": result.total_applications,
            "headcount": result.total_headcount,
        }
    )
    return items
