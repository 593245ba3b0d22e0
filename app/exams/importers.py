"""The exams' import kinds: ``exam-registrations`` (a whole class at once, every rule of a
single registration per row), ``exam-results`` and ``issued-certificates`` (the session's own
evaluation organisation or the academic office)."""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from app.applications.admission import Admission, admissions
from app.applications.models import (
    ApplicationStatus,
    PilotApplication,
)
from app.applications.rules import approved_problem
from app.core.audit import record, record_row
from app.core.config import get_settings
from app.core.errors import Conflict
from app.core.i18n import N_, _
from app.core.labels import label
from app.core.locks import lock_row
from app.core.params import MAX_DB_ID
from app.core.roles import Principal, Role
from app.core.types import school_today
from app.exams import service
from app.exams.models import (
    CertificateStatus,
    ExamRegistration,
    ExamResult,
    ExamSession,
    IssuedCertificate,
    RegistrationStatus,
)
from app.exams.rules import (
    certified_pass_problem,
    full_problem,
    headcount_problem,
    held_problem,
    paid_pass_problem,
    window_problem,
)
from app.imports.cells import code, date_cell, decimal, integer, text, yes_no
from app.imports.engine import (
    ChangedDuringImport,
    Column,
    ImportKind,
    Plan,
    RowRefused,
    known,
    rows_by,
    stored_rows,
)
from app.imports.registry import register
from app.reference.importers import YES_NO_CHOICES
from app.reference.models import EvaluationOrg, Major, Student

RESULT_WRITERS = frozenset({Role.academic_office, Role.evaluation_org})
TRUE_WORDS = frozenset({"是", "通过", "合格", "y", "yes", "true", "1", "pass", "passed"})
FALSE_WORDS = frozenset({"否", "不通过", "未通过", "不合格", "n", "no", "false", "0", "fail"})
passed_cell = yes_no(
    TRUE_WORDS, FALSE_WORDS, "是 or 否 (also 通过/不通过, 合格/不合格, yes/no, 1/0)"
)


EARLIEST_ISSUE = date(2000, 1, 1)
SCORE = decimal(Decimal(0), Decimal(100), 1)
SESSION_ID = integer(1, MAX_DB_ID)
SESSION_HELP = N_("the exam session's id (GET /api/v1/exam-sessions), or pass ?session_id=")


def _today() -> date:
    return school_today(get_settings().timezone)


def _students(session: Session) -> dict[str, dict[str, Any]]:
    return {
        student_no: {
            "id": student_id,
            "name": name,
            "major_id": major_id,
            "cohort": cohort,
            "college_id": college_id,
        }
        for student_id, student_no, name, major_id, cohort, college_id in session.execute(
            sa.select(  # type: ignore[call-overload]
                Student.id,
                Student.student_no,
                Student.name,
                Student.major_id,
                Student.cohort,
                Major.college_id,
            ).join(Major, col(Major.id) == Student.major_id)
        )
    }


def _sessions(session: Session) -> dict[int, dict[str, Any]]:
    return {
        exam.id: exam.model_dump()
        for exam in session.exec(select(ExamSession)).all()
        if exam.id is not None
    }


def _in_session(
    found: dict[tuple[int, str], Any], exam: dict[str, Any], cells: dict[str, Any], missing: str
) -> Any:
    """What ``found`` holds for the row's student in the row's session (its registration,
    its passed result); else the row is refused in 学号 with ``missing`` (an ``N_`` message
    on ``{student_no}`` and ``{exam_id}``)."""
    student_no = cells["student_no"]
    value = found.get((exam["id"], student_no))
    if value is None:
        raise RowRefused(_(missing, student_no=student_no, exam_id=exam["id"]), "学号", student_no)
    return value


def _student(plan: Plan, cells: dict[str, Any]) -> dict[str, Any]:
    student: dict[str, Any] = known(
        plan.lookups["students"],
        cells["student_no"],
        "学号",
        N_("no student with number {student_no} (upload students first)"),
        student_no=cells["student_no"],
    )
    name = cells.get("name")
    if name and name != student["name"]:
        raise RowRefused(
            _(
                "student {student_no} is {student_name}, not {name}; check the row",
                student_no=cells["student_no"],
                student_name=student["name"],
                name=name,
            ),
            "姓名",
            name,
        )
    return dict(student)


