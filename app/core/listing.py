"""The one list pipeline: a list is declared once, and one call answers its JSON page, its CSV or
its XLSX export, and its read-one.

A :class:`Listing` holds, for one resource:

- ``statement(session, principal, filters)``: the base statement, scoped to what the principal may
  read and narrowed by a typed filter model (a pydantic model of the query parameters, taken with
  ``Annotated[Filters, Query()]`` so the OpenAPI documents each filter);
- ``order``: the default, stable order (its last term unique);
- ``to_items(session, rows)``: the *batch* mapper, called once per page or export chunk, so any
  enrichment costs a fixed number of statements however many rows there are;
- ``columns`` and ``filename``: what an export writes.

A router answers with ``LISTING.respond(session, principal, filters, params)``; exports stream
rows from a server-side cursor in chunks of ``EXPORT_CHUNK_ROWS`` and write them as they come
(:mod:`app.core.export`), so memory stays flat however many rows match.
"""

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field
from sqlalchemy import and_, or_, tuple_
from sqlalchemy.sql import operators
from sqlmodel import Session
from starlette.datastructures import URL

from app.core.counting import counted_rows, picked_page
from app.core.cursor import MAX_CURSOR_LENGTH, Cursor, decode, encode
from app.core.errors import UnprocessableEntity, missing
from app.core.export import (
    Batches,
    ExportColumn,
    ExportFormat,
    FormatQuery,
    export_rows,
    item_rows,
)
from app.core.i18n import _
from app.core.pagination import COUNT_LIMIT, DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams
from app.core.params import MAX_DB_ID
from app.core.roles import Principal

F = TypeVar("F", bound=BaseModel)
T = TypeVar("T")

EXPORT_CHUNK_ROWS = 1000
"""Rows fetched (and mapped) at a time by an export."""
LIGHT_OFFSET = 10_000
"""An ``offset`` from which a page counts as a long read (:attr:`ListParams.light`)."""

_PAGE: Any = Page[T]  # type: ignore[valid-type]
"""The page class, held: pydantic keeps a parametrised class only while it is referenced, so
``Page[T](...)`` in each call built the class anew (a sixth of a 100-row page's time)."""

IdFilter = Annotated[int | None, Field(ge=1, le=MAX_DB_ID, description="Only rows of this id")]
"""A filter field holding a record's id (use in a filter model; describe it with ``Field``)."""

TextFilter = Annotated[
    str | None, Field(max_length=100, description="Part of a code, number or name")
]
"""The free-text search field ``q`` of a filter model."""


_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


def _written_moment(value: Any) -> Any:
    """Only a moment written out: pydantic alone would also read ``60.0`` as a Unix time."""
    if not isinstance(value, datetime) and not (
        isinstance(value, str) and _ISO_MOMENT.match(value)
    ):
        raise ValueError(_("an ISO 8601 moment with its offset, e.g. 2026-09-01T08:00:00+08:00"))
    return value


class UpdatedSince(BaseModel):
    """The filter of a list another system mirrors: only rows changed since a moment. A filter
    model inherits it; its :class:`Listing` names the ``updated`` columns it compares."""

    updated_since: Annotated[AwareDatetime, BeforeValidator(_written_moment)] | None = Field(
        None,
        description="Only rows created or changed at or after this moment (ISO 8601 with an "
        "offset, e.g. `2026-09-01T08:00:00+08:00`): a mirror asks for what changed since its "
        "last sync, with the time it started that sync",
    )


