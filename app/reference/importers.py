"""The reference data's import kinds: a declaration of columns, natural key and row rules each."""

import difflib
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from app.core.i18n import N_, _
from app.core.roles import Principal, Role
from app.imports.cells import (
    CellError,
    choice,
    code,
    date_cell,
    decimal,
    integer,
    match_text,
    multi,
    text,
    words,
)
from app.imports.engine import (
    Column,
    ImportKind,
    Plan,
    RowRefused,
    did_you_mean,
    grouped,
    ids_by,
    insert_new,
    known,
    optional,
    replace_links,
    rows_by,
    use_created,
)
from app.imports.registry import register
from app.reference.models import (
    DUAL_BASIS_NAMES,
    LEVEL_ORDER,
    MAX_COHORT,
    MAX_CREDITS,
    MIN_COHORT,
    Certificate,
    College,
    Course,
    CourseMajor,
    DualBasis,
    EvaluationOrg,
    Level,
    Major,
    Student,
    Teacher,
    levels_from_text,
    levels_to_text,
    normalise_certificate_name,
)
from app.reference.rules import certificate_name_problem, dual_period_problem, level_problem

NEAR_MISS_RATIO = 0.75


def names_of(model: type[SQLModel]) -> Callable[[Session], list[str]]:
    """The names of ``model``'s rows as stored now, in order: a template's drop-down."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]

    def names(session: Session) -> list[str]:
        query = sa.select(table.c.name).distinct().order_by(table.c.name)
        return [str(name) for name in session.execute(query).scalars()]

    return names


COLLEGE_NAMES = names_of(College)
MAJOR_NAMES = names_of(Major)
CERTIFICATE_NAMES = names_of(Certificate)
EVALUATION_ORG_NAMES = names_of(EvaluationOrg)
LEVEL_CHOICES = tuple(lv.value for lv in LEVEL_ORDER)
"""初级, 中级, 高级: the drop-down of a level column."""
YES_NO_CHOICES = ("是", "否")


def college_column(zh: str, aliases: tuple[str, ...]) -> Column:
    """A row's college, by name (the drop-down: the colleges stored)."""
    return Column(
        "college",
        zh,
        text(100),
        aliases=aliases,
        example="计算机与软件学院",
        choices_from=COLLEGE_NAMES,
    )


def level_column(zh: str, aliases: tuple[str, ...], help: str = "", key: str = "level") -> Column:
    """A row's certificate level: 初级, 中级 or 高级, also as an English export writes it
    (Intermediate)."""
    return Column(
        key,
        zh,
        choice(LEVEL_CHOICES),
        aliases=aliases,
        example="中级",
        help=help,
        choices=LEVEL_CHOICES,
    )


def majors_column(zh: str) -> Column:
    """A row's majors, by name or code, separated by 、 (read with ``resolve_majors``)."""
    return Column(
        "majors",
        zh,
        multi(text(100)),
        aliases=("专业",),
        example="软件技术、计算机应用技术",
        help=N_("major names or codes, separated by 、"),
        choices_from=MAJOR_NAMES,
        multiple=True,
    )


def _ids_by_name(session: Session, model: type[SQLModel]) -> dict[str, int]:
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return {name: id_ for id_, name in session.execute(sa.select(table.c.id, table.c.name))}


def _college_id(plan: Plan, name: str, column: str) -> int:
    colleges: dict[str, int] = plan.lookups["colleges"]
    return known(
        colleges,
        name,
        column,
        N_(
            "unknown college {name}{hint}; use the name of a "
            "college that exists (GET /api/v1/colleges)"
        ),
        name=repr(name),
    )


CertificateEntry = tuple[int, list[Level], str]
"""A certificate as the uploads that name one look it up: its id, levels and name."""


def certificates_by_name(session: Session) -> dict[str, CertificateEntry]:
    """Every certificate by its normalised name (``normalise_certificate_name``)."""
    query = sa.select(
        Certificate.id, Certificate.normalized_name, Certificate.levels, Certificate.name
    )  # type: ignore[call-overload]
    return {
        normalized: (cert_id, levels_from_text(levels), name)
        for cert_id, normalized, levels, name in session.execute(query)
    }


