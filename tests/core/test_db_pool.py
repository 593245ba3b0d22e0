"""The engine's pool: the configured size on SQLite as on PostgreSQL."""

from app.core.config import Settings
from app.core.db import create_db_engine


def test_connections_up_to_the_pool_size_are_kept_for_the_next_requests(
    database_url: str,
) -> None:
    # Eight requests at once: SQLAlchemy's default pool for a SQLite file keeps five and closes
    # the others as they come back, so the next eight opened three again (pragmas and all).
    engine = create_db_engine(database_url, pool_size=8, max_overflow=4)
    try:
        held = [engine.connect() for _ in range(8)]
        for connection in held:
            connection.close()
        assert engine.pool.checkedin() == 8  # type: ignore[attr-defined]

        overflow = [engine.connect() for _ in range(12)]
        for connection in overflow:
            connection.close()
        assert engine.pool.checkedin() == 8  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_the_pool_serves_as_many_requests_as_a_worker_lets_in(
    database_url: str, settings: Settings
) -> None:
    # Beyond the pool (and its overflow) a request would wait for a connection, not be refused.
    settings = settings.model_copy(update={"max_concurrent_requests": None})  # the default
    assert settings.request_limit == settings.db_pool_size + settings.db_max_overflow
    engine = create_db_engine(
        database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    try:
        held = [engine.connect() for _ in range(settings.request_limit)]
        assert engine.pool.checkedout() == settings.request_limit  # type: ignore[attr-defined]
        for connection in held:
            connection.close()
    finally:
        engine.dispose()
