"""HTTP for the reference data: colleges, majors, courses, teachers, students, evaluation
organisations and certificates. Every list also exports as CSV or XLSX (``format``)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.core.auth import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import EXPORT_RESPONSES
from app.core.listing import ListDep
from app.core.pagination import Page
from app.core.params import DbId
from app.core.responses import (
    CREATE_RESPONSES,
    DELETE_RESPONSES,
    GET_RESPONSES,
    WRITE_RESPONSES,
)
from app.core.versions import IfMatch, set_created, set_etag
from app.reference import service
from app.reference.models import (
    CertificateCreate,
    CertificateFilters,
    CertificatePublic,
    CertificateUpdate,
    CollegeCreate,
    CollegeFilters,
    CollegePublic,
    CollegeUpdate,
    CourseCreate,
    CourseFilters,
    CoursePublic,
    CourseUpdate,
    EvaluationOrgCreate,
    EvaluationOrgFilters,
    EvaluationOrgPublic,
    EvaluationOrgUpdate,
    MajorCreate,
    MajorFilters,
    MajorPublic,
    MajorUpdate,
    StudentCreate,
    StudentFilters,
    StudentPublic,
    StudentUpdate,
    TeacherCreate,
    TeacherFilters,
    TeacherPublic,
    TeacherUpdate,
)

router = APIRouter(tags=["reference"], responses=problem_responses(401, 403, 422))

LIST_RESPONSES = {**EXPORT_RESPONSES}


# --- colleges --------------------------------------------------------------------------------


@router.get("/colleges", response_model=Page[CollegePublic], responses=LIST_RESPONSES)
def colleges_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[CollegeFilters, Query()],
    params: ListDep,
) -> Any:
    """Colleges (二级学院), readable by every role."""
    return service.COLLEGES.respond(session, principal, filters, params)


@router.post(
    "/colleges",
    response_model=CollegePublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def colleges_create(
    session: SessionDep, principal: CurrentPrincipal, data: CollegeCreate, response: Response
) -> CollegePublic:
    """Create a college (academic office). The name is unique; the code is optional."""
    college = service.create_college(session, principal, data)
    set_created(response, "colleges", college.id, college.version)
    return CollegePublic.model_validate(college)


@router.get("/colleges/{college_id}", response_model=CollegePublic, responses=GET_RESPONSES)
def colleges_get(
    session: SessionDep, _principal: CurrentPrincipal, college_id: DbId, response: Response
) -> CollegePublic:
    college = service.get_college(session, college_id)
    set_etag(response, college.version)
    return CollegePublic.model_validate(college)


@router.patch("/colleges/{college_id}", response_model=CollegePublic, responses=WRITE_RESPONSES)
def colleges_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    college_id: DbId,
    data: CollegeUpdate,
    if_match: IfMatch,
    response: Response,
) -> CollegePublic:
    """Change a college (academic office); send `If-Match` with the ETag you read."""
    college = service.update_college(session, principal, college_id, data, if_match)
    set_etag(response, college.version)
    return CollegePublic.model_validate(college)


@router.delete(
    "/colleges/{college_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=DELETE_RESPONSES,
)
def colleges_delete(session: SessionDep, principal: CurrentPrincipal, college_id: DbId) -> None:
    """Delete a college nothing refers to; otherwise 409 names what still does."""
    service.delete_college(session, principal, college_id)


# --- majors ----------------------------------------------------------------------------------


@router.get("/majors", response_model=Page[MajorPublic], responses=LIST_RESPONSES)
def majors_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[MajorFilters, Query()],
    params: ListDep,
) -> Any:
    """Majors with their college; a college manager sees their own college's only."""
    return service.MAJORS.respond(session, principal, filters, params)


@router.post(
    "/majors",
    response_model=MajorPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def majors_create(
    session: SessionDep, principal: CurrentPrincipal, data: MajorCreate, response: Response
) -> MajorPublic:
    """Create a major (academic office, or a college manager in their own college)."""
    major = service.create_major(session, principal, data)
    set_created(response, "majors", major.id, major.version)
    assert major.id is not None
    return service.get_major(session, principal, major.id)


@router.get("/majors/{major_id}", response_model=MajorPublic, responses=GET_RESPONSES)
def majors_get(
    session: SessionDep, principal: CurrentPrincipal, major_id: DbId, response: Response
) -> MajorPublic:
    major = service.get_major(session, principal, major_id)
    set_etag(response, major.version)
    return major


@router.patch("/majors/{major_id}", response_model=MajorPublic, responses=WRITE_RESPONSES)
def majors_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    major_id: DbId,
    data: MajorUpdate,
    if_match: IfMatch,
    response: Response,
) -> MajorPublic:
    major = service.update_major(session, principal, major_id, data, if_match)
    set_etag(response, major.version)
    return service.get_major(session, principal, major_id)


