"""Load the demo data into an empty database and say how to log in."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app import plugins  # noqa: F401  (registers every import kind and flow)
from app.accounts import service as accounts
from app.accounts.models import User, UserCreate
from app.applications import service as applications
from app.applications.importers import ApplicationImportOptions, ImportStatus
from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    PilotApplication,
    PilotTeacherCreate,
    PlanCreate,
    TeacherRole,
)
from app.bases import service as bases
from app.bases.models import BaseCreate, TrainingBase
from app.committee import service as committee
from app.committee.models import DecisionIn, ExpertCreate, ExpertKind, MeetingCreate
from app.core.config import get_settings
from app.core.roles import Principal, Role
from app.credits import requests as credits
from app.credits.models import RequestCreate
from app.evaluations import service as evaluations
from app.evaluations.indicators import INDICATORS
from app.evaluations.models import CommitteeScorePut, SchemePut, Thresholds
from app.exams import service as exams
from app.exams.models import ExamSession, ExamSessionCreate, IssuedCertificate, ResultPut
from app.funding import service as funding
from app.funding.models import (
    Category,
    ExpenditureCreate,
    ExpenditureReverseBody,
    FundingKind,
    LineCreate,
    SourceCreate,
    SubsidyRunCreate,
)
from app.imports.engine import run_import
from app.imports.registry import get_kind
from app.reconciliation import service as reconciliation
from app.reference import service as reference
from app.reference.models import (
    Certificate,
    College,
    CourseCreate,
    CourseMajor,
    DualBasis,
    DualQualificationPut,
    Major,
    Student,
    Teacher,
)
from app.trainings import qualifications
from app.trainings import service as trainings
from app.trainings.models import (
    BatchCreate,
    CertifyBody,
    EnrollmentCreate,
    QualificationCreate,
    TrainingCreate,
)

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class DemoContext:
    """What the steps share: the demo password and the logins they created."""

    password: str
    logins: list[tuple[str, Role, str]] = field(default_factory=list)

    def add_user(
        self, session: Session, username: str, role: Role, full_name: str, **scope: int
    ) -> User:
        data = UserCreate.model_validate(
            {
                "username": username,
                "password": self.password,
                "role": role,
                "full_name": full_name,
                **scope,
            }
        )
        user = accounts.create_user(session, None, data)
        self.logins.append((username, role, full_name))
        return user


def _platform_users(session: Session, ctx: DemoContext) -> None:
    ctx.add_user(session, "office", Role.academic_office, "教务处 王老师")
    ctx.add_user(session, "auditor", Role.auditor, "试点工作领导小组 审计")


DEMO_IMPORTER = Principal(role=Role.academic_office, label="demo-loader")
DEMO_COLLEGE = "计算机与软件学院"

DEMO_ORGS = "名称,联系人\n北京新大陆时代教育科技有限公司,张经理\n腾讯科技（深圳）有限公司,李经理\n"
DEMO_CERTIFICATES = (
    "证书名称,培训评价组织,等级\n"
    "Web前端开发,北京新大陆时代教育科技有限公司,初级、中级、高级\n"
    "物联网智能家居系统集成和应用,北京新大陆时代教育科技有限公司,初级、中级\n"
    "云服务操作管理,腾讯科技（深圳）有限公司,初级、中级、高级\n"
)
DEMO_COURSES = (
    "课程代码,课程名称,学分,开课学院,专业\n"
    "CS101,Web前端开发基础,4,计算机与软件学院,510203、510201\n"
    "CS102,JavaScript程序设计,4,计算机与软件学院,510203\n"
    "CS201,物联网应用开发,3.5,计算机与软件学院,510102\n"
    "CS301,云计算技术与应用,3,计算机与软件学院,510202、510205\n"
)
DEMO_TEACHERS = (
    "工号,姓名,二级学院,职称\n"
    "T1001,李明,计算机与软件学院,副教授\n"
    "T1002,王芳,计算机与软件学院,讲师\n"
    "T2001,陈刚,通信学院,教授\n"
)
DEMO_STUDENT_NAMES = [
    "张伟",
    "王静",
    "李娜",
    "刘洋",
    "陈杰",
    "杨敏",
    "赵磊",
    "黄丽",
    "周涛",
    "吴敏",
]


def _demo_students_csv() -> str:
    lines = ["学号,姓名,专业代码,年级,班级"]
    majors = [("510203", "软件"), ("510201", "计应"), ("510102", "物联网")]
    for i in range(30):
        code, short = majors[i % 3]
        cohort = 2020 + i % 3
        number = f"{cohort}{code}{i + 1:03d}"
        name = DEMO_STUDENT_NAMES[i % 10] + ("" if i < 10 else str(i // 10))
        lines.append(f"{number},{name},{code},{cohort}级,{short}{cohort % 100}01班")
    return "\n".join(lines) + "\n"


def _reference_data(session: Session, ctx: DemoContext) -> None:
    """Load the reference data the way a user would: uploads through the import engine."""
    uploads = [
        ("majors", "majors-sample.tsv", (FIXTURES / "majors-sample.tsv").read_bytes()),
        ("evaluation-orgs", "orgs.csv", DEMO_ORGS.encode()),
        ("certificates", "certificates.csv", DEMO_CERTIFICATES.encode()),
        ("courses", "courses.csv", DEMO_COURSES.encode()),
        ("teachers", "teachers.csv", DEMO_TEACHERS.encode()),
        ("students", "students.csv", _demo_students_csv().encode()),
    ]
    for kind, name, content in uploads:
        report = run_import(session, DEMO_IMPORTER, get_kind(kind), name, content, dry_run=False)
        if not report.written:
            raise RuntimeError(f"demo upload {name} failed: {report.errors[:3]}")
    college = session.exec(select(College).where(College.name == DEMO_COLLEGE)).one()
    teacher = session.exec(select(Teacher).where(Teacher.staff_no == "T1001")).one()
    student = session.exec(select(Student).order_by(col(Student.student_no))).first()
    assert student is not None
    assert college.id is not None
    assert teacher.id is not None
    assert student.id is not None
    ctx.add_user(
        session, "college", Role.college_manager, "计算机与软件学院 教学秘书", college_id=college.id
    )
    ctx.add_user(session, "teacher", Role.teacher, f"教师 {teacher.name}", teacher_id=teacher.id)
    ctx.add_user(session, "student", Role.student, f"学生 {student.name}", student_id=student.id)


DEMO_PLAN_COURSES = {
    "510203": [("CS103", "响应式网页设计"), ("CS104", "前端框架应用开发")],
    "510201": [("CS105", "网页设计与制作"), ("CS106", "前端工程化实践")],
}
DEMO_PLAN_SECTIONS = {
    "programme_revision": "将 Web 前端开发职业技能等级标准（中级）融入人才培养方案",
    "teacher_training": "2 名专业教师参加培训评价组织的师资培训并取得考评员资格",
    "student_training": "第三学期集中培训 32 学时，课证融通课程同步教学",
    "exam_arrangements": "2022 年 12 月在校内考点组织考核",
    "training_resources": "前端开发实训室升级 40 个工位",
    "course_resources": "建设在线课程 1 门，题库 1 套",
    "budget_amount": "20000.00",
    "budget_text": "设备 12000 元，师资培训 5000 元，学生培训 3000 元",
}


def _pilot_applications(session: Session, ctx: DemoContext) -> None:
    """Import the 2022 一览表 as approved and file the Web front-end plans of two majors."""
    options = ApplicationImportOptions(year=2022, status=ImportStatus.approved)
    content = (FIXTURES / "applications-2022.tsv").read_bytes()
    report = run_import(
        session,
        DEMO_IMPORTER,
        get_kind("applications"),
        "applications-2022.tsv",
        content,
        dry_run=False,
        options=options,
    )
    if not report.written:
        raise RuntimeError(f"demo upload of the 2022 table failed: {report.errors[:3]}")
    college = session.exec(select(College).where(College.name == DEMO_COLLEGE)).one()
    assert college.id is not None
    web = session.exec(
        select(PilotApplication)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(Certificate.normalized_name == "web前端开发", PilotApplication.year == 2022)
    ).one()
    assert web.id is not None
    for major_code, extra_courses in DEMO_PLAN_COURSES.items():
        major = session.exec(select(Major).where(Major.code == major_code)).one()
        assert major.id is not None
        for code, name in extra_courses:
            data = CourseCreate(
                code=code,
                name=name,
                credits=Decimal(3),
                college_id=college.id,
                major_ids=[major.id],
            )
            reference.create_course(session, DEMO_IMPORTER, data)
        course_ids = session.exec(
            select(CourseMajor.course_id).where(CourseMajor.major_id == major.id)
        ).all()
        plan = applications.create_plan(
            session,
            DEMO_IMPORTER,
            PlanCreate.model_validate(
                {
                    "application_id": web.id,
                    "major_id": major.id,
                    "core_course_ids": list(course_ids)[:5],
                    **DEMO_PLAN_SECTIONS,
                }
            ),
        )
        assert plan.id is not None
        applications.plan_transition(session, DEMO_IMPORTER, plan.id, "file")


DEMO_PASSED = 6


def _exams(session: Session, ctx: DemoContext) -> None:
    """A held session of the 2022 Web front-end pilot with registrations, results and
    certificates, and an open one to register for."""
    web = session.exec(
        select(PilotApplication)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(Certificate.normalized_name == "web前端开发", PilotApplication.year == 2022)
    ).one()
    certificate = session.get(Certificate, web.certificate_id)
    assert web.id is not None and certificate is not None
    ctx.add_user(
        session,
        "org",
        Role.evaluation_org,
        "培训评价组织 北京新大陆",
        evaluation_org_id=certificate.evaluation_org_id,
    )
    today = datetime.now(ZoneInfo(get_settings().timezone)).date()
    held = exams.create_session(
        session,
        DEMO_IMPORTER,
        ExamSessionCreate(
            application_id=web.id,
            exam_date=today - timedelta(days=10),
            site="实训楼A301",
            base_id=_demo_base_id(session),
            capacity=30,
            registration_opens=today - timedelta(days=40),
            registration_closes=today - timedelta(days=20),
            fee=Decimal("260.00"),
        ),
    )
    exams.create_session(
        session,
        DEMO_IMPORTER,
        ExamSessionCreate(
            application_id=web.id,
            exam_date=today + timedelta(days=21),
            site="实训楼B204",
            capacity=30,
            registration_opens=today - timedelta(days=3),
            registration_closes=today + timedelta(days=14),
            fee=Decimal("260.00"),
        ),
    )
    assert held.id is not None
    eligible = [
        student
        for student in session.exec(select(Student).order_by(col(Student.student_no))).all()
        if student.id is not None
        and student.cohort == 2020
        and not exams.eligibility_problems(session, web, student)
    ]
    registrations = [
        exams.register(session, DEMO_IMPORTER, held.id, student.id, today - timedelta(days=30))
        for student in eligible[:8]
    ]
    lines = ["考核ID,学号,证书编号,发证日期"]
    for index, (student, registration) in enumerate(zip(eligible, registrations, strict=False)):
        assert registration.id is not None
        if index == len(registrations) - 1:
            exams.mark_absent(session, DEMO_IMPORTER, registration.id, today)
            continue
        passed = index < DEMO_PASSED
        score = Decimal(80 + index) if passed else Decimal(52)
        exams.put_result(
            session,
            DEMO_IMPORTER,
            registration.id,
            ResultPut(theory_score=score, practical_score=score, passed=passed),
            today,
        )
        if passed:
            lines.append(f"{held.id},{student.student_no},W0100122{index + 1:05d},{today}")
    report = run_import(
        session,
        DEMO_IMPORTER,
        get_kind("issued-certificates"),
        "certificates.csv",
        ("\n".join(lines) + "\n").encode(),
        dry_run=False,
    )
    if not report.written:
        raise RuntimeError(f"demo certificates failed: {report.errors[:3]}")


DemoStep = Callable[[Session, DemoContext], None]


DEMO_LINES = [
    # fund index (0 MoE, 1 school), pilot index (0 Web前端开发, 1 another), category, amount
    (0, 0, Category.equipment, "120000.00"),
    (0, 0, Category.teacher_training, "30000.00"),
    (0, 0, Category.exam_subsidy, "6000.00"),
    (0, 1, Category.student_training, "40000.00"),
    (1, 0, Category.other, "15000.00"),
    (1, 1, Category.equipment, "50000.00"),
]
DEMO_EXPENDITURES = [
    # line index, amount, date, payee, voucher, description
    (0, "86500.00", date(2022, 9, 20), "某科技有限公司", "PZ-2022-0915", "Web前端实训室电脑 30 台"),
    (
        1,
        "12800.00",
        date(2022, 7, 18),
        "北京新大陆时代教育科技有限公司",
        "PZ-2022-0716",
        "师资培训费",
    ),
    (
        1,
        "1280.00",
        date(2022, 7, 19),
        "北京新大陆时代教育科技有限公司",
        "PZ-2022-0717",
        "师资培训费（重复录入）",
    ),
    (3, "9600.00", date(2022, 10, 12), "某培训中心", "PZ-2022-1012", "学生集中培训"),
]


def _funding(session: Session, ctx: DemoContext) -> None:
    """A ¥500,000.00 MoE fund and a school fund for 2022, lines for two approved 2022 pilots,
    a few expenditures with one reversal, and the pass subsidy paid over the held session."""
    pilots = session.exec(
        select(PilotApplication)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(PilotApplication.year == 2022)
        .order_by(col(Certificate.normalized_name) != "web前端开发", col(PilotApplication.id))
        .limit(2)
    ).all()
    funds = [
        funding.create_source(
            session,
            DEMO_IMPORTER,
            SourceCreate(
                name="2022年教育部1+X证书制度试点专项经费",
                kind=FundingKind.moe_special,
                fiscal_year=2022,
                amount=Decimal("500000.00"),
                document_no="教职成司函〔2022〕8号",
            ),
        ),
        funding.create_source(
            session,
            DEMO_IMPORTER,
            SourceCreate(
                name="2022年学校1+X试点建设经费",
                kind=FundingKind.school,
                fiscal_year=2022,
                amount=Decimal("100000.00"),
            ),
        ),
    ]
    lines = [
        funding.create_line(
            session,
            DEMO_IMPORTER,
            LineCreate(
                source_id=funds[fund].id or 0,
                application_id=pilots[pilot].id or 0,
                category=category,
                amount=Decimal(amount),
            ),
        )
        for fund, pilot, category, amount in DEMO_LINES
    ]
    entries = [
        funding.create_expenditure(
            session,
            DEMO_IMPORTER,
            ExpenditureCreate(
                line_id=lines[line].id or 0,
                amount=Decimal(amount),
                spent_on=spent_on,
                payee=payee,
                voucher_no=voucher,
                description=description,
                base_id=_demo_base_id(session) if line == 0 else None,
            ),
            spent_on,
        )
        for line, amount, spent_on, payee, voucher, description in DEMO_EXPENDITURES
    ]
    funding.reverse_expenditure(
        session,
        DEMO_IMPORTER,
        entries[2].id or 0,
        ExpenditureReverseBody(reason="重复录入，红冲", spent_on=date(2022, 7, 20)),
        date(2022, 7, 20),
    )
    held = session.exec(
        select(ExamSession)
        .where(ExamSession.application_id == pilots[0].id)
        .order_by(col(ExamSession.exam_date))
    ).first()
    assert held is not None and held.id is not None
    today = datetime.now(ZoneInfo(get_settings().timezone)).date()
    funding.run_subsidies(
        session,
        DEMO_IMPORTER,
        SubsidyRunCreate(
            session_id=held.id, line_id=lines[2].id or 0, amount_per_student=Decimal("200.00")
        ),
        today,
        dry_run=False,
    )


DEMO_TRAININGS = [
    # staff no, certificate number (None: still in progress), 考评员 number, assigned evaluator
    ("T1001", "WEB-ZJ-2022-0001", "KPY-2022-017", True),
    ("T1002", "WEB-ZJ-2022-0002", None, False),
    ("T2001", None, None, True),
]


def _trainings(session: Session, ctx: DemoContext) -> None:
    """Three teachers on the Web front-end pilot, two of them certified (coverage 66.7 %, the
    third named as missing), and a student training batch with the eligible students."""
    web = session.exec(
        select(PilotApplication)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(Certificate.normalized_name == "web前端开发", PilotApplication.year == 2022)
    ).one()
    assert web.id is not None
    teacher_ids = []
    for staff_no, number, evaluator_no, evaluator in DEMO_TRAININGS:
        teacher = session.exec(select(Teacher).where(Teacher.staff_no == staff_no)).one()
        assert teacher.id is not None
        teacher_ids.append(teacher.id)
        roles = [TeacherRole.trainer] + ([TeacherRole.evaluator] if evaluator else [])
        applications.add_teacher(
            session, DEMO_IMPORTER, web.id, PilotTeacherCreate(teacher_id=teacher.id, roles=roles)
        )
        training = trainings.create_training(
            session,
            DEMO_IMPORTER,
            TrainingCreate(
                teacher_id=teacher.id,
                certificate_id=web.certificate_id,
                level=web.level,
                provider="北京新大陆时代教育科技有限公司",
                start_date=date(2022, 7, 11),
                end_date=date(2022, 7, 15),
                hours=40,
            ),
        )
        assert training.id is not None
        trainings.transition_training(
            session, DEMO_IMPORTER, training.id, "start", date(2022, 7, 11)
        )
        if number:
            trainings.transition_training(
                session,
                DEMO_IMPORTER,
                training.id,
                "certify",
                date(2022, 7, 15),
                CertifyBody(
                    trainer_certificate_no=number,
                    evaluator_qualification_no=evaluator_no,
                    certified_on=date(2022, 7, 15),
                    valid_until=date(2030, 7, 14),
                ),
            )
    _evaluators_and_dual(session, web)
    batch = trainings.create_batch(
        session,
        DEMO_IMPORTER,
        BatchCreate(
            application_id=web.id,
            title="Web前端开发（中级）考前集中培训",
            hours=32,
            start_date=date(2022, 10, 10),
            end_date=date(2022, 11, 4),
            instructor_ids=teacher_ids[:2],
        ),
    )
    assert batch.id is not None
    students = session.exec(
        select(Student)
        .join(ApplicationMajor, col(ApplicationMajor.major_id) == Student.major_id)
        .join(ApplicationCohort, col(ApplicationCohort.cohort) == Student.cohort)
        .where(
            ApplicationMajor.application_id == web.id,
            ApplicationCohort.application_id == web.id,
        )
        .order_by(col(Student.student_no))
    ).all()
    for index, student in enumerate(students):
        assert student.id is not None
        trainings.add_enrollment(
            session,
            DEMO_IMPORTER,
            batch.id,
            EnrollmentCreate(
                student_id=student.id, attended_hours=32 - index % 3 * 4, completed=index % 3 != 2
            ),
        )


DEMO_DUAL = [
    # staff no, 双师型 basis, recognised on
    ("T1001", DualBasis.enterprise_experience, date(2021, 9, 1)),
    ("T2001", DualBasis.professional_qualification, date(2020, 12, 15)),
]


def _evaluators_and_dual(session: Session, web: PilotApplication) -> None:
    """李明 (T1001) holds the 考评员 qualification his certified training earned, with its own
    validity; 陈刚 (T2001) is assigned as an evaluator too but is not qualified yet (evaluator
    coverage 50 %). 李明 and 陈刚 are 双师型 teachers."""
    qualifications.create_qualification(
        session,
        DEMO_IMPORTER,
        QualificationCreate(
            teacher_id=session.exec(select(Teacher.id).where(Teacher.staff_no == "T1001")).one()
            or 0,
            certificate_id=web.certificate_id,
            level=web.level,
            qualification_no="KPY-2022-017",
            issuer="北京新大陆时代教育科技有限公司",
            issued_on=date(2022, 7, 15),
            valid_until=date(2030, 7, 14),
        ),
    )
    for staff_no, basis, recognised_on in DEMO_DUAL:
        teacher = session.exec(select(Teacher).where(Teacher.staff_no == staff_no)).one()
        reference.set_dual_qualification(
            session,
            DEMO_IMPORTER,
            teacher.id or 0,
            DualQualificationPut(basis=basis, recognised_on=recognised_on),
            None,
        )


DEMO_BASE = "Web前端开发产教融合实训基地"


def _bases(session: Session, ctx: DemoContext) -> None:
    """A training base built with two enterprises for the Web front-end pilot: 40 stations, a
    registered exam site (the held exam sits there, and its computers are the equipment spend
    the funding report shows by base)."""
    web = session.exec(
        select(PilotApplication)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(Certificate.normalized_name == "web前端开发", PilotApplication.year == 2022)
    ).one()
    college = session.exec(select(College).where(College.name == DEMO_COLLEGE)).one()
    bases.create_base(
        session,
        DEMO_IMPORTER,
        BaseCreate(
            name=DEMO_BASE,
            college_id=college.id,
            on_campus=True,
            stations=40,
            exam_site=True,
            partners=["北京新大陆时代教育科技有限公司", "腾讯科技（深圳）有限公司"],
            certificate_ids=[web.certificate_id],
            application_ids=[web.id or 0],
            notes="实训楼A301、A302，教学实训与证书培训考核共用",
        ),
    )


def _demo_base_id(session: Session) -> int:
    base_id = session.exec(select(TrainingBase.id).where(TrainingBase.name == DEMO_BASE)).one()
    assert base_id is not None
    return base_id


DEMO_CLAIMS = ("C5102031", "C5102033")
"""The demo student's conversions: the first approved, the second left for review."""


