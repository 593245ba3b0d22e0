"""Export 100,000 students as CSV and as XLSX through the list pipeline, against floors that give
the same file by the plainest means, measured in the same run:

- CSV floor: the database driver alone (a DB-API cursor, no SQLAlchemy; server-side on
  PostgreSQL, 1,000 rows a fetch, as the pipeline reads them) running the list's SQL, and the
  ``csv`` module writing each fetched batch whole, UTF-8 with a BOM (no ORM, no mapping, no
  cleaning). Before anything is timed the bench checks that it writes the pipeline's very file
  (same SHA-256);
- XLSX floor: the same driver rows written by the chosen writer alone (XlsxWriter
  ``constant_memory``), cell by cell, with no cleaning.

Each floor and its case take turns (CSV best of 5, XLSX best of 3), so that a busy moment of the
shared machine falls on both.

It also prints the peak memory of the pipeline's export at 10,000 / 50,000 / 100,000 rows (it
should not grow with the rows: rows are streamed from a server-side cursor and written as they
come), and the XLSX writers compared on 50,000 x 8 cells, the figures the writer was chosen by.

``BENCH_DATABASE_URL=postgresql://…`` runs it on PostgreSQL (the database is emptied and
migrated); the default is a temporary SQLite file. ``BENCH_ROWS`` changes the row count;
``BENCH_WRITERS=0`` leaves out the comparison of the XLSX writers.

Targets (issue 13): peak memory growth ≤ 50 MB; CSV ≤ 2x its floor; XLSX ≤ 1.5x its floor.
"""

import csv
import hashlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import xlsxwriter
from openpyxl import Workbook
from sqlmodel import Session, col

import app.models  # noqa: F401
from app.applications.models import ApplicationStatus
from app.core.db import create_db_engine, is_sqlite
from app.core.export import CHUNK_SIZE, Batches, csv_chunks, xlsx_chunks
from app.core.i18n import translate
from app.core.listing import EXPORT_CHUNK_ROWS, Listing
from app.core.migrations import upgrade_to_head
from app.core.roles import Principal, Role
from app.core.types import utcnow
from app.reference.models import College, Major, Student, StudentFilters
from app.reference.service import STUDENTS
from bench.harness import Measurement, measure, measure_in_turns, report

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
PRINCIPAL = Principal(role=Role.academic_office, label="bench")
FLOOR_SQL = (
    "SELECT s.id, s.student_no, s.name, m.code, m.name, c.name, s.cohort, s.class_name "
    "FROM students s JOIN majors m ON m.id = s.major_id JOIN colleges c ON c.id = m.college_id "
    "ORDER BY s.student_no, s.id"
)
HEADERS = ["ID", "学号", "姓名", "专业代码", "专业名称", "二级学院", "年级", "班级"]


