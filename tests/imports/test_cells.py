"""Cell parsers: numbers and amounts are written out; exponent forms, NaN and Infinity are
refused like any other text that is not a number. A parser's quick way through a whole column
answers as the parser would, and a file's errors read in its order."""

from decimal import Decimal

import pytest

import app.reference.importers  # noqa: F401  (registers the students kind)
from app.core.i18n import N_
from app.imports.cells import (
    CellError,
    Parser,
    code,
    column_parser,
    decimal,
    integer,
    money,
    text,
    words,
)
from app.imports.engine import read_sheet
from app.imports.registry import get_kind
from app.trainings.models import TrainingStatus

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


QUICK = [text(5), code(6), integer(2000, 2030, "级"), integer(1, 99)]
COLUMNS = [
    ["2020级", "2021级", "2022"],
    ["2020级级", "2021"],
    ["1999级", "2020"],
    ["２０２０", "2020"],
    ["510203", "CS01"],
    ["510203.0", "CS01"],
    ["1234567", "12"],
    ["12", "x" * 6],
    ["a b", "c"],
    ["张三", "李四"],
    ["20\n21", "22"],
    ["0000000012", "1"],
    ["07", "99", "1"],
]


def _cell_by_cell(parse: Parser, values: list[str]) -> list[object] | None:
    try:
        return [parse(value) for value in values]
    except CellError:
        return None


@pytest.mark.parametrize("values", COLUMNS)
@pytest.mark.parametrize("parse", QUICK)
def test_a_quick_way_through_a_column_answers_as_the_parser_would(
    parse: Parser, values: list[str]
) -> None:
    """When it answers, it gives what the parser gives each cell; on a column the parser
    refuses a cell of, it passes (None), and the engine goes cell by cell."""
    quick = column_parser(parse)
    assert quick is not None
    found = quick(values)
    assert found is None or found == _cell_by_cell(parse, values)
    if _cell_by_cell(parse, values) is None:
        assert found is None


@pytest.mark.parametrize(
    ("parse", "values", "expected"),
    [
        (text(5), ["张三", "a b"], ["张三", "a b"]),
        (code(6), ["510203", "CS01"], ["510203", "CS01"]),
        (integer(2000, 2030, "级"), ["2020级", "2021"], [2020, 2021]),
    ],
)
def test_plain_columns_take_the_quick_way(
    parse: Parser, values: list[str], expected: list[object]
) -> None:
    quick = column_parser(parse)
    assert quick is not None
    assert quick(values) == expected


def test_a_file_is_checked_column_by_column_and_reported_row_by_row() -> None:
    """Bad and missing cells are reported in the file's order (row, then column), a bad
    cell is left out of its row and an empty one is None, however the columns are parsed."""
    content = (
        "学号,姓名,专业代码,年级,班级\r\n"
        "S001,张三,510203,1999级,1班\r\n"
        "S 002,,510203,2020,\r\n"
        "\r\n"
        "S003,王五\r\n"
        "S004,赵六,510203,2020级,2班\r\n"
    ).encode()
    sheet = read_sheet(get_kind("students"), "s.csv", content)
    assert [(e.row, e.column, e.value) for e in sheet.errors] == [
        (2, "年级", "1999级"),
        (3, "学号", "S 002"),
        (3, "姓名", ""),
        (5, "年级", ""),
    ]
    assert sheet.rows == [
        (2, {"student_no": "S001", "name": "张三", "major_code": "510203", "class_name": "1班"}),
        (3, {"name": None, "major_code": "510203", "cohort": 2020, "class_name": None}),
        (
            5,
            {
                "student_no": "S003",
                "name": "王五",
                "major_code": None,
                "cohort": None,
                "class_name": None,
            },
        ),
        (
            6,
            {
                "student_no": "S004",
                "name": "赵六",
                "major_code": "510203",
                "cohort": 2020,
                "class_name": "2班",
            },
        ),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("培训中", "in_progress"),
        ("in_progress", "in_progress"),
        ("In training", "in_progress"),  # the label an English export writes
        (" CERTIFIED ", "certified"),
        ("Failed", "failed"),
    ],
)
def test_a_word_column_reads_its_values_labels_in_either_language(raw: str, expected: str) -> None:
    status = words(
        {"培训中": TrainingStatus.in_progress, "in_progress": TrainingStatus.in_progress}
        | {"certified": TrainingStatus.certified, "failed": TrainingStatus.failed},
        N_("a status"),
    )

    assert status(raw) == TrainingStatus(expected)


def test_a_word_column_refuses_a_label_of_a_value_it_does_not_take() -> None:
    status = words({"certified": TrainingStatus.certified}, N_("certified only"))

    with pytest.raises(CellError, match="certified only"):
        status("In training")
