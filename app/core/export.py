"""The one export writer: any stream of rows as CSV (UTF-8 with BOM) or .xlsx, written as the rows
arrive, in constant memory.

Every cell passes through :func:`cell_value` (how a spreadsheet shows a value) and then the one
cleaner of its format: :func:`csv_safe` neutralises formula prefixes and anything UTF-8 cannot
encode, :func:`xlsx_safe` removes the characters XML forbids. Whatever a row holds, the file
opens: nothing raises once the response has started.

CSV is written a batch of rows at a time (the cursor's chunks, :class:`Batches`): the ``csv``
module writes the batch whole and its text is searched once; only a batch that may hold a cell
needing care is written again cell by cell (:func:`_csv_batch`). The bytes are those of
:func:`csv_cell` on every cell either way.

XLSX is written by XlsxWriter in ``constant_memory`` mode (chosen by measurement, see
``bench/export.py``): rows go to a temporary file as they are written, the workbook is zipped at
the end and streamed out in chunks."""

import csv
import io
import json
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from itertools import chain, islice
from typing import Annotated, Any
from urllib.parse import quote

import xlsxwriter
from fastapi import Query
from fastapi.responses import StreamingResponse

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST = frozenset(FORMULA_PREFIXES)
CHUNK_SIZE = 64 * 1024
BATCH_ROWS = 1000
"""Rows the CSV writer takes at a time when they do not come in batches already."""
XLSX_MAX_ROWS = 1_048_576
"""Rows of one worksheet, the header included; an export past it goes on in another sheet."""
XLSX_MAX_CELL_CHARS = 32_767
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SURROGATES = re.compile("[\ud800-\udfff]")
"""Characters XML 1.0 may not hold (control characters but tab and line ends, lone surrogates,
the two non-characters): an .xlsx cell holding one does not open."""


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


@dataclass(frozen=True)
class ExportColumn:
    """One column of an export: the item's attribute or key it shows, its header, and — for a
    list whose every column has one — the SQL expression that reads the same value straight
    from the list's statement (see :meth:`app.core.listing.Listing.export`)."""

    key: str
    header: str
    sql: Any = None


Cell = str | int | float


def cell_value(value: Any) -> Cell:
    """A value as a spreadsheet shows it: lists joined with 、, enums by value, None as blank."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list | tuple):
        return "、".join(str(cell_value(v)) for v in value)
    return str(value)


def neutralise(value: Cell) -> Cell:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe(value: Cell) -> Cell:
    """A CSV cell: formula prefixes neutralised, lone surrogates (which UTF-8 cannot encode)
    replaced by U+FFFD."""
    if isinstance(value, str):
        if not value.isascii() and SURROGATES.search(value):
            value = SURROGATES.sub("\ufffd", value)
        return neutralise(value)
    return value


def xlsx_safe(value: str) -> str:
    """An .xlsx text cell: characters XML forbids become U+FFFD, at most 32,767 characters."""
    if XML_FORBIDDEN.search(value):
        value = XML_FORBIDDEN.sub("\ufffd", value)
    if len(value) > XLSX_MAX_CELL_CHARS:
        value = value[: XLSX_MAX_CELL_CHARS - 1] + "…"
    return value


def item_rows(items: Iterable[Any], columns: Sequence[ExportColumn]) -> Iterator[list[Any]]:
    """Each item (a model or a mapping) as the row of its ``columns``' values."""
    keys = [c.key for c in columns]
    for item in items:
        data = item if isinstance(item, Mapping) else item.__dict__
        yield [data.get(key) for key in keys]


def csv_cell(value: Any) -> Cell:
    """``csv_safe(cell_value(value))``, with the common cells (text, whole numbers, blanks)
    taken first: an export calls it for every cell."""
    kind = value.__class__
    if kind is str:
        if value and value[0] in FORMULA_FIRST:
            value = "'" + value
        if not value.isascii() and SURROGATES.search(value):
            value = SURROGATES.sub("\ufffd", value)
        return value  # type: ignore[no-any-return]
    if kind is int or value is None:
        return "" if value is None else value
    return csv_safe(cell_value(value))


class Batches:
    """Rows that arrive in batches (an export's chunks, as fetched from the cursor): iterating
    gives the rows one by one; the CSV writer takes a batch at a time (:func:`batches_of`)."""

    __slots__ = ("batches",)

    def __init__(self, batches: Iterable[Sequence[Sequence[Any]]]) -> None:
        self.batches = iter(batches)

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return chain.from_iterable(self.batches)


