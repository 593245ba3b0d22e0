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
from app.core.roles import Principal
from app.credits.checks import (
    overlap_problem,
    period_problem,
    used_change_problem,
)
from app.credits.models import (
    ConversionMode,
    ConversionRequest,
    ConversionRule,
    ConversionRuleMajor,
)
from app.imports.cells import CellError, code, date_cell, decimal, match_text, text, words
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
    LEVEL_CHOICES,
    CertificateEntry,
    certificate_column,
    certificates_by_name,
    major_lookups,
    majors_column,
    resolve_majors,
)
from app.reference.models import (
    LEVEL_ORDER,
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


def _level_cell(raw: str) -> Level:
    value = raw.strip()
    for level in LEVEL_ORDER:
        if value == level.value:
            return level
    raise CellError(_("one of 初级, 中级, 高级"))


_mode_cell = words(MODES, N_("免修 (exemption) or 替换 (substitution)"))


def _row_key(cells: dict[str, Any], _options: Any) -> Any:
    if not (cells.get("certificate") and cells.get("course_code")):
        return None
    return (normalise_certificate_name(cells["certificate"]), cells["course_code"])


def _existing_rules(session: Session) -> dict[Any, dict[str, Any]]:
    """The current version of every rule, by (normalised certificate name, course code), with
    its majors and whether a request used it."""
    table: sa.Table = ConversionRule.__table__  # type: ignore[attr-defined]
    successor = table.alias("successor")
    current = ~sa.exists(sa.select(successor.c.id).where(successor.c.replaces_id == table.c.id))
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
        )
        .join(Certificate, col(Certificate.id) == table.c.certificate_id)
        .join(Course, col(Course.id) == table.c.course_id)
        .where(current)
        .order_by(table.c.id)
    ).mappings():
        values = dict(row)
        values["major_ids"] = sorted(majors_of.get(values["id"], []))
        key = (values.pop("normalized_name"), values.pop("course_code"))
        existing[key] = values
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
    level: Level = cells["min_level"]
    certificate_id = _certificate_id(plan, cells["certificate"], level)
    major_ids = resolve_majors(plan, cells["majors"] or [], "适用专业")
    course_id = _course_id(plan, cells["course_code"], cells.get("course_name"), major_ids)
    if course_id is None:
        new = plan.lookups["new_courses"][cells["course_code"]]
        new["credits"] = max(new["credits"], cells["credits"])
    existing = plan.existing.get(_row_key(cells, None))
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
    wanted = {(r["certificate_id"], r["course_id"]): r for r in rows}
    ids = {
        (cert, course): rule_id
        for rule_id, cert, course in session.execute(
            sa.select(table.c.id, table.c.certificate_id, table.c.course_id).where(
                current, table.c.course_id.in_(sorted({c for _cert, c in wanted}))
            )
        )
        if (cert, course) in wanted
    }
    majors = {rule_id: wanted[key]["major_ids"] for key, rule_id in ids.items()}
    replace_links(session, ConversionRuleMajor.rule_id, ConversionRuleMajor.major_id, majors)


register(
    ImportKind(
        name="credit-rules",
        title="学分转换规则表",
        model=ConversionRule,
        key="course_code",
        row_key=_row_key,
        columns=(
            certificate_column("证书名称", ("X证书", "证书", "职业技能等级证书")),
            Column(
                "min_level",
                "最低级别",
                _level_cell,
                aliases=("级别", "证书级别", "最低等级"),
                example="中级",
                help=N_("初级, 中级 or 高级: the certificate at this level or above"),
                choices=LEVEL_CHOICES,
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
