"""Conversion rules (学分转换规则) and their versions: the list, writing a rule, and how a
change of a rule some request used opens a new version instead. Every change is audited and
committed here."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.core.audit import delete_row, record, snapshot
from app.core.auth import check_role
from app.core.errors import Conflict, InvalidState, NotFound, UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.listing import Listing, where_equal
from app.core.roles import Principal, Role
from app.core.versions import check_version
from app.credits.checks import (
    overlap_problem,
    period_problem,
    superseded_problem,
    used_change_problem,
)
from app.credits.models import (
    RULE_ENTITY,
    ConversionRequest,
    ConversionRule,
    ConversionRuleMajor,
    MajorRef,
    RuleCreate,
    RuleFilters,
    RulePublic,
    RuleRow,
    RuleUpdate,
)
from app.imports.engine import lock_kind
from app.reference.models import Certificate, Course, Level, Major
from app.reference.rules import level_problem


def in_force(rule: ConversionRule, day: date) -> bool:
    """True when ``day`` lies in the rule's period (an empty bound is open)."""
    if rule.effective_from is not None and day < rule.effective_from:
        return False
    return rule.effective_to is None or day <= rule.effective_to


# --- the list --------------------------------------------------------------------------------


def _used() -> Any:
    return (
        select(ConversionRequest.id)
        .where(col(ConversionRequest.rule_id) == col(ConversionRule.id))
        .exists()
    )


_successor = sa.orm.aliased(ConversionRule)


def _in_force_on(day: date) -> tuple[Any, Any]:
    return (
        sa.or_(
            col(ConversionRule.effective_from).is_(None),
            col(ConversionRule.effective_from) <= day,
        ),
        sa.or_(col(ConversionRule.effective_to).is_(None), col(ConversionRule.effective_to) >= day),
    )


def rule_statement(_session: Session, _principal: Principal, filters: RuleFilters) -> Any:
    """Rules with their certificate and course, whether a request used them and their
    successor; everyone logged in reads them."""
    statement = (
        select(  # type: ignore[call-overload]
            ConversionRule,
            col(Certificate.name),
            col(Course.code),
            col(Course.name),
            _used(),
            _successor.id,
        )
        .join(Certificate, col(Certificate.id) == ConversionRule.certificate_id)
        .join(Course, col(Course.id) == ConversionRule.course_id)
        .outerjoin(_successor, _successor.replaces_id == ConversionRule.id)
    )
    statement = where_equal(
        statement,
        filters,
        certificate_id=ConversionRule.certificate_id,
        course_id=ConversionRule.course_id,
    )
    if filters.major_id is not None:
        statement = statement.where(
            col(ConversionRule.id).in_(
                select(ConversionRuleMajor.rule_id).where(
                    ConversionRuleMajor.major_id == filters.major_id
                )
            )
        )
    if filters.on is not None:
        statement = statement.where(*_in_force_on(filters.on))
    if filters.mode is not None:
        statement = statement.where(ConversionRule.mode == filters.mode)
    return statement


def _rule_majors(session: Session, rule_ids: list[int]) -> dict[int, list[MajorRef]]:
    majors: dict[int, list[MajorRef]] = defaultdict(list)
    if not rule_ids:
        return majors
    for rule_id, major_id, code, name in session.exec(
        select(ConversionRuleMajor.rule_id, Major.id, Major.code, Major.name)
        .join(Major, col(Major.id) == ConversionRuleMajor.major_id)
        .where(col(ConversionRuleMajor.rule_id).in_(rule_ids))
        .order_by(col(Major.code))
    ).all():
        majors[rule_id].append(MajorRef(id=major_id or 0, code=code, name=name))
    return majors


def rule_items(session: Session, rows: Sequence[Any]) -> list[RulePublic]:
    """The rows as the list shows them, their majors fetched in one statement (the export
    also writes the majors' names in one cell)."""
    majors = _rule_majors(session, [row[0].id for row in rows])
    items: list[RulePublic] = []
    for rule, certificate_name, course_code, course_name, used, successor in rows:
        rule_majors = majors.get(rule.id, [])
        item = {
            **rule.model_dump(),
            "certificate_name": certificate_name,
            "course_code": course_code,
            "course_name": course_name,
            "majors": rule_majors,
            "major_names": [m.name for m in rule_majors],
            "used": bool(used),
            "superseded_by_id": successor,
        }
        items.append(RuleRow.model_validate(item))
    return items


