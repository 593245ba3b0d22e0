"""The ``credit-rules`` import kind: the school's 学分转换规则表 (certificate → course), as the
sample file has it. Certificates are matched like the applications upload; courses by code,
and a code the catalogue does not know yet is created with the row's course name, offered by
the college of the row's first major and taught to the row's majors."""

import difflib
from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.core.i18n import N_, _
from app.core.params import MAX_DB_ID
from app.core.roles import Principal
from app.credits.checks import (
    overlap_problem,
    period_problem,
    superseded_problem,
    used_change_problem,
)
from app.credits.models import (
    ConversionMode,
    ConversionRequest,
    ConversionRule,
    ConversionRuleMajor,
)
from app.imports.cells import code, date_cell, decimal, integer, match_text, text, words
from app.imports.engine import (
    Column,
    ImportKind,
    Plan,
    RowRefused,
    grouped,
    insert_new,
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
    MAX_CREDITS,
    Certificate,
    Course,
    CourseMajor,
    Level,
    normalise_certificate_name,
)
from app.reference.rules import level_problem

MODES = {
    "免修": ConversionMode.exemption,
    "exemption": ConversionMode.exemption,
    "替换": ConversionMode.substitution,
    "替代": ConversionMode.substitution,
    "substitution": ConversionMode.substitution,
}


_mode_cell = words(MODES, N_("免修 (exemption) or 替换 (substitution)"))


def _row_key(cells: dict[str, Any], _options: Any) -> Any:
    """A row with a 规则ID (an export's) changes that rule; any other row the rule in force of
    its certificate and course (the newest), or adds one."""
    if cells.get("rule_id"):
        return cells["rule_id"]
    if not (cells.get("certificate") and cells.get("course_code")):
        return None
    return (normalise_certificate_name(cells["certificate"]), cells["course_code"])


def _existing_rules(session: Session) -> dict[Any, dict[str, Any]]:
    """Every rule by its id, with its majors, whether a request used it and the version that
    replaced it; the newest not replaced one also by (normalised certificate name, course
    code)."""
    table: sa.Table = ConversionRule.__table__  # type: ignore[attr-defined]
    successor = table.alias("successor")
    requests: sa.Table = ConversionRequest.__table__  # type: ignore[attr-defined]
    used = sa.exists(sa.select(requests.c.id).where(requests.c.rule_id == table.c.id))
    majors_of = grouped(session, ConversionRuleMajor.rule_id, ConversionRuleMajor.major_id)
    existing: dict[Any, dict[str, Any]] = {}
    for row in session.execute(
        sa.select(
            table,
            col(Certificate.normalized_name),
            col(Course.code).label("course_code"),
            used.label("used"),
            successor.c.id.label("superseded_by"),
        )
        .join(Certificate, col(Certificate.id) == table.c.certificate_id)
        .join(Course, col(Course.id) == table.c.course_id)
        .outerjoin(successor, successor.c.replaces_id == table.c.id)
        .order_by(table.c.id)
    ).mappings():
        values = dict(row)
        values["major_ids"] = sorted(majors_of.get(values["id"], []))
        pair = (values.pop("normalized_name"), values.pop("course_code"))
        existing[values["id"]] = values
        if values["superseded_by"] is None:
            existing[pair] = values
    return existing


def _prepare(session: Session, _principal: Principal) -> Plan:
    table: sa.Table = ConversionRule.__table__  # type: ignore[attr-defined]
    existing = _existing_rules(session)
    periods: dict[tuple[int, int], list[tuple[int, Any, Any]]] = defaultdict(list)
    for rule_id, certificate_id, course_id, start, end in session.execute(
        sa.select(
            table.c.id,
            table.c.certificate_id,
            table.c.course_id,
            table.c.effective_from,
            table.c.effective_to,
        ).order_by(table.c.id)
    ):
        periods[(certificate_id, course_id)].append((rule_id, start, end))
    courses = {
        course_code: (course_id, name)
        for course_id, course_code, name in session.execute(
            sa.select(Course.id, Course.code, Course.name)  # type: ignore[call-overload]
        )
    }
    return Plan(
        existing=existing,
        lookups={
            "certificates": certificates_by_name(session),
            "courses": courses,
            **major_lookups(session),
            "new_courses": {},
            "periods": dict(periods),
            "pending_created": {"courses": set()},
        },
    )


