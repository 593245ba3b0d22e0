"""The ``teacher-trainings`` and ``training-enrollments`` import kinds, through the one engine."""

from datetime import date
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, col

from app.applications.admission import Admission, admissions
from app.applications.models import ApplicationStatus, PilotApplication
from app.applications.rules import approved_problem
from app.core.config import get_settings
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.roles import OFFICE_OR_COLLEGE, Principal, Role
from app.core.types import school_today
from app.imports.cells import CellError, code, date_cell, integer, text, words, yes_no
from app.imports.engine import (
    Column,
    ImportKind,
    Plan,
    RowRefused,
    cell_or_option,
    known,
    optional,
    rows_by,
    stored_columns,
)
from app.imports.registry import register
from app.reference.importers import (
    CERTIFICATE_NAMES,
    UNKNOWN_STAFF_NO,
    YES_NO_CHOICES,
    CertificateEntry,
    certificates_by_name,
    level_column,
    offered_at,
)
from app.reference.models import (
    Certificate,
    Level,
    Major,
    Student,
    Teacher,
    normalise_certificate_name,
)
from app.trainings.models import (
    MAX_HOURS,
    TRAINING_STATUS_LABELS,
    EvaluatorQualification,
    TeacherTraining,
    TrainingBatch,
    TrainingEnrollment,
    TrainingStatus,
)
from app.trainings.rules import (
    admission_problem,
    attended_problem,
    dates_problem,
    issue_date_problem,
    trainer_number_problem,
    validity_problem,
)
from app.trainings.states import DECIDED, editable_problem, status_move_problem

STATUS_WORDS = {
    "planned": TrainingStatus.planned,
    "计划": TrainingStatus.planned,
    "计划中": TrainingStatus.planned,
    "in_progress": TrainingStatus.in_progress,
    "培训中": TrainingStatus.in_progress,
    "进行中": TrainingStatus.in_progress,
    "certified": TrainingStatus.certified,
    "已获证": TrainingStatus.certified,
    "获证": TrainingStatus.certified,
    "合格": TrainingStatus.certified,
    "failed": TrainingStatus.failed,
    "未通过": TrainingStatus.failed,
    "不合格": TrainingStatus.failed,
}
YES = {"是", "yes", "y", "true", "1", "已结业", "结业", "完成", "√"}
NO = {"否", "no", "n", "false", "0", "未结业", "未完成"}
_yes_no = yes_no(YES, NO)


_status = words(
    STATUS_WORDS,
    N_("one of 计划 (planned), 培训中 (in_progress), 已获证 (certified), 未通过 (failed)"),
)


_NUMBER_AS_CODE = code(50)
_NUMBER_AS_TEXT = text(50)


def _certificate_no(raw: str) -> str:
    """A certificate number as the API takes it: no spaces inside; a spreadsheet's number
    cell (``2022001.0``) reads as ``2022001``."""
    try:
        return str(_NUMBER_AS_CODE(raw))
    except CellError:
        value = str(_NUMBER_AS_TEXT(raw))
    if any(ch.isspace() or ch == "\x00" for ch in value):
        raise CellError(_("no spaces inside a certificate number"))
    return value


def _teachers(session: Session) -> dict[str, tuple[int, int, str]]:
    """Each teacher by staff number: their id, college and name."""
    return {
        staff_no: (t_id, college_id, name)
        for t_id, staff_no, college_id, name in session.execute(
            sa.select(Teacher.id, Teacher.staff_no, Teacher.college_id, Teacher.name)  # type: ignore[call-overload]
        )
    }


# --- teacher trainings -----------------------------------------------------------------------

STAFF_NO = Column("staff_no", "工号", code(20), aliases=("教工号",), example="T1001")
"""The teacher of a row of both teacher uploads, by staff number."""


def _teacher_and_certificate_lookups(session: Session) -> dict[str, Any]:
    """What both teacher uploads look up: the teachers (by staff number, with their college
    and name) and the certificates (by normalised name, with their levels and name)."""
    teachers = _teachers(session)
    return {
        "teachers": teachers,
        "teacher_colleges": {t_id: college_id for t_id, college_id, _name in teachers.values()},
        "certificates": certificates_by_name(session),
    }


