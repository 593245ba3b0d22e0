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
import math
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from itertools import chain, islice
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import xlsxwriter
from fastapi import Query
from fastapi.responses import StreamingResponse

from app.core.i18n import N_
from app.core.labels import Labels

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
        description="`json` (one page, codes as they are), or every matching row as `csv` (UTF-8 "
        "with BOM) or `xlsx`, headers and enum values as people read them in the request's "
        "language (`Accept-Language`; Chinese by default): 状态 已批准, not `approved`; "
        "`limit`/`offset` apply to json only"
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
    """One column of an export: the item's attribute or key it shows, its header (an ``N_()``
    msgid, English, translated when the file is written: the Chinese is the header importers
    read), and — for a list whose every column has one — the SQL expression that reads the
    same value straight from the list's statement (see :meth:`app.core.listing.Listing.export`).
    ``percent``: the values are fractions (0.85), shown in XLSX as percent cells (85.0%).
    ``codes``: the values are an enum's codes kept as text (an audit event's role), shown by
    that enum's labels."""

    key: str
    header: str
    sql: Any = None
    percent: bool = False
    codes: type[Enum] | None = None


Cell = str | int | float


def as_fraction(percentage: float | Decimal | None) -> float | None:
    """A percentage as JSON answers it (66.7) as the fraction a ``percent`` column holds
    (0.667), shown as 66.7% in XLSX."""
    return None if percentage is None else round(float(percentage) / 100, 6)


def cell_value(value: Any, labels: Labels | None = None) -> Cell:
    """A value as a spreadsheet shows it: lists joined with 、, enums by their label (in the
    language of ``labels``, the current one by default), yes/no for a bool, None as blank."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return (labels or Labels()).of(type(value))[value]
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        labels = labels or Labels()
        return labels.yes if value else labels.no
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list | tuple):
        return "、".join(str(cell_value(v, labels)) for v in value)
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


def csv_cell(value: Any, labels: Labels | None = None) -> Cell:
    """``csv_safe(cell_value(value, labels))``, with the common cells (text, whole numbers,
    blanks) taken first: an export calls it for every cell of a column that is not plain."""
    kind = value.__class__
    if kind is str:
        if value and value[0] in FORMULA_FIRST:
            value = "'" + value
        if not value.isascii() and SURROGATES.search(value):
            value = SURROGATES.sub("\ufffd", value)
        return value  # type: ignore[no-any-return]
    if kind is int or value is None:
        return "" if value is None else value
    if kind is Decimal:
        # A number, whatever its sign: a reversal's -1280.00 stays a number Excel sums.
        return f"{value:f}"
    return csv_safe(cell_value(value, labels))


def _column_cells(column: Sequence[Any], labels: Labels) -> tuple[Any, ...]:
    """One batch's column of values as CSV cells. A column of one enum (and blanks) goes
    through that enum's label table, a dict lookup per cell; any other through
    :func:`csv_cell`."""
    enums = {value.__class__ for value in column if value is not None}
    if len(enums) == 1:
        enum = enums.pop()
        if issubclass(enum, Enum):
            table = labels.of(enum)
            return tuple("" if value is None else table[value] for value in column)
    return tuple(csv_cell(value, labels) for value in column)


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


def _plain_rows(batch: Sequence[Sequence[Any]], labels: Labels) -> Iterable[Sequence[Any]] | None:
    """The batch as cells the ``csv`` module writes as :func:`csv_cell` would once the text is
    safe: a column holding anything but text, numbers and blanks goes through
    :func:`_column_cells` (enums by their labels); ``None`` when the rows differ in length."""
    if len(set(map(len, batch))) > 1:
        return None
    if PLAIN_TYPES.issuperset(map(type, chain.from_iterable(batch))):
        return batch
    columns: list[Sequence[Any]] = list(zip(*batch, strict=True))
    for index, column in enumerate(columns):
        if not PLAIN_TYPES.issuperset(map(type, column)):
            columns[index] = _column_cells(column, labels)
    return zip(*columns, strict=True)


def _taken(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _csv_batch(
    batch: Sequence[Sequence[Any]], buffer: io.StringIO, writer: Any, labels: Labels
) -> bytes:
    """A batch of rows as CSV bytes, exactly as :func:`csv_cell` on every cell writes them.

    The batch is written whole by the ``csv`` module (C code) and its text then searched once:
    when no field may start with a formula prefix and the text encodes (no lone surrogate), it
    is what the cell-by-cell way writes. Otherwise the batch is written again cell by cell."""
    rows = _plain_rows(batch, labels)
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
        write([cell(value, labels) for value in row])
    return _taken(buffer).encode("utf-8")


def csv_chunks(
    rows: Iterable[Sequence[Any]], headers: Sequence[str], labels: Labels | None = None
) -> Iterator[bytes]:
    """``rows`` of values as CSV bytes, at least ``CHUNK_SIZE`` at a time (but the last), the
    first with a BOM: a plain table, the header row first (no title, no formats), every cell
    as :func:`csv_cell` makes it in the language of ``labels`` (enums by their labels)."""
    labels = labels or Labels()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([csv_cell(h) for h in headers])
    pieces = [_taken(buffer).encode("utf-8")]
    size = len(pieces[0])
    for batch in batches_of(rows):
        piece = _csv_batch(batch, buffer, writer, labels)
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


class _Formats:
    """The cell formats of one workbook, made once: number formats (optionally bold, for a
    totals row) and the header's and title's."""

    def __init__(self, workbook: Any) -> None:
        self.workbook = workbook
        self.made: dict[tuple[str, bool], Any] = {}
        self.header = workbook.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.bold = workbook.add_format({"bold": True})

    def number(self, num_format: str, bold: bool = False) -> Any:
        made = self.made.get((num_format, bold))
        if made is None:
            spec: dict[str, Any] = {"num_format": num_format}
            if bold:
                spec["bold"] = True
            made = self.made[num_format, bold] = self.workbook.add_format(spec)
        return made


INTEGER_FORMAT = "0"
MONEY_FORMAT = "#,##0.00"
ONE_PLACE_FORMAT = "0.0"
FLOAT_FORMAT = "0.00"
PERCENT_FORMAT = "0.0%"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DECIMAL_FORMATS = {-2: MONEY_FORMAT, -1: ONE_PLACE_FORMAT}
"""A Decimal's format by its places: money has two (``1234.50``), scores and credits one."""


