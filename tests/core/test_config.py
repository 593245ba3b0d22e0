import pytest
from pydantic import ValidationError
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.accounts.models import User
from app.core.config import Settings
from app.core.roles import Role
from app.main import create_app
from tests.factories import make_user


@pytest.mark.parametrize("secret", ["", "change-me", "dev-secret-change-me", "short"])
def test_production_refuses_a_missing_or_placeholder_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="ONEX_SECRET_KEY"):
        Settings(_env_file=None, env="production", secret_key=secret)  # type: ignore[call-arg]


def test_production_accepts_a_real_secret() -> None:
    settings = Settings(_env_file=None, env="production", secret_key="x" * 48)  # type: ignore[call-arg]

    assert settings.env == "production"


def test_settings_come_from_onex_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEX_ACCESS_TOKEN_MINUTES", "15")
    monkeypatch.setenv("ONEX_CORS_ORIGINS", '["https://portal.example.edu.cn"]')

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.access_token_minutes == 15
    assert settings.cors_origins == ["https://portal.example.edu.cn"]
    assert settings.database_url == "sqlite:///./data/onex.db"


def test_bootstrap_admin_is_created_when_there_are_no_users(
    settings: Settings, db: Session
) -> None:
    configured = settings.model_copy(
        update={"bootstrap_admin_username": "boss", "bootstrap_admin_password": "first-password"}
    )

    with TestClient(create_app(configured)) as client:
        response = client.post(
            "/api/v1/auth/token", data={"username": "boss", "password": "first-password"}
        )

    assert response.status_code == 200
    assert db.exec(select(User).where(User.username == "boss")).one().role is Role.admin


def test_bootstrap_admin_is_not_created_when_users_exist(settings: Settings, db: Session) -> None:
    make_user(db, Role.admin, username="existing")
    configured = settings.model_copy(
        update={"bootstrap_admin_username": "boss", "bootstrap_admin_password": "first-password"}
    )

    with TestClient(create_app(configured)):
        pass

    assert db.exec(select(User).where(User.username == "boss")).first() is None


def test_cors_origins_are_honoured(settings: Settings) -> None:
    configured = settings.model_copy(update={"cors_origins": ["https://portal.example.edu.cn"]})

    with TestClient(create_app(configured)) as client:
        response = client.options(
            "/api/v1/users",
            headers={
                "Origin": "https://portal.example.edu.cn",
                "Access-Control-Request-Method": "GET",
            },
        )

    assert response.headers["access-control-allow-origin"] == "https://portal.example.edu.cn"


@pytest.mark.parametrize(
    ("url", "setting", "threads"),
    [
        ("sqlite:///./data/onex.db", None, 1),
        ("postgresql+psycopg://onex@db/onex", None, 4),
        ("sqlite:///./data/onex.db", "6", 6),
    ],
)
def test_read_threads_default_by_database_unless_set(
    monkeypatch: pytest.MonkeyPatch, url: str, setting: str | None, threads: int
) -> None:
    if setting is not None:
        monkeypatch.setenv("ONEX_READ_THREADS", setting)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert settings.read_thread_limit == threads


@pytest.mark.parametrize("setting", ["0", "41", "many"])
def test_read_threads_out_of_range_are_refused(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv("ONEX_READ_THREADS", setting)
    with pytest.raises(ValidationError, match="read_threads"):
        Settings(_env_file=None)  # type: ignore[call-arg]
