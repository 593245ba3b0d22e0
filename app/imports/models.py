"""Import batches (every real upload, kept) and the report an upload answers with."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlmodel import Field

from app.core.models import Schema, Timestamped


class ImportBatch(Timestamped, table=True):
    """One real (not dry-run) upload: who, when, what, and what it changed."""

    __tablename__ = "import_batches"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50, index=True)
    file_name: str = Field(max_length=255)
    sha256: str = Field(max_length=64, index=True)
    rows: int
    created: int
    updated: int
    unchanged: int
    actor: str = Field(max_length=100)
    actor_user_id: int | None = Field(default=None)
    actor_api_key_id: int | None = Field(default=None)


class ImportBatchFilters(BaseModel):
    """Filters of the import batches list."""

    kind: str | None = Field(None, max_length=50, description="Only uploads of this kind")


class ImportBatchPublic(Schema):
    id: int
    kind: str
    file_name: str
    sha256: str
    rows: int
    created: int
    updated: int
    unchanged: int
    actor: str
    actor_user_id: int | None
    actor_api_key_id: int | None
    created_at: datetime


class RowError(Schema):
    """One bad cell or row, where the user sees it in their spreadsheet."""

    row: int | None = Field(description="Row number as the spreadsheet shows it (1-based)")
    column: str | None = Field(description="The column's header as in the file")
    value: str | None = Field(description="The cell's value as read")
    reason: str = Field(description="What is wrong and what is allowed")
    field: str = Field(description="`row <n>.<column>`, the same place in one string")
    message: str = Field(description="The same as `reason`")


class ImportReport(Schema):
    """What an upload read and changed; a kind may add entries of its own (e.g. the
    ``created_certificates`` of an applications upload)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    file_name: str
    dry_run: bool
    written: bool = Field(description="True when the rows were saved (a real upload, no errors)")
    rows: int = Field(description="Data rows read (blank rows skipped)")
    created: int
    updated: int
    unchanged: int
    also_created: dict[str, int] = Field(
        default_factory=dict, description="Related rows created on the way, e.g. colleges"
    )
    ignored_columns: list[str] = Field(default_factory=list)
    errors: list[RowError] = Field(default_factory=list)
    errors_total: int = 0
    batch_id: int | None = None