def _training_key(cells: dict[str, Any], _options: Any) -> Any:
    if not (cells.get("staff_no") and cells.get("certificate") and cells.get("start_date")):
        return None
    return (
        cells["staff_no"],
        normalise_certificate_name(cells["certificate"]),
        cells.get("level"),
        cells["start_date"],
    )


def _prepare_trainings(session: Session, _principal: Principal) -> Plan:
    table: sa.Table = TeacherTraining.__table__  # type: ignore[attr-defined]
    existing: dict[Any, dict[str, Any]] = {}
    numbers: dict[str, Any] = {}
    columns = stored_columns(TeacherTraining)
    for row in session.execute(
        sa.select(*columns, Teacher.staff_no, Certificate.normalized_name)  # type: ignore[call-overload]
        .join(Teacher, Teacher.id == table.c.teacher_id)
        .join(Certificate, Certificate.id == table.c.certificate_id)
    ).mappings():
        values = dict(row)
        key = (
            values.pop("staff_no"),
            values.pop("normalized_name"),
            Level(values["level"]).value,
            values["start_date"],
        )
        existing[key] = values
        if values["trainer_certificate_no"]:
            numbers[values["trainer_certificate_no"]] = key
    return Plan(
        existing=existing,
        lookups={
            **_teacher_and_certificate_lookups(session),
            "numbers": numbers,
            "today": school_today(get_settings().timezone),
        },
    )


def _training_teacher(plan: Plan, staff_no: str) -> int:
    teachers: dict[str, tuple[int, int, str]] = plan.lookups["teachers"]
    return known(teachers, staff_no, "工号", UNKNOWN_STAFF_NO, staff_no=staff_no)[0]


def _training_certificate(plan: Plan, cells: dict[str, Any]) -> tuple[int, Level]:
    """The certificate's id and the row's level, which the certificate must offer."""
    certificates: dict[str, CertificateEntry] = plan.lookups["certificates"]
    normalized = normalise_certificate_name(cells["certificate"])
    if normalized not in certificates:
        raise RowRefused(
            _(
                "unknown certificate {certificate}; use the name of one that exists "
                "(GET /api/v1/certificates)",
                certificate=repr(cells["certificate"]),
            ),
            "证书名称",
            cells["certificate"],
        )
    level = Level(cells["level"])
    return offered_at(certificates[normalized], level, "级别"), level


def _claim_trainer_number(plan: Plan, number: str, key: Any) -> None:
    """A trainer certificate number belongs to one training of the upload and the database."""
    numbers: dict[str, Any] = plan.lookups["numbers"]
    holder = numbers.get(number)
    if holder is not None and holder != key:
        staff_no = holder[0]  # the holder's key: staff number, certificate, level, start date
        teacher = plan.lookups["teachers"].get(staff_no)
        problem = trainer_number_problem(number, teacher[2] if teacher else None, staff_no)
        assert problem is not None
        raise RowRefused(problem, "师资培训证书编号", number)
    numbers[number] = key


def _issue_date(plan: Plan, cells: dict[str, Any], start: date, end: date) -> date | None:
    """A certified training's issue date (the end date when none is given), not after today
    nor before the start; None for the other statuses."""
    certified_on: date | None = cells.get("certified_on")
    derived = certified_on is None
    if derived:
        certified_on = end
    assert certified_on is not None
    problem = issue_date_problem(certified_on, start, plan.lookups["today"])
    if problem:
        raise RowRefused(
            _("no issue date is given, so it is the end date: {problem}", problem=problem)
            if derived
            else problem,
            "获证日期",
            str(certified_on),
        )
    return certified_on


