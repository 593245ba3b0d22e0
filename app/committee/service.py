"""Committee rules: the academic office keeps the experts and the meetings; the office,
auditors (the leadership group and experts read as auditors) and admins read them."""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, func, select

from app.committee.models import (
    AttendeePublic,
    DecisionIn,
    DecisionPublic,
    Expert,
    ExpertCreate,
    ExpertFilters,
    ExpertPublic,
    ExpertUpdate,
    Meeting,
    MeetingAttendee,
    MeetingCreate,
    MeetingDecision,
    MeetingFilters,
    MeetingPublic,
    MeetingRow,
    MeetingUpdate,
)
from app.core.audit import apply_changes, delete_row, record, save_new
from app.core.auth import require_office
from app.core.errors import Conflict, Forbidden, UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.labels import label
from app.core.listing import Listing, each, where_equal
from app.core.locks import lock_row
from app.core.roles import READ_ALL, Principal
from app.core.types import utcnow
from app.core.versions import check_version

EXPERT_ENTITY = "expert"
MEETING_ENTITY = "meeting"


def _require_reader(principal: Principal) -> None:
    if principal.role not in READ_ALL:
        raise Forbidden(
            _(
                "Role {role} may not read the expert committee; allowed roles: "
                "academic_office, auditor, admin",
                role=label(principal.role),
            ),
            allowed_roles=sorted(r.value for r in READ_ALL),
        )


# --- experts ---------------------------------------------------------------------------------


def _attended() -> Any:
    return (
        select(func.count())
        .where(MeetingAttendee.expert_id == Expert.id)
        .correlate(Expert)
        .scalar_subquery()
    )


def expert_statement(session: Session, principal: Principal, filters: ExpertFilters) -> Any:
    """Experts with how many meetings each attended; the office, auditors and admins only."""
    _require_reader(principal)
    statement = select(Expert, _attended().label("attended"))
    statement = where_equal(statement, filters, kind=Expert.kind, active=Expert.active)
    if filters.q:
        pattern = f"%{filters.q}%"
        statement = statement.where(
            col(Expert.name).like(pattern) | col(Expert.organisation).like(pattern)
        )
    return statement


def expert_public(row: Any) -> ExpertPublic:
    expert, attended = row
    return ExpertPublic.model_validate(
        {**expert.model_dump(), "meetings_attended": int(attended or 0)}
    )


EXPERTS = Listing(
    noun=N_("expert"),
    statement=expert_statement,
    order=[col(Expert.name), col(Expert.id)],
    to_items=each(expert_public),
    filters=ExpertFilters,
    key=Expert.id,
    columns=[
        ExportColumn("name", N_("Full name")),
        ExportColumn("organisation", N_("Organisation")),
        ExportColumn("kind", N_("Category")),
        ExportColumn("title", N_("Position or title")),
        ExportColumn("contact", N_("Contact")),
        ExportColumn("active", N_("Serving")),
        ExportColumn("meetings_attended", N_("Meetings attended")),
    ],
    filename="experts",
    sheet=N_("Expert committee"),
)


def create_expert(session: Session, principal: Principal, data: ExpertCreate) -> Expert:
    require_office(principal, N_("keep the expert committee"))
    expert = Expert.model_validate(data)
    save_new(session, principal, expert, EXPERT_ENTITY)
    return expert


def update_expert(
    session: Session, principal: Principal, expert_id: int, data: ExpertUpdate, if_match: int | None
) -> Expert:
    require_office(principal, N_("keep the expert committee"))
    expert = lock_row(session, Expert, expert_id, N_("expert"))
    check_version(expert.version, if_match, N_("expert"))
    apply_changes(session, principal, expert, data.model_dump(exclude_unset=True), EXPERT_ENTITY)
    return expert


def delete_expert(session: Session, principal: Principal, expert_id: int) -> None:
    """Delete an expert who attended no meeting; one who did is kept (set ``active`` false)."""
    require_office(principal, N_("keep the expert committee"))
    expert = lock_row(session, Expert, expert_id, N_("expert"))
    attended = session.exec(
        select(func.count()).where(MeetingAttendee.expert_id == expert_id)
    ).one()
    if attended:
        raise Conflict(
            _(
                "Expert {expert_id} attended {attended} meeting(s) and stays in their "
                "records; set active to false instead",
                expert_id=expert_id,
                attended=attended,
            ),
            code="expert_attended_meetings",
            meetings_attended=int(attended),
        )
    delete_row(session, principal, expert, EXPERT_ENTITY)