@dataclass
class ListParams:
    """The parameters every list takes besides its filters: a page (by offset, or after a
    cursor), and the answer's format; the request's URL and response, for the ``Link``
    header of the next page."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    format: ExportFormat = ExportFormat.json
    cursor: str | None = None
    url: URL | None = None
    response: Response | None = None
    count: bool = False
    """Count every matching row, past :data:`COUNT_LIMIT` too."""

    @property
    def page(self) -> PageParams:
        return PageParams(limit=self.limit, offset=self.offset)

    @property
    def light(self) -> bool:
        """Whether the answer is a JSON page of bounded cost: not an export, not a count of
        every row, not a page past :data:`LIGHT_OFFSET` rows (a cursor's page is as light as
        the first). Such reads take the read threads (``ONEX_READ_THREADS``); the others the
        general pool, so that one long read does not hold up the short ones."""
        return self.format == ExportFormat.json and not self.count and self.offset < LIGHT_OFFSET


async def list_params(
    request: Request,
    response: Response,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1–{MAX_LIMIT}); json only")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip; json only")] = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="The `next` of the previous page: the page after it, at the same cost "
            "however deep (`offset` is then counted from there); json only",
        ),
    ] = None,
    format: FormatQuery = ExportFormat.json,
    count: Annotated[
        bool,
        Query(
            description=f"Count every matching row for `total`: without it a first page counts "
            f"up to {COUNT_LIMIT:,} and answers `total: null` when more match (a count over "
            "a million rows costs far more than the page); json only",
        ),
    ] = False,
) -> ListParams:
    """A coroutine (no I/O): a plain function would cost a hop to the thread pool."""
    return ListParams(
        limit=limit,
        offset=offset,
        format=format,
        cursor=cursor,
        url=request.url,
        response=response,
        count=count,
    )


ListDep = Annotated[ListParams, Depends(list_params)]
"""``limit``, ``offset`` and ``format`` of a list endpoint."""


def each(to_item: Callable[[Any], T]) -> Callable[[Session, Sequence[Any]], list[T]]:
    """A batch mapper from a row mapper, for lists whose items need no further statements."""

    def to_items(_session: Session, rows: Sequence[Any]) -> list[T]:
        return [to_item(row) for row in rows]

    return to_items


@dataclass(frozen=True)
class Listing(Generic[F, T]):
    """One resource's list, export and read-one (see the module docstring)."""

    noun: str
    """As the 404 names it: ``No <noun> with id 7``."""
    statement: Callable[[Session, Principal, F], Any]
    order: Sequence[Any]
    to_items: Callable[[Session, Sequence[Any]], Sequence[T]]
    filters: type[F]
    key: Any = None
    """The id column :meth:`one` narrows by."""
    columns: Sequence[ExportColumn] = field(default_factory=tuple)
    filename: str = ""
    """The export's file name (without extension)."""
    sheet: str = ""
    """The XLSX sheet's name, an ``N_()`` msgid (``N_("Students")``: 学生名单)."""
    item_columns: Sequence[Any] = field(default_factory=tuple)
    """The columns of an item, when the page can read them straight from the statement's joins:
    the page (and :meth:`one`) then reads plain rows of these columns, in this order (no ORM
    entity built per row), and ``to_items`` gets those rows."""
    updated: Sequence[Any] = field(default_factory=tuple)
    """The ``updated_at`` columns ``updated_since`` compares (a row counts as changed when
    any of them is at or after it); the filter model inherits :class:`UpdatedSince`."""

    def scoped(self, session: Session, principal: Principal, filters: F) -> Any:
        """The statement of the rows ``principal`` may read that match ``filters``."""
        statement = self.statement(session, principal, filters)
        since = getattr(filters, "updated_since", None)
        if since is not None and self.updated:
            statement = statement.where(or_(*(column >= since for column in self.updated)))
        return statement

    def page(
        self,
        session: Session,
        principal: Principal,
        filters: F,
        page: PageParams,
        cursor: str | None = None,
        count: bool = False,
    ) -> Page[T]:
        """One page in the stable order, with the total that matches the filters and, when
        more rows follow, the ``next`` cursor. After a cursor the page starts past its key (an
        index range, not a count of skipped rows) and the total is the one counted when the
        walk began. The total is counted up to :data:`COUNT_LIMIT` rows (None past it) unless
        ``count`` asks for every one; on the last page it is not counted but known (the rows
        skipped and the rows on it), which spares most filtered lists their count."""
        statement = self.scoped(session, principal, filters)
        terms = self.keyset_terms
        after = None
        if cursor is not None:
            if terms is None:
                raise UnprocessableEntity(
                    _("This list pages by `offset` only; it gives no cursor"),
                    code="invalid_cursor",
                    errors=[{"field": "query.cursor", "message": _("this list takes no cursor")}],
                )
            after = decode(cursor, len(terms))
            statement = statement.where(_past(terms, after.key))
        matching = statement
        offset, found = page.offset, None
        if cursor is not None or offset:
            # A deep page: its rows picked on the first table alone, then joined.
            picked = picked_page(statement, self.order, page.limit + 1, offset)
            if picked is not None:
                ids = _core(session, picked.ids).scalars().all()
                statement, offset, found = picked.narrowed(statement, ids), 0, len(ids)
        statement = self._read_columns(statement)
        width = len(self.item_columns or statement.column_descriptions)
        keys = [expression for expression, _descending in terms or ()]
        query = statement.add_columns(*keys).order_by(*self.order)
        window = query.limit(page.limit + 1).offset(offset)
        rows: Sequence[Any]
        if self.item_columns:
            rows = _core(session, window).all()
        elif keys:
            rows = session.execute(window).all()  # entities, and the keys beside them
        else:
            rows = session.exec(window).all()
        # Whether rows follow: from the picked ids when there are some (a row deleted between
        # the two statements must not end the walk early).
        more = (found if found is not None else len(rows)) > page.limit
        rows = rows[: page.limit]
        limit = None if count else COUNT_LIMIT
        total: int | None
        if after is not None:
            total = after.total
        elif not more and (rows or not page.offset):
            # The last page: every matching row is before it or on it, so no count is needed.
            total = _within(page.offset + len(rows), limit)
        else:
            total = _total(session, matching, limit)
        following = None
        if keys:
            if more:
                following = encode(Cursor(key=tuple(rows[-1][width:]), total=total))
            single = width == 1 and not self.item_columns
            rows = [row[0] if single else row[:width] for row in rows]
        answer: Page[T] = _PAGE(
            items=list(self.to_items(session, rows)),
            total=total,
            limit=page.limit,
            offset=page.offset,
            next=following,
        )
        return answer

    def _read_columns(self, statement: Any) -> Any:
        """``statement`` reading :attr:`item_columns` (same joins, scope and filters), when
        the listing declares them."""
        if not self.item_columns:
            return statement
        return statement.with_only_columns(*self.item_columns, maintain_column_froms=True)

    def items(self, session: Session, statement: Any) -> Sequence[T]:
        """The items of the rows of ``statement`` (one of :attr:`statement`'s, narrowed or
        ordered), read as ``to_items`` takes them."""
        statement = self._read_columns(statement)
        result = _core(session, statement) if self.item_columns else session.exec(statement)
        return self.to_items(session, result.all())

    @property
    def keyset_terms(self) -> list[tuple[Any, bool]] | None:
        """The order as (column, descending) pairs, when it can page by key: every term a
        column that never holds NULL (so "past the last row" is a plain comparison)."""
        terms = []
        for term in self.order:
            expression, descending = term, False
            modifier = getattr(term, "modifier", None)
            if modifier in (operators.desc_op, operators.asc_op):
                expression, descending = term.element, modifier is operators.desc_op
            column = getattr(expression, "expression", expression)
            if getattr(column, "nullable", True):
                return None
            terms.append((expression, descending))
        return terms

    def _chunks(self, session: Session, statement: Any) -> Iterator[Sequence[T]]:
        """The items of ``statement``, a chunk (one call of ``to_items``) at a time."""
        # Executed now, not when the first row is asked for: a statement the database refuses
        # fails before a response has started, as a problem, never as a file cut short.
        statement = self._read_columns(statement).execution_options(yield_per=EXPORT_CHUNK_ROWS)
        result = _core(session, statement) if self.item_columns else session.exec(statement)
        return (self.to_items(session, rows) for rows in result.partitions())

    def export(
        self, session: Session, principal: Principal, filters: F, fmt: ExportFormat
    ) -> StreamingResponse:
        """Every matching row as a CSV or XLSX download, streamed."""
        rows = self.export_rows(session, principal, filters)
        return export_rows(rows, self.columns, fmt, self.filename, sheet=self.sheet)

    def export_rows(self, session: Session, principal: Principal, filters: F) -> Batches:
        """The export's rows of values, in order, read as they are asked for. When every
        column names its ``sql`` expression, they are read as those columns of the list's
        statement (same joins, scope, filters and order), no model built per row; otherwise
        they are the items of ``to_items``. The statement (and so the caller's access) is
        checked now, before the first row is asked for. They come in the cursor's chunks
        (:class:`~app.core.export.Batches`)."""
        statement = self.scoped(session, principal, filters).order_by(*self.order)
        if self.reads_export_columns:
            columns = statement.with_only_columns(
                *[c.sql for c in self.columns], maintain_column_froms=True
            )
            return self._rows(session, columns)
        return Batches(
            list(item_rows(items, self.columns)) for items in self._chunks(session, statement)
        )

    @property
    def reads_export_columns(self) -> bool:
        """Whether the export reads its columns straight from SQL (every column has ``sql``)."""
        return bool(self.columns) and all(c.sql is not None for c in self.columns)

    def _rows(self, session: Session, statement: Any) -> Batches:
        # Executed now, as in ``_chunks``.
        result = _core(session, statement.execution_options(yield_per=EXPORT_CHUNK_ROWS))
        return Batches(result.partitions())

    def respond(
        self, session: Session, principal: Principal, filters: F, params: ListParams
    ) -> Any:
        """What a list endpoint answers: the JSON page, or the export ``format`` asks for."""
        if params.format == ExportFormat.json:
            page = self.page(session, principal, filters, params.page, params.cursor, params.count)
            if page.next is not None and params.url is not None and params.response is not None:
                following = params.url.remove_query_params("offset").include_query_params(
                    cursor=page.next
                )
                params.response.headers["Link"] = f'<{following}>; rel="next"'
            return page
        return self.export(session, principal, filters, params.format)

    def one(self, session: Session, principal: Principal, row_id: int) -> T:
        """The row of id ``row_id`` as the list shows it, or 404 when it is not there for the
        principal (an object the caller may not read is answered as one that does not exist)."""
        statement = self.statement(session, principal, self.filters()).where(self.key == row_id)
        items = self.items(session, statement)
        if not items:
            raise missing(self.noun, row_id)
        return items[0]


