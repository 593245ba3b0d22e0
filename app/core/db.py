"""Engine and session: SQLite pragmas, serialised SQLite writers, and the per-request session."""

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.core.context import write_intent_var
from app.core.errors import Conflict
from app.core.models import Timestamped, Versioned
from app.core.types import utcnow

SQLITE_BUSY_TIMEOUT_MS = 30_000
IDLE_PING_SECONDS = 10.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is used again."""


def is_sqlite(url: str | sa.URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@contextmanager
def without_waiting(connection: sa.Connection) -> Iterator[None]:
    """On SQLite, statements inside fail at once (``OperationalError``) when another
    connection holds the write lock, instead of waiting up to the busy timeout: for a best
    effort write that must not hold up the request. Elsewhere nothing changes."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


_alone: ContextVar[bool] = ContextVar("alone", default=False)
"""True inside :func:`outside_transaction`: SQLite's transactions then issue no BEGIN."""


@contextmanager
def outside_transaction(session: Session) -> Iterator[None]:
    """On SQLite, the statements ``session`` runs inside are each a transaction of their own
    (no BEGIN: the driver is in autocommit mode), and the session's transaction is ended
    after: for one read that must neither take nor hold the write lock, such as a write
    request's look-up of its caller. Elsewhere nothing changes."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    token = _alone.set(True)
    try:
        yield
    finally:
        _alone.reset(token)
        session.rollback()


def refuse_taken(
    session: Session, statement: Any, detail: Callable[[Any], str], **extra: Any
) -> None:
    """409 ``duplicate`` when ``statement`` (a select of one id) finds a row: the row that
    already holds what a new or changed row would. ``detail(existing_id)`` says which, in the
    caller's words; ``extra`` adds members to the problem (``field="name"``)."""
    existing = session.exec(statement).first()
    if existing is not None:
        raise Conflict(detail(existing), code="duplicate", existing_id=existing, **extra)


def insert_skipping_taken(session: Session, table: Any, *key: str) -> Any:
    """An INSERT into ``table`` that skips, rather than fails on, a row whose unique ``key``
    columns are taken already (``ON CONFLICT DO NOTHING``, on SQLite and PostgreSQL): for rows
    that concurrent requests may both write first."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=list(key))


def create_db_engine(
    url: str,
    *,
    sqlite_foreign_keys: bool = True,
    pool_size: int = 10,
    max_overflow: int = 20,
) -> Engine:
    """An engine for ``url`` whose pool keeps ``pool_size`` connections and opens up to
    ``max_overflow`` more; SQLite gets foreign keys, WAL, a busy timeout and BEGIN IMMEDIATE.

    Migrations turn SQLite's foreign keys off: batch mode rebuilds tables by copying them.
    """
    if is_sqlite(url):
        database = make_url(url).database
        pool: dict[str, int] = {}
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # The same pool as on PostgreSQL: SQLAlchemy's own default for a file (5 + 10) is
            # smaller than the requests a worker serves at once (pool + overflow), and a
            # connection beyond the pool is opened (its pragmas run again) and closed with
            # every request that needs it.
            pool = {"pool_size": pool_size, "max_overflow": max_overflow}
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **pool,
        )
        _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys)
        return engine
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=10)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it has sat idle for ``IDLE_PING_SECONDS``.

    A connection dies while it waits in the pool (the server restarted, a firewall dropped an
    idle TCP session), not while requests keep using it. SQLAlchemy's ``pool_pre_ping`` pings
    on every check-out: a round trip per request. Here a connection checked in a moment ago is
    used as it is, and one that waited longer is pinged; a dead one is replaced (with every
    connection pooled before it) before the request sees it, as ``pool_pre_ping`` does. A
    connection the server drops while in steady use fails its request with 503 (see
    ``errors``), and the pool is renewed for the next."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # none yet: a new connection
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise sa_exc.InvalidatePoolError() from error
            raise


def _configure_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A request that may write takes the write lock when its transaction starts, so a read
        # that later writes never fails with SQLITE_BUSY_SNAPSHOT half-way; reads stay
        # concurrent (WAL) and never block writers. Inside outside_transaction() no BEGIN:
        # each statement commits by itself (the driver is in autocommit mode).
        if not _alone.get():
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write_intent_var.get() else "BEGIN")


@event.listens_for(Session, "before_flush")
def _stamp_changed_rows(session: Session, _context: Any, _instances: Any) -> None:
    """Move ``updated_at`` and bump ``version`` on every row that really changes."""
    now = utcnow()
    for obj in session.dirty:
        if isinstance(obj, Timestamped) and session.is_modified(obj, include_collections=False):
            obj.updated_at = now
            if isinstance(obj, Versioned):
                obj.version = (obj.version or 0) + 1


@event.listens_for(Session, "do_orm_execute")
def _refresh_locked_rows(state: ORMExecuteState) -> None:
    """A ``SELECT … FOR UPDATE`` (or ``FOR SHARE``) hands back the row as it is once locked, even
    when this session loaded it before: otherwise the identity map keeps the earlier values and
    a check made after taking the lock reads a state another transaction has since changed."""
    if state.is_select and getattr(state.statement, "_for_update_arg", None) is not None:
        state.update_execution_options(populate_existing=True)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; services commit, anything left uncommitted is rolled back.

    A coroutine: opening a session does no I/O, so it costs no hop to the thread pool (a
    plain generator hopped there to open it and again to close it). Closing one that holds a
    connection (a rollback, the connection back to the pool) is I/O and goes to the pool,
    shielded so that a client going away cannot leave the connection checked out; a request
    whose work closed the session in its own hop already (a list page does) needs neither."""
    engine: Engine = request.app.state.engine
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]