def batches_of(rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Sequence[Any]]]:
    """``rows`` in batches: their own when they are :class:`Batches`, else ``BATCH_ROWS`` at a
    time."""
    if isinstance(rows, Batches):
        return rows.batches
    iterator = iter(rows)
    return iter(lambda: list(islice(iterator, BATCH_ROWS)), [])


PLAIN_TYPES = frozenset({str, int, float, type(None)})
"""Values the ``csv`` module writes as it would write their :func:`csv_cell` (text once it is
known to be safe: see :func:`_csv_batch`)."""
FORMULA_STARTS = (
    *(
        (prefix, tuple(f"{before}{quote}{prefix}" for before in ",\n" for quote in ("", '"')))
        for prefix in "=+-@\t"
    ),
    ('"\r', (',"\r', '\n"\r')),
)
"""How a field that starts with a formula prefix can begin in CSV text: after the delimiter or a
line's end, quoted or not (a field holding a carriage return is always quoted), each after
what all of them hold, searched for first."""


def _may_start_a_formula(text: str) -> bool:
    """Whether some field of ``text`` (whole CSV lines) may start with a formula prefix: a
    substring search that can answer yes wrongly (a negative number, a quoted comma followed by
    ``=``), never no wrongly."""
    head = "\n" + text[:2]
    return any(
        mark in text and any(start in text or start in head for start in starts)
        for mark, starts in FORMULA_STARTS
    )


def _plain_rows(batch: Sequence[Sequence[Any]]) -> Iterable[Sequence[Any]] | None:
    """The batch as cells the ``csv`` module writes as :func:`csv_cell` would once the text is
    safe: a column holding anything but text, numbers and blanks goes through
    :func:`csv_cell`; ``None`` when the rows differ in length."""
    if len(set(map(len, batch))) > 1:
        return None
    if PLAIN_TYPES.issuperset(map(type, chain.from_iterable(batch))):
        return batch
    columns: list[Sequence[Any]] = list(zip(*batch, strict=True))
    for index, column in enumerate(columns):
        if not PLAIN_TYPES.issuperset(map(type, column)):
            columns[index] = tuple(map(csv_cell, column))
    return zip(*columns, strict=True)