def _certificate_id(plan: Plan, raw: str, level: Level) -> int:
    known: dict[str, CertificateEntry] = plan.lookups["certificates"]
    normalized = normalise_certificate_name(raw)
    if normalized not in known:
        names = {key: name for key, (_id, _levels, name) in known.items()}
        close = difflib.get_close_matches(normalized, list(names), n=3, cutoff=0.5)
        hint = (
            _("; did you mean {suggestion}?", suggestion="、".join(names[c] for c in close))
            if close
            else ""
        )
        raise RowRefused(
            _(
                "unknown certificate {raw}{hint} Certificates come from the reference "
                "data (/api/v1/certificates) or the applications upload",
                raw=repr(raw),
                hint=hint,
            ),
            "证书名称",
            raw,
        )
    cert_id, levels, name = known[normalized]
    problem = level_problem(name, levels, level)
    if problem:
        raise RowRefused(problem, "最低级别", level.value)
    return cert_id


def _course_id(plan: Plan, course_code: str, name: str | None, major_ids: list[int]) -> int | None:
    courses: dict[str, tuple[int, str]] = plan.lookups["courses"]
    if course_code in courses:
        course_id, known_name = courses[course_code]
        if name and match_text(name) != match_text(known_name):
            raise RowRefused(
                _(
                    "course {course_code} is {known_name} in the catalogue, not {name}; fix "
                    "the name or the code",
                    course_code=course_code,
                    known_name=repr(known_name),
                    name=repr(name),
                ),
                "课程名称",
                name,
            )
        return course_id
    if not name:
        raise RowRefused(
            _(
                "no course with code {course_code}; give its 课程名称 so the upload creates it",
                course_code=course_code,
            ),
            "课程代码",
            course_code,
        )
    new: dict[str, dict[str, Any]] = plan.lookups["new_courses"]
    if course_code in new and match_text(new[course_code]["name"]) != match_text(name):
        raise RowRefused(
            _(
                "course {course_code} is named {name} in another row",
                course_code=course_code,
                name=repr(new[course_code]["name"]),
            ),
            "课程名称",
            name,
        )
    new.setdefault(
        course_code,
        {
            "name": name,
            "college_id": plan.lookups["major_college"][major_ids[0]],
            "major_ids": set(),
            "credits": Decimal("0"),
        },
    )
    new[course_code]["major_ids"].update(major_ids)
    plan.lookups["pending_created"]["courses"].add(course_code)
    return None


COMPARED = ("min_level", "credits", "mode", "major_ids", "effective_from", "effective_to", "notes")
CREDITS = decimal(Decimal("0.1"), MAX_CREDITS, 1)
"""Above 0 and at most MAX_CREDITS, one decimal place (so at least 0.1)."""


def _values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    level = Level(cells["min_level"])
    certificate_id = _certificate_id(plan, cells["certificate"], level)
    major_ids = resolve_majors(plan, cells["majors"] or [], "适用专业")
    course_id = _course_id(plan, cells["course_code"], cells.get("course_name"), major_ids)
    if course_id is None:
        new = plan.lookups["new_courses"][cells["course_code"]]
        new["credits"] = max(new["credits"], cells["credits"])
    existing = _existing_of(plan, cells, certificate_id, course_id)
    values: dict[str, Any] = {
        "certificate_id": certificate_id,
        "min_level": level,
        "course_id": course_id,
        "credits": cells["credits"],
        "mode": cells["mode"],
        "major_ids": sorted(major_ids),
    }
    for optional in ("effective_from", "effective_to", "notes"):
        if optional in cells:
            values[optional] = cells[optional] or None
        else:
            values[optional] = existing.get(optional) if existing else None
    start, end = values["effective_from"], values["effective_to"]
    problem = period_problem(start, end)
    if problem:
        raise RowRefused(problem, "失效日期", str(end))
    others = plan.lookups["periods"].get((certificate_id, course_id), [])
    for other_id, other_start, other_end in others:
        if existing is None or other_id != existing["id"]:
            problem = overlap_problem(other_id, other_start, other_end, start, end)
            if problem:
                raise RowRefused(problem, "生效日期", str(start or ""))
    if course_id is None:
        values["_course_code"] = cells["course_code"]
    if existing is not None:
        changed = [f for f in COMPARED if values[f] != existing.get(f)]
        problem = superseded_problem(existing["id"], existing["superseded_by"])
        if problem and changed:
            raise RowRefused(problem, "规则ID", str(existing["id"]))
        problem = used_change_problem(existing["id"], bool(existing.get("used")), changed)
        if problem:
            raise RowRefused(
                _(
                    "{problem}, which an upload does not do; change it with PATCH "
                    "/api/v1/credit-rules/{id}. This row would change {changes}",
                    problem=problem,
                    id=existing["id"],
                    changes=", ".join(f"{f} ({existing.get(f)} → {values[f]})" for f in changed),
                ),
                "课程代码",
                cells["course_code"],
            )
    return values


