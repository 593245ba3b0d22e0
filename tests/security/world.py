"""The world the standing sweeps run in: the demo data (one college full of pilots, trainings,
exams, credits and money) with a second college beside it, each with a manager, teachers and
students, and two evaluation organisations with their users; and, for each principal, the ids
of every kind of object it may **not** read, computed in SQL from the rules of
docs/security.md (written apart from the services, so a scope bug in one is not copied)."""

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.core.roles import Role
from app.demo.loader import DEMO_COLLEGE, load_demo
from app.reference.models import College, EvaluationOrg, Major, Student, Teacher
from tests.factories import auth, make_user
from tests.reference.factories import make_student, make_teacher

MISSING_ID = 999999
"""An id no row of the world has: what a missing object is named by."""


@dataclass
class Caller:
    """One principal of the world: its name in the sweep, role, scope and headers."""

    name: str
    role: Role
    scope: dict[str, int]
    headers: dict[str, str]
    foreign: dict[str, set[int]] = field(default_factory=dict)
    """Kind (``student``, ``application``, …) → ids of that kind it may not read."""
    foreign_text: set[str] = field(default_factory=set)
    """Student and staff numbers it may not read: none may appear in any answer to it."""

    @property
    def scoped(self) -> bool:
        return self.role not in (Role.admin, Role.academic_office, Role.auditor)


@dataclass
class World:
    callers: list[Caller]
    ids: dict[str, list[int]]
    """Kind → every id of that kind in the world."""
    owned: dict[tuple[str, str], int]
    """(caller, kind) → an object of the caller's own that a write may name."""
    bodies: dict[tuple[str, str], dict[str, Any]]
    """(method, path) → a body that passes every check before the look-up a probe aims at."""

    def caller(self, name: str) -> Caller:
        return next(c for c in self.callers if c.name == name)

    def own(self, caller: Caller, kind: str) -> int:
        return self.owned[(caller.name, kind)]

    def body(self, method: str, path: str, _caller: Caller) -> dict[str, Any]:
        return dict(self.bodies.get((method, path), {}))


TABLES = {
    "college": "colleges",
    "major": "majors",
    "course": "courses",
    "teacher": "teachers",
    "student": "students",
    "evaluation_org": "evaluation_orgs",
    "certificate": "certificates",
    "application": "pilot_applications",
    "plan": "pilot_plans",
    "training": "teacher_trainings",
    "batch": "training_batches",
    "enrollment": "training_enrollments",
    "session": "exam_sessions",
    "registration": "exam_registrations",
    "issued_certificate": "issued_certificates",
    "rule": "conversion_rules",
    "request": "conversion_requests",
    "credit_record": "credit_records",
    "source": "funding_sources",
    "line": "budget_lines",
    "expenditure": "expenditures",
    "subsidy_run": "subsidy_runs",
    "evaluation": "evaluations",
    "expert": "experts",
    "meeting": "meetings",
    "user": "users",
    "import": "import_batches",
    "qualification": "evaluator_qualifications",
    "base": "training_bases",
    "reconciliation": "reconciliations",
}


def build_world(db: Session) -> World:
    assert load_demo(db, "admin", "demo-password-123").created
    college_a = db.exec(select(College).where(College.name == DEMO_COLLEGE)).one()
    teacher_b = db.exec(select(Teacher).where(Teacher.college_id != college_a.id)).first()
    assert teacher_b is not None
    college_b = db.get(College, teacher_b.college_id)
    assert college_a.id is not None and college_b is not None and college_b.id is not None
    major_b = db.exec(select(Major).where(Major.college_id == college_b.id)).first()
    assert major_b is not None
    students_a = db.exec(
        select(Student)
        .join(Major, col(Major.id) == Student.major_id)
        .where(Major.college_id == college_a.id)
        .order_by(col(Student.student_no))
    ).all()
    teacher_a = db.exec(
        select(Teacher).where(Teacher.college_id == college_a.id).order_by(col(Teacher.staff_no))
    ).first()
    assert teacher_a is not None
    student_b = make_student(db, major_b, cohort=2021)
    make_teacher(db, college_b)
    orgs = db.exec(select(EvaluationOrg).order_by(col(EvaluationOrg.id))).all()

    def caller(name: str, role: Role, **scope: int) -> Caller:
        return Caller(name, role, scope, auth(make_user(db, role, **scope)))

    callers = [
        caller("admin", Role.admin),
        caller("office", Role.academic_office),
        caller("manager_a", Role.college_manager, college_id=college_a.id),
        caller("manager_b", Role.college_manager, college_id=college_b.id),
        caller("teacher_a", Role.teacher, teacher_id=teacher_a.id or 0),
        caller("teacher_b", Role.teacher, teacher_id=teacher_b.id or 0),
        caller("student_a", Role.student, student_id=students_a[0].id or 0),
        caller("student_b", Role.student, student_id=student_b.id or 0),
        caller("org_1", Role.evaluation_org, evaluation_org_id=orgs[0].id or 0),
        caller("org_2", Role.evaluation_org, evaluation_org_id=orgs[1].id or 0),
    ]
    for one in callers:
        if one.scoped:
            one.foreign = foreign_ids(db, one)
            one.foreign_text = foreign_numbers(db, one.foreign)
    ids = {
        kind: list(db.exec(sa.text(f'SELECT id FROM "{table}" ORDER BY id')).scalars())  # type: ignore[call-overload]
        for kind, table in TABLES.items()
    }
    owned, bodies = _anchors(db, college_a.id, teacher_a.id or 0)
    return World(callers, ids, owned, bodies)