RULES = Listing(
    noun=N_("conversion rule"),
    statement=rule_statement,
    order=[col(Certificate.name), col(Course.code), col(ConversionRule.id)],
    to_items=rule_items,
    filters=RuleFilters,
    key=ConversionRule.id,
    columns=[
        ExportColumn("id", N_("Rule ID")),
        ExportColumn("certificate_name", N_("Certificate name")),
        ExportColumn("min_level", N_("Minimum level")),
        ExportColumn("course_code", N_("Course code")),
        ExportColumn("course_name", N_("Course name")),
        ExportColumn("credits", N_("Credits")),
        ExportColumn("mode", N_("Conversion mode")),
        ExportColumn("major_names", N_("Majors it applies to")),
        ExportColumn("effective_from", N_("Effective from")),
        ExportColumn("effective_to", N_("Effective to")),
        ExportColumn("notes", N_("Notes")),
    ],
    filename="credit-rules",
    sheet=N_("Credit conversion rules"),
)


# --- checks ----------------------------------------------------------------------------------


def _check_refs(
    session: Session, certificate_id: int, course_id: int, major_ids: list[int]
) -> None:
    errors = []
    if session.get(Certificate, certificate_id) is None:
        errors.append({"field": "body.certificate_id", "message": _("no such certificate")})
    if session.get(Course, course_id) is None:
        errors.append({"field": "body.course_id", "message": _("no such course")})
    known = set(session.exec(select(Major.id).where(col(Major.id).in_(major_ids))).all())
    unknown = sorted(set(major_ids) - known)
    if unknown:
        errors.append(
            {
                "field": "body.major_ids",
                "message": _("no major with id {items}", items=", ".join(map(str, unknown))),
            }
        )
    if errors:
        raise UnprocessableEntity(
            _(
                "Unknown references: {problems}",
                problems="; ".join(f"{e['field']}: {e['message']}" for e in errors),
            ),
            errors=errors,
        )


def _check_level_offered(session: Session, certificate_id: int, level: Level) -> None:
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        return
    problem = level_problem(certificate.name, certificate.level_list, level)
    if problem:
        offered = "、".join(lv.value for lv in certificate.level_list)
        raise UnprocessableEntity(
            _("Cannot save the conversion rule: {problem}", problem=problem),
            errors=[{"field": "body.min_level", "message": _("one of {offered}", offered=offered)}],
        )


def _check_period(start: date | None, end: date | None) -> None:
    problem = period_problem(start, end)
    if problem:
        raise UnprocessableEntity(
            _("Cannot save the conversion rule: {problem}", problem=problem),
            errors=[{"field": "body.effective_to", "message": _("before effective_from")}],
        )


def _refuse_overlap(
    session: Session,
    certificate_id: int,
    course_id: int,
    start: date | None,
    end: date | None,
    exclude: int | None = None,
) -> None:
    """409 ``duplicate`` when another rule for the same certificate and course (``exclude``
    aside) is in force on a day of ``start``–``end``."""
    others = session.exec(
        select(
            col(ConversionRule.id),
            col(ConversionRule.effective_from),
            col(ConversionRule.effective_to),
        )
        .where(
            ConversionRule.certificate_id == certificate_id,
            ConversionRule.course_id == course_id,
            ConversionRule.id != (exclude or 0),
        )
        .order_by(col(ConversionRule.id))
    ).all()
    for other_id, other_start, other_end in others:
        problem = overlap_problem(other_id, other_start, other_end, start, end)
        if problem:
            raise Conflict(
                _(
                    "Cannot save the conversion rule: {problem}; change that rule (a used one "
                    "gets a new version) or close it first",
                    problem=problem,
                ),
                code="duplicate",
                existing_id=other_id,
            )


# --- majors, use and versions ----------------------------------------------------------------


def _set_majors(session: Session, rule_id: int, major_ids: list[int]) -> None:
    session.execute(
        sa.delete(ConversionRuleMajor).where(col(ConversionRuleMajor.rule_id) == rule_id)
    )
    for major_id in sorted(set(major_ids)):
        session.add(ConversionRuleMajor(rule_id=rule_id, major_id=major_id))


def rule_major_ids(session: Session, rule_id: int) -> list[int]:
    return sorted(
        session.exec(
            select(ConversionRuleMajor.major_id).where(ConversionRuleMajor.rule_id == rule_id)
        ).all()
    )