# --- meetings --------------------------------------------------------------------------------


def meeting_statement(session: Session, principal: Principal, filters: MeetingFilters) -> Any:
    """Meetings; the office, auditors and admins only."""
    _require_reader(principal)
    statement = select(Meeting)
    if filters.date_from is not None:
        statement = statement.where(Meeting.meeting_date >= filters.date_from)
    if filters.date_to is not None:
        statement = statement.where(Meeting.meeting_date <= filters.date_to)
    if filters.expert_id is not None:
        statement = statement.where(
            col(Meeting.id).in_(
                select(MeetingAttendee.meeting_id).where(
                    MeetingAttendee.expert_id == filters.expert_id
                )
            )
        )
    return statement


def meeting_publics(session: Session, meetings: Sequence[Meeting]) -> list[MeetingPublic]:
    """Meetings with attendees and decisions, in two statements for all of them."""
    ids = [m.id for m in meetings if m.id is not None]
    attendees = _attendees(session, ids)
    decisions = _decisions(session, ids)
    return [
        MeetingPublic.model_validate(
            {
                **m.model_dump(),
                "attendees": attendees[m.id or 0],
                "decisions": decisions[m.id or 0],
                "open_decisions": sum(1 for d in decisions[m.id or 0] if not d.done),
            }
        )
        for m in meetings
    ]


def _attendees(session: Session, ids: Sequence[int]) -> dict[int, list[AttendeePublic]]:
    """Each meeting's attendees by name, in one statement."""
    attendees: dict[int, list[AttendeePublic]] = defaultdict(list)
    if ids:
        for meeting_id, expert in session.exec(
            select(MeetingAttendee.meeting_id, Expert)
            .join(Expert, col(Expert.id) == MeetingAttendee.expert_id)
            .where(col(MeetingAttendee.meeting_id).in_(ids))
            .order_by(col(Expert.name), col(Expert.id))
        ).all():
            attendees[meeting_id].append(AttendeePublic.model_validate(expert.model_dump()))
    return attendees


def _decisions(session: Session, ids: Sequence[int]) -> dict[int, list[DecisionPublic]]:
    """Each meeting's decisions in their order, in one statement."""
    decisions: dict[int, list[DecisionPublic]] = defaultdict(list)
    if ids:
        for decision in session.exec(
            select(MeetingDecision)
            .where(col(MeetingDecision.meeting_id).in_(ids))
            .order_by(col(MeetingDecision.position))
        ).all():
            decisions[decision.meeting_id].append(
                DecisionPublic.model_validate(decision.model_dump())
            )
    return decisions


def _decision_line(decision: DecisionPublic) -> str:
    """``text（owner，due date，已完成）`` as the export writes a decision."""
    due = "，" + decision.due_date.isoformat() if decision.due_date else ""
    done = "，已完成" if decision.done else ""
    return f"{decision.text}（{decision.owner}{due}{done}）"


def meeting_rows(session: Session, meetings: Sequence[Meeting]) -> list[MeetingRow]:
    """The list's batch mapper: each meeting as :func:`meeting_publics` answers it, with the
    attendees' names and the decision lines the export writes."""
    return [
        MeetingRow.model_validate(
            {
                **public.__dict__,
                "attendee_names": [a.name for a in public.attendees],
                "decision_lines": "\n".join(_decision_line(d) for d in public.decisions),
            }
        )
        for public in meeting_publics(session, meetings)
    ]


MEETINGS = Listing(
    noun=N_("meeting"),
    statement=meeting_statement,
    order=[col(Meeting.meeting_date).desc(), col(Meeting.id).desc()],
    to_items=meeting_rows,
    filters=MeetingFilters,
    key=Meeting.id,
    columns=[
        ExportColumn("meeting_date", N_("Date")),
        ExportColumn("topic", N_("Topic")),
        ExportColumn("location", N_("Location")),
        ExportColumn("attendee_names", N_("Experts attending")),
        ExportColumn("decision_lines", N_("Decisions")),
        ExportColumn("open_decisions", N_("Open decisions")),
    ],
    filename="meetings",
    sheet=N_("Committee meetings"),
)


