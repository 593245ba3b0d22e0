"""Request work runs on ``ONEX_THREADS`` threads per process; sessions close on threads of their
own, so a request that failed holding a lock always releases it."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import anyio.to_thread
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import get_session
from app.core.roles import Role
from app.main import create_app
from tests.factories import login_as


@pytest.fixture
def two_thread_app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings.model_copy(update={"threads": 2}))
    yield app
    app.state.engine.dispose()


def test_at_most_threads_requests_run_statements_at_once(
    two_thread_app: FastAPI, db: Session
) -> None:
    headers = login_as(db, Role.academic_office)
    active, most = 0, 0
    lock = threading.Lock()

    def slow_statement(*_: Any) -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.03)
        with lock:
            active -= 1

    engine = two_thread_app.state.engine
    sa.event.listen(engine, "before_cursor_execute", slow_statement)
    try:
        with TestClient(two_thread_app) as client, ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda _: client.get("/api/v1/students", headers=headers), range(8))
            )
            tokens = client.portal.call(
                lambda: anyio.to_thread.current_default_thread_limiter().total_tokens
            )
    finally:
        sa.event.remove(engine, "before_cursor_execute", slow_statement)
    assert [a.status_code for a in answers] == [200] * 8
    assert tokens == 2
    # Eight requests at once, each statement held 30 ms: with anyio's own 40 threads they ran
    # side by side; two at most here (the count is only ever raised inside a statement).
    assert 1 <= most <= 2


@pytest.mark.anyio
async def test_a_session_closes_while_every_request_thread_is_busy(
    app: FastAPI, engine: sa.Engine
) -> None:
    anyio.to_thread.current_default_thread_limiter().total_tokens = 1
    release = threading.Event()

    class Request:  # what get_session reads of the request
        class app:  # noqa: N801
            class state:  # noqa: N801
                pass

    Request.app.state.engine = engine  # type: ignore[attr-defined]
    sessions = get_session(Request())  # type: ignore[arg-type]
    session = await anext(sessions)
    session.connection()  # in a transaction: its close is I/O, done on a thread

    # Without threads of its own the close would wait for the busy thread, freed after 5 s.
    threading.Timer(5, release.set).start()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(anyio.to_thread.run_sync, release.wait)  # the one request thread
        await anyio.sleep(0.05)
        with pytest.raises(StopAsyncIteration):
            await anext(sessions)
        closed_while_busy = not release.is_set() and not session.in_transaction()
        release.set()
    assert closed_while_busy
