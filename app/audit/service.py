"""Queries over the audit trail: the audit events list and the change feed."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.audit.labels import AuditAction, AuditEntity
from app.audit.models import AuditEventFilters, AuditEventPublic, ChangeFeed, ChangeFeedItem
from app.core.audit import AuditEvent, feed_watermark
from app.core.errors import UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.listing import Listing, each
from app.core.roles import Principal, Role


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
    noun=N_("audit event"),
    statement=events_statement,
    order=[col(AuditEvent.id).desc()],
    to_items=each(AuditEventPublic.model_validate),
    filters=AuditEventFilters,
    key=AuditEvent.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("created_at", N_("Time")),
        ExportColumn("actor", N_("Actor")),
        ExportColumn("actor_role", N_("Role"), codes=Role),
        ExportColumn("action", N_("Action"), codes=AuditAction),
        ExportColumn("entity", N_("Entity"), codes=AuditEntity),
        ExportColumn("entity_id", N_("Entity ID")),
        ExportColumn("before", N_("Before")),
        ExportColumn("after", N_("After")),
        ExportColumn("request_id", N_("Request trace ID")),
    ],
    filename="audit-events",
    sheet=N_("Audit log"),
)


FEED_COLUMNS = [
    ExportColumn("id", N_("ID")),
    ExportColumn("created_at", N_("Time")),
    ExportColumn("action", N_("Action"), codes=AuditAction),
    ExportColumn("entity", N_("Entity"), codes=AuditEntity),
    ExportColumn("entity_id", N_("Entity ID")),
    ExportColumn("actor", N_("Actor")),
]
"""The change feed's batch as CSV or XLSX: the same items as its JSON."""
FEED_FILENAME = "events"
FEED_SHEET = N_("Change feed")


def _position(session: Session, after: int) -> tuple[int, int]:
    """The feed position ``(xact_id, id)`` of event ``after`` (before every event for 0)."""
    if after == 0:
        return (-1, 0)
    xact_id = session.exec(select(AuditEvent.xact_id).where(AuditEvent.id == after)).first()
    if xact_id is None:
        raise UnprocessableEntity(
            _(
                "No event with id {after}: pass 0, or the next_after of a previous batch",
                after=after,
            ),
            errors=[
                {"field": "query.after", "message": _("no event with id {after}", after=after)}
            ],
        )
    return (xact_id, after)


UPLOAD_ROWS = ("changed_at", "created_ids", "updated_ids", "ids_omitted")


def _feed_item(event: AuditEvent) -> ChangeFeedItem:
    """The feed's view of an event; an upload's also names the rows it wrote."""
    item = ChangeFeedItem.model_validate(event)
    if event.action == "import" and event.after:
        item.rows = {key: event.after[key] for key in UPLOAD_ROWS if key in event.after}
    return item


def change_feed(session: Session, after: int, limit: int) -> ChangeFeed:
    """The events after event ``after`` in the feed's order ``(xact_id, id)``, below the
    watermark on PostgreSQL (see :mod:`app.core.audit`): none is skipped or handed out twice."""
    position = col(AuditEvent.xact_id), col(AuditEvent.id)
    statement = select(AuditEvent).where(
        sa.tuple_(*position) > sa.tuple_(*_position(session, after))
    )
    watermark = feed_watermark(session)
    if watermark is not None:
        statement = statement.where(col(AuditEvent.xact_id) < watermark)
    rows = session.exec(statement.order_by(*position).limit(limit + 1)).all()
    items = [_feed_item(row) for row in rows[:limit]]
    return ChangeFeed(
        items=items,
        after=after,
        next_after=items[-1].id if items else after,
        has_more=len(rows) > limit,
        limit=limit,
    )