def offered_at(certificate: CertificateEntry, level: Level, column: str) -> int:
    """The certificate's id when it is offered at the row's ``level``; else the row is
    refused in ``column``."""
    cert_id, levels, name = certificate
    problem = level_problem(name, levels, level)
    if problem:
        raise RowRefused(problem, column, level.value)
    return cert_id


def major_lookups(session: Session) -> dict[str, Any]:
    """The majors an upload names in a multi-value 专业 cell (``resolve_majors``): by matched name,
    display name and code, and each major's college."""
    by_name: dict[str, list[int]] = defaultdict(list)
    display: dict[str, str] = {}
    by_code: dict[str, int] = {}
    college_of: dict[int, int] = {}
    for major_id, major_code, name, college_id in session.execute(
        sa.select(Major.id, Major.code, Major.name, Major.college_id)  # type: ignore[call-overload]
    ):
        by_name[match_text(name)].append(major_id)
        display[match_text(name)] = name
        by_code[major_code] = major_id
        college_of[major_id] = college_id
    return {
        "major_names": dict(by_name),
        "major_display": display,
        "major_codes": by_code,
        "major_college": college_of,
    }


def resolve_majors(plan: Plan, majors: list[str], column: str) -> list[int]:
    """The ids of a row's majors, each given by code or name (spaces and case aside), in the
    order first named; a row naming none, an unknown one (every unknown one is listed with
    its closest names) or a name two majors share is refused in ``column``. The plan's
    lookups hold ``major_lookups``."""
    by_name: dict[str, list[int]] = plan.lookups["major_names"]
    by_code: dict[str, int] = plan.lookups["major_codes"]
    display: dict[str, str] = plan.lookups["major_display"]
    ids: list[int] = []
    unknown: list[str] = []
    for major in majors:
        key = match_text(major)
        if major in by_code:
            found = by_code[major]
        elif len(by_name.get(key, [])) == 1:
            found = by_name[key][0]
        elif len(by_name.get(key, [])) > 1:
            raise RowRefused(
                _("more than one major is named {major}; use its code", major=repr(major)),
                column,
                major,
            )
        else:
            close = difflib.get_close_matches(key, list(display), n=3, cutoff=0.4)
            hint = "、".join(display[c] for c in close)
            unknown.append(
                _("{major} (closest: {hint})", major=repr(major), hint=hint)
                if hint
                else _("{major} (no close name)", major=repr(major))
            )
            continue
        if found not in ids:
            ids.append(found)
    if unknown:
        raise RowRefused(
            _(
                "unknown major {majors}; use the name or code of a major that exists "
                "(GET /api/v1/majors, or upload majors first)",
                majors="; ".join(unknown),
            ),
            column,
            "、".join(majors),
        )
    if not ids:
        raise RowRefused(_("at least one major"), column, "")
    return ids


UNKNOWN_STAFF_NO = N_(
    "unknown staff number {staff_no}{hint}; upload the teacher first (kind teachers)"
)
"""A teachers' upload refuses a staff number no teacher has (with ``known``)."""


def _college_of(plan: Plan, values: dict[str, Any]) -> int | None:
    value = values.get("college_id")
    return value if isinstance(value, int) else None


# --- colleges --------------------------------------------------------------------------------


def _prepare_colleges(session: Session, _principal: Principal) -> Plan:
    existing = rows_by(session, College, "name")
    codes = {row["code"]: name for name, row in existing.items() if row["code"]}
    return Plan(existing=existing, lookups={"codes": codes})


def _college_values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    values: dict[str, Any] = {"name": cells["name"]}
    if "code" in cells:
        codes: dict[str, str] = plan.lookups["codes"]
        code_value = cells["code"]
        if code_value is not None:
            owner = codes.get(code_value)
            if owner not in (None, cells["name"]):
                raise RowRefused(
                    _(
                        "college code {code_value} already belongs to {owner}; codes are unique",
                        code_value=code_value,
                        owner=repr(owner),
                    ),
                    "学院代码",
                    code_value,
                )
            codes[code_value] = cells["name"]
        values["code"] = code_value
    return values