def _training_values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    teacher_id = _training_teacher(plan, cells["staff_no"])
    cert_id, level = _training_certificate(plan, cells)
    start, end = cells["start_date"], cells["end_date"]
    problem = dates_problem(start, end)
    if problem:
        raise RowRefused(problem, "结束日期", str(end))
    # A cell the file leaves empty, or a column it lacks, keeps what is stored: a plan list
    # without 状态 does not undo a certification.
    key = _training_key(cells, None)
    current = plan.existing.get(key)

    def given(name: str) -> Any:
        value = cells.get(name)
        if value in (None, "") and current is not None:
            return current[name]
        return value or None

    status = TrainingStatus(given("status") or TrainingStatus.planned)
    number = given("trainer_certificate_no")
    certified = status == TrainingStatus.certified
    if certified and not number:
        raise RowRefused(
            _("a certified training needs its trainer certificate number"), "师资培训证书编号", ""
        )
    if number:
        _claim_trainer_number(plan, number, key)
    if certified and current is not None and current["status"] == TrainingStatus.certified:
        certified_on = given("certified_on")
    else:
        certified_on = _issue_date(plan, cells, start, end) if certified else None
    valid_until = given("valid_until")
    problem = validity_problem(certified_on, valid_until)
    if problem:
        raise RowRefused(problem, "有效期至", str(valid_until))
    values = {
        "teacher_id": teacher_id,
        "certificate_id": cert_id,
        "level": level,
        "provider": given("provider"),
        "start_date": start,
        "end_date": end,
        "hours": cells["hours"],
        "status": status,
        "trainer_certificate_no": number,
        "evaluator_qualification_no": given("evaluator_qualification_no"),
        "certified_on": certified_on,
        "valid_until": valid_until,
    }
    if current is not None:
        _check_state(current, values)
    return values


def _check_state(current: dict[str, Any], values: dict[str, Any]) -> None:
    """An upload moves a training as the endpoints do: forward only, and a decided one changes
    only what its state allows (its certificate's details, or nothing but notes)."""
    stored = TrainingStatus(current["status"])
    problem = status_move_problem(current["id"], stored, values["status"])
    if problem:
        raise RowRefused(problem, "状态", label(values["status"]))
    if stored in DECIDED:
        changed = [
            name
            for name, value in values.items()
            if name != "status" and current.get(name) != value
        ]
        problem = editable_problem(current["id"], stored, changed)
        if problem:
            raise RowRefused(problem, "状态", label(stored))


def _training_college(plan: Plan, values: dict[str, Any]) -> int | None:
    colleges: dict[int, int] = plan.lookups["teacher_colleges"]
    return colleges.get(values.get("teacher_id") or 0)


register(
    ImportKind(
        name="teacher-trainings",
        title="师资培训",
        model=TeacherTraining,
        key="staff_no",
        row_key=_training_key,
        columns=(
            STAFF_NO,
            Column(
                "certificate",
                "证书名称",
                text(100),
                aliases=("证书", "试点证书名称"),
                example="Web前端开发",
                choices_from=CERTIFICATE_NAMES,
            ),
            level_column("级别", ("等级",)),
            Column(
                "provider",
                "培训机构",
                text(100),
                required=False,
                aliases=("培训评价组织",),
                example="北京新大陆时代教育科技有限公司",
            ),
            Column("start_date", "开始日期", date_cell, example="2022-07-11"),
            Column("end_date", "结束日期", date_cell, example="2022-07-15"),
            Column("hours", "学时", integer(1, MAX_HOURS), example="40"),
            Column(
                "status",
                "状态",
                _status,
                required=False,
                example="已获证",
                help=N_("计划, 培训中, 已获证 or 未通过 (planned, in_progress, certified, failed)"),
                choices=tuple(
                    translate(TRAINING_STATUS_LABELS[status], "zh-CN") for status in TrainingStatus
                ),
            ),
            Column(
                "trainer_certificate_no",
                "师资培训证书编号",
                _certificate_no,
                required=False,
                aliases=("证书编号",),
                example="WEB-ZJ-2022-0001",
            ),
            Column(
                "evaluator_qualification_no",
                "考评员证书编号",
                _certificate_no,
                required=False,
                aliases=("考评员编号",),
                example="KPY-2022-017",
            ),
            Column("certified_on", "获证日期", date_cell, required=False, example="2022-07-15"),
            Column("valid_until", "有效期至", date_cell, required=False, example="2030-07-14"),
        ),
        prepare=_prepare_trainings,
        to_values=_training_values,
        college_of=_training_college,
        scope_columns=("staff_no",),
        description="Teacher trainings matched by (staff no, certificate, level, start date); "
        "a certified row needs its trainer certificate number, unique across the service",
    )
)


# --- training enrolments ---------------------------------------------------------------------


