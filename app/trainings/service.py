"""Training rules: who records and certifies which teacher's training, the state machine and
the unique trainer certificate number; student batches and their enrolments (only the pilot's
majors and cohorts); and their lists. Every change is audited and committed here; teacher
coverage is in :mod:`app.trainings.reports`."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

from app.applications.admission import admission, major_name
from app.applications.models import (
    PilotApplication,
)
from app.applications.rules import approved_problem
from app.applications.service import check_certificate_level, locked_application, visible
from app.audit.labels import action_label, action_labels
from app.core.audit import apply_changes, record, snapshot
from app.core.auth import check_role
from app.core.db import refuse_taken
from app.core.errors import Conflict, Forbidden, InvalidState, NotFound, UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.labels import label
from app.core.listing import Listing, each, where_equal
from app.core.locks import lock_first, lock_one, lock_row
from app.core.roles import Principal, Role
from app.core.scopes import limit_to_scope, through
from app.core.types import utcnow
from app.core.versions import check_version
from app.reference.models import Certificate, Major, Student, Teacher
from app.trainings.models import (
    BatchCreate,
    BatchFilters,
    BatchListed,
    BatchUpdate,
    CertifyBody,
    EnrollmentCreate,
    EnrollmentPublic,
    EnrollmentSelection,
    EnrollmentUpdate,
    InstructorPublic,
    TeacherTraining,
    TrainingBatch,
    TrainingBatchInstructor,
    TrainingCreate,
    TrainingEnrollment,
    TrainingPublic,
    TrainingSelection,
    TrainingStatus,
    TrainingUpdate,
)
from app.trainings.rules import (
    admission_problem,
    attended_problem,
    dates_problem,
    issue_date_problem,
    own_pilot_problem,
    trainer_number_problem,
    validity_problem,
)
from app.trainings.states import CERTIFICATE_FIELDS, editable_problem

# The annual evaluation (app.evaluations) reads these here; they live in app.trainings.reports.

TRAINING_ENTITY = "teacher_training"
BATCH_ENTITY = "training_batch"
ENROLLMENT_ENTITY = "training_enrollment"

TRANSITIONS: dict[str, tuple[frozenset[TrainingStatus], TrainingStatus]] = {
    "start": (frozenset({TrainingStatus.planned}), TrainingStatus.in_progress),
    "certify": (frozenset({TrainingStatus.in_progress}), TrainingStatus.certified),
    "fail": (frozenset({TrainingStatus.in_progress}), TrainingStatus.failed),
}
OUTCOMES = frozenset({"certify", "fail"})  # recorded by the office or the teacher's college


def allowed_actions(status: TrainingStatus) -> list[str]:
    """The actions a training in ``status`` allows."""
    actions = ["update", "delete"] if status == TrainingStatus.planned else ["update"]
    return actions + [name for name, (sources, _target) in TRANSITIONS.items() if status in sources]


# --- who sees and writes what ----------------------------------------------------------------


def visible_trainings(statement: Any, principal: Principal) -> Any:
    """Limit ``statement`` (joined to Teacher) to the trainings ``principal`` may read: all for
    the office, auditors and admins; their college's teachers' for a college manager; their own
    for a teacher; those for its certificates for an evaluation organisation."""
    return limit_to_scope(
        statement,
        principal,
        N_("teacher trainings"),
        college_manager=Teacher.college_id,
        teacher=TeacherTraining.teacher_id,
        evaluation_org=through(
            TeacherTraining.certificate_id, Certificate.id, Certificate.evaluation_org_id
        ),
    )


TRAINING_WRITERS = (Role.academic_office, Role.college_manager, Role.teacher)


def _require_training_writer(
    principal: Principal, teacher: Teacher, *, certifying: bool = False
) -> None:
    """The office writes every training; a college manager those of their college's teachers;
    a teacher their own, except its outcome and certificate (certify, fail, and the certificate
    number, 考评员 number and validity: the college or the office checks those)."""
    role = principal.role
    if role == Role.academic_office:
        return
    if role == Role.college_manager:
        if teacher.college_id == principal.college_id:
            return
        raise Forbidden(
            _("A college manager records trainings of their own college's teachers only"),
            code="out_of_scope",
        )
    if role == Role.teacher and not certifying:
        if teacher.id == principal.teacher_id:
            return
        raise Forbidden(_("A teacher records only their own trainings"), code="out_of_scope")
    allowed = [Role.academic_office.value, Role.college_manager.value]
    if not certifying:
        allowed.append(Role.teacher.value)
    what = (
        _("record the outcome or certificate of a teacher training")
        if certifying
        else _("write teacher trainings")
    )
    raise Forbidden(
        _(
            "Role {role} may not {what}; allowed roles: {allowed}",
            role=label(role),
            what=what,
            allowed=", ".join(label(Role(r)) for r in allowed),
        ),
        allowed_roles=allowed,
    )


# --- reading trainings -----------------------------------------------------------------------


def valid_on(today: date) -> Any:
    """True for a training that is certified and not expired on ``today`` (``valid_until``
    empty or ``today`` or later)."""
    return sa.and_(
        col(TeacherTraining.status) == TrainingStatus.certified,
        sa.or_(
            col(TeacherTraining.valid_until).is_(None),
            col(TeacherTraining.valid_until) >= today,
        ),
    )


def training_statement(
    _session: Session, principal: Principal, selection: TrainingSelection
) -> Any:
    statement = (
        select(
            TeacherTraining,
            Teacher,
            Certificate.name,
            valid_on(selection.today).label("valid_today"),
        )
        .join(Teacher, col(Teacher.id) == TeacherTraining.teacher_id)
        .join(Certificate, col(Certificate.id) == TeacherTraining.certificate_id)
    )
    statement = visible_trainings(statement, principal)
    if selection.teacher_id is not None:
        statement = statement.where(TeacherTraining.teacher_id == selection.teacher_id)
    if selection.certificate_id is not None:
        statement = statement.where(TeacherTraining.certificate_id == selection.certificate_id)
    if selection.college_id is not None:
        statement = statement.where(Teacher.college_id == selection.college_id)
    if selection.level is not None:
        statement = statement.where(TeacherTraining.level == selection.level)
    if selection.status is not None:
        statement = statement.where(TeacherTraining.status == selection.status)
    return statement


def training_public(row: Any) -> TrainingPublic:
    training, teacher, certificate_name, valid_today = row
    return TrainingPublic.model_validate(
        {
            **training.model_dump(),
            "staff_no": teacher.staff_no,
            "teacher_name": teacher.name,
            "college_id": teacher.college_id,
            "certificate_name": certificate_name,
            "valid_today": bool(valid_today),
            "allowed_actions": allowed_actions(training.status),
        }
    )


TRAININGS = Listing(
    noun=N_("teacher training"),
    statement=training_statement,
    order=[col(Teacher.staff_no), col(TeacherTraining.start_date), col(TeacherTraining.id)],
    to_items=each(training_public),
    filters=TrainingSelection,
    columns=[
        ExportColumn("staff_no", N_("Staff number")),
        ExportColumn("teacher_name", N_("Full name")),
        ExportColumn("certificate_name", N_("Certificate name")),
        ExportColumn("level", N_("Level")),
        ExportColumn("provider", N_("Training provider")),
        ExportColumn("start_date", N_("Start date")),
        ExportColumn("end_date", N_("End date")),
        ExportColumn("hours", N_("Hours")),
        ExportColumn("status", N_("Status")),
        ExportColumn("trainer_certificate_no", N_("Trainer certificate number")),
        ExportColumn("evaluator_qualification_no", N_("Assessor qualification number")),
        ExportColumn("valid_until", N_("Valid until")),
    ],
    filename="teacher-trainings",
    sheet=N_("Teacher trainings"),
)
"""Teacher trainings by staff number and start date; ``valid_today`` is judged on the
selection's ``today``."""


