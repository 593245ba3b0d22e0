"""A province-sized year in PostgreSQL, and each report against a floor (issue 14).

``python -m bench scale --database-url postgresql+psycopg://…`` (or ``BENCH_DATABASE_URL``)
empties that database, migrates it, and builds one year with ``INSERT … SELECT … FROM
generate_series(…)``: 30 approved pilots, 100,000 students, about 1,000,000 registrations,
920,000 results, 590,000 issued certificates, 200,000 expenditures and 100,000 credit records
at ``BENCH_SCALE=1`` (every count but the pilots, majors, colleges and teachers is multiplied by
``BENCH_SCALE``; default 0.1 so that a run takes minutes on two cores).

Then it measures each report, called through its service function in a forked child (peak
memory growth; the first call apart, then the best of ``BENCH_WARM_CALLS`` more, default 3, as
a serving worker answers; best of ``BENCH_REPEAT`` children, default 2), taking turns with its
floor: one SQL statement sent through the driver that returns the same figures (the same
groups, counts, sums and names), run the same way. Targets: each report ≤ 1.5× its floor and
under 2 s at ``BENCH_SCALE=1``.

PostgreSQL only: SQLite is refused (the generator is PostgreSQL SQL, and a province runs
PostgreSQL).
"""

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlmodel import Session

import app.models
import app.plugins  # noqa: F401
from app.core.db import create_db_engine, is_sqlite
from app.core.migrations import upgrade_to_head
from app.core.roles import Principal, Role
from bench.harness import measure_in_turns

YEAR = 2024
PILOTS = 30
SESSIONS_PER_PILOT = 4
PRINCIPAL = Principal(role=Role.academic_office, label="bench")
TODAY = date(YEAR, 12, 31)


