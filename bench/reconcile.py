"""Reconcile a 10,000-row national platform list (.xlsx and .csv) with 10,000 registrations,
results and certificates here, on SQLite (and on PostgreSQL when ``BENCH_DATABASE_URL`` is
set), against a floor measured in the same run:

- floor: the same file read by the plainest means (python-calamine for .xlsx, ``csv.reader``
  for .csv), the year's registrations read with one driver query, each row looked up in a dict
  by certificate number or student number, and one plain ``executemany`` INSERT of the
  10,000 result rows (no header search, no cell parsing, no comparison field by field);
- case: ``app.reconciliation.service.reconcile`` — reading, matching, comparing, the
  national id hashed, the rows written and the audit event, committed.

The list has every kind of row: the same, a different score, a different certificate number,
an issue date, rows only on the platform (the last 5 %), and results only here.

Target (issue 18): under 3 s for 10,000 rows. ``BENCH_ROWS`` changes the row count.
"""

import csv
import io
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook
from python_calamine import CalamineWorkbook
from sqlmodel import Session

import app.models  # noqa: F401
from app import plugins  # noqa: F401
from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
    Tier,
)
from app.core.db import create_db_engine
from app.core.migrations import upgrade_to_head
from app.core.roles import Principal, Role
from app.core.types import utcnow
from app.exams.models import (
    ExamRegistration,
    ExamResult,
    ExamSession,
    IssuedCertificate,
    RegistrationStatus,
)
from app.reconciliation.service import reconcile
from app.reference.models import Certificate, College, EvaluationOrg, Level, Major, Student
from bench.harness import measure, report

ROWS = int(os.environ.get("BENCH_ROWS", "10000"))
PRINCIPAL = Principal(role=Role.academic_office, label="bench")
SECRET = "bench-secret-" + "x" * 32
CERTIFICATE = "Web前端开发"
HEADER = ["序号", "姓名", "证件号码", "学号", "证书名称", "等级", "考核结果", "成绩", "证书编号",
          "发证日期", "培训评价组织"]  # fmt: skip
ISSUED = date(2022, 12, 20)


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    table = model.__table__
    for start in range(0, len(rows), 5000):
        session.execute(sa.insert(table), rows[start : start + 5000])


def _seed(url: str) -> None:
    """One college, major, organisation, certificate and approved 2022 pilot; ``ROWS``
    students registered in one held session; all with results, 80 % passed and certified."""
    upgrade_to_head(url)
    engine = create_db_engine(url)
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now, "version": 1}
    with Session(engine) as session:
        college = College(name="计算机与软件学院", code="CS")
        org = EvaluationOrg(name="北京新大陆时代教育科技有限公司")
        session.add_all([college, org])
        session.flush()
        major = Major(code="510203", name="软件技术", college_id=college.id or 0)
        certificate = Certificate(
            name=CERTIFICATE,
            normalized_name="web前端开发",
            evaluation_org_id=org.id or 0,
            levels="初级,中级",
        )
        session.add_all([major, certificate])
        session.flush()
        pilot = PilotApplication(
            year=2022,
            tier=Tier.higher_vocational,
            certificate_id=certificate.id or 0,
            level=Level.intermediate,
            headcount=ROWS,
            status=ApplicationStatus.approved,
        )
        session.add(pilot)
        session.flush()
        session.add(ApplicationMajor(application_id=pilot.id or 0, major_id=major.id or 0))
        session.add(ApplicationCohort(application_id=pilot.id or 0, cohort=2020))
        exam = ExamSession(
            application_id=pilot.id or 0,
            certificate_id=certificate.id or 0,
            level=Level.intermediate,
            evaluation_org_id=org.id or 0,
            exam_date=date(2022, 12, 1),
            site="实训楼A301",
            capacity=ROWS,
            registration_opens=date(2022, 10, 1),
            registration_closes=date(2022, 11, 1),
            fee=Decimal("260.00"),
        )
        session.add(exam)
        session.flush()
        _insert(
            session,
            Student,
            [
                {"id": i + 1, "student_no": _student_no(i), "name": f"学生{i}",
                 "major_id": major.id, "cohort": 2020, "class_name": "1班", **stamps}
                for i in range(ROWS)
            ],
        )  # fmt: skip
        _insert(
            session,
            ExamRegistration,
            [
                {"id": i + 1, "session_id": exam.id, "student_id": i + 1,
                 "application_id": pilot.id, "status": RegistrationStatus.sat, "live": True,
                 **stamps}
                for i in range(ROWS)
            ],
        )  # fmt: skip
        _insert(
            session,
            ExamResult,
            [
                {"id": i + 1, "registration_id": i + 1, "theory_score": Decimal(60 + i % 40),
                 "practical_score": None, "passed": _passed(i), **stamps}
                for i in range(ROWS)
            ],
        )  # fmt: skip
        _insert(
            session,
            IssuedCertificate,
            [
                {"number": _number(i), "result_id": i + 1, "student_id": i + 1,
                 "session_id": exam.id, "issue_date": ISSUED, "status": "valid", **stamps}
                for i in range(ROWS)
                if _passed(i)
            ],
        )  # fmt: skip
        session.commit()
    engine.dispose()


def _student_no(i: int) -> str:
    return f"2020{i:09d}"


def _number(i: int) -> str:
    return f"W0100122{i:07d}"


def _passed(i: int) -> bool:
    return i % 5 != 0


