"""Queries over the audit trail: the audit events list and the change feed."""

from typing import Any

from sqlmodel import Session, col, select

from app.audit.models import AuditEventFilters, AuditEventPublic, ChangeFeed, ChangeFeedItem
from app.core.audit import AuditEvent
from app.core.export import ExportColumn
from app.core.listing import Listing, each
from app.core.roles import Principal


def events_statement(_session: Session, _principal: Principal, filters: AuditEventFilters) -> Any:
    """The events matching the list's filters (the reader check is the router's)."""
    statement = select(AuditEvent)
    if filters.entity:
        statement = statement.where(AuditEvent.entity == filters.entity)
    if filters.entity_id:
        statement = statement.where(AuditEvent.entity_id == filters.entity_id)
    if filters.actor:
        statement = statement.where(AuditEvent.actor == filters.actor)
    if filters.action:
        statement = statement.where(AuditEvent.action == filters.action)
    if filters.since:
        statement = statement.where(AuditEvent.created_at >= filters.since)
    if filters.until:
        statement = statement.where(AuditEvent.created_at < filters.until)
    return statement


EVENTS = Listing(
    noun="audit event",
    statement=events_statement,
    order=[col(AuditEvent.id).desc()],
    to_items=each(AuditEventPublic.model_validate),
    filters=AuditEventFilters,
    key=AuditEvent.id,
    columns=[
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
    ],
    filename="audit-events",
)


FEED_COLUMNS = [
    ExportColumn("id", "ID"),
    ExportColumn("created_at", "时间"),
    ExportColumn("action", "操作"),
    ExportColumn("entity", "对象"),
    ExportColumn("entity_id", "对象ID"),
    ExportColumn("actor", "操作者"),
]
"""The change feed's batch as CSV or XLSX: the same items as its JSON."""
FEED_FILENAME = "events"


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
