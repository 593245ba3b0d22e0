"""Training base rules: every role reads every base; the office runs every base (and the
school-level ones, no college), a college manager their own college's; partners, certificates
and pilots are replaced as lists; the stations never drop below an exam session held there that
is not over (the exams domain checks that through :data:`app.bases.hooks.stations_changing`).
Every change is audited and committed here."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.applications.models import PilotApplication
from app.applications.service import visible
from app.bases.hooks import stations_changing
from app.bases.models import (
    BaseCertificateRef,
    BaseCreate,
    BaseFilters,
    BaseListed,
    BaseUpdate,
    TrainingBase,
    TrainingBaseApplication,
    TrainingBaseCertificate,
    TrainingBasePartner,
)
from app.core.audit import apply_changes, delete_row, save_new, snapshot
from app.core.db import refuse_taken
from app.core.errors import Conflict, Forbidden, NotFound, UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.listing import Listing, where_equal
from app.core.locks import lock_row
from app.core.roles import Principal, Role
from app.core.types import utcnow
from app.core.versions import check_version
from app.reference.models import Certificate, College
from app.reference.service import require_writer_role

BASE_ENTITY = "training_base"


def visible_bases(statement: Any, _principal: Principal) -> Any:
    """Every signed-in role reads every base: a base is a school facility, named by the exam
    timetable every role reads (the exam sessions' ``base_id``)."""
    return statement


def _like(q: str) -> str:
    escaped = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def base_statement(_session: Session, principal: Principal, filters: BaseFilters) -> Any:
    statement = select(TrainingBase, College.name).outerjoin(
        College, col(College.id) == TrainingBase.college_id
    )
    statement = visible_bases(statement, principal)
    statement = where_equal(
        statement,
        filters,
        college_id=TrainingBase.college_id,
        exam_site=TrainingBase.exam_site,
        on_campus=TrainingBase.on_campus,
    )
    if filters.certificate_id is not None:
        statement = statement.where(
            col(TrainingBase.id).in_(
                select(TrainingBaseCertificate.base_id).where(
                    TrainingBaseCertificate.certificate_id == filters.certificate_id
                )
            )
        )
    if filters.application_id is not None:
        statement = statement.where(
            col(TrainingBase.id).in_(
                select(TrainingBaseApplication.base_id).where(
                    TrainingBaseApplication.application_id == filters.application_id
                )
            )
        )
    if filters.q and filters.q.strip():
        pattern = _like(filters.q)
        statement = statement.where(
            sa.or_(
                col(TrainingBase.name).ilike(pattern, escape="\\"),
                col(TrainingBase.id).in_(
                    select(TrainingBasePartner.base_id).where(
                        col(TrainingBasePartner.name).ilike(pattern, escape="\\")
                    )
                ),
            )
        )
    return statement


def _links(session: Session, ids: Sequence[int]) -> tuple[Any, Any, Any]:
    partners: dict[int, list[str]] = defaultdict(list)
    certificates: dict[int, list[BaseCertificateRef]] = defaultdict(list)
    applications: dict[int, list[int]] = defaultdict(list)
    if ids:
        for base_id, name in session.exec(
            select(TrainingBasePartner.base_id, TrainingBasePartner.name)
            .where(col(TrainingBasePartner.base_id).in_(ids))
            .order_by(col(TrainingBasePartner.name))
        ).all():
            partners[base_id].append(name)
        for base_id, cert_id, cert_name in session.exec(
            select(TrainingBaseCertificate.base_id, Certificate.id, Certificate.name)
            .join(Certificate, col(Certificate.id) == TrainingBaseCertificate.certificate_id)
            .where(col(TrainingBaseCertificate.base_id).in_(ids))
            .order_by(col(Certificate.name))
        ).all():
            certificates[base_id].append(BaseCertificateRef(id=cert_id or 0, name=cert_name))
        for base_id, app_id in session.exec(
            select(TrainingBaseApplication.base_id, TrainingBaseApplication.application_id)
            .where(col(TrainingBaseApplication.base_id).in_(ids))
            .order_by(col(TrainingBaseApplication.application_id))
        ).all():
            applications[base_id].append(app_id)
    return partners, certificates, applications


def base_items(session: Session, rows: Sequence[Any]) -> list[BaseListed]:
    """Bases with their partners, certificates and pilots, each read for all ``rows`` at once."""
    partners, certificates, applications = _links(session, [row[0].id for row in rows])
    return [
        BaseListed.model_validate(
            {
                **base.model_dump(),
                "college_name": college_name,
                "partners": partners[base.id],
                "certificates": certificates[base.id],
                "application_ids": applications[base.id],
                "certificate_names": [c.name for c in certificates[base.id]],
                "campus": "校内" if base.on_campus else "校外",
            }
        )
        for base, college_name in rows
    ]


BASES = Listing(
    noun="training base",
    statement=base_statement,
    order=[col(TrainingBase.name), col(TrainingBase.id)],
    to_items=base_items,
    filters=BaseFilters,
    key=TrainingBase.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("name", N_("Base name")),
        ExportColumn("college_name", N_("College")),
        ExportColumn("campus", N_("On or off campus")),
        ExportColumn("stations", N_("Stations")),
        ExportColumn("exam_site", N_("Exam site")),
        ExportColumn("partners", N_("Partner enterprises")),
        ExportColumn("certificate_names", N_("Certificates served")),
        ExportColumn("application_ids", N_("Pilots served")),
        ExportColumn("notes", N_("Notes")),
    ],
    filename="training-bases",
    sheet=N_("Training bases"),
    updated=[TrainingBase.updated_at],
)
"""Training bases by name, with their partners, certificates and pilots."""


