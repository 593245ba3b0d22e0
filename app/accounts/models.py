"""Users, API keys and failed logins, with their request and response schemas."""

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints
from sqlmodel import Field, SQLModel

from app.core.models import Schema, Timestamped, Versioned, enum_type
from app.core.roles import Role
from app.core.types import UTCDateTime, utcnow

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
ScopeId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class ScopeFields(Schema):
    college_id: ScopeId | None = Field(default=None, description="For `college_manager`")
    teacher_id: ScopeId | None = Field(default=None, description="For `teacher`")
    student_id: ScopeId | None = Field(default=None, description="For `student`")
    evaluation_org_id: ScopeId | None = Field(default=None, description="For `evaluation_org`")


class User(Versioned, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    full_name: str = Field(default="", max_length=100)
    email: str | None = Field(default=None, max_length=254)
    role: Role = Field(sa_type=enum_type(Role), nullable=False)
    college_id: int | None = Field(default=None, foreign_key="colleges.id")
    teacher_id: int | None = Field(default=None, foreign_key="teachers.id")
    student_id: int | None = Field(default=None, foreign_key="students.id")
    evaluation_org_id: int | None = Field(default=None, foreign_key="evaluation_orgs.id")
    is_active: bool = Field(default=True)
    password_hash: str = Field(max_length=255)
    session_epoch: int = Field(
        default=0, nullable=False, sa_column_kwargs={"server_default": sa.text("0")}
    )
    """Tokens carry the epoch they were issued in; moving it on ends every earlier token."""


class UserCreate(ScopeFields):
    username: Username
    password: Password
    role: Role
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    is_active: bool = True


class UserUpdate(ScopeFields):
    """Only the fields sent are changed; a role change must come with the scope it needs."""

    password: Password | None = None
    role: Role | None = None
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    is_active: bool | None = None


class UserFilters(BaseModel):
    """Filters of the users list."""

    role: Role | None = Field(None, description="Only users of this role")
    is_active: bool | None = Field(None, description="Only enabled (true) or disabled (false)")
    q: str | None = Field(None, max_length=64, description="Part of username or name")


class UserPublic(ScopeFields):
    id: int
    username: str
    full_name: str
    email: str | None
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class Me(ScopeFields):
    """Who the credential acts as: a user (with their account) or an API key."""

    principal: str = Field(description="`user:<username>` or `api-key:<id>:<name>`")
    role: Role
    user: UserPublic | None = Field(description="The account, for a logged-in user")
    api_key_id: int | None = Field(description="The key's id, for an API key")


class PasswordChange(Schema):
    current_password: Annotated[str, StringConstraints(max_length=128)]
    new_password: Password


class Token(Schema):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
    role: Role


class ApiKey(Timestamped, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    lookup_id: str = Field(max_length=12, unique=True)
    key_hash: str = Field(max_length=64)
    role: Role = Field(sa_type=enum_type(Role), nullable=False)
    college_id: int | None = Field(default=None, foreign_key="colleges.id")
    teacher_id: int | None = Field(default=None, foreign_key="teachers.id")
    student_id: int | None = Field(default=None, foreign_key="students.id")
    evaluation_org_id: int | None = Field(default=None, foreign_key="evaluation_orgs.id")
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the key last authenticated a request, to within a minute (written at most once a
    minute per key)."""


class ApiKeyCreate(ScopeFields):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    role: Role
    expires_at: datetime | None = Field(
        default=None,
        description="Optional expiry (ISO 8601 with offset, in the future); none means no "
        "expiry. From then on the key answers 401",
    )


class ApiKeyFilters(BaseModel):
    """Filters of the API keys list."""

    include_revoked: bool = Field(False, description="Also list revoked keys")


class ApiKeyPublic(ScopeFields):
    id: int
    name: str
    role: Role
    lookup_id: str = Field(description="The public part of the key, shown in `onex_<lookup_id>_…`")
    created_by_id: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        default=None,
        description="When the key last authenticated a request, to within a minute; "
        "null when never used",
    )


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret key; shown only in this response, store it now")


class LoginFailure(Timestamped, table=True):
    """One failed login; counted per username over a window to throttle password guessing."""

    __tablename__ = "login_failures"
    __table_args__ = (sa.Index("ix_login_failures_username_created_at", "username", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    client_ip: str | None = Field(default=None, max_length=64)


class RevokedToken(SQLModel, table=True):
    """An access token ended by logging out, until it would have expired anyway (then purged)."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id")
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    revoked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
