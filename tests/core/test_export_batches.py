"""The CSV writer writes a batch of rows whole and makes cells safe one by one only when the
batch's text may need it: the file is byte for byte the one ``csv_cell`` on every cell writes."""

import csv
import io
import random
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

import pytest

from app.core.export import Batches, csv_cell, csv_chunks


class Kind(StrEnum):
    formula = "=kind"
    plain = "plain"


class Level(Enum):
    low = "-1"


TRICKY: list[Any] = [
    *["=1+2", "+1", "-x", "@cmd", "\tx", "\rx", '"=x', "a,=b", "a\n=b", "x\r", "a,b", 'q"q'],
    *["", "ok", "学生", "😀", "a\ud800b", "\udfff", "'=x", " -1", "-1"],
    *[None, 0, -5, 7, 1.5, -2.5, True, False, Decimal("-1.50"), Decimal("1E+2")],
    *[date(2024, 1, 2), datetime(2024, 1, 2, 3, 4, 5), Kind.formula, Kind.plain, Level.low],
    *[["=a", 1], {"k": "=v"}],
]
PLAIN = ["abc", "学生", 12, None, 3.5, "2024-01-02"]


def _cell_by_cell(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([csv_cell(h) for h in headers])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def _rows(seed: int) -> list[list[Any]]:
    rnd = random.Random(seed)
    width = rnd.choice([0, 1, 2, 5])
    count = rnd.choice([0, 1, 3, 40, 1100])
    odd = rnd.choice([0.0, 0.001, 0.05, 1.0])
    ragged = rnd.random() < 0.1
    return [
        [
            rnd.choice(TRICKY) if rnd.random() < odd else rnd.choice(PLAIN)
            for _ in range(rnd.choice([1, 2, 3]) if ragged else width)
        ]
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(300))
def test_batches_write_the_cell_by_cell_file(seed: int) -> None:
    rows = _rows(seed)
    headers = ["=名称", "代码", "b", "c", "d"][: len(rows[0]) if rows else 2]
    expected = _cell_by_cell(rows, headers)
    assert b"".join(csv_chunks(rows, headers)) == expected
    step = random.Random(seed).choice([1, 7, 1000])
    batches = Batches(rows[start : start + step] for start in range(0, len(rows), step))
    assert b"".join(csv_chunks(batches, headers)) == expected


@pytest.mark.parametrize("cell", TRICKY)
@pytest.mark.parametrize("column", [0, 2])
def test_one_tricky_cell_in_a_batch_of_plain_rows(cell: Any, column: int) -> None:
    rows: list[list[Any]] = [["abc", 12, "学生"] for _ in range(50)]
    rows[25][column] = cell
    assert b"".join(csv_chunks(Batches([rows]), ["a", "b", "c"])) == _cell_by_cell(
        rows, ["a", "b", "c"]
    )


def test_batches_give_their_rows_in_order() -> None:
    assert list(Batches([[(1,), (2,)], [], [(3,)]])) == [(1,), (2,), (3,)]
