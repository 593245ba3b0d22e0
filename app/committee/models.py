"""The expert advisory committee (专家顾问委员会): its experts and its regular meetings (例会)
with attendees, minutes and decisions."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints, field_validator
from sqlmodel import Field, SQLModel

from app.core.i18n import N_
from app.core.labels import enum_labels
from app.core.listing import IdFilter
from app.core.models import PatchModel, Schema, Versioned, enum_type
from app.reference.models import NO_NUL, RefId

MAX_ATTENDEES = 100
MAX_DECISIONS = 50

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]
Organisation = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]
Topic = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000, pattern=NO_NUL)]
DecisionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=NO_NUL)
]
Owner = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]


class ExpertKind(StrEnum):
    """评价组织专家 / 龙头企业专家 / 学校专家."""

    evaluation_org = "evaluation_org"
    enterprise = "enterprise"
    school = "school"


EXPERT_KIND_LABELS = enum_labels(
    ExpertKind,
    {
        ExpertKind.evaluation_org: N_("Evaluation organisation expert"),
        ExpertKind.enterprise: N_("Leading enterprise expert"),
        ExpertKind.school: N_("School expert"),
    },
)

# --- tables ----------------------------------------------------------------------------------


class Expert(Versioned, table=True):
    __tablename__ = "experts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    organisation: str = Field(max_length=200)
    kind: ExpertKind = Field(sa_type=enum_type(ExpertKind), index=True)
    title: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=200)
    active: bool = True


class Meeting(Versioned, table=True):
    __tablename__ = "meetings"

    id: int | None = Field(default=None, primary_key=True)
    meeting_date: date = Field(index=True)
    topic: str = Field(max_length=200)
    location: str | None = Field(default=None, max_length=200)
    minutes: str | None = Field(default=None, max_length=10000)


class MeetingAttendee(SQLModel, table=True):
    __tablename__ = "meeting_attendees"

    meeting_id: int = Field(foreign_key="meetings.id", primary_key=True, ondelete="CASCADE")
    expert_id: int = Field(foreign_key="experts.id", primary_key=True, index=True)


class MeetingDecision(SQLModel, table=True):
    """A decision of a meeting, with who carries it out and by when."""

    __tablename__ = "meeting_decisions"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meetings.id", index=True, ondelete="CASCADE")
    position: int
    text: str = Field(max_length=2000)
    owner: str = Field(max_length=100)
    due_date: date | None = None
    done: bool = False


# --- expert schemas --------------------------------------------------------------------------


class ExpertCreate(Schema):
    name: Name
    organisation: Organisation = Field(description="Their organisation or company")
    kind: ExpertKind = Field(
        description="evaluation_org (评价组织), enterprise (龙头企业) or school (学校)"
    )
    title: Short | None = Field(default=None, description="Title or position, e.g. 高级工程师")
    contact: Short | None = Field(default=None, description="Phone or e-mail")
    active: bool = Field(default=True, description="False: no longer on the committee")


class ExpertUpdate(PatchModel):
    NULLABLE = frozenset({"title", "contact"})

    name: Name | None = None
    organisation: Organisation | None = None
    kind: ExpertKind | None = None
    title: Short | None = None
    contact: Short | None = None
    active: bool | None = None


class ExpertFilters(BaseModel):
    """Filters of the experts list."""

    kind: ExpertKind | None = Field(None, description="Only experts of this kind")
    active: bool | None = Field(None, description="true: only active experts; false: only former")
    q: str | None = Field(None, max_length=100, description="Part of the name or organisation")


class ExpertPublic(Schema):
    id: int
    name: str
    organisation: str
    kind: ExpertKind
    title: str | None
    contact: str | None
    active: bool
    meetings_attended: int
    version: int
    created_at: datetime
    updated_at: datetime


# --- meeting schemas -------------------------------------------------------------------------


class DecisionIn(Schema):
    text: DecisionText = Field(description="What was decided")
    owner: Owner = Field(description="Who carries it out (a person or an office)")
    due_date: date | None = Field(default=None, description="By when")
    done: bool = False


class DecisionPublic(Schema):
    id: int
    text: str
    owner: str
    due_date: date | None
    done: bool


def _distinct(value: list[int] | None) -> list[int] | None:
    return None if value is None else sorted(set(value))


class MeetingCreate(Schema):
    meeting_date: date = Field(description="The day of the meeting")
    topic: Topic
    location: Short | None = None
    attendee_ids: list[RefId] = Field(
        default_factory=list, max_length=MAX_ATTENDEES, description="Experts who attended"
    )
    minutes: Text | None = Field(default=None, description="The minutes (会议纪要)")
    decisions: list[DecisionIn] = Field(default_factory=list, max_length=MAX_DECISIONS)

    @field_validator("attendee_ids", mode="after")
    @classmethod
    def _sorted(cls, value: list[int]) -> list[int]:
        return sorted(set(value))


class MeetingUpdate(PatchModel):
    NULLABLE = frozenset({"location", "minutes"})

    meeting_date: date | None = None
    topic: Topic | None = None
    location: Short | None = None
    attendee_ids: list[RefId] | None = Field(
        default=None, max_length=MAX_ATTENDEES, description="Replaces the attendees"
    )
    minutes: Text | None = None
    decisions: list[DecisionIn] | None = Field(
        default=None, max_length=MAX_DECISIONS, description="Replaces the decisions"
    )

    @field_validator("attendee_ids", mode="after")
    @classmethod
    def _sorted(cls, value: list[int] | None) -> list[int] | None:
        return _distinct(value)


class AttendeePublic(Schema):
    id: int
    name: str
    organisation: str
    kind: ExpertKind


class MeetingPublic(Schema):
    id: int
    meeting_date: date
    topic: str
    location: str | None
    attendees: list[AttendeePublic]
    minutes: str | None
    decisions: list[DecisionPublic]
    open_decisions: int = Field(description="Decisions not done yet")
    version: int
    created_at: datetime
    updated_at: datetime


class MeetingRow(MeetingPublic):
    """A meeting as the list answers it: its JSON is a ``MeetingPublic``; the export also
    writes the attendees' names and one line per decision."""

    attendee_names: list[str]
    decision_lines: str


class MeetingFilters(BaseModel):
    """Filters of the meetings list."""

    date_from: date | None = Field(None, description="Meetings on or after this day")
    date_to: date | None = Field(None, description="Meetings on or before this day")
    expert_id: IdFilter = Field(None, description="Meetings this expert attended")
