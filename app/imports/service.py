"""Uploads: who may upload which kind, the size limit, templates and the batch history."""

import io
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from pydantic import BaseModel
from sqlmodel import Session, col, or_, select

from app.core.errors import Forbidden, PayloadTooLarge
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.listing import Listing, each
from app.core.roles import READ_ALL, Principal
from app.imports.engine import ImportKind, run_import
from app.imports.models import ImportBatch, ImportBatchFilters, ImportBatchPublic, ImportReport
from app.imports.readers import MAX_UPLOAD_BYTES


def read_limited(stream: BinaryIO, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The upload's bytes, or 413 as soon as it passes ``limit`` (never more in memory)."""
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(
            _(
                "The file is larger than {mb} MB; split it into smaller files",
                mb=limit // (1024 * 1024),
            ),
            max_bytes=limit,
        )
    return content


def upload(
    session: Session,
    principal: Principal,
    kind: ImportKind,
    file_name: str,
    content: bytes,
    *,
    dry_run: bool,
    options: BaseModel | None = None,
) -> ImportReport:
    if principal.role not in kind.writers:
        allowed = ", ".join(sorted(r.value for r in kind.writers))
        raise Forbidden(
            _(
                "Role {role} may not upload {kind}; allowed roles: {allowed}",
                role=principal.role.value,
                kind=kind.name,
                allowed=allowed,
            ),
            allowed_roles=sorted(r.value for r in kind.writers),
        )
    return run_import(
        session, principal, kind, file_name, content, dry_run=dry_run, options=options
    )


def template(kind: ImportKind) -> bytes:
    """An .xlsx with the kind's Chinese headers (English name and rules in a comment on each)
    and one example row."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = kind.title[:31]
    bold = Font(bold=True)
    for index, column in enumerate(kind.columns, start=1):
        header = sheet.cell(row=1, column=index, value=column.zh)
        header.font = bold
        note = f"{column.en}" + (" (required)" if column.required else " (optional)")
        if column.help:
            note += f": {column.help}"
        header.comment = Comment(note, "onex")
        example = sheet.cell(row=2, column=index, value=column.example)
        example.data_type = "s"
        example.number_format = "@"
        sheet.column_dimensions[header.column_letter].width = max(12, len(column.zh) * 3)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def batch_statement(_session: Session, principal: Principal, filters: ImportBatchFilters) -> Any:
    """Every batch for the office, auditors and admins; their own for everyone else."""
    statement = select(ImportBatch)
    if principal.role not in READ_ALL:
        mine = []
        if principal.user_id is not None:
            mine.append(col(ImportBatch.actor_user_id) == principal.user_id)
        if principal.api_key_id is not None:
            mine.append(col(ImportBatch.actor_api_key_id) == principal.api_key_id)
        statement = (
            statement.where(or_(*mine)) if mine else statement.where(col(ImportBatch.id) < 0)
        )
    if filters.kind:
        statement = statement.where(ImportBatch.kind == filters.kind)
    return statement


BATCHES = Listing(
    noun=N_("import batch"),
    statement=batch_statement,
    order=[col(ImportBatch.id).desc()],
    to_items=each(ImportBatchPublic.model_validate),
    filters=ImportBatchFilters,
    key=ImportBatch.id,
    columns=[
        ExportColumn("id", "批次ID"),
        ExportColumn("created_at", "导入时间"),
        ExportColumn("kind", "类型"),
        ExportColumn("file_name", "文件名"),
        ExportColumn("sha256", "SHA-256"),
        ExportColumn("rows", "行数"),
        ExportColumn("created", "新增"),
        ExportColumn("updated", "更新"),
        ExportColumn("unchanged", "未变"),
        ExportColumn("actor", "操作者"),
    ],
    filename="import-batches",
)
