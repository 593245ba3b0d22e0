"""Cell parsers of the import engine: one spreadsheet cell's text in, a typed value out, or a
``CellError`` saying what the column takes. Every importer parses its cells with these."""

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from app.core.i18n import N_, _, translate
from app.core.labels import LABELS, english_of
from app.core.types import unsigned_zero

MULTI_VALUE_SEPARATORS = re.compile(r"[、，,;；\n\r]+")


class CellError(ValueError):
    """A cell that cannot be used; the message says what is allowed."""


Parser = Callable[[str], Any]
ColumnParser = Callable[[list[str]], list[Any] | None]
"""A parser's quick way through a whole column: the values of a column of stripped, non-empty
cells when every cell is one its parser takes as it is (most files' every cell), else None,
and then each cell goes through the parser. It answers as the parser would, only sooner."""


def with_column(parse: Parser, column: ColumnParser) -> Parser:
    """``parse``, with ``column`` as its quick way through a whole column."""
    parse.column = column  # type: ignore[attr-defined]
    return parse


def column_parser(parse: Parser) -> ColumnParser | None:
    """The quick way through a whole column a parser has, if any."""
    column: ColumnParser | None = getattr(parse, "column", None)
    return column


def text(max_length: int = 100) -> Parser:
    def parse(raw: str) -> str:
        value = raw.strip()
        if len(value) > max_length:
            raise CellError(
                _(
                    "at most {max_length} characters (this one has {length})",
                    max_length=max_length,
                    length=len(value),
                )
            )
        return value

    def column(values: list[str]) -> list[str] | None:
        return values if max(map(len, values), default=0) <= max_length else None

    return with_column(parse, column)


_FLOAT_CODE = re.compile(r"^\d+\.0+$")
_SCIENTIFIC = re.compile(r"^\d+(\.\d+)?[eE]\+?\d+$")
_CODE = re.compile(r"^[0-9A-Za-z_.-]+$")


def code(max_length: int = 20) -> Parser:
    """Codes and numbers kept as text: ``510203.0`` (a spreadsheet's float) reads as 510203."""

    def parse(raw: str) -> str:
        if raw.isascii() and raw.isalnum() and len(raw) <= max_length:
            return raw
        value = unicodedata.normalize("NFKC", raw).strip()
        if _FLOAT_CODE.match(value):
            value = value.split(".", 1)[0]
        elif _SCIENTIFIC.match(value):
            number = Decimal(value)
            if number == number.to_integral_value():
                value = str(int(number))
        if not _CODE.match(value):
            raise CellError(_("letters, digits, '.', '_' or '-' only"))
        if len(value) > max_length:
            raise CellError(_("at most {max_length} characters", max_length=max_length))
        return value

    def column(values: list[str]) -> list[str] | None:
        joined = "".join(values)
        plain = joined.isascii() and joined.isalnum() and all(values)
        return values if plain and max(map(len, values), default=0) <= max_length else None

    return with_column(parse, column)


def integer(low: int, high: int, suffix: str = "") -> Parser:
    def parse(raw: str) -> int:
        value = raw
        if suffix and value.endswith(suffix):
            value = value[: -len(suffix)]
        if not (value.isascii() and value.isdigit()):
            value = unicodedata.normalize("NFKC", raw).replace(" ", "").strip()
            if suffix:
                value = value.removesuffix(suffix)
            if _FLOAT_CODE.match(value):
                value = value.split(".", 1)[0]
        if not (value.isascii() and value.isdigit()) or len(value) > 9:
            if suffix:
                raise CellError(
                    _(
                        "a whole number from {low} to {high} (like {low}{suffix})",
                        low=low,
                        high=high,
                        suffix=suffix,
                    )
                )
            raise CellError(_("a whole number from {low} to {high}", low=low, high=high))
        number = int(value)
        if not low <= number <= high:
            raise CellError(_("a whole number from {low} to {high}", low=low, high=high))
        return number

    def column(values: list[str]) -> list[int] | None:
        digits = list(map(str.removesuffix, values, itertools.repeat(suffix)))
        joined = "".join(digits)
        if not (joined.isascii() and joined.isdigit() and all(digits)):
            return None
        if max(map(len, digits)) > 9:
            return None
        numbers = list(map(int, digits))
        return numbers if low <= min(numbers) and max(numbers) <= high else None

    return with_column(parse, column)


_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")
"""A number written out (``-12``, ``3.50``): never ``1e3``, ``NaN`` or ``Infinity``, which
``Decimal()`` would also take."""


