"""Reference data rules: who sees and changes which rows, natural keys, references that block
deletes. Every change is audited and committed here."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

from app.core.audit import apply_changes, delete_row, save_new
from app.core.auth import require_office
from app.core.db import refuse_taken
from app.core.errors import Conflict, Forbidden, NotFound, UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _, translate
from app.core.labels import label as enum_label
from app.core.listing import Listing, each, where_equal
from app.core.locks import lock_listed, lock_one, lock_row
from app.core.roles import OFFICE_OR_COLLEGE, Principal, Role
from app.core.scopes import limit_to_scope, through
from app.core.types import utcnow
from app.core.versions import check_version
from app.reference.models import (
    Certificate,
    CertificateCreate,
    CertificateFilters,
    CertificatePublic,
    CertificateUpdate,
    College,
    CollegeFilters,
    CollegePublic,
    Course,
    CourseCreate,
    CourseFilters,
    CourseItem,
    CourseMajor,
    CourseMajorRef,
    CourseUpdate,
    DualQualification,
    DualQualificationPut,
    EvaluationOrg,
    EvaluationOrgFilters,
    EvaluationOrgPublic,
    Major,
    MajorFilters,
    MajorPublic,
    Student,
    StudentCreate,
    StudentFilters,
    StudentPublic,
    StudentUpdate,
    Teacher,
    TeacherFilters,
    TeacherListed,
    levels_to_text,
    normalise_certificate_name,
)

# --- scope -----------------------------------------------------------------------------------


def college_scope(principal: Principal) -> int | None:
    """The one college a college manager is limited to; None for roles that see every college."""
    if principal.role == Role.college_manager:
        return principal.college_id if principal.college_id is not None else -1
    return None


def require_writer_role(principal: Principal, what: str) -> None:
    """403 before anything else for roles that never write ``what``."""
    if principal.role not in OFFICE_OR_COLLEGE:
        raise Forbidden(
            _(
                "Role {role} may not change {what}; allowed roles: academic_office, "
                "college_manager (own college)",
                role=enum_label(principal.role),
                what=translate(what),
            ),
            allowed_roles=[Role.academic_office.value, Role.college_manager.value],
        )


def require_college_writer(principal: Principal, college_id: int, what: str) -> None:
    """The academic office writes everywhere, a college manager only inside their college."""
    if principal.role == Role.academic_office:
        return
    if principal.role == Role.college_manager:
        if principal.college_id == college_id:
            return
        raise Forbidden(
            _(
                "A college manager changes only {what} of their own college (college id "
                "{own}); this one belongs to college id {college_id}",
                what=translate(what),
                own=principal.college_id,
                college_id=college_id,
            ),
            code="out_of_scope",
        )
    require_writer_role(principal, what)


def _like(q: str) -> str:
    escaped = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search(statement: Any, q: str | None, *columns: Any) -> Any:
    if not q or not q.strip():
        return statement
    pattern = _like(q)
    return statement.where(sa.or_(*(col(c).ilike(pattern, escape="\\") for c in columns)))


def _exists(session: Session, model: type[SQLModel], row_id: int) -> bool:
    pk = model.__table__.c.id  # type: ignore[attr-defined]
    return session.exec(select(pk).where(pk == row_id)).first() is not None


def _require_ref(
    session: Session, model: type[SQLModel], row_id: int, field: str, label: str
) -> None:
    if not _exists(session, model, row_id):
        raise UnprocessableEntity(
            _("No {label} with id {row_id}", label=translate(label), row_id=row_id),
            errors=[
                {
                    "field": f"body.{field}",
                    "message": _(
                        "no {label} with id {row_id}", label=translate(label), row_id=row_id
                    ),
                }
            ],
        )


def _unique(
    session: Session,
    model: type[SQLModel],
    column: Any,
    value: Any,
    own_id: int | None,
    field: str,
    label: str,
) -> None:
    if value is None:
        return
    pk = model.__table__.c.id  # type: ignore[attr-defined]
    statement = select(pk).where(column == value)
    if own_id is not None:
        statement = statement.where(pk != own_id)
    refuse_taken(
        session,
        statement,
        lambda other: _(
            "Another {label} already has {field} {value} (id {other})",
            label=translate(label),
            field=field,
            value=repr(value),
            other=other,
        ),
        field=field,
    )


def _refuse_if_referenced(
    session: Session, label: str, model: Any, row_id: int, owned: frozenset[str] = frozenset()
) -> None:
    """409 naming every kind of row that still refers to this one, with counts. The referring
    tables are read from the schema's foreign keys, so later domains are covered too; ``owned``
    tables are the row's own links, deleted with it."""
    target = model.__table__
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in owned:
            continue
        for foreign_key in table.foreign_keys:
            if foreign_key.column.table is not target:
                continue
            count = session.exec(
                select(func.count()).select_from(table).where(foreign_key.parent == row_id)
            ).one()
            if count:
                found.append({"entity": table.name.replace("_", " "), "count": int(count)})
    if found:
        listed = ", ".join(f"{f['count']} {f['entity']}" for f in found)
        raise Conflict(
            _(
                "The {label} {row_id} is still referred to by {listed}; remove or move them first",
                label=translate(label),
                row_id=row_id,
                listed=listed,
            ),
            code="still_referenced",
            referenced_by=found,
        )


