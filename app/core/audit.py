"""The audit trail: one ``AuditEvent`` per change, written in the same transaction as the change.

The events are also the change feed (``GET /api/v1/events``, :mod:`app.audit.service`), which
other systems poll with a cursor and must never make them miss an event or see one twice. Event
ids come from a sequence, drawn when the event is inserted, so on PostgreSQL they are *not* in
commit order: a transaction that drew id 7 may commit after another one's id 8 was read. Writers
are not made to take turns to fix that (one lock held by every audited write from its event to
its commit queued every write of the service behind it); the feed orders and withholds instead.

**Position.** Each event records the id of the transaction that wrote it, ``xact_id``
(PostgreSQL: the column's default ``pg_current_xact_id()``, a 64-bit id that never wraps; SQLite:
0). The feed's order is ``(xact_id, id)``: the events of one transaction together, in the order
they were written, and transactions in the order they began to write.

**Watermark.** On PostgreSQL a poll only hands out events with ``xact_id`` below
``pg_snapshot_xmin(pg_current_snapshot())`` of the statement that reads them: every transaction
below that id has ended, so the set of events under the watermark is final — nothing can still
join it. An event of a transaction still in flight (whatever its id) is withheld until it commits
and every older transaction has ended too; it cannot be skipped, because a transaction that has
not ended has an ``xact_id`` at or above the watermark, and so above every position already
handed out.

**Cursor.** A consumer passes the id of the last event it was handed (``after``; ``next_after``
of the previous batch). The feed looks that event up, takes its position ``(xact_id, id)`` and
hands out the events after it in the feed's order, below the watermark. Every event handed out
so far lies at or before the cursor; every event not yet handed out lies after it (it was either
above the watermark, which only rises, or beyond the batch's limit). So no event is skipped and
none is handed out twice. ``after=0`` starts at the beginning; an ``after`` that names no event
is refused (422). Ids within a batch need not be ascending; positions are.

**Costs.** A long transaction anywhere in the PostgreSQL cluster holds the watermark back: the feed
then pauses (it never skips) until that transaction ends. Events written before the column
existed have ``xact_id`` 0 and come first, in id order, so cursors handed out before keep
working. The order is by writing transaction, not strictly by commit: two transactions that
change the same row are in commit order whenever the row is locked by the transaction's first
write (every single-row update here locks its row first); a consumer that needs the latest state
fetches the entity, as the feed's description says.

**SQLite** serialises writers (``BEGIN IMMEDIATE``, and the write lock of any other writer), so
event ids follow commit order there already; ``xact_id`` is 0 and there is no watermark.

**Tamper evidence.** Every event gets a ``content_hash`` as it is inserted: SHA-256 over its
content in one canonical form (:func:`content_digest`; computed in Python, no statement and no
lock). The chain that binds the events together is sealed afterwards, in the feed's order and
only below the watermark, where the order is final: :mod:`app.audit.chain` gives each sealed
event an ``AuditSeal`` (its chain position and an HMAC over the previous link, its position and
its content hash) and keeps an ``AuditChain`` checkpoint. So a write never waits for another
writer to learn "the previous hash"; see docs/security.md for what the chain proves.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import JSON, Field, Session, SQLModel

from app.core.context import current_request_id
from app.core.models import Timestamped
from app.core.roles import Principal
from app.core.types import UTCDateTime, utcnow


class current_xact_id(FunctionElement[int]):  # noqa: N801 - named like the SQL functions
    """The writing transaction's id: ``pg_current_xact_id()`` as a bigint; 0 on SQLite."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(current_xact_id)