def decimal(low: Decimal, high: Decimal, places: int) -> Parser:
    def parse(raw: str) -> Decimal:
        value = unicodedata.normalize("NFKC", raw).strip()
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise CellError(_("a number from {low} to {high}", low=low, high=high))
        try:
            number = Decimal(value)
        except InvalidOperation as exc:
            raise CellError(_("a number from {low} to {high}", low=low, high=high)) from exc
        if not number.is_finite() or not low <= number <= high:
            raise CellError(_("a number from {low} to {high}", low=low, high=high))
        quantum = Decimal(1).scaleb(-places)
        if number.quantize(quantum) != number:
            raise CellError(_("at most {places} decimal place(s)", places=places))
        return unsigned_zero(number.quantize(quantum))

    return parse


def split_multi(raw: str) -> list[str]:
    """A multi-value cell: parts separated by 、 ， , ; or a line break."""
    return [part.strip() for part in MULTI_VALUE_SEPARATORS.split(raw) if part.strip()]


def multi(item: Parser) -> Parser:
    def parse(raw: str) -> list[Any]:
        return [item(part) for part in split_multi(raw)]

    return parse


def choice(allowed: Sequence[str]) -> Parser:
    """One of ``allowed`` (中级), also as an English export writes it: the English label the
    catalogue translates as that value (Intermediate, in any case)."""
    english: dict[str, str] = {}

    def parse(raw: str) -> str:
        value = raw.strip()
        if value in allowed:
            return value
        if not english:
            english.update(
                (msgid.casefold(), option) for option in allowed for msgid in english_of(option)
            )
        found = english.get(unicodedata.normalize("NFKC", value).casefold())
        if found is None:
            raise CellError(_("one of {choices}", choices=", ".join(allowed)))
        return found

    return parse


_MONEY_NOISE = re.compile(r"[\s,¥￥元]")
CENT = Decimal("0.01")


def money(high: Decimal) -> Parser:
    """Yuan: ``1234.5``, ``1,234.50``, ``¥1234.50`` or ``1234.50元``; 0.01 to ``high``, two
    decimals."""

    def parse(raw: str) -> Decimal:
        value = _MONEY_NOISE.sub("", unicodedata.normalize("NFKC", raw))
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise CellError(_("an amount in yuan such as 1234.50"))
        try:
            amount = Decimal(value)
        except InvalidOperation as exc:
            raise CellError(_("an amount in yuan such as 1234.50")) from exc
        if not amount.is_finite() or not CENT <= amount <= high:
            raise CellError(_("an amount from 0.01 to {high}", high=high))
        if amount.quantize(CENT) != amount:
            raise CellError(_("at most two decimal places (fen)"))
        return amount.quantize(CENT)

    return parse


_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]00:00(:00)?)?$"
)


def date_cell(raw: str) -> date:
    """2022-03-01, 2022/3/1, 2022.3.1 or 2022年3月1日 (a spreadsheet date's midnight ignored)."""
    match = _DATE.match(unicodedata.normalize("NFKC", raw).strip())
    try:
        if match is None:
            raise ValueError
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise CellError(_("a date such as 2022-03-01 or 2022年3月1日")) from exc


def words(table: Mapping[str, Any], hint: str) -> Parser:
    """The value ``table`` gives a cell's word (lower-case words; any case and width read),
    also an enum value's label as an export writes it, in English or Chinese (In training,
    培训中); another word is refused with ``hint`` (an ``N_`` message saying the words to use)."""
    labelled: dict[str, Any] = {}

    def parse(raw: str) -> Any:
        word = unicodedata.normalize("NFKC", raw).strip().casefold()
        value = table.get(word)
        if value is None:
            if not labelled:
                labelled.update(_label_words(table.values()))
            value = labelled.get(word)
            if value is None:
                raise CellError(translate(hint))
        return value

    return parse


def _label_words(values: Iterable[Any]) -> dict[str, Any]:
    """Each enum member among ``values`` by its labels (lower-case), English and Chinese."""
    found: dict[str, Any] = {}
    for value in set(values):
        msgid = LABELS.get(type(value), {}).get(value) if isinstance(value, Enum) else None
        if msgid is not None:
            for text in (msgid, translate(msgid, "zh-CN")):
                found[unicodedata.normalize("NFKC", text).strip().casefold()] = value
    return found


def yes_no(yes: Iterable[str], no: Iterable[str], hint: str = N_("是 or 否")) -> Parser:
    """True for a word of ``yes``, False for one of ``no`` (lower-case words; any case read)."""
    return words({**dict.fromkeys(no, False), **dict.fromkeys(yes, True)}, hint)


def match_text(value: str) -> str:
    """A name as compared with stored names: NFKC, no white space, case-folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).casefold()
