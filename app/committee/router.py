"""HTTP for the expert advisory committee: experts and meetings."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.committee import service
from app.committee.models import (
    ExpertCreate,
    ExpertKind,
    ExpertPublic,
    ExpertUpdate,
    MeetingCreate,
    MeetingPublic,
    MeetingUpdate,
)
from app.core.auth import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportColumn,
    ExportFormat,
    FormatQuery,
    export_response,
)
from app.core.pagination import Page, PageDep
from app.core.params import MAX_DB_ID, DbId
from app.core.versions import IfMatch, set_created, set_etag

experts_router = APIRouter(
    prefix="/experts", tags=["committee"], responses=problem_responses(401, 403, 422)
)
meetings_router = APIRouter(
    prefix="/meetings", tags=["committee"], responses=problem_responses(401, 403, 422)
)

GET_RESPONSES = problem_responses(404)
WRITE_RESPONSES = problem_responses(404, 409, 412)
DELETE_RESPONSES = problem_responses(404, 409)

EXPERT_COLUMNS = [
    ExportColumn("name", "姓名"),
    ExportColumn("organisation", "单位"),
    ExportColumn("kind", "类别"),
    ExportColumn("title", "职务/职称"),
    ExportColumn("contact", "联系方式"),
    ExportColumn("active", "在任"),
    ExportColumn("meetings_attended", "参会次数"),
]
MEETING_COLUMNS = [
    ExportColumn("meeting_date", "日期"),
    ExportColumn("topic", "议题"),
    ExportColumn("location", "地点"),
    ExportColumn("attendee_names", "参会专家"),
    ExportColumn("decision_lines", "决议"),
    ExportColumn("open_decisions", "未完成决议"),
]


@experts_router.get("", response_model=Page[ExpertPublic], responses=EXPORT_RESPONSES)
def experts_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    kind: ExpertKind | None = None,
    active: bool | None = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Part of the name or organisation")
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """The committee's experts by name, with how many meetings each attended. The office,
    auditors (leadership group, experts) and admins read them."""
    filters: dict[str, Any] = {"kind": kind, "active": active, "q": q}
    if format != ExportFormat.json:
        items = service.experts_for_export(session, principal, **filters)
        return export_response(items, EXPERT_COLUMNS, format, "experts")
    return service.list_experts(session, principal, page, **filters)


@experts_router.post(
    "",
    response_model=ExpertPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
def experts_create(
    session: SessionDep, principal: CurrentPrincipal, data: ExpertCreate, response: Response
) -> ExpertPublic:
    """Add an expert to the committee (academic office)."""
    expert = service.create_expert(session, principal, data)
    assert expert.id is not None
    set_created(response, "experts", expert.id, expert.version)
    return service.get_expert(session, principal, expert.id)


@experts_router.get("/{expert_id}", response_model=ExpertPublic, responses=GET_RESPONSES)
def experts_get(
    session: SessionDep, principal: CurrentPrincipal, expert_id: DbId, response: Response
) -> ExpertPublic:
    expert = service.get_expert(session, principal, expert_id)
    set_etag(response, expert.version)
    return expert


@experts_router.patch("/{expert_id}", response_model=ExpertPublic, responses=WRITE_RESPONSES)
def experts_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    expert_id: DbId,
    data: ExpertUpdate,
    if_match: IfMatch,
    response: Response,
) -> ExpertPublic:
    """Change an expert (academic office; `If-Match`)."""
    expert = service.update_expert(session, principal, expert_id, data, if_match)
    set_etag(response, expert.version)
    return service.get_expert(session, principal, expert_id)


@experts_router.delete(
    "/{expert_id}", status_code=status.HTTP_204_NO_CONTENT, responses=DELETE_RESPONSES
)
def experts_delete(session: SessionDep, principal: CurrentPrincipal, expert_id: DbId) -> None:
    """Delete an expert who attended no meeting (409 otherwise: set `active` false)."""
    service.delete_expert(session, principal, expert_id)


# --- meetings --------------------------------------------------------------------------------


def _meeting_item(meeting: MeetingPublic) -> dict[str, Any]:
    return {
        **meeting.__dict__,
        "attendee_names": [a.name for a in meeting.attendees],
        "decision_lines": "\n".join(
            f"{d.text}（{d.owner}{'，' + d.due_date.isoformat() if d.due_date else ''}"
            f"{'，已完成' if d.done else ''}）"
            for d in meeting.decisions
        ),
    }


@meetings_router.get("", response_model=Page[MeetingPublic], responses=EXPORT_RESPONSES)
def meetings_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    date_from: Annotated[date | None, Query(description="Meetings on or after this day")] = None,
    date_to: Annotated[date | None, Query(description="Meetings on or before this day")] = None,
    expert_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="Meetings this expert attended")
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """The committee's meetings, newest first, with attendees, minutes and decisions."""
    filters: dict[str, Any] = {"date_from": date_from, "date_to": date_to, "expert_id": expert_id}
    if format != ExportFormat.json:
        items = service.meetings_for_export(session, principal, **filters)
        return export_response(
            [_meeting_item(m) for m in items], MEETING_COLUMNS, format, "meetings"
        )
    return service.list_meetings(session, principal, page, **filters)


@meetings_router.post(
    "",
    response_model=MeetingPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
def meetings_create(
    session: SessionDep, principal: CurrentPrincipal, data: MeetingCreate, response: Response
) -> MeetingPublic:
    """Record a meeting with its attendees (experts), minutes and decisions, each with an
    owner and a due date (academic office)."""
    meeting = service.create_meeting(session, principal, data)
    assert meeting.id is not None
    set_created(response, "meetings", meeting.id, meeting.version)
    return service.get_meeting(session, principal, meeting.id)


@meetings_router.get("/{meeting_id}", response_model=MeetingPublic, responses=GET_RESPONSES)
def meetings_get(
    session: SessionDep, principal: CurrentPrincipal, meeting_id: DbId, response: Response
) -> MeetingPublic:
    meeting = service.get_meeting(session, principal, meeting_id)
    set_etag(response, meeting.version)
    return meeting


@meetings_router.patch("/{meeting_id}", response_model=MeetingPublic, responses=WRITE_RESPONSES)
def meetings_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    meeting_id: DbId,
    data: MeetingUpdate,
    if_match: IfMatch,
    response: Response,
) -> MeetingPublic:
    """Change a meeting (academic office; `If-Match`). `attendee_ids` and `decisions`, when
    sent, replace the whole list (e.g. to mark a decision done)."""
    meeting = service.update_meeting(session, principal, meeting_id, data, if_match)
    set_etag(response, meeting.version)
    return service.get_meeting(session, principal, meeting_id)


@meetings_router.delete(
    "/{meeting_id}", status_code=status.HTTP_204_NO_CONTENT, responses=DELETE_RESPONSES
)
def meetings_delete(session: SessionDep, principal: CurrentPrincipal, meeting_id: DbId) -> None:
    """Delete a meeting with its attendance and decisions (academic office)."""
    service.delete_meeting(session, principal, meeting_id)