@router.delete(
    "/majors/{major_id}", status_code=status.HTTP_204_NO_CONTENT, responses=DELETE_RESPONSES
)
def majors_delete(session: SessionDep, principal: CurrentPrincipal, major_id: DbId) -> None:
    """Delete a major no student or course refers to."""
    service.delete_major(session, principal, major_id)


# --- courses ---------------------------------------------------------------------------------


@router.get("/courses", response_model=Page[CoursePublic], responses=LIST_RESPONSES)
def courses_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[CourseFilters, Query()],
    params: ListDep,
) -> Any:
    """Courses with the majors that teach them; a college manager sees their own college's."""
    return service.COURSES.respond(session, principal, filters, params)


@router.post(
    "/courses",
    response_model=CoursePublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def courses_create(
    session: SessionDep, principal: CurrentPrincipal, data: CourseCreate, response: Response
) -> CoursePublic:
    course = service.create_course(session, principal, data)
    set_created(response, "courses", course.id, course.version)
    assert course.id is not None
    return service.get_course(session, principal, course.id)


@router.get("/courses/{course_id}", response_model=CoursePublic, responses=GET_RESPONSES)
def courses_get(
    session: SessionDep, principal: CurrentPrincipal, course_id: DbId, response: Response
) -> CoursePublic:
    course = service.get_course(session, principal, course_id)
    set_etag(response, course.version)
    return course


@router.patch("/courses/{course_id}", response_model=CoursePublic, responses=WRITE_RESPONSES)
def courses_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    course_id: DbId,
    data: CourseUpdate,
    if_match: IfMatch,
    response: Response,
) -> CoursePublic:
    """Change a course; `major_ids` replaces the list of majors that teach it."""
    course = service.update_course(session, principal, course_id, data, if_match)
    set_etag(response, course.version)
    return service.get_course(session, principal, course_id)


@router.delete(
    "/courses/{course_id}", status_code=status.HTTP_204_NO_CONTENT, responses=DELETE_RESPONSES
)
def courses_delete(session: SessionDep, principal: CurrentPrincipal, course_id: DbId) -> None:
    service.delete_course(session, principal, course_id)


# --- teachers --------------------------------------------------------------------------------


@router.get("/teachers", response_model=Page[TeacherPublic], responses=LIST_RESPONSES)
def teachers_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[TeacherFilters, Query()],
    params: ListDep,
) -> Any:
    """Teachers; a college manager sees their college's, a teacher only themself."""
    return service.TEACHERS.respond(session, principal, filters, params)


@router.post(
    "/teachers",
    response_model=TeacherPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def teachers_create(
    session: SessionDep, principal: CurrentPrincipal, data: TeacherCreate, response: Response
) -> TeacherPublic:
    teacher = service.create_teacher(session, principal, data)
    set_created(response, "teachers", teacher.id, teacher.version)
    assert teacher.id is not None
    return service.get_teacher(session, principal, teacher.id)


@router.get("/teachers/{teacher_id}", response_model=TeacherPublic, responses=GET_RESPONSES)
def teachers_get(
    session: SessionDep, principal: CurrentPrincipal, teacher_id: DbId, response: Response
) -> TeacherPublic:
    teacher = service.get_teacher(session, principal, teacher_id)
    set_etag(response, teacher.version)
    return teacher


@router.patch("/teachers/{teacher_id}", response_model=TeacherPublic, responses=WRITE_RESPONSES)
def teachers_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    teacher_id: DbId,
    data: TeacherUpdate,
    if_match: IfMatch,
    response: Response,
) -> TeacherPublic:
    teacher = service.update_teacher(session, principal, teacher_id, data, if_match)
    set_etag(response, teacher.version)
    return service.get_teacher(session, principal, teacher_id)


@router.delete(
    "/teachers/{teacher_id}", status_code=status.HTTP_204_NO_CONTENT, responses=DELETE_RESPONSES
)
def teachers_delete(session: SessionDep, principal: CurrentPrincipal, teacher_id: DbId) -> None:
    service.delete_teacher(session, principal, teacher_id)


# --- students --------------------------------------------------------------------------------


@router.get("/students", response_model=Page[StudentPublic], responses=LIST_RESPONSES)
def students_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[StudentFilters, Query()],
    params: ListDep,
) -> Any:
    """Students with their major and college; a college manager sees their college's, a
    teacher their college's, a student only their own record."""
    return service.STUDENTS.respond(session, principal, filters, params)


