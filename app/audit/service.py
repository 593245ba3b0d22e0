"""Queries over the audit trail."""

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.audit.models import AuditEventPublic, ChangeFeed, ChangeFeedItem
from app.core.audit import AuditEvent
from app.core.pagination import Page, PageParams, paginate

EVENT_ORDER = [col(AuditEvent.id).desc()]


def list_events(session: Session, page: PageParams, **filters: Any) -> Page[AuditEventPublic]:
    statement = events_statement(**filters)
    return paginate(session, statement, page, EVENT_ORDER, AuditEventPublic.model_validate)


def events_statement(
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    """The events matching the list's filters (for a page or an export)."""
    statement = select(AuditEvent)
    if entity:
        statement = statement.where(AuditEvent.entity == entity)
    if entity_id:
        statement = statement.where(AuditEvent.entity_id == entity_id)
    if actor:
        statement = statement.where(AuditEvent.actor == actor)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if since:
        statement = statement.where(AuditEvent.created_at >= since)
    if until:
        statement = statement.where(AuditEvent.created_at < until)
    return statement


def change_feed(session: Session, after: int, limit: int) -> ChangeFeed:
    rows = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.id) > after)
        .order_by(col(AuditEvent.id))
        .limit(limit + 1)
    ).all()
    items = [ChangeFeedItem.model_validate(row) for row in rows[:limit]]
    return ChangeFeed(
        items=items,
        after=after,
        next_after=items[-1].id if items else after,
        has_more=len(rows) > limit,
        limit=limit,
    )