def get_training(
    session: Session, principal: Principal, training_id: int, today: date
) -> TrainingPublic:
    statement = training_statement(session, principal, TrainingSelection(today=today))
    row = session.exec(statement.where(TeacherTraining.id == training_id)).first()
    if row is None:
        raise NotFound(_("No teacher training with id {training_id}", training_id=training_id))
    return training_public(row)


# --- writing trainings -----------------------------------------------------------------------


def _reads_teacher(principal: Principal, teacher: Teacher) -> bool:
    """Whether a writer reads ``teacher``: a college manager their college's teachers, a
    teacher themself, the office all."""
    if principal.role == Role.college_manager:
        return teacher.college_id == principal.college_id
    if principal.role == Role.teacher:
        return teacher.id == principal.teacher_id
    return True


def _teacher_or_422(session: Session, principal: Principal, teacher_id: int, field: str) -> Teacher:
    """The teacher, or the 422 of a missing one: a teacher the caller may not read is
    answered as one that does not exist."""
    teacher = session.get(Teacher, teacher_id)
    if teacher is None or not _reads_teacher(principal, teacher):
        raise UnprocessableEntity(
            _("No teacher with id {teacher_id}", teacher_id=teacher_id),
            errors=[
                {"field": field, "message": _("no teacher {teacher_id}", teacher_id=teacher_id)}
            ],
        )
    return teacher


