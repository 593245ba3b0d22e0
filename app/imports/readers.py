"""Turn an uploaded spreadsheet (.xlsx, .csv in UTF-8/BOM/GB18030, .tsv) into rows of text."""

import codecs
import csv
import io
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

from app.core.errors import AppError, PayloadTooLarge, UnprocessableEntity
from app.core.i18n import N_

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_XLSX_BYTES = 400 * 1024 * 1024
XLSX_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"
ACCEPTED = ".xlsx, .csv (UTF-8, UTF-8 with BOM, GB18030/GBK) or .tsv"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    title = N_("Unsupported media type")


def read_rows(filename: str, content: bytes) -> list[list[str]]:
    """Every row of the first sheet as text (not yet stripped: the engine strips the cells it
    uses); index ``i`` is spreadsheet row ``i + 1``."""
    if not content:
        raise UnprocessableEntity(
            "The file is empty: upload a spreadsheet with a header row and at least one data row",
            code="empty_file",
            errors=[{"field": "file", "message": "empty file"}],
        )
    extension = PurePath(filename or "").suffix.lower()
    if content.startswith(OLE_MAGIC):
        raise UnsupportedMediaType(
            "This is an old .xls (or another OLE) file; save it as .xlsx and upload again. "
            f"Accepted: {ACCEPTED}"
        )
    if content.startswith(ZIP_MAGIC):
        return _xlsx_rows(content)
    if extension in XLSX_EXTENSIONS:
        raise UnsupportedMediaType(
            f"{filename!r} is named .xlsx but is not an Excel workbook. Accepted: {ACCEPTED}"
        )
    if extension in TEXT_EXTENSIONS or not extension:
        return _text_rows(content, tab=extension == ".tsv")
    raise UnsupportedMediaType(
        f"Files of type {extension!r} are not spreadsheets this service reads. Accepted: {ACCEPTED}"
    )


def cell_to_text(value: Any) -> str:
    """A cell as text; whole numbers lose the ``.0`` a spreadsheet adds (codes stay 510203)."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip()


def _check_unpacked_size(content: bytes) -> None:
    """Refuse a workbook that would unpack to more than is reasonable (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UnsupportedMediaType(
            f"The file could not be read as an .xlsx workbook. Accepted: {ACCEPTED}"
        ) from exc
    if unpacked > MAX_UNPACKED_XLSX_BYTES:
        raise PayloadTooLarge(
            f"The workbook unpacks to more than {MAX_UNPACKED_XLSX_BYTES // (1024 * 1024)} MB; "
            "split it into smaller files",
            max_bytes=MAX_UNPACKED_XLSX_BYTES,
        )


def _xlsx_rows(content: bytes) -> list[list[str]]:
    _check_unpacked_size(content)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(content))
        if not workbook.sheet_names:
            raise UnsupportedMediaType(f"The workbook has no sheets. Accepted: {ACCEPTED}")
        sheet = workbook.get_sheet_by_index(0)
        return [
            [v if type(v) is str else cell_to_text(v) for v in row]
            for row in sheet.to_python(skip_empty_area=False)
        ]
    except (CalamineError, ValueError, OSError) as exc:
        raise UnsupportedMediaType(
            f"The file could not be read as an .xlsx workbook ({type(exc).__name__}). "
            f"Accepted: {ACCEPTED}"
        ) from exc


def _decode(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        return content[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return content.decode("utf-16", errors="replace")
    if b"\x00" in content[:8192]:
        raise UnsupportedMediaType(
            f"The file is binary, not a spreadsheet this service reads. Accepted: {ACCEPTED}"
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise UnsupportedMediaType(
            "The text is neither UTF-8 nor GB18030/GBK; save it as 'CSV UTF-8' and upload again"
        ) from exc


def _first_line(text: str) -> str:
    """The first line with something on it, found without splitting the whole text."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end]
        for part in line.split("\r"):
            if part.strip():
                return part
        start = end + 1
    return ""


def _text_rows(content: bytes, *, tab: bool) -> list[list[str]]:
    text = _decode(content)
    if "\x00" in text:
        raise UnsupportedMediaType(
            f"The file is binary, not a spreadsheet this service reads. Accepted: {ACCEPTED}"
        )
    first_line = _first_line(text)
    delimiter = "\t" if tab or first_line.count("\t") > first_line.count(",") else ","
    csv.field_size_limit(1024 * 1024)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise UnprocessableEntity(
            f"The text could not be read as CSV: {exc}",
            code="unreadable_file",
            errors=[{"field": "file", "message": str(exc)}],
        ) from exc
