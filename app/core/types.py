"""Column and field types shared by every domain: UTC timestamps and money in fen."""

import math
import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BeforeValidator, Field, PlainSerializer
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import Dialect

from app.core.i18n import N_, _, translate

FEN_PER_YUAN = 100
CENT = Decimal("0.01")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class MoneyFen(sa.types.TypeDecorator[Decimal]):
    """Money kept as an integer number of fen (BIGINT) and shown to Python as a 2-place Decimal."""

    impl = sa.BigInteger()
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        amount = Decimal(value)
        if amount.quantize(CENT) != amount:
            raise ValueError(_("money has at most two decimal places, got {value}", value=value))
        return int(amount * FEN_PER_YUAN)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / FEN_PER_YUAN).quantize(CENT, rounding=ROUND_HALF_UP)


def _money_to_str(value: Decimal) -> str:
    return f"{unsigned_zero(value.quantize(CENT)):f}"


_MONEY_TEXT = re.compile(r"-?[0-9]+(\.[0-9]{1,2})?")
MONEY_FORM = N_(
    'an amount in yuan written like "1234.50": digits, then at most two decimals after a '
    "point (no exponent such as 1e3, no NaN or Infinity)"
)


def _plain_money(value: Any) -> Any:
    """Money arrives as plain decimal text (or a plain number): ``"1e3"``, ``"NaN"`` and
    ``"Infinity"`` are refused, naming the form that is accepted."""
    if isinstance(value, str):
        text = value.strip()
        if not _MONEY_TEXT.fullmatch(text):
            raise PydanticCustomError(
                "money_format",
                _("expected {form}, got {value}", form=translate(MONEY_FORM), value=repr(value)),
            )
        return text
    if isinstance(value, float) and (not math.isfinite(value) or "e" in repr(value)):
        raise PydanticCustomError("money_format", _("expected {form}", form=translate(MONEY_FORM)))
    if isinstance(value, Decimal) and not value.is_finite():
        raise PydanticCustomError("money_format", _("expected {form}", form=translate(MONEY_FORM)))
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_plain_money),
    Field(max_digits=14, decimal_places=2, examples=["1234.50"]),
    PlainSerializer(_money_to_str, return_type=str, when_used="json"),
]
"""An amount in yuan with at most two decimals; JSON shows it as a string such as ``"1234.50"``."""


def unsigned_zero(value: Decimal) -> Decimal:
    """``value``, with a negative zero (``-0.0``) made ``0.0``: a score or an amount of nothing
    is never shown with a sign."""
    return value.copy_abs() if value.is_zero() else value


def school_date(moment: datetime, timezone: str) -> date:
    """The calendar date at ``moment`` in the school's time zone: registration windows, exam
    dates and validity dates are dates there."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def school_today(timezone: str) -> date:
    """Today's calendar date in the school's time zone (``settings.timezone``)."""
    return school_date(utcnow(), timezone)
