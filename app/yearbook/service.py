"""The year's report, gathered from the service function of each area's own report, so every
figure in it is the one that report answers (one source of truth)."""

from datetime import date

from sqlmodel import Session

from app.committee import service as committee
from app.committee.models import MeetingFilters
from app.core.errors import Forbidden
from app.core.i18n import _
from app.core.labels import label
from app.core.reports import StreamedReport
from app.core.roles import READ_ALL, Principal
from app.core.types import utcnow
from app.credits import reports as credits
from app.evaluations import service as evaluations
from app.exams import reports as exams
from app.exams.models import FunnelGroupBy
from app.funding import reports as funding
from app.funding.models import FundingGroupBy
from app.trainings import reports as trainings
from app.yearbook.models import Cover, Funds, YearReport

READERS = READ_ALL


def require_reader(principal: Principal) -> None:
    """403 unless ``principal`` reads everything (the office, auditors, admins)."""
    if principal.role not in READERS:
        raise Forbidden(
            _(
                "Role {role} may not read the year's report; allowed roles: academic_office, "
                "auditor, admin",
                role=label(principal.role),
            ),
            allowed_roles=sorted(r.value for r in READERS),
        )


def year_report(
    session: Session, principal: Principal, *, year: int, today: date, school: str
) -> StreamedReport[YearReport]:
    """Every area of ``year`` as its own report answers it. The credit bank's conversions come
    one by one as the answer is written (:class:`StreamedReport`): the JSON streams them, the
    workbook reads them for their counts (``drained()``); so the year's report does not hold a
    province's conversions in memory."""
    require_reader(principal)
    since = date(year, 1, 1)
    statement = committee.MEETINGS.scoped(session, principal, MeetingFilters(date_from=since))
    meetings = session.exec(statement.order_by(*committee.MEETINGS.order)).all()
    cover = Cover(
        school=school,
        year=year,
        generated_at=utcnow(),
        as_of=today,
        filters={
            _("Pilots"): _("the {year} pilots approved or closed, per pilot", year=year),
            _("Teachers"): _(
                "the {year} pilots; trainer certificates valid on {today}",
                year=year,
                today=today.isoformat(),
            ),
            _("Funds"): _("the funds of fiscal year {year}, per fund and per category", year=year),
            _("Credit bank"): _(
                "approved conversions (not reversed) of certificates from the {year} pilots",
                year=year,
            ),
            _("Evaluation"): _("the {year} evaluations and their ranking", year=year),
            _("Expert committee"): _(
                "meetings and decisions from {since} on", since=since.isoformat()
            ),
        },
    )
    pilots = exams.funnel(session, principal, year=year, group_by=FunnelGroupBy.application)
    teachers = trainings.coverage_report(session, principal, today=today, year=year)
    funds = Funds(
        by_source=funding.report(session, principal, year=year, group_by=FundingGroupBy.source),
        by_category=funding.report(session, principal, year=year, group_by=FundingGroupBy.category),
    )
    evaluation = evaluations.year_run(session, principal, year)
    meeting_list = committee.meeting_publics(session, list(meetings))
    # Last: its rows are read from a cursor while the answer is written.
    conversions = credits.conversion_report(session, principal, year=None, pilot_year=year)

    def summary() -> YearReport:
        return YearReport(
            cover=cover,
            pilots=pilots,
            teachers=teachers,
            funds=funds,
            credits=conversions.summary(),
            evaluation=evaluation,
            meetings=meeting_list,
        )

    return StreamedReport(conversions.batches, summary, ("credits", "rows"))