class _SheetWriter:
    """Rows into one workbook: a title row when there is one, then a bold, frozen, filtered
    header; column widths fitted to the header and the first row; text kept as text, numbers
    as numbers with their format (integers, money with two places, percentages), dates and
    moments as date cells (moments in the school's time zone), enums by their labels; the
    last ``totals`` rows bold. A sheet that fills up continues in ``<name> (2)``."""

    def __init__(
        self,
        workbook: Any,
        title: str,
        headers: Sequence[str],
        labels: Labels,
        *,
        percent: Sequence[int] = (),
        heading: str = "",
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.workbook = workbook
        self.title = sheet_name(title)
        self.headers = [xlsx_safe(h) for h in headers]
        self.labels = labels
        self.formats = _Formats(workbook)
        self.percent = frozenset(percent)
        self.heading = xlsx_safe(heading)
        self.zone = ZoneInfo(timezone)
        self.sheets = 0
        self.sheet: Any = None
        self.row = 0
        self.header_row = 0
        self.filter_end: int | None = None
        self.bold = False
        self._set_formats()

    def _set_formats(self) -> None:
        number = self.formats.number
        self.integer = number(INTEGER_FORMAT, self.bold)
        self.date = number(DATE_FORMAT, self.bold)
        self.moment = number(DATETIME_FORMAT, self.bold)
        self.rate = number(PERCENT_FORMAT, self.bold)
        self.real = number(FLOAT_FORMAT, self.bold)
        self.text = self.formats.bold if self.bold else None

    def start_totals(self) -> None:
        """The rows written from now on are totals: bold, and outside the filter."""
        self.filter_end = self.row - 1
        self.bold = True
        self._set_formats()

    def _widths(self, first: Sequence[Any]) -> list[int]:
        widths = []
        for index, header in enumerate(self.headers):
            width = display_width(header) + 4
            value = first[index] if index < len(first) else None
            if isinstance(value, datetime):
                width = max(width, 20)
            elif isinstance(value, date):
                width = max(width, 12)
            elif isinstance(value, Decimal):
                width = max(width, 14)
            elif isinstance(value, str | Enum):
                width = max(width, display_width(str(cell_value(value, self.labels))) + 2)
            widths.append(min(max(width, 10), 60))
        return widths

    def _new_sheet(self, first: Sequence[Any]) -> None:
        self._close_sheet()
        self.sheets += 1
        name = self.title if self.sheets == 1 else sheet_name(f"{self.title[:25]} ({self.sheets})")
        self.sheet = self.workbook.add_worksheet(name)
        for index, width in enumerate(self._widths(first)):
            self.sheet.set_column(index, index, width)
        self.header_row = 0
        if self.heading and self.sheets == 1:
            self.sheet.write_string(0, 0, self.heading, self.formats.title)
            self.header_row = 1
        self.sheet.freeze_panes(self.header_row + 1, 0)
        self.sheet.write_row(self.header_row, 0, self.headers, self.formats.header)
        self.row = self.header_row + 1

    def _close_sheet(self) -> None:
        if self.sheet is not None and self.headers:
            end = self.filter_end if self.filter_end is not None else self.row - 1
            self.sheet.autofilter(
                self.header_row, 0, max(end, self.header_row), len(self.headers) - 1
            )

    def write(self, values: Sequence[Any]) -> None:
        if self.sheet is None or self.row >= XLSX_MAX_ROWS:
            self._new_sheet(values)
        sheet = self.sheet
        write_string = sheet.write_string
        write_number = sheet.write_number
        integer, text = self.integer, self.text
        row = self.row
        for index, raw in enumerate(values):
            kind = raw.__class__
            if kind is str:
                if raw:
                    write_string(row, index, xlsx_safe(raw), text)
            elif kind is int:
                write_number(row, index, raw, integer)
            elif raw is not None:
                self._write_other(row, index, raw)
        self.row = row + 1

    def _write_other(self, row: int, index: int, raw: Any) -> None:
        """A cell that is not plain text or a whole number."""
        sheet = self.sheet
        if isinstance(raw, Enum):
            sheet.write_string(row, index, self.labels.of(type(raw))[raw], self.text)
        elif isinstance(raw, bool):
            sheet.write_string(row, index, self.labels.yes if raw else self.labels.no, self.text)
        elif isinstance(raw, Decimal | float | int):
            self._write_number(row, index, raw)
        elif isinstance(raw, datetime):
            moment = raw if raw.tzinfo is None else raw.astimezone(self.zone).replace(tzinfo=None)
            sheet.write_datetime(row, index, moment, self.moment)
        elif isinstance(raw, date):
            sheet.write_datetime(row, index, raw, self.date)
        else:
            value = cell_value(raw, self.labels)
            if isinstance(value, str):
                if value:
                    sheet.write_string(row, index, xlsx_safe(value), self.text)
            else:
                sheet.write_number(row, index, value, self.integer)

    def _write_number(self, row: int, index: int, raw: Decimal | float | int) -> None:
        """A number cell: a Decimal formatted by its places (money two), a float with two, a
        whole number as one; a percent column as percentages. NaN and infinities stay blank."""
        if isinstance(raw, Decimal):
            if not raw.is_finite():
                return
            places = raw.as_tuple().exponent
            num_format = DECIMAL_FORMATS.get(places if isinstance(places, int) else 0, "0")
            value: float | int = float(raw)
        elif isinstance(raw, float):
            if not math.isfinite(raw):
                return
            num_format, value = FLOAT_FORMAT, raw
        else:
            num_format, value = INTEGER_FORMAT, raw
        if index in self.percent:
            num_format = PERCENT_FORMAT
        self.sheet.write_number(row, index, value, self.formats.number(num_format, self.bold))

    def close(self) -> None:
        if self.sheet is None:
            self._new_sheet(())
        self._close_sheet()


@dataclass(frozen=True)
class Sheet:
    """One sheet of an .xlsx export: its name (already in the request's language), headers and
    rows, the columns shown as percent, a ``heading`` row above the header when given (a
    report's title), and how many last rows are ``totals`` (bold, kept out of the filter)."""

    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence[Any]]
    percent: Sequence[int] = ()
    heading: str = ""
    totals: int = 0