def _credit_bank(session: Session, ctx: DemoContext) -> None:
    """The sample conversion rules through the import engine; the demo student (login
    ``student``) converts their Web前端开发 certificate: one course approved, one pending,
    one more still open to claim."""
    report = run_import(
        session,
        DEMO_IMPORTER,
        get_kind("credit-rules"),
        "credit-rules-sample.tsv",
        (FIXTURES / "credit-rules-sample.tsv").read_bytes(),
        dry_run=False,
    )
    if not report.written:
        raise RuntimeError(f"demo credit rules failed: {report.errors[:3]}")
    student = session.exec(select(Student).order_by(col(Student.student_no))).first()
    assert student is not None and student.id is not None
    issued = session.exec(
        select(IssuedCertificate)
        .where(IssuedCertificate.student_id == student.id)
        .order_by(col(IssuedCertificate.id))
    ).first()
    if issued is None or issued.id is None:
        raise RuntimeError(f"demo student {student.student_no} holds no issued certificate")
    options = credits.conversion_options(session, DEMO_IMPORTER, student.id).items
    by_code = {option.course_code: option for option in options}
    today = datetime.now(ZoneInfo(get_settings().timezone)).date()
    for index, course_code in enumerate(DEMO_CLAIMS):
        option = by_code[course_code]
        request = credits.create_request(
            session,
            DEMO_IMPORTER,
            RequestCreate(
                student_id=student.id,
                issued_certificate_id=option.issued_certificate_id,
                rule_id=option.rule_id,
                note="持 1+X Web前端开发（中级）证书申请学分转换",
            ),
        )
        assert request.id is not None
        if index == 0:
            credits.approve(session, DEMO_IMPORTER, request.id, today)


