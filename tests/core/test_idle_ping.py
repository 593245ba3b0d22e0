"""PostgreSQL connections are checked before use only after sitting idle in the pool: a busy
pool sends no ping per request, and a connection that died while it waited is replaced before
a request sees it."""

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core import db as core_db
from app.core.db import create_db_engine
from tests.reference.factories import office


@pytest.fixture
def pg_engine(database_url: str, is_postgres: bool) -> Iterator[sa.Engine]:
    if not is_postgres:
        pytest.skip("runs only on PostgreSQL (SQLite is a file: nothing to lose while idle)")
    engine = create_db_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _pings(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sent: list[Any] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _age_idle_connections(engine: sa.Engine, seconds: float) -> None:
    """Make the connections waiting in the pool look as if checked in ``seconds`` earlier,
    without checking them out (one may be dead)."""
    pool: Any = engine.pool
    for record in list(pool._pool.queue):  # QueuePool's waiting connection records
        record.info["idle_since"] -= seconds


@pytest.mark.postgres_only
def test_a_connection_in_use_is_not_pinged_and_an_idle_one_is(
    pg_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _pings(pg_engine, monkeypatch)
    first = _backend(pg_engine)
    assert [_backend(pg_engine) for _ in range(5)] == [first] * 5
    assert pings == []  # checked in a moment ago each time

    _age_idle_connections(pg_engine, core_db.IDLE_PING_SECONDS + 1)
    assert _backend(pg_engine) == first
    assert len(pings) == 1


@pytest.mark.postgres_only
def test_a_connection_that_died_while_idle_is_replaced_before_use(
    pg_engine: sa.Engine, database_url: str
) -> None:
    dead = _backend(pg_engine)
    other = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with other.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({dead})")
        connection.commit()
    other.dispose()
    _age_idle_connections(pg_engine, core_db.IDLE_PING_SECONDS + 1)

    with pg_engine.connect() as connection:
        alive = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    assert alive != dead


@pytest.mark.postgres_only
def test_after_a_restart_a_busy_connection_answers_503_once_then_the_pool_reconnects(
    client: TestClient, db: Session, engine: sa.Engine, database_url: str, is_postgres: bool
) -> None:
    """The one cost of not pinging a connection in steady use: when the server drops it, the
    request that meets it first gets 503 with Retry-After (not 500), and the pool is renewed."""
    if not is_postgres:
        pytest.skip("runs only on PostgreSQL")
    headers = office(db)
    assert client.get("/api/v1/colleges", headers=headers).status_code == 200
    pooled: Any = engine.pool
    backends = []
    for record in list(pooled._pool.queue):
        with record.dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.append(cursor.fetchone()[0])
        record.dbapi_connection.rollback()
    other = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with other.connect() as connection:
        for pid in backends:
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    other.dispose()

    first = client.get("/api/v1/colleges", headers=headers)
    assert first.status_code == 503, first.text
    assert first.headers["Retry-After"] == "2"
    assert client.get("/api/v1/colleges", headers=headers).status_code == 200