def _xact_id_default(_element: current_xact_id, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "0"


@compiles(current_xact_id, "postgresql")
def _xact_id_postgresql(_element: current_xact_id, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "(pg_current_xact_id()::text)::bigint"


XACT_ID_DEFAULT_POSTGRESQL = "(pg_current_xact_id()::text)::bigint"
"""The ``xact_id`` column's default on PostgreSQL (the migration sets it)."""

FEED_WATERMARK_POSTGRESQL = "(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"
"""Every transaction below this id has ended, as the reading statement's snapshot sees it."""


def feed_watermark(session: Session) -> Any:
    """The SQL expression of the feed's watermark, or None where there is none (SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return sa.text(FEED_WATERMARK_POSTGRESQL)


SECRET_FIELDS = frozenset({"password_hash", "key_hash", "password"})


class AuditEvent(Timestamped, table=True):
    """An immutable record of one change; also the integration change feed."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_entity_entity_id", "entity", "entity_id"),
        sa.Index("ix_audit_events_created_at", "created_at"),
        sa.Index("ix_audit_events_xact_id_id", "xact_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=100)
    actor_role: str | None = Field(default=None, max_length=32)
    actor_user_id: int | None = Field(default=None)
    actor_api_key_id: int | None = Field(default=None)
    action: str = Field(max_length=50)
    entity: str = Field(max_length=50)
    entity_id: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    request_id: str | None = Field(default=None, max_length=128)
    xact_id: int | None = Field(
        default=None,
        sa_type=sa.BigInteger,
        nullable=False,
        sa_column_kwargs={"server_default": current_xact_id()},
        description="The writing transaction (the database fills it in): the feed's order",
    )
    content_hash: str | None = Field(
        default=None,
        max_length=64,
        description="SHA-256 of the content (content_digest), set when the event is inserted; "
        "null only for events written before the trail was hashed",
    )


CONTENT_FIELDS = (
    "created_at",
    "actor",
    "actor_role",
    "actor_user_id",
    "actor_api_key_id",
    "action",
    "entity",
    "entity_id",
    "before",
    "after",
    "request_id",
)
"""What an event's content hash covers: everything but the id and ``xact_id`` (the database
hands those out on insert; the chain's seal binds them) and ``updated_at``."""


def content_digest(event: Any) -> str:
    """The SHA-256 (hex) of an event's content: ``CONTENT_FIELDS`` as canonical JSON (sorted
    keys, no spaces, times in UTC ISO 8601), the same for the object written and the row read
    back on either database."""
    content = {name: getattr(event, name) for name in CONTENT_FIELDS}
    created_at: datetime | None = content["created_at"]
    if created_at is not None:
        content["created_at"] = created_at.astimezone(UTC).isoformat()
    # First as the JSON column stores it (keys become strings, tuples lists), then canonical.
    stored = json.loads(json.dumps(content))
    text = json.dumps(stored, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@sa.event.listens_for(AuditEvent, "before_insert")
def _hash_content(_mapper: Any, _connection: Any, event: AuditEvent) -> None:
    """An event inserted through the ORM (a data fix, a test) carries the hash of what it says
    too: part of the INSERT, no statement of its own. :func:`record` computes it itself."""
    event.content_hash = content_digest(event)


_INSERT_EVENT = sa.insert(AuditEvent.__table__).returning(  # type: ignore[attr-defined]
    AuditEvent.__table__.c.id  # type: ignore[attr-defined]
)


class AuditSeal(SQLModel, table=True):
    """One sealed event's link in the chain (written by :mod:`app.audit.chain`, never by a
    request): its position and ``HMAC(key, previous link, position, id, xact_id, content)``."""

    __tablename__ = "audit_seals"

    event_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(sa_type=sa.BigInteger, unique=True, description="1, 2, 3, … in feed order")
    chain_hash: str = Field(max_length=64)


class AuditChain(SQLModel, table=True):
    """The chain's checkpoint, one row (id 1): how far it is sealed and the last link, under an
    HMAC of its own, so deleting the newest sealed events or the seals shows."""

    __tablename__ = "audit_chain"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_seq: int = Field(default=0, sa_type=sa.BigInteger)
    last_event_id: int | None = Field(default=None)
    last_xact_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    last_hash: str | None = Field(default=None, max_length=64)
    sealed_below: int = Field(
        default=0,
        sa_type=sa.BigInteger,
        description="PostgreSQL: every event of a transaction below this id is sealed",
    )
    legacy_max_id: int = Field(
        default=0, description="Events up to this id were written before content hashes"
    )
    key_check: str | None = Field(default=None, max_length=64)
    checkpoint_hash: str | None = Field(default=None, max_length=64)
    sealed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def snapshot(obj: BaseModel | None) -> dict[str, Any] | None:
    """The JSON form of a row for ``before``/``after``, with secrets left out."""
    if obj is None:
        return None
    return obj.model_dump(mode="json", exclude=set(SECRET_FIELDS))


def apply_changes(
    session: Session,
    principal: Principal | None,
    row: SQLModel,
    changes: dict[str, Any],
    entity: str,
    extra_before: dict[str, Any] | None = None,
    extra_after: dict[str, Any] | None = None,
    action: str = "update",
) -> None:
    """Set ``changes`` on ``row``, record the change (an ``update``, or a workflow ``action``
    such as ``submit``) with before/after, and commit."""
    before = {**(snapshot(row) or {}), **(extra_before or {})}
    for field, value in changes.items():
        setattr(row, field, value)
    session.flush()
    record_row(session, principal, row, entity, action=action, before=before, extra=extra_after)
    session.commit()


@dataclass(frozen=True)
class Recorded:
    """An audit event as written: its id (the database's)."""

    id: int


def record(
    session: Session,
    principal: Principal | None,
    *,
    action: str,
    entity: str,
    entity_id: int | str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> Recorded:
    """Write the audit event in ``session``'s transaction; the caller's commit keeps it with
    the change.

    One ``INSERT … RETURNING id``, no ORM object: every audited write pays for it. The content
    hash is computed here, as :func:`_hash_content` does for an event inserted through the ORM.
    No lock: the feed's order and watermark (see the module's description) keep a poller from
    missing an event whose transaction commits late."""
    now = utcnow()
    values: dict[str, Any] = {
        "created_at": now,
        "updated_at": now,
        "actor": principal.label if principal else "system",
        "actor_role": principal.role.value if principal else None,
        "actor_user_id": principal.user_id if principal else None,
        "actor_api_key_id": principal.api_key_id if principal else None,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
        "request_id": current_request_id(),
    }
    values["content_hash"] = content_digest(SimpleNamespace(**values))
    event_id = session.execute(_INSERT_EVENT, values).scalar_one()
    return Recorded(id=event_id)


def record_row(
    session: Session,
    principal: Principal | None,
    row: SQLModel,
    entity: str,
    *,
    action: str = "create",
    before: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Recorded:
    """:func:`record` of ``row`` as it now is (flushed, so it has its id), with ``extra``
    values beside its columns: a creation, or a change or workflow ``action`` whose
    ``before`` the caller took."""
    after = snapshot(row)
    if extra:
        after = {**(after or {}), **extra}
    return record(
        session,
        principal,
        action=action,
        entity=entity,
        entity_id=getattr(row, "id", None),
        before=before,
        after=after,
    )


def save_new(
    session: Session, principal: Principal | None, row: SQLModel, entity: str, **after: Any
) -> None:
    """Add ``row``, record its creation (its values, and ``after``'s extra ones) and commit."""
    session.add(row)
    session.flush()
    record_row(session, principal, row, entity, extra=after)
    session.commit()


def delete_row(
    session: Session,
    principal: Principal | None,
    row: SQLModel,
    entity: str,
    before: dict[str, Any] | None = None,
) -> None:
    """Delete ``row``, record its values as they were (or ``before``, when the caller took
    them with related rows it has deleted), and commit."""
    before = snapshot(row) if before is None else before
    row_id = getattr(row, "id", None)
    session.delete(row)
    session.flush()
    record(session, principal, action="delete", entity=entity, entity_id=row_id, before=before)
    session.commit()