# --- one write path for the reference tables --------------------------------------------------


@dataclass(frozen=True)
class RefTable:
    """A reference table's write rules. Rows ``by_college`` (majors, courses, teachers) belong
    to one college: the academic office writes any, a college manager only their own college's
    (another college's row is a 404 to them, as in the list); the other tables (colleges,
    organisations, certificates) are the academic office's alone. No two rows share a value of
    a ``unique`` field; ``entity`` names the row in the audit log."""

    model: Any
    noun: str
    plural: str
    entity: str
    unique: tuple[str, ...]
    by_college: bool = True
    public: Any = None
    """The public model a change answers with, when it is the row itself (else the row is
    read again as the list shows it)."""

    def create(self, session: Session, principal: Principal, data: Any) -> Any:
        """Insert a checked row (403 for a caller who may not, 422 for an unknown college,
        409 for a taken unique value)."""
        return _create(session, principal, self, data)

    def update(
        self, session: Session, principal: Principal, row_id: int, data: Any, if_match: Any
    ) -> Any:
        """Apply a checked ``PATCH`` under ``If-Match``."""
        row = _update(session, principal, self, row_id, data, if_match)
        return self.public.model_validate(row) if self.public is not None else row

    def delete(self, session: Session, principal: Principal, row_id: int) -> None:
        """Delete a row nothing refers to (409 naming what still does)."""
        delete_row(session, principal, _deletable(session, principal, self, row_id), self.entity)


def _scoped(session: Session, principal: Principal, table: RefTable, row_id: int) -> Any:
    """The row, locked; 404 when it is missing or in another college than a manager's."""
    model = table.model
    statement = select(model).where(model.id == row_id)
    scope = college_scope(principal) if table.by_college else None
    if scope is not None:
        statement = statement.where(model.college_id == scope)
    return lock_one(session, statement, table.noun, row_id)


def _require_writer(principal: Principal, table: RefTable, college_id: int | None) -> None:
    """403 unless ``principal`` may write a row of ``table`` in ``college_id``."""
    if not table.by_college:
        require_office(principal, N_("change reference data"))
        return
    require_writer_role(principal, table.plural)
    if college_id is not None:
        require_college_writer(principal, college_id, table.plural)


def _writable(session: Session, principal: Principal, table: RefTable, row_id: int) -> Any:
    """The row, locked, for a caller who may change it (403 before anything for other roles)."""
    _require_writer(principal, table, None)
    row = _scoped(session, principal, table, row_id)
    if table.by_college:
        require_college_writer(principal, row.college_id, table.plural)
    return row


def _check_unique(
    session: Session, table: RefTable, values: dict[str, Any], own_id: int | None
) -> None:
    for field in table.unique:
        column = getattr(table.model, field)
        _unique(session, table.model, column, values.get(field), own_id, field, table.noun)


