"""List pages, exports and an audited write on the province-sized year of ``bench scale``.

Every paged list of the service is found (each module-level ``Listing`` of ``app``), and for
each one, through its service call (``Listing.page``, as the endpoint calls it for the academic
office, no HTTP):

- its first page of 50 rows (the total counted up to ``COUNT_LIMIT`` rows, as the first page
  of a walk counts it), and, for a list with more rows than that, its first page with
  ``count=true`` (every row counted, as a client may ask);
- for a list that pages by key, a page at 90 % of its depth after a ``next`` cursor (the page
  an integrator reaches by following ``next``; the total is carried in the cursor).

Each is timed as ``bench scale`` times a report: the first call apart, then the best of
``BENCH_WARM_CALLS`` more in the same process (the steady state of a serving worker). The
floor of each is the driver alone replaying the very statements the service sent for the
same page (captured with SQLAlchemy's ``before_cursor_execute``), fetching every row: what the
database costs, without the service's statement building, row mapping and validation.

Then one export (the credit records as CSV through the list pipeline, against the driver
reading the same statement from a server-side cursor and the ``csv`` module writing the rows),
and one audited write (``PATCH`` of a student through its service function, 200 in a row, each
its own transaction with its audit event, against the driver's single-row ``UPDATE`` and
commit, 200 in a row).

Targets (issue 14): the first page of every list under 50 ms; a deep page by cursor as cheap
as the first.
"""

import csv
import io
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, col, select

from app.core.counting import counted_rows
from app.core.cursor import Cursor, encode
from app.core.db import create_db_engine
from app.core.listing import Listing
from app.core.pagination import PageParams
from bench.harness import Measurement, measure
from bench.scale import PRINCIPAL, _service_case, replay

PAGE_ROWS = 50
WRITES = 200


def listings() -> list[tuple[str, Listing[Any, Any]]]:
    """Every module-level ``Listing`` of the service, by its module and name."""
    import app.main  # noqa: F401  (imports every router, so every listing's module)

    found: dict[int, tuple[str, Listing[Any, Any]]] = {}
    for name, module in sorted(sys.modules.items()):
        if not name.startswith("app.") or module is None:
            continue
        for attr, value in vars(module).items():
            if isinstance(value, Listing) and id(value) not in found:
                found[id(value)] = (f"{name.removeprefix('app.')}.{attr}", value)
    return sorted(found.values(), key=lambda item: item[0])


def _captured(url: str, work: Callable[[Session], Any]) -> list[tuple[str, Any]]:
    """The statements ``work`` sends, with their parameters, as the driver receives them."""
    engine = create_db_engine(url)
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "SELECT 1")):
            sent.append((statement, parameters))

    with Session(engine, expire_on_commit=False) as session:
        session.connection()
        event.listen(engine, "before_cursor_execute", capture)
        work(session)
        event.remove(engine, "before_cursor_execute", capture)
    engine.dispose()
    return sent


def _deep_cursor(session: Session, listing: Listing[Any, Any], filters: Any) -> str | None:
    """The ``next`` cursor of the page that ends at 90 % of the list's depth."""
    terms = listing.keyset_terms
    if terms is None:
        return None
    statement = listing.scoped(session, PRINCIPAL, filters)
    total = int(session.execute(counted_rows(statement, None)).scalar_one())
    if total < 10 * PAGE_ROWS:
        return None
    keys = [expression for expression, _descending in terms]
    row = session.execute(
        statement.with_only_columns(*keys, maintain_column_froms=True)
        .order_by(*listing.order)
        .offset(int(total * 0.9))
        .limit(1)
    ).first()
    return None if row is None else encode(Cursor(key=tuple(row), total=int(total)))


def _page_work(
    listing: Listing[Any, Any], filters: Any, cursor: str | None, count: bool = False
) -> Callable[[Session], Any]:
    return lambda session: listing.page(
        session, PRINCIPAL, filters, PageParams(limit=PAGE_ROWS), cursor, count
    )


def _header(first: str) -> None:
    print(f"\n{first:<52}{'ms':>9}{'+peak MB':>9}{'floor ms':>9}{'x floor':>8}")


def _line(name: str, case: Measurement, floor: Measurement, note: str = "") -> None:
    ms, floor_ms = case.seconds * 1000, floor.seconds * 1000
    print(
        f"{name:<52}{ms:>9.1f}{case.peak_rss_mb:>9.0f}{floor_ms:>9.1f}"
        f"{case.seconds / floor.seconds:>8.2f}  {note}",
        flush=True,
    )