class ExamImportOptions(BaseModel):
    session_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DB_ID,
        description="The exam session of every row, unless a 考核ID column gives it",
    )


def _session_id(cells: dict[str, Any], options: Any) -> int | None:
    if cells.get("session_id") is not None:
        return int(cells["session_id"])
    given = getattr(options, "session_id", None)
    return int(given) if given is not None else None


def _session(plan: Plan, cells: dict[str, Any]) -> dict[str, Any]:
    session_id = _session_id(cells, plan.options)
    if session_id is None:
        raise RowRefused(_("no session: add a 考核ID column or pass ?session_id= with the upload"))
    exam = known(
        plan.lookups["sessions"],
        session_id,
        "考核ID",
        N_("no exam session with id {session_id}"),
        session_id=session_id,
    )
    return dict(exam)


def _session_key(cells: dict[str, Any], options: Any) -> Any:
    session_id = _session_id(cells, options)
    if session_id is None or cells.get("student_no") is None:
        return None
    return (session_id, cells["student_no"])


def _check_org(plan: Plan, principal: Principal, exam: dict[str, Any]) -> None:
    if principal.role != Role.evaluation_org:
        return
    if exam["evaluation_org_id"] != principal.evaluation_org_id:
        names: dict[int, str] = plan.lookups["org_names"]
        raise RowRefused(
            _(
                "session {exam_id} belongs to {org}; an "
                "evaluation organisation uploads only for its own sessions",
                exam_id=exam["id"],
                org=names.get(exam["evaluation_org_id"], "?"),
            ),
            "考核ID",
            str(exam["id"]),
        )


def _org_names(session: Session) -> dict[int, str]:
    return dict(session.execute(sa.select(EvaluationOrg.id, EvaluationOrg.name)).all())  # type: ignore[call-overload]


# --- exam-registrations ----------------------------------------------------------------------


def _registrations_prepare(session: Session, principal: Principal) -> Plan:
    students = _students(session)
    number_of = {s["id"]: no for no, s in students.items()}
    existing: dict[Any, dict[str, Any]] = {}
    seats: dict[int, int] = defaultdict(int)
    counted: dict[int, set[int]] = defaultdict(set)
    for values in stored_rows(session, ExamRegistration, col(ExamRegistration.live).is_(True)):
        existing[(values["session_id"], number_of[values["student_id"]])] = values
        seats[values["session_id"]] += 1
        counted[values["application_id"]].add(values["student_id"])
    applications = {
        a.id: {"status": a.status, "headcount": a.headcount}
        for a in session.exec(select(PilotApplication)).all()
    }
    return Plan(
        existing=existing,
        lookups={
            "students": students,
            "sessions": _sessions(session),
            "applications": applications,
            "admissions": admissions(session),
            "seats": seats,
            "counted": counted,
            "principal": principal,
            "today": _today(),
            "college_of_student": {s["id"]: s["college_id"] for s in students.values()},
            "major_names": dict(session.execute(sa.select(Major.id, Major.name)).all()),  # type: ignore[call-overload]
        },
    )


