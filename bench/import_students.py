"""Import 50,000 students from .xlsx and from .csv on SQLite, and on PostgreSQL when
``BENCH_DATABASE_URL`` is set, against floors measured in the same run:

- the plain write of the same prepared rows through the same driver (SQLite: ``executemany``
  INSERT; PostgreSQL: ``COPY … FROM STDIN``);
- the same file read by the plainest means (python-calamine for .xlsx, ``csv.reader`` for
  .csv), each row turned into the table's tuple (the major's id from a dict, the cohort's
  digits), then that plain write: the least any program does to load the same file;
- on PostgreSQL, that read of the .xlsx alone, nothing written: the read and the COPY alone,
  one after the other, are the least an import of the file takes (a row exists only once
  calamine has parsed the whole sheet, and the server then takes the COPY at its own pace).

Targets: issue 3, 50,000 rows in under 5 s; issue 14, new rows within 1.5x of the
read-and-write floor of their format on SQLite, and within 1.5x of the COPY on PostgreSQL.
Each floor and its import of new rows take turns, ``BENCH_TURNS`` times (default 5), and the
best of each is kept. The database at ``BENCH_DATABASE_URL`` is migrated to head and its
students table emptied (TRUNCATE … CASCADE) before each run: give it a throw-away database.
"""

import csv
import gc
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from python_calamine import CalamineWorkbook
from sqlmodel import Session

import app.models  # noqa: F401
from app.core.db import create_db_engine
from app.core.migrations import upgrade_to_head
from app.core.roles import Principal, Role
from app.core.types import utcnow
from app.imports import engine as import_engine
from app.imports.engine import run_import
from app.imports.registry import get_kind
from app.reference import importers  # noqa: F401
from bench.harness import Measurement, measure, measure_in_turns, report

ROWS = int(os.environ.get("BENCH_ROWS", "50000"))
TURNS = int(os.environ.get("BENCH_TURNS", "5"))
"""How many times each floor and its import of new rows run, in turns (the best is kept), so
that a busy moment of a shared machine falls on both alike."""
FIXTURES = Path(__file__).resolve().parents[1] / "app" / "demo" / "fixtures"
PRINCIPAL = Principal(role=Role.academic_office, label="bench")
HEADER = ["学号", "姓名", "专业代码", "年级", "班级"]


def _rows() -> list[list[str]]:
    majors = [
        line.split("\t")[2].strip()
        for line in (FIXTURES / "majors-sample.tsv").read_text(encoding="utf-8").splitlines()[1:]
        if line.strip()
    ]
    return [
        [
            f"{2020 + i % 4}{i:07d}",
            f"学生{i}",
            majors[i % len(majors)],
            f"{2020 + i % 4}级",
            f"{i % 40 + 1}班",
        ]
        for i in range(ROWS)
    ]