register(
    ImportKind(
        name="colleges",
        title="二级学院",
        model=College,
        key="name",
        columns=(
            Column(
                "name",
                "学院名称",
                text(100),
                aliases=("二级学院", "学院", "college"),
                example="计算机与软件学院",
            ),
            Column("code", "学院代码", code(20), required=False, example="CS"),
        ),
        prepare=_prepare_colleges,
        to_values=_college_values,
        description="Colleges matched by name",
    )
)


# --- majors ----------------------------------------------------------------------------------


def _prepare_majors(session: Session, _principal: Principal) -> Plan:
    return Plan(
        existing=rows_by(session, Major, "code"),
        lookups={
            "colleges": _ids_by_name(session, College),
            "pending_created": {"colleges": set()},
        },
    )


def _major_values(plan: Plan, cells: dict[str, Any], principal: Principal) -> dict[str, Any]:
    name = cells["college"]
    colleges: dict[str, int] = plan.lookups["colleges"]
    values: dict[str, Any] = {"code": cells["code"], "name": cells["name"]}
    if name in colleges:
        values["college_id"] = colleges[name]
        return values
    near = difflib.get_close_matches(name, list(colleges), n=1, cutoff=NEAR_MISS_RATIO)
    if principal.role != Role.academic_office or near:
        _college_id(plan, name, "二级学院")
    # An unknown college that is not a typo of a known one is created with its majors.
    plan.lookups["pending_created"]["colleges"].add(name)
    values["college_id"] = None
    values["_college_name"] = name
    return values


def _create_pending_colleges(
    session: Session, principal: Principal, plan: Plan, rows: list[dict[str, Any]]
) -> None:
    pending: set[str] = plan.lookups["pending_created"]["colleges"]
    if not pending:
        return
    ids = insert_new(session, College, "name", [{"name": name} for name in sorted(pending)])
    use_created(plan, rows, "colleges", ids, via="_college_name", field="college_id")


register(
    ImportKind(
        name="majors",
        title="专业",
        model=Major,
        key="code",
        columns=(
            Column("code", "专业代码", code(20), aliases=("major_code",), example="510203"),
            Column(
                "name",
                "专业名称",
                text(100),
                aliases=("专业", "major", "major_name"),
                example="软件技术",
            ),
            college_column("二级学院", ("学院", "学院名称", "college_name")),
        ),
        prepare=_prepare_majors,
        to_values=_major_values,
        college_of=_college_of,
        scope_columns=("college",),
        before_write=_create_pending_colleges,
        description="Majors matched by code; a new college named in the file is created "
        "(academic office only)",
    )
)


# --- courses ---------------------------------------------------------------------------------


def _prepare_courses(session: Session, _principal: Principal) -> Plan:
    existing = rows_by(session, Course, "code")
    links = grouped(session, CourseMajor.course_id, CourseMajor.major_id)
    for row in existing.values():
        row["major_ids"] = sorted(links.get(row["id"], []))
    majors = session.execute(sa.select(Major.id, Major.code, Major.name)).all()  # type: ignore[call-overload]
    names: dict[str, list[int]] = defaultdict(list)
    for major_id, _code, name in majors:
        names[name].append(major_id)
    return Plan(
        existing=existing,
        lookups={
            "colleges": _ids_by_name(session, College),
            "major_codes": {major_code: major_id for major_id, major_code, _name in majors},
            "major_names": dict(names),
        },
    )


def _major_id(plan: Plan, value: str, column: str) -> int:
    by_code: dict[str, int] = plan.lookups["major_codes"]
    by_name: dict[str, list[int]] = plan.lookups["major_names"]
    if value in by_code:
        return by_code[value]
    ids = by_name.get(value, [])
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise RowRefused(
            _("more than one major is named {value}; use its code", value=repr(value)),
            column,
            value,
        )
    raise RowRefused(
        _(
            "unknown major {value}{hint}; use a major code "
            "or name that exists (GET /api/v1/majors)",
            value=repr(value),
            hint=did_you_mean(value, [*by_name, *by_code]),
        ),
        column,
        value,
    )


