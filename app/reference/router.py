"""HTTP for the reference data: colleges, majors, courses, teachers, students, evaluation
organisations and certificates. Every list also exports as CSV or XLSX (``format``)."""

from app.core.roles import OFFICE, OFFICE_OR_COLLEGE
from app.core.routes import Routes, domain_router
from app.reference import models, service

router = domain_router("", "reference")

# --- colleges ----------------------------------------------------------------------------------

colleges = Routes(
    router,
    models.CollegePublic,
    id_name="college_id",
    read=service.COLLEGES.one,
    prefix="/colleges",
    noun="二级学院",
    writers=OFFICE,
)
colleges.list(service.COLLEGES, """Colleges (二级学院), readable by every role.""")
colleges.create(
    models.CollegeCreate,
    service.COLLEGES_TABLE.create,
    """Create a college (academic office). The name is unique; the code is optional.""",
)
colleges.get("""One college with its `ETag`; readable by every role.""")
colleges.update(
    models.CollegeUpdate,
    service.COLLEGES_TABLE.update,
    """Change a college (academic office); send `If-Match` with the ETag you read.""",
)
colleges.delete(
    service.COLLEGES_TABLE.delete,
    """Delete a college nothing refers to; otherwise 409 names what still does.""",
)

# --- majors ------------------------------------------------------------------------------------

majors = Routes(
    router,
    models.MajorPublic,
    id_name="major_id",
    read=service.MAJORS.one,
    prefix="/majors",
    noun="专业",
    writers=OFFICE_OR_COLLEGE,
)
majors.list(
    service.MAJORS,
    """Majors with their college; a college manager sees their own college's only.""",
)
majors.create(
    models.MajorCreate,
    service.MAJORS_TABLE.create,
    """Create a major (academic office, or a college manager in their own college).""",
)
majors.get(
    """One major with its `ETag`; a college manager reads their own college's only (404 for
    another's)."""
)
majors.update(
    models.MajorUpdate,
    service.MAJORS_TABLE.update,
    """Change a major (academic office, or a college manager in their own college; moving it
    to another college needs both); send `If-Match` with the ETag you read.""",
)
majors.delete(service.MAJORS_TABLE.delete, """Delete a major no student or course refers to.""")

# --- courses -----------------------------------------------------------------------------------

courses = Routes(
    router,
    models.CoursePublic,
    id_name="course_id",
    read=service.COURSES.one,
    prefix="/courses",
    noun="课程",
    writers=OFFICE_OR_COLLEGE,
)
courses.list(
    service.COURSES,
    """Courses with the majors that teach them; a college manager sees their own college's.""",
)
courses.create(
    models.CourseCreate,
    service.create_course,
    """Create a course (academic office, or a college manager in their own college); the code
    is unique and `major_ids` must be majors the caller may change.""",
)
courses.get(
    """One course with the majors that teach it; a college manager reads their own college's
    only (404 for another's)."""
)
courses.update(
    models.CourseUpdate,
    service.update_course,
    """Change a course; `major_ids` replaces the list of majors that teach it.""",
)
courses.delete(
    service.delete_course,
    """Delete a course nothing refers to (academic office, or a college manager in their own
    college); otherwise 409 names what still does.""",
)

# --- teachers ----------------------------------------------------------------------------------

teachers = Routes(
    router,
    models.TeacherPublic,
    id_name="teacher_id",
    read=service.TEACHERS.one,
    prefix="/teachers",
    noun="教师",
    writers=OFFICE_OR_COLLEGE,
)
teachers.list(
    service.TEACHERS,
    """Teachers; a college manager sees their college's, a teacher only themself.""",
)
teachers.create(
    models.TeacherCreate,
    service.TEACHERS_TABLE.create,
    """Create a teacher (academic office, or a college manager in their own college); the staff
    number is unique (409).""",
)
teachers.get(
    """One teacher; a college manager reads their college's, a teacher only themself (404
    otherwise)."""
)
teachers.update(
    models.TeacherUpdate,
    service.TEACHERS_TABLE.update,
    """Change a teacher (academic office, or a college manager in their own college); send
    `If-Match` with the ETag you read.""",
)
teachers.delete(
    service.TEACHERS_TABLE.delete,
    """Delete a teacher nothing refers to (academic office, or a college manager in their own
    college); otherwise 409 names what still does.""",
)