def _xlsx(rows: list[list[str]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("学生")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv(rows: list[list[str]]) -> bytes:
    lines = [",".join(HEADER), *(",".join(r) for r in rows)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def _read_xlsx(content: bytes) -> list[list[Any]]:
    return CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()


def _read_csv(content: bytes) -> list[list[Any]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


READERS = {"xlsx": _read_xlsx, "csv": _read_csv}


def _tuples(rows: list[list[Any]], major_ids: dict[str, int], now: Any) -> list[tuple[Any, ...]]:
    """The table's tuples of the student rows, as the floors write them."""
    return [(str(r[0]), r[1], major_ids[str(r[2])], int(r[3][:4]), r[4], now, now, 1) for r in rows]


def _read(file: bytes, major_ids: dict[str, int], now: Any) -> list[tuple[Any, ...]]:
    """The file read by the plainest means of its format, as the table's tuples."""
    read = READERS["xlsx" if file.startswith(b"PK") else "csv"](file)
    return _tuples(read[1:], major_ids, now)


def _major_ids(engine: Any) -> dict[str, int]:
    with engine.begin() as connection:
        return dict(connection.exec_driver_sql("SELECT code, id FROM majors").all())


STUDENT_COLUMNS = "student_no, name, major_id, cohort, class_name, created_at, updated_at, version"


def _prepared_database(folder: Path) -> Path:
    path = folder / "template.db"
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    engine = create_db_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        content = (FIXTURES / "majors-sample.tsv").read_bytes()
        run_import(
            session, PRINCIPAL, get_kind("majors"), "majors-sample.tsv", content, dry_run=False
        )
    engine.dispose()
    return path


def _fresh_copy(template: Path, name: str) -> str:
    """A copy of the prepared database, made in the child so every run starts afresh."""
    target = template.with_name(f"{name}.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copy(template, target)
    return f"sqlite:///{target}"


def _import_case(
    template: Path, name: str, file_name: str, content: bytes, first: bytes | None = None
) -> Any:
    """Import ``content``; when ``first`` is given, that file is imported beforehand (untimed)."""

    def run() -> dict[str, Any]:
        url = _fresh_copy(template, name)
        engine = create_db_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            if first is not None:
                run_import(
                    session, PRINCIPAL, get_kind("students"), file_name, first, dry_run=False
                )
        with Session(engine, expire_on_commit=False) as session:
            started = time.perf_counter()
            report_ = run_import(
                session, PRINCIPAL, get_kind("students"), file_name, content, dry_run=False
            )
            elapsed = time.perf_counter() - started
        assert report_.written, report_.errors[:3]
        return {"created": report_.created, "unchanged": report_.unchanged, "seconds": elapsed}

    return run


def _floor_case(template: Path, rows: list[list[str]], file: bytes | None = None) -> Any:
    """executemany of the prepared rows; with ``file``, its reading and the tuples too."""

    def run() -> dict[str, Any]:
        url = _fresh_copy(template, "floor")
        engine = create_db_engine(url)
        major_ids = _major_ids(engine)
        now = utcnow().isoformat()
        values = _tuples(rows, major_ids, now) if file is None else []
        gc.disable()  # as the engine does while it imports
        started = time.perf_counter()
        if file is not None:
            values = _read(file, major_ids, now)
        with engine.begin() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.cursor().executemany(
                f"INSERT INTO students ({STUDENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        return {"seconds": time.perf_counter() - started}

    return run


def _sqlite(rows: list[list[str]], xlsx: bytes, csv_: bytes, renamed: bytes) -> None:
    folder = Path(tempfile.mkdtemp(prefix="onex-bench-"))
    try:
        template = _prepared_database(folder)
        floor, xlsx_floor, new_xlsx, csv_floor, new_csv = measure_in_turns(
            [
                ("floor: executemany INSERT (sqlite3)", _floor_case(template, rows)),
                ("floor: calamine + executemany", _floor_case(template, rows, xlsx)),
                ("import .xlsx (new rows)", _import_case(template, "xlsx", "s.xlsx", xlsx)),
                ("floor: csv.reader + executemany", _floor_case(template, rows, csv_)),
                ("import .csv (new rows)", _import_case(template, "csv", "s.csv", csv_)),
            ],
            repeat=TURNS,
        )
        cases = [
            xlsx_floor,
            csv_floor,
            new_xlsx,
            new_csv,
            measure(
                "import .xlsx again (all unchanged)",
                _import_case(template, "again", "s.xlsx", xlsx, first=xlsx),
            ),
            measure(
                "import .xlsx, every name changed",
                _import_case(template, "changed", "s.xlsx", renamed, first=xlsx),
            ),
        ]
        report(
            f"Import {ROWS:,} students on SQLite (xlsx {len(xlsx) / 1e6:.1f} MB, "
            f"csv {len(csv_) / 1e6:.1f} MB); Python {sys.version.split()[0]}",
            cases,
            floor,
            ROWS,
            floors={new_xlsx.name: xlsx_floor, new_csv.name: csv_floor},
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- PostgreSQL ------------------------------------------------------------------------------


def _postgres_url(url: str) -> str:
    return (
        "postgresql+psycopg://" + url.split("://", 1)[1] if "+" not in url.split("://")[0] else url
    )


def _prepare_postgres(url: str) -> None:
    upgrade_to_head(url)
    engine = create_db_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        # Every time: the sample's majors may be missing from a database another bench filled
        # (an unchanged upload writes nothing).
        content = (FIXTURES / "majors-sample.tsv").read_bytes()
        report = run_import(
            session, PRINCIPAL, get_kind("majors"), "majors.tsv", content, dry_run=False
        )
        if report.errors:
            raise SystemExit(f"the sample's majors do not upload here: {report.errors[:3]}")
    engine.dispose()


def _emptied_postgres(url: str) -> Any:
    engine = create_db_engine(url, pool_size=1)
    with engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE students RESTART IDENTITY CASCADE")
    return engine


def _pg_import_case(
    url: str, file_name: str, content: bytes, *, first: bytes | None = None, copy: bool = True
) -> Any:
    """Import ``content`` on PostgreSQL; ``copy=False`` writes the new rows with executemany
    INSERTs, as before COPY."""

    def run() -> dict[str, Any]:
        if not copy:
            import_engine._copy_insert = lambda *_args: False
        engine = _emptied_postgres(url)
        kind = get_kind("students")
        if first is not None:
            with Session(engine, expire_on_commit=False) as session:
                run_import(session, PRINCIPAL, kind, file_name, first, dry_run=False)
        with Session(engine, expire_on_commit=False) as session:
            started = time.perf_counter()
            report_ = run_import(session, PRINCIPAL, kind, file_name, content, dry_run=False)
            elapsed = time.perf_counter() - started
        assert report_.written, report_.errors[:3]
        engine.dispose()
        return {"created": report_.created, "unchanged": report_.unchanged, "seconds": elapsed}

    return run


def _pg_floor_case(url: str, rows: list[list[str]], file: bytes | None = None) -> Any:
    """One COPY of the prepared rows through psycopg; with ``file``, reading it too."""

    def run() -> dict[str, Any]:
        engine = _emptied_postgres(url)
        major_ids = _major_ids(engine)
        now = utcnow()
        values = _tuples(rows, major_ids, now) if file is None else []
        gc.disable()  # as the engine does while it imports
        started = time.perf_counter()
        if file is not None:
            values = _read(file, major_ids, now)
        with engine.begin() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            query = f"COPY students ({STUDENT_COLUMNS}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(query) as copy:
                for value in values:
                    copy.write_row(value)
        elapsed = time.perf_counter() - started
        engine.dispose()
        return {"seconds": elapsed}

    return run


def _read_case(url: str, file: bytes) -> Any:
    """The file read by the plainest means and turned into the table's tuples, nothing
    written: with the plain COPY beside it, the least any import of the file can take."""

    def run() -> dict[str, Any]:
        engine = create_db_engine(url, pool_size=1)
        major_ids = _major_ids(engine)
        engine.dispose()
        now = utcnow()
        gc.disable()  # as the engine does while it imports
        started = time.perf_counter()
        _read(file, major_ids, now)
        return {"seconds": time.perf_counter() - started}

    return run


def _postgres(url: str, rows: list[list[str]], xlsx: bytes, csv_: bytes) -> None:
    _prepare_postgres(url)
    floor, read_xlsx, xlsx_floor, new_xlsx, csv_floor, new_csv = measure_in_turns(
        [
            ("floor: COPY (psycopg)", _pg_floor_case(url, rows)),
            ("calamine read alone (no write)", _read_case(url, xlsx)),
            ("floor: calamine + COPY", _pg_floor_case(url, rows, xlsx)),
            ("import .xlsx (new rows, COPY)", _pg_import_case(url, "s.xlsx", xlsx)),
            ("floor: csv.reader + COPY", _pg_floor_case(url, rows, csv_)),
            ("import .csv (new rows, COPY)", _pg_import_case(url, "s.csv", csv_)),
        ],
        repeat=TURNS,
    )
    cases: list[Measurement] = [
        read_xlsx,
        xlsx_floor,
        csv_floor,
        new_xlsx,
        new_csv,
        measure(
            "import .xlsx (new rows, executemany INSERT)",
            _pg_import_case(url, "s.xlsx", xlsx, copy=False),
        ),
        measure(
            "import .xlsx again (all unchanged)",
            _pg_import_case(url, "s.xlsx", xlsx, first=xlsx),
        ),
    ]
    report(
        f"Import {ROWS:,} students on PostgreSQL; Python {sys.version.split()[0]}",
        cases,
        floor,
        ROWS,
    )
    least = (read_xlsx.seconds + floor.seconds) / floor.seconds
    print(
        f"An .xlsx import reads the file and then writes it: at least {least:.2f}x the COPY "
        "(the read alone, then the COPY alone), before it checks a row."
    )


def main() -> None:
    rows = _rows()
    xlsx, csv_ = _xlsx(rows), _csv(rows)
    renamed = _xlsx([[r[0], r[1] + "·改", *r[2:]] for r in rows])
    if os.environ.get("BENCH_SKIP_SQLITE") != "1":
        _sqlite(rows, xlsx, csv_, renamed)
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        _postgres(_postgres_url(url), rows, xlsx, csv_)
    print(
        "Times are the engine call (read, check, compare, write, commit) or the floor's "
        "reading (when named) and plain write + commit; +peak MB is the child process's peak "
        "RSS above its RSS at the start (the input file and test rows are already in memory "
        "then)."
    )


if __name__ == "__main__":
    main()