def _total(session: Session, statement: Any, limit: int | None) -> int | None:
    """How many rows ``statement`` reads: every one, or up to ``limit`` (None past it, the
    database stopping at the first row past it)."""
    return _within(int(_core(session, counted_rows(statement, limit)).scalar_one()), limit)


def _within(total: int, limit: int | None) -> int | None:
    """``total`` as a page shows it: None when it is past ``limit``."""
    return None if limit is not None and total > limit else total


def _core(session: Session, statement: Any, parameters: Any = None) -> Any:
    """The result of a statement of plain columns, run by the session's connection (Core, in
    the session's transaction): the ORM would only add its per-row loading and its execution
    context (a tenth of a small page's time)."""
    return session.connection().execute(statement, parameters)


def plain_rows(session: Session, statement: Any, parameters: Any = None) -> Sequence[Any]:
    """The rows of ``statement`` (plain columns, no entity), read as :func:`_core` does: for
    a batch mapper's own statements."""
    rows: Sequence[Any] = _core(session, statement, parameters).all()
    return rows


def _past(terms: list[tuple[Any, bool]], key: tuple[Any, ...]) -> Any:
    """Rows after ``key`` in the order ``terms``. When every term runs the same way this is
    one row-value comparison, ``(a, b) > (x, y)``, which the database answers as an index
    range starting at the key (constant cost at any depth). Otherwise it is written out — a
    past x, or a = x and b past y — so each term keeps its own direction, with the first
    term's bound (a at or past x) said once more on its own for the index to start from."""
    directions = {descending for _expression, descending in terms}
    expressions = [expression for expression, _descending in terms]
    if len(terms) > 1 and len(directions) == 1:
        row = tuple_(*expressions)
        return row < tuple(key) if terms[0][1] else row > tuple(key)
    alternatives = []
    for index, (expression, descending) in enumerate(terms):
        beyond = expression < key[index] if descending else expression > key[index]
        equal = [terms[i][0] == key[i] for i in range(index)]
        alternatives.append(and_(*equal, beyond))
    if len(terms) == 1:
        return alternatives[0]
    first, descending = terms[0]
    start = first <= key[0] if descending else first >= key[0]
    return and_(start, or_(*alternatives))


def where_equal(statement: Any, filters: BaseModel, **columns: Any) -> Any:
    """``statement`` limited, for each filter field named, to rows whose column equals the
    value given; a filter left out (None) does not limit: ``where_equal(statement, filters,
    year=Source.fiscal_year, kind=Source.kind)``."""
    for name, column in columns.items():
        value = getattr(filters, name)
        if value is not None:
            statement = statement.where(column == value)
    return statement