def _registration_values(
    plan: Plan, cells: dict[str, Any], _principal: Principal
) -> dict[str, Any]:
    exam = _session(plan, cells)
    student = _student(plan, cells)
    current = plan.existing.get((exam["id"], cells["student_no"]))
    if current is not None:
        return {
            k: current[k] for k in ("session_id", "student_id", "application_id", "status", "live")
        }
    today: date = plan.lookups["today"]
    closed = window_problem(
        exam["id"], exam["registration_opens"], exam["registration_closes"], today
    )
    if closed:
        raise RowRefused(closed, "考核ID", str(exam["id"]))
    application_id = exam["application_id"]
    application = plan.lookups["applications"][application_id]
    not_approved = approved_problem(application_id, application["status"])
    missing = [not_approved] if not_approved else []
    admission: Admission = plan.lookups["admissions"][application_id]
    missing += admission.problems(
        student["major_id"], student["cohort"], plan.lookups["major_names"].get
    )
    if missing:
        raise RowRefused(
            _(
                "student {student_no} is not eligible: {missing}",
                student_no=cells["student_no"],
                missing="; ".join(missing),
            ),
            "学号",
            cells["student_no"],
        )
    seats: dict[int, int] = plan.lookups["seats"]
    counted: set[int] = plan.lookups["counted"][application_id]
    problem = full_problem(exam["id"], seats[exam["id"]], exam["capacity"])
    if problem is None and student["id"] not in counted:
        problem = headcount_problem(application_id, len(counted), application["headcount"])
    if problem:
        raise RowRefused(problem, "学号", cells["student_no"])
    seats[exam["id"]] += 1
    counted.add(student["id"])
    return {
        "session_id": exam["id"],
        "student_id": student["id"],
        "application_id": application_id,
        "status": RegistrationStatus.registered,
        "live": True,
    }


def _registration_college(plan: Plan, values: dict[str, Any]) -> int | None:
    college_of: dict[int, int] = plan.lookups["college_of_student"]
    return college_of.get(values["student_id"])


def _lock_and_recount(
    session: Session, _principal: Principal, _plan: Plan, rows: list[dict[str, Any]]
) -> None:
    """Take the rows of the sessions, then of their applications (the order a single
    registration takes them), and check the seats and headcount again under the locks."""
    sessions = sorted({r["session_id"] for r in rows})
    exams = {s: lock_row(session, ExamSession, s, N_("exam session")) for s in sessions}
    applications = sorted({e.application_id for e in exams.values()})
    for application_id in applications:
        application = lock_row(session, PilotApplication, application_id, N_("pilot application"))
        if application.status != ApplicationStatus.approved:
            raise Conflict(
                _(
                    "Pilot application {application_id} became {status} while the file was "
                    "checked; students register only for approved pilots. Nothing was written",
                    application_id=application_id,
                    status=label(application.status),
                ),
                code="not_eligible",
            )
        new_students = {r["student_id"] for r in rows if r["application_id"] == application_id}
        registered = set(
            session.exec(
                select(ExamRegistration.student_id).where(
                    ExamRegistration.application_id == application_id,
                    col(ExamRegistration.live).is_(True),
                )
            ).all()
        )
        if len(registered | new_students) > application.headcount:
            raise Conflict(
                _(
                    "Pilot application {application_id}'s headcount of {headcount} would be "
                    "exceeded: registrations were made while the file was checked; nothing "
                    "was written, upload it again",
                    application_id=application_id,
                    headcount=application.headcount,
                ),
                code="headcount_reached",
            )
    for session_id, exam in exams.items():
        new = sum(1 for r in rows if r["session_id"] == session_id)
        if service.live_in_session(session, session_id) + new > exam.capacity:
            raise Conflict(
                _(
                    "Session {session_id} would exceed its {capacity} seats: registrations "
                    "were made while the file was checked; nothing was written, upload it "
                    "again",
                    session_id=session_id,
                    capacity=exam.capacity,
                ),
                code="session_full",
            )


def _audit_registrations(session: Session, plan: Plan, rows: list[dict[str, Any]]) -> None:
    """One ``register`` event per registration the upload created, as a single one makes."""
    if not rows:
        return
    created = session.exec(
        select(ExamRegistration).where(
            col(ExamRegistration.session_id).in_({r["session_id"] for r in rows}),
            col(ExamRegistration.student_id).in_({r["student_id"] for r in rows}),
            col(ExamRegistration.live).is_(True),
        )
    ).all()
    wanted = {(r["session_id"], r["student_id"]) for r in rows}
    for registration in created:
        if (registration.session_id, registration.student_id) in wanted:
            record_row(
                session,
                plan.lookups["principal"],
                registration,
                service.REGISTRATION_ENTITY,
                action="register",
            )


CANDIDATE_COLUMNS = (
    Column(
        "session_id",
        "考核ID",
        SESSION_ID,
        required=False,
        aliases=("考核", "session"),
        example="1",
        help=SESSION_HELP,
    ),
    Column("student_no", "学号", code(20), example="2021510203001"),
)
"""The two columns that name a candidate in every exams upload: the session (or the page's)
and the student."""
STUDENT_NAME = Column("name", "姓名", text(100), required=False, example="张三")
"""The candidate's name, when given checked against the student number."""