def list_pages(url: str, repeat: int) -> None:
    _header("list page (50 rows)")
    slow = []
    engine = create_db_engine(url)
    for name, listing in listings():
        try:
            filters = listing.filters()
        except ValueError:
            print(f"{name:<52}  skipped: its filters have a required member")
            continue
        with Session(engine, expire_on_commit=False) as session:
            deep = _deep_cursor(session, listing, filters)
            capped = _page_work(listing, filters, None)(session).total is None
        cases: list[tuple[str, str | None, bool]] = [("first page", None, False)]
        if capped:
            cases.append(("first page, count=true", None, True))
        if deep:
            cases.append(("page at 90 % by cursor", deep, False))
        for label, cursor, count in cases:
            work = _page_work(listing, filters, cursor, count)
            case = measure(name, _service_case(url, work), repeat)
            floor = measure(name + " floor", replay(url, _captured(url, work)), repeat)
            note = "" if case.seconds < 0.05 else "over 50 ms"
            if count:
                note = note and "over 50 ms, on request"
            elif note:
                slow.append(f"{name} ({label})")
            _line(f"{name}: {label}", case, floor, note)
    engine.dispose()
    print(f"\nlist pages over 50 ms: {', '.join(slow) if slow else 'none'}")


def _export_work(listing: Listing[Any, Any]) -> Callable[[Session], Any]:
    from app.core.export import csv_chunks
    from app.core.i18n import translate

    def work(session: Session) -> int:
        rows = listing.export_rows(session, PRINCIPAL, listing.filters())
        headers = [translate(c.header) for c in listing.columns]
        return sum(len(chunk) for chunk in csv_chunks(rows, headers))

    return work


def _csv_floor(url: str, statements: list[tuple[str, Any]]) -> Callable[[], dict[str, Any]]:
    """The export's statement through a server-side driver cursor, written by ``csv``."""
    statement, parameters = statements[-1]

    def run() -> dict[str, Any]:
        engine = create_db_engine(url)
        raw = engine.raw_connection()
        try:
            started = time.perf_counter()
            cursor = raw.driver_connection.cursor(name="floor")  # type: ignore[union-attr]
            cursor.execute(statement, parameters)
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            size = 0
            while rows := cursor.fetchmany(1000):
                writer.writerows(rows)
                size += len(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
            cursor.close()
            seconds = time.perf_counter() - started
        finally:
            raw.close()
        engine.dispose()
        return {"seconds": seconds, "bytes": size}

    return run


def export(url: str, repeat: int) -> None:
    from app.credits.ledger import CREDITS

    work = _export_work(CREDITS)
    _header("export")
    case = measure("credit records csv", _service_case(url, work), repeat)
    floor = measure("floor", _csv_floor(url, _captured(url, work)), repeat)
    _line("GET /credit-records?format=csv (every row)", case, floor)


def _student_writes(url: str) -> Callable[[], dict[str, Any]]:
    from app.reference.models import Student, StudentUpdate
    from app.reference.service import update_student

    def run() -> dict[str, Any]:
        engine = create_db_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            first = select(Student.id, Student.version).order_by(col(Student.id)).limit(WRITES)
            versions: dict[int, int] = {i: v for i, v in session.exec(first).all() if i}
            ids = sorted(versions)
            session.commit()
            started = time.perf_counter()
            for number, student_id in enumerate(ids):
                change = StudentUpdate(class_name=f"bench {number} {time.time_ns()}")
                update_student(session, PRINCIPAL, student_id, change, versions[student_id])
            seconds = time.perf_counter() - started
        engine.dispose()
        return {"seconds": seconds / WRITES}

    return run


def _driver_writes(url: str) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        engine = create_db_engine(url)
        raw = engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(f"SELECT id FROM students ORDER BY id LIMIT {WRITES}")
            ids = [row[0] for row in cursor.fetchall()]
            raw.driver_connection.commit()  # type: ignore[union-attr]
            started = time.perf_counter()
            for number, student_id in enumerate(ids):
                cursor.execute(
                    "UPDATE students SET class_name = %s, version = version + 1, "
                    "updated_at = now() WHERE id = %s",
                    (f"floor {number} {time.time_ns()}", student_id),
                )
                raw.driver_connection.commit()  # type: ignore[union-attr]
            seconds = time.perf_counter() - started
            cursor.close()
        finally:
            raw.close()
        engine.dispose()
        return {"seconds": seconds / WRITES}

    return run


def writes(url: str, repeat: int) -> None:
    _header("write (one row, one transaction)")
    case = measure("student writes", _student_writes(url), repeat)
    floor = measure("driver writes", _driver_writes(url), repeat)
    _line("PATCH /students/{id} (audited), per write", case, floor)


def main(url: str, repeat: int) -> None:
    list_pages(url, repeat)
    export(url, repeat)
    writes(url, repeat)
