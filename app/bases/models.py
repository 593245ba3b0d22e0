"""Training bases (实训基地): name, on or off campus, the enterprises they are built with, the
certificates and pilots they serve, their stations (工位, the capacity) and whether they are a
registered exam site (考点)."""

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from pydantic import StringConstraints
from sqlmodel import Field, SQLModel

from app.core.listing import IdFilter, TextFilter, UpdatedSince
from app.core.models import PatchModel, Schema, Versioned
from app.reference.models import NO_NUL, Name, RefId

MAX_STATIONS = 100_000
MAX_PARTNERS = 20
MAX_LINKS = 200

Stations = Annotated[int, Field(ge=1, le=MAX_STATIONS, description="Stations (工位), more than 0")]
Partner = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=NO_NUL)]


class TrainingBase(Versioned, table=True):
    """A training base. ``college_id`` is the college that runs it (null: a school-level base,
    run by the academic office)."""

    __tablename__ = "training_bases"
    __table_args__ = (sa.CheckConstraint("stations > 0", name="stations_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    college_id: int | None = Field(default=None, foreign_key="colleges.id", index=True)
    on_campus: bool = True
    stations: int
    exam_site: bool = False
    notes: str | None = Field(default=None, max_length=2000)


class TrainingBasePartner(SQLModel, table=True):
    """An enterprise a base is built with (合作企业)."""

    __tablename__ = "training_base_partners"

    base_id: int = Field(foreign_key="training_bases.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(max_length=100, primary_key=True)


class TrainingBaseCertificate(SQLModel, table=True):
    """A certificate a base trains and examines for."""

    __tablename__ = "training_base_certificates"

    base_id: int = Field(foreign_key="training_bases.id", primary_key=True, ondelete="CASCADE")
    certificate_id: int = Field(foreign_key="certificates.id", primary_key=True, index=True)


class TrainingBaseApplication(SQLModel, table=True):
    """A pilot a base serves."""

    __tablename__ = "training_base_applications"

    base_id: int = Field(foreign_key="training_bases.id", primary_key=True, ondelete="CASCADE")
    application_id: int = Field(
        foreign_key="pilot_applications.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class BaseCreate(Schema):
    name: Name = Field(description="The base's name, unique")
    college_id: RefId | None = Field(
        default=None,
        description="The college that runs it; null: a school-level base (academic office)",
    )
    on_campus: bool = Field(default=True, description="校内 (true) or 校外 (false)")
    stations: Stations
    exam_site: bool = Field(default=False, description="A registered exam site (考点)")
    partners: list[Partner] = Field(
        default_factory=list, max_length=MAX_PARTNERS, description="Partner enterprises"
    )
    certificate_ids: list[RefId] = Field(
        default_factory=list, max_length=MAX_LINKS, description="Certificates it serves"
    )
    application_ids: list[RefId] = Field(
        default_factory=list, max_length=MAX_LINKS, description="Pilots it serves"
    )
    notes: Notes | None = None


class BaseUpdate(PatchModel):
    NULLABLE = frozenset({"notes", "college_id"})

    name: Name | None = None
    college_id: RefId | None = Field(default=None, description="null: school-level (office)")
    on_campus: bool | None = None
    stations: Stations | None = Field(
        default=None,
        description="Never below the capacity of an exam session at the base not yet held",
    )
    exam_site: bool | None = None
    partners: list[Partner] | None = Field(default=None, max_length=MAX_PARTNERS)
    certificate_ids: list[RefId] | None = Field(default=None, max_length=MAX_LINKS)
    application_ids: list[RefId] | None = Field(default=None, max_length=MAX_LINKS)
    notes: Notes | None = None


class BaseCertificateRef(Schema):
    id: int
    name: str


class BasePublic(Schema):
    id: int
    name: str
    college_id: int | None
    college_name: str | None
    on_campus: bool
    stations: int
    exam_site: bool
    partners: list[str]
    certificates: list[BaseCertificateRef]
    application_ids: list[int]
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class BaseListed(BasePublic):
    """A base as the list's mapper makes it, with the export's text cells (not in the JSON)."""

    certificate_names: list[str] = Field(exclude=True)
    campus: str = Field(exclude=True)


class BaseFilters(UpdatedSince):
    """Filters of the training bases list."""

    college_id: IdFilter = Field(None, description="Bases run by this college")
    certificate_id: IdFilter = Field(None, description="Bases serving this certificate")
    application_id: IdFilter = Field(None, description="Bases serving this pilot")
    exam_site: bool | None = Field(None, description="Registered exam sites (or not)")
    on_campus: bool | None = Field(None, description="On campus (or off)")
    q: TextFilter = None
