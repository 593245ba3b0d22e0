"""The ``training-bases`` import kind: bases matched by name, with their partner enterprises
and the certificates they serve (the pilots they serve are set through the API)."""

from typing import Any

from sqlmodel import Session, select

from app.bases.hooks import stations_changing
from app.bases.models import (
    MAX_STATIONS,
    TrainingBase,
    TrainingBaseCertificate,
    TrainingBasePartner,
)
from app.core.config import get_settings
from app.core.i18n import N_, _
from app.core.locks import lock_row
from app.core.roles import Principal
from app.core.types import school_today
from app.imports.cells import integer, multi, text, words, yes_no
from app.imports.engine import (
    Column,
    ImportKind,
    Plan,
    RowRefused,
    grouped,
    ids_by,
    known,
    optional,
    replace_links,
    rows_by,
)
from app.imports.registry import register
from app.reference.importers import YES_NO_CHOICES
from app.reference.models import Certificate, College, normalise_certificate_name

CAMPUS_WORDS = {"校内": True, "on": True, "on_campus": True, "校外": False, "off": False}
_exam_site = yes_no({"是", "yes", "y", "true", "1", "√"}, {"否", "no", "n", "false", "0"})


_campus = words(CAMPUS_WORDS, N_("校内 (on campus) or 校外 (off campus)"))


def _prepare(session: Session, _principal: Principal) -> Plan:
    existing = rows_by(session, TrainingBase, "name")
    partners = grouped(session, TrainingBasePartner.base_id, TrainingBasePartner.name)
    certificates = grouped(
        session, TrainingBaseCertificate.base_id, TrainingBaseCertificate.certificate_id
    )
    for row in existing.values():
        row["partners"] = sorted(partners.get(row["id"], []))
        row["certificate_ids"] = sorted(certificates.get(row["id"], []))
    return Plan(
        existing=existing,
        lookups={
            "colleges": {
                name: college_id
                for college_id, name in session.exec(select(College.id, College.name))
            },
            "certificates": {
                normalized: cert_id
                for cert_id, normalized in session.exec(
                    select(Certificate.id, Certificate.normalized_name)
                )
            },
        },
    )


def _values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    values: dict[str, Any] = {"name": cells["name"], "stations": cells["stations"]}
    if "college" in cells:
        name = cells["college"]
        values["college_id"] = (
            known(
                plan.lookups["colleges"],
                name,
                "二级学院",
                N_(
                    "unknown college {name}{hint}; leave it empty for a school-level base "
                    "(GET /api/v1/colleges)"
                ),
                name=repr(name),
            )
            if name
            else None
        )
    if cells.get("on_campus") is not None:
        values["on_campus"] = cells["on_campus"]
    if cells.get("exam_site") is not None:
        values["exam_site"] = cells["exam_site"]
    values.update(optional(cells, "notes"))
    if "partners" in cells:
        values["partners"] = sorted(set(cells["partners"] or []))
    if "certificates" in cells:
        certificates: dict[str, int] = plan.lookups["certificates"]
        ids = set()
        for name in cells["certificates"] or []:
            normalized = normalise_certificate_name(name)
            if normalized not in certificates:
                raise RowRefused(
                    _(
                        "unknown certificate {name}; use the name of one that exists "
                        "(GET /api/v1/certificates)",
                        name=repr(name),
                    ),
                    "服务证书",
                    name,
                )
            ids.add(certificates[normalized])
        values["certificate_ids"] = sorted(ids)
    return values


def _check_stations(
    session: Session, _principal: Principal, plan: Plan, rows: list[dict[str, Any]]
) -> None:
    """An upload lowers a base's stations, or ends its exam-site status, only as far as a PATCH
    may: each such base's row is locked first (as a PATCH locks it: an exam session placed there
    meanwhile waits for the upload, or is seen by it), then the exams domain refuses with a 409
    while a session still to be held there needs them (:data:`stations_changing`)."""
    lowering = []
    for row in rows:
        current = plan.existing.get(row["name"])
        if "id" not in row or current is None:
            continue
        stations = row.get("stations", current["stations"])
        exam_site = row.get("exam_site", current["exam_site"])
        if stations < current["stations"] or (current["exam_site"] and not exam_site):
            lowering.append((row["id"], stations, exam_site))
    if not lowering:
        return
    today = school_today(get_settings().timezone)
    for base_id, stations, exam_site in sorted(lowering):
        base = lock_row(session, TrainingBase, base_id, N_("training base"))
        stations_changing(session, base, stations, exam_site, today)


def _college_of(_plan: Plan, values: dict[str, Any]) -> int | None:
    value = values.get("college_id")
    return value if isinstance(value, int) else None


def _write_links(session: Session, _plan: Plan, rows: list[dict[str, Any]]) -> None:
    names = [r["name"] for r in rows if "partners" in r or "certificate_ids" in r]
    if not names:
        return
    ids = ids_by(session, TrainingBase, "name", names)
    for parent, child, key in (
        (TrainingBasePartner.base_id, TrainingBasePartner.name, "partners"),
        (
            TrainingBaseCertificate.base_id,
            TrainingBaseCertificate.certificate_id,
            "certificate_ids",
        ),
    ):
        children = {ids[r["name"]]: r[key] for r in rows if key in r}
        if children:
            replace_links(session, parent, child, children)


register(
    ImportKind(
        name="training-bases",
        title="实训基地",
        model=TrainingBase,
        key="name",
        columns=(
            Column(
                "name",
                "基地名称",
                text(100),
                aliases=("实训基地",),
                example="智能制造实训基地",
            ),
            Column(
                "college",
                "二级学院",
                text(100),
                required=False,
                aliases=("学院",),
                example="机电学院",
                help=N_("empty: a school-level base (academic office)"),
            ),
            Column(
                "on_campus",
                "校内/校外",
                _campus,
                required=False,
                aliases=("校内外",),
                example="校内",
                choices=("校内", "校外"),
                en="campus",
            ),
            Column("stations", "工位数", integer(1, MAX_STATIONS), aliases=("工位",), example="40"),
            Column(
                "exam_site",
                "考点",
                _exam_site,
                required=False,
                aliases=("是否考点",),
                example="是",
                choices=YES_NO_CHOICES,
            ),
            Column(
                "partners",
                "合作企业",
                multi(text(100)),
                required=False,
                example="新松机器人、华为技术有限公司",
            ),
            Column(
                "certificates",
                "服务证书",
                multi(text(100)),
                required=False,
                aliases=("证书",),
                example="工业机器人操作与运维",
            ),
            Column("notes", "备注", text(2000), required=False, example=""),
        ),
        prepare=_prepare,
        to_values=_values,
        college_of=_college_of,
        scope_columns=("college",),
        extra_fields=("partners", "certificate_ids"),
        before_write=_check_stations,
        write_extra=_write_links,
        description="Training bases matched by name, with their partner enterprises and the "
        "certificates they serve; a college manager uploads their own college's",
    )
)
