"""What a list's ``total`` counts: the rows of its statement, read by the cheapest statement
that gives the same number.

A list's statement joins its row's parents (the student, the session, the certificate…) to
show them and to filter by them. Counting through those joins costs as much as reading every
joined row (a count of 10,000 credit records through six joins: ≈30 ms on PostgreSQL; of the
records alone, an index range: ≈2 ms). A join cannot change how many rows there are when

- it is an inner join along a foreign key that is never NULL to the parent's primary key
  (each row has exactly one parent), or
- it is an outer join to a column that is unique (each row keeps one row, matched or not);

so when every join of a statement is one of these, and its WHERE reads only the first table,
the rows are counted on that table alone, and a deep page's rows are picked there too
(:func:`picked_page`) before their parents are joined. Anything else (a filter on a joined
table, a subquery, a grouping, a limit) is counted and paged as written.

It reads a few of SQLAlchemy's private attributes of a ``Select`` (how it was built); the
version is pinned, and ``tests/core/test_counting.py`` fails if they change meaning.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Index, Table, UniqueConstraint, func, inspect, select
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, ColumnElement
from sqlalchemy.sql.selectable import Select
from sqlalchemy.sql.visitors import iterate


def counted_rows(statement: Select[Any], limit: int | None) -> Select[Any]:
    """``SELECT count(*)`` of the rows of ``statement``, at most ``limit`` + 1 of them (so a
    count past ``limit`` stops there)."""
    rows = _base_rows(statement)
    if rows is None:
        rows = statement.order_by(None)
    if limit is not None:
        rows = rows.limit(limit + 1)
    return select(func.count()).select_from(rows.subquery())


@dataclass(frozen=True)
class PickedPage:
    """A page's rows chosen on a statement's first table: run :attr:`ids`, then read the
    statement narrowed to them (:meth:`narrowed`)."""

    ids: Select[Any]
    """The ids of the page's rows, in order: an index range with a limit on the first table."""
    key: Column[Any]

    def narrowed(self, statement: Select[Any], ids: Sequence[Any]) -> Select[Any]:
        """``statement`` reading only the rows of ``ids`` (its order and limit still to add)."""
        return statement.where(self.key.in_(ids))


def picked_page(
    statement: Select[Any], order: Sequence[Any], limit: int, offset: int
) -> PickedPage | None:
    """How to read one page of ``statement`` (``limit`` rows past ``offset`` in ``order``) by
    choosing its rows on the first table alone, or None when the joins or the WHERE may change
    which rows there are, or ``order`` reads another table.

    The ids are picked first, in a statement of their own; then only those rows are joined.
    In one statement the database had to be trusted to start from the picked ids, and it did
    not always: PostgreSQL estimated a deep key among many rows of an equal first value (every
    batch of a year starting on one day) as one row, hash-joined and sorted the list's whole
    tail; and past eight joined tables (its ``join_collapse_limit``) it keeps the joins in
    the order written and applied ``IN (subquery)`` last, after joining 100,000 credit records
    (250 ms for a page at offset 13,500; by ids first, a few ms)."""
    base = _first_table(statement)
    if base is None or not all(_reads_only(_clause(term), base) for term in order):
        return None
    keys = list(base.primary_key.columns)
    if len(keys) != 1:
        return None
    where = statement.whereclause
    ids = select(keys[0]).select_from(base)
    if where is not None:
        ids = ids.where(where)
    return PickedPage(ids.order_by(*order).limit(limit).offset(offset), keys[0])


def _base_rows(statement: Select[Any]) -> Select[Any] | None:
    """The rows of ``statement`` read from its first table alone, or None when its joins or
    its WHERE may change how many there are."""
    base = _first_table(statement)
    if base is None:
        return None
    where = statement.whereclause
    rows = select(1).select_from(base)
    return rows if where is None else rows.where(where)


def _first_table(statement: Select[Any]) -> Table | None:
    """The first table of ``statement`` when each of its rows is exactly one row of that table
    (its joins keep the count) and its WHERE reads that table alone; None otherwise.

    Read from the statement as it was built (its columns' tables and its ``.join()`` calls),
    not from its compiled FROM list: working that out costs the ORM most of a millisecond on
    every page, this a few microseconds."""
    if (
        statement._group_by_clauses
        or statement._having_criteria
        or statement._distinct
        or statement._from_obj
        or statement._limit_clause is not None
        or statement._offset_clause is not None
    ):
        return None
    joined = []
    for target, onclause, _from, flags in statement._setup_joins:
        if flags.get("full") or onclause is None:
            return None
        joined.append((_plain(inspect(target).selectable), onclause, bool(flags.get("isouter"))))
    targets = {table for table, _onclause, _outer in joined}
    first = {_plain(source) for source in statement.columns_clause_froms} - targets
    if len(first) != 1:
        return None
    base = first.pop()
    if not isinstance(base, Table):
        return None
    reached = {base}
    for table, onclause, outer in joined:
        if not _keeps_count(table, onclause, outer, reached):
            return None
        reached.add(table)
    where = statement.whereclause
    if where is not None and not _reads_only(where, base):
        return None
    return base


def _clause(term: Any) -> Any:
    """The SQL expression of an order term given as a mapped attribute (``Teacher.staff_no``)
    or as an expression already."""
    clause = getattr(term, "__clause_element__", None)
    return clause() if clause is not None else term


def _plain(element: Any) -> Any:
    """``element`` without the ORM's annotations (the table or alias it stands for)."""
    return element._deannotate()


def _keeps_count(table: Any, onclause: Any, outer: bool, reached: set[Any]) -> bool:
    """Whether joining ``table`` on ``onclause`` (to one of the tables ``reached``) keeps
    each row exactly once."""
    if not isinstance(onclause, BinaryExpression) or onclause.operator is not operators.eq:
        return False
    sides = [onclause.left, onclause.right]
    if not all(isinstance(side, ColumnElement) and hasattr(side, "table") for side in sides):
        return False
    mine = [side for side in sides if _plain(side.table) is table]
    if len(mine) != 1:
        return False
    target = mine[0]
    other = sides[1] if sides[0] is target else sides[0]
    if _plain(other.table) not in reached:
        return False
    column = _real(target)
    if column is None:
        return False
    if outer:
        return _unique(column)
    here = _real(other)
    return (
        here is not None
        and not here.nullable
        and column.primary_key
        and len(column.table.primary_key.columns) == 1
        and here.references(column)
    )


def _real(column: Any) -> Column[Any] | None:
    """The table column behind ``column`` (itself, or the one an alias shows)."""
    for candidate in getattr(column, "proxy_set", ()):
        if isinstance(candidate, Column) and isinstance(candidate.table, Table):
            return candidate
    return None


def _unique(column: Column[Any]) -> bool:
    table = column.table
    if column.primary_key:
        return len(table.primary_key.columns) == 1
    if column.unique:
        return True
    unique: list[UniqueConstraint | Index] = [
        c for c in table.constraints if isinstance(c, UniqueConstraint)
    ]
    unique += [i for i in table.indexes if i.unique]
    return any(_only(column, [*u.columns]) for u in unique)


def _only(column: Column[Any], columns: list[Any]) -> bool:
    """Whether ``columns`` is ``column`` alone (by identity: ``==`` on columns builds SQL)."""
    return len(columns) == 1 and columns[0] is column


def _reads_only(where: Any, table: Table) -> bool:
    """Whether every column ``where`` reads is ``table``'s (a subquery counts as reading more)."""
    for element in iterate(where):
        if isinstance(element, Select):
            return False
        if isinstance(element, Column) and _plain(element.table) is not table:
            return False
    return True