register(
    ImportKind(
        name="exam-registrations",
        title="考核报名",
        model=ExamRegistration,
        key="student_no",
        row_key=_session_key,
        options=ExamImportOptions,
        columns=(
            *CANDIDATE_COLUMNS,
            Column(
                "name",
                "姓名",
                text(100),
                required=False,
                example="张三",
                help=N_("checked against the student number when given"),
            ),
            Column("class_name", "班级", text(100), required=False, example=""),
        ),
        prepare=_registrations_prepare,
        to_values=_registration_values,
        college_of=_registration_college,
        before_write=_lock_and_recount,
        write_extra=_audit_registrations,
        scope_columns=("student_no",),
        description="Registers students (by student number) for exam sessions with every rule "
        "of a single registration; a row already registered is left unchanged",
    )
)


# --- exam-results ----------------------------------------------------------------------------


def _results_prepare(session: Session, principal: Principal) -> Plan:
    students = _students(session)
    number_of = {s["id"]: no for no, s in students.items()}
    registrations: dict[tuple[int, str], dict[str, Any]] = {}
    for registration in session.exec(
        select(ExamRegistration).where(col(ExamRegistration.live).is_(True))
    ).all():
        key = (registration.session_id, number_of[registration.student_id])
        registrations[key] = registration.model_dump()
    existing: dict[Any, dict[str, Any]] = {}
    by_registration = {r["id"]: k for k, r in registrations.items()}
    for row in stored_rows(session, ExamResult):
        found = by_registration.get(row["registration_id"])
        if found is not None:
            existing[found] = row
    return Plan(
        existing=existing,
        lookups={
            "students": students,
            "sessions": _sessions(session),
            "registrations": registrations,
            "certified": dict(
                session.execute(
                    sa.select(IssuedCertificate.result_id, IssuedCertificate.number).where(  # type: ignore[call-overload]
                        IssuedCertificate.status == CertificateStatus.valid
                    )
                ).all()
            ),
            "subsidised": service.standing_payments(
                session, [v["id"] for v in existing.values() if v["passed"]]
            ),
            "org_names": _org_names(session),
            "principal": principal,
            "today": _today(),
        },
    )


def _result_values(plan: Plan, cells: dict[str, Any], principal: Principal) -> dict[str, Any]:
    exam = _session(plan, cells)
    _check_org(plan, principal, exam)
    _student(plan, cells)
    registration = _in_session(
        plan.lookups["registrations"],
        exam,
        cells,
        N_(
            "student {student_no} has no registration in session {exam_id} that "
            "was not cancelled; results are recorded only for registrations"
        ),
    )
    not_held = held_problem(exam["id"], exam["exam_date"], plan.lookups["today"])
    if not_held:
        raise RowRefused(not_held, "考核ID", str(exam["id"]))
    if registration["status"] == RegistrationStatus.absent:
        raise RowRefused(
            _(
                "student {student_no} was marked absent from session {exam_id}",
                student_no=cells["student_no"],
                exam_id=exam["id"],
            ),
            "学号",
            cells["student_no"],
        )
    current = plan.existing.get((exam["id"], cells["student_no"]))
    if current is not None and current["passed"] and not cells["passed"]:
        problem = certified_pass_problem(
            plan.lookups["certified"].get(current["id"])
        ) or paid_pass_problem(plan.lookups["subsidised"].get(current["id"]))
        if problem:
            raise RowRefused(
                _(
                    "student {student_no}: {problem}",
                    student_no=cells["student_no"],
                    problem=problem,
                ),
                "是否通过",
                "否",
            )
    return {
        "registration_id": registration["id"],
        "theory_score": cells.get("theory_score"),
        "practical_score": cells.get("practical_score"),
        "passed": cells["passed"],
    }