def _course_values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": cells["code"],
        "name": cells["name"],
        "credits": cells["credits"],
        "college_id": _college_id(plan, cells["college"], "开课学院"),
    }
    if "majors" in cells:
        values["major_ids"] = sorted({_major_id(plan, m, "专业") for m in cells["majors"] or []})
    return values


def _write_course_majors(session: Session, _plan: Plan, rows: list[dict[str, Any]]) -> None:
    rows = [r for r in rows if "major_ids" in r]
    if not rows:
        return
    ids = ids_by(session, Course, "code", (r["code"] for r in rows))
    majors = {ids[r["code"]]: r["major_ids"] for r in rows}
    replace_links(session, CourseMajor.course_id, CourseMajor.major_id, majors)


register(
    ImportKind(
        name="courses",
        title="课程",
        model=Course,
        key="code",
        columns=(
            Column("code", "课程代码", code(20), aliases=("course_code",), example="C510203-01"),
            Column(
                "name",
                "课程名称",
                text(100),
                aliases=("课程", "course"),
                example="Web前端开发",
            ),
            Column("credits", "学分", decimal(Decimal(0), MAX_CREDITS, 1), example="4"),
            college_column("开课学院", ("二级学院", "学院")),
            Column(
                "majors",
                "专业",
                multi(text(100)),
                required=False,
                aliases=("专业代码", "major_codes"),
                example="510203、510201",
                help=N_("major codes or names, separated by 、"),
                choices_from=MAJOR_NAMES,
                multiple=True,
            ),
        ),
        prepare=_prepare_courses,
        to_values=_course_values,
        college_of=_college_of,
        scope_columns=("college",),
        extra_fields=("major_ids",),
        write_extra=_write_course_majors,
        description="Courses matched by code, with the majors that teach them",
    )
)


# --- teachers --------------------------------------------------------------------------------


def _prepare_teachers(session: Session, _principal: Principal) -> Plan:
    return Plan(
        existing=rows_by(session, Teacher, "staff_no"),
        lookups={"colleges": _ids_by_name(session, College)},
    )


def _teacher_values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    values: dict[str, Any] = {
        "staff_no": cells["staff_no"],
        "name": cells["name"],
        "college_id": _college_id(plan, cells["college"], "二级学院"),
    }
    return values | optional(cells, "title")


register(
    ImportKind(
        name="teachers",
        title="教师",
        model=Teacher,
        key="staff_no",
        columns=(
            Column("staff_no", "工号", code(20), aliases=("教工号", "职工号"), example="T2001"),
            Column("name", "姓名", text(100), example="李老师"),
            college_column("二级学院", ("学院", "所在学院", "学院名称")),
            Column("title", "职称", text(100), required=False, example="副教授"),
        ),
        prepare=_prepare_teachers,
        to_values=_teacher_values,
        college_of=_college_of,
        scope_columns=("college",),
        description="Teachers matched by staff number",
    )
)


# --- students --------------------------------------------------------------------------------


def _prepare_students(session: Session, _principal: Principal) -> Plan:
    majors = session.execute(sa.select(Major.id, Major.code, Major.name, Major.college_id)).all()  # type: ignore[call-overload]
    names: dict[str, list[int]] = defaultdict(list)
    for major_id, _code, name, _college in majors:
        names[name].append(major_id)
    return Plan(
        existing=rows_by(session, Student, "student_no"),
        lookups={
            "major_codes": {m_code: m_id for m_id, m_code, _name, _college in majors},
            "major_names": dict(names),
            "major_college": {m_id: college for m_id, _code, _name, college in majors},
        },
    )


