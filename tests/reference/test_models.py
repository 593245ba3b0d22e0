"""Level order and the certificate name normaliser that later uploads match names with."""

import pytest

from app.reference.models import Level, normalise_certificate_name, sort_levels


def test_levels_compare_at_or_above() -> None:
    assert Level.senior.at_or_above(Level.intermediate)
    assert Level.junior.at_or_above(Level.junior)
    assert not Level.junior.at_or_above(Level.intermediate)
    assert sort_levels([Level.senior, Level.junior, Level.senior]) == [Level.junior, Level.senior]


@pytest.mark.parametrize(
    "written",
    [
        "Web前端开发",
        "1+X Web前端开发证书",
        "１＋Ｘ Web 前端开发 证书",
        "1+x web前端开发",
    ],
)
def test_spellings_of_one_certificate_normalise_alike(written: str) -> None:
    assert normalise_certificate_name(written) == normalise_certificate_name("Web前端开发")


def test_brackets_normalise_across_widths() -> None:
    assert normalise_certificate_name("智能财税（中级）") == normalise_certificate_name(
        "智能财税(中级)"
    )
