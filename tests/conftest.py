"""Test fixtures: one database per run (per pytest-xdist worker), built by Alembic, emptied
after every test.

The suite runs on SQLite by default and on PostgreSQL when ``ONEX_TEST_DATABASE_URL`` names one
(``make test`` does both); with ``-n N`` each worker on PostgreSQL migrates a database of its own
beside the named one (``onex_test_gw0``, …), dropped when it ends.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel
from starlette.testclient import TestClient

import app.models
from app.core.config import Settings
from app.core.db import create_db_engine, is_sqlite
from app.core.i18n import set_default_language
from app.core.migrations import upgrade_to_head
from app.main import create_app

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256"


def pytest_report_header() -> str:
    return f"database: {_test_database_url_hint()}"


def _test_database_url_hint() -> str:
    return os.environ.get("ONEX_TEST_DATABASE_URL") or "SQLite (temporary file)"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("ONEX_TEST_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    elif worker:
        # Under pytest-xdist (`-n 2`) each worker has a database of its own next to the named
        # one: sharing it, the workers raced to migrate it and emptied it under each other.
        with own_database(url, worker) as url:
            upgrade_to_head(url)
            yield url
        return
    upgrade_to_head(url)
    yield url


@contextmanager
def own_database(url: str, worker: str) -> Iterator[str]:
    """A fresh database ``<name>_<worker>`` on the server of ``url``, dropped afterwards."""
    base = sa.engine.make_url(url)
    name = f"{base.database}_{worker}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def own_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of the test's own (named after its module), which it may migrate
    down and up: a SQLite file, or a database beside the suite's on the same server."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    if is_sqlite(database_url):
        yield f"sqlite:///{tmp_path / name}.db"
        return
    with own_database(database_url, name) as url:
        yield url


@pytest.fixture
def own_engine(own_url: str) -> Iterator[Engine]:
    """An engine on :func:`own_url`, migrated to the head revision."""
    upgrade_to_head(own_url)
    engine = create_db_engine(own_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def english_outside_requests() -> None:
    """Messages built outside a request (unit tests of parsers and services) read in English
    too, like the suite's app (see ``settings``), whatever app a previous test created."""
    set_default_language("en")


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        secret_key=TEST_SECRET,
        env="development",
        bootstrap_admin_username=None,
        bootstrap_admin_password=None,
        # The race tests send more requests at once than the pool has connections and bound
        # them themselves; the limit's own tests build an app with a small one.
        max_concurrent_requests=1000,
        # The tests seal the audit chain themselves (tests/audit/test_chain.py).
        audit_seal_seconds=0,
        # The suite reads messages in English unless a test asks for Chinese (the product's
        # default: tests/core/test_i18n.py).
        default_language="en",
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> Engine:
    engine: Engine = app.state.engine
    return engine


@pytest.fixture(autouse=True)
def _empty_database_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "engine" not in request.fixturenames:
        return
    engine: Engine = request.getfixturevalue("engine")
    _empty_all_tables(engine)


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # DELETE, children first, then every sequence back to 1: the same end as
            # TRUNCATE ... RESTART IDENTITY at a tenth of its cost on small tables (TRUNCATE
            # makes new files for every table, ~90 ms a test).
            connection.exec_driver_sql(";".join(f'DELETE FROM "{name}"' for name in tables))
            connection.exec_driver_sql(
                "SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"
            )
        else:
            for name in tables:
                connection.execute(sa.text(f'DELETE FROM "{name}"'))
            has_sequences = connection.execute(
                sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
            ).first()
            if has_sequences:
                connection.execute(sa.text("DELETE FROM sqlite_sequence"))


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    """An autocommit engine for the tests' own reads and writes: every statement sees the
    latest committed data and holds no lock while the API under test works."""
    if database_url.startswith("sqlite"):
        engine = sa.create_engine(database_url, connect_args={"check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _autocommit(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

    else:
        engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine, db_engine: Engine) -> Iterator[Session]:
    """A session for arranging data and checking what the API wrote (autocommit)."""
    with Session(db_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def client(app: FastAPI, engine: Engine) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "app" / "demo" / "fixtures"


@pytest.fixture
def chinese(client: TestClient) -> None:
    """The test's requests in Chinese, as a clerk's browser sends them (the suite's default
    is English): exports then carry the Chinese headers and labels importers read."""
    client.headers["Accept-Language"] = "zh-CN"
