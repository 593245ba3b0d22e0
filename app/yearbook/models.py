"""The year's report (年度报告): every area's figures for one pilot year in one document, as
the owning reports answer them."""

from datetime import date, datetime

from sqlmodel import Field

from app.committee.models import MeetingPublic
from app.core.models import Schema
from app.credits.models import ConversionReport
from app.evaluations.models import EvaluationRun
from app.exams.models import FunnelReport
from app.funding.models import FundingReport
from app.trainings.models import TeacherCoverageReport


class Cover(Schema):
    school: str
    year: int
    generated_at: datetime
    as_of: date = Field(description="Today in the school's time zone (validity is judged on it)")
    filters: dict[str, str] = Field(description="What each area was read with, in words")


class Funds(Schema):
    by_source: FundingReport
    by_category: FundingReport


class YearReport(Schema):
    """The workbook's content as one JSON document: each part is the JSON of the report it
    comes from (the funnel by pilot, teacher coverage, funding by source and by category, the
    credit-bank conversions of the year's pilots, the year's evaluations and the committee's
    meetings from the year on)."""

    cover: Cover
    pilots: FunnelReport
    teachers: TeacherCoverageReport
    funds: Funds
    credits: ConversionReport
    evaluation: EvaluationRun
    meetings: list[MeetingPublic]