# --- writing ---------------------------------------------------------------------------------


def _require_base_writer(principal: Principal, college_id: int | None) -> None:
    """The office writes every base; a college manager only their own college's."""
    if principal.role == Role.academic_office:
        return
    if principal.role == Role.college_manager:
        if college_id is not None and college_id == principal.college_id:
            return
        raise Forbidden(
            _(
                "A college manager runs only their own college's training bases (college id "
                "{college_id}); school-level bases (no college) and other colleges' are the "
                "academic office's",
                college_id=principal.college_id,
            ),
            code="out_of_scope",
        )
    require_writer_role(principal, N_("training bases"))


def _unique_name(session: Session, name: str, own_id: int | None) -> None:
    statement = select(TrainingBase.id).where(TrainingBase.name == name)
    if own_id is not None:
        statement = statement.where(TrainingBase.id != own_id)
    refuse_taken(
        session,
        statement,
        lambda other: _(
            "Another training base is already named {name} (id {id})", name=name, id=other
        ),
        field="name",
    )


def _check_college(session: Session, college_id: int | None) -> None:
    if college_id is not None and session.get(College, college_id) is None:
        raise UnprocessableEntity(
            _("No college with id {id}", id=college_id),
            errors=[
                {"field": "body.college_id", "message": _("No college with id {id}", id=college_id)}
            ],
        )


def _check_certificates(session: Session, ids: Sequence[int]) -> None:
    found = set(session.exec(select(Certificate.id).where(col(Certificate.id).in_(ids))).all())
    missing = sorted(set(ids) - found)
    if missing:
        raise UnprocessableEntity(
            _("No certificate with id {ids}", ids=", ".join(map(str, missing))),
            errors=[
                {
                    "field": "body.certificate_ids",
                    "message": _("No certificate with id {ids}", ids=", ".join(map(str, missing))),
                }
            ],
        )


def _check_applications(session: Session, principal: Principal, ids: Sequence[int]) -> None:
    """Every pilot must be one the caller reads (one they may not is answered as missing)."""
    statement = visible(select(PilotApplication.id), principal).where(
        col(PilotApplication.id).in_(ids)
    )
    missing = sorted(set(ids) - set(session.exec(statement).all()))
    if missing:
        raise UnprocessableEntity(
            _("No pilot application with id {ids}", ids=", ".join(map(str, missing))),
            errors=[
                {
                    "field": "body.application_ids",
                    "message": _(
                        "No pilot application with id {ids}", ids=", ".join(map(str, missing))
                    ),
                }
            ],
        )


def _current_links(session: Session, base_id: int) -> dict[str, list[Any]]:
    partners, certificates, applications = _links(session, [base_id])
    return {
        "partners": sorted(partners[base_id]),
        "certificate_ids": sorted(c.id for c in certificates[base_id]),
        "application_ids": sorted(applications[base_id]),
    }


def _set_links(session: Session, base_id: int, links: dict[str, list[Any]]) -> None:
    tables: list[tuple[Any, str, str]] = [
        (TrainingBasePartner, "partners", "name"),
        (TrainingBaseCertificate, "certificate_ids", "certificate_id"),
        (TrainingBaseApplication, "application_ids", "application_id"),
    ]
    for model, key, column in tables:
        if key not in links:
            continue
        table = model.__table__
        session.execute(sa.delete(table).where(table.c.base_id == base_id))
        values = [{"base_id": base_id, column: value} for value in links[key]]
        if values:
            session.execute(sa.insert(table), values)