def _database(folder: Path) -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder / 'export.db'}"
    if not is_sqlite(url):
        engine = create_db_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    upgrade_to_head(url)
    engine = create_db_engine(url)
    now = utcnow()
    with Session(engine) as session:
        colleges = [College(name=f"信息技术学院{i}") for i in range(10)]
        session.add_all(colleges)
        session.flush()
        college_ids = [c.id or 0 for c in colleges]
        majors = [
            Major(code=f"51{i:04d}", name=f"软件技术{i}", college_id=college_ids[i % 10])
            for i in range(40)
        ]
        session.add_all(majors)
        session.flush()
        major_ids = [m.id for m in majors]
        step = 10_000
        for start in range(0, ROWS, step):
            session.execute(
                sa.insert(Student),
                [
                    {
                        "student_no": f"{2020 + i % 4}{i:08d}",
                        "name": f"学生{i}",
                        "major_id": major_ids[i % len(major_ids)],
                        "cohort": 2020 + i % 4,
                        "class_name": f"{i % 40 + 1}班",
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                    for i in range(start, min(start + step, ROWS))
                ],
            )
        session.commit()
    engine.dispose()
    return url


def _drain(chunks: Iterator[bytes]) -> int:
    return sum(len(chunk) for chunk in chunks)


def _digest(chunks: Iterator[bytes]) -> str:
    hashed = hashlib.sha256()
    for chunk in chunks:
        hashed.update(chunk)
    return hashed.hexdigest()


def _driver_batches(url: str) -> Iterator[Sequence[Sequence[Any]]]:
    """The list's rows through the driver alone (a DB-API cursor: no SQLAlchemy result, no row
    objects but the driver's own), fetched as the pipeline fetches them: 1,000 at a time, from a
    server-side (named) cursor on PostgreSQL. The connection comes from an engine made as the
    pipeline makes its own, so both connect alike."""
    engine = create_db_engine(url)
    with engine.connect() as connection:
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor() if is_sqlite(url) else dbapi.cursor(name="floor")
        cursor.execute(FLOOR_SQL)
        while rows := cursor.fetchmany(EXPORT_CHUNK_ROWS):
            yield rows
        cursor.close()
    engine.dispose()


def _driver_rows(url: str) -> Iterator[Sequence[Any]]:
    return chain.from_iterable(_driver_batches(url))


def _csv_floor(url: str, digest: bool = False) -> Callable[[], dict[str, Any]]:
    """The same file by the plainest means: each fetched batch written whole by the ``csv``
    module, UTF-8 with a BOM, encoded ``CHUNK_SIZE`` at a time; ``digest`` adds the file's
    SHA-256 (for the check that it is the pipeline's file, outside the timing)."""

    def run() -> dict[str, Any]:
        hashed = hashlib.sha256()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff")
        writer.writerow(HEADERS)
        size = 0
        for rows in _driver_batches(url):
            writer.writerows(rows)
            if buffer.tell() >= CHUNK_SIZE:
                chunk = buffer.getvalue().encode("utf-8")
                size += len(chunk)
                if digest:
                    hashed.update(chunk)
                buffer.seek(0)
                buffer.truncate()
        chunk = buffer.getvalue().encode("utf-8")
        if digest:
            hashed.update(chunk)
        return {"bytes": size + len(chunk), "sha256": hashed.hexdigest() if digest else ""}

    return run


def _xlsx_floor(url: str) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        with tempfile.TemporaryFile() as output:
            workbook = xlsxwriter.Workbook(output, {"constant_memory": True})
            sheet = workbook.add_worksheet("students")
            sheet.write_row(0, 0, HEADERS)
            for number, row in enumerate(_driver_rows(url), start=1):
                for column, value in enumerate(row):
                    if isinstance(value, str):
                        sheet.write_string(number, column, value)
                    elif value is not None:
                        sheet.write_number(number, column, value)
            workbook.close()
            return {"bytes": output.tell()}

    return run


def _pipeline(
    url: str, fmt: str, listing: Listing[Any, Any] = STUDENTS, digest: bool = False
) -> Any:
    def run() -> dict[str, Any]:
        engine = create_db_engine(url)
        with Session(engine) as session:
            rows = listing.export_rows(session, PRINCIPAL, StudentFilters())
            headers = [translate(c.header) for c in listing.columns]
            if fmt == "csv":
                chunks = csv_chunks(rows, headers)
            else:
                chunks = xlsx_chunks(rows, headers, listing.filename)
            result = {"sha256": _digest(chunks)} if digest else {"bytes": _drain(chunks)}
        engine.dispose()
        return result

    return run


def _limited(url: str, fmt: str, rows: int) -> Any:
    """The pipeline on the first ``rows`` students (a narrower statement, the same path)."""

    def statement(session: Session, principal: Principal, filters: StudentFilters) -> Any:
        base = STUDENTS.statement(session, principal, filters)
        first = sa.select(col(Student.id)).order_by(col(Student.student_no), col(Student.id))
        return base.where(col(Student.id).in_(first.limit(rows).scalar_subquery()))

    return _pipeline(url, fmt, replace(STUDENTS, statement=statement))


CELLS_ROWS = 50_000


def _cells() -> list[list[Any]]:
    return [
        [i, f"2020{i:08d}", f"学生{i}", "510203", "软件技术", "信息技术学院", 2020, f"{i % 40}班"]
        for i in range(CELLS_ROWS)
    ]


def _openpyxl_writer() -> dict[str, Any]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("students")
    sheet.append(HEADERS)
    for row in _cells():
        sheet.append(row)
    with tempfile.TemporaryFile() as output:
        workbook.save(output)
        return {"bytes": output.tell()}


def _xlsxwriter_writer() -> dict[str, Any]:
    with tempfile.TemporaryFile() as output:
        workbook = xlsxwriter.Workbook(output, {"constant_memory": True})
        sheet = workbook.add_worksheet("students")
        sheet.write_row(0, 0, HEADERS)
        for number, row in enumerate(_cells(), start=1):
            sheet.write_row(number, 0, row)
        workbook.close()
        return {"bytes": output.tell()}


STATUSES = list(ApplicationStatus)


def _status_rows(labelled: bool) -> list[list[Any]]:
    """``_cells`` with a status column: the enum's members (shown by their labels) or the
    same codes as plain text (what the writers did before labels)."""
    return [
        [*row, STATUSES[index % len(STATUSES)] if labelled else STATUSES[index % 5].value]
        for index, row in enumerate(_cells())
    ]


def _written(fmt: str, labelled: bool) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        cells = _status_rows(labelled)
        rows = Batches(
            cells[start : start + EXPORT_CHUNK_ROWS]
            for start in range(0, CELLS_ROWS, EXPORT_CHUNK_ROWS)
        )
        headers = [*HEADERS, "状态"]
        if fmt == "csv":
            return {"bytes": _drain(csv_chunks(rows, headers))}
        return {"bytes": _drain(xlsx_chunks(rows, headers, "students"))}

    return run


def _label_cost() -> None:
    """What showing an enum column by its labels costs: the same rows written with the codes
    as plain text (the floor) and with the members (labels looked up per batch and column)."""
    for fmt in ("csv", "xlsx"):
        floor, labelled = measure_in_turns(
            [
                (f"{fmt}: status as plain codes", _written(fmt, labelled=False)),
                (f"{fmt}: status by its labels", _written(fmt, labelled=True)),
            ],
            repeat=3,
        )
        report(
            f"An enum column by its labels, {CELLS_ROWS:,} x 9 cells as {fmt.upper()}",
            [labelled],
            floor,
            CELLS_ROWS,
        )


def _target(kind: str, case: Measurement, floor: Measurement, most: float) -> None:
    ratio = case.seconds / floor.seconds
    verdict = "met" if ratio <= most else "NOT met"
    print(f"{kind}: {ratio:.2f}x its floor; target <= {most}x: {verdict}")


def _print_memory(rows: list[tuple[int, Measurement, Measurement]]) -> None:
    print("\nPeak memory growth of the pipeline's export as rows grow (MB above the start)")
    print(f"{'rows':>9}{'csv MB':>9}{'xlsx MB':>9}{'csv s':>8}{'xlsx s':>8}")
    for count, as_csv, as_xlsx in rows:
        print(
            f"{count:>9,}{as_csv.peak_rss_mb:>9.0f}{as_xlsx.peak_rss_mb:>9.0f}"
            f"{as_csv.seconds:>8.2f}{as_xlsx.seconds:>8.2f}"
        )


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="onex-export-bench-"))
    try:
        url = _database(folder)
        backend = "SQLite" if is_sqlite(url) else "PostgreSQL"
        floor_file = _csv_floor(url, digest=True)()["sha256"]
        if _pipeline(url, "csv", digest=True)()["sha256"] != floor_file:
            sys.exit("the CSV floor does not write the pipeline's file: its figure would mislead")
        csv_floor, as_csv = measure_in_turns(
            [
                ("floor: driver + csv module", _csv_floor(url)),
                ("export csv (pipeline)", _pipeline(url, "csv")),
            ],
            repeat=5,
        )
        report(
            f"Export {ROWS:,} students as CSV on {backend}; Python {sys.version.split()[0]}",
            [as_csv],
            csv_floor,
            ROWS,
        )
        _target("CSV", as_csv, csv_floor, 2.0)
        xlsx_floor, as_xlsx = measure_in_turns(
            [
                ("floor: driver + XlsxWriter alone", _xlsx_floor(url)),
                ("export xlsx (pipeline)", _pipeline(url, "xlsx")),
            ]
        )
        report(f"Export {ROWS:,} students as XLSX on {backend}", [as_xlsx], xlsx_floor, ROWS)
        _target("XLSX", as_xlsx, xlsx_floor, 1.5)

        growth = []
        for count in (ROWS // 10, ROWS // 2):
            growth.append(
                (
                    count,
                    measure(f"csv {count}", _limited(url, "csv", count), repeat=1),
                    measure(f"xlsx {count}", _limited(url, "xlsx", count), repeat=1),
                )
            )
        growth.append((ROWS, as_csv, as_xlsx))
        _print_memory(growth)
        _label_cost()

        if os.environ.get("BENCH_WRITERS") == "0":
            return
        openpyxl_run = measure("openpyxl write-only", _openpyxl_writer)
        xlsxwriter_run = measure("XlsxWriter constant_memory (chosen)", _xlsxwriter_writer)
        report(
            f"XLSX writers alone, {CELLS_ROWS:,} x 8 cells (x floor: against openpyxl)",
            [xlsxwriter_run],
            openpyxl_run,
            CELLS_ROWS,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
