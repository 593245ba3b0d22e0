"""The credit bank's read-only reports: the registry's conversion report (one row per approved
conversion, counted per rule and per course) and the figures the annual evaluation reads."""

from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, func, select

from app.applications.models import PilotApplication
from app.core.collector import collector_paused
from app.core.errors import Forbidden
from app.core.export import ExportColumn
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.listing import EXPORT_CHUNK_ROWS
from app.core.reports import TOTAL, StreamedReport, stored_text, trusted_row
from app.core.roles import Principal, Role
from app.credits.models import (
    ZERO,
    ConversionMode,
    ConversionReport,
    ConversionReportRow,
    ConversionRequest,
    ConversionRule,
    CourseCount,
    RequestStatus,
    RuleCount,
)
from app.credits.requests import with_request_parents
from app.exams.models import ExamSession, IssuedCertificate
from app.reference.models import Certificate, Course, EvaluationOrg, Level, Major, Student

REPORT_READERS = frozenset({Role.admin, Role.academic_office, Role.auditor})
REPORT_COLUMNS = [
    ExportColumn("student_no", N_("Student number")),
    ExportColumn("student_name", N_("Full name")),
    ExportColumn("major_name", N_("Major")),
    ExportColumn("cohort", N_("Cohort")),
    ExportColumn("certificate_name", N_("Certificate name")),
    ExportColumn("level", N_("Level")),
    ExportColumn("evaluation_org_name", N_("Evaluation organisation")),
    ExportColumn("certificate_number", N_("Certificate number")),
    ExportColumn("issue_date", N_("Issue date")),
    ExportColumn("course_code", N_("Course code")),
    ExportColumn("course_name", N_("Course name")),
    ExportColumn("credits", N_("Credits")),
    ExportColumn("mode", N_("Conversion mode")),
    ExportColumn("approved_on", N_("Approved on")),
]
"""The columns of the report's CSV/XLSX (its rows)."""


def report_rows(report: StreamedReport[ConversionReport]) -> Iterator[dict[str, Any]]:
    """The download's rows: one per conversion, then the totals row (Σ credits)."""
    for row in report.items():
        yield row.model_dump()
    total = report.summary()
    yield {"student_no": translate(TOTAL), "credits": total.credits}


# --- the conversion report -------------------------------------------------------------------


def _report_scope(principal: Principal) -> int | None:
    """The college a college manager's report is limited to (None: every college); other
    roles but the readers are refused."""
    if principal.role not in REPORT_READERS and principal.role != Role.college_manager:
        raise Forbidden(
            _(
                "Role {role} may not read the conversion report; allowed roles: {allowed}, "
                "college_manager (own college)",
                role=label(principal.role),
                allowed=", ".join(sorted(label(r) for r in REPORT_READERS)),
            ),
            allowed_roles=sorted(r.value for r in REPORT_READERS | {Role.college_manager}),
        )
    return principal.college_id if principal.role == Role.college_manager else None


# The level and mode of a row read as stored text (stored_text), made members by lookup:
# cheaper per row than the column type's conversion or the enum's own call.
_LEVELS = {level.value: level for level in Level}
_ROW_FIELDS = set(ConversionReportRow.model_fields)
_MODES = {mode.value: mode for mode in ConversionMode}


def _report_statement(
    year: int | None, college_id: int | None, pilot_year: int | None = None
) -> Any:
    """Approved requests with the columns a report row names (no ORM objects: a row is
    plain values), by approval date."""
    statement = select(  # type: ignore[call-overload]
        ConversionRequest.id,
        Student.student_no,
        Student.name,
        Major.code,
        Major.name,
        Student.cohort,
        Certificate.name,
        stored_text(ExamSession.level),
        EvaluationOrg.name,
        IssuedCertificate.number,
        IssuedCertificate.issue_date,
        Course.id,
        Course.code,
        Course.name,
        ConversionRule.id,
        ConversionRule.credits,
        stored_text(ConversionRule.mode),
        ConversionRequest.decided_on,
    ).select_from(ConversionRequest)
    statement = (
        with_request_parents(statement)
        .join(EvaluationOrg, col(EvaluationOrg.id) == ExamSession.evaluation_org_id)
        .where(ConversionRequest.status == RequestStatus.approved)
    )
    if year is not None:
        statement = statement.where(
            col(ConversionRequest.decided_on) >= date(year, 1, 1),
            col(ConversionRequest.decided_on) <= date(year, 12, 31),
        )
    if college_id is not None:
        statement = statement.where(Major.college_id == college_id)
    if pilot_year is not None:
        statement = statement.join(
            PilotApplication, col(PilotApplication.id) == ExamSession.application_id
        ).where(PilotApplication.year == pilot_year)
    return statement.order_by(
        col(ConversionRequest.decided_on), col(Student.student_no), col(Course.code)
    )


def _report_row(row: Any) -> ConversionReportRow:
    """A report row from a statement row, whose columns already hold the model's types (ints,
    strings, dates, Decimal credits; none NULL), the level and mode made enum members."""
    return trusted_row(
        ConversionReportRow,
        {
            "request_id": row[0],
            "student_no": row[1],
            "student_name": row[2],
            "major_code": row[3],
            "major_name": row[4],
            "cohort": row[5],
            "certificate_name": row[6],
            "level": _LEVELS[row[7]],
            "evaluation_org_name": row[8],
            "certificate_number": row[9],
            "issue_date": row[10],
            "course_code": row[12],
            "course_name": row[13],
            "credits": row[15],
            "mode": _MODES[row[16]],
            "approved_on": row[17],
        },
        _ROW_FIELDS,
    )


