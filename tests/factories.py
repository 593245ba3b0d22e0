"""Small helpers that put rows in the database and give credentials for them."""

import itertools
import json
from typing import Any

from sqlmodel import Session

from app.accounts.models import User
from app.core.roles import Role
from app.core.security import create_access_token, hash_password
from tests.conftest import TEST_SECRET

DEFAULT_PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = hash_password(DEFAULT_PASSWORD)
_counter = itertools.count(1)


def _new_scope_row(db: Session, role: Role) -> dict[str, int]:
    """A fresh college, teacher, student or organisation for a scoped role given no scope."""
    from tests.reference import factories as ref

    if role is Role.college_manager:
        return {"college_id": ref.make_college(db).id}
    if role is Role.teacher:
        return {"teacher_id": ref.make_teacher(db).id}
    if role is Role.student:
        return {"student_id": ref.make_student(db).id}
    if role is Role.evaluation_org:
        return {"evaluation_org_id": ref.make_org(db).id}
    return {}


def make_user(
    db: Session,
    role: Role = Role.academic_office,
    *,
    username: str | None = None,
    is_active: bool = True,
    **fields: Any,
) -> User:
    """A user with ``DEFAULT_PASSWORD`` (hashed once per run, to keep tests fast); a scoped role
    given no scope gets a new row of its own to be scoped to."""
    scope_fields = {"college_id", "teacher_id", "student_id", "evaluation_org_id"}
    scope = fields if scope_fields & fields.keys() else {**_new_scope_row(db, role), **fields}
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
        subject=user.id,
        role=user.role.value,
        secret_key=TEST_SECRET,
        minutes=minutes,
        session_epoch=user.session_epoch,
    )


def auth(user: User) -> dict[str, str]:
    """Headers that authenticate as ``user``."""
    return {"Authorization": f"Bearer {token_for(user)}"}


def login_as(db: Session, role: Role = Role.academic_office, **fields: Any) -> dict[str, str]:
    """Make a user with ``role`` and return headers that authenticate as them."""
    return auth(make_user(db, role, **fields))


def assert_answered_as_missing(
    refused: Any, missing: Any, refused_id: int, missing_id: int
) -> None:
    """``refused`` (a request naming an object the caller may not read, of id ``refused_id``)
    is answered exactly as ``missing`` (the same request naming ``missing_id``, which does not
    exist): same status and media type, and the same body once the id named is swapped, so
    nothing in it tells the two apart."""
    assert refused.status_code == missing.status_code, (refused.text, missing.text)
    assert refused.headers["content-type"] == missing.headers["content-type"]
    expected = {k: v for k, v in missing.json().items() if k != "request_id"}
    answered = {k: v for k, v in refused.json().items() if k != "request_id"}
    swapped = json.loads(json.dumps(expected).replace(str(missing_id), str(refused_id)))
    assert answered == swapped, (answered, expected)


def feed_settled(engine: Any, ids: list[int] | None = None, timeout: float = 30.0) -> None:
    """Wait until the audit events ``ids`` (every event, when None) are below the change feed's
    watermark, so the feed lists them (PostgreSQL; nothing to wait for on SQLite). The watermark
    is the server's: a transaction of another database on it — a parallel test worker's, under
    ``pytest -n`` — may hold it back for a moment. Once passed it stays passed."""
    import time

    import sqlalchemy as sa

    from app.core.audit import FEED_WATERMARK_POSTGRESQL

    if engine.dialect.name != "postgresql":
        return
    condition = "id = ANY(:ids) AND " if ids is not None else ""
    statement = sa.text(
        f"SELECT count(*) FROM audit_events WHERE {condition}xact_id >= {FEED_WATERMARK_POSTGRESQL}"
    )
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:  # a new snapshot, and so a new watermark, each time
            pending = connection.execute(statement, {"ids": ids or []}).scalar_one()
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"audit events stayed above the feed's watermark: {pending}")
        time.sleep(0.02)
