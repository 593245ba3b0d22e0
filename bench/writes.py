"""Audited writes per second on two workers: 16 clients, each PATCHing its own draft pilot
application (``PATCH /api/v1/applications/{id}`` with ``If-Match``) over HTTP, against a floor
measured in the same run: the database driver alone running the same single-row ``UPDATE``
from 16 connections.

The two workers are two ``python -m app serve`` processes of one uvicorn worker each, 8 clients
on each (``httpx.Client`` with keep-alive, one thread each, in the bench's process). Two servers
rather than one ``--workers 2`` keep the multi-worker server's 45 ms keep-alive stall (issue 14,
item 5) out of the figure, which measures the write path itself. The floor runs 2 processes × 8
threads, one driver connection each, autocommit ``UPDATE pilot_applications SET headcount = …
WHERE id = …``.

``BENCH_DATABASE_URL=postgresql://…`` runs it on PostgreSQL (the database is emptied and
migrated), which is what it is for; the default is a temporary SQLite file, where writers are
serialised by the database anyway. ``BENCH_SECONDS`` sets each case's duration (default 8);
``BENCH_APP_DIR`` serves another checkout's ``app`` (to measure before and after a change on
the same schema).

Target (issue 14): audited writes/s on two workers ≥ 3× main's before the change.
"""

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session

import app.models  # noqa: F401
from app.accounts.models import User
from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
    Tier,
)
from app.core.db import create_db_engine, is_sqlite
from app.core.migrations import upgrade_to_head
from app.core.roles import Role
from app.core.security import create_access_token
from app.reference.models import Certificate, College, EvaluationOrg, Level, Major

WORKERS = 2
CLIENTS = 16
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
SECRET = "bench-secret-key-that-is-long-enough-for-hs256"
APP_DIR = os.environ.get("BENCH_APP_DIR") or str(Path(__file__).resolve().parents[1])


def _database(folder: Path) -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder / 'writes.db'}"
    if not is_sqlite(url):
        engine = create_db_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    upgrade_to_head(url)
    return url


def _arrange(url: str) -> tuple[str, list[int]]:
    """An academic-office user's token and one draft application per client."""
    engine = create_db_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        user = User(username="bench-office", role=Role.academic_office, password_hash="x")
        college = College(name="信息技术学院")
        org = EvaluationOrg(name="评价组织")
        session.add_all([user, college, org])
        session.flush()
        major = Major(code="510201", name="计算机应用技术", college_id=college.id or 0)
        session.add(major)
        session.flush()
        ids = []
        for n in range(CLIENTS):
            certificate = Certificate(
                name=f"证书{n}",
                normalized_name=f"证书{n}",
                evaluation_org_id=org.id or 0,
                levels="初级,中级",
            )
            session.add(certificate)
            session.flush()
            application = PilotApplication(
                year=2022,
                tier=Tier.higher_vocational,
                certificate_id=certificate.id or 0,
                level=Level.intermediate,
                headcount=40,
                status=ApplicationStatus.draft,
            )
            session.add(application)
            session.flush()
            session.add(
                ApplicationMajor(application_id=application.id or 0, major_id=major.id or 0)
            )
            session.add(ApplicationCohort(application_id=application.id or 0, cohort=2021))
            ids.append(application.id or 0)
        session.commit()
        assert user.id is not None
        token = create_access_token(
            subject=user.id, role=user.role.value, secret_key=SECRET, minutes=60
        )
    engine.dispose()
    return token, ids


def _run_threads(targets: list[Any]) -> int:
    """Start every target at once, stop them after ``SECONDS``; the operations they counted."""
    counts = [0] * len(targets)
    stop = threading.Event()
    start = threading.Barrier(len(targets) + 1)

    def body(index: int) -> None:
        operation = targets[index]()
        start.wait()
        while not stop.is_set():
            operation()
            counts[index] += 1

    threads = [threading.Thread(target=body, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_servers(url: str) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    """``WORKERS`` servers of one uvicorn worker each (``python -m app serve``), run from
    ``BENCH_APP_DIR`` (default: this checkout, so another checkout's code can be measured)."""
    env = {
        **os.environ,
        "ONEX_DATABASE_URL": url,
        "ONEX_SECRET_KEY": SECRET,
        "ONEX_LOG_LEVEL": "WARNING",
        "ONEX_DB_POOL_SIZE": str(CLIENTS),
        "PYTHONPATH": APP_DIR,
    }
    servers, bases = [], []
    for _ in range(WORKERS):
        port = _free_port()
        servers.append(
            subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(port)],
                cwd=APP_DIR,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
    for base in bases:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server at {base} did not start")
            time.sleep(0.2)
    return servers, bases


def _audited_writes(url: str, token: str, ids: list[int]) -> float:
    """PATCHes per second from ``CLIENTS`` keep-alive clients, spread over the servers."""
    servers, bases = _start_servers(url)
    clients: list[httpx.Client] = []
    try:

        def client_for(n: int) -> Any:
            client = httpx.Client(
                base_url=bases[n % WORKERS], headers={"Authorization": f"Bearer {token}"}
            )
            clients.append(client)
            path = f"/api/v1/applications/{ids[n]}"
            etag = client.get(path).headers["etag"]
            headcount = 40

            def patch() -> None:
                nonlocal etag, headcount
                headcount = 81 - headcount
                response = client.patch(
                    path, headers={"If-Match": etag}, json={"headcount": headcount}
                )
                assert response.status_code == 200, response.text
                etag = response.headers["etag"]

            return patch

        return _run_threads([lambda n=n: client_for(n) for n in range(len(ids))]) / SECONDS
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


def _driver_worker(url: str, ids: list[int], queue: Any) -> None:
    engine = create_db_engine(url, pool_size=len(ids))
    sql = sa.text("UPDATE pilot_applications SET headcount = :h WHERE id = :id")

    def updater(application_id: int) -> Any:
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if is_sqlite(url):
            connection = engine.connect()

        def update() -> None:
            connection.execute(sql, {"h": 40 + time.monotonic_ns() % 2, "id": application_id})
            if connection.in_transaction():
                connection.commit()

        return update

    queue.put(_run_threads([lambda i=i: updater(i) for i in ids]))
    engine.dispose()


def _in_workers(target: Any, args: tuple[Any, ...], ids: list[int]) -> float:
    """Operations per second of ``target`` run in ``WORKERS`` processes, each on its share."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    share = len(ids) // WORKERS
    processes = [
        context.Process(target=target, args=(*args, ids[n * share : (n + 1) * share], queue))
        for n in range(WORKERS)
    ]
    for process in processes:
        process.start()
    total: float = sum(queue.get() for _ in processes)
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"{target.__name__} failed with exit code {process.exitcode}")
    return total / SECONDS


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="onex-bench-writes-"))
    try:
        url = _database(folder)
        token, ids = _arrange(url)
        backend = make_url_backend(url)
        floor = _in_workers(_driver_worker, (url,), ids)
        audited = _audited_writes(url, token, ids)
        print(
            f"\nAudited writes on {backend}: {WORKERS} workers, {CLIENTS} clients, "
            f"{SECONDS:.0f} s each"
        )
        print(f"{'case':<52}{'writes/s':>10}{'x floor':>9}")
        print(f"{'floor: driver single-row UPDATE (autocommit)':<52}{floor:>10,.0f}{1.0:>9.1f}")
        print(
            f"{'PATCH /applications/{id} (audited, If-Match)':<52}{audited:>10,.0f}"
            f"{floor / audited:>9.1f}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_url_backend(url: str) -> str:
    return sa.make_url(url).get_backend_name()


if __name__ == "__main__":
    main()