def _counts(scale: float) -> dict[str, int]:
    students = max(1000, int(100_000 * scale))
    return {
        "students": students,
        "registrations": students * 10,
        "expenditures": max(1000, int(200_000 * scale)),
        "batches_per_pilot": max(1, students // 200),
    }


def _generate(url: str, scale: float) -> dict[str, int]:
    """Empty the database, migrate it and fill one year; the row count of each big table."""
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    upgrade_to_head(url)
    n = _counts(scale)
    engine = create_db_engine(url)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            for statement in _fill_statements(n):
                cursor.execute(statement)
        driver.commit()  # type: ignore[union-attr]
        driver.autocommit = True  # type: ignore[union-attr]
        driver.execute("VACUUM ANALYZE")  # type: ignore[union-attr]
    finally:
        raw.close()
    with engine.connect() as connection:
        sizes = {
            table: int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
            for table in (
                "students",
                "training_batches",
                "training_enrollments",
                "exam_registrations",
                "exam_results",
                "issued_certificates",
                "expenditures",
                "credit_records",
            )
        }
    engine.dispose()
    return sizes


# Columns every Versioned table has.
V = "created_at, updated_at, version"
NOW = "now(), now(), 1"


def _fill_statements(n: dict[str, int]) -> list[str]:
    students, registrations, expenditures = n["students"], n["registrations"], n["expenditures"]
    sessions = PILOTS * SESSIONS_PER_PILOT
    batches = n["batches_per_pilot"]
    return [
        f"INSERT INTO colleges ({V}, name, code) SELECT {NOW}, '学院' || g, 'C' || g "
        "FROM generate_series(1, 10) g",
        f"INSERT INTO majors ({V}, code, name, college_id) "
        f"SELECT {NOW}, '51' || lpad(g::text, 4, '0'), '专业' || g, (g - 1) % 10 + 1 "
        "FROM generate_series(1, 40) g",
        f"INSERT INTO evaluation_orgs ({V}, name) SELECT {NOW}, '评价组织' || g "
        "FROM generate_series(1, 5) g",
        f"INSERT INTO certificates ({V}, name, normalized_name, evaluation_org_id, levels) "
        f"SELECT {NOW}, '证书' || g, '证书' || g, (g - 1) % 5 + 1, '初级,中级,高级' "
        f"FROM generate_series(1, {PILOTS}) g",
        f"INSERT INTO courses ({V}, code, name, credits, college_id) "
        f"SELECT {NOW}, 'K' || g, '课程' || g, 2, (g - 1) % 10 + 1 "
        f"FROM generate_series(1, {PILOTS}) g",
        f"INSERT INTO students ({V}, student_no, name, major_id, cohort, class_name) "
        f"SELECT {NOW}, 'S' || lpad(g::text, 8, '0'), '学生' || g, (g - 1) % 40 + 1, "
        f"2022 + g % 2, '班' || g % 50 FROM generate_series(1, {students}) g",
        f"INSERT INTO pilot_applications ({V}, year, tier, certificate_id, level, headcount, "
        f"status) SELECT {NOW}, {YEAR}, '高职', g, '中级', {max(100, students // 10)}, "
        f"'approved' FROM generate_series(1, {PILOTS}) g",
        "INSERT INTO pilot_application_majors (application_id, major_id) "
        f"SELECT a, (a + k * 13) % 40 + 1 FROM generate_series(1, {PILOTS}) a, "
        "generate_series(0, 2) k",
        "INSERT INTO pilot_application_cohorts (application_id, cohort) "
        f"SELECT a, c FROM generate_series(1, {PILOTS}) a, generate_series(2022, 2023) c",
        f"INSERT INTO teachers ({V}, staff_no, name, college_id) "
        f"SELECT {NOW}, 'T' || g, '教师' || g, (g - 1) % 10 + 1 FROM generate_series(1, 300) g",
        f"INSERT INTO pilot_teachers ({V}, application_id, teacher_id, trainer, evaluator) "
        f"SELECT {NOW}, a, (a - 1) * 10 + k, true, k % 2 = 0 "
        f"FROM generate_series(1, {PILOTS}) a, generate_series(1, 10) k",
        f"INSERT INTO teacher_trainings ({V}, teacher_id, certificate_id, level, start_date, "
        "end_date, hours, status, trainer_certificate_no, certified_on, valid_until) "
        f"SELECT {NOW}, t, (t - 1) / 10 + 1, CASE WHEN t % 3 = 0 THEN '高级' ELSE '中级' END, "
        f"'{YEAR}-03-01', '{YEAR}-03-10', 40, 'certified', 'TC' || t, '{YEAR}-03-10', "
        f"'{YEAR + 3}-03-10' FROM generate_series(1, 300) t WHERE t % 10 <> 7",
        f"INSERT INTO exam_sessions ({V}, application_id, certificate_id, level, "
        "evaluation_org_id, exam_date, site, capacity, registration_opens, "
        "registration_closes, fee) "
        f"SELECT {NOW}, (g - 1) / {SESSIONS_PER_PILOT} + 1, (g - 1) / {SESSIONS_PER_PILOT} + 1, "
        f"'中级', ((g - 1) / {SESSIONS_PER_PILOT}) % 5 + 1, '{YEAR}-06-01'::date + g, "
        f"'考点' || g, 100000, '{YEAR}-03-01', '{YEAR}-05-01', 30000 "
        f"FROM generate_series(1, {sessions}) g",
        # A batch is a class of about 60 trainees: batch g + 1 trains pilot g / K + 1.
        f"INSERT INTO training_batches ({V}, application_id, title, hours, start_date, end_date) "
        f"SELECT {NOW}, g / {batches} + 1, '培训' || g, 40, '{YEAR}-04-01', '{YEAR}-04-30' "
        f"FROM generate_series(0, {PILOTS * batches - 1}) g",
        # Registration i: student i % S, round i / S, in a session distinct per round.
        f"INSERT INTO exam_registrations ({V}, session_id, student_id, application_id, status, "
        f"live) SELECT {NOW}, s, st, (s - 1) / {SESSIONS_PER_PILOT} + 1, "
        "CASE WHEN h < 3 THEN 'cancelled' WHEN h < 6 THEN 'absent' WHEN h < 8 THEN "
        "'registered' ELSE 'sat' END, CASE WHEN h < 3 THEN NULL ELSE true END "
        f"FROM (SELECT g % {students} + 1 AS st, "
        f"((g % {students}) * 7 + (g / {students}) * 13) % {sessions} + 1 AS s, "
        "(g::bigint * 2654435761) % 1000003 % 100 AS h "
        f"FROM generate_series(0, {registrations - 1}) g) r",
        f"INSERT INTO exam_results ({V}, registration_id, theory_score, practical_score, passed) "
        f"SELECT {NOW}, id, 40 + id % 60, 50 + id % 50, "
        "(id::bigint * 2654435761) % 1000003 % 100 < 64 "
        "FROM exam_registrations WHERE status = 'sat'",
        f"INSERT INTO issued_certificates ({V}, number, result_id, student_id, session_id, "
        "issue_date, status) "
        # Issued a month after the session's exam (session g sits on June 1 + g days).
        f"SELECT {NOW}, 'N' || x.id, x.id, r.student_id, r.session_id, "
        f"'{YEAR}-07-01'::date + r.session_id, "
        "CASE WHEN x.id % 50 = 0 THEN 'revoked' ELSE 'valid' END "
        "FROM exam_results x JOIN exam_registrations r ON r.id = x.registration_id "
        "WHERE x.passed",
        f"INSERT INTO training_enrollments ({V}, batch_id, student_id, attended_hours, "
        "completed) SELECT DISTINCT ON (application_id, student_id) "
        f"{NOW}, (application_id - 1) * {batches} + student_id % {batches} + 1, student_id, 40, "
        "true FROM exam_registrations "
        "WHERE (student_id * 31 + application_id) % 10 <> 0",
        f"INSERT INTO funding_sources ({V}, name, kind, fiscal_year, amount, earmarked) "
        f"SELECT {NOW}, '经费' || g, 'school', {YEAR}, 100000000000, false "
        "FROM generate_series(1, 2) g",
        f"INSERT INTO budget_lines ({V}, source_id, application_id, category, amount) "
        f"SELECT {NOW}, s, a, c, 100000000 FROM generate_series(1, 2) s, "
        f"generate_series(1, {PILOTS}) a, unnest(ARRAY['equipment', 'teacher_training', "
        "'student_training', 'exam_fee', 'exam_subsidy', 'other']) c",
        # Payments on every line; a fifth of them are pass subsidies on distinct results.
        f"INSERT INTO expenditures ({V}, line_id, kind, amount, spent_on, payee, voucher_no, "
        "exam_result_id) "
        f"SELECT {NOW}, g % (2 * {PILOTS} * 6) + 1, "
        "CASE WHEN g % 5 = 0 THEN 'subsidy' ELSE 'payment' END, 10000 + g % 1000, "
        f"'{YEAR}-01-01'::date + g % 360, '收款人' || g % 100, 'V' || g, "
        "CASE WHEN g % 5 = 0 THEN g ELSE NULL END "
        f"FROM generate_series(1, {expenditures}) g",
        f"INSERT INTO conversion_rules ({V}, certificate_id, min_level, course_id, credits, mode) "
        f"SELECT {NOW}, g, '初级', g, 2, '免修' FROM generate_series(1, {PILOTS}) g",
        # One approved conversion per student holding a valid certificate.
        f"INSERT INTO conversion_requests ({V}, student_id, issued_certificate_id, rule_id, "
        "course_id, status, live, decided_at, decided_on, decided_by) "
        f"SELECT DISTINCT ON (c.student_id) {NOW}, c.student_id, c.id, e.certificate_id, "
        f"e.certificate_id, 'approved', true, now(), '{YEAR}-09-01', 'bench' "
        "FROM issued_certificates c JOIN exam_sessions e ON e.id = c.session_id "
        "WHERE c.status = 'valid' ORDER BY c.student_id, c.id",
        "INSERT INTO credit_records (created_at, updated_at, student_id, course_id, request_id, "
        "issued_certificate_id, rule_id, kind, credits, mode, recorded_on, recorded_by) "
        "SELECT now(), now(), student_id, course_id, id, issued_certificate_id, rule_id, "
        f"'credit', 2, '免修', '{YEAR}-09-01', 'bench' FROM conversion_requests",
    ]


# --- the reports and their floors ------------------------------------------------------------

# The funnel's facts per student and pilot are kept by the database (``pilot_candidates``,
# migration 0022): the plainest statement giving the same answer counts those rows.
KEPT = """count(*) FILTER (WHERE k.registered > 0) AS registered,
  count(*) FILTER (WHERE k.sat > 0) AS sat, count(*) FILTER (WHERE k.passed > 0) AS passed,
  count(*) FILTER (WHERE k.certified > 0) AS certified,
  count(*) FILTER (WHERE k.trained > 0) AS trained"""
DECIDED = f"p.year = {YEAR} AND p.status IN ('approved', 'closed')"

FUNNEL_FLOOR = f"""
WITH c AS (
  SELECT k.application_id AS a, {KEPT}
  FROM pilot_candidates k JOIN pilot_applications p ON p.id = k.application_id
  WHERE {DECIDED} GROUP BY k.application_id)
SELECT p.id, p.headcount, c.* FROM pilot_applications p LEFT JOIN c ON c.a = p.id
WHERE {DECIDED}
"""

FUNNEL_COLLEGE_FLOOR = f"""
SELECT m.college_id, {KEPT}
FROM pilot_candidates k JOIN pilot_applications p ON p.id = k.application_id
JOIN students s ON s.id = k.student_id JOIN majors m ON m.id = s.major_id
WHERE {DECIDED} GROUP BY m.college_id
"""

# Pieces the floors below share. A level's rank: 初级 < 中级 < 高级.
RANK = "CASE {0} WHEN '初级' THEN 0 WHEN '中级' THEN 1 WHEN '高级' THEN 2 ELSE -1 END"
COVERED = f"""EXISTS (SELECT 1 FROM teacher_trainings tt WHERE tt.teacher_id = pt.teacher_id
  AND tt.certificate_id = p.certificate_id AND tt.status = 'certified'
  AND {RANK.format("tt.level")} >= {RANK.format("p.level")}
  AND (tt.certified_on IS NULL OR tt.certified_on <= '{TODAY}')
  AND (tt.valid_until IS NULL OR tt.valid_until >= '{TODAY}'))"""
QUALIFIED = f"""EXISTS (SELECT 1 FROM evaluator_qualifications q WHERE q.teacher_id = pt.teacher_id
  AND q.certificate_id = p.certificate_id AND {RANK.format("q.level")} >= {RANK.format("p.level")}
  AND q.issued_on <= '{TODAY}' AND (q.valid_until IS NULL OR q.valid_until >= '{TODAY}'))"""
DUAL = f"""(t.dual_basis IS NOT NULL AND t.dual_recognised_on <= '{TODAY}'
  AND (t.dual_valid_until IS NULL OR t.dual_valid_until >= '{TODAY}'))"""
# Each budget line's money: allocated, spent (reversals netted), standing subsidies.
LINES = f"""SELECT l.id, l.application_id, l.amount AS allocated,
  coalesce(sum(e.amount), 0) AS spent,
  count(e.id) FILTER (WHERE e.kind = 'subsidy' AND r.id IS NULL) AS subsidies,
  coalesce(sum(e.amount) FILTER (WHERE e.kind = 'subsidy' AND r.id IS NULL), 0) AS subsidy_fen
  FROM budget_lines l JOIN funding_sources s ON s.id = l.source_id
  LEFT JOIN expenditures e ON e.line_id = l.id LEFT JOIN expenditures r ON r.reverses_id = e.id
  WHERE s.fiscal_year = {YEAR} GROUP BY l.id"""
# Approved conversions of certificates from a pilot of the year, per pilot.
CONVERSIONS = f"""SELECT e.application_id AS a, count(*) AS n, sum(u.credits) AS credits
  FROM conversion_requests q JOIN issued_certificates i ON i.id = q.issued_certificate_id
  JOIN exam_sessions e ON e.id = i.session_id JOIN conversion_rules u ON u.id = q.rule_id
  JOIN pilot_applications p ON p.id = e.application_id
  WHERE q.status = 'approved' AND p.year = {YEAR} GROUP BY e.application_id"""

# The overview: every figure it shows, in one statement.
OVERVIEW_FLOOR = f"""
WITH funnel AS (
  SELECT {KEPT}
  FROM pilot_candidates k JOIN pilot_applications p ON p.id = k.application_id
  WHERE {DECIDED}),
statuses AS (
  SELECT json_agg(json_build_array(status, n, h)) AS statuses FROM (
    SELECT status, count(*) AS n, sum(headcount) AS h FROM pilot_applications
    WHERE year = {YEAR} GROUP BY status) g),
coverage AS (
  SELECT count(*) AS pilots, sum(assigned) AS assigned, sum(certified) AS certified,
    count(*) FILTER (WHERE certified < assigned OR assigned = 0) AS below,
    sum(evaluators) AS evaluators, sum(qualified) AS qualified,
    count(*) FILTER (WHERE qualified < evaluators OR evaluators = 0) AS below_e
  FROM (
    SELECT count(pt.id) AS assigned, count(pt.id) FILTER (WHERE {COVERED}) AS certified,
      count(pt.id) FILTER (WHERE pt.evaluator) AS evaluators,
      count(pt.id) FILTER (WHERE pt.evaluator AND {QUALIFIED}) AS qualified
    FROM pilot_applications p LEFT JOIN pilot_teachers pt ON pt.application_id = p.id
    WHERE p.year = {YEAR} AND p.status NOT IN ('rejected', 'draft') GROUP BY p.id) g),
dual AS (
  SELECT count(*) AS teachers, count(*) FILTER (WHERE {DUAL}) AS dual,
    count(*) FILTER (WHERE t.id IN (SELECT pt.teacher_id FROM pilot_teachers pt
      JOIN pilot_applications p ON p.id = pt.application_id
      WHERE p.year = {YEAR} AND p.status NOT IN ('rejected', 'draft'))) AS pilot_teachers,
    count(*) FILTER (WHERE {DUAL} AND t.id IN (SELECT pt.teacher_id FROM pilot_teachers pt
      JOIN pilot_applications p ON p.id = pt.application_id
      WHERE p.year = {YEAR} AND p.status NOT IN ('rejected', 'draft'))) AS pilot_dual
  FROM teachers t),
funds AS (SELECT sum(allocated) AS allocated, sum(spent) AS spent FROM ({LINES}) l),
credits AS (SELECT sum(n) AS conversions, sum(credits) AS credits FROM ({CONVERSIONS}) c),
ratings AS (
  SELECT json_object_agg(coalesce(rating, 'unrated'), n) AS ratings,
    sum(n) FILTER (WHERE rating = '不合格') AS flagged
  FROM (SELECT rating, count(*) AS n FROM evaluations WHERE year = {YEAR} GROUP BY rating) g)
SELECT * FROM funnel, statuses, coverage, dual, funds, credits, ratings
"""

# Compute: every pilot's every indicator's facts, in one statement (the writes of the
# evaluations and their audit events are the report's own extra work).
COMPUTE_FLOOR = f"""
WITH p AS (SELECT id, headcount, certificate_id, level FROM pilot_applications
  WHERE year = {YEAR} AND status IN ('approved', 'closed')),
exams AS (
  SELECT application_id AS a, count(*) FILTER (WHERE registered > 0) AS registered,
    count(*) FILTER (WHERE sat > 0) AS sat, count(*) FILTER (WHERE passed > 0) AS passed
  FROM pilot_candidates WHERE application_id IN (SELECT id FROM p) GROUP BY application_id),
issued AS (
  SELECT e.application_id AS a, count(DISTINCT i.student_id) FILTER (WHERE i.status = 'valid')
    AS valid, count(*) AS any_status
  FROM issued_certificates i JOIN exam_sessions e ON e.id = i.session_id
  WHERE e.application_id IN (SELECT id FROM p) GROUP BY e.application_id),
teachers AS (
  SELECT pt.application_id AS a, count(*) AS assigned, count(*) FILTER (WHERE {COVERED})
    AS certified, count(*) FILTER (WHERE {DUAL}) AS dual
  FROM pilot_teachers pt JOIN p ON p.id = pt.application_id
  JOIN teachers t ON t.id = pt.teacher_id GROUP BY pt.application_id),
money AS (SELECT application_id AS a, sum(allocated) AS allocated, sum(spent) AS spent
  FROM ({LINES}) l GROUP BY application_id),
plans AS (
  SELECT m.application_id AS a, count(*) AS majors, count(pl.id) AS filed
  FROM pilot_application_majors m LEFT JOIN pilot_plans pl ON pl.application_id =
    m.application_id AND pl.major_id = m.major_id AND pl.status IN ('filed', 'acknowledged')
  WHERE m.application_id IN (SELECT id FROM p) GROUP BY m.application_id)
SELECT p.id, p.headcount, plans.majors, plans.filed,
  EXISTS (SELECT 1 FROM exam_sessions s WHERE s.application_id = p.id) AS with_session,
  exams.registered, exams.sat, exams.passed, issued.valid, issued.any_status,
  teachers.assigned, teachers.certified, teachers.dual, money.allocated, money.spent,
  conversions.n, EXISTS (SELECT 1 FROM conversion_rules u WHERE u.certificate_id =
    p.certificate_id) AS convertible
FROM p LEFT JOIN exams ON exams.a = p.id LEFT JOIN issued ON issued.a = p.id
LEFT JOIN teachers ON teachers.a = p.id LEFT JOIN money ON money.a = p.id
LEFT JOIN plans ON plans.a = p.id LEFT JOIN ({CONVERSIONS}) conversions ON conversions.a = p.id
"""

# Coverage per pilot (with the missing teachers' names), per teachers' college and overall.
COVERAGE_FLOOR = f"""
WITH a AS (
  SELECT pt.application_id, p.year, c.name AS certificate, t.name || ' (' || t.staff_no || ')'
    AS teacher, t.staff_no, k.id AS college_id, k.name AS college, pt.evaluator,
    {COVERED} AS covered, pt.evaluator AND {QUALIFIED} AS qualified
  FROM pilot_teachers pt JOIN pilot_applications p ON p.id = pt.application_id
  JOIN certificates c ON c.id = p.certificate_id JOIN teachers t ON t.id = pt.teacher_id
  JOIN colleges k ON k.id = t.college_id
  WHERE p.year = {YEAR} AND p.status NOT IN ('rejected', 'draft'))
SELECT application_id, min(year), min(certificate), college_id, min(college), count(*),
  count(*) FILTER (WHERE covered),
  string_agg(teacher, ', ' ORDER BY staff_no) FILTER (WHERE NOT covered),
  count(*) FILTER (WHERE evaluator), count(*) FILTER (WHERE qualified),
  string_agg(teacher, ', ' ORDER BY staff_no) FILTER (WHERE evaluator AND NOT qualified)
FROM a GROUP BY GROUPING SETS ((application_id), (college_id), ())
"""

# Per college (a pilot counts in each college of its majors) and overall, with the funds'
# whole amount.
FUNDING_FLOOR = f"""
WITH l AS ({LINES}),
colleges AS (
  SELECT DISTINCT m.application_id, k.id, k.name FROM pilot_application_majors m
  JOIN majors j ON j.id = m.major_id JOIN colleges k ON k.id = j.college_id)
SELECT k.id, k.name, sum(l.allocated), sum(l.spent), sum(l.subsidies), sum(l.subsidy_fen)
FROM l JOIN colleges k ON k.application_id = l.application_id GROUP BY k.id, k.name
UNION ALL
SELECT NULL, NULL, sum(allocated), sum(spent), sum(subsidies),
  (SELECT sum(amount) FROM funding_sources WHERE fiscal_year = {YEAR}) FROM l
"""

# The rows, with each conversion's rule's and course's count and credits beside it.
CREDITS_FLOOR = f"""
SELECT q.id, st.student_no, st.name, m.code, m.name, st.cohort, c.name, e.level, o.name,
  i.number, i.issue_date, k.code, k.name, u.credits, u.mode, q.decided_on,
  count(*) OVER (PARTITION BY u.id), sum(u.credits) OVER (PARTITION BY u.id),
  count(*) OVER (PARTITION BY k.id), sum(u.credits) OVER (PARTITION BY k.id)
FROM conversion_requests q JOIN students st ON st.id = q.student_id
JOIN majors m ON m.id = st.major_id JOIN issued_certificates i ON i.id = q.issued_certificate_id
JOIN exam_sessions e ON e.id = i.session_id JOIN certificates c ON c.id = e.certificate_id
JOIN evaluation_orgs o ON o.id = e.evaluation_org_id JOIN conversion_rules u ON u.id = q.rule_id
JOIN courses k ON k.id = q.course_id
WHERE q.status = 'approved' AND q.decided_on BETWEEN '{YEAR}-01-01' AND '{YEAR}-12-31'
ORDER BY q.decided_on, st.student_no, k.code
"""


WARM_CALLS = int(os.environ.get("BENCH_WARM_CALLS", "3"))


def _service_case(url: str, call: Callable[[Session], Any]) -> Callable[[], dict[str, Any]]:
    """The report called ``1 + WARM_CALLS`` times on one engine, each in its own session whose
    work is rolled back (compute commits its own). The first call (mapper configuration,
    statement compilation, Python's own warm-up: what a freshly started worker pays once) is
    reported apart; the best of the others, the steady state a serving worker answers in, is
    the figure compared with the floor."""

    def run() -> dict[str, Any]:
        engine = create_db_engine(url)
        timings = []
        for _call in range(1 + WARM_CALLS):
            with Session(engine) as session:
                session.connection()  # connected before the clock starts, as the floor is
                started = time.perf_counter()
                call(session)
                timings.append(time.perf_counter() - started)
                session.rollback()
        engine.dispose()
        return {"seconds": min(timings[1:]), "first": timings[0]}

    return run


def _floor_case(url: str, sql: str) -> Callable[[], dict[str, Any]]:
    """The floor run like the report, ``1 + WARM_CALLS`` times on one connection: the best of
    all but the first."""
    return replay(url, [(sql, None)])


def replay(url: str, statements: list[tuple[str, Any]]) -> Callable[[], dict[str, Any]]:
    """``statements`` (with their parameters) sent through the driver alone, every row
    fetched, ``1 + WARM_CALLS`` times on one connection: the best of all but the first."""

    def run() -> dict[str, Any]:
        engine = create_db_engine(url)
        raw = engine.raw_connection()
        timings = []
        rows: list[Any] = []
        try:
            with raw.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
                for _run in range(1 + WARM_CALLS):
                    started = time.perf_counter()
                    for statement, parameters in statements:
                        cursor.execute(statement, parameters)
                        if cursor.description is not None:
                            rows = cursor.fetchall()
                    timings.append(time.perf_counter() - started)
                raw.driver_connection.rollback()  # type: ignore[union-attr]
        finally:
            raw.close()
        engine.dispose()
        return {"seconds": min(timings[1:]), "rows": len(rows)}

    return run


def _cases(url: str) -> list[tuple[str, Callable[[Session], Any], str]]:
    from app.credits import reports as credits_reports
    from app.evaluations import overview, service
    from app.exams import reports as exams_reports
    from app.exams.models import FunnelGroupBy
    from app.funding import reports as funding_reports
    from app.funding.models import FundingGroupBy
    from app.trainings import reports as trainings_reports

    return [
        (
            "GET /reports/funnel",
            lambda s: exams_reports.funnel(
                s, PRINCIPAL, year=YEAR, group_by=FunnelGroupBy.application
            ),
            FUNNEL_FLOOR,
        ),
        (
            "GET /reports/funnel?group_by=college",
            lambda s: exams_reports.funnel(s, PRINCIPAL, year=YEAR, group_by=FunnelGroupBy.college),
            FUNNEL_COLLEGE_FLOOR,
        ),
        (
            "GET /reports/overview",
            lambda s: overview.overview(s, PRINCIPAL, YEAR, TODAY),
            OVERVIEW_FLOOR,
        ),
        (
            "POST /evaluations/compute",
            lambda s: service.compute_year(s, PRINCIPAL, YEAR, TODAY, "Asia/Shanghai"),
            COMPUTE_FLOOR,
        ),
        (
            "GET /reports/teacher-coverage",
            lambda s: trainings_reports.coverage_report(s, PRINCIPAL, today=TODAY, year=YEAR),
            COVERAGE_FLOOR,
        ),
        (
            "GET /reports/funding?group_by=college",
            lambda s: funding_reports.report(
                s, PRINCIPAL, year=YEAR, group_by=FundingGroupBy.college
            ),
            FUNDING_FLOOR,
        ),
        (
            "GET /reports/credit-conversions",
            # The answer's bytes, as the endpoint writes them (rows read and written in chunks).
            lambda s: sum(
                map(len, credits_reports.conversion_report(s, PRINCIPAL, year=YEAR).json_chunks())
            ),
            CREDITS_FLOOR,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__)
    parser.add_argument("benchmarks", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--skip-generate", action="store_true", help="reuse the generated year")
    args = parser.parse_args(sys.argv[1:])
    url = args.database_url
    if not url or is_sqlite(url):
        message = (
            "bench scale needs PostgreSQL: pass --database-url postgresql+psycopg://… or set "
            "BENCH_DATABASE_URL (SQLite is not supported: the year is generated with "
            "PostgreSQL's generate_series). The database is emptied."
        )
        if "scale" in args.benchmarks:
            sys.exit(message)
        print(f"\nskipped: {message}")
        return
    scale = float(os.environ.get("BENCH_SCALE", "0.1"))
    repeat = int(os.environ.get("BENCH_REPEAT", "2"))
    if not args.skip_generate:
        started = time.perf_counter()
        sizes = _generate(url, scale)
        took = time.perf_counter() - started
        print(f"\nbench scale: BENCH_SCALE={scale}, generated in {took:.0f} s")
        print(", ".join(f"{table} {n:,}" for table, n in sizes.items()))
    print(
        f"\n{'report':<40}{'seconds':>9}{'+peak MB':>9}{'floor s':>9}{'x floor':>9}{'1st call':>9}"
    )
    for name, call, floor_sql in _cases(url):
        row, floor = measure_in_turns(
            [(name, _service_case(url, call)), (name + " floor", _floor_case(url, floor_sql))],
            repeat,
        )
        print(
            f"{name:<40}{row.seconds:>9.3f}{row.peak_rss_mb:>9.0f}{floor.seconds:>9.3f}"
            f"{row.seconds / floor.seconds:>9.2f}{row.extra['first']:>9.3f}",
            flush=True,
        )
    from bench import scale_paths

    scale_paths.main(url, repeat)
