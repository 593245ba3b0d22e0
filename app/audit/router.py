"""HTTP for the audit trail (people) and the change feed (other campus systems)."""

from typing import Annotated, Any

from fastapi import Depends, Query

from app.audit import service
from app.audit.models import AuditEventPublic, ChangeFeed
from app.core.auth import require_roles
from app.core.db import SessionDep
from app.core.export import (
    XLSX_MEDIA_TYPE,
    ExportFormat,
    export_response,
)
from app.core.pagination import MAX_LIMIT
from app.core.params import MAX_DB_ID
from app.core.roles import Principal, Role
from app.core.routes import Routes, domain_router

router = domain_router("", "audit")

AuditReader = Annotated[Principal, Depends(require_roles(Role.admin, Role.auditor))]
FeedReader = Annotated[
    Principal, Depends(require_roles(Role.admin, Role.auditor, Role.academic_office))
]

FeedFormat = Annotated[
    ExportFormat,
    Query(
        description="`json`, or the same batch as `csv` (UTF-8 with BOM) or `xlsx`, with "
        "Chinese column headers (the next cursor is the last row's ID)"
    ),
]
FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One batch of the feed as JSON, or the same batch as CSV or XLSX",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


Routes(
    router,
    AuditEventPublic,
    id_name="event_id",
    prefix="/audit-events",
    principal=AuditReader,
    noun="审计事件",
).list(service.EVENTS, "Every recorded change with its before and after values, newest first.")


@router.get(
    "/events", response_model=ChangeFeed, responses=FEED_RESPONSES, summary="变更订阅（增量拉取）"
)
def events_feed(
    session: SessionDep,
    _reader: FeedReader,
    after: Annotated[
        int,
        Query(ge=0, le=MAX_DB_ID, description="The id of the last event handed to you, or 0"),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    format: FeedFormat = ExportFormat.json,
) -> Any:
    """The ordered change feed: poll with the `next_after` of the previous answer (the id of
    the last event you were handed; 0 to start) and fetch the entities that changed. Events
    come in commit order: by the transaction that wrote them, then by id, and an event is
    handed out only once every older transaction has ended, so nothing is missed or seen twice
    even when writes commit out of id order. Ids within a batch are therefore not always
    ascending: always resume from the last item (`next_after`), never from the largest id.
    An `after` that names no event is refused (422). As CSV or XLSX (`format`) it holds the
    same batch; the next `after` is its last row's ID."""
    feed = service.change_feed(session, after, limit)
    if format == ExportFormat.json:
        return feed
    return export_response(
        feed.items, service.FEED_COLUMNS, format, service.FEED_FILENAME, sheet=service.FEED_SHEET
    )