def _check_new(session: Session, principal: Principal, table: RefTable, data: Any) -> None:
    """The checks of a new row: who writes, its college, its unique values."""
    college_id = getattr(data, "college_id", None)
    _require_writer(principal, table, college_id)
    if college_id is not None:
        _require_ref(session, College, college_id, "college_id", N_("college"))
    _check_unique(session, table, data.model_dump(), None)


def _create(session: Session, principal: Principal, table: RefTable, data: Any) -> Any:
    _check_new(session, principal, table, data)
    row = table.model.model_validate(data)
    save_new(session, principal, row, table.entity)
    return row


def _changes(
    session: Session, principal: Principal, table: RefTable, row_id: int, data: Any, if_match: Any
) -> tuple[Any, dict[str, Any]]:
    """The locked row and the checked changes of a ``PATCH`` (a move to another college is
    checked like a new row's college)."""
    row = _writable(session, principal, table, row_id)
    check_version(row.version, if_match, table.noun)
    changes = data.model_dump(exclude_unset=True)
    if "college_id" in changes:
        _require_writer(principal, table, changes["college_id"])
        _require_ref(session, College, changes["college_id"], "college_id", N_("college"))
    _check_unique(session, table, changes, row_id)
    return row, changes


def _update(
    session: Session, principal: Principal, table: RefTable, row_id: int, data: Any, if_match: Any
) -> Any:
    row, changes = _changes(session, principal, table, row_id, data, if_match)
    apply_changes(session, principal, row, changes, table.entity)
    return row


def _deletable(
    session: Session,
    principal: Principal,
    table: RefTable,
    row_id: int,
    owned: frozenset[str] = frozenset(),
) -> Any:
    """The row, locked, for a caller who may delete it, when nothing but its ``owned`` link
    tables refers to it (409 naming the rest); the caller deletes its links, then the row."""
    row = _writable(session, principal, table, row_id)
    _refuse_if_referenced(session, table.noun, table.model, row_id, owned)
    return row


COLLEGES_TABLE = RefTable(
    College,
    N_("college"),
    N_("colleges"),
    "college",
    ("name", "code"),
    by_college=False,
    public=CollegePublic,
)
MAJORS_TABLE = RefTable(Major, N_("major"), N_("majors"), "major", ("code",))
COURSES_TABLE = RefTable(Course, N_("course"), N_("courses"), "course", ("code",))
TEACHERS_TABLE = RefTable(Teacher, N_("teacher"), N_("teachers"), "teacher", ("staff_no",))
ORGS_TABLE = RefTable(
    EvaluationOrg,
    N_("evaluation organisation"),
    N_("evaluation organisations"),
    "evaluation_org",
    ("name",),
    by_college=False,
    public=EvaluationOrgPublic,
)
CERTIFICATES_TABLE = RefTable(
    Certificate, N_("certificate"), N_("certificates"), "certificate", (), by_college=False
)


# --- colleges --------------------------------------------------------------------------------


def college_statement(_session: Session, _principal: Principal, filters: CollegeFilters) -> Any:
    return _search(select(College), filters.q, College.name, College.code)


COLLEGES = Listing(
    noun=N_("college"),
    statement=college_statement,
    order=[col(College.id)],
    to_items=each(CollegePublic.model_validate),
    filters=CollegeFilters,
    key=College.id,
    columns=[
        ExportColumn("id", N_("ID"), College.id),
        ExportColumn("name", N_("College name"), College.name),
        ExportColumn("code", N_("College code"), College.code),
    ],
    filename="colleges",
    sheet=N_("Colleges"),
)


# --- majors ----------------------------------------------------------------------------------


def major_statement(_session: Session, principal: Principal, filters: MajorFilters) -> Any:
    statement = select(Major, College.name).join(College, col(College.id) == Major.college_id)
    scope = college_scope(principal)
    if scope is not None:
        statement = statement.where(Major.college_id == scope)
    if filters.college_id is not None:
        statement = statement.where(Major.college_id == filters.college_id)
    return _search(statement, filters.q, Major.code, Major.name)


def major_public(row: Any) -> MajorPublic:
    major, college_name = row
    return MajorPublic.model_validate({**major.model_dump(), "college_name": college_name})