def _check_attendees(session: Session, expert_ids: Sequence[int]) -> None:
    known = set(session.exec(select(Expert.id).where(col(Expert.id).in_(expert_ids))).all())
    unknown = [i for i in expert_ids if i not in known]
    if unknown:
        raise UnprocessableEntity(
            _("Unknown expert id(s): {items}", items=", ".join(map(str, unknown))),
            errors=[
                {
                    "field": "body.attendee_ids",
                    "message": _("no expert with id {expert_id}", expert_id=i),
                }
                for i in unknown
            ],
        )


def _set_attendees(session: Session, meeting_id: int, expert_ids: Sequence[int]) -> None:
    for link in session.exec(
        select(MeetingAttendee).where(MeetingAttendee.meeting_id == meeting_id)
    ).all():
        session.delete(link)
    session.flush()
    for expert_id in expert_ids:
        session.add(MeetingAttendee(meeting_id=meeting_id, expert_id=expert_id))


def _set_decisions(session: Session, meeting_id: int, decisions: Sequence[DecisionIn]) -> None:
    for old in session.exec(
        select(MeetingDecision).where(MeetingDecision.meeting_id == meeting_id)
    ).all():
        session.delete(old)
    session.flush()
    for position, decision in enumerate(decisions, start=1):
        session.add(
            MeetingDecision(meeting_id=meeting_id, position=position, **decision.model_dump())
        )


def _meeting_snapshot(session: Session, meeting: Meeting) -> dict[str, Any]:
    public = meeting_publics(session, [meeting])[0]
    return public.model_dump(mode="json", exclude={"created_at", "updated_at"})


def create_meeting(session: Session, principal: Principal, data: MeetingCreate) -> Meeting:
    require_office(principal, N_("keep the expert committee"))
    _check_attendees(session, data.attendee_ids)
    meeting = Meeting.model_validate(data.model_dump(exclude={"attendee_ids", "decisions"}))
    session.add(meeting)
    session.flush()
    assert meeting.id is not None
    _set_attendees(session, meeting.id, data.attendee_ids)
    _set_decisions(session, meeting.id, data.decisions)
    session.flush()
    record(
        session,
        principal,
        action="create",
        entity=MEETING_ENTITY,
        entity_id=meeting.id,
        after=_meeting_snapshot(session, meeting),
    )
    session.commit()
    return meeting


def update_meeting(
    session: Session,
    principal: Principal,
    meeting_id: int,
    data: MeetingUpdate,
    if_match: int | None,
) -> Meeting:
    """Change a meeting; ``attendee_ids`` and ``decisions``, when sent, replace the lists."""
    require_office(principal, N_("keep the expert committee"))
    meeting = lock_row(session, Meeting, meeting_id, N_("meeting"))
    check_version(meeting.version, if_match, N_("meeting"))
    changes = data.model_dump(exclude_unset=True)
    attendee_ids = changes.pop("attendee_ids", None)
    decisions = changes.pop("decisions", None)
    if attendee_ids is not None:
        _check_attendees(session, attendee_ids)
    before = _meeting_snapshot(session, meeting)
    for field, value in changes.items():
        setattr(meeting, field, value)
    if attendee_ids is not None:
        _set_attendees(session, meeting_id, attendee_ids)
    if decisions is not None:
        _set_decisions(session, meeting_id, data.decisions or [])
    if attendee_ids is not None or decisions is not None:
        meeting.updated_at = utcnow()  # a change of the lists is a new version
    session.flush()
    record(
        session,
        principal,
        action="update",
        entity=MEETING_ENTITY,
        entity_id=meeting_id,
        before=before,
        after=_meeting_snapshot(session, meeting),
    )
    session.commit()
    return meeting


def delete_meeting(session: Session, principal: Principal, meeting_id: int) -> None:
    require_office(principal, N_("keep the expert committee"))
    meeting = lock_row(session, Meeting, meeting_id, N_("meeting"))
    before = _meeting_snapshot(session, meeting)
    for model in (MeetingAttendee, MeetingDecision):
        for row in session.exec(select(model).where(model.meeting_id == meeting_id)).all():
            session.delete(row)
    session.flush()
    delete_row(session, principal, meeting, MEETING_ENTITY, before)
