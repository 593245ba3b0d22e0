"""Sessions that can be ended: a password change or reset, a role change, a deactivation or an
admin's "end sessions" ends every earlier token; logging out ends the current one only; API
keys expire and show when they were last used."""

import sqlite3
import threading
from datetime import timedelta
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.accounts.models import ApiKey, RevokedToken, User
from app.accounts.service import principal_from_token
from app.core.audit import AuditEvent
from app.core.config import Settings
from app.core.roles import Role
from app.core.security import (
    JWT_ALGORITHM,
    _checked_claims,
    create_access_token,
    decode_access_token,
)
from app.core.types import utcnow
from tests.conftest import TEST_SECRET
from tests.factories import DEFAULT_PASSWORD, auth, login_as, make_user, token_for

ME = "/api/v1/auth/me"


def _login(client: TestClient, username: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _expired_detail(client: TestClient, user: User) -> dict[str, Any]:
    """The answer to a token that simply expired: an ended session must look the same."""
    expired = {"Authorization": f"Bearer {token_for(user, minutes=-1)}"}
    response = client.get(ME, headers=expired)
    assert response.status_code == 401
    body: dict[str, Any] = response.json()
    return {k: v for k, v in body.items() if k != "request_id"}


def _assert_ended(client: TestClient, user: User, *headers: dict[str, str]) -> None:
    expected = _expired_detail(client, user)
    for header in headers:
        response = client.get(ME, headers=header)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"] == "Bearer"
        assert {k: v for k, v in response.json().items() if k != "request_id"} == expected


def test_changing_your_password_ends_every_earlier_token(client: TestClient, db: Session) -> None:
    user = make_user(db, username="office")
    laptop, phone = _login(client, "office"), _login(client, "office")

    changed = client.post(
        "/api/v1/auth/password",
        headers=laptop,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a-new-password"},
    )

    assert changed.status_code == 204
    _assert_ended(client, user, laptop, phone)
    fresh = _login(client, "office", "a-new-password")
    assert client.get(ME, headers=fresh).status_code == 200


def test_an_admin_reset_ends_the_users_tokens(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.auditor, username="forgetful")
    before = _login(client, "forgetful")

    response = client.patch(
        f"/api/v1/users/{user.id}",
        headers=login_as(db, Role.admin),
        json={"password": "brand-new-password"},
    )

    assert response.status_code == 200
    _assert_ended(client, user, before)
    after = _login(client, "forgetful", "brand-new-password")
    assert client.get(ME, headers=after).status_code == 200
    audit = db.exec(select(AuditEvent).where(AuditEvent.action == "update")).one()
    assert audit.after is not None and audit.after["sessions"] == "ended"


def test_deactivating_ends_tokens_and_reactivating_does_not_bring_them_back(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.auditor, username="leaving")
    before = _login(client, "leaving")
    admin = login_as(db, Role.admin)

    off = client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"is_active": False})
    on = client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"is_active": True})

    assert off.status_code == 200 and on.status_code == 200
    _assert_ended(client, user, before)
    assert client.get(ME, headers=_login(client, "leaving")).status_code == 200


def test_a_role_change_ends_tokens_but_a_name_change_does_not(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.auditor, username="moving")
    admin = login_as(db, Role.admin)
    before = _login(client, "moving")

    renamed = client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"full_name": "新名"})
    assert renamed.status_code == 200
    assert client.get(ME, headers=before).status_code == 200

    promoted = client.patch(
        f"/api/v1/users/{user.id}", headers=admin, json={"role": "academic_office"}
    )

    assert promoted.status_code == 200
    _assert_ended(client, user, before)
    again = client.get(ME, headers=_login(client, "moving"))
    assert again.status_code == 200 and again.json()["role"] == "academic_office"


def test_logout_ends_the_current_token_and_only_it(client: TestClient, db: Session) -> None:
    user = make_user(db, username="office")
    laptop, phone = _login(client, "office"), _login(client, "office")

    response = client.post("/api/v1/auth/logout", headers=laptop)

    assert response.status_code == 204
    _assert_ended(client, user, laptop)
    assert client.post("/api/v1/auth/logout", headers=laptop).status_code == 401
    assert client.get(ME, headers=phone).status_code == 200
    (revoked,) = db.exec(select(RevokedToken)).all()
    claims = jwt.decode(
        laptop["Authorization"].removeprefix("Bearer "), TEST_SECRET, algorithms=[JWT_ALGORITHM]
    )
    assert revoked.jti == claims["jti"] and revoked.user_id == user.id
    assert int(revoked.expires_at.timestamp()) == claims["exp"]
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "logout")).one()