MAJORS = Listing(
    noun=N_("major"),
    statement=major_statement,
    order=[col(Major.code), col(Major.id)],
    to_items=each(major_public),
    filters=MajorFilters,
    key=Major.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("code", N_("Major code")),
        ExportColumn("name", N_("Major name")),
        ExportColumn("college_name", N_("College")),
    ],
    filename="majors",
    sheet=N_("Majors"),
)


# --- courses ---------------------------------------------------------------------------------


def course_statement(_session: Session, principal: Principal, filters: CourseFilters) -> Any:
    statement = select(Course, College.name).join(College, col(College.id) == Course.college_id)
    scope = college_scope(principal)
    if scope is not None:
        statement = statement.where(Course.college_id == scope)
    if filters.college_id is not None:
        statement = statement.where(Course.college_id == filters.college_id)
    if filters.major_id is not None:
        statement = statement.where(
            col(Course.id).in_(
                select(CourseMajor.course_id).where(CourseMajor.major_id == filters.major_id)
            )
        )
    return _search(statement, filters.q, Course.code, Course.name)


def course_items(session: Session, rows: Sequence[Any]) -> list[CourseItem]:
    """Courses with their majors, fetched for all ``rows`` in one statement."""
    ids = [course.id for course, _college in rows]
    majors: dict[int, list[CourseMajorRef]] = {i: [] for i in ids}
    if ids:
        links = session.exec(
            select(CourseMajor.course_id, Major.id, Major.code, Major.name)
            .join(Major, col(Major.id) == CourseMajor.major_id)
            .where(col(CourseMajor.course_id).in_(ids))
            .order_by(col(Major.code))
        ).all()
        for course_id, m_id, m_code, m_name in links:
            majors[course_id].append(
                CourseMajorRef.model_validate({"id": m_id, "code": m_code, "name": m_name})
            )
    return [
        CourseItem.model_validate(
            {
                **course.model_dump(),
                "college_name": college_name,
                "majors": majors[course.id],
                "major_codes": [m.code for m in majors[course.id]],
            }
        )
        for course, college_name in rows
    ]


COURSES = Listing(
    noun=N_("course"),
    statement=course_statement,
    order=[col(Course.code), col(Course.id)],
    to_items=course_items,
    filters=CourseFilters,
    key=Course.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("code", N_("Course code")),
        ExportColumn("name", N_("Course name")),
        ExportColumn("credits", N_("Credits")),
        ExportColumn("college_name", N_("Teaching college")),
        ExportColumn("major_codes", N_("Major")),
    ],
    filename="courses",
    sheet=N_("Courses"),
)


def check_majors(session: Session, principal: Principal, major_ids: Sequence[int]) -> list[int]:
    """The majors, sorted; each exists, and is of a college manager's college (one of another
    college, which they may not read, is answered as a missing one)."""
    wanted = sorted(set(major_ids))
    if not wanted:
        return []
    statement = select(Major.id).where(col(Major.id).in_(wanted))
    scope = college_scope(principal)
    if scope is not None:
        statement = statement.where(Major.college_id == scope)
    found = set(session.exec(statement).all())
    missing = [m for m in wanted if m not in found]
    if missing:
        raise UnprocessableEntity(
            _(
                "No major with id {ids}",
                ids=", ".join(map(str, missing)),
            ),
            errors=[
                {
                    "field": "body.major_ids",
                    "message": _("unknown major ids {missing}", missing=missing),
                }
            ],
        )
    return wanted


def _course_major_ids(session: Session, course_id: int) -> list[int]:
    return sorted(
        session.exec(select(CourseMajor.major_id).where(CourseMajor.course_id == course_id)).all()
    )


def _set_course_majors(session: Session, course_id: int, major_ids: list[int]) -> None:
    session.execute(sa.delete(CourseMajor).where(col(CourseMajor.course_id) == course_id))
    for major_id in major_ids:
        session.add(CourseMajor(course_id=course_id, major_id=major_id))


