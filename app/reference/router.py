"""HTTP for the reference data: colleges, majors, courses, teachers, students, evaluation
organisations and certificates. Every list also exports as CSV or XLSX (``format``)."""

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
)
colleges.list(service.COLLEGES, """Colleges (二级学院), readable by every role.""")
colleges.create(
    models.CollegeCreate,
    service.create_college,
    """Create a college (academic office). The name is unique; the code is optional.""",
)
colleges.get()
colleges.update(
    models.CollegeUpdate,
    service.update_college,
    """Change a college (academic office); send `If-Match` with the ETag you read.""",
)
colleges.delete(
    service.delete_college,
    """Delete a college nothing refers to; otherwise 409 names what still does.""",
)

# --- majors ------------------------------------------------------------------------------------

majors = Routes(
    router, models.MajorPublic, id_name="major_id", read=service.MAJORS.one, prefix="/majors"
)
majors.list(
    service.MAJORS,
    """Majors with their college; a college manager sees their own college's only.""",
)
majors.create(
    models.MajorCreate,
    service.create_major,
    """Create a major (academic office, or a college manager in their own college).""",
)
majors.get()
majors.update(models.MajorUpdate, service.update_major)
majors.delete(service.delete_major, """Delete a major no student or course refers to.""")

# --- courses -----------------------------------------------------------------------------------

courses = Routes(
    router, models.CoursePublic, id_name="course_id", read=service.COURSES.one, prefix="/courses"
)
courses.list(
    service.COURSES,
    """Courses with the majors that teach them; a college manager sees their own college's.""",
)
courses.create(models.CourseCreate, service.create_course)
courses.get()
courses.update(
    models.CourseUpdate,
    service.update_course,
    """Change a course; `major_ids` replaces the list of majors that teach it.""",
)
courses.delete(service.delete_course)

# --- teachers ----------------------------------------------------------------------------------

teachers = Routes(
    router,
    models.TeacherPublic,
    id_name="teacher_id",
    read=service.TEACHERS.one,
    prefix="/teachers",
)
teachers.list(
    service.TEACHERS,
    """Teachers; a college manager sees their college's, a teacher only themself.""",
)
teachers.create(models.TeacherCreate, service.create_teacher)
teachers.get()
teachers.update(models.TeacherUpdate, service.update_teacher)
teachers.delete(service.delete_teacher)

# --- students ----------------------------------------------------------------------------------

students = Routes(
    router,
    models.StudentPublic,
    id_name="student_id",
    read=service.STUDENTS.one,
    prefix="/students",
)
students.list(
    service.STUDENTS,
    """Students with their major and college; a college manager sees their college's, a
    teacher their college's, a student only their own record.""",
)
students.create(models.StudentCreate, service.create_student)
students.get()
students.update(models.StudentUpdate, service.update_student)
students.delete(service.delete_student)

# --- evaluation orgs ---------------------------------------------------------------------------

evaluation_orgs = Routes(
    router,
    models.EvaluationOrgPublic,
    id_name="org_id",
    read=service.EVALUATION_ORGS.one,
    prefix="/evaluation-orgs",
)
evaluation_orgs.list(
    service.EVALUATION_ORGS,
    """Training and evaluation organisations (培训评价组织), readable by every role.""",
)
evaluation_orgs.create(models.EvaluationOrgCreate, service.create_evaluation_org)
evaluation_orgs.get()
evaluation_orgs.update(models.EvaluationOrgUpdate, service.update_evaluation_org)
evaluation_orgs.delete(service.delete_evaluation_org)

# --- certificates ------------------------------------------------------------------------------

certificates = Routes(
    router,
    models.CertificatePublic,
    id_name="certificate_id",
    read=service.CERTIFICATES.one,
    prefix="/certificates",
)
certificates.list(
    service.CERTIFICATES,
    """X certificates with their organisation and levels, readable by every role. `q` also
    matches the normalised name (spaces, brackets, a leading `1+X`, a trailing `证书`).""",
)
certificates.create(models.CertificateCreate, service.create_certificate)
certificates.get()
certificates.update(models.CertificateUpdate, service.update_certificate)
certificates.delete(service.delete_certificate)