def _student_values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    """The student's values: the row's own parsed cells with the major's id added (a new dict
    per row was a tenth of a 50,000-row import); the writes take the table's columns only.
    An empty class is None; a file without the column leaves it out, so the stored one stays."""
    if cells.get("major_code"):
        major_id = _major_id(plan, cells["major_code"], "专业代码")
    elif cells.get("major_name"):
        major_id = _major_id(plan, cells["major_name"], "专业")
    else:
        raise RowRefused(_("required: 专业代码 (major_code) or 专业 (major name)"), "专业", "")
    values = cells  # its major_code and major_name stay, as the scope's refusals quote them
    values["major_id"] = major_id
    if "class_name" in values and not values["class_name"]:
        values["class_name"] = None
    return values


def _student_college(plan: Plan, values: dict[str, Any]) -> int | None:
    college: int | None = plan.lookups["major_college"].get(values.get("major_id"))
    return college


register(
    ImportKind(
        name="students",
        title="学生",
        model=Student,
        key="student_no",
        columns=(
            Column("student_no", "学号", code(20), example="2020510203001"),
            Column("name", "姓名", text(100), example="张三"),
            Column("major_code", "专业代码", code(20), required=False, example="510203"),
            Column(
                "major_name",
                "专业",
                text(100),
                required=False,
                aliases=("专业名称", "major_name"),
                example="软件技术",
                choices_from=MAJOR_NAMES,
                en="major",
            ),
            Column(
                "cohort",
                "年级",
                integer(MIN_COHORT, MAX_COHORT, "级"),
                aliases=("入学年份", "grade"),
                example="2020级",
                help=N_("the entry year, like 2020 or 2020级"),
            ),
            Column(
                "class_name",
                "班级",
                text(100),
                required=False,
                aliases=("class", "行政班"),
                example="软件2001班",
            ),
        ),
        prepare=_prepare_students,
        to_values=_student_values,
        college_of=_student_college,
        scope_columns=("major_code", "major_name"),
        require_any=("major_code", "major_name"),
        description="Students matched by student number; the major by code or name",
    )
)


# --- evaluation organisations ----------------------------------------------------------------


def _prepare_orgs(session: Session, _principal: Principal) -> Plan:
    return Plan(existing=rows_by(session, EvaluationOrg, "name"))


