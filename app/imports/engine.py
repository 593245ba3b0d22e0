"""The one bulk import engine. A kind declares its columns, natural key and row rules; the engine
reads the file, finds the header, checks every row, compares with what is stored and writes it
all in one transaction, or nothing when any row is bad."""

import difflib
import functools
import hashlib
import itertools
import operator
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import sql as psycopg_sql
from pydantic import BaseModel
from sqlmodel import Session, SQLModel

from app.core.audit import record_row
from app.core.collector import collector_paused
from app.core.errors import Conflict, UnprocessableEntity
from app.core.i18n import _, translate
from app.core.labels import english_of
from app.core.locks import advisory_lock
from app.core.roles import OFFICE, OFFICE_OR_COLLEGE, Principal, Role
from app.core.types import utcnow
from app.imports.cells import CellError, Parser, column_parser
from app.imports.models import ImportBatch, ImportReport, RowError
from app.imports.readers import read_rows

HEADER_SCAN_ROWS = 20
MAX_REPORTED_ERRORS = 1000
_HEADER_NOISE = re.compile(r"[\s_*:：()（）]")
WRITE_CHUNK = 2000
T = TypeVar("T")


class RowRefused(Exception):
    """A row that cannot be used as a whole (or a reference in it is unknown)."""

    def __init__(self, reason: str, column: str | None = None, value: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column
        self.value = value


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return _("; did you mean {suggestion}?", suggestion=repr(close[0])) if close else ""


def known(found: Mapping[Any, T], value: Any, column: str, unknown: str, **params: Any) -> T:
    """What ``found`` holds for a row's reference ``value`` (a name, a number, an id); else
    the row is refused in ``column`` with ``unknown`` (an ``N_`` message: a ``{hint}`` in it
    says the closest known name, the other placeholders come from ``params``)."""
    if value in found:
        return found[value]
    hint = did_you_mean(value, found) if "{hint}" in unknown else ""
    raise RowRefused(_(unknown, hint=hint, **params), column, str(value))


def optional(cells: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The values of the optional columns ``keys`` the file has, an empty cell as None; a
    column the file lacks is left out, so the stored value stays."""
    found: dict[str, Any] = {}
    for key in keys:  # not a comprehension: that is a call of its own per row on Python 3.11
        if key in cells:
            found[key] = cells[key] or None
    return found


def cell_or_option(cells: dict[str, Any], options: Any, name: str) -> int | None:
    """A whole number a row gives in column ``name`` or, when the cell is empty, the upload
    gives as the query parameter of that name (``?year=``, ``?batch_id=``)."""
    value = cells.get(name)
    if value is None and options is not None:
        value = getattr(options, name)
    return value if isinstance(value, int) else None


_TIMESTAMPS = frozenset({"created_at", "updated_at"})


def stored_columns(model: type[SQLModel]) -> list[sa.Column[Any]]:
    """The columns of ``model``'s table an upload compares: all but the timestamps."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return [c for c in table.columns if c.name not in _TIMESTAMPS]


def stored_rows(
    session: Session, model: type[SQLModel], *where: sa.ColumnElement[bool]
) -> Iterator[dict[str, Any]]:
    """``model``'s stored rows (those matching ``where``) as dicts, without the timestamps."""
    statement = sa.select(*stored_columns(model)).where(*where)
    for row in session.execute(statement).mappings():
        yield dict(row)


def grouped(session: Session, parent: Any, child: Any) -> defaultdict[Any, list[Any]]:
    """A link table's ``child`` values by ``parent`` (each application's majors, a base's
    partners), in the order stored; a parent without any gets an empty list."""
    found: defaultdict[Any, list[Any]] = defaultdict(list)
    for parent_id, value in session.execute(sa.select(parent, child)):
        found[parent_id].append(value)
    return found


IN_CHUNK = 1000
"""At most this many values in one ``IN (…)`` of the statements below."""


def ids_by(
    session: Session, model: type[SQLModel], key: str, values: Iterable[Any]
) -> dict[Any, int]:
    """The ids of ``model``'s rows whose column ``key`` holds one of ``values``, by that value
    (the rows an upload has just written, to link them)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    wanted = sorted(set(values))
    found: dict[Any, int] = {}
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        query = sa.select(table.c[key], table.c.id).where(table.c[key].in_(chunk))
        found.update((value, row_id) for value, row_id in session.execute(query))
    return found


def insert_new(
    session: Session, model: type[SQLModel], key: str, rows: list[dict[str, Any]]
) -> dict[Any, int]:
    """Insert the rows an upload creates beside its own (the colleges, certificates or
    courses its rows name that do not exist yet), stamped now and at version 1; their ids by
    their column ``key``."""
    now = utcnow()
    stamped = [{**row, "created_at": now, "updated_at": now, "version": 1} for row in rows]
    session.execute(sa.insert(model.__table__), stamped)  # type: ignore[attr-defined]
    return ids_by(session, model, key, (row[key] for row in rows))


def use_created(
    plan: "Plan",
    rows: list[dict[str, Any]],
    name: str,
    ids: dict[Any, int],
    *,
    via: str,
    field: str,
) -> None:
    """Point the rows that name a row the upload has just created (``insert_new``; the row's
    ``via`` holds its key) at its id in ``field``, and count the created rows in the report's
    ``also_created`` as ``name``."""
    for values in rows:
        if values.get(via):
            values[field] = ids[values[via]]
    plan.also_created[name] = len(ids)


def replace_links(
    session: Session, parent: Any, child: Any, children: Mapping[int, Iterable[Any]]
) -> None:
    """Replace a link table's rows (``parent`` and ``child``: its two columns, such as
    ``CourseMajor.course_id`` and ``CourseMajor.major_id``) of each parent in ``children``
    by that parent's children."""
    table: sa.Table = parent.class_.__table__
    parent_ids = sorted(children)
    for start in range(0, len(parent_ids), IN_CHUNK):
        chunk = parent_ids[start : start + IN_CHUNK]
        session.execute(sa.delete(table).where(table.c[parent.key].in_(chunk)))
    links = [{parent.key: p, child.key: c} for p in parent_ids for c in children[p]]
    if links:
        session.execute(sa.insert(table), links)


def rows_by(session: Session, model: type[SQLModel], key: str) -> dict[Any, dict[str, Any]]:
    """The stored rows by natural key (the column ``key``): a kind's ``Plan.existing``."""
    return {row[key]: row for row in stored_rows(session, model)}


# --- declarations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of an upload: its key, Chinese and English headers (and aliases), its cell
    parser, whether it is required, the template's example and help. ``choices``: the values
    an enum column takes (the template's drop-down, strict); ``choices_from``: the names a
    reference column takes as they are stored when the template is downloaded (a drop-down
    that warns on another value: a code, or a name the upload creates); ``multiple``: the
    cell takes several values separated by 、 (its drop-down offers one, any text goes).
    ``en``, the English header, is the key unless given."""

    key: str
    zh: str
    parse: Parser
    required: bool = True
    aliases: tuple[str, ...] = ()
    example: str = ""
    help: str = ""
    choices: tuple[str, ...] = ()
    choices_from: Callable[[Session], list[str]] | None = None
    multiple: bool = False
    en: str = ""

    def __post_init__(self) -> None:
        if not self.en:
            object.__setattr__(self, "en", self.key)


@dataclass
class Plan:
    """What the kind's ``prepare`` loaded once for the whole file."""

    existing: dict[Any, dict[str, Any]] = field(default_factory=dict)
    lookups: dict[str, Any] = field(default_factory=dict)
    also_created: dict[str, int] = field(default_factory=dict)
    options: Any = None
    report: dict[str, Any] = field(default_factory=dict)
    """Entries the kind adds to the upload's report, e.g. ``created_certificates``."""


def as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class ImportKind:
    """One kind of upload. ``to_values`` turns a row's parsed cells into the table's values
    (raising ``RowRefused`` for unknown references; it may give back the cells themselves
    with values added), once per row, in the file's order. ``college_of`` names the
    college a row belongs to, for a college manager's scope. ``options`` declares extra query
    parameters of the upload (a pydantic model; the engine hands the parsed values to the
    kind as ``Plan.options``); ``row_key`` gives the natural key of a row from its cells and
    options, for keys that span several columns. ``writers``: the roles that may upload it;
    unless given, the office, and college managers too when ``college_of`` scopes their rows."""

    name: str
    title: str
    model: type[SQLModel]
    columns: tuple[Column, ...]
    key: str
    prepare: Callable[[Session, Principal], Plan]
    to_values: Callable[[Plan, dict[str, Any], Principal], dict[str, Any]]
    writers: frozenset[Role] = frozenset()
    college_of: Callable[[Plan, dict[str, Any]], int | None] | None = None
    before_write: Callable[[Session, Principal, Plan, list[dict[str, Any]]], None] | None = None
    extra_fields: tuple[str, ...] = ()
    write_extra: Callable[[Session, Plan, list[dict[str, Any]]], None] | None = None
    key_of: Callable[[Any], Any] = as_is
    scope_columns: tuple[str, ...] = ()
    require_any: tuple[str, ...] = ()
    description: str = ""
    options: type[BaseModel] | None = None
    row_key: Callable[[dict[str, Any], Any], Any] | None = None
    read_by: str = ""
    """For a kind the engine only reads (``national-results``): the endpoint that takes its
    files. ``POST /imports/{kind}`` then checks a file (``dry_run``) and writes nothing."""

    def __post_init__(self) -> None:
        if not self.writers:
            writers = OFFICE_OR_COLLEGE if self.college_of is not None else OFFICE
            object.__setattr__(self, "writers", writers)

    @property
    def table(self) -> sa.Table:
        table: sa.Table = self.model.__table__  # type: ignore[attr-defined]
        return table


def header_key(text: str) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def _column_names(column: Column) -> set[str]:
    """The headers a column is recognised by: its own, its aliases, and the English header an
    export in English writes for any of them (the catalogue's msgid of that Chinese header)."""
    names = (column.zh, column.en, column.key, *column.aliases)
    english = [msgid for name in names for msgid in english_of(name)]
    return {header_key(n) for n in (*names, *english)}


EXAMPLE_MARK = "示例"
"""A template's example row starts with this (``示例：计算机与软件学院``); an upload skips it."""
_EXAMPLE = re.compile(r"^示例\s*([:：]|$)")


def is_example_row(raw: list[str]) -> bool:
    """Whether a row is a template's example row: its first non-blank cell starts with 示例
    followed by a colon (or is 示例 alone)."""
    return is_example_cell(_first_text(raw) or "")


def is_example_cell(first: str) -> bool:
    """Whether a row's first non-blank cell marks a template's example row. An ASCII cell (a
    code, a number: nearly every row's) never does, and is not normalised to find out."""
    return not first.isascii() and bool(
        _EXAMPLE.match(unicodedata.normalize("NFKC", first).strip())
    )


@dataclass
class _Header:
    index: int
    positions: dict[str, int]
    ignored: list[str]


def _find_header(kind: ImportKind, rows: list[list[str]]) -> _Header:
    names = {c.key: _column_names(c) for c in kind.columns}
    best: tuple[int, int] = (0, -1)
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        keys = {header_key(cell) for cell in row if cell and not cell.isspace()}
        score = sum(1 for n in names.values() if n & keys)
        if score > best[0]:
            best = (score, index)
    expected = ", ".join(f"{c.zh} ({c.en})" for c in kind.columns if c.required)
    if best[1] < 0:
        raise UnprocessableEntity(
            _(
                "No header row found in the first {rows} rows; expected columns: {expected}",
                rows=HEADER_SCAN_ROWS,
                expected=expected,
            ),
            code="missing_columns",
            errors=[
                {"field": "file", "message": _("expected columns: {expected}", expected=expected)}
            ],
        )
    index = best[1]
    positions: dict[str, int] = {}
    ignored: list[str] = []
    duplicate: list[dict[str, str]] = []
    for position, raw_cell in enumerate(rows[index]):
        cell = raw_cell.strip()
        if not cell:
            continue
        key = header_key(cell)
        match = next((c for c in kind.columns if key in names[c.key]), None)
        if match is None:
            ignored.append(cell)
        elif match.key in positions:
            duplicate.append(
                {
                    "field": f"file.{cell}",
                    "message": _("a second {zh} ({en}) column", zh=match.zh, en=match.en),
                }
            )
        else:
            positions[match.key] = position
    missing = [c for c in kind.columns if c.required and c.key not in positions]
    problems = duplicate + [
        {
            "field": f"file.{c.zh}",
            "message": _("required column {zh} ({en}) is missing", zh=c.zh, en=c.en),
        }
        for c in missing
    ]
    if kind.require_any and not any(key in positions for key in kind.require_any):
        either = _(" or ").join(
            f"{c.zh} ({c.en})" for c in kind.columns if c.key in kind.require_any
        )
        problems.append(
            {"field": "file", "message": _("a column {either} is required", either=either)}
        )
    if problems:
        found = ", ".join(cell.strip() for cell in rows[index] if cell.strip())
        raise UnprocessableEntity(
            _(
                "The file's columns do not fit a {kind} upload: {problems}. Found columns: "
                "{found}. Expected: {expected}",
                kind=kind.name,
                problems="; ".join(p["message"] for p in problems),
                found=found,
                expected=expected,
            ),
            code="missing_columns",
            errors=problems,
        )
    return _Header(index=index, positions=positions, ignored=ignored)


class _Errors:
    def __init__(self) -> None:
        self.items: list[RowError] = []
        self.total = 0
        self.bad_rows: set[int] = set()

    def add(self, row: int, column: str | None, value: str | None, reason: str) -> None:
        self.total += 1
        self.bad_rows.add(row)
        if len(self.items) < MAX_REPORTED_ERRORS:
            where = f"row {row}" + (f".{column}" if column else "")
            self.items.append(
                RowError(
                    row=row, column=column, value=value, reason=reason, field=where, message=reason
                )
            )


def lock_kind(session: Session, name: str) -> None:
    """Two uploads of the kind ``name`` run one after the other (SQLite: BEGIN IMMEDIATE
    already); a single-row writer whose check reads other rows of the kind may take the same
    lock to take its turn among them (conversion rules)."""
    advisory_lock(session, f"import:{name}")


def _lock_kind(session: Session, kind: ImportKind) -> None:
    lock_kind(session, kind.name)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        try:
            return Decimal(str(old)) == Decimal(str(new))
        except InvalidOperation:
            return False
    return bool(old == new)


def _keys(kind: ImportKind, parsed: list[tuple[int, dict[str, Any]]], options: Any) -> list[Any]:
    """Each row's natural key: ``row_key`` of its cells and options, or its key column's
    value (None when the cell is empty or bad)."""
    if kind.row_key is not None:
        row_key = kind.row_key
        return [row_key(cells, options) for _line, cells in parsed]
    name, key_of = kind.key, kind.key_of
    values = [cells.get(name) for _line, cells in parsed]
    if key_of is as_is:
        return values
    return [None if value is None else key_of(value) for value in values]


def _key_text(value: Any) -> str:
    return " / ".join(map(str, value)) if isinstance(value, tuple) else str(value)


@dataclass
class _Changes:
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0


# Paused around the whole call, so the rows are freed as it returns, before the collector is
# back: else its first collection would walk every one of them, to free nothing (12-18 ms of
# CPU for 50,000 students).
@collector_paused()
def run_import(
    session: Session,
    principal: Principal,
    kind: ImportKind,
    file_name: str,
    content: bytes,
    *,
    dry_run: bool,
    options: BaseModel | None = None,
) -> ImportReport:
    """Check ``content`` as a ``kind`` upload; unless ``dry_run`` or a row is bad, save it."""
    if kind.read_by:
        return _read_only_report(kind, file_name, content, dry_run=dry_run)
    if options is None and kind.options is not None:
        options = kind.options()
    rows = read_rows(file_name, content)
    header = _find_header(kind, rows)
    errors = _Errors()
    parsed = _parse_rows(kind, rows, header, errors)
    key_header = rows[header.index][header.positions[kind.key]].strip()
    keys = _keys(kind, parsed, options)
    _refuse_duplicate_keys(kind, parsed, keys, key_header, errors)

    _lock_kind(session, kind)
    plan = kind.prepare(session, principal)
    plan.options = options
    changes = _compare(kind, plan, principal, parsed, keys, key_header, errors)
    report = ImportReport(
        kind=kind.name,
        file_name=file_name,
        dry_run=dry_run,
        written=False,
        rows=len(parsed),
        created=len(changes.creates),
        updated=len(changes.updates),
        unchanged=changes.unchanged,
        ignored_columns=header.ignored,
        errors=errors.items,
        errors_total=errors.total,
        **plan.report,
    )
    if errors.total or dry_run:
        if errors.total == 0:
            report.also_created = _would_create(plan)
        session.rollback()
        return report

    changed = _changed_ids(session, kind, changes, _write(session, principal, kind, plan, changes))
    report.also_created = dict(plan.also_created)
    batch = ImportBatch(
        kind=kind.name,
        file_name=file_name[:255],
        sha256=hashlib.sha256(content).hexdigest(),
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        actor=principal.label,
        actor_user_id=principal.user_id,
        actor_api_key_id=principal.api_key_id,
    )
    session.add(batch)
    session.flush()
    extra = {"also_created": report.also_created, **changed}
    record_row(session, principal, batch, "import_batch", action="import", extra=extra)
    session.commit()
    report.written = True
    report.batch_id = batch.id
    return report


@dataclass
class SheetRead:
    """A file of a kind read and parsed, nothing compared or written: its rows as
    ``(spreadsheet row, {column key: value})`` (a bad cell reported and left out), the
    columns used (key → the header as in the file) and the headers ignored."""

    rows: list[tuple[int, dict[str, Any]]]
    used_columns: dict[str, str]
    ignored_columns: list[str]
    errors: list[RowError]
    errors_total: int


@collector_paused()  # as run_import: the raw rows are freed before the collector is back
def read_sheet(kind: ImportKind, file_name: str, content: bytes) -> SheetRead:
    """Read ``content`` as a file of ``kind`` the way an upload does (any title row, the
    columns by their Chinese or English names or aliases), without a database."""
    rows = read_rows(file_name, content)
    header = _find_header(kind, rows)
    errors = _Errors()
    parsed = _parse_rows(kind, rows, header, errors)
    titles = rows[header.index]
    used = {key: titles[position].strip() for key, position in header.positions.items()}
    return SheetRead(parsed, used, header.ignored, errors.items, errors.total)


def _read_only_report(
    kind: ImportKind, file_name: str, content: bytes, *, dry_run: bool
) -> ImportReport:
    sheet = read_sheet(kind, file_name, content)
    if not dry_run:
        raise Conflict(
            _(
                "{kind} files are not stored by the import engine; upload them to {endpoint} "
                "(here only ?dry_run=true checks a file)",
                kind=kind.name,
                endpoint=kind.read_by,
            ),
            code="read_only_kind",
        )
    return ImportReport.model_validate(
        {
            "kind": kind.name,
            "file_name": file_name,
            "dry_run": True,
            "written": False,
            "rows": len(sheet.rows),
            "created": 0,
            "updated": 0,
            "unchanged": 0,
            "ignored_columns": sheet.ignored_columns,
            "errors": sheet.errors,
            "errors_total": sheet.errors_total,
            "used_columns": sheet.used_columns,
        }
    )


def _parse_rows(
    kind: ImportKind, rows: list[list[str]], header: _Header, errors: _Errors
) -> list[tuple[int, dict[str, Any]]]:
    """Every non-blank row under the header as ``(spreadsheet row, {column key: value})``;
    each cell is parsed once, a bad one is reported and left out of its row. The cells are
    parsed a column at a time; what is wrong is reported row by row, as the file reads."""
    kept = _data_rows(rows, header.index + 1)
    if not kept:
        raise UnprocessableEntity(
            _("The file has a header row but no data rows; add at least one row under the header"),
            code="no_data_rows",
            errors=[{"field": "file", "message": _("header only, no data rows")}],
        )
    width = max(header.positions.values()) + 1
    body = [rows[index] for index in kept]
    if min(map(len, body)) < width:
        body = [raw + [""] * (width - len(raw)) for raw in body]
    columns = {c.key: c for c in kind.columns}
    titles = [rows[header.index][position].strip() for position in header.positions.values()]
    parsed: list[list[Any]] = []
    problems: list[tuple[int, int, str, str]] = []  # (row, column, value, reason)
    for order, (key, position) in enumerate(header.positions.items()):
        texts = list(map(str.strip, map(operator.itemgetter(position), body)))
        values, bad = _parse_column(columns[key], texts)
        parsed.append(values)
        problems += [(row, order, value, reason) for row, value, reason in bad]
    cells = list(map(_row_maker(tuple(header.positions)), *parsed))
    for row, order, value, reason in sorted(problems):
        errors.add(kept[row] + 1, titles[order], value, reason)
        cells[row] = {key: cell for key, cell in cells[row].items() if cell is not _BAD}
    return [(index + 1, row_cells) for index, row_cells in zip(kept, cells, strict=True)]


_BAD = object()
"""A cell that did not parse, until it is left out of its row."""


def _data_rows(rows: list[list[str]], start: int) -> list[int]:
    """The indexes of the rows from ``start`` on that hold data: neither blank nor the
    template's example row. When every row starts with a code or a number (ASCII, not
    blank), as nearly every file does, that is all of them, without a look at each."""
    body = rows[start:]
    if all(body):  # no empty row (a blank line of a CSV reads as one)
        firsts = list(map(operator.itemgetter(0), body))
        if "".join(firsts).isascii() and all(map(str.strip, firsts)):
            return list(range(start, len(rows)))
    return [
        index
        for index, first in enumerate(map(_first_text, body), start)
        if first is not None and not is_example_cell(first)  # blank, or the template's example
    ]


@functools.cache
def _row_maker(keys: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """A function taking one value per key and giving the row's dict of them: a dict display
    compiled once per header, as ``dataclasses`` compiles an ``__init__``; per row it is twice
    as quick as ``dict(zip(keys, values))``. The keys are a kind's own column keys, written
    into the display as literals (``repr``), never a file's text."""
    arguments = [f"v{i}" for i in range(len(keys))]
    pairs = ", ".join(f"{key!r}: {name}" for key, name in zip(keys, arguments, strict=True))
    maker: Callable[..., dict[str, Any]] = eval(f"lambda {', '.join(arguments)}: {{{pairs}}}")
    return maker


def _first_text(raw: list[str]) -> str | None:
    """A row's first cell with something other than white space in it, or None."""
    return next(filter(str.strip, raw), None)


def _parse_column(column: Column, texts: list[str]) -> tuple[list[Any], list[tuple[int, str, str]]]:
    """A column's stripped cells parsed (None for an empty one, ``_BAD`` for one that does
    not parse), and what is wrong as ``(row, value, reason)``. A column without an empty
    cell goes through its parser's quick way when it has one, or else all at once, and cell
    by cell only when a cell is refused."""
    parse = column.parse
    if "" not in texts:
        whole = column_parser(parse)
        quick = whole(texts) if whole is not None else None
        if quick is not None:
            return quick, []
        try:
            return list(map(parse, texts)), []
        except CellError:
            pass
    values: list[Any] = []
    bad: list[tuple[int, str, str]] = []
    for row, text in enumerate(texts):
        if not text:
            if column.required:
                what = translate(column.help) if column.help else column.zh
                bad.append((row, "", _("required: {what}", what=what)))
            values.append(None)
            continue
        try:
            values.append(parse(text))
        except CellError as exc:
            bad.append((row, text, str(exc)))
            values.append(_BAD)
    return values, bad


def _refuse_duplicate_keys(
    kind: ImportKind,
    parsed: list[tuple[int, dict[str, Any]]],
    keys: list[Any],
    key_header: str,
    errors: _Errors,
) -> None:
    if len(set(keys)) == len(keys):
        return
    label = next(c.zh for c in kind.columns if c.key == kind.key)
    seen: dict[Any, int] = {}
    for (line, _cells), value in zip(parsed, keys, strict=True):
        if value is None:
            continue
        if value in seen:
            text = _key_text(value)
            errors.add(
                line,
                key_header,
                text,
                _(
                    "{label} {value} already appears in row {row}; each row needs its own",
                    label=label,
                    value=text,
                    row=seen[value],
                ),
            )
        else:
            seen[value] = line


def _compared_fields(kind: ImportKind) -> list[str]:
    skipped = {"id", "created_at", "updated_at", "version"}
    return [c.name for c in kind.table.columns if c.name not in skipped]


def _compare(
    kind: ImportKind,
    plan: Plan,
    principal: Principal,
    parsed: list[tuple[int, dict[str, Any]]],
    keys: list[Any],
    key_header: str,
    errors: _Errors,
) -> _Changes:
    """Sort the good rows into creates, updates and unchanged; refuse rows outside a college
    manager's college and rows whose references are unknown."""
    scoped = principal.role == Role.college_manager and kind.college_of is not None
    fields = [*_compared_fields(kind), *kind.extra_fields]
    changes = _Changes()
    to_values, find, bad_rows = kind.to_values, plan.existing.get, errors.bad_rows
    if not scoped and not plan.existing and not bad_rows:
        # Every row is new (the table has none yet): nothing to look up or compare.
        creates = changes.creates
        for line, cells in parsed:
            try:
                creates.append(to_values(plan, cells, principal))
            except RowRefused as exc:
                errors.add(line, exc.column, exc.value, exc.reason)
        return changes
    for (line, cells), key in zip(parsed, keys, strict=True):
        if bad_rows and line in bad_rows:
            continue
        try:
            values = to_values(plan, cells, principal)
        except RowRefused as exc:
            errors.add(line, exc.column, exc.value, exc.reason)
            continue
        existing = find(key)
        if scoped and kind.college_of is not None:
            own = principal.college_id
            target = kind.college_of(plan, values)
            before = kind.college_of(plan, existing) if existing is not None else own
            if target != own or before != own:
                column, value = key_header, str(cells[kind.key])
                shown = next((k for k in kind.scope_columns if cells.get(k) is not None), None)
                if target != own and shown is not None:
                    column = next(c.zh for c in kind.columns if c.key == shown)
                    value = str(cells[shown])
                moves = existing is not None and before == own
                errors.add(
                    line,
                    column,
                    value,
                    _(
                        "would move the row to another college; a college manager imports only "
                        "rows of their own college"
                    )
                    if moves
                    else _(
                        "belongs to another college; a college manager imports only rows of "
                        "their own college"
                    ),
                )
                continue
        if existing is None:
            changes.creates.append(values)
        elif all(_same(existing.get(f), values[f]) for f in fields if f in values):
            changes.unchanged += 1
        else:
            changes.updates.append(
                {**values, "id": existing["id"], "_version": existing.get("version")}
            )
    return changes


def _write(
    session: Session, principal: Principal, kind: ImportKind, plan: Plan, changes: _Changes
) -> Any:
    """Bulk inserts and updates, in the caller's transaction; the moment every row written
    carries as its ``updated_at`` (and a new one as its ``created_at``)."""
    if kind.before_write is not None:
        kind.before_write(session, principal, plan, changes.creates + changes.updates)
    now = utcnow()
    table = kind.table
    table_fields = set(_compared_fields(kind))
    inserts = changes.creates
    columns = _shared_columns(inserts, table_fields)
    if inserts and not (columns and _copy_insert(session, table, inserts, columns, now)):
        insert = sa.insert(table).values(_stamps(session, table, now))
        _bulk_insert(session, insert, inserts, columns, table_fields)
    if changes.updates:
        _bulk_update(session, table, table_fields, changes.updates, now)
    if kind.write_extra is not None:
        kind.write_extra(session, plan, changes.creates + changes.updates)
    return now


MAX_FEED_IDS = 10_000
"""At most this many created (and as many updated) ids are listed in an upload's feed event;
beyond, the event says ``ids_omitted`` and a consumer asks the list with ``updated_since``."""


def _changed_ids(session: Session, kind: ImportKind, changes: _Changes, now: Any) -> dict[str, Any]:
    """What the upload's feed event says it changed: the moment, and the ids it created and
    updated (when there are not too many to list)."""
    table = kind.table
    found: dict[str, Any] = {"changed_at": now.isoformat()}
    if len(changes.creates) > MAX_FEED_IDS or len(changes.updates) > MAX_FEED_IDS:
        found["ids_omitted"] = True
        return found
    created: list[int] = []
    if changes.creates and "created_at" in table.c:
        created = list(
            session.execute(
                sa.select(table.c.id).where(table.c.created_at == now).order_by(table.c.id)
            ).scalars()
        )
    found["created_ids"] = created
    found["updated_ids"] = sorted(int(values["id"]) for values in changes.updates)
    return found


def _shared_columns(rows: list[dict[str, Any]], table_fields: set[str]) -> list[str] | None:
    """The table's columns the rows give, when every row has the same keys; else None."""
    if not rows:
        return None
    first = rows[0].keys()
    if any(row.keys() != first for row in rows):
        return None
    return [name for name in first if name in table_fields]


def _picker(columns: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function giving a row's values of ``columns`` as a tuple, in that order."""
    if len(columns) == 1:
        name = columns[0]
        return lambda row: (row[name],)
    return operator.itemgetter(*columns)


def _stamps(session: Session, table: sa.Table, now: Any) -> dict[str, Any]:
    """The values every new row gets: its timestamps and version 1."""
    stamps: dict[str, Any] = {}
    for name in ("created_at", "updated_at"):
        if name in table.c:
            stamps[name] = _constant(session, table.c[name], now)
    if "version" in table.c:
        stamps["version"] = sa.literal_column("1")
    return stamps


_PLAIN_TYPES = (str, int, type(None))


class ChangedDuringImport(Conflict):
    code = "changed_during_import"


def _bulk_update(
    session: Session,
    table: sa.Table,
    table_fields: set[str],
    updates: list[dict[str, Any]],
    now: Any,
) -> None:
    """Update the changed rows by id with executemany; a row whose version moved since it was
    read (an edit at the same time) makes the whole upload fail with 409, not a lost update."""
    versioned = "version" in table.c
    keys = sorted({k for values in updates for k in values if k in table_fields} - {"id"})
    assignments: dict[str, Any] = {name: sa.bindparam(f"b_{name}") for name in keys}
    condition = table.c.id == sa.bindparam("b_id")
    if "updated_at" in table.c:
        assignments["updated_at"] = _constant(session, table.c.updated_at, now)
    if versioned:
        assignments["version"] = table.c.version + 1
        condition = sa.and_(condition, table.c.version == sa.bindparam("b_old_version"))
    statement = sa.update(table).where(condition).values(assignments)
    rows = [
        {
            **{f"b_{name}": values.get(name) for name in keys},
            "b_id": values["id"],
            "b_old_version": values.get("_version"),
        }
        for values in updates
    ]
    changed = 0
    for start in range(0, len(rows), WRITE_CHUNK):
        result = session.connection().execute(statement, rows[start : start + WRITE_CHUNK])
        changed += result.rowcount
    if versioned and changed != len(rows):
        session.rollback()
        raise ChangedDuringImport(
            _(
                "{count} of the rows to update were changed by someone else while the "
                "file was being imported; nothing was written, upload it again",
                count=len(rows) - changed,
            )
        )


def _bulk_insert(
    session: Session,
    insert: sa.Insert,
    rows: list[dict[str, Any]],
    columns: list[str] | None,
    table_fields: set[str],
) -> None:
    """Insert ``rows`` in chunks of executemany. On SQLite, when every row has the same keys
    and every value is already a plain str/int/None, the statement is compiled once and the
    rows go straight to the driver's executemany (the per-row parameter processing was a
    third of a 50,000-row import)."""
    connection = session.connection()
    values = _plain_rows(connection, insert, columns, rows) if columns else None
    if values is not None and columns:
        sql = insert.compile(dialect=connection.dialect, column_keys=columns).string
        for start in range(0, len(values), WRITE_CHUNK):
            connection.exec_driver_sql(sql, values[start : start + WRITE_CHUNK])
        return
    params = [{k: v for k, v in row.items() if k in table_fields} for row in rows]
    for start in range(0, len(params), WRITE_CHUNK):
        session.execute(insert, params[start : start + WRITE_CHUNK])


def _plain_rows(
    connection: sa.Connection, insert: sa.Insert, columns: list[str], rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]] | None:
    """The rows as tuples in the compiled statement's parameter order, or None when they
    need SQLAlchemy's processing (not SQLite, values of other types)."""
    if connection.dialect.name != "sqlite":
        return None
    compiled = insert.compile(dialect=connection.dialect, column_keys=columns)
    order = list(compiled.positiontup or [])
    if sorted(order) != sorted(columns):
        return None
    values = list(map(_picker(order), rows))
    types = set(map(type, itertools.chain.from_iterable(values)))
    if not types <= set(_PLAIN_TYPES):
        return None
    return values


def _copy_insert(
    session: Session, table: sa.Table, rows: list[dict[str, Any]], columns: list[str], now: Any
) -> bool:
    """On PostgreSQL (psycopg), write the new rows with one ``COPY … FROM STDIN`` on the
    session's own connection, so they stay in the upload's transaction. Every value goes
    through its column type's bind processing (money to fen, enums to their names, timestamps
    to UTC) as an INSERT would; the columns a row leaves out get their timestamps, version 1
    or their scalar default. ``columns`` are the table's columns every row gives. False
    (nothing written) on another database, or when a left-out column has a default COPY
    cannot give."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return False
    constants = _copy_constants(table, set(columns), now)
    if constants is None:
        return False
    names = [*columns, *constants]
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    width = len(columns)
    tail = tuple(
        processor(value) if processor else value
        for processor, value in zip(processors[width:], constants.values(), strict=True)
    )
    converting = [(i, processor) for i, processor in enumerate(processors[:width]) if processor]
    pick = _picker(columns)
    query = psycopg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        psycopg_sql.Identifier(table.name),
        psycopg_sql.SQL(", ").join(map(psycopg_sql.Identifier, names)),
    )
    session.flush()
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(query) as copy:
            write = copy.write_row
            for row in rows:
                values = pick(row)
                if converting:
                    values = _converted(values, converting)
                write(values + tail)
    except psycopg.Error as exc:
        # As SQLAlchemy would wrap it, so a constraint answers 409 and a bad value 422.
        raise sa.exc.DBAPIError.instance(
            query.as_string(driver), None, exc, psycopg.Error, dialect=dialect
        ) from exc
    return True


def _converted(values: tuple[Any, ...], converting: list[tuple[int, Any]]) -> tuple[Any, ...]:
    cells = list(values)
    for index, processor in converting:
        cells[index] = processor(cells[index])
    return tuple(cells)


def _copy_constants(table: sa.Table, given: set[str], now: Any) -> dict[str, Any] | None:
    """The value of each column a new row leaves out and an INSERT would fill in from Python
    (timestamps, version, scalar defaults); None when one has a default COPY cannot give."""
    constants: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given or column.primary_key:
            continue
        default = column.default
        if column.name in ("created_at", "updated_at"):
            constants[column.name] = now
        elif column.name == "version":
            constants[column.name] = 1
        elif default is None:
            continue
        elif isinstance(default, sa.ColumnDefault) and default.is_scalar:
            constants[column.name] = default.arg
        else:
            return None
    return constants


def _constant(session: Session, column: sa.Column[Any], value: Any) -> Any:
    """One value for every row of a bulk write. On SQLite it is rendered into the statement
    once, which spares converting the same timestamp for each of 50,000 rows."""
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        return value
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    rendered = processor(value) if processor else value
    if not isinstance(rendered, str) or "'" in rendered:
        return value
    return sa.literal_column(f"'{rendered}'")


def _would_create(plan: Plan) -> dict[str, int]:
    pending = plan.lookups.get("pending_created", {})
    return {name: len(keys) for name, keys in pending.items() if keys}