def _taken(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _csv_batch(batch: Sequence[Sequence[Any]], buffer: io.StringIO, writer: Any) -> bytes:
    """A batch of rows as CSV bytes, exactly as :func:`csv_cell` on every cell writes them.

    The batch is written whole by the ``csv`` module (C code) and its text then searched once:
    when no field may start with a formula prefix and the text encodes (no lone surrogate), it
    is what the cell-by-cell way writes. Otherwise the batch is written again cell by cell."""
    rows = _plain_rows(batch)
    if rows is not None:
        writer.writerows(rows)
        text = _taken(buffer)
        if not _may_start_a_formula(text):
            try:
                return text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: made safe cell by cell below
                pass
    write, cell = writer.writerow, csv_cell
    for row in batch:
        write([cell(value) for value in row])
    return _taken(buffer).encode("utf-8")


def csv_chunks(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> Iterator[bytes]:
    """``rows`` of values as CSV bytes, at least ``CHUNK_SIZE`` at a time (but the last), the
    first with a BOM; every cell as :func:`csv_cell` makes it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([csv_cell(h) for h in headers])
    pieces = [_taken(buffer).encode("utf-8")]
    size = len(pieces[0])
    for batch in batches_of(rows):
        piece = _csv_batch(batch, buffer, writer)
        pieces.append(piece)
        size += len(piece)
        if size >= CHUNK_SIZE:
            yield b"".join(pieces)
            pieces, size = [], 0
    yield b"".join(pieces)


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: two for a CJK (wide) character."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def sheet_name(title: str) -> str:
    """A valid worksheet name: no ``[]:*?/\\``, at most 31 characters, never empty."""
    return SHEET_NAME_FORBIDDEN.sub("_", xlsx_safe(title))[:31].strip("'") or "Sheet1"


class _SheetWriter:
    """Rows into one workbook: a bold, frozen, filtered header on each sheet, header-fitted
    column widths, text kept as text; a sheet that fills up continues in ``<name> (2)``."""

    def __init__(
        self, workbook: Any, title: str, headers: Sequence[str], widths: Sequence[int]
    ) -> None:
        self.workbook = workbook
        self.title = sheet_name(title)
        self.headers = [xlsx_safe(h) for h in headers]
        self.widths = widths
        self.header_format = workbook.add_format({"bold": True})
        self.sheets = 0
        self.sheet: Any = None
        self.row = 0

    def _new_sheet(self) -> None:
        self._close_sheet()
        self.sheets += 1
        name = self.title if self.sheets == 1 else sheet_name(f"{self.title[:25]} ({self.sheets})")
        self.sheet = self.workbook.add_worksheet(name)
        for index, width in enumerate(self.widths):
            self.sheet.set_column(index, index, width)
        self.sheet.freeze_panes(1, 0)
        self.sheet.write_row(0, 0, self.headers, self.header_format)
        self.row = 1

    def _close_sheet(self) -> None:
        if self.sheet is not None and self.headers:
            self.sheet.autofilter(0, 0, max(self.row - 1, 0), len(self.headers) - 1)

    def write(self, values: Sequence[Any]) -> None:
        if self.sheet is None or self.row >= XLSX_MAX_ROWS:
            self._new_sheet()
        write_string = self.sheet.write_string
        write_number = self.sheet.write_number
        row = self.row
        for index, raw in enumerate(values):
            value = cell_value(raw)
            if isinstance(value, str):
                if value:
                    write_string(row, index, xlsx_safe(value))
            else:
                write_number(row, index, value)
        self.row = row + 1

    def close(self) -> None:
        if self.sheet is None:
            self._new_sheet()
        self._close_sheet()


def xlsx_chunks(
    rows: Iterable[Sequence[Any]], headers: Sequence[str], sheet_title: str
) -> Iterator[bytes]:
    """``rows`` of values as one .xlsx workbook, streamed in chunks once it is complete."""
    return xlsx_sheets_chunks([(sheet_title, headers, rows)])


def xlsx_sheets_chunks(
    sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]],
) -> Iterator[bytes]:
    """Several ``(title, headers, rows)`` as the sheets of one .xlsx workbook, each written
    as :func:`xlsx_chunks` writes its one, streamed in chunks once it is complete."""
    with tempfile.TemporaryFile() as output:
        workbook = xlsxwriter.Workbook(
            output,
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        for sheet_title, headers, rows in sheets:
            widths = [min(max(display_width(h) + 4, 10), 60) for h in headers]
            writer = _SheetWriter(workbook, sheet_title, headers, widths)
            for row in rows:
                writer.write(row)
            writer.close()
        workbook.close()
        output.seek(0)
        while chunk := output.read(CHUNK_SIZE):
            yield chunk


def attachment(filename: str, fmt: ExportFormat) -> dict[str, str]:
    """The ``Content-Disposition`` header of a download named ``filename.<fmt>``."""
    name = f"{filename}.{fmt.value}"
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return {"Content-Disposition": disposition}


def export_rows(
    rows: Iterable[Sequence[Any]], headers: Sequence[str], fmt: ExportFormat, filename: str
) -> StreamingResponse:
    """Stream ``rows`` of values (read lazily, as the file is written) as CSV or XLSX named
    ``filename``, under ``headers``."""
    if fmt == ExportFormat.csv:
        body: Iterator[bytes] = csv_chunks(rows, headers)
        media_type = CSV_MEDIA_TYPE
    else:
        body = xlsx_chunks(rows, headers, filename)
        media_type = XLSX_MEDIA_TYPE
    return StreamingResponse(body, media_type=media_type, headers=attachment(filename, fmt))


def export_response(
    items: Iterable[Any], columns: Sequence[ExportColumn], fmt: ExportFormat, filename: str
) -> StreamingResponse:
    """Stream ``items`` (models or mappings, read lazily) as CSV or XLSX of ``columns``."""
    return export_rows(item_rows(items, columns), [c.header for c in columns], fmt, filename)


def export_groups(
    groups: Sequence[tuple[str, Iterable[Any]]],
    columns: Sequence[ExportColumn],
    fmt: ExportFormat,
    filename: str,
    group_header: str = "分组",
) -> StreamingResponse:
    """Items in named groups: in XLSX one sheet per group (named after it); in CSV one table
    whose first column names the group."""
    headers = [c.header for c in columns]
    if fmt == ExportFormat.csv:
        rows = chain.from_iterable(
            ([label, *row] for row in item_rows(items, columns)) for label, items in groups
        )
        return export_rows(rows, [group_header, *headers], fmt, filename)
    body = xlsx_sheets_chunks(
        [(label, headers, item_rows(items, columns)) for label, items in groups]
    )
    return StreamingResponse(body, media_type=XLSX_MEDIA_TYPE, headers=attachment(filename, fmt))