def _org_values(_plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    return {"name": cells["name"], **optional(cells, "contact")}


register(
    ImportKind(
        name="evaluation-orgs",
        title="培训评价组织",
        model=EvaluationOrg,
        key="name",
        columns=(
            Column(
                "name",
                "名称",
                text(100),
                aliases=("组织名称", "培训评价组织", "organisation"),
                example="北京某某科技有限公司",
            ),
            Column("contact", "联系人", text(100), required=False, example="赵经理"),
        ),
        prepare=_prepare_orgs,
        to_values=_org_values,
        description="Training and evaluation organisations matched by name",
    )
)


# --- certificates ----------------------------------------------------------------------------


def _prepare_certificates(session: Session, _principal: Principal) -> Plan:
    return Plan(
        existing=rows_by(session, Certificate, "normalized_name"),
        lookups={"orgs": _ids_by_name(session, EvaluationOrg)},
    )


def _certificate_values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    org = cells["evaluation_org"]
    org_id = known(
        plan.lookups["orgs"],
        org,
        "培训评价组织",
        N_(
            "unknown evaluation organisation {org}{hint}; use the "
            "name of one that exists (GET /api/v1/evaluation-orgs)"
        ),
        org=repr(org),
    )
    levels = [Level(v) for v in cells["levels"]]
    if not levels:
        raise RowRefused(_("at least one level: 初级, 中级 or 高级"), "等级", "")
    return {
        "name": cells["name"],
        "normalized_name": normalise_certificate_name(cells["name"]),
        "evaluation_org_id": org_id,
        "levels": levels_to_text(levels),
    }


def certificate_name_cell(raw: str) -> str:
    """A certificate's name, as an upload of any kind names one."""
    name = str(text(100)(raw))
    problem = certificate_name_problem(normalise_certificate_name(name))
    if problem:
        raise CellError(problem)
    return name


def certificate_column(zh: str, aliases: tuple[str, ...]) -> Column:
    """A row's certificate, by name as ``normalise_certificate_name`` matches it."""
    return Column(
        "certificate",
        zh,
        certificate_name_cell,
        aliases=aliases,
        example="Web前端开发",
        help=N_("matched ignoring spaces, bracket width, a leading 1+X and a trailing 证书"),
        choices_from=CERTIFICATE_NAMES,
    )


register(
    ImportKind(
        name="certificates",
        title="职业技能等级证书",
        model=Certificate,
        key="name",
        key_of=lambda name: normalise_certificate_name(str(name)),
        columns=(
            Column(
                "name",
                "证书名称",
                certificate_name_cell,
                aliases=("证书", "certificate"),
                example="Web前端开发",
            ),
            Column(
                "evaluation_org",
                "培训评价组织",
                text(100),
                aliases=("评价组织", "组织"),
                example="北京某某科技有限公司",
                choices_from=EVALUATION_ORG_NAMES,
            ),
            Column(
                "levels",
                "等级",
                multi(choice([lv.value for lv in LEVEL_ORDER])),
                aliases=("级别",),
                example="初级、中级、高级",
                help=N_("初级, 中级 and/or 高级, separated by 、"),
                choices=LEVEL_CHOICES,
                multiple=True,
            ),
        ),
        prepare=_prepare_certificates,
        to_values=_certificate_values,
        description="X certificates matched by normalised name",
    )
)


# --- 双师型 recognition --------------------------------------------------------------------------

BASIS_WORDS = {
    **{basis.value: basis for basis in DualBasis},
    **{name: basis for basis, name in DUAL_BASIS_NAMES.items()},
    "企业实践": DualBasis.enterprise_experience,
    "企业经历": DualBasis.enterprise_experience,
    "专业技术职务": DualBasis.professional_qualification,
    "职业资格": DualBasis.professional_qualification,
    "职业资格证书": DualBasis.professional_qualification,
    "技能等级证书": DualBasis.vocational_certificate,
    "1+x证书": DualBasis.vocational_certificate,
}


_basis = words(
    BASIS_WORDS,
    N_(
        "one of 企业实践经历 (enterprise_experience), 专业技术资格 "
        "(professional_qualification), 职业技能等级证书 (vocational_certificate)"
    ),
)


def _prepare_dual(session: Session, _principal: Principal) -> Plan:
    return Plan(existing=rows_by(session, Teacher, "staff_no"))


def _dual_values(plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    staff_no = cells["staff_no"]
    known(plan.existing, staff_no, "工号", UNKNOWN_STAFF_NO, staff_no=staff_no)
    recognised, until = cells["recognised_on"], cells.get("valid_until")
    problem = dual_period_problem(recognised, until)
    if problem:
        raise RowRefused(problem, "有效期至", str(until))
    return {
        "dual_basis": cells["basis"],
        "dual_recognised_on": recognised,
        "dual_valid_until": until,
    }


register(
    ImportKind(
        name="dual-qualifications",
        title="双师型教师认定",
        model=Teacher,
        key="staff_no",
        columns=(
            Column("staff_no", "工号", code(20), aliases=("教工号",), example="T2001"),
            Column(
                "basis",
                "认定依据",
                _basis,
                aliases=("双师型认定依据", "依据"),
                example="企业实践经历",
                help=N_("企业实践经历, 专业技术资格 or 职业技能等级证书"),
                choices=tuple(DUAL_BASIS_NAMES.values()),
            ),
            Column(
                "recognised_on",
                "认定日期",
                date_cell,
                aliases=("双师型认定日期",),
                example="2022-09-01",
            ),
            Column(
                "valid_until",
                "有效期至",
                date_cell,
                required=False,
                aliases=("双师型有效期至",),
                example="2027-08-31",
            ),
        ),
        prepare=_prepare_dual,
        to_values=_dual_values,
        description="Teachers' 双师型 recognition, matched by staff number (the teachers must "
        "exist); the academic office only",
    )
)