@router.post(
    "/students",
    response_model=StudentPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def students_create(
    session: SessionDep, principal: CurrentPrincipal, data: StudentCreate, response: Response
) -> StudentPublic:
    student = service.create_student(session, principal, data)
    set_created(response, "students", student.id, student.version)
    assert student.id is not None
    return service.get_student(session, principal, student.id)


@router.get("/students/{student_id}", response_model=StudentPublic, responses=GET_RESPONSES)
def students_get(
    session: SessionDep, principal: CurrentPrincipal, student_id: DbId, response: Response
) -> StudentPublic:
    student = service.get_student(session, principal, student_id)
    set_etag(response, student.version)
    return student


@router.patch("/students/{student_id}", response_model=StudentPublic, responses=WRITE_RESPONSES)
def students_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    student_id: DbId,
    data: StudentUpdate,
    if_match: IfMatch,
    response: Response,
) -> StudentPublic:
    student = service.update_student(session, principal, student_id, data, if_match)
    set_etag(response, student.version)
    return student


@router.delete(
    "/students/{student_id}", status_code=status.HTTP_204_NO_CONTENT, responses=DELETE_RESPONSES
)
def students_delete(session: SessionDep, principal: CurrentPrincipal, student_id: DbId) -> None:
    service.delete_student(session, principal, student_id)


# --- evaluation organisations ----------------------------------------------------------------


@router.get("/evaluation-orgs", response_model=Page[EvaluationOrgPublic], responses=LIST_RESPONSES)
def evaluation_orgs_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[EvaluationOrgFilters, Query()],
    params: ListDep,
) -> Any:
    """Training and evaluation organisations (培训评价组织), readable by every role."""
    return service.EVALUATION_ORGS.respond(session, principal, filters, params)


@router.post(
    "/evaluation-orgs",
    response_model=EvaluationOrgPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def evaluation_orgs_create(
    session: SessionDep, principal: CurrentPrincipal, data: EvaluationOrgCreate, response: Response
) -> EvaluationOrgPublic:
    org = service.create_evaluation_org(session, principal, data)
    set_created(response, "evaluation-orgs", org.id, org.version)
    return EvaluationOrgPublic.model_validate(org)


@router.get(
    "/evaluation-orgs/{org_id}", response_model=EvaluationOrgPublic, responses=GET_RESPONSES
)
def evaluation_orgs_get(
    session: SessionDep, principal: CurrentPrincipal, org_id: DbId, response: Response
) -> EvaluationOrgPublic:
    org = service.get_evaluation_org(session, principal, org_id)
    set_etag(response, org.version)
    return org


@router.patch(
    "/evaluation-orgs/{org_id}", response_model=EvaluationOrgPublic, responses=WRITE_RESPONSES
)
def evaluation_orgs_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    org_id: DbId,
    data: EvaluationOrgUpdate,
    if_match: IfMatch,
    response: Response,
) -> EvaluationOrgPublic:
    org = service.update_evaluation_org(session, principal, org_id, data, if_match)
    set_etag(response, org.version)
    return EvaluationOrgPublic.model_validate(org)


@router.delete(
    "/evaluation-orgs/{org_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=DELETE_RESPONSES,
)
def evaluation_orgs_delete(session: SessionDep, principal: CurrentPrincipal, org_id: DbId) -> None:
    service.delete_evaluation_org(session, principal, org_id)


# --- certificates ----------------------------------------------------------------------------


@router.get("/certificates", response_model=Page[CertificatePublic], responses=LIST_RESPONSES)
def certificates_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[CertificateFilters, Query()],
    params: ListDep,
) -> Any:
    """X certificates with their organisation and levels, readable by every role. `q` also
    matches the normalised name (spaces, brackets, a leading `1+X`, a trailing `证书`)."""
    return service.CERTIFICATES.respond(session, principal, filters, params)


@router.post(
    "/certificates",
    response_model=CertificatePublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def certificates_create(
    session: SessionDep, principal: CurrentPrincipal, data: CertificateCreate, response: Response
) -> CertificatePublic:
    certificate = service.create_certificate(session, principal, data)
    set_created(response, "certificates", certificate.id, certificate.version)
    assert certificate.id is not None
    return service.get_certificate(session, principal, certificate.id)


@router.get(
    "/certificates/{certificate_id}", response_model=CertificatePublic, responses=GET_RESPONSES
)
def certificates_get(
    session: SessionDep, principal: CurrentPrincipal, certificate_id: DbId, response: Response
) -> CertificatePublic:
    certificate = service.get_certificate(session, principal, certificate_id)
    set_etag(response, certificate.version)
    return certificate


@router.patch(
    "/certificates/{certificate_id}",
    response_model=CertificatePublic,
    responses=WRITE_RESPONSES,
)
def certificates_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    certificate_id: DbId,
    data: CertificateUpdate,
    if_match: IfMatch,
    response: Response,
) -> CertificatePublic:
    certificate = service.update_certificate(session, principal, certificate_id, data, if_match)
    set_etag(response, certificate.version)
    return service.get_certificate(session, principal, certificate_id)


@router.delete(
    "/certificates/{certificate_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=DELETE_RESPONSES,
)
def certificates_delete(
    session: SessionDep, principal: CurrentPrincipal, certificate_id: DbId
) -> None:
    service.delete_certificate(session, principal, certificate_id)