def create_course(session: Session, principal: Principal, data: CourseCreate) -> Course:
    _check_new(session, principal, COURSES_TABLE, data)
    major_ids = check_majors(session, principal, data.major_ids)
    course = Course.model_validate(data.model_dump(exclude={"major_ids"}))
    session.add(course)
    session.flush()
    assert course.id is not None
    _set_course_majors(session, course.id, major_ids)
    save_new(session, principal, course, "course", major_ids=major_ids)
    return course


def update_course(
    session: Session, principal: Principal, course_id: int, data: CourseUpdate, if_match: int | None
) -> Course:
    course: Course
    course, changes = _changes(session, principal, COURSES_TABLE, course_id, data, if_match)
    before_majors = _course_major_ids(session, course_id)
    after_majors = before_majors
    if "major_ids" in changes:
        after_majors = sorted(set(changes.pop("major_ids")))
        check_majors(session, principal, [m for m in after_majors if m not in before_majors])
        if after_majors != before_majors:
            _set_course_majors(session, course_id, after_majors)
            if not any(getattr(course, f) != v for f, v in changes.items()):
                course.updated_at = utcnow()  # a change of majors alone is a new version
    apply_changes(
        session,
        principal,
        course,
        changes,
        "course",
        extra_before={"major_ids": before_majors},
        extra_after={"major_ids": after_majors},
    )
    return course


def delete_course(session: Session, principal: Principal, course_id: int) -> None:
    owned = frozenset({CourseMajor.__tablename__})
    course = _deletable(session, principal, COURSES_TABLE, course_id, owned)
    session.execute(sa.delete(CourseMajor).where(col(CourseMajor.course_id) == course_id))
    delete_row(session, principal, course, "course")


# --- teachers --------------------------------------------------------------------------------


def teacher_statement(_session: Session, principal: Principal, filters: TeacherFilters) -> Any:
    statement = select(Teacher, College.name).join(College, col(College.id) == Teacher.college_id)
    statement = limit_to_scope(
        statement, principal, N_("teachers"), teacher=Teacher.id, college_manager=Teacher.college_id
    )
    if filters.college_id is not None:
        statement = statement.where(Teacher.college_id == filters.college_id)
    if filters.dual_basis is not None:
        statement = statement.where(Teacher.dual_basis == filters.dual_basis)
    return _search(statement, filters.q, Teacher.staff_no, Teacher.name)


def dual_qualification(teacher: Teacher) -> DualQualification | None:
    if teacher.dual_basis is None or teacher.dual_recognised_on is None:
        return None
    return DualQualification(
        basis=teacher.dual_basis,
        basis_name=enum_label(teacher.dual_basis),
        recognised_on=teacher.dual_recognised_on,
        valid_until=teacher.dual_valid_until,
    )


def teacher_public(row: Any) -> TeacherListed:
    teacher, college_name = row
    dual = dual_qualification(teacher)
    return TeacherListed.model_validate(
        {
            **teacher.model_dump(),
            "college_name": college_name,
            "dual_qualification": dual,
            "dual_basis_name": dual.basis_name if dual else None,
            "dual_recognised_on": dual.recognised_on if dual else None,
            "dual_valid_until": dual.valid_until if dual else None,
        }
    )


TEACHERS = Listing(
    noun=N_("teacher"),
    statement=teacher_statement,
    order=[col(Teacher.staff_no), col(Teacher.id)],
    to_items=each(teacher_public),
    filters=TeacherFilters,
    key=Teacher.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("staff_no", N_("Staff number")),
        ExportColumn("name", N_("Full name")),
        ExportColumn("college_name", N_("College")),
        ExportColumn("title", N_("Professional title")),
        ExportColumn("dual_basis_name", N_("Dual-qualified basis")),
        ExportColumn("dual_recognised_on", N_("Dual-qualified since")),
        ExportColumn("dual_valid_until", N_("Dual-qualified until")),
    ],
    filename="teachers",
    sheet=N_("Teachers"),
    updated=[Teacher.updated_at],
)


def _dual_reader_teacher(session: Session, principal: Principal, teacher_id: int) -> Teacher:
    """The teacher, locked, for the office; 404 for a teacher a college manager may not read,
    403 for every other role (and a college manager reading their own college's)."""
    if principal.role == Role.college_manager:
        _scoped(session, principal, TEACHERS_TABLE, teacher_id)
    require_office(principal, "set a teacher's 双师型 recognition")
    return lock_row(session, Teacher, teacher_id, "teacher")