def _platform_rows() -> list[list[Any]]:
    """The list as the platform gives it: most rows the same, some different, the last 5 %
    only on the platform; every 50th result here left out (only here)."""
    rows: list[list[Any]] = []
    for i in range(ROWS):
        if i % 50 == 49:
            continue
        known = i < ROWS * 95 // 100
        no = _student_no(i) if known else f"2021{i:09d}"
        score = 60 + i % 40 + (3 if i % 17 == 0 else 0)
        passed = _passed(i)
        number = _number(i) if passed else ""
        if passed and i % 23 == 0:
            number = f"W0100199{i:07d}"
        issued = (date(2022, 12, 21) if i % 29 == 0 else ISSUED).isoformat() if passed else ""
        national_id = f"3101012002{i % 10000:04d}{i % 9000 + 1000:04d}" if i % 3 else ""
        result = "通过" if passed else "不通过"
        rows.append(
            [i + 1, f"学生{i}", national_id, no, CERTIFICATE, "中级", result, score, number,
             issued, "北京新大陆时代教育科技有限公司"]
        )  # fmt: skip
    return rows


def _xlsx(rows: list[list[Any]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("名单")
    sheet.append(["全国职业技能等级证书信息管理服务平台 考核结果与证书名单"])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode()


def _fresh(template: Path | None, url: str | None, name: str) -> str:
    if template is None:
        assert url is not None
        engine = create_db_engine(url, pool_size=1)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "TRUNCATE reconciliation_rows, national_identities, reconciliations "
                "RESTART IDENTITY CASCADE"
            )
        engine.dispose()
        return url
    target = template.with_name(f"{name}.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copy(template, target)
    return f"sqlite:///{target}"


def _case(template: Path | None, url: str | None, file_name: str, content: bytes) -> Any:
    def run() -> dict[str, Any]:
        engine = create_db_engine(_fresh(template, url, "case"))
        with Session(engine, expire_on_commit=False) as session:
            started = time.perf_counter()
            reconcile(session, PRINCIPAL, 2022, file_name, content, SECRET)
            elapsed = time.perf_counter() - started
        engine.dispose()
        return {"seconds": elapsed}

    return run


LOCAL_SQL = (
    "SELECT r.id, s.student_no, x.passed, x.theory_score, c.number, c.issue_date "
    "FROM exam_registrations r JOIN students s ON s.id = r.student_id "
    "JOIN pilot_applications a ON a.id = r.application_id "
    "LEFT JOIN exam_results x ON x.registration_id = r.id "
    "LEFT JOIN issued_certificates c ON c.result_id = x.id AND c.status = 'valid' "
    "WHERE a.year = 2022 AND r.live"
)


def _floor(template: Path | None, url: str | None, content: bytes) -> Any:
    def run() -> dict[str, Any]:
        engine = create_db_engine(_fresh(template, url, "floor"))
        postgres = engine.dialect.name == "postgresql"
        started = time.perf_counter()
        read: list[list[Any]]
        if content.startswith(b"PK"):
            rows = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
            read = rows.to_python()[2:]
        else:
            read = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))[1:]
        with engine.begin() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            cursor = raw.cursor()
            cursor.execute(LOCAL_SQL)
            by_number, by_no = {}, {}
            for local in cursor.fetchall():
                by_no[local[1]] = local
                if local[4]:
                    by_number[local[4]] = local
            values = []
            for row in read:
                local = by_number.get(str(row[8])) or by_no.get(str(row[3]))
                values.append((1, "same" if local else "platform_only", "[]", False, str(row[1])))
            cursor.execute(
                "INSERT INTO reconciliations (year, file_name, sha256, rows, used_columns, "
                "ignored_columns, errors, same, different, platform_only, local_only, ambiguous, "
                "actor, created_at, updated_at) VALUES (2022, 'f', 's', 0, '{}', '[]', '[]', 0, 0, "
                "0, 0, 0, 'bench', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
            mark = "%s" if postgres else "?"
            cursor.executemany(
                'INSERT INTO reconciliation_rows (reconciliation_id, "group", differences, '
                f"ambiguous, name) VALUES ({', '.join([mark] * 5)})",
                values,
            )
        engine.dispose()
        return {"seconds": time.perf_counter() - started}

    return run


def _run(label: str, template: Path | None, url: str | None) -> None:
    rows = _platform_rows()
    xlsx, csv_ = _xlsx(rows), _csv(rows)
    floor = measure("floor: calamine + dict look-ups + INSERT", _floor(template, url, xlsx))
    csv_floor = measure("floor: csv.reader + dict look-ups + INSERT", _floor(template, url, csv_))
    cases = [
        csv_floor,
        measure("reconcile .xlsx", _case(template, url, "list.xlsx", xlsx)),
        measure("reconcile .csv", _case(template, url, "list.csv", csv_)),
    ]
    report(
        f"Reconcile a {len(rows):,}-row national list with {ROWS:,} registrations on {label} "
        f"(target: under 3 s); Python {sys.version.split()[0]}",
        cases,
        floor,
        len(rows),
        floors={"reconcile .csv": csv_floor},
    )


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        if "+" not in url.split("://")[0]:
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        engine = create_db_engine(url, pool_size=1)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
        _seed(url)
        _run("PostgreSQL", None, url)
        return
    folder = Path(tempfile.mkdtemp(prefix="onex-bench-"))
    try:
        template = folder / "template.db"
        _seed(f"sqlite:///{template}")
        _run("SQLite", template, None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