def refuse_number_taken(
    session: Session,
    model: Any,
    number_field: Any,
    number: str,
    own_id: int | None,
    detail: Callable[[int, str, str], str],
) -> None:
    """409 ``duplicate`` when a row of ``model`` other than ``own_id`` carries ``number`` in
    ``number_field`` (a certificate number, unique), naming its teacher: ``detail(id, name,
    staff_no)`` says it in the caller's words."""
    statement = (
        select(model.id, Teacher.name, Teacher.staff_no)
        .join(Teacher, col(Teacher.id) == model.teacher_id)
        .where(number_field == number)
    )
    if own_id is not None:
        statement = statement.where(model.id != own_id)
    holder = session.exec(statement).first()
    if holder is not None:
        other_id, name, staff_no = holder
        raise Conflict(
            detail(other_id, name, staff_no),
            code="duplicate",
            existing_id=other_id,
            holder=f"{name} ({staff_no})",
        )


def _check_number_free(session: Session, number: str, own_id: int) -> None:
    """409 naming the holder when another training already carries ``number``."""
    refuse_number_taken(
        session,
        TeacherTraining,
        TeacherTraining.trainer_certificate_no,
        number,
        own_id,
        lambda _holder_id, name, staff_no: _(
            "Training {id}: {problem}",
            id=own_id,
            problem=trainer_number_problem(number, name, staff_no),
        ),
    )