def _anchors(
    db: Session, college_a: int, teacher_a: int
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], dict[str, Any]]]:
    """The objects of college A's manager (and teacher) that writes name, and the bodies."""

    def one(sql: str, **params: Any) -> Any:
        return db.execute(sa.text(sql), params).first()

    batch_id, application_id = one("SELECT id, application_id FROM training_batches ORDER BY id")
    year, tier, certificate_id, level, headcount = one(
        "SELECT year, tier, certificate_id, level, headcount FROM pilot_applications WHERE id = :a",
        a=application_id,
    )
    cohort = one(
        "SELECT cohort FROM pilot_application_cohorts WHERE application_id = :a", a=application_id
    )[0]
    major_id = one(
        "SELECT major_id FROM pilot_application_majors WHERE application_id = :a",
        a=application_id,
    )[0]
    session_id = one("SELECT id FROM exam_sessions ORDER BY id")[0]
    owned = {
        ("manager_a", "student"): one(
            "SELECT s.id FROM students s JOIN majors m ON m.id = s.major_id "
            "WHERE m.college_id = :c ORDER BY s.id",
            c=college_a,
        )[0],
        ("manager_a", "course"): one(
            "SELECT id FROM courses WHERE college_id = :c ORDER BY id", c=college_a
        )[0],
        ("manager_a", "application"): application_id,
        ("manager_a", "batch"): batch_id,
        ("manager_a", "session"): session_id,
        ("student_a", "session"): session_id,
        ("student_b", "session"): session_id,
        ("manager_a", "base"): one(
            "SELECT id FROM training_bases WHERE college_id = :c ORDER BY id", c=college_a
        )[0],
        ("teacher_a", "training"): one(
            "SELECT id FROM teacher_trainings WHERE teacher_id = :t ORDER BY id", t=teacher_a
        )[0],
    }
    dates = {"start_date": "2026-01-05", "end_date": "2026-01-09"}
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("post", "/api/v1/courses"): {
            "code": "SWEEP-C1",
            "name": "扫描课程",
            "college_id": college_a,
        },
        ("post", "/api/v1/students"): {"student_no": "SWEEP0001", "name": "扫描", "cohort": 2022},
        ("post", "/api/v1/applications"): {
            "year": year,
            "tier": tier,
            "certificate_id": certificate_id,
            "level": level,
            "cohorts": [cohort],
            "headcount": headcount,
        },
        ("post", "/api/v1/applications/{application_id}/teachers"): {"roles": ["trainer"]},
        ("post", "/api/v1/plans"): {"major_id": major_id},
        ("post", "/api/v1/teacher-trainings"): {
            "certificate_id": certificate_id,
            "level": level,
            "hours": 40,
            **dates,
        },
        ("post", "/api/v1/training-batches"): {
            "application_id": application_id,
            "title": "扫描批次",
            "hours": 10,
            **dates,
        },
        ("post", "/api/v1/evaluator-qualifications"): {
            "certificate_id": certificate_id,
            "level": level,
            "qualification_no": "SWEEP-KPY-1",
            "issuer": "扫描",
            "issued_on": "2022-07-15",
        },
        ("post", "/api/v1/training-bases"): {
            "name": "扫描基地",
            "stations": 10,
            "college_id": college_a,
        },
        ("post", "/api/v1/conversion-requests"): {
            "issued_certificate_id": one("SELECT id FROM issued_certificates ORDER BY id")[0],
            "rule_id": one("SELECT id FROM conversion_rules ORDER BY id")[0],
        },
    }
    return owned, bodies


