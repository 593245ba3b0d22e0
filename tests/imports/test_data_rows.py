"""Which rows under the header an upload reads: every row when each starts with a code or a
number (the quick way), and otherwise neither a blank row nor the template's example row."""

import pytest

from app.imports.engine import _data_rows

HEADER = ["学号", "姓名"]


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ([["2020001", "张三"], ["2020002", "李四"]], [1, 2]),
        ([["2020001", "张三"], [], ["2020002", "李四"]], [1, 3]),
        ([["2020001", "张三"], ["", ""], [" ", "\t"], ["2020002", "李四"]], [1, 4]),
        ([["示例：2020510203001", "张三"], ["2020001", "李四"]], [2]),
        ([["", "张三"], ["2020002", "李四"]], [1, 2]),
        ([["  ", "2020003"], ["张三", "2020004"]], [1, 2]),
        ([["示例", ""], ["", "示例：x"], ["计算机学院", "示例：x"]], [3]),
    ],
)
def test_the_rows_that_hold_data_are_read(body: list[list[str]], kept: list[int]) -> None:
    assert _data_rows([HEADER, *body], 1) == kept