class EnrollmentImportOptions(BaseModel):
    batch_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The training batch, unless a 培训批次 column names it",
    )


def _enrollment_key(cells: dict[str, Any], options: Any) -> Any:
    if not cells.get("student_no"):
        return None
    return (cell_or_option(cells, options, "batch_id"), cells["student_no"])


def _prepare_enrollments(session: Session, _principal: Principal) -> Plan:
    table: sa.Table = TrainingEnrollment.__table__  # type: ignore[attr-defined]
    columns = stored_columns(TrainingEnrollment)
    existing = {
        (row["batch_id"], row["student_no"]): {k: v for k, v in row.items() if k != "student_no"}
        for row in session.execute(
            sa.select(*columns, Student.student_no).join(  # type: ignore[call-overload]
                Student, Student.id == table.c.student_id
            )
        ).mappings()
    }
    # The batches are locked (their hours bound attended hours) and their pilots share-locked
    # (enrolment needs them approved) for the upload, in the order single enrolments take them.
    batch_rows = session.execute(
        sa.select(  # type: ignore[call-overload]
            TrainingBatch.id, TrainingBatch.hours, TrainingBatch.application_id
        )
        .order_by(TrainingBatch.id)
        .with_for_update()
    ).all()
    statuses: dict[int, Any] = dict(
        session.execute(
            sa.select(PilotApplication.id, PilotApplication.status)  # type: ignore[call-overload]
            .where(col(PilotApplication.id).in_({row[2] for row in batch_rows}))
            .order_by(PilotApplication.id)
            .with_for_update(read=True)
        ).all()
    )
    batches = {b_id: (hours, app_id, statuses[app_id]) for b_id, hours, app_id in batch_rows}
    majors = session.execute(sa.select(Major.id, Major.name, Major.college_id)).all()  # type: ignore[call-overload]
    students = {
        s_no: (s_id, name, major_id, cohort)
        for s_id, s_no, name, major_id, cohort in session.execute(
            sa.select(  # type: ignore[call-overload]
                Student.id, Student.student_no, Student.name, Student.major_id, Student.cohort
            )
        )
    }
    return Plan(
        existing=existing,
        lookups={
            "batches": batches,
            "admissions": admissions(session),
            "major_names": {m_id: name for m_id, name, _college in majors},
            "college_of_major": {m_id: college for m_id, _name, college in majors},
            "students": students,
        },
    )


def _enrollment_values(plan: Plan, cells: dict[str, Any], principal: Principal) -> dict[str, Any]:
    batch_id = cell_or_option(cells, plan.options, "batch_id")
    if batch_id is None:
        raise RowRefused(
            _("no training batch: pass ?batch_id= with the upload or add a 培训批次 column"),
            "培训批次",
        )
    batches: dict[int, tuple[int, int, Any]] = plan.lookups["batches"]
    unknown_batch = N_("no training batch {batch_id}")
    hours, app_id, status = known(batches, batch_id, "培训批次", unknown_batch, batch_id=batch_id)
    # A college manager reads only the batches of pilots with a major of their college, and
    # only their college's students (as the endpoints do): any other is answered as unknown.
    manager = principal.college_id if principal.role == Role.college_manager else None
    if manager is not None and manager not in plan.lookups["admissions"][app_id].colleges:
        raise RowRefused(_(unknown_batch, batch_id=batch_id), "培训批次", str(batch_id))
    problem = approved_problem(app_id, ApplicationStatus(status))
    if problem:
        raise RowRefused(problem, "培训批次", str(batch_id))
    students: dict[str, tuple[int, str, int, int]] = plan.lookups["students"]
    student_no = cells["student_no"]
    unknown_student = N_("unknown student number {student_no}")
    s_id, name, major_id, cohort = known(
        students, student_no, "学号", unknown_student, student_no=student_no
    )
    if manager is not None and plan.lookups["college_of_major"].get(major_id) != manager:
        raise RowRefused(_(unknown_student, student_no=student_no), "学号", student_no)
    admission: Admission = plan.lookups["admissions"][app_id]
    problem = admission_problem(
        name, student_no, admission.problems(major_id, cohort, plan.lookups["major_names"].get)
    )
    if problem:
        raise RowRefused(problem, "学号", student_no)
    attended = cells["attended_hours"]
    problem = attended_problem(attended, hours)
    if problem:
        raise RowRefused(problem, "出勤学时", str(attended))
    values: dict[str, Any] = {
        "batch_id": batch_id,
        "student_id": s_id,
        "attended_hours": attended,
    }
    if cells.get("completed") is not None:
        values["completed"] = cells["completed"]
    else:
        existing = plan.existing.get((batch_id, student_no))
        values["completed"] = bool(existing["completed"]) if existing else False
    return values


