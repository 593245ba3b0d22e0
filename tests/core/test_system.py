from pathlib import Path

from starlette.testclient import TestClient

from app.core.config import Settings
from app.main import create_app


def test_ready_when_database_is_migrated(client: TestClient) -> None:
    response = client.get("/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["database"] == "ok"


def test_not_ready_when_migrations_are_missing(tmp_path: Path, settings: Settings) -> None:
    unmigrated = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/empty.db"})

    with TestClient(create_app(unmigrated)) as client:
        response = client.get("/ready")

    assert response.status_code == 503
    assert response.json()["code"] == "migrations_pending"
    assert "python -m app migrate" in response.json()["detail"]


def test_not_ready_when_database_is_unreachable(settings: Settings) -> None:
    broken = settings.model_copy(
        update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    )

    with TestClient(create_app(broken)) as client:
        health = client.get("/health")
        ready = client.get("/ready")

    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["code"] == "database_unreachable"
