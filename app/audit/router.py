"""HTTP for the audit trail (people) and the change feed (other campus systems)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.audit import service
from app.audit.models import AuditEventPublic, ChangeFeed
from app.core.auth import require_roles
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.pagination import MAX_LIMIT, Page, PageDep
from app.core.params import MAX_DB_ID
from app.core.roles import Principal, Role

router = APIRouter(tags=["audit"], responses=problem_responses(401, 403, 422))

AuditReader = Annotated[Principal, Depends(require_roles(Role.admin, Role.auditor))]
FeedReader = Annotated[
    Principal, Depends(require_roles(Role.admin, Role.auditor, Role.academic_office))
]


@router.get("/audit-events", response_model=Page[AuditEventPublic])
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
) -> Page[AuditEventPublic]:
    """Every recorded change with its before and after values, newest first."""
    return service.list_events(
        session,
        page,
        entity=entity,
        entity_id=entity_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
    )


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
