"""Schemas for reading audit events; the table itself is ``app.core.audit.AuditEvent``."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventFilters(BaseModel):
    """Filters of the audit events list."""

    entity: str | None = Field(None, max_length=50, description="e.g. `user`")
    entity_id: str | None = Field(None, max_length=64, description="The changed row's id")
    actor: str | None = Field(None, max_length=100, description="e.g. `user:admin`")
    action: str | None = Field(None, max_length=50, description="e.g. `update`")
    since: datetime | None = Field(None, description="From this time (inclusive)")
    until: datetime | None = Field(None, description="Before this time")


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime = Field(description="When the change was committed (UTC)")
    actor: str = Field(description="`user:<username>`, `api-key:<id>:<name>` or `system`")
    actor_role: str | None
    actor_user_id: int | None
    actor_api_key_id: int | None
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class ChangeFeedItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(
        description="The cursor: pass the last item's id as `after` (ids in a batch are in "
        "commit order, not always ascending)"
    )
    created_at: datetime
    action: str
    entity: str
    entity_id: str
    actor: str
    rows: dict[str, Any] | None = Field(
        None,
        description="For an upload (`action` `import`, `entity` `import_batch`): the rows it "
        "wrote — `changed_at` (their `updated_at`), `created_ids` and `updated_ids` of the "
        "uploaded kind, or `ids_omitted` when there were over 10,000 of either: then read the "
        "kind's list with `updated_since=changed_at`. Null for other events, whose row is "
        "`entity` / `entity_id`",
    )


class ChangeFeed(BaseModel):
    """One batch of the change feed, oldest first."""

    items: list[ChangeFeedItem]
    after: int = Field(description="The cursor this batch started after")
    next_after: int = Field(description="Pass this as `after` in the next poll")
    has_more: bool = Field(description="True when more changes are waiting right now")
    limit: int