def test_logout_forgets_revoked_tokens_that_have_expired(client: TestClient, db: Session) -> None:
    user = make_user(db, username="office")
    assert user.id is not None
    db.add(RevokedToken(jti="a" * 32, user_id=user.id, expires_at=utcnow() - timedelta(hours=1)))
    db.add(RevokedToken(jti="b" * 32, user_id=user.id, expires_at=utcnow() + timedelta(hours=1)))
    db.commit()

    assert client.post("/api/v1/auth/logout", headers=_login(client, "office")).status_code == 204

    db.expire_all()
    left = set(db.exec(select(RevokedToken.jti)).all())
    assert "a" * 32 not in left and "b" * 32 in left and len(left) == 2


def test_an_api_key_cannot_log_out(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    created = client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "sync", "role": "auditor"}
    ).json()

    response = client.post("/api/v1/auth/logout", headers={"X-API-Key": created["key"]})

    assert response.status_code == 409
    assert response.json()["code"] == "not_a_user"


def test_an_admin_ends_all_sessions_of_a_user(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.auditor, username="lost-phone")
    laptop, phone = _login(client, "lost-phone"), _login(client, "lost-phone")
    admin = login_as(db, Role.admin)

    refused = client.post(f"/api/v1/users/{user.id}/sessions/end", headers=auth(user))
    missing = client.post("/api/v1/users/999999/sessions/end", headers=admin)
    ended = client.post(f"/api/v1/users/{user.id}/sessions/end", headers=admin)

    assert refused.status_code == 403
    assert missing.status_code == 404
    assert ended.status_code == 204
    _assert_ended(client, user, laptop, phone)
    assert client.get(ME, headers=_login(client, "lost-phone")).status_code == 200
    event_row = db.exec(select(AuditEvent).where(AuditEvent.action == "end_sessions")).one()
    assert event_row.entity_id == str(user.id) or event_row.entity_id == user.id
    assert client.get(ME, headers=admin).status_code == 200


def test_a_token_without_an_id_or_epoch_is_refused(client: TestClient, db: Session) -> None:
    user = make_user(db)
    now = utcnow()
    claims = {"sub": str(user.id), "typ": "access", "iat": now, "exp": now + timedelta(hours=1)}
    for extra in ({}, {"jti": "c" * 32}, {"sep": 0}, {"jti": "c" * 32, "sep": "0"}):
        token = jwt.encode({**claims, **extra}, TEST_SECRET, algorithm=JWT_ALGORITHM)
        response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, extra


def test_checking_a_token_is_one_statement_the_user_joined_with_its_revocation(
    client: TestClient, db: Session, engine: Engine, settings: Settings
) -> None:
    user = make_user(db, username="office")
    token = _login(client, "office")["Authorization"].removeprefix("Bearer ")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    with Session(engine) as session:
        event.listen(engine, "before_cursor_execute", count)
        try:
            principal = principal_from_token(session, settings, token)
        finally:
            event.remove(engine, "before_cursor_execute", count)

    assert principal is not None and principal.user_id == user.id
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, statements
    assert "FROM users LEFT OUTER JOIN revoked_tokens" in " ".join(selects[0].split())


# --- API keys: expiry and last use ------------------------------------------------------------