DEMO_EXPERTS = [
    ("李建国", "北京新大陆时代科技有限公司", ExpertKind.evaluation_org, "培训评价组织 考评专家"),
    ("陈思远", "阿里巴巴（中国）有限公司", ExpertKind.enterprise, "高级工程师"),
    ("周敏", "本校 教务处", ExpertKind.school, "副教授"),
]


def _evaluation(session: Session, ctx: DemoContext) -> None:
    """The 2022 scheme with a plan deadline, the evaluations computed (not finalized, so the
    office can still score and recompute), committee scores for the Web front-end pilot and
    two others, three experts and a meeting with decisions."""
    timezone = get_settings().timezone
    today = datetime.now(ZoneInfo(timezone)).date()
    scheme = SchemePut(
        weights={i.key: i.default_weight for i in INDICATORS},
        committee_weight=20,
        thresholds=Thresholds(excellent=Decimal(90), good=Decimal(75), qualified=Decimal(60)),
        plan_deadline=today,
    )
    evaluations.put_scheme(session, DEMO_IMPORTER, 2022, scheme, None, today, timezone)
    run = evaluations.compute_year(session, DEMO_IMPORTER, 2022, today, timezone)
    web = session.exec(
        select(PilotApplication.id)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(Certificate.normalized_name == "web前端开发", PilotApplication.year == 2022)
    ).one()
    others = [e for e in run.evaluations if e.application_id != web][:2]
    scores = [(e.id, Decimal(60), "尚未启动，限期整改") for e in others]
    web_evaluation = next(e for e in run.evaluations if e.application_id == web)
    scores.append((web_evaluation.id, Decimal(88), "方案、师资、考核推进扎实"))
    for evaluation_id, score, comments in scores:
        evaluations.put_committee_score(
            session,
            DEMO_IMPORTER,
            evaluation_id,
            CommitteeScorePut(score=score, comments=comments),
            None,
        )
    expert_ids = []
    for name, organisation, kind, title in DEMO_EXPERTS:
        expert = committee.create_expert(
            session,
            DEMO_IMPORTER,
            ExpertCreate(name=name, organisation=organisation, kind=kind, title=title),
        )
        assert expert.id is not None
        expert_ids.append(expert.id)
    committee.create_meeting(
        session,
        DEMO_IMPORTER,
        MeetingCreate(
            meeting_date=today,
            topic="2022 年度 1+X 试点绩效考核评审会",
            location="行政楼 301 会议室",
            attendee_ids=expert_ids,
            minutes="审议 2022 年度各试点考核指标，评定专家委员会评分。",
            decisions=[
                DecisionIn(
                    text="未报备方案的试点一个月内完成整改",
                    owner="各二级学院",
                    due_date=today + timedelta(days=30),
                ),
                DecisionIn(text="补齐 Web 前端开发试点的师资培训", owner="计算机与软件学院"),
            ],
        ),
    )


