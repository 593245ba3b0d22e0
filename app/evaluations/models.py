"""The annual performance evaluation (绩效考核): each year's scheme (weights, rating thresholds,
plan deadline) and one evaluation per approved pilot, frozen when the year is finalized."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints, model_validator
from sqlmodel import JSON, Field

from app.applications.models import MAX_YEAR, MIN_YEAR, Tier
from app.core.i18n import N_, _
from app.core.labels import enum_labels
from app.core.models import Schema, Versioned, enum_type
from app.core.types import UTCDateTime
from app.reference.models import NO_NUL, Level

SCORE_PLACE = Decimal("0.1")

Weight = Annotated[int, Field(ge=0, le=100, description="A whole percentage, 0–100")]
Points = Annotated[
    Decimal, Field(ge=0, le=100, max_digits=4, decimal_places=1, description="0–100, one decimal")
]
Comments = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000, pattern=NO_NUL)]


class Rating(StrEnum):
    """优秀 ≥ excellent threshold, 良好 ≥ good, 合格 ≥ qualified, else 不合格."""

    excellent = "优秀"
    good = "良好"
    qualified = "合格"
    failed = "不合格"


RATING_LABELS = enum_labels(
    Rating,
    {
        Rating.excellent: N_("Excellent"),
        Rating.good: N_("Good"),
        Rating.qualified: N_("Qualified"),
        Rating.failed: N_("Unqualified"),
    },
)

# --- tables ----------------------------------------------------------------------------------


class EvaluationScheme(Versioned, table=True):
    """One year's weights, thresholds and plan deadline; ``finalized_at`` freezes the year."""

    __tablename__ = "evaluation_schemes"
    __table_args__ = (
        sa.CheckConstraint(
            "threshold_qualified < threshold_good AND threshold_good < threshold_excellent",
            name="thresholds_ordered",
        ),
        sa.CheckConstraint("committee_weight BETWEEN 0 AND 100", name="committee_weight_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(unique=True)
    weights: dict[str, int] = Field(sa_type=JSON, description="Indicator key → weight")
    committee_weight: int
    threshold_excellent: Decimal = Field(sa_type=sa.Numeric(4, 1))
    threshold_good: Decimal = Field(sa_type=sa.Numeric(4, 1))
    threshold_qualified: Decimal = Field(sa_type=sa.Numeric(4, 1))
    plan_deadline: date | None = None
    is_default: bool = Field(default=True)
    finalized_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Evaluation(Versioned, table=True):
    """One pilot's evaluation for its year: the indicator figures as last computed, the
    committee's score, the weighted total, rating and rank."""

    __tablename__ = "evaluations"
    __table_args__ = (
        sa.CheckConstraint("committee_score BETWEEN 0 AND 100", name="committee_score_range"),
        sa.CheckConstraint("total BETWEEN 0 AND 100", name="total_range"),
        sa.Index("ix_evaluations_year_rank", "year", "rank"),
    )

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    application_id: int = Field(foreign_key="pilot_applications.id", unique=True)
    indicators: list[dict[str, Any]] = Field(sa_type=JSON)
    committee_score: Decimal | None = Field(default=None, sa_type=sa.Numeric(4, 1))
    committee_comments: str | None = Field(default=None, max_length=4000)
    weight_counted: int = 0
    total: Decimal | None = Field(default=None, sa_type=sa.Numeric(4, 1))
    rating: Rating | None = Field(default=None, sa_type=enum_type(Rating))
    needs_rectification: bool = False
    rank: int | None = None
    computed_at: datetime = Field(sa_type=UTCDateTime)
    finalized_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- schemes ---------------------------------------------------------------------------------


class Thresholds(Schema):
    excellent: Points = Field(description="优秀 from this total up")
    good: Points = Field(description="良好 from this total up")
    qualified: Points = Field(description="合格 from this total up; below it 不合格")

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if not self.qualified < self.good < self.excellent:
            raise ValueError(_("thresholds must be ordered: qualified < good < excellent"))
        return self


class SchemePut(Schema):
    weights: dict[str, Weight] = Field(
        description="A weight for every indicator key (see GET for the keys); together with "
        "`committee_weight` they sum to 100"
    )
    committee_weight: Weight = Field(description="The committee score's weight")
    thresholds: Thresholds
    plan_deadline: date | None = Field(
        default=None,
        description="Plans filed by the end of this day (school time zone) count as on time; "
        "null: the on-time indicator is missing",
    )


class SchemeWeight(Schema):
    key: str
    label: str
    unit: str
    weight: int
    scoring: str = Field(description="How the indicator's value becomes a 0–100 score")
    missing_when: str = Field(description="When the indicator is missing (null)")


class SchemePublic(Schema):
    year: int
    is_default: bool = Field(
        description="True while the year has the documented defaults (nothing was PUT)"
    )
    stored: bool = Field(description="False: no scheme is stored for the year yet")
    weights: list[SchemeWeight]
    committee_weight: int
    thresholds: Thresholds
    plan_deadline: date | None
    finalized_at: datetime | None = Field(description="Set once the year is finalized (frozen)")
    version: int = Field(description="0 while nothing is stored")


# --- evaluations -----------------------------------------------------------------------------


class IndicatorFigure(Schema):
    key: str
    label: str
    unit: str
    value: Decimal | None = Field(description="The measured value; null: missing (not 0)")
    score: Decimal | None = Field(description="0–100; null when the value is missing")
    weight: int = Field(description="The weight this indicator had in the year's scheme")
    counted: bool = Field(description="Whether it counted in the total (present and weighted)")


class CommitteeScorePut(Schema):
    score: Points = Field(description="The expert committee's score, 0–100")
    comments: Comments | None = Field(default=None, description="The committee's comments")


class EvaluationPublic(Schema):
    id: int
    year: int
    application_id: int
    certificate_name: str
    level: Level
    tier: Tier
    major_names: list[str]
    headcount: int
    indicators: list[IndicatorFigure]
    committee_score: Decimal | None
    committee_comments: str | None
    committee_weight: int
    weight_counted: int = Field(
        description="Σ weights of what counted (present indicators and, once entered, the "
        "committee score); the total is re-scaled by it"
    )
    total: Decimal | None = Field(
        description="Σ weight × score over what counted ÷ weight_counted, one decimal; null "
        "when nothing counted"
    )
    rating: Rating | None
    needs_rectification: bool = Field(description="True for 不合格 (整改)")
    provisional: bool = Field(description="True until the committee score is entered")
    rank: int | None = Field(description="Rank by total within the year (ties share a rank)")
    computed_at: datetime
    finalized_at: datetime | None
    allowed_actions: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


class EvaluationFilters(BaseModel):
    """Filters of the evaluations list."""

    year: int | None = Field(None, ge=MIN_YEAR, le=MAX_YEAR, description="The pilot year")
    rating: Rating | None = Field(None, description="Only evaluations of this rating")
    needs_rectification: bool | None = Field(
        None, description="true: only those flagged for 整改; false: only those not flagged"
    )


class EvaluationRun(Schema):
    """A year's evaluations after compute or finalize, ranked."""

    year: int
    finalized_at: datetime | None
    evaluations: list[EvaluationPublic]
