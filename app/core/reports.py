"""How a report answers: its JSON model as it is, or its rows as a CSV/XLSX download.

Every report (applications, teacher coverage, funnel, funding, credit conversions) goes
through :func:`report_response`, so a report's download is named and written one way: the
rows a person reads (one per group, then the totals row where a sum means something) under
headers and labels in the request's language, in a file named ``<report>[-by-<group>][-<year>]``.
The XLSX has a title row naming the report, its year and its filters, and its totals row bold;
the CSV is the plain table (header row first) a script reads.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from functools import cache
from typing import Any, Generic, TypeVar
from uuid import uuid4

import sqlalchemy as sa
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, TypeAdapter

from app.core.export import ExportColumn, ExportFormat, export_response
from app.core.i18n import N_, _, translate
from app.core.labels import label

M = TypeVar("M")
S = TypeVar("S", bound=BaseModel)

TOTAL = N_("Total")
"""The label of a report's totals row (合计)."""
ALL = N_("All")


def report_filename(stem: str, year: int | None = None, group_by: Enum | None = None) -> str:
    """``funding-by-source-2022``: the report, its grouping and its year, as given."""
    name = stem + (f"-by-{group_by.value}" if group_by is not None else "")
    return name + (f"-{year}" if year else "")


def grouped_columns(
    headers: Mapping[Any, str], group_by: Any, columns: Sequence[ExportColumn]
) -> list[ExportColumn]:
    """The group's label column, headed as the grouping is named, then ``columns``."""
    return [ExportColumn("label", headers[group_by]), *columns]


def _shown(value: Any) -> str:
    if isinstance(value, Enum):
        return label(value)
    return str(value)


def report_heading(title: str, filters: Mapping[str, Any]) -> str:
    """``试点申报汇总（年度：2022；分组：证书）``: the report's name (an ``N_()`` msgid) and the
    filters it was asked with (msgid → value; a value left out, None, reads 全部)."""
    parts = [
        _(
            "{name}: {value}",
            name=translate(name),
            value=_shown(value) if value is not None else translate(ALL),
        )
        for name, value in filters.items()
    ]
    return translate(title) + (_(" ({filters})", filters=_("; ").join(parts)) if parts else "")


def report_response(
    report: Any,
    fmt: ExportFormat,
    rows: Iterable[Any],
    columns: Sequence[ExportColumn],
    filename: str,
    *,
    title: str,
    filters: Mapping[str, Any] | None = None,
    totals: int = 0,
) -> Any:
    """``report`` for JSON (a :class:`StreamedReport` written as it is read); otherwise
    ``rows`` (models or mappings) as a CSV/XLSX download, its sheet named ``title`` (an
    ``N_()`` msgid), the XLSX headed by the title and ``filters`` (see
    :func:`report_heading`), its last ``totals`` rows the totals."""
    if fmt == ExportFormat.json:
        return report.json() if isinstance(report, StreamedReport) else report
    heading = report_heading(title, filters or {})
    return export_response(
        rows, columns, fmt, filename, sheet=title, heading=heading, totals=totals
    )


class StreamedReport(Generic[S]):
    """A report whose one long list is written as it is read, in constant memory at any size:
    its items come in ``batches`` (a server-side cursor's chunks, read once); ``summary()`` is
    the report with that list empty, whose other fields may add up the items read so far (it
    is called at the start, for the fields before the list, which must not depend on the
    items, and again once every item has been read, for those after it). ``path`` names the
    list: ``("rows",)``, or ``("credits", "rows")`` inside a part of the report."""

    def __init__(
        self,
        batches: Iterator[Sequence[BaseModel]],
        summary: Callable[[], S],
        path: tuple[str, ...],
    ) -> None:
        self.batches = batches
        self.summary = summary
        self.path = path

    def items(self) -> Iterator[BaseModel]:
        """The list's items, one by one (for a download, or a caller that wants them all)."""
        for batch in self.batches:
            yield from batch

    def drained(self) -> S:
        """The summary once every item has been read and let go (its figures without its
        list)."""
        for _batch in self.batches:
            pass
        return self.summary()

    def json(self) -> StreamingResponse:
        """The report as the JSON its model would write, the list written batch by batch."""
        return StreamingResponse(self.json_chunks(), media_type="application/json")

    def json_chunks(self) -> Iterator[bytes]:
        """The JSON's bytes: the report's fields before the list, the list a batch at a time
        (each batch serialised at once), then the fields after it. The list's place is found
        by a marker put there, which no other value can hold."""
        marker = f'"onex-list-{uuid4().hex}"'.encode()
        head, items = self._marked(self.summary(), marker)
        yield head[: head.index(marker)] + b"["
        separator = b""
        for batch in self.batches:
            if batch:
                yield separator + items.dump_json(batch, by_alias=True)[1:-1]
                separator = b","
        tail, _items = self._marked(self.summary(), marker)
        yield b"]" + tail[tail.index(marker) + len(marker) :]

    def _marked(self, report: BaseModel, marker: bytes) -> tuple[bytes, TypeAdapter[Any]]:
        """``report``'s JSON with ``marker`` where the list is, and the list's serialiser."""
        whole = report.model_dump(mode="json", by_alias=True)
        part, model = whole, report
        for name in self.path[:-1]:
            part, model = part[name], getattr(model, name)
        part[self.path[-1]] = json.loads(marker)
        annotation: Any = type(model).model_fields[self.path[-1]].annotation
        text = json.dumps(whole, ensure_ascii=False, separators=(",", ":"))
        return text.encode(), _adapter(annotation)


@cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    """The serialiser of a list field's type, built once (building one is most of a ms)."""
    return TypeAdapter(annotation)


def trusted_row(model: type[M], values: dict[str, Any], fields: set[str] | None = None) -> M:
    """``model`` holding ``values`` as they are, without validating them: for a report's many
    rows read from SQL columns that already hold each field's type (ints, strings, dates,
    Decimals, enum members; None only where the field allows it). It sets the state pydantic's
    ``model_construct`` sets (every field given, no extra, no private attributes) at a tenth
    of its cost per row, which was most of a 10,000-row report's time. ``fields``, the keys of
    ``values`` when every row has the same, is copied rather than built again."""
    row = _new(model)
    _set(row, "__dict__", values)
    _set(row, "__pydantic_fields_set__", fields.copy() if fields is not None else set(values))
    _set(row, "__pydantic_extra__", None)
    _set(row, "__pydantic_private__", None)
    return row


_new, _set = object.__new__, object.__setattr__


def stored_text(column: Any) -> Any:
    """An enum column read as the text it stores (its member's value), without the column
    type's per-value conversion: a report reading many rows makes members (or keeps the
    values) itself, by a dict lookup."""
    return sa.type_coerce(column, sa.String())
