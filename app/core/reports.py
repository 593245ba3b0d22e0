"""How a report answers: its JSON model as it is, or its rows as a CSV/XLSX download.

Every report (applications, teacher coverage, funnel, funding, credit conversions) goes
through :func:`report_response`, so a report's download is named and written one way: the
rows a person reads (one per group, then the totals row where a sum means something) under
Chinese headers, in a file named ``<report>[-by-<group>][-<year>]``.
"""

from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from app.core.export import ExportColumn, ExportFormat, export_response


def report_filename(stem: str, year: int | None = None, group_by: Enum | None = None) -> str:
    """``funding-by-source-2022``: the report, its grouping and its year, as given."""
    name = stem + (f"-by-{group_by.value}" if group_by is not None else "")
    return name + (f"-{year}" if year else "")


def grouped_columns(
    headers: Mapping[Any, str], group_by: Any, columns: Sequence[ExportColumn]
) -> list[ExportColumn]:
    """The group's label column, headed as the grouping is named, then ``columns``."""
    return [ExportColumn("label", headers[group_by]), *columns]


def report_response(
    report: Any,
    fmt: ExportFormat,
    rows: Iterable[Any],
    columns: Sequence[ExportColumn],
    filename: str,
) -> Any:
    """``report`` for JSON; otherwise ``rows`` (models or mappings) as a CSV/XLSX download."""
    if fmt == ExportFormat.json:
        return report
    return export_response(rows, columns, fmt, filename)