DEMO_NATIONAL_LIST = "national-results-2022.csv"


def _reconciliation(session: Session, _ctx: DemoContext) -> None:
    """The national platform's list for the Web front-end exam, compared with the records
    here: one row the same, rows differing in score, issue date, certificate number and
    result, one only on the platform, one result only here (fixtures/national-results-2022.csv)."""
    content = (FIXTURES / DEMO_NATIONAL_LIST).read_bytes()
    reconciliation.reconcile(
        session, DEMO_IMPORTER, 2022, DEMO_NATIONAL_LIST, content, get_settings().secret_key
    )


STEPS: list[DemoStep] = [
    _platform_users,
    _reference_data,
    _pilot_applications,
    _trainings,
    _bases,
    _exams,
    _credit_bank,
    _funding,
    _evaluation,
    _reconciliation,
]


@dataclass
class DemoResult:
    created: bool
    admin_username: str
    password: str | None
    logins: list[tuple[str, Role, str]]


def load_demo(session: Session, admin_username: str, password: str) -> DemoResult:
    """Create the admin and run every demo step, unless the database already has users."""
    if session.exec(select(User.id).limit(1)).first() is not None:
        return DemoResult(created=False, admin_username=admin_username, password=None, logins=[])
    ctx = DemoContext(password=password)
    ctx.add_user(session, admin_username, Role.admin, "Administrator")
    for step in STEPS:
        step(session, ctx)
    return DemoResult(
        created=True, admin_username=admin_username, password=password, logins=ctx.logins
    )


def credentials_file(database_url: str) -> Path:
    """Where ``make run`` keeps the demo password, beside the SQLite file (mode 600)."""
    base = Path("data")
    if database_url.startswith("sqlite:///"):
        base = Path(database_url.removeprefix("sqlite:///")).parent
    return base / "demo-login.txt"


def remember_password(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
