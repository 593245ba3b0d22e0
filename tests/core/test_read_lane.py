"""Short reads (list pages, reads of one) share a few threads (``ONEX_READ_THREADS``); long
reads (exports, counts of every row, deep pages) and writes keep the general pool, so a read
waiting for one of the few threads never holds them up."""

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from app.core.auth import Credential
from app.core.config import Settings
from app.core.listing import LIGHT_OFFSET
from app.core.roles import Role
from app.reference.models import College
from tests.concurrency import Call, fire_concurrently
from tests.factories import auth, make_user

COLLEGES = "/api/v1/colleges"


class Watch:
    """How many reads (GET) were looking their principal up at the same moment, at most; each
    such look-up waits at ``barrier`` or ``gate`` (when one is set), or ``hold`` seconds."""

    def __init__(self, hold: float = 0.1, barrier: threading.Barrier | None = None) -> None:
        self.hold, self.barrier = hold, barrier
        self.running = self.most = 0
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None

    def around(self, original: Any) -> Any:
        def principal(credential: Credential, session: Session) -> Any:
            if credential.request.method != "GET":
                return original(credential, session)
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                if self.barrier is not None:
                    self.barrier.wait()
                elif self.gate is not None:
                    self.gate.wait(timeout=10)
                else:
                    time.sleep(self.hold)
                return original(credential, session)
            finally:
                with self.lock:
                    self.running -= 1

        return principal


@pytest.fixture
def headers(db: Session) -> dict[str, str]:
    return auth(make_user(db, Role.academic_office))


def _watch(monkeypatch: pytest.MonkeyPatch, watch: Watch) -> Watch:
    monkeypatch.setattr(Credential, "principal", watch.around(Credential.principal))
    return watch


@pytest.fixture
def two_read_threads(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "read_threads", 2)


@pytest.mark.usefixtures("two_read_threads")
@pytest.mark.parametrize("path", [COLLEGES, f"{COLLEGES}/1"])
def test_short_reads_run_on_the_read_threads_only(
    app: FastAPI, db: Session, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    db.add(College(name="信息工程学院"))
    db.commit()
    college_id = db.exec(select(College.id)).one()
    watch = _watch(monkeypatch, Watch())
    path = path.replace("/1", f"/{college_id}")
    responses = fire_concurrently(app, [Call("GET", path, {"headers": headers})] * 6)
    assert [r.status_code for r in responses] == [200] * 6
    assert watch.most == 2


@pytest.mark.usefixtures("two_read_threads")
@pytest.mark.parametrize(
    "query", ["format=csv", "format=xlsx", "count=true", f"offset={LIGHT_OFFSET}"]
)
def test_long_reads_keep_the_general_pool(
    app: FastAPI, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    """Four long reads at once each wait for the other three: on two threads they could not
    all arrive, the barrier would break and the requests fail."""
    _watch(monkeypatch, Watch(barrier=threading.Barrier(4, timeout=10)))
    calls = [Call("GET", f"{COLLEGES}?{query}", {"headers": headers})] * 4
    responses = fire_concurrently(app, calls)
    assert [r.status_code for r in responses] == [200] * 4


def test_a_write_is_not_held_up_by_reads_waiting_for_the_read_thread(
    app: FastAPI,
    db: Session,
    settings: Settings,
    headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one read thread is busy (its read waits), more reads queue behind it; a create
    meanwhile is answered, and then every read is."""
    monkeypatch.setattr(settings, "read_threads", 1)
    watch = _watch(monkeypatch, Watch())
    watch.gate = threading.Event()

    async def scenario() -> tuple[list[int], int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            reads = [asyncio.create_task(client.get(COLLEGES, headers=headers)) for _ in range(3)]
            for _ in range(200):
                if watch.running:
                    break
                await asyncio.sleep(0.01)
            running_during_write = watch.running
            created = await client.post(COLLEGES, json={"name": "新学院"}, headers=headers)
            assert watch.gate is not None
            watch.gate.set()
            answers = await asyncio.gather(*reads)
            return [r.status_code for r in answers], created.status_code, running_during_write

    statuses, created, running_during_write = asyncio.run(scenario())
    assert running_during_write == 1  # one read held the thread, two waited for it
    assert created == 201
    assert statuses == [200, 200, 200]
    assert db.exec(select(College.name)).all() == ["新学院"]