def _normalised_links(data: dict[str, Any]) -> dict[str, list[Any]]:
    links: dict[str, list[Any]] = {}
    for key in ("partners", "certificate_ids", "application_ids"):
        if key in data and data[key] is not None:
            links[key] = sorted(set(data[key]))
    return links


def create_base(session: Session, principal: Principal, data: BaseCreate) -> TrainingBase:
    _require_base_writer(principal, data.college_id)
    _check_college(session, data.college_id)
    _unique_name(session, data.name, None)
    links = _normalised_links(data.model_dump())
    _check_certificates(session, links["certificate_ids"])
    _check_applications(session, principal, links["application_ids"])
    base = TrainingBase.model_validate(
        data.model_dump(exclude={"partners", "certificate_ids", "application_ids"})
    )
    session.add(base)
    session.flush()
    assert base.id is not None
    _set_links(session, base.id, links)
    save_new(session, principal, base, BASE_ENTITY, **links)
    return base


def locked_base(session: Session, principal: Principal, base_id: int) -> TrainingBase:
    """The base, locked, when ``principal`` may read it (404 otherwise) and write it (403)."""
    statement = visible_bases(select(TrainingBase.id), principal).where(TrainingBase.id == base_id)
    if session.exec(statement).first() is None:
        raise NotFound(_("No training base with id {id}", id=base_id))
    base = lock_row(session, TrainingBase, base_id, "training base")
    _require_base_writer(principal, base.college_id)
    return base


def update_base(
    session: Session,
    principal: Principal,
    base_id: int,
    data: BaseUpdate,
    if_match: int | None,
    today: date,
) -> TrainingBase:
    base = locked_base(session, principal, base_id)
    check_version(base.version, if_match, "training base")
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field not in BaseUpdate.NULLABLE:
            raise UnprocessableEntity(
                _("{field} cannot be null", field=field),
                errors=[{"field": f"body.{field}", "message": _("cannot be null")}],
            )
    if "college_id" in changes:
        _require_base_writer(principal, changes["college_id"])
        _check_college(session, changes["college_id"])
    if "name" in changes:
        _unique_name(session, changes["name"], base_id)
    links = _normalised_links(changes)
    for key in ("partners", "certificate_ids", "application_ids"):
        changes.pop(key, None)
    if "certificate_ids" in links:
        _check_certificates(session, links["certificate_ids"])
    if "application_ids" in links:
        before_apps = set(_current_links(session, base_id)["application_ids"])
        _check_applications(session, principal, sorted(set(links["application_ids"]) - before_apps))
    stations = changes.get("stations", base.stations)
    exam_site = changes.get("exam_site", base.exam_site)
    if stations < base.stations or (base.exam_site and not exam_site):
        stations_changing(session, base, stations, exam_site, today)
    before = _current_links(session, base_id)
    after = {**before, **links}
    if links and after != before:
        changes["updated_at"] = utcnow()  # a change of the lists is a new version
        _set_links(session, base_id, links)
    apply_changes(
        session,
        principal,
        base,
        changes,
        BASE_ENTITY,
        extra_before=before,
        extra_after=after,
    )
    return base


def delete_base(session: Session, principal: Principal, base_id: int) -> None:
    """Delete a base nothing names (an exam session or an expenditure: 409 otherwise)."""
    base = locked_base(session, principal, base_id)
    owned = {"training_base_partners", "training_base_certificates", "training_base_applications"}
    found = []
    for table in TrainingBase.metadata.sorted_tables:
        if table.name in owned:
            continue
        for foreign_key in table.foreign_keys:
            if foreign_key.column.table is not TrainingBase.__table__:  # type: ignore[attr-defined]
                continue
            count = session.execute(
                sa.select(sa.func.count()).select_from(table).where(foreign_key.parent == base_id)
            ).scalar_one()
            if count:
                found.append({"entity": table.name.replace("_", " "), "count": int(count)})
    if found:
        listed = ", ".join(f"{f['count']} {f['entity']}" for f in found)
        raise Conflict(
            _(
                "The training base {id} is still named by {listed}; remove or move them first",
                id=base_id,
                listed=listed,
            ),
            code="still_referenced",
            referenced_by=found,
        )
    before = {**(snapshot(base) or {}), **_current_links(session, base_id)}
    _set_links(session, base_id, {"partners": [], "certificate_ids": [], "application_ids": []})
    delete_row(session, principal, base, BASE_ENTITY, before=before)