def _lock_registrations(session: Session, registration_ids: set[int]) -> list[ExamRegistration]:
    """The registrations' rows, locked in id order (the lock a single result or absent takes)."""
    return list(
        session.exec(
            select(ExamRegistration)
            .where(col(ExamRegistration.id).in_(sorted(registration_ids)))
            .order_by(col(ExamRegistration.id))
            .with_for_update()
        ).all()
    )


def _valid_numbers(session: Session, registration_ids: set[int]) -> dict[int, str]:
    """registration id → the valid certificate number issued for its result."""
    return dict(
        session.execute(
            sa.select(ExamResult.registration_id, IssuedCertificate.number)  # type: ignore[call-overload]
            .join(IssuedCertificate, col(IssuedCertificate.result_id) == ExamResult.id)
            .where(
                col(ExamResult.registration_id).in_(sorted(registration_ids)),
                IssuedCertificate.status == CertificateStatus.valid,
            )
        ).all()
    )


def _lock_and_recheck_results(
    session: Session, _principal: Principal, _plan: Plan, rows: list[dict[str, Any]]
) -> None:
    """Hold the rows' sessions shared (as a single result does, so subsidy runs take turns with
    the upload), lock their registrations and check again, under the locks, what the file was
    checked against: each registration still takes a result (not marked absent or cancelled
    since), and no result about to become a fail holds a valid certificate or a standing pass
    subsidy (issued or paid since)."""
    if not rows:
        return
    registration_ids = {r["registration_id"] for r in rows}
    service.share_sessions(
        session,
        list(
            session.exec(
                select(ExamRegistration.session_id)
                .where(col(ExamRegistration.id).in_(sorted(registration_ids)))
                .distinct()
            ).all()
        ),
    )
    locked = _lock_registrations(session, registration_ids)
    moved = [r for r in locked if r.status not in service.RESULT_STATES]
    if moved:
        states = ", ".join(f"{r.id} is {r.status.value}" for r in moved)
        raise ChangedDuringImport(
            _(
                "Registrations changed while the file was checked ({states}); results are "
                "recorded only for registered or sat candidates. Nothing was written; "
                "upload the file again to see the rows named",
                states=states,
            ),
            registration_ids=[r.id for r in moved],
        )
    failing = sorted({r["registration_id"] for r in rows if not r["passed"]})
    _refuse_if_found(
        _valid_numbers(session, set(failing)),
        _("Certificates were issued"),
        _(
            "a result with a valid certificate cannot become a fail until the "
            "certificate is revoked",
        ),
        "certificate_numbers",
    )
    results_of: dict[int, int] = dict(
        session.execute(
            sa.select(ExamResult.registration_id, ExamResult.id).where(  # type: ignore[call-overload]
                col(ExamResult.registration_id).in_(failing)
            )
        ).all()
    )
    _refuse_if_found(
        service.standing_payments(session, list(results_of.values())),
        _("Pass subsidies were paid"),
        _("reverse a payment before changing its result to not passed"),
        "voucher_numbers",
    )


def _refuse_if_found(found: dict[int, str], what: str, rule: str, field: str) -> None:
    """Refuse the whole file when the recheck under the locks ``found`` something (by number)."""
    if found:
        names = sorted(found.values())
        extra: dict[str, Any] = {field: names}
        raise ChangedDuringImport(
            _(
                "{what} while the file was checked ({names}); {rule}. Nothing was written",
                what=what,
                names=", ".join(names),
                rule=rule,
            ),
            **extra,
        )


def _write_results(session: Session, plan: Plan, rows: list[dict[str, Any]]) -> None:
    """The registrations become ``sat``; every created or corrected result is audited with its
    old and new values."""
    if not rows:
        return
    registration_ids = [r["registration_id"] for r in rows]
    session.execute(
        sa.update(ExamRegistration)
        .where(
            col(ExamRegistration.id).in_(registration_ids),
            col(ExamRegistration.status) == RegistrationStatus.registered,
        )
        .values(status=RegistrationStatus.sat, version=ExamRegistration.version + 1)
    )
    before = {v["registration_id"]: v for v in plan.existing.values()}
    principal: Principal = plan.lookups["principal"]
    stored = session.exec(
        select(ExamResult).where(col(ExamResult.registration_id).in_(registration_ids))
    ).all()
    for result in stored:
        old = before.get(result.registration_id)
        record(
            session,
            principal,
            action="update" if old else "create",
            entity=service.RESULT_ENTITY,
            entity_id=result.id,
            before=_result_json(old) if old else None,
            after=_result_json(result.model_dump()),
        )