def set_dual_qualification(
    session: Session,
    principal: Principal,
    teacher_id: int,
    data: DualQualificationPut,
    if_match: int | None,
) -> Teacher:
    """Recognise a teacher as 双师型 (or change the recognition): the academic office only."""
    teacher = _dual_reader_teacher(session, principal, teacher_id)
    check_version(teacher.version, if_match, "teacher")
    changes = {
        "dual_basis": data.basis,
        "dual_recognised_on": data.recognised_on,
        "dual_valid_until": data.valid_until,
    }
    apply_changes(session, principal, teacher, changes, "teacher", action="set_dual_qualification")
    return teacher


def clear_dual_qualification(
    session: Session, principal: Principal, teacher_id: int, if_match: int | None
) -> Teacher:
    """Withdraw a teacher's 双师型 recognition (the academic office only)."""
    teacher = _dual_reader_teacher(session, principal, teacher_id)
    check_version(teacher.version, if_match, "teacher")
    if teacher.dual_basis is None:
        raise Conflict(
            _(
                "Teacher {staff_no} is not recognised as 双师型; nothing to withdraw",
                staff_no=teacher.staff_no,
            ),
            code="not_dual_qualified",
        )
    changes = {"dual_basis": None, "dual_recognised_on": None, "dual_valid_until": None}
    apply_changes(
        session, principal, teacher, changes, "teacher", action="clear_dual_qualification"
    )
    return teacher


# --- students --------------------------------------------------------------------------------


def student_statement(session: Session, principal: Principal, filters: StudentFilters) -> Any:
    statement = (
        select(Student, Major.code, Major.name, College.id, College.name)  # type: ignore[call-overload]
        .join(Major, col(Major.id) == Student.major_id)
        .join(College, col(College.id) == Major.college_id)
    )
    statement = limit_to_scope(
        statement,
        principal,
        N_("students"),
        student=Student.id,
        college_manager=Major.college_id,
        # A teacher reads their own college's students.
        teacher=through(Major.college_id, Teacher.college_id, Teacher.id),
    )
    statement = where_equal(
        statement,
        filters,
        college_id=Major.college_id,
        major_id=Student.major_id,
        cohort=Student.cohort,
    )
    if filters.class_name:
        statement = statement.where(Student.class_name == filters.class_name.strip())
    return _search(statement, filters.q, Student.student_no, Student.name)


def student_public(row: Any) -> StudentPublic:
    student, major_code, major_name, college_id, college_name = row
    return StudentPublic.model_validate(
        {
            **student.model_dump(),
            "major_code": major_code,
            "major_name": major_name,
            "college_id": college_id,
            "college_name": college_name,
        }
    )


STUDENT_COLUMNS = {
    "id": Student.id,
    "student_no": Student.student_no,
    "name": Student.name,
    "major_id": Student.major_id,
    "major_code": Major.code,
    "major_name": Major.name,
    "college_id": College.id,
    "college_name": College.name,
    "cohort": Student.cohort,
    "class_name": Student.class_name,
    "version": Student.version,
    "created_at": Student.created_at,
    "updated_at": Student.updated_at,
}
"""A listed student's fields and the columns (of :func:`student_statement`'s joins) they are."""


def student_items(_session: Session, rows: Sequence[Any]) -> list[StudentPublic]:
    """Students from plain rows of :data:`STUDENT_COLUMNS`, in that order (pydantic's own
    validator: SQLModel's ``model_validate`` wrapper costs more than the validation)."""
    names = tuple(STUDENT_COLUMNS)
    validate = StudentPublic.__pydantic_validator__.validate_python
    return [validate(dict(zip(names, row, strict=True))) for row in rows]