def xlsx_chunks(
    rows: Iterable[Sequence[Any]],
    headers: Sequence[str],
    sheet_title: str,
    labels: Labels | None = None,
    *,
    percent: Sequence[int] = (),
    heading: str = "",
    totals: int = 0,
    timezone: str = "Asia/Shanghai",
) -> Iterator[bytes]:
    """``rows`` of values as one .xlsx workbook of one sheet (see :class:`Sheet`), streamed in
    chunks once it is complete."""
    sheet = Sheet(sheet_title, headers, rows, percent, heading, totals)
    return xlsx_sheets_chunks([sheet], labels, timezone=timezone)


def _write_sheet(writer: "_SheetWriter", rows: Iterable[Sequence[Any]], totals: int) -> None:
    if totals:
        listed = list(rows)
        body, tail = listed[: len(listed) - totals], listed[len(listed) - totals :]
        for row in body:
            writer.write(row)
        writer.start_totals()
        for row in tail:
            writer.write(row)
    else:
        for row in rows:
            writer.write(row)
    writer.close()


def xlsx_sheets_chunks(
    sheets: Iterable[Sheet], labels: Labels | None = None, *, timezone: str = "Asia/Shanghai"
) -> Iterator[bytes]:
    """Several sheets as one .xlsx workbook, streamed in chunks once it is complete."""
    labels = labels or Labels()
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
        for sheet in sheets:
            writer = _SheetWriter(
                workbook,
                sheet.title,
                sheet.headers,
                labels,
                percent=sheet.percent,
                heading=sheet.heading,
                timezone=timezone,
            )
            _write_sheet(writer, sheet.rows, sheet.totals)
        workbook.close()
        output.seek(0)
        while chunk := output.read(CHUNK_SIZE):
            yield chunk