def _result_json(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "registration_id": values["registration_id"],
        "theory_score": _score(values.get("theory_score")),
        "practical_score": _score(values.get("practical_score")),
        "passed": bool(values["passed"]),
    }


def _score(value: Any) -> str | None:
    return None if value is None else f"{Decimal(str(value)).quantize(Decimal('0.1'))}"


register(
    ImportKind(
        name="exam-results",
        title="考核成绩",
        model=ExamResult,
        key="student_no",
        row_key=_session_key,
        options=ExamImportOptions,
        columns=(
            *CANDIDATE_COLUMNS,
            STUDENT_NAME,
            Column(
                "theory_score",
                "理论成绩",
                SCORE,
                required=False,
                aliases=("理论",),
                example="82.5",
                help=N_("0–100, one decimal"),
            ),
            Column(
                "practical_score",
                "实操成绩",
                SCORE,
                required=False,
                aliases=("实操", "实践成绩"),
                example="76",
                help=N_("0–100, one decimal"),
            ),
            Column(
                "passed",
                "是否通过",
                passed_cell,
                aliases=("通过", "结果", "考核结果"),
                example="是",
                help=N_("是 or 否"),
                choices=YES_NO_CHOICES,
            ),
        ),
        prepare=_results_prepare,
        to_values=_result_values,
        writers=RESULT_WRITERS,
        before_write=_lock_and_recheck_results,
        write_extra=_write_results,
        description="Results by (session, student number); a corrected file updates them and "
        "the audit trail keeps the old and new values",
    )
)


# --- issued-certificates ---------------------------------------------------------------------


def _certificates_prepare(session: Session, principal: Principal) -> Plan:
    students = _students(session)
    number_of = {s["id"]: no for no, s in students.items()}
    passed: dict[tuple[int, str], int] = {}
    for result_id, session_id, student_id in session.execute(
        sa.select(ExamResult.id, ExamRegistration.session_id, ExamRegistration.student_id)  # type: ignore[call-overload]
        .join(ExamRegistration, col(ExamRegistration.id) == ExamResult.registration_id)
        .where(col(ExamResult.passed).is_(True), col(ExamRegistration.live).is_(True))
    ):
        passed[(session_id, number_of[student_id])] = result_id
    existing = rows_by(session, IssuedCertificate, "number")
    number_by_result = {row["result_id"]: number for number, row in existing.items()}
    return Plan(
        existing=existing,
        lookups={
            "students": students,
            "sessions": _sessions(session),
            "passed": passed,
            "number_by_result": number_by_result,
            "in_file": {},
            "today": _today(),
            "org_names": _org_names(session),
            "principal": principal,
        },
    )


def _certificate_values(plan: Plan, cells: dict[str, Any], principal: Principal) -> dict[str, Any]:
    exam = _session(plan, cells)
    _check_org(plan, principal, exam)
    student = _student(plan, cells)
    result_id: int = _in_session(
        plan.lookups["passed"],
        exam,
        cells,
        N_(
            "student {student_no} has no passed result in session {exam_id}; a "
            "certificate is issued only for a passed result"
        ),
    )
    number = cells["number"]
    current = plan.existing.get(number)
    if current is not None and current["result_id"] != result_id:
        raise RowRefused(
            _(
                "certificate number {number} is already issued to another result; numbers "
                "are unique across the service",
                number=number,
            ),
            "证书编号",
            number,
        )
    issued = plan.lookups["number_by_result"].get(result_id)
    if issued is not None and issued != number:
        raise RowRefused(
            _(
                "student {student_no} already holds certificate number {issued} for "
                "session {exam_id}",
                student_no=cells["student_no"],
                issued=issued,
                exam_id=exam["id"],
            ),
            "证书编号",
            number,
        )
    in_file: dict[int, str] = plan.lookups["in_file"]
    earlier = in_file.setdefault(result_id, number)
    if earlier != number:
        raise RowRefused(
            _(
                "student {student_no} is given certificate number {earlier} in an "
                "earlier row for session {exam_id}; one number per result",
                student_no=cells["student_no"],
                earlier=earlier,
                exam_id=exam["id"],
            ),
            "证书编号",
            number,
        )
    today: date = plan.lookups["today"]
    if not EARLIEST_ISSUE <= cells["issue_date"] <= today:
        raise RowRefused(
            _(
                "issue date {issue_date} is outside {earliest_issue} – {today} "
                "(today); a certificate is dated the day it was issued",
                issue_date=cells["issue_date"],
                earliest_issue=EARLIEST_ISSUE,
                today=today,
            ),
            "发证日期",
            cells["issue_date"].isoformat(),
        )
    values: dict[str, Any] = {
        "number": number,
        "result_id": result_id,
        "student_id": student["id"],
        "session_id": exam["id"],
        "issue_date": cells["issue_date"],
    }
    if current is None:
        values["status"] = CertificateStatus.valid
    return values