def _rule_used(session: Session, rule_id: int) -> bool:
    return (
        session.exec(
            select(ConversionRequest.id).where(ConversionRequest.rule_id == rule_id)
        ).first()
        is not None
    )


def _successor_id(session: Session, rule_id: int) -> int | None:
    successor: int | None = session.exec(
        select(ConversionRule.id).where(ConversionRule.replaces_id == rule_id)
    ).first()
    return successor


def _locked_rule(session: Session, rule_id: int) -> ConversionRule:
    rule = session.exec(
        select(ConversionRule).where(ConversionRule.id == rule_id).with_for_update()
    ).first()
    if rule is None:
        raise NotFound(_("No conversion rule with id {rule_id}", rule_id=rule_id))
    return rule


def _with_majors(rule: ConversionRule, major_ids: list[int], **extra: Any) -> dict[str, Any]:
    """The rule as the audit trail keeps it: its columns and its majors."""
    return {**(snapshot(rule) or {}), "major_ids": major_ids, **extra}


# --- writing ---------------------------------------------------------------------------------


def _rule_writers_take_turns(session: Session) -> None:
    """Rule writers take turns, first of all: a rule saved or changed one at a time holds the
    lock an upload of rules holds, so the check that no two rules map a certificate to a
    course on the same day (it reads the others) is never raced (PostgreSQL; SQLite
    serialises writers)."""
    lock_kind(session, "credit-rules")


def create_rule(session: Session, principal: Principal, data: RuleCreate) -> ConversionRule:
    """A new rule (academic office); one rule per certificate and course at any time."""
    check_role(principal, Role.academic_office, what=N_("write conversion rules"))
    _rule_writers_take_turns(session)
    _check_refs(session, data.certificate_id, data.course_id, data.major_ids)
    _check_level_offered(session, data.certificate_id, data.min_level)
    _refuse_overlap(
        session, data.certificate_id, data.course_id, data.effective_from, data.effective_to
    )
    rule = ConversionRule.model_validate(data.model_dump(exclude={"major_ids"}))
    session.add(rule)
    session.flush()
    assert rule.id is not None
    _set_majors(session, rule.id, data.major_ids)
    session.flush()
    record(
        session,
        principal,
        action="create",
        entity=RULE_ENTITY,
        entity_id=rule.id,
        after=_with_majors(rule, sorted(set(data.major_ids))),
    )
    session.commit()
    return rule


def update_rule(
    session: Session,
    principal: Principal,
    rule_id: int,
    data: RuleUpdate,
    if_match: int | None,
    today: date,
) -> ConversionRule:
    """Change a rule. A rule no request used changes in place; a used one only gets its end
    date or notes changed in place, anything else closes it the day before the new version
    starts (``effective_from``, default today) and opens that new version."""
    check_role(principal, Role.academic_office, what=N_("write conversion rules"))
    _rule_writers_take_turns(session)
    rule = _locked_rule(session, rule_id)
    check_version(rule.version, if_match, N_("conversion rule"))
    successor = _successor_id(session, rule_id)
    problem = superseded_problem(rule_id, successor)
    if problem:
        raise InvalidState(
            problem,
            current_state="superseded",
            allowed_actions=[],
            superseded_by_id=successor,
        )
    changes = data.model_dump(exclude_unset=True)
    major_ids = changes.pop("major_ids", None)
    old_majors = rule_major_ids(session, rule_id)
    if major_ids is not None:
        _check_refs(session, rule.certificate_id, rule.course_id, major_ids)
        major_ids = sorted(set(major_ids))
    _check_level_offered(session, rule.certificate_id, changes.get("min_level", rule.min_level))
    real = {k: v for k, v in changes.items() if getattr(rule, k) != v}
    majors_change = major_ids is not None and major_ids != old_majors
    if not real and not majors_change:
        return rule
    changed = [*real, *(["major_ids"] if majors_change else [])]
    if used_change_problem(rule_id, _rule_used(session, rule_id), changed) is None:
        new_majors = major_ids if majors_change else None
        return _update_in_place(session, principal, rule, real, old_majors, new_majors)
    return _new_version(session, principal, rule, changes, major_ids or old_majors, today)


