"""Cell parsers: numbers and amounts are written out; exponent forms, NaN and Infinity are
refused like any other text that is not a number."""

from decimal import Decimal

import pytest

from app.imports.cells import CellError, decimal, money

AMOUNT = money(Decimal("1000000"))
SCORE = decimal(Decimal("0"), Decimal("100"), 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1234.5", "1234.50"), ("1,234.50", "1234.50"), ("¥88", "88.00"), ("1234.0", "1234.00")],
)
def test_amounts_written_out_are_read(raw: str, expected: str) -> None:
    assert AMOUNT(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["1e3", "1E3", "NaN", "Infinity", "-Infinity", "1e-2", "sNaN"])
def test_amounts_in_other_forms_are_refused(raw: str) -> None:
    with pytest.raises(CellError, match=r"such as 1234\.50"):
        AMOUNT(raw)


@pytest.mark.parametrize("raw", ["1e1", "NaN", "Infinity", "0x10"])
def test_numbers_in_other_forms_are_refused(raw: str) -> None:
    with pytest.raises(CellError, match="a number from 0 to 100"):
        SCORE(raw)


def test_a_negative_zero_score_reads_as_zero() -> None:
    assert str(SCORE("-0.0")) == "0.0"
    assert SCORE("88.5") == Decimal("88.5")