def _lock_and_recheck_certificates(
    session: Session, _principal: Principal, _plan: Plan, rows: list[dict[str, Any]]
) -> None:
    """Lock the registrations of the rows' results (the lock a result correction takes) and
    check again, under the locks, that every result is still a pass of a live registration: a
    correction to a fail made while the file was checked issues nothing."""
    if not rows:
        return
    result_ids = {r["result_id"] for r in rows}
    registration_of: dict[int, int] = dict(
        session.execute(
            sa.select(ExamResult.id, ExamResult.registration_id).where(  # type: ignore[call-overload]
                col(ExamResult.id).in_(sorted(result_ids))
            )
        ).all()
    )
    _lock_registrations(session, set(registration_of.values()))
    still_passed = set(
        session.exec(
            select(ExamResult.id)
            .join(ExamRegistration, col(ExamRegistration.id) == ExamResult.registration_id)
            .where(
                col(ExamResult.id).in_(sorted(result_ids)),
                col(ExamResult.passed).is_(True),
                col(ExamRegistration.live).is_(True),
            )
        ).all()
    )
    gone = sorted(result_ids - still_passed)
    if gone:
        numbers = sorted(r["number"] for r in rows if r["result_id"] in gone)
        raise ChangedDuringImport(
            _(
                "Results were changed to not passed while the file was checked "
                "(certificate number(s) {numbers}); a certificate is issued only for a "
                "passed result. Nothing was written; upload the file again to see the "
                "rows named",
                numbers=", ".join(numbers),
            ),
            certificate_numbers=numbers,
        )


def _audit_certificates(session: Session, plan: Plan, rows: list[dict[str, Any]]) -> None:
    """One event per certificate the upload issued or changed, with the old values."""
    if not rows:
        return
    stored = session.exec(
        select(IssuedCertificate).where(
            col(IssuedCertificate.number).in_([r["number"] for r in rows])
        )
    ).all()
    for issued in stored:
        old = plan.existing.get(issued.number)
        record_row(
            session,
            plan.lookups["principal"],
            issued,
            service.CERTIFICATE_ENTITY,
            action="update" if old else "issue",
            before={k: _json(v) for k, v in old.items()} if old else None,
        )


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


register(
    ImportKind(
        name="issued-certificates",
        title="证书发放",
        model=IssuedCertificate,
        key="number",
        options=ExamImportOptions,
        columns=(
            *CANDIDATE_COLUMNS,
            STUDENT_NAME,
            Column(
                "number",
                "证书编号",
                code(64),
                aliases=("certificate_number",),
                example="W010011220001",
            ),
            Column(
                "issue_date",
                "发证日期",
                date_cell,
                aliases=("发证时间", "日期"),
                example="2022-12-20",
            ),
        ),
        prepare=_certificates_prepare,
        to_values=_certificate_values,
        writers=RESULT_WRITERS,
        before_write=_lock_and_recheck_certificates,
        write_extra=_audit_certificates,
        description="Certificate numbers for passed results; a number is unique across the service",
    )
)