STUDENTS = Listing(
    noun=N_("student"),
    statement=student_statement,
    order=[col(Student.student_no), col(Student.id)],
    to_items=student_items,
    item_columns=list(STUDENT_COLUMNS.values()),
    filters=StudentFilters,
    key=Student.id,
    columns=[
        ExportColumn("id", N_("ID"), Student.id),
        ExportColumn("student_no", N_("Student number"), Student.student_no),
        ExportColumn("name", N_("Full name"), Student.name),
        ExportColumn("major_code", N_("Major code"), Major.code),
        ExportColumn("major_name", N_("Major name"), Major.name),
        ExportColumn("college_name", N_("College"), College.name),
        ExportColumn("cohort", N_("Cohort"), Student.cohort),
        ExportColumn("class_name", N_("Class"), Student.class_name),
    ],
    filename="students",
    sheet=N_("Students"),
    updated=[Student.updated_at],
)


def _major_college(
    session: Session, major_id: int, field: str = "major_id", principal: Principal | None = None
) -> int:
    """The major's college; 422 when there is no such major, or (given ``principal``) when it
    is outside a college manager's college: a major they may not read is a missing one."""
    college_id = session.exec(select(Major.college_id).where(Major.id == major_id)).first()
    scope = college_scope(principal) if principal is not None else None
    if college_id is None or (scope is not None and college_id != scope):
        raise UnprocessableEntity(
            _("No major with id {major_id}", major_id=major_id),
            errors=[
                {
                    "field": f"body.{field}",
                    "message": _("no major with id {major_id}", major_id=major_id),
                }
            ],
        )
    return college_id


def _scoped_student(session: Session, principal: Principal, student_id: int) -> tuple[Student, int]:
    student = lock_row(session, Student, student_id, N_("student"))
    college_id = _major_college(session, student.major_id)
    scope = college_scope(principal)
    if scope is not None and college_id != scope:
        raise NotFound(_("No student with id {student_id}", student_id=student_id))
    return student, college_id


def create_student(session: Session, principal: Principal, data: StudentCreate) -> Student:
    require_writer_role(principal, N_("students"))
    college_id = _major_college(session, data.major_id, principal=principal)
    require_college_writer(principal, college_id, N_("students"))
    _unique(
        session, Student, Student.student_no, data.student_no, None, "student_no", N_("student")
    )
    student = Student.model_validate(data)
    save_new(session, principal, student, "student")
    return student


def update_student(
    session: Session,
    principal: Principal,
    student_id: int,
    data: StudentUpdate,
    if_match: int | None,
) -> StudentPublic:
    """Change a student and answer it as its read-one does, from the one statement that locks
    the row with its major and college (read again only when the major changed)."""
    require_writer_role(principal, N_("students"))
    row = lock_listed(session, STUDENTS, principal, student_id, of=Student)
    student, college_id = row[0], row[3]
    require_college_writer(principal, college_id, N_("students"))
    check_version(student.version, if_match, N_("student"))
    changes = data.model_dump(exclude_unset=True)
    moved = "major_id" in changes and changes["major_id"] != student.major_id
    if moved:
        major_college = _major_college(session, changes["major_id"], principal=principal)
        require_college_writer(principal, major_college, N_("students"))
    _unique(
        session,
        Student,
        Student.student_no,
        changes.get("student_no"),
        student_id,
        "student_no",
        N_("student"),
    )
    apply_changes(session, principal, student, changes, "student")
    return STUDENTS.one(session, principal, student_id) if moved else student_public(row)


def delete_student(session: Session, principal: Principal, student_id: int) -> None:
    require_writer_role(principal, N_("students"))
    student, college_id = _scoped_student(session, principal, student_id)
    require_college_writer(principal, college_id, N_("students"))
    _refuse_if_referenced(session, N_("student"), Student, student_id)
    delete_row(session, principal, student, "student")


# --- evaluation organisations ----------------------------------------------------------------


def evaluation_org_statement(
    _session: Session, _principal: Principal, filters: EvaluationOrgFilters
) -> Any:
    return _search(select(EvaluationOrg), filters.q, EvaluationOrg.name)