def _commit(
    session: Session,
    principal: Principal,
    action: str,
    entity: str,
    row: SQLModel,
    *,
    before: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``row``'s insert, change or delete, audit it and commit: the one tail of every
    write here that is not a plain field update (those go through ``apply_changes``).
    ``extra`` (link-table state such as a batch's instructors) joins the row's snapshot;
    ``before`` is None for an insert, and a deleted row has no ``after``."""
    deleted = row in session.deleted
    session.flush()
    record(
        session,
        principal,
        action=action,
        entity=entity,
        entity_id=getattr(row, "id", None),
        before=None if before is None else {**before, **(extra or {})},
        after=None if deleted else {**(snapshot(row) or {}), **(extra or {})},
    )
    session.commit()


def _delete(
    session: Session,
    principal: Principal,
    action: str,
    entity: str,
    row: SQLModel,
    extra: dict[str, Any] | None = None,
) -> None:
    before = snapshot(row)
    session.delete(row)
    _commit(session, principal, action, entity, row, before=before, extra=extra)


def create_training(
    session: Session, principal: Principal, data: TrainingCreate
) -> TeacherTraining:
    check_role(principal, *TRAINING_WRITERS, what=N_("write teacher trainings"))
    teacher = _teacher_or_422(session, principal, data.teacher_id, "body.teacher_id")
    _require_training_writer(principal, teacher)
    check_certificate_level(session, data.certificate_id, data.level)
    training = TeacherTraining.model_validate(data.model_dump())
    session.add(training)
    _commit(session, principal, "create", TRAINING_ENTITY, training)
    return training


def _locked_training(
    session: Session, principal: Principal, training_id: int
) -> tuple[TeacherTraining, Teacher]:
    statement = visible_trainings(
        select(TeacherTraining, Teacher)
        .join(Teacher, col(Teacher.id) == TeacherTraining.teacher_id)
        .where(TeacherTraining.id == training_id),
        principal,
    )
    training, teacher = lock_one(
        session, statement, N_("teacher training"), training_id, of=TeacherTraining
    )
    return training, teacher


def _refused(training: TeacherTraining, detail: str) -> InvalidState:
    return InvalidState(
        detail,
        current_state=training.status.value,
        allowed_actions=allowed_actions(training.status),
    )


def update_training(
    session: Session,
    principal: Principal,
    training_id: int,
    data: TrainingUpdate,
    if_match: int | None,
) -> TeacherTraining:
    """Change what the training's state allows (see ``EDITABLE``); a refused field changes
    nothing."""
    training, teacher = _locked_training(session, principal, training_id)
    changes = data.model_dump(exclude_unset=True)
    _require_training_writer(principal, teacher, certifying=bool(CERTIFICATE_FIELDS & set(changes)))
    check_version(training.version, if_match, N_("teacher training"))
    problem = editable_problem(training_id, training.status, changes)
    if problem:
        raise _refused(training, _("Cannot change the training: {problem}", problem=problem))
    if "teacher_id" in changes and changes["teacher_id"] != training.teacher_id:
        new_teacher = _teacher_or_422(session, principal, changes["teacher_id"], "body.teacher_id")
        _require_training_writer(principal, new_teacher)
    start = changes.get("start_date", training.start_date)
    end = changes.get("end_date", training.end_date)
    problem = dates_problem(start, end)
    if problem:
        raise UnprocessableEntity(problem, errors=[{"field": "body.end_date", "message": problem}])
    if {"certificate_id", "level"} & set(changes):
        check_certificate_level(
            session,
            changes.get("certificate_id", training.certificate_id),
            changes.get("level", training.level),
        )
    if changes.get("trainer_certificate_no"):
        _check_number_free(session, changes["trainer_certificate_no"], training_id)
    problem = validity_problem(
        training.certified_on, changes.get("valid_until", training.valid_until)
    )
    if problem:
        raise UnprocessableEntity(
            _("Training {id}: {problem}", id=training_id, problem=problem),
            errors=[{"field": "body.valid_until", "message": _("before certified_on")}],
        )
    apply_changes(session, principal, training, changes, TRAINING_ENTITY)
    return training


def transition_training(
    session: Session,
    principal: Principal,
    training_id: int,
    action: str,
    today: date,
    certify: CertifyBody | None = None,
) -> TeacherTraining:
    """Start, certify or fail a training; a refused action changes nothing."""
    sources, target = TRANSITIONS[action]
    training, teacher = _locked_training(session, principal, training_id)
    _require_training_writer(principal, teacher, certifying=action in OUTCOMES)
    if training.status not in sources:
        allowed = allowed_actions(training.status)
        raise _refused(
            training,
            _(
                "Cannot {action} {what}: it is {state}; {action} needs {needs}. Allowed now: "
                "{allowed}",
                action=action_label(action),
                what=_("training {id}", id=training_id),
                state=label(training.status),
                needs=_(" or ").join(sorted(label(s) for s in sources)),
                allowed=action_labels(allowed),
            ),
        )
    before = snapshot(training)
    if certify is not None:
        _check_number_free(session, certify.trainer_certificate_no, training_id)
        certified_on = certify.certified_on or today
        problem = issue_date_problem(certified_on, training.start_date, today)
        if problem:
            raise UnprocessableEntity(
                _("Cannot certify training {id}: {problem}", id=training_id, problem=problem),
                errors=[
                    {
                        "field": "body.certified_on",
                        "message": _(
                            "from {start_date} to {today}",
                            start_date=training.start_date,
                            today=today,
                        ),
                    }
                ],
            )
        problem = validity_problem(certified_on, certify.valid_until)
        if problem:
            raise UnprocessableEntity(
                _("Cannot certify training {id}: {problem}", id=training_id, problem=problem),
                errors=[{"field": "body.valid_until", "message": _("before certified_on")}],
            )
        training.trainer_certificate_no = certify.trainer_certificate_no
        training.evaluator_qualification_no = certify.evaluator_qualification_no
        training.certified_on = certified_on
        training.valid_until = certify.valid_until
    training.status = target
    _commit(session, principal, action, TRAINING_ENTITY, training, before=before)
    return training


def delete_training(session: Session, principal: Principal, training_id: int) -> None:
    training, teacher = _locked_training(session, principal, training_id)
    _require_training_writer(principal, teacher)
    if training.status != TrainingStatus.planned:
        raise _refused(
            training,
            _(
                "Only a planned training is deleted; training {training_id} is {status}",
                training_id=training_id,
                status=label(training.status),
            ),
        )
    _delete(session, principal, "delete", TRAINING_ENTITY, training)


# --- batches ---------------------------------------------------------------------------------


def batch_statement(_session: Session, principal: Principal, filters: BatchFilters) -> Any:
    statement = (
        select(TrainingBatch, PilotApplication, Certificate.name)
        .join(PilotApplication, col(PilotApplication.id) == TrainingBatch.application_id)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
    )
    statement = visible(statement, principal)
    statement = where_equal(
        statement,
        filters,
        application_id=TrainingBatch.application_id,
        year=PilotApplication.year,
        certificate_id=PilotApplication.certificate_id,
    )
    if filters.instructor_id is not None:
        statement = statement.where(
            col(TrainingBatch.id).in_(
                select(TrainingBatchInstructor.batch_id).where(
                    TrainingBatchInstructor.teacher_id == filters.instructor_id
                )
            )
        )
    return statement


def _instructors_of(session: Session, ids: Sequence[int]) -> dict[int, list[InstructorPublic]]:
    """Each batch's instructors by staff number, in one statement."""
    instructors: dict[int, list[InstructorPublic]] = defaultdict(list)
    for batch_id, t_id, staff_no, name in session.exec(
        select(TrainingBatchInstructor.batch_id, Teacher.id, Teacher.staff_no, Teacher.name)
        .join(Teacher, col(Teacher.id) == TrainingBatchInstructor.teacher_id)
        .where(col(TrainingBatchInstructor.batch_id).in_(ids))
        .order_by(col(Teacher.staff_no))
    ).all():
        instructors[batch_id].append(InstructorPublic(id=t_id or 0, staff_no=staff_no, name=name))
    return instructors


def _enrolment_counts(session: Session, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(enrolled, completed) of each batch that has enrolments, in one statement."""
    completed = sa.func.sum(sa.case((col(TrainingEnrollment.completed), 1), else_=0))
    return {
        batch_id: (int(n), int(done or 0))
        for batch_id, n, done in session.exec(
            select(TrainingEnrollment.batch_id, func.count(), completed)
            .where(col(TrainingEnrollment.batch_id).in_(ids))
            .group_by(col(TrainingEnrollment.batch_id))
        ).all()
    }


def batch_items(session: Session, rows: Sequence[Any]) -> list[BatchListed]:
    """Batches with their instructors and enrolment counts, in two statements for all rows."""
    ids = [batch.id for batch, *_rest in rows]
    instructors = _instructors_of(session, ids) if ids else {}
    counts = _enrolment_counts(session, ids) if ids else {}
    items = []
    for batch, application, certificate_name in rows:
        enrolled, completed = counts.get(batch.id, (0, 0))
        its_instructors = instructors.get(batch.id, [])
        items.append(
            BatchListed.model_validate(
                {
                    **batch.model_dump(),
                    "certificate_name": certificate_name,
                    "level": application.level,
                    "year": application.year,
                    "instructors": its_instructors,
                    "enrolled": enrolled,
                    "completed": completed,
                    "instructor_names": [i.name for i in its_instructors],
                }
            )
        )
    return items


BATCHES = Listing(
    noun=N_("training batch"),
    statement=batch_statement,
    order=[col(TrainingBatch.start_date), col(TrainingBatch.id)],
    to_items=batch_items,
    filters=BatchFilters,
    key=TrainingBatch.id,
    columns=[
        ExportColumn("id", N_("Training batch ID")),
        ExportColumn("application_id", N_("Application ID")),
        ExportColumn("year", N_("Year")),
        ExportColumn("certificate_name", N_("Certificate name")),
        ExportColumn("level", N_("Level")),
        ExportColumn("title", N_("Training title")),
        ExportColumn("hours", N_("Hours")),
        ExportColumn("start_date", N_("Start date")),
        ExportColumn("end_date", N_("End date")),
        ExportColumn("instructor_names", N_("Instructors")),
        ExportColumn("enrolled", N_("Trainees enrolled")),
        ExportColumn("completed", N_("Completed trainees")),
    ],
    filename="training-batches",
    sheet=N_("Student training batches"),
)
"""Student training batches by start date, over the pilots the principal may read."""


def _require_batch_writer(session: Session, principal: Principal, application_id: int) -> None:
    """The office runs every batch; a college manager those of pilots with a major of their
    college."""
    if principal.role == Role.academic_office:
        return
    if principal.role == Role.college_manager:
        colleges = admission(session, application_id).colleges
        problem = own_pilot_problem(application_id, principal.college_id, colleges)
        if problem is None:
            return
        raise Forbidden(problem, code="out_of_scope")
    raise Forbidden(
        _(
            "Role {role} may not run training batches; allowed roles: "
            "academic_office, college_manager (own college's pilots)",
            role=label(principal.role),
        ),
        allowed_roles=[Role.academic_office.value, Role.college_manager.value],
    )


def _require_approved(application: PilotApplication, refusal: str) -> None:
    """409 unless the pilot is approved: ``refusal`` (a msgid with ``{problem}``) says what is
    refused."""
    problem = approved_problem(application.id, application.status)
    if problem:
        raise InvalidState(
            _(refusal, problem=problem),
            current_state=application.status.value,
            allowed_actions=[],
        )


def _check_teachers(session: Session, principal: Principal, teacher_ids: Sequence[int]) -> None:
    """Every instructor exists; a college manager names only their college's teachers (one of
    another college is answered as a missing one)."""
    statement = select(Teacher.id).where(col(Teacher.id).in_(teacher_ids))
    if principal.role == Role.college_manager:
        statement = statement.where(Teacher.college_id == (principal.college_id or -1))
    found = set(session.exec(statement).all())
    missing = [t for t in teacher_ids if t not in found]
    if missing:
        raise UnprocessableEntity(
            _("No teacher with id {items}", items=", ".join(map(str, missing))),
            errors=[
                {
                    "field": "body.instructor_ids",
                    "message": _("unknown teacher ids {missing}", missing=missing),
                }
            ],
        )


def _instructor_ids(session: Session, batch_id: int) -> list[int]:
    return sorted(
        session.exec(
            select(TrainingBatchInstructor.teacher_id).where(
                TrainingBatchInstructor.batch_id == batch_id
            )
        ).all()
    )


def _set_instructors(session: Session, batch_id: int, teacher_ids: Sequence[int]) -> None:
    session.execute(
        sa.delete(TrainingBatchInstructor).where(col(TrainingBatchInstructor.batch_id) == batch_id)
    )
    session.add_all(TrainingBatchInstructor(batch_id=batch_id, teacher_id=t) for t in teacher_ids)


def create_batch(session: Session, principal: Principal, data: BatchCreate) -> TrainingBatch:
    try:
        application = locked_application(session, principal, data.application_id)
    except NotFound as exc:
        raise UnprocessableEntity(
            exc.detail, errors=[{"field": "body.application_id", "message": exc.detail}]
        ) from exc
    _require_batch_writer(session, principal, data.application_id)
    _require_approved(application, N_("Cannot create a training batch: {problem}"))
    _check_teachers(session, principal, data.instructor_ids)
    batch = TrainingBatch.model_validate(data.model_dump(exclude={"instructor_ids"}))
    session.add(batch)
    session.flush()
    assert batch.id is not None
    _set_instructors(session, batch.id, data.instructor_ids)
    extra = {"instructor_ids": data.instructor_ids}
    _commit(session, principal, "create", BATCH_ENTITY, batch, extra=extra)
    return batch


def _locked_batch(
    session: Session, principal: Principal, batch_id: int
) -> tuple[TrainingBatch, PilotApplication]:
    statement = visible(
        select(TrainingBatch, PilotApplication)
        .join(PilotApplication, col(PilotApplication.id) == TrainingBatch.application_id)
        .where(TrainingBatch.id == batch_id),
        principal,
    )
    batch, application = lock_one(
        session, statement, N_("training batch"), batch_id, of=TrainingBatch
    )
    return batch, application


def _max_attended(session: Session, batch_id: int) -> int:
    value = session.exec(
        select(func.max(TrainingEnrollment.attended_hours)).where(
            TrainingEnrollment.batch_id == batch_id
        )
    ).one()
    return int(value or 0)


def update_batch(
    session: Session, principal: Principal, batch_id: int, data: BatchUpdate, if_match: int | None
) -> TrainingBatch:
    batch, application = _locked_batch(session, principal, batch_id)
    _require_batch_writer(session, principal, application.id or 0)
    check_version(batch.version, if_match, N_("training batch"))
    changes = data.model_dump(exclude_unset=True)
    before_instructors = _instructor_ids(session, batch_id)
    instructors = changes.pop("instructor_ids", None)
    instructors = before_instructors if instructors is None else sorted(set(instructors))
    _check_teachers(session, principal, sorted(set(instructors) - set(before_instructors)))
    problem = dates_problem(
        changes.get("start_date", batch.start_date), changes.get("end_date", batch.end_date)
    )
    if problem:
        raise UnprocessableEntity(problem, errors=[{"field": "body.end_date", "message": problem}])
    if "hours" in changes:
        attended = _max_attended(session, batch_id)
        problem = attended_problem(attended, changes["hours"])
        if problem:
            raise Conflict(
                _(
                    "Batch {batch_id} cannot have {hours} hours: an enrolled student's {problem}",
                    batch_id=batch_id,
                    hours=changes["hours"],
                    problem=problem,
                ),
                code="hours_below_attended",
                max_attended_hours=attended,
            )
    if instructors != before_instructors:
        changes["updated_at"] = utcnow()  # a change of instructors is a new version
        _set_instructors(session, batch_id, instructors)
    apply_changes(
        session,
        principal,
        batch,
        changes,
        BATCH_ENTITY,
        extra_before={"instructor_ids": before_instructors},
        extra_after={"instructor_ids": instructors},
    )
    return batch


def delete_batch(session: Session, principal: Principal, batch_id: int) -> None:
    batch, application = _locked_batch(session, principal, batch_id)
    _require_batch_writer(session, principal, application.id or 0)
    enrolled = session.exec(
        select(func.count()).where(TrainingEnrollment.batch_id == batch_id)
    ).one()
    if enrolled:
        raise Conflict(
            _(
                "Batch {batch_id} has {enrolled} enrolled student(s); remove them first",
                batch_id=batch_id,
                enrolled=enrolled,
            ),
            code="has_enrollments",
        )
    extra = {"instructor_ids": _instructor_ids(session, batch_id)}
    _set_instructors(session, batch_id, [])
    _delete(session, principal, "delete", BATCH_ENTITY, batch, extra)


# --- enrolments ------------------------------------------------------------------------------


def _require_readable_batch(session: Session, principal: Principal, batch_id: int) -> None:
    """404 unless the batch exists and its pilot is one ``principal`` may read."""
    statement = visible(
        select(TrainingBatch.id)
        .join(PilotApplication, col(PilotApplication.id) == TrainingBatch.application_id)
        .where(TrainingBatch.id == batch_id),
        principal,
    )
    if session.exec(statement).first() is None:
        raise NotFound(_("No training batch with id {batch_id}", batch_id=batch_id))


def enrollment_statement(
    session: Session, principal: Principal, selection: EnrollmentSelection
) -> Any:
    """The enrolments of a batch the principal may read (404 otherwise); a student sees only
    their own, never their classmates'."""
    _require_readable_batch(session, principal, selection.batch_id)
    statement = (
        select(TrainingEnrollment, Student)
        .join(Student, col(Student.id) == TrainingEnrollment.student_id)
        .where(TrainingEnrollment.batch_id == selection.batch_id)
    )
    if principal.role == Role.student:
        statement = statement.where(TrainingEnrollment.student_id == (principal.student_id or -1))
    if selection.completed is not None:
        statement = statement.where(TrainingEnrollment.completed == selection.completed)
    return statement


def enrollment_public(row: Any) -> EnrollmentPublic:
    enrollment, student = row
    return EnrollmentPublic.model_validate(
        {
            **enrollment.model_dump(),
            "student_no": student.student_no,
            "student_name": student.name,
            "major_id": student.major_id,
            "cohort": student.cohort,
        }
    )


ENROLLMENTS = Listing(
    noun=N_("enrolment"),
    statement=enrollment_statement,
    order=[col(Student.student_no), col(TrainingEnrollment.id)],
    to_items=each(enrollment_public),
    filters=EnrollmentSelection,
    columns=[
        ExportColumn("student_no", N_("Student number")),
        ExportColumn("student_name", N_("Full name")),
        ExportColumn("cohort", N_("Cohort")),
        ExportColumn("attended_hours", N_("Hours attended")),
        ExportColumn("completed", N_("Completed")),
    ],
    filename="enrollments",
    sheet=N_("Training enrolments"),
    updated=[TrainingEnrollment.updated_at],
)
"""A batch's students by student number, with hours attended and completion."""


def eligibility_problem(session: Session, application_id: int, student: Student) -> str | None:
    """Why ``student`` may not train in the pilot (not its majors or cohorts), or None."""
    problems = admission(session, application_id).problems(
        student.major_id, student.cohort, major_name(session)
    )
    return admission_problem(student.name, student.student_no, problems)


def _reads_student(session: Session, principal: Principal, student: Student) -> bool:
    """Whether a batch writer reads ``student``: a college manager their college's students."""
    if principal.role != Role.college_manager:
        return True
    major = session.get(Major, student.major_id)
    return major is not None and major.college_id == principal.college_id


def _check_attended(attended: int, batch: TrainingBatch, refusal: str, **params: Any) -> None:
    """422 when ``attended`` hours are more than the batch's: ``refusal`` (a msgid with
    ``{problem}`` and ``params``) says what is refused."""
    problem = attended_problem(attended, batch.hours)
    if problem:
        raise UnprocessableEntity(
            _(refusal, problem=problem, **params),
            errors=[
                {
                    "field": "body.attended_hours",
                    "message": _("at most {hours} (the batch)", hours=batch.hours),
                }
            ],
        )


def add_enrollment(
    session: Session, principal: Principal, batch_id: int, data: EnrollmentCreate
) -> TrainingEnrollment:
    batch, _application = _locked_batch(session, principal, batch_id)
    _require_batch_writer(session, principal, batch.application_id)
    # A shared lock: enrolments into the pilot's batches go on side by side, while its close
    # (which locks it for update) waits for them, or they see it closed.
    application = lock_row(
        session, PilotApplication, batch.application_id, N_("pilot application"), share=True
    )
    _require_approved(application, N_("Cannot enrol: {problem}"))
    student = session.get(Student, data.student_id)
    if student is None or not _reads_student(session, principal, student):
        # A student the caller may not read is answered as one that does not exist.
        raise UnprocessableEntity(
            _("No student with id {student_id}", student_id=data.student_id),
            errors=[
                {
                    "field": "body.student_id",
                    "message": _("no student {student_id}", student_id=data.student_id),
                }
            ],
        )
    problem = eligibility_problem(session, batch.application_id, student)
    if problem:
        raise UnprocessableEntity(
            _("Cannot enrol: {problem}", problem=problem),
            code="not_eligible",
            errors=[{"field": "body.student_id", "message": problem}],
        )
    _check_attended(data.attended_hours, batch, N_("Cannot enrol: {problem}"))
    refuse_taken(
        session,
        select(TrainingEnrollment.id).where(
            TrainingEnrollment.batch_id == batch_id,
            TrainingEnrollment.student_id == data.student_id,
        ),
        lambda existing: _(
            "Student {student_no} is already enrolled in batch {batch_id} (enrolment {existing})",
            student_no=student.student_no,
            batch_id=batch_id,
            existing=existing,
        ),
    )
    enrollment = TrainingEnrollment(batch_id=batch_id, **data.model_dump())
    session.add(enrollment)
    _commit(session, principal, "enroll", ENROLLMENT_ENTITY, enrollment)
    return enrollment


def _locked_enrollment(
    session: Session, principal: Principal, batch_id: int, enrollment_id: int
) -> tuple[TrainingEnrollment, TrainingBatch]:
    batch, _application = _locked_batch(session, principal, batch_id)
    _require_batch_writer(session, principal, batch.application_id)
    enrollment: TrainingEnrollment | None = lock_first(
        session,
        select(TrainingEnrollment).where(
            TrainingEnrollment.id == enrollment_id, TrainingEnrollment.batch_id == batch_id
        ),
    )
    if enrollment is None:
        raise NotFound(
            _(
                "No enrolment {enrollment_id} in training batch {batch_id}",
                enrollment_id=enrollment_id,
                batch_id=batch_id,
            )
        )
    return enrollment, batch


def get_enrollment(
    session: Session, principal: Principal, batch_id: int, enrollment_id: int
) -> EnrollmentPublic:
    statement = enrollment_statement(session, principal, EnrollmentSelection(batch_id=batch_id))
    row = session.exec(statement.where(TrainingEnrollment.id == enrollment_id)).first()
    if row is None:
        raise NotFound(
            _(
                "No enrolment {enrollment_id} in training batch {batch_id}",
                enrollment_id=enrollment_id,
                batch_id=batch_id,
            )
        )
    return enrollment_public(row)


def update_enrollment(
    session: Session,
    principal: Principal,
    batch_id: int,
    enrollment_id: int,
    data: EnrollmentUpdate,
    if_match: int | None,
) -> TrainingEnrollment:
    enrollment, batch = _locked_enrollment(session, principal, batch_id, enrollment_id)
    check_version(enrollment.version, if_match, N_("training enrolment"))
    changes = data.model_dump(exclude_unset=True)
    _check_attended(
        changes.get("attended_hours", enrollment.attended_hours),
        batch,
        N_("Enrolment {id}: {problem}"),
        id=enrollment_id,
    )
    apply_changes(session, principal, enrollment, changes, ENROLLMENT_ENTITY)
    return enrollment


def remove_enrollment(
    session: Session, principal: Principal, batch_id: int, enrollment_id: int
) -> None:
    enrollment, _batch = _locked_enrollment(session, principal, batch_id, enrollment_id)
    _delete(session, principal, "unenroll", ENROLLMENT_ENTITY, enrollment)
