from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.accounts.models import User
from app.core.audit import AuditEvent
from app.core.roles import Role
from tests.factories import DEFAULT_PASSWORD, auth, login_as, make_user
from tests.reference.factories import make_college


def test_admin_creates_a_scoped_user_who_can_then_log_in(client: TestClient, db: Session) -> None:
    college_id = make_college(db).id
    admin = auth(make_user(db, Role.admin))

    response = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "username": "cs-secretary",
            "password": "s3cret-enough",
            "role": "college_manager",
            "college_id": college_id,
            "full_name": "计算机学院 李老师",
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "college_manager"
    assert body["college_id"] == college_id
    assert "password" not in body and "password_hash" not in body
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/api/v1/users/{body['id']}"
    stored = db.exec(select(User).where(User.username == "cs-secretary")).one()
    assert stored.password_hash.startswith("$argon2")
    login = client.post(
        "/api/v1/auth/token", data={"username": "cs-secretary", "password": "s3cret-enough"}
    )
    assert login.status_code == 200


def test_creating_a_user_writes_an_audit_event_without_the_password(
    client: TestClient, db: Session
) -> None:
    admin_user = make_user(db, Role.admin, username="root")

    response = client.post(
        "/api/v1/users",
        headers={**auth(admin_user), "X-Request-ID": "req-create-user-1"},
        json={"username": "auditor1", "password": "s3cret-enough", "role": "auditor"},
    )

    assert response.status_code == 201
    event = db.exec(select(AuditEvent).where(AuditEvent.entity == "user")).one()
    assert event.action == "create"
    assert event.actor == "user:root"
    assert event.actor_user_id == admin_user.id
    assert event.entity_id == str(response.json()["id"])
    assert event.request_id == "req-create-user-1"
    assert event.before is None
    assert event.after is not None and event.after["username"] == "auditor1"
    assert "password_hash" not in event.after


def test_scoped_role_without_its_scope_is_422_naming_the_field(
    client: TestClient, db: Session
) -> None:
    response = client.post(
        "/api/v1/users",
        headers=login_as(db, Role.admin),
        json={"username": "teacher1", "password": "s3cret-enough", "role": "teacher"},
    )

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert {"field": "body.teacher_id", "message": "required for role Teacher"} in body["errors"]
    assert db.exec(select(User).where(User.username == "teacher1")).first() is None


def test_scope_that_does_not_belong_to_the_role_is_422(client: TestClient, db: Session) -> None:
    response = client.post(
        "/api/v1/users",
        headers=login_as(db, Role.admin),
        json={"username": "aud", "password": "s3cret-enough", "role": "auditor", "college_id": 3},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.college_id"


def test_duplicate_username_is_409_naming_the_existing_user(
    client: TestClient, db: Session
) -> None:
    existing = make_user(db, username="office")

    response = client.post(
        "/api/v1/users",
        headers=login_as(db, Role.admin),
        json={"username": "office", "password": "s3cret-enough", "role": "auditor"},
    )

    assert response.status_code == 409
    assert response.json()["code"] == "username_taken"
    assert f"user id {existing.id}" in response.json()["detail"]


def test_unknown_role_is_422_listing_the_allowed_roles(client: TestClient, db: Session) -> None:
    response = client.post(
        "/api/v1/users",
        headers=login_as(db, Role.admin),
        json={"username": "x-user", "password": "s3cret-enough", "role": "dean"},
    )

    assert response.status_code == 422
    message = response.json()["errors"][0]["message"]
    assert "academic_office" in message and "auditor" in message


def test_update_with_stale_if_match_is_412_and_changes_nothing(
    client: TestClient, db: Session
) -> None:
    admin = login_as(db, Role.admin)
    user = make_user(db, Role.auditor, full_name="Old Name")
    url = f"/api/v1/users/{user.id}"
    etag = client.get(url, headers=admin).headers["etag"]
    first = client.patch(url, headers={**admin, "If-Match": etag}, json={"full_name": "First"})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'

    second = client.patch(url, headers={**admin, "If-Match": etag}, json={"full_name": "Second"})

    assert second.status_code == 412
    assert second.json()["current_version"] == 2
    db.refresh(user)
    assert user.full_name == "First"
    assert user.version == 2


def test_role_change_must_bring_the_new_scope(client: TestClient, db: Session) -> None:
    college_id = make_college(db).id
    admin = login_as(db, Role.admin)
    user = make_user(db, Role.auditor)

    refused = client.patch(
        f"/api/v1/users/{user.id}", headers=admin, json={"role": "college_manager"}
    )
    accepted = client.patch(
        f"/api/v1/users/{user.id}",
        headers=admin,
        json={"role": "college_manager", "college_id": college_id},
    )

    assert refused.status_code == 422
    assert accepted.status_code == 200
    assert accepted.json()["college_id"] == college_id


def test_admin_cannot_deactivate_themself(client: TestClient, db: Session) -> None:
    admin_user = make_user(db, Role.admin)

    response = client.patch(
        f"/api/v1/users/{admin_user.id}", headers=auth(admin_user), json={"is_active": False}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "self_lockout"
    db.refresh(admin_user)
    assert admin_user.is_active


def test_admin_resets_a_password(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.auditor, username="forgetful")

    response = client.patch(
        f"/api/v1/users/{user.id}",
        headers=login_as(db, Role.admin),
        json={"password": "brand-new-password"},
    )

    assert response.status_code == 200
    token = client.post(
        "/api/v1/auth/token", data={"username": "forgetful", "password": DEFAULT_PASSWORD}
    )
    assert token.status_code == 401
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "update")).one()
    assert event.after is not None and event.after["password"] == "changed"


def test_users_list_filters_and_pages(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    for _ in range(3):
        make_user(db, Role.auditor)
    make_user(db, Role.academic_office)

    page = client.get("/api/v1/users?role=auditor&limit=2&offset=0", headers=admin).json()

    assert page["total"] == 3
    assert page["limit"] == 2 and page["offset"] == 0
    assert len(page["items"]) == 2
    assert all(item["role"] == "auditor" for item in page["items"])
    ids = [item["id"] for item in page["items"]]
    assert ids == sorted(ids)


def test_non_admin_roles_cannot_manage_users(client: TestClient, db: Session) -> None:
    for role in Role:
        if role is Role.admin:
            continue
        response = client.get("/api/v1/users", headers=login_as(db, role))
        assert response.status_code == 403, role
        assert response.json()["allowed_roles"] == ["admin"]


def test_unknown_user_is_404_problem(client: TestClient, db: Session) -> None:
    response = client.get("/api/v1/users/999999", headers=login_as(db, Role.admin))

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "No user with id 999999"