EVALUATION_ORGS = Listing(
    noun=N_("evaluation organisation"),
    statement=evaluation_org_statement,
    order=[col(EvaluationOrg.id)],
    to_items=each(EvaluationOrgPublic.model_validate),
    filters=EvaluationOrgFilters,
    key=EvaluationOrg.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("name", N_("Name")),
        ExportColumn("contact", N_("Contact person")),
    ],
    filename="evaluation-orgs",
    sheet=N_("Evaluation organisations"),
)


# --- certificates ----------------------------------------------------------------------------


def certificate_statement(
    _session: Session, _principal: Principal, filters: CertificateFilters
) -> Any:
    statement = select(Certificate, EvaluationOrg.name).join(
        EvaluationOrg, col(EvaluationOrg.id) == Certificate.evaluation_org_id
    )
    if filters.evaluation_org_id is not None:
        statement = statement.where(Certificate.evaluation_org_id == filters.evaluation_org_id)
    if filters.level is not None:
        statement = statement.where(col(Certificate.levels).contains(filters.level.value))
    q = filters.q
    if q and q.strip():
        pattern = _like(q)
        normalised = _like(normalise_certificate_name(q))
        statement = statement.where(
            sa.or_(
                col(Certificate.name).ilike(pattern, escape="\\"),
                col(Certificate.normalized_name).like(normalised, escape="\\"),
            )
        )
    return statement


def certificate_public(row: Any) -> CertificatePublic:
    certificate, org_name = row
    return CertificatePublic.model_validate(
        {
            **certificate.model_dump(),
            "levels": certificate.level_list,
            "evaluation_org_name": org_name,
        }
    )


CERTIFICATES = Listing(
    noun=N_("certificate"),
    statement=certificate_statement,
    order=[col(Certificate.id)],
    to_items=each(certificate_public),
    filters=CertificateFilters,
    key=Certificate.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("name", N_("Certificate name")),
        ExportColumn("evaluation_org_name", N_("Evaluation organisation")),
        ExportColumn("levels", N_("Grade")),
    ],
    filename="certificates",
    sheet=N_("Certificates"),
)


def find_certificate_by_name(session: Session, name: str) -> Certificate | None:
    """The certificate whose normalised name matches ``name`` (for later uploads by name)."""
    key = normalise_certificate_name(name)
    return session.exec(select(Certificate).where(Certificate.normalized_name == key)).first()


def create_certificate(
    session: Session, principal: Principal, data: CertificateCreate
) -> Certificate:
    require_office(principal, N_("change reference data"))
    _require_ref(
        session,
        EvaluationOrg,
        data.evaluation_org_id,
        "evaluation_org_id",
        N_("evaluation organisation"),
    )
    normalised = normalise_certificate_name(data.name)
    _unique(
        session,
        Certificate,
        Certificate.normalized_name,
        normalised,
        None,
        "name",
        N_("certificate"),
    )
    certificate = Certificate.model_validate(
        {
            **data.model_dump(),
            "levels": levels_to_text(data.levels),
            "normalized_name": normalised,
        }
    )
    save_new(session, principal, certificate, "certificate")
    return certificate


def update_certificate(
    session: Session,
    principal: Principal,
    certificate_id: int,
    data: CertificateUpdate,
    if_match: int | None,
) -> Certificate:
    certificate: Certificate
    certificate, changes = _changes(
        session, principal, CERTIFICATES_TABLE, certificate_id, data, if_match
    )
    if "levels" in changes:
        changes["levels"] = levels_to_text(changes["levels"])
    if "evaluation_org_id" in changes:
        _require_ref(
            session,
            EvaluationOrg,
            changes["evaluation_org_id"],
            "evaluation_org_id",
            N_("evaluation organisation"),
        )
    if "name" in changes:
        changes["normalized_name"] = normalise_certificate_name(changes["name"])
        _unique(
            session,
            Certificate,
            Certificate.normalized_name,
            changes["normalized_name"],
            certificate_id,
            "name",
            N_("certificate"),
        )
    apply_changes(session, principal, certificate, changes, "certificate")
    return certificate


def delete_certificate(session: Session, principal: Principal, certificate_id: int) -> None:
    certificate = _deletable(session, principal, CERTIFICATES_TABLE, certificate_id)
    delete_row(session, principal, certificate, "certificate")