def attachment(filename: str, fmt: ExportFormat) -> dict[str, str]:
    """The ``Content-Disposition`` header of a download named ``filename.<fmt>``."""
    name = f"{filename}.{fmt.value}"
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return {"Content-Disposition": disposition}


def _as_members(
    rows: Iterable[Sequence[Any]], coded: list[tuple[int, type[Enum]]]
) -> Iterable[Sequence[Any]]:
    """``rows`` with the codes of the ``coded`` columns as their enum's members (a value that
    is no code stays as it is), batch by batch when they come in batches."""
    members = [(index, {m.value: m for m in enum}) for index, enum in coded]

    def convert(row: Sequence[Any]) -> list[Any]:
        cells = list(row)
        for index, table in members:
            value = cells[index]
            if value.__class__ is str:
                cells[index] = table.get(value, value)
        return cells

    if isinstance(rows, Batches):
        return Batches([convert(row) for row in batch] for batch in rows.batches)
    return map(convert, rows)


def _timezone() -> str:
    from app.core.config import get_settings

    return get_settings().timezone


def _layout(
    columns: Sequence[ExportColumn], labels: Labels
) -> tuple[list[str], list[int], Callable[[Iterable[Sequence[Any]]], Iterable[Sequence[Any]]]]:
    """What every export takes from its columns: the headers in the labels' language, the
    columns shown as percent, and how rows get their coded text cells (``codes=``) as members."""
    headers = [labels.text(c.header) for c in columns]
    percent = [index for index, column in enumerate(columns) if column.percent]
    coded = [(index, c.codes) for index, c in enumerate(columns) if c.codes is not None]

    def as_members(rows: Iterable[Sequence[Any]]) -> Iterable[Sequence[Any]]:
        return _as_members(rows, coded) if coded else rows

    return headers, percent, as_members


def export_rows(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[ExportColumn],
    fmt: ExportFormat,
    filename: str,
    *,
    sheet: str = "",
    heading: str = "",
    totals: int = 0,
) -> StreamingResponse:
    """Stream ``rows`` of values (read lazily, as the file is written) as CSV or XLSX named
    ``filename``, under the ``columns``' headers, in the request's language (taken now: the
    file is written after the endpoint returns). ``sheet`` is the XLSX sheet's name (an
    ``N_()`` msgid); ``heading`` a title row above the XLSX header (already in the language);
    ``totals`` how many last rows are totals (bold in XLSX). CSV stays a plain table."""
    labels = Labels()
    headers, percent, as_members = _layout(columns, labels)
    rows = as_members(rows)
    if fmt == ExportFormat.csv:
        body: Iterator[bytes] = csv_chunks(rows, headers, labels)
        media_type = CSV_MEDIA_TYPE
    else:
        body = xlsx_chunks(
            rows,
            headers,
            labels.text(sheet) if sheet else filename,
            labels,
            percent=percent,
            heading=heading,
            totals=totals,
            timezone=_timezone(),
        )
        media_type = XLSX_MEDIA_TYPE
    return StreamingResponse(body, media_type=media_type, headers=attachment(filename, fmt))


def export_response(
    items: Iterable[Any],
    columns: Sequence[ExportColumn],
    fmt: ExportFormat,
    filename: str,
    *,
    sheet: str = "",
    heading: str = "",
    totals: int = 0,
) -> StreamingResponse:
    """Stream ``items`` (models or mappings, read lazily) as CSV or XLSX of ``columns``."""
    return export_rows(
        item_rows(items, columns),
        columns,
        fmt,
        filename,
        sheet=sheet,
        heading=heading,
        totals=totals,
    )


def export_groups(
    groups: Sequence[tuple[str, Iterable[Any]]],
    columns: Sequence[ExportColumn],
    fmt: ExportFormat,
    filename: str,
    group_header: str = N_("Group"),
) -> StreamingResponse:
    """Items in named groups (names already in the request's language): in XLSX one sheet per
    group, named after it; in CSV one table whose first column names the group."""
    if fmt == ExportFormat.csv:
        rows = chain.from_iterable(
            ([label, *row] for row in item_rows(items, columns)) for label, items in groups
        )
        return export_rows(rows, [ExportColumn("group", group_header), *columns], fmt, filename)
    labels = Labels()
    headers, percent, as_members = _layout(columns, labels)
    sheets = (
        Sheet(label, headers, as_members(item_rows(items, columns)), percent)
        for label, items in groups
    )
    body = xlsx_sheets_chunks(sheets, labels, timezone=_timezone())
    return StreamingResponse(body, media_type=XLSX_MEDIA_TYPE, headers=attachment(filename, fmt))
