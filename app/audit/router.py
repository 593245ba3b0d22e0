"""HTTP for the audit trail (people) and the change feed (other campus systems)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from app.audit import service
from app.audit.models import AuditEventPublic, ChangeFeed
from app.core.auth import require_roles
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportColumn,
    ExportFormat,
    FormatQuery,
    export_response,
)
from app.core.legacy import fetch_for_export
from app.core.pagination import MAX_LIMIT, Page, PageDep
from app.core.params import MAX_DB_ID
from app.core.roles import Principal, Role

router = APIRouter(tags=["audit"], responses=problem_responses(401, 403, 422))

AuditReader = Annotated[Principal, Depends(require_roles(Role.admin, Role.auditor))]
FeedReader = Annotated[
    Principal, Depends(require_roles(Role.admin, Role.auditor, Role.academic_office))
]


EVENT_COLUMNS = [
    ExportColumn("id", "ID"),
    ExportColumn("created_at", "时间"),
    ExportColumn("actor", "操作者"),
    ExportColumn("actor_role", "角色"),
    ExportColumn("action", "操作"),
    ExportColumn("entity", "对象"),
    ExportColumn("entity_id", "对象ID"),
    ExportColumn("before", "修改前"),
    ExportColumn("after", "修改后"),
    ExportColumn("request_id", "请求ID"),
]


@router.get("/audit-events", response_model=Page[AuditEventPublic], responses=EXPORT_RESPONSES)
def audit_events_list(
    session: SessionDep,
    _reader: AuditReader,
    page: PageDep,
    entity: Annotated[str | None, Query(max_length=50, description="e.g. `user`")] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100, description="e.g. `user:admin`")] = None,
    action: Annotated[str | None, Query(max_length=50, description="e.g. `update`")] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Before this time")] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Every recorded change with its before and after values, newest first."""
    filters: dict[str, Any] = {
        "entity": entity,
        "entity_id": entity_id,
        "actor": actor,
        "action": action,
        "since": since,
        "until": until,
    }
    if format != ExportFormat.json:
        rows = fetch_for_export(session, service.events_statement(**filters), service.EVENT_ORDER)
        items = [AuditEventPublic.model_validate(e) for e in rows]
        return export_response(items, EVENT_COLUMNS, format, "audit-events")
    return service.list_events(session, page, **filters)


@router.get("/events", response_model=ChangeFeed)
def events_feed(
    session: SessionDep,
    _reader: FeedReader,
    after: Annotated[int, Query(ge=0, le=MAX_DB_ID, description="Last id already seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> ChangeFeed:
    """The ordered change feed: poll with the `next_after` of the previous answer and fetch
    the entities that changed. Ids only grow, so nothing is missed or seen twice."""
    return service.change_feed(session, after, limit)
