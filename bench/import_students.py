"""Import 50,000 students from .xlsx and from .csv on SQLite, against the floor of a plain
``executemany`` insert of the same rows through the same driver.

Target (issue 3): 50,000 rows in under 5 s and within 5x of the plain insert.
"""

import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlmodel import Session

import app.models  # noqa: F401
from app.core.db import create_db_engine
from app.core.migrations import upgrade_to_head
from app.core.roles import Principal, Role
from app.core.types import utcnow
from app.imports.engine import run_import
from app.imports.registry import get_kind
from app.reference import importers  # noqa: F401
from bench.harness import measure, report

ROWS = int(os.environ.get("BENCH_ROWS", "50000"))
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


def _floor_case(template: Path, rows: list[list[str]]) -> Any:
    def run() -> dict[str, Any]:

        url = _fresh_copy(template, "floor")
        engine = create_db_engine(url)
        with engine.begin() as connection:
            major_ids: dict[str, int] = dict(
                connection.exec_driver_sql("SELECT code, id FROM majors").all()
            )
        now = utcnow().isoformat()
        values = [(r[0], r[1], major_ids[r[2]], int(r[3][:4]), r[4], now, now, 1) for r in rows]
        started = time.perf_counter()
        with engine.begin() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.cursor().executemany(
                "INSERT INTO students (student_no, name, major_id, cohort, class_name, "
                "created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        return {"seconds": time.perf_counter() - started}

    return run


def main() -> None:
    rows = _rows()
    xlsx, csv = _xlsx(rows), _csv(rows)
    renamed = _xlsx([[r[0], r[1] + "·改", *r[2:]] for r in rows])
    folder = Path(tempfile.mkdtemp(prefix="onex-bench-"))
    try:
        template = _prepared_database(folder)
        floor = measure("floor: executemany INSERT (sqlite3)", _floor_case(template, rows))
        cases = [
            measure("import .xlsx (new rows)", _import_case(template, "xlsx", "s.xlsx", xlsx)),
            measure("import .csv (new rows)", _import_case(template, "csv", "s.csv", csv)),
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
            f"csv {len(csv) / 1e6:.1f} MB); Python {sys.version.split()[0]}",
            cases,
            floor,
            ROWS,
        )
        print(
            "Times are the engine call (read, check, compare, write, commit) or the floor's "
            "executemany + commit; +peak MB is the child process's peak RSS above its RSS at "
            "the start (the input file and test rows are already in memory then)."
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
