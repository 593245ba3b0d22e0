"""The year's report, gathered from the service function of each area's own report, so every
figure in it is the one that report answers (one source of truth)."""

from datetime import date

from sqlmodel import Session

from app.committee import service as committee
from app.committee.models import MeetingFilters
from app.core.errors import Forbidden
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


def year_report(
    session: Session, principal: Principal, *, year: int, today: date, school: str
) -> YearReport:
    """Every area of ``year`` as its own report answers it."""
    if principal.role not in READERS:
        raise Forbidden(
            f"Role {principal.role.value} may not read the year's report; allowed roles: "
            "academic_office, auditor, admin",
            allowed_roles=sorted(r.value for r in READERS),
        )
    since = date(year, 1, 1)
    statement = committee.MEETINGS.scoped(session, principal, MeetingFilters(date_from=since))
    meetings = session.exec(statement.order_by(*committee.MEETINGS.order)).all()
    return YearReport(
        cover=Cover(
            school=school,
            year=year,
            generated_at=utcnow(),
            as_of=today,
            filters={
                "试点": f"{year} 年度已批准及已结束的试点（按试点项目）",
                "师资": f"{year} 年度试点，证书有效性按 {today.isoformat()} 判断",
                "经费": f"{year} 财政年度的经费来源，按来源与按类别",
                "学分银行": f"{year} 年度试点所发证书的已批准转换（未冲销）",
                "绩效考核": f"{year} 年度绩效考核及排名",
                "专家委员会": f"{since.isoformat()} 起的例会与决议",
            },
        ),
        pilots=exams.funnel(session, principal, year=year, group_by=FunnelGroupBy.application),
        teachers=trainings.coverage_report(session, principal, today=today, year=year),
        funds=Funds(
            by_source=funding.report(session, principal, year=year, group_by=FundingGroupBy.source),
            by_category=funding.report(
                session, principal, year=year, group_by=FundingGroupBy.category
            ),
        ),
        credits=credits.conversion_report(session, principal, year=None, pilot_year=year),
        evaluation=evaluations.year_run(session, principal, year),
        meetings=committee.meeting_publics(session, list(meetings)),
    )