teachers.action(
    "dual-qualification",
    service.set_dual_qualification,
    """Recognise the teacher as 双师型 (dual-qualified), or change the recognition: its basis
    (enterprise experience, a professional qualification, a vocational certificate), the day
    it was recognised and, where it lapses, the last day it holds (`If-Match`). The academic
    office only (403 for everyone else; a college manager gets 404 for another college's
    teacher); 422 when `valid_until` is before `recognised_on`.""",
    name="teachers_dual_qualification_set",
    body=models.DualQualificationPut,
    if_match=True,
    method="PUT",
    summary="认定双师型教师",
    roles=OFFICE,
)
teachers.action(
    "dual-qualification",
    service.clear_dual_qualification,
    """Withdraw the teacher's 双师型 recognition (`If-Match`; the academic office only). 409
    `not_dual_qualified` when there is none.""",
    name="teachers_dual_qualification_clear",
    if_match=True,
    method="DELETE",
    summary="撤销双师型认定",
    roles=OFFICE,
)

# --- students ----------------------------------------------------------------------------------

students = Routes(
    router,
    models.StudentPublic,
    id_name="student_id",
    read=service.STUDENTS.one,
    prefix="/students",
    noun="学生",
    writers=OFFICE_OR_COLLEGE,
)
students.list(
    service.STUDENTS,
    """Students with their major and college; a college manager sees their college's, a
    teacher their college's, a student only their own record.""",
)
students.create(
    models.StudentCreate,
    service.create_student,
    """Create a student (academic office, or a college manager for a major of their own
    college); the student number is unique (409).""",
)
students.get(
    """One student; a college manager or teacher reads their college's, a student only their
    own record (404 otherwise)."""
)
students.update(
    models.StudentUpdate,
    service.update_student,
    """Change a student (academic office, or a college manager in their own college, also for
    the new major); send `If-Match` with the ETag you read.""",
)
students.delete(
    service.delete_student,
    """Delete a student nothing refers to (academic office, or a college manager in their own
    college); otherwise 409 names what still does.""",
)

# --- evaluation orgs ---------------------------------------------------------------------------

evaluation_orgs = Routes(
    router,
    models.EvaluationOrgPublic,
    id_name="org_id",
    read=service.EVALUATION_ORGS.one,
    prefix="/evaluation-orgs",
    noun="培训评价组织",
    writers=OFFICE,
)
evaluation_orgs.list(
    service.EVALUATION_ORGS,
    """Training and evaluation organisations (培训评价组织), readable by every role.""",
)
evaluation_orgs.create(
    models.EvaluationOrgCreate,
    service.ORGS_TABLE.create,
    """Create an organisation (academic office); the name is unique (409).""",
)
evaluation_orgs.get("""One organisation with its `ETag`; readable by every role.""")
evaluation_orgs.update(
    models.EvaluationOrgUpdate,
    service.ORGS_TABLE.update,
    """Change an organisation (academic office); send `If-Match` with the ETag you read.""",
)
evaluation_orgs.delete(
    service.ORGS_TABLE.delete,
    """Delete an organisation nothing refers to (academic office); otherwise 409 names what
    still does.""",
)

# --- certificates ------------------------------------------------------------------------------

certificates = Routes(
    router,
    models.CertificatePublic,
    id_name="certificate_id",
    read=service.CERTIFICATES.one,
    prefix="/certificates",
    noun="X证书",
    writers=OFFICE,
)
certificates.list(
    service.CERTIFICATES,
    """X certificates with their organisation and levels, readable by every role. `q` also
    matches the normalised name (spaces, brackets, a leading `1+X`, a trailing `证书`).""",
)
certificates.create(
    models.CertificateCreate,
    service.create_certificate,
    """Create an X certificate of an organisation (academic office); the name, normalised as
    `q` matches it, is unique (409).""",
)
certificates.get("""One X certificate with its levels; readable by every role.""")
certificates.update(
    models.CertificateUpdate,
    service.update_certificate,
    """Change an X certificate (academic office); send `If-Match` with the ETag you read.""",
)
certificates.delete(
    service.delete_certificate,
    """Delete an X certificate nothing refers to (academic office); otherwise 409 names what
    still does.""",
)