register(
    ImportKind(
        name="training-enrollments",
        title="学生培训名单",
        model=TrainingEnrollment,
        key="student_no",
        row_key=_enrollment_key,
        options=EnrollmentImportOptions,
        columns=(
            Column("student_no", "学号", code(20), example="2020510203001"),
            Column("name", "姓名", text(100), required=False, example="张伟"),
            Column(
                "attended_hours",
                "出勤学时",
                integer(0, MAX_HOURS),
                aliases=("学时", "attended"),
                example="32",
            ),
            Column(
                "completed",
                "结业",
                _yes_no,
                required=False,
                aliases=("是否结业", "完成"),
                example="是",
                help=N_("是 or 否"),
                choices=YES_NO_CHOICES,
            ),
            Column(
                "batch_id",
                "培训批次",
                integer(1, 2**31 - 1),
                required=False,
                aliases=("批次", "batch"),
                example="1",
                help=N_("the batch's id, or pass ?batch_id= with the upload"),
            ),
        ),
        prepare=_prepare_enrollments,
        to_values=_enrollment_values,
        writers=OFFICE_OR_COLLEGE,
        description="Students of a training batch (?batch_id= or a 培训批次 column) matched by "
        "student number, with attended hours (≤ the batch's) and completion; only students of "
        "the pilot's majors and cohorts",
    )
)


# --- evaluator qualifications ----------------------------------------------------------------


def _prepare_qualifications(session: Session, _principal: Principal) -> Plan:
    return Plan(
        existing=rows_by(session, EvaluatorQualification, "qualification_no"),
        lookups={
            **_teacher_and_certificate_lookups(session),
        },
    )


def _qualification_values(
    plan: Plan, cells: dict[str, Any], _principal: Principal
) -> dict[str, Any]:
    teacher_id = _training_teacher(plan, cells["staff_no"])
    cert_id, level = _training_certificate(plan, cells)
    issued_on, valid_until = cells["issued_on"], cells.get("valid_until")
    problem = validity_problem(issued_on, valid_until)
    if problem:
        raise RowRefused(problem, "有效期至", str(valid_until))
    values = {
        "teacher_id": teacher_id,
        "certificate_id": cert_id,
        "level": level,
        "qualification_no": cells["qualification_no"],
        "issuer": cells["issuer"],
        "issued_on": issued_on,
        "valid_until": valid_until,
    }
    return values | optional(cells, "notes")


register(
    ImportKind(
        name="evaluator-qualifications",
        title="考评员资格",
        model=EvaluatorQualification,
        key="qualification_no",
        columns=(
            Column(
                "qualification_no",
                "考评员证书编号",
                _certificate_no,
                aliases=("考评员编号", "证书编号"),
                example="KPY-2022-017",
            ),
            STAFF_NO,
            Column(
                "certificate",
                "证书名称",
                text(100),
                aliases=("证书", "考评证书"),
                example="Web前端开发",
            ),
            level_column("级别", ("等级", "考评级别")),
            Column(
                "issuer",
                "发证机构",
                text(100),
                aliases=("发证单位", "培训评价组织"),
                example="北京新大陆时代教育科技有限公司",
            ),
            Column("issued_on", "发证日期", date_cell, example="2022-07-15"),
            Column("valid_until", "有效期至", date_cell, required=False, example="2025-07-14"),
            Column("notes", "备注", text(2000), required=False, example=""),
        ),
        prepare=_prepare_qualifications,
        to_values=_qualification_values,
        college_of=_training_college,
        scope_columns=("staff_no",),
        description="Evaluator (考评员) qualifications matched by their number, unique across "
        "the service",
    )
)