class _Tally:
    """The conversions and credits per rule (by rule id) and per course (by course code) of
    the rows read so far, in plain lists, made models once per rule and course."""

    def __init__(self) -> None:
        self.per_rule: dict[int, list[Any]] = {}
        self.per_course: dict[int, list[Any]] = {}

    def add(self, rows: Sequence[Any]) -> None:
        per_rule, per_course = self.per_rule, self.per_course
        for row in rows:
            cert_name, course_id, course_code, course_name = row[6], row[11], row[12], row[13]
            rule_id, credits = row[14], row[15]
            by_rule = per_rule.get(rule_id)
            if by_rule is None:
                by_rule = per_rule[rule_id] = [cert_name, course_code, course_name, 0, ZERO]
            by_rule[3] += 1
            by_rule[4] += credits
            by_course = per_course.get(course_id)
            if by_course is None:
                by_course = per_course[course_id] = [course_code, course_name, 0, ZERO]
            by_course[2] += 1
            by_course[3] += credits

    def report(self, year: int | None) -> ConversionReport:
        """The report of the rows read so far, without them (``rows`` empty)."""
        rules = [
            RuleCount(
                rule_id=rule_id,
                certificate_name=cert_name,
                course_code=code,
                course_name=name,
                conversions=n,
                credits=credits,
            )
            for rule_id, (cert_name, code, name, n, credits) in sorted(self.per_rule.items())
        ]
        courses = [
            CourseCount(
                course_id=course_id,
                course_code=code,
                course_name=name,
                conversions=n,
                credits=credits,
            )
            for course_id, (code, name, n, credits) in self.per_course.items()
        ]
        return ConversionReport(
            year=year,
            rows=[],
            per_rule=rules,
            per_course=sorted(courses, key=lambda c: c.course_code),
            conversions=sum(rule.conversions for rule in rules),
            credits=sum((rule.credits for rule in rules), ZERO),
        )


def conversion_report(
    session: Session, principal: Principal, *, year: int | None, pilot_year: int | None = None
) -> StreamedReport[ConversionReport]:
    """One row per approved (not reversed) conversion, by approval date, and the counts per
    rule and per course; a college manager sees their college's students. ``pilot_year``
    keeps the conversions of certificates from that year's pilots (as the overview counts).

    The rows are read from a server-side cursor as the answer is written, and counted per
    rule and course as they pass (one statement: the counts are those of the rows shown), so
    the report's memory does not grow with its rows."""
    college_id = _report_scope(principal)
    statement = _report_statement(year, college_id, pilot_year)
    # Executed now (a refused or failing statement fails before the answer starts); Core rows
    # (the statement selects columns, no entities): no ORM row processing.
    result = session.connection().execute(statement.execution_options(yield_per=EXPORT_CHUNK_ROWS))
    tally = _Tally()

    def batches() -> Iterator[list[ConversionReportRow]]:
        chunks = result.partitions()
        while True:
            # Paused while a chunk is fetched and built, not while it is written out (a slow
            # client would hold the pause): nothing here is cyclic, and the collections
            # 100,000 rows' objects trigger were a third of the report's time.
            with collector_paused():
                found = next(chunks, None)
                if found is None:
                    return
                tally.add(found)
                rows = [_report_row(row) for row in found]
            yield rows

    return StreamedReport(batches(), lambda: tally.report(year), ("rows",))


# --- for the annual evaluation ---------------------------------------------------------------


def _approved_by_pilot_year(year: int | None) -> Any:
    statement = (
        select(
            ExamSession.application_id,
            func.count(col(ConversionRequest.id)),
            func.sum(ConversionRule.credits),
        )
        .join(
            IssuedCertificate, col(IssuedCertificate.id) == ConversionRequest.issued_certificate_id
        )
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(ConversionRule, col(ConversionRule.id) == ConversionRequest.rule_id)
        .join(PilotApplication, col(PilotApplication.id) == ExamSession.application_id)
        .where(ConversionRequest.status == RequestStatus.approved)
        .group_by(col(ExamSession.application_id))
    )
    if year is not None:
        statement = statement.where(PilotApplication.year == year)
    return statement


def approved_conversions_by_application(session: Session, year: int | None) -> dict[int, int]:
    """Approved conversions that are not reversed, per pilot application (the pilot whose exam
    session issued the certificate), for the pilots of ``year`` (all years when None)."""
    return {
        app_id: int(count)
        for app_id, count, _credits in session.exec(_approved_by_pilot_year(year)).all()
    }


def credit_totals(session: Session, year: int | None) -> tuple[int, Decimal]:
    """(approved conversions not reversed, their credits) for the pilots of ``year``."""
    conversions = 0
    credits = ZERO
    for _app_id, count, total in session.exec(_approved_by_pilot_year(year)).all():
        conversions += int(count)
        credits += Decimal(total or 0)
    return conversions, credits.quantize(Decimal("0.1"))
