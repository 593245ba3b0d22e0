"""The metadata naming convention, the mixins every table uses, and enum columns."""

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.core.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

ENUM_LENGTH = 32


def enum_type(enum_cls: type[Enum]) -> sa.Enum:
    """A VARCHAR enum storing the members' values; no native type, so new members migrate."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        length=ENUM_LENGTH,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class Timestamped(SQLModel):
    """UTC creation and last-change times; ``updated_at`` moves whenever a flush changes the row."""

    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Versioned(Timestamped):
    """Rows that clients update carry a ``version`` that backs ``ETag`` / ``If-Match``."""

    version: int = Field(default=1, nullable=False)