def _update_in_place(
    session: Session,
    principal: Principal,
    rule: ConversionRule,
    real: dict[str, Any],
    old_majors: list[int],
    new_majors: list[int] | None,
) -> ConversionRule:
    """The rule changed as it stands (``new_majors``: its new majors, None when unchanged)."""
    assert rule.id is not None
    merged = {**rule.model_dump(), **real}
    _check_period(merged["effective_from"], merged["effective_to"])
    _refuse_overlap(
        session,
        rule.certificate_id,
        rule.course_id,
        merged["effective_from"],
        merged["effective_to"],
        exclude=rule.id,
    )
    before = _with_majors(rule, old_majors)
    for name, value in real.items():
        setattr(rule, name, value)
    if new_majors is not None:
        _set_majors(session, rule.id, new_majors)
    session.flush()
    record(
        session,
        principal,
        action="update",
        entity=RULE_ENTITY,
        entity_id=rule.id,
        before=before,
        after=_with_majors(rule, new_majors or old_majors),
    )
    session.commit()
    return rule


def _new_period(
    rule: ConversionRule, changes: dict[str, Any], today: date
) -> tuple[date, date | None]:
    """(first day, last day) of the version that replaces the used ``rule``."""
    starts: date = changes.get("effective_from") or today
    if rule.effective_from is not None and starts - timedelta(days=1) < rule.effective_from:
        raise UnprocessableEntity(
            _(
                "Conversion rule {id} was used by a request, so a change opens a new "
                "version and closes this one the day before; the new version must start "
                "after {effective_from} (this one's first day), not on {starts}",
                id=rule.id,
                effective_from=rule.effective_from,
                starts=starts,
            ),
            errors=[
                {
                    "field": "body.effective_from",
                    "message": _("after {effective_from}", effective_from=rule.effective_from),
                }
            ],
        )
    ends = changes.get("effective_to", rule.effective_to)
    if ends is not None and ends < starts:
        ends = None if "effective_to" not in changes else ends
    _check_period(starts, ends)
    return starts, ends


def _new_version(
    session: Session,
    principal: Principal,
    rule: ConversionRule,
    changes: dict[str, Any],
    major_ids: list[int],
    today: date,
) -> ConversionRule:
    """Close the used ``rule`` the day before its successor starts and open the successor."""
    starts, ends = _new_period(rule, changes, today)
    closes = starts - timedelta(days=1)
    before = _with_majors(rule, rule_major_ids(session, rule.id or 0))
    if rule.effective_to is None or rule.effective_to > closes:
        rule.effective_to = closes
    session.flush()
    _refuse_overlap(session, rule.certificate_id, rule.course_id, starts, ends, exclude=rule.id)
    values = {
        **rule.model_dump(
            exclude={"id", "created_at", "updated_at", "version", "effective_to", "replaces_id"}
        ),
        **{k: v for k, v in changes.items() if k not in ("effective_from", "effective_to")},
        "effective_from": starts,
        "effective_to": ends,
        "replaces_id": rule.id,
    }
    successor = ConversionRule.model_validate(values)
    session.add(successor)
    session.flush()
    assert successor.id is not None
    _set_majors(session, successor.id, major_ids)
    session.flush()
    after = {**(snapshot(rule) or {}), "superseded_by_id": successor.id}
    record(
        session,
        principal,
        action="close",
        entity=RULE_ENTITY,
        entity_id=rule.id,
        before=before,
        after=after,
    )
    record(
        session,
        principal,
        action="create",
        entity=RULE_ENTITY,
        entity_id=successor.id,
        after=_with_majors(successor, major_ids),
    )
    session.commit()
    return successor


def delete_rule(session: Session, principal: Principal, rule_id: int) -> None:
    """Only a rule no request used; a used rule is closed with ``effective_to`` instead."""
    check_role(principal, Role.academic_office, what=N_("write conversion rules"))
    rule = _locked_rule(session, rule_id)
    if _rule_used(session, rule_id):
        raise Conflict(
            _(
                "Conversion rule {rule_id} was used by conversion requests and is kept; "
                "close it by setting effective_to instead",
                rule_id=rule_id,
            ),
            code="rule_in_use",
        )
    successor = _successor_id(session, rule_id)
    if successor is not None:
        raise Conflict(
            _(
                "Conversion rule {rule_id} is the earlier version of rule {successor} and is kept",
                rule_id=rule_id,
                successor=successor,
            ),
            code="rule_in_use",
        )
    before = _with_majors(rule, rule_major_ids(session, rule_id))
    session.execute(
        sa.delete(ConversionRuleMajor).where(col(ConversionRuleMajor.rule_id) == rule_id)
    )
    delete_row(session, principal, rule, RULE_ENTITY, before)
