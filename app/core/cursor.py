"""The opaque ``next`` cursor of a list: the default-order key of a page's last row, and the
total counted on the walk's first page, so a deep page costs what the first does.

A cursor is URL-safe base64 of JSON; each key value carries its type, so the next page compares
dates with dates and numbers with numbers. A cursor that was not made here is refused with 422,
never a 500."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from app.core.errors import UnprocessableEntity
from app.core.i18n import _

MAX_CURSOR_LENGTH = 1000


@dataclass(frozen=True)
class Cursor:
    key: tuple[Any, ...]
    """The last row's value of each term of the list's order."""
    total: int | None
    """How many rows matched when the walk began (None: more than it counted)."""


def _tagged(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, Enum):
        return ["s", str(value.value)]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    raise TypeError(f"a list's order cannot page by a {type(value).__name__}")


def _untagged(tag: Any, raw: Any) -> Any:
    readers: dict[str, Any] = {
        "b": lambda v: v if isinstance(v, bool) else _bad(),
        "i": lambda v: v if isinstance(v, int) and not isinstance(v, bool) else _bad(),
        "s": lambda v: v if isinstance(v, str) else _bad(),
        "t": lambda v: datetime.fromisoformat(v),
        "d": lambda v: date.fromisoformat(v),
        "n": lambda v: Decimal(v),
    }
    if tag not in readers:
        _bad()
    return readers[tag](raw)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bad() -> Any:
    raise ValueError("not a cursor")


def encode(cursor: Cursor) -> str:
    """The cursor as an opaque URL-safe string."""
    data = {"k": [_tagged(v) for v in cursor.key], "t": cursor.total}
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(text: str, terms: int) -> Cursor:
    """The cursor ``text`` stands for, for an order of ``terms`` terms; 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw.decode("utf-8"))
        key = tuple(_untagged(tag, value) for tag, value in data["k"])
        total = data["t"]
        if len(key) != terms or not (total is None or _count(total)):
            _bad()
    except (
        ValueError,
        TypeError,
        KeyError,
        binascii.Error,
        UnicodeDecodeError,
        InvalidOperation,
    ) as error:
        raise UnprocessableEntity(
            _(
                "The cursor is not one this list gave: pass the `next` of the previous "
                "page as it is",
            ),
            code="invalid_cursor",
            errors=[{"field": "query.cursor", "message": _("not a cursor of this list")}],
        ) from error
    return Cursor(key=key, total=total)