def _ids(db: Session, sql: str, **params: Any) -> set[int]:
    statement = sa.text(sql)
    for name, value in params.items():
        if isinstance(value, tuple):
            statement = statement.bindparams(sa.bindparam(name, expanding=True))
    return set(db.execute(statement, params).scalars())


def foreign_ids(db: Session, caller: Caller) -> dict[str, set[int]]:
    """Per kind, the ids ``caller`` may not read (its widest scope taken, so that every id
    here is a leak wherever it shows)."""

    def q(sql: str, **params: Any) -> set[int]:
        return _ids(db, sql, **params)

    f: dict[str, set[int]] = {}
    role, scope = caller.role, caller.scope
    if role == Role.college_manager:
        c = scope["college_id"]
        f["college"] = q("SELECT id FROM colleges WHERE id != :c", c=c)
        f["major"] = q("SELECT id FROM majors WHERE college_id != :c", c=c)
        f["course"] = q("SELECT id FROM courses WHERE college_id != :c", c=c)
        f["teacher"] = q("SELECT id FROM teachers WHERE college_id != :c", c=c)
        f["student"] = q(
            "SELECT s.id FROM students s JOIN majors m ON m.id = s.major_id "
            "WHERE m.college_id != :c",
            c=c,
        )
        f["application"] = q(
            "SELECT id FROM pilot_applications WHERE id NOT IN (SELECT am.application_id "
            "FROM pilot_application_majors am JOIN majors m ON m.id = am.major_id "
            "WHERE m.college_id = :c)",
            c=c,
        )
    elif role == Role.teacher:
        t = scope["teacher_id"]
        f["teacher"] = q("SELECT id FROM teachers WHERE id != :t", t=t)
        f["student"] = q(
            "SELECT s.id FROM students s JOIN majors m ON m.id = s.major_id "
            "WHERE m.college_id NOT IN (SELECT college_id FROM teachers WHERE id = :t)",
            t=t,
        )
        f["application"] = q(
            "SELECT id FROM pilot_applications WHERE id NOT IN "
            "(SELECT application_id FROM pilot_teachers WHERE teacher_id = :t)",
            t=t,
        )
    elif role == Role.student:
        s = scope["student_id"]
        f["student"] = q("SELECT id FROM students WHERE id != :s", s=s)
        f["teacher"] = q("SELECT id FROM teachers")
        f["application"] = q(
            "SELECT id FROM pilot_applications WHERE id NOT IN (SELECT application_id FROM "
            "pilot_application_majors WHERE major_id IN "
            "(SELECT major_id FROM students WHERE id = :s))",
            s=s,
        )
    elif role == Role.evaluation_org:
        o = scope["evaluation_org_id"]
        f["evaluation_org"] = q("SELECT id FROM evaluation_orgs WHERE id != :o", o=o)
        f["application"] = q(
            "SELECT id FROM pilot_applications WHERE certificate_id NOT IN "
            "(SELECT id FROM certificates WHERE evaluation_org_id = :o)",
            o=o,
        )
        f["session"] = q("SELECT id FROM exam_sessions WHERE evaluation_org_id != :o", o=o)
        f["student"] = q(
            "SELECT id FROM students WHERE id NOT IN (SELECT r.student_id FROM "
            "exam_registrations r JOIN exam_sessions e ON e.id = r.session_id "
            "WHERE e.evaluation_org_id = :o)",
            o=o,
        )
        f["teacher"] = q("SELECT id FROM teachers")
        f["training"] = q(
            "SELECT id FROM teacher_trainings WHERE certificate_id NOT IN "
            "(SELECT id FROM certificates WHERE evaluation_org_id = :o)",
            o=o,
        )
    apps = f.get("application", set())
    # The people of a pilot the caller reads are the caller's to read: its teachers and
    # instructors (staff numbers), and, for its teachers and its organisation, its students.
    readable = tuple(_ids(db, "SELECT id FROM pilot_applications") - apps) or (-1,)
    attached = _ids(
        db,
        "SELECT teacher_id FROM pilot_teachers WHERE application_id IN :a UNION "
        "SELECT i.teacher_id FROM training_batch_instructors i JOIN training_batches b "
        "ON b.id = i.batch_id WHERE b.application_id IN :a",
        a=readable,
    )
    if role == Role.evaluation_org:
        attached |= _ids(
            db,
            "SELECT teacher_id FROM teacher_trainings WHERE certificate_id IN "
            "(SELECT id FROM certificates WHERE evaluation_org_id = :o)",
            o=scope["evaluation_org_id"],
        )
    f["teacher"] = f.get("teacher", set()) - attached
    if role in (Role.teacher, Role.evaluation_org):
        f["student"] = f.get("student", set()) - _ids(
            db,
            "SELECT e.student_id FROM training_enrollments e JOIN training_batches b "
            "ON b.id = e.batch_id WHERE b.application_id IN :a UNION "
            "SELECT student_id FROM exam_registrations WHERE application_id IN :a",
            a=readable,
        )
    students = f.get("student", set())
    teachers = f.get("teacher", set())
    f.setdefault("session", set()).update(_in(db, "exam_sessions", "application_id", apps))
    f["plan"] = _in(db, "pilot_plans", "application_id", apps)
    f["batch"] = _in(db, "training_batches", "application_id", apps)
    f["line"] = _in(db, "budget_lines", "application_id", apps)
    f["evaluation"] = _in(db, "evaluations", "application_id", apps)
    f["expenditure"] = _in(db, "expenditures", "line_id", f["line"])
    f["subsidy_run"] = _in(db, "subsidy_runs", "line_id", f["line"])
    if role != Role.evaluation_org:
        f["training"] = _in(db, "teacher_trainings", "teacher_id", teachers)
        f["qualification"] = _in(db, "evaluator_qualifications", "teacher_id", teachers)
    else:
        f["qualification"] = q("SELECT id FROM evaluator_qualifications")
    f["enrollment"] = _in(db, "training_enrollments", "student_id", students)
    f["registration"] = _in(db, "exam_registrations", "student_id", students) | _in(
        db, "exam_registrations", "session_id", f["session"]
    )
    f["issued_certificate"] = _in(db, "issued_certificates", "student_id", students) | _in(
        db, "issued_certificates", "session_id", f["session"]
    )
    f["request"] = _in(db, "conversion_requests", "student_id", students)
    f["credit_record"] = _in(db, "credit_records", "student_id", students)
    if role == Role.college_manager:
        f["source"] = _sources_without_own_lines(db, apps)
    if role != Role.evaluation_org:
        f.pop("session", None)  # the exam timetable is every other role's to read
    f["reconciliation"] = _foreign_reconciliations(db, role, scope)
    return {kind: ids for kind, ids in f.items() if ids}


