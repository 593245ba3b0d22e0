from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.accounts.models import LoginFailure
from app.core.roles import Role
from app.core.types import utcnow
from tests.factories import DEFAULT_PASSWORD, auth, make_user


def _login(client: TestClient, username: str, password: str = DEFAULT_PASSWORD) -> object:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_login_returns_a_bearer_token_that_identifies_the_user(
    client: TestClient, db: Session
) -> None:
    make_user(db, Role.academic_office, username="office")

    response = _login(client, "office")

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["role"] == "academic_office"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "office"
    assert me.json()["principal"] == "user:office"
    assert "password_hash" not in me.json()["user"]


def test_login_with_wrong_password_is_401_and_counted(client: TestClient, db: Session) -> None:
    make_user(db, username="office")

    response = _login(client, "office", "wrong-password")

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    failures = db.exec(select(LoginFailure).where(LoginFailure.username == "office")).all()
    assert len(failures) == 1


def test_sixth_login_after_five_failures_is_429_even_with_the_right_password(
    client: TestClient, db: Session
) -> None:
    make_user(db, username="office")
    for _ in range(5):
        assert _login(client, "office", "nope-nope").status_code == 401

    response = _login(client, "office")

    assert response.status_code == 429
    assert response.json()["code"] == "login_throttled"
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60


def test_throttle_is_per_username(client: TestClient, db: Session) -> None:
    make_user(db, username="office")
    make_user(db, username="other")
    for _ in range(5):
        _login(client, "office", "nope-nope")

    assert _login(client, "other").status_code == 200


def test_login_works_again_once_the_failures_leave_the_window(
    client: TestClient, db: Session
) -> None:
    make_user(db, username="office")
    for _ in range(5):
        _login(client, "office", "nope-nope")
    assert _login(client, "office").status_code == 429

    db.execute(sa.update(LoginFailure).values(created_at=utcnow() - timedelta(minutes=16)))
    db.commit()

    assert _login(client, "office").status_code == 200
    assert db.exec(select(LoginFailure)).all() == []


def test_throttle_survives_a_new_app_instance(client: TestClient, db: Session, settings) -> None:  # type: ignore[no-untyped-def]
    from app.main import create_app

    make_user(db, username="office")
    for _ in range(5):
        _login(client, "office", "nope-nope")

    with TestClient(create_app(settings)) as other_worker:
        response = _login(other_worker, "office")

    assert response.status_code == 429


def test_inactive_user_cannot_log_in_and_their_token_stops_working(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, username="gone")
    headers = auth(user)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200

    user.is_active = False
    db.add(user)
    db.commit()

    assert _login(client, "gone").status_code == 401
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_lists_and_reads_look_the_principal_up_with_their_own_statements(
    client: TestClient, db: Session
) -> None:
    # A list or a read of one resolves the token in the hop that runs its statements: a
    # disabled user is refused there as everywhere, and an admin-only list still refuses a
    # role it does not let through.
    user = make_user(db, Role.academic_office, username="clerk")
    headers = auth(user)
    created = client.post("/api/v1/colleges", headers=headers, json={"name": "信息学院"})
    assert created.status_code == 201, created.text
    college = f"/api/v1/colleges/{created.json()['id']}"
    assert client.get("/api/v1/colleges", headers=headers).json()["total"] == 1
    assert client.get(college, headers=headers).json()["name"] == "信息学院"
    refused = client.get("/api/v1/users", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["allowed_roles"] == ["admin"]

    user.is_active = False
    db.add(user)
    db.commit()

    for path in ("/api/v1/colleges", college, "/api/v1/users"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, path
        assert "log in again" in answer.json()["detail"]


def test_forged_or_garbage_token_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.jwt"})

    assert response.status_code == 401
    assert "log in again" in response.json()["detail"]


def test_user_changes_own_password(client: TestClient, db: Session) -> None:
    user = make_user(db, username="office")

    wrong = client.post(
        "/api/v1/auth/password",
        headers=auth(user),
        json={"current_password": "not-it-at-all", "new_password": "a-new-password"},
    )
    assert wrong.status_code == 422

    ok = client.post(
        "/api/v1/auth/password",
        headers=auth(user),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a-new-password"},
    )
    assert ok.status_code == 204
    assert _login(client, "office").status_code == 401
    assert _login(client, "office", "a-new-password").status_code == 200
