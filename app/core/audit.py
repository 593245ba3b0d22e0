"""The audit trail: one ``AuditEvent`` per change, written in the same transaction as the change."""

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import JSON, Field, Session, SQLModel

from app.core.context import current_request_id
from app.core.locks import AUDIT_FEED_KEY, advisory_lock
from app.core.models import Timestamped
from app.core.roles import Principal

SECRET_FIELDS = frozenset({"password_hash", "key_hash", "password"})


class AuditEvent(Timestamped, table=True):
    """An immutable record of one change; also the integration change feed."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_entity_entity_id", "entity", "entity_id"),
        sa.Index("ix_audit_events_created_at", "created_at"),
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
    record(
        session,
        principal,
        action=action,
        entity=entity,
        entity_id=getattr(row, "id", None),
        before=before,
        after={**(snapshot(row) or {}), **(extra_after or {})},
    )
    session.commit()


def record(
    session: Session,
    principal: Principal | None,
    *,
    action: str,
    entity: str,
    entity_id: int | str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add the audit event to ``session``; the caller's commit writes it with the change.

    On PostgreSQL a transaction-scoped lock makes event ids follow commit order, so a poller
    of the change feed that has seen id N never later finds a smaller id appear.
    """
    advisory_lock(session, AUDIT_FEED_KEY)
    event = AuditEvent(
        actor=principal.label if principal else "system",
        actor_role=principal.role.value if principal else None,
        actor_user_id=principal.user_id if principal else None,
        actor_api_key_id=principal.api_key_id if principal else None,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=before,
        after=after,
        request_id=current_request_id(),
    )
    session.add(event)
    return event
