"""Small helpers that put rows in the database and give credentials for them."""

import itertools
from typing import Any

from sqlmodel import Session

from app.accounts.models import User
from app.core.roles import Role
from app.core.security import create_access_token, hash_password
from tests.conftest import TEST_SECRET

DEFAULT_PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = hash_password(DEFAULT_PASSWORD)
_counter = itertools.count(1)

DEFAULT_SCOPE = {
    Role.college_manager: {"college_id": 1},
    Role.teacher: {"teacher_id": 1},
    Role.student: {"student_id": 1},
    Role.evaluation_org: {"evaluation_org_id": 1},
}


def make_user(
    db: Session,
    role: Role = Role.academic_office,
    *,
    username: str | None = None,
    is_active: bool = True,
    **fields: Any,
) -> User:
    """A user with ``DEFAULT_PASSWORD`` (hashed once per run, to keep tests fast)."""
    scope = {**DEFAULT_SCOPE.get(role, {}), **fields}
    user = User(
        username=username or f"{role.value}-{next(_counter)}",
        role=role,
        is_active=is_active,
        password_hash=_PASSWORD_HASH,
        **scope,
    )
    db.add(user)
    db.commit()
    db.refresh(user)
    return user


def token_for(user: User, minutes: int = 30) -> str:
    assert user.id is not None
    return create_access_token(
        subject=user.id, role=user.role.value, secret_key=TEST_SECRET, minutes=minutes
    )


def auth(user: User) -> dict[str, str]:
    """Headers that authenticate as ``user``."""
    return {"Authorization": f"Bearer {token_for(user)}"}


def login_as(db: Session, role: Role = Role.academic_office, **fields: Any) -> dict[str, str]:
    """Make a user with ``role`` and return headers that authenticate as them."""
    return auth(make_user(db, role, **fields))