def _key(client: TestClient, admin: dict[str, str], **body: object) -> dict[str, Any]:
    response = client.post("/api/v1/api-keys", headers=admin, json={"name": "sync", **body})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_key_cannot_be_created_already_expired(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)

    response = client.post(
        "/api/v1/api-keys",
        headers=admin,
        json={"name": "sync", "role": "auditor", "expires_at": "2020-01-01T00:00:00+08:00"},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.expires_at"
    assert db.exec(select(ApiKey)).all() == []


def test_a_key_stops_working_when_it_expires(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    soon = utcnow() + timedelta(hours=1)
    created = _key(client, admin, role="auditor", expires_at=soon.isoformat())
    header = {"X-API-Key": created["key"]}
    assert client.get(ME, headers=header).status_code == 200

    db.execute(
        sa.update(ApiKey)
        .where(col(ApiKey.id) == created["id"])
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.commit()
    response = client.get(ME, headers=header)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def _last_used(db: Session, key_id: int) -> Any:
    db.expire_all()
    return db.exec(select(ApiKey.last_used_at).where(ApiKey.id == key_id)).one()


def test_a_key_shows_when_it_was_last_used_written_at_most_once_a_minute(
    client: TestClient, db: Session
) -> None:
    admin = login_as(db, Role.admin)
    created = _key(client, admin, role="auditor")
    header = {"X-API-Key": created["key"]}
    assert created["last_used_at"] is None

    assert client.get(ME, headers=header).status_code == 200
    first = _last_used(db, created["id"])
    for _ in range(5):
        assert client.get(ME, headers=header).status_code == 200
    storm = _last_used(db, created["id"])
    a_while_ago = utcnow() - timedelta(minutes=2)
    db.execute(
        sa.update(ApiKey).where(col(ApiKey.id) == created["id"]).values(last_used_at=a_while_ago)
    )
    db.commit()
    assert client.get(ME, headers=header).status_code == 200
    later = _last_used(db, created["id"])

    assert first is not None and abs((utcnow() - first).total_seconds()) < 60
    assert storm == first
    assert later > a_while_ago + timedelta(minutes=1)
    listed = client.get("/api/v1/api-keys", headers=admin).json()["items"]
    assert listed[0]["last_used_at"] is not None


def test_a_read_does_not_wait_for_a_writer_to_note_a_keys_use(
    client: TestClient, db: Session, database_url: str, is_postgres: bool
) -> None:
    """On SQLite the note is skipped while another request holds the write lock, rather than
    waiting for it (a read would hold a read thread meanwhile): the read is answered, the key
    is noted by a later request."""
    if is_postgres:
        pytest.skip("SQLite's one write lock")
    admin = login_as(db, Role.admin)
    created = _key(client, admin, role="auditor")
    header = {"X-API-Key": created["key"]}
    path = database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.5, holder.commit)  # a writer that finishes after a while
    release.start()
    try:
        response = client.get(ME, headers=header)
        noted_while_held = _last_used(db, created["id"])
    finally:
        release.join()
        holder.close()
    assert response.status_code == 200, response.text
    assert noted_while_held is None  # waited for the lock, it would have written
    assert client.get(ME, headers=header).status_code == 200
    assert _last_used(db, created["id"]) is not None


def test_a_remembered_token_still_expires(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signature is checked once per token and remembered; the clock is read every time."""
    user = make_user(db, Role.academic_office)
    headers = {"Authorization": f"Bearer {token_for(user, minutes=1)}"}
    assert client.get(ME, headers=headers).status_code == 200
    assert client.get(ME, headers=headers).status_code == 200  # answered from what was checked
    later = utcnow() + timedelta(minutes=2)
    monkeypatch.setattr("app.core.security.utcnow", lambda: later)
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert {k: v for k, v in response.json().items() if k != "request_id"} == _expired_detail(
        client, user
    )


def test_a_token_from_a_clock_ahead_works_once_its_time_comes(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token issued by a worker whose clock runs ahead (``iat`` in the future) is refused
    until then, and not remembered as refused: it works as soon as its time comes."""
    user = make_user(db, Role.academic_office)
    now = utcnow()
    monkeypatch.setattr("app.core.security.utcnow", lambda: now + timedelta(seconds=30))
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    monkeypatch.setattr("app.core.security.utcnow", lambda: now)
    assert client.get(ME, headers=headers).status_code == 401
    monkeypatch.setattr("app.core.security.utcnow", lambda: now + timedelta(seconds=31))
    response = client.get(ME, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == user.username


def test_checked_claims_cannot_be_changed_by_a_caller() -> None:
    token = create_access_token(
        subject=7, role="academic_office", secret_key=TEST_SECRET, minutes=5
    )
    claims = decode_access_token(token, TEST_SECRET)
    assert claims is not None and claims["sub"] == "7" and isinstance(claims["exp"], int)
    with pytest.raises(TypeError):
        claims["sub"] = "1"  # type: ignore[index]
    assert decode_access_token(token, TEST_SECRET + "-other") is None
    again = decode_access_token(token, TEST_SECRET)
    assert again is not None and again["sub"] == "7"


def test_a_long_made_up_token_is_refused_and_not_remembered(client: TestClient) -> None:
    """Checked claims are remembered per token, but a token longer than any the service
    makes is checked and forgotten: made-up long tokens cannot fill a worker's memory."""
    _checked_claims.cache_clear()
    long = client.get(ME, headers={"Authorization": "Bearer " + "x" * 4000})
    assert long.status_code == 401
    assert _checked_claims.cache_info().currsize == 0
    short = client.get(ME, headers={"Authorization": "Bearer " + "x" * 400})
    assert short.status_code == 401
    assert _checked_claims.cache_info().currsize == 1
    assert long.json()["detail"] == short.json()["detail"]
