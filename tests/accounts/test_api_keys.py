from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.accounts.models import ApiKey
from app.core.roles import Role
from app.core.types import utcnow
from tests.factories import login_as
from tests.reference.factories import make_org


def _create_key(client: TestClient, admin: dict[str, str], **body: object) -> dict[str, object]:
    response = client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "timetable-sync", **body}
    )
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def test_key_is_shown_once_stored_hashed_and_authenticates_with_its_role(
    client: TestClient, db: Session
) -> None:
    admin = login_as(db, Role.admin)

    created = _create_key(client, admin, role="auditor")

    key = str(created["key"])
    assert key.startswith("onex_")
    stored = db.exec(select(ApiKey)).one()
    assert key not in stored.key_hash
    listed = client.get("/api/v1/api-keys", headers=admin).json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0]
    assert client.get("/api/v1/audit-events", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/api/v1/users", headers={"X-API-Key": key}).status_code == 403
    me = client.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()
    assert me["principal"] == f"api-key:{created['id']}:timetable-sync"
    assert me["role"] == "auditor"
    assert me["user"] is None


def test_revoked_key_is_refused_at_once(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    created = _create_key(client, admin, role="auditor")
    headers = {"X-API-Key": str(created["key"])}
    assert client.get("/api/v1/audit-events", headers=headers).status_code == 200

    revoked = client.post(f"/api/v1/api-keys/{created['id']}/revoke", headers=admin)
    again = client.post(f"/api/v1/api-keys/{created['id']}/revoke", headers=admin)

    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert again.status_code == 409
    response = client.get("/api/v1/audit-events", headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert client.get("/api/v1/api-keys", headers=admin).json()["total"] == 0
    assert client.get("/api/v1/api-keys?include_revoked=true", headers=admin).json()["total"] == 1


def test_expired_key_is_refused(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    created = _create_key(client, admin, role="auditor", expires_at="2099-01-01T00:00:00+08:00")
    key = {"X-API-Key": str(created["key"])}
    assert client.get("/api/v1/audit-events", headers=key).status_code == 200
    db.execute(
        sa.update(ApiKey)
        .where(col(ApiKey.id) == created["id"])
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.commit()

    response = client.get("/api/v1/audit-events", headers=key)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_key_carries_the_scope_of_its_role(client: TestClient, db: Session) -> None:
    org_id = make_org(db).id
    admin = login_as(db, Role.admin)

    missing = client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "grades", "role": "evaluation_org"}
    )
    created = _create_key(client, admin, role="evaluation_org", evaluation_org_id=org_id)

    assert missing.status_code == 422
    assert created["evaluation_org_id"] == org_id


def test_a_made_up_key_is_401(client: TestClient) -> None:
    response = client.get(
        "/api/v1/audit-events", headers={"X-API-Key": "onex_000000000000_made-up-secret"}
    )

    assert response.status_code == 401
