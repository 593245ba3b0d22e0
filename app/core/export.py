"""The one export writer: any list as CSV (UTF-8 with BOM, formulas neutralised) or .xlsx."""

import csv
import io
import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Query
from fastapi.responses import StreamingResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from pydantic import BaseModel
from sqlmodel import Session

from app.core.errors import UnprocessableEntity

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 64 * 1024
SPOOL_BYTES = 8 * 1024 * 1024


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


FormatQuery = Annotated[
    ExportFormat,
    Query(
        description="`json` (one page), or every matching row as `csv` (UTF-8 with BOM) or "
        "`xlsx`, with Chinese column headers; `limit`/`offset` apply to json only"
    ),
]

EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page as JSON, or every matching row as CSV or XLSX (`format`)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


EXPORT_MAX_ROWS = 200_000


def fetch_for_export(session: Session, statement: Any, order_by: Sequence[Any]) -> list[Any]:
    """Every row ``statement`` matches, in order, for a CSV/XLSX export; 422 rather than a
    silently cut file when there are more than ``EXPORT_MAX_ROWS``."""
    rows = list(session.exec(statement.order_by(*order_by).limit(EXPORT_MAX_ROWS + 1)).all())
    if len(rows) > EXPORT_MAX_ROWS:
        raise UnprocessableEntity(
            f"More than {EXPORT_MAX_ROWS:,} rows match; narrow the filters to export them",
            code="export_too_large",
            errors=[{"field": "query", "message": f"more than {EXPORT_MAX_ROWS} rows match"}],
        )
    return rows


@dataclass(frozen=True)
class ExportColumn:
    key: str
    header: str


def cell_text(value: Any) -> str | int | float:
    """A value as a spreadsheet shows it: lists joined with 、, enums by value, None as blank."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return "、".join(str(cell_text(v)) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, int | float):
        return value
    return str(value)


def neutralise(value: str | int | float) -> str | int | float:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _values(item: BaseModel | Mapping[str, Any], columns: Sequence[ExportColumn]) -> list[Any]:
    data = item if isinstance(item, Mapping) else item.__dict__
    return [cell_text(data.get(c.key)) for c in columns]


def _csv_chunks(
    items: Iterable[BaseModel | Mapping[str, Any]], columns: Sequence[ExportColumn]
) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([c.header for c in columns])
    for item in items:
        writer.writerow([neutralise(v) for v in _values(item, columns)])
        if buffer.tell() >= CHUNK_SIZE:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _xlsx_chunks(
    items: Iterable[BaseModel | Mapping[str, Any]],
    columns: Sequence[ExportColumn],
    sheet_title: str,
) -> Iterator[bytes]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title[:31])
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column.header)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for item in items:
        row = []
        for value in _values(item, columns):
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text: no formulas, codes keep leading zeros
            row.append(cell)
        sheet.append(row)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        workbook.save(spool)
        spool.seek(0)
        while chunk := spool.read(CHUNK_SIZE):
            yield chunk


def export_response(
    items: Iterable[BaseModel | Mapping[str, Any]],
    columns: Sequence[ExportColumn],
    fmt: ExportFormat,
    filename: str,
) -> StreamingResponse:
    """Stream ``items`` as CSV or XLSX named ``filename`` (without extension)."""
    if fmt == ExportFormat.csv:
        body: Iterator[bytes] = _csv_chunks(items, columns)
        media_type = CSV_MEDIA_TYPE
    else:
        body = _xlsx_chunks(items, columns, filename)
        media_type = XLSX_MEDIA_TYPE
    name = f"{filename}.{fmt.value}"
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return StreamingResponse(
        body, media_type=media_type, headers={"Content-Disposition": disposition}
    )