def _existing_of(
    plan: Plan, cells: dict[str, Any], certificate_id: int, course_id: int | None
) -> dict[str, Any] | None:
    """The rule the row changes (None: the row adds one); a 规则ID names a rule of the row's
    certificate and course."""
    existing = plan.existing.get(_row_key(cells, None))
    rule_id = cells.get("rule_id")
    if not rule_id:
        return existing
    if existing is None:
        raise RowRefused(
            _("No conversion rule with id {rule_id}", rule_id=rule_id), "规则ID", str(rule_id)
        )
    if (existing["certificate_id"], existing["course_id"]) != (certificate_id, course_id):
        raise RowRefused(
            _(
                "conversion rule {id} maps another certificate or course; leave 规则ID empty "
                "to add a rule",
                id=rule_id,
            ),
            "规则ID",
            str(rule_id),
        )
    return existing


def _create_courses(
    session: Session, _principal: Principal, plan: Plan, rows: list[dict[str, Any]]
) -> None:
    new: dict[str, dict[str, Any]] = plan.lookups["new_courses"]
    if not new:
        return
    courses = [
        {
            "code": course_code,
            "name": spec["name"],
            "credits": spec["credits"],
            "college_id": spec["college_id"],
        }
        for course_code, spec in sorted(new.items())
    ]
    ids = insert_new(session, Course, "code", courses)
    majors = {ids[course_code]: sorted(spec["major_ids"]) for course_code, spec in new.items()}
    replace_links(session, CourseMajor.course_id, CourseMajor.major_id, majors)
    use_created(plan, rows, "courses", ids, via="_course_code", field="course_id")


def _write_majors(session: Session, _plan: Plan, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table: sa.Table = ConversionRule.__table__  # type: ignore[attr-defined]
    successor = table.alias("successor")
    current = ~sa.exists(sa.select(successor.c.id).where(successor.c.replaces_id == table.c.id))
    majors = {r["id"]: r["major_ids"] for r in rows if "id" in r}
    created = {(r["certificate_id"], r["course_id"]): r for r in rows if "id" not in r}
    if created:
        # A new rule is the newest of its certificate and course (ids ascend: the last wins).
        ids = {
            (cert, course): rule_id
            for rule_id, cert, course in session.execute(
                sa.select(table.c.id, table.c.certificate_id, table.c.course_id)
                .where(current, table.c.course_id.in_(sorted({c for _cert, c in created})))
                .order_by(table.c.id)
            )
            if (cert, course) in created
        }
        majors.update({rule_id: created[key]["major_ids"] for key, rule_id in ids.items()})
    replace_links(session, ConversionRuleMajor.rule_id, ConversionRuleMajor.major_id, majors)


register(
    ImportKind(
        name="credit-rules",
        title="学分转换规则表",
        model=ConversionRule,
        key="course_code",
        row_key=_row_key,
        columns=(
            Column(
                "rule_id",
                "规则ID",
                integer(1, MAX_DB_ID),
                required=False,
                example="",
                help=N_(
                    "an exported rule's id: the row changes that rule; empty: the rule of the "
                    "certificate and course in force, or a new one"
                ),
            ),
            certificate_column("证书名称", ("X证书", "证书", "职业技能等级证书")),
            level_column(
                "最低级别",
                ("级别", "证书级别", "最低等级"),
                N_("初级, 中级 or 高级: the certificate at this level or above"),
                key="min_level",
            ),
            Column("course_code", "课程代码", code(20), example="C5102031"),
            Column(
                "course_name",
                "课程名称",
                text(100),
                required=False,
                example="Web前端开发基础",
                help=N_("checked against the catalogue; needed to create a course it lacks"),
            ),
            Column("credits", "学分", CREDITS, example="4"),
            Column(
                "mode",
                "转换方式",
                _mode_cell,
                aliases=("方式", "认定方式"),
                example="替换",
                help=N_("免修 (exemption) or 替换 (substitution)"),
                choices=tuple(mode.value for mode in ConversionMode),
            ),
            majors_column("适用专业"),
            Column(
                "effective_from",
                "生效日期",
                date_cell,
                required=False,
                example="2022-09-01",
                help=N_("first day in force; empty: since always"),
            ),
            Column(
                "effective_to",
                "失效日期",
                date_cell,
                required=False,
                example="",
                help=N_("last day in force; empty: open-ended"),
            ),
            Column("notes", "备注", text(1000), required=False, example=""),
        ),
        prepare=_prepare,
        to_values=_values,
        before_write=_create_courses,
        extra_fields=("major_ids",),
        write_extra=_write_majors,
        description="Conversion rules matched by (certificate, course code); unknown course "
        "codes are created from the row's name, unknown certificates and majors are row errors; "
        "a rule a request used is changed through PATCH (a new version), not an upload",
    )
)