def _foreign_reconciliations(db: Session, role: Role, scope: dict[str, int]) -> set[int]:
    """A college manager or an organisation reads the reconciliations made in its own scope;
    teachers and students none."""
    if role == Role.college_manager:
        return _ids(
            db,
            "SELECT id FROM reconciliations WHERE college_id IS NULL OR college_id != :c",
            c=scope["college_id"],
        )
    if role == Role.evaluation_org:
        return _ids(
            db,
            "SELECT id FROM reconciliations WHERE evaluation_org_id IS NULL "
            "OR evaluation_org_id != :o",
            o=scope["evaluation_org_id"],
        )
    return _ids(db, "SELECT id FROM reconciliations")


def _sources_without_own_lines(db: Session, foreign_apps: set[int]) -> set[int]:
    rows = db.execute(sa.text("SELECT id, source_id, application_id FROM budget_lines")).all()
    funded = {source for _id, source, app in rows if app not in foreign_apps}
    return set(db.execute(sa.text("SELECT id FROM funding_sources")).scalars()) - funded


def _in(db: Session, table: str, column: str, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    rows = db.execute(sa.text(f'SELECT id, "{column}" FROM "{table}"')).all()
    return {row_id for row_id, value in rows if value in ids}


def foreign_numbers(db: Session, foreign: dict[str, set[int]]) -> set[str]:
    numbers = set()
    students = foreign.get("student", set())
    teachers = foreign.get("teacher", set())
    for row_id, number in db.execute(sa.text("SELECT id, student_no FROM students")).all():
        if row_id in students:
            numbers.add(number)
    for row_id, number in db.execute(sa.text("SELECT id, staff_no FROM teachers")).all():
        if row_id in teachers:
            numbers.add(number)
    return numbers
