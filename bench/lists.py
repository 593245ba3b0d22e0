"""Requests per second of the JSON list pages against a bare peer (issue 14).

``python -m bench lists`` builds a temporary SQLite file (the demo, plus ``BENCH_STUDENTS``
students, default 50,000), then starts, side by side:

- the service, ``python -m app serve --workers 1``, its output (an access log line per request)
  going to a file, as a deployment's goes to a file or the journal;
- its bare peer (:mod:`bench.bare_lists`): a plain Starlette app, one uvicorn worker, that runs
  the very SQL the list sends (captured from the service's engine while it answered the same
  request: the principal's look-up, the count, the page and, for applications, the majors and
  cohorts of the page) through ``sqlite3`` and writes the JSON by hand; no auth, no ORM, no
  pydantic.

Before timing, the bench checks that both answer the same bytes. Then ``BENCH_CONNECTIONS``
(default 8) keep-alive connections hammer one server for ``BENCH_SECONDS`` (default 3), then the
other, for ``BENCH_ROUNDS`` rounds (default 4); it prints the best requests/s of each and their
ratio, and the least CPU milliseconds each server spent per request (from ``/proc``; less swayed
by other work on the machine than requests/s) and their ratio. Paths (``BENCH_PATHS``, default
``students,applications``): ``/api/v1/students?limit=100`` and
``/api/v1/applications?year=2022``. Target: the service at least half its peer's requests/s.

Then, in the same run, the service's own stack without a list: ``/health`` (uvicorn, the
middleware and routing) and ``/api/v1/auth/me`` (also the token check and the principal's
look-up, which every list request pays before its statements), each beside the first path's
peer: how much of the peer's budget the service spends before a list starts.
"""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlmodel import Session, select

import app.models  # noqa: F401
from app.core.db import create_db_engine
from app.core.migrations import upgrade_to_head
from app.core.types import utcnow
from app.demo.loader import load_demo
from app.reference.models import Major, Student
from bench.serve import ROOT, _start

STUDENTS = int(os.environ.get("BENCH_STUDENTS", "50000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
ALL_PATHS = ("/api/v1/students?limit=100", "/api/v1/applications?year=2022")
CHOSEN = os.environ.get("BENCH_PATHS", "students,applications").split(",")
PATHS = tuple(path for path in ALL_PATHS if path.split("?")[0].rsplit("/", 1)[-1] in CHOSEN)
ADMIN, PASSWORD = "admin", "bench-lists-password-0123"
SECRET = "bench-lists-secret-key-long-enough-0123456789"


def _database(path: Path) -> str:
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    engine = create_db_engine(url)
    now = utcnow()
    with Session(engine) as session:
        load_demo(session, ADMIN, PASSWORD)
        session.commit()
        majors = list(session.exec(select(Major.id)).all())
        step = 10_000
        for start in range(0, STUDENTS, step):
            session.execute(
                sa.insert(Student),
                [
                    {
                        "student_no": f"B{2020 + i % 4}{i:08d}",
                        "name": f"学生{i}",
                        "major_id": majors[i % len(majors)],
                        "cohort": 2020 + i % 4,
                        "class_name": f"{i % 40 + 1}班",
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                    for i in range(start, min(start + step, STUDENTS))
                ],
            )
        session.commit()
    engine.dispose()
    return url


def _captured_sql(url: str, path: str, token: str) -> list[tuple[str, list[Any]]]:
    """The statements (SQL and parameters) the service sends to answer ``path``, in order:
    the same request answered in this process, its engine's cursor executions recorded."""
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app

    application = create_app(Settings(database_url=url, secret_key=SECRET))
    seen: list[tuple[str, list[Any]]] = []
    with TestClient(application) as client:
        engine = application.state.engine

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            seen.append((statement, list(parameters)))

        auth = {"Authorization": f"Bearer {token}"}
        client.get(path, headers=auth)  # warm: the principal's look-ups are cached after
        sa.event.listen(engine, "before_cursor_execute", record)
        answer = client.get(path, headers=auth)
        sa.event.remove(engine, "before_cursor_execute", record)
    if answer.status_code != 200:
        sys.exit(f"GET {path} answered {answer.status_code} in process")
    return seen


def _request(connection: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> bytes:
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit(f"GET {path} answered {response.status}: {body[:300]!r}")
    return body


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system) the process ``pid`` has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rate(port: int, pid: int, path: str, headers: dict[str, str]) -> tuple[float, float]:
    """Requests per second of ``CONNECTIONS`` keep-alive clients for ``SECONDS``, and the
    server's CPU milliseconds per request meanwhile (less sensitive to a busy machine)."""
    counts = [0] * CONNECTIONS
    stop = time.perf_counter() + SECONDS

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        _request(connection, path, headers)
        while time.perf_counter() < stop:
            _request(connection, path, headers)
            counts[index] += 1
        connection.close()

    started, cpu = time.perf_counter(), _cpu_seconds(pid)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, used = time.perf_counter() - started, _cpu_seconds(pid) - cpu
    done = sum(counts) + CONNECTIONS
    return sum(counts) / elapsed, used * 1000 / done


STACK: tuple[tuple[str, dict[str, str] | None], ...] = (
    ("/health", {}),
    ("/api/v1/auth/me", None),
)
"""What the service's stack alone costs, measured beside the lists: ``/health`` (middleware,
routing, no database) and ``/api/v1/auth/me`` (also the token check and the principal's
look-up: every list's fixed part); ``None`` stands for the bench's credentials."""


def _best(port: int, pid: int, path: str, headers: dict[str, str]) -> tuple[float, float]:
    """The best requests/s and the least CPU ms per request of ``ROUNDS`` rounds."""
    rates = [_rate(port, pid, path, headers) for _ in range(ROUNDS)]
    return max(rate for rate, _cpu in rates), min(cpu for _rate, cpu in rates)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = _database(Path(folder) / "lists.db")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONEX_")}
        env["ONEX_DATABASE_URL"] = url
        env["ONEX_SECRET_KEY"] = SECRET
        service, port = _start_logging(
            [sys.executable, "-m", "app", "serve", "--port", "0", "--workers", "1"],
            env,
            Path(folder) / "service.log",
        )
        peer: Any = None
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            form = urlencode({"username": ADMIN, "password": PASSWORD})
            connection.request(
                "POST",
                "/api/v1/auth/token",
                body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            token = json.loads(connection.getresponse().read())["access_token"]
            connection.close()
            auth = {"Authorization": f"Bearer {token}"}
            captured = {path: _captured_sql(url, path, token) for path in PATHS}
            spec = Path(folder) / "peer.json"
            spec.write_text(json.dumps({"database": url.removeprefix("sqlite:///"), **captured}))
            peer_env = {**env, "BENCH_PEER_SPEC": str(spec)}
            peer_command = [
                *(sys.executable, "-m", "uvicorn", "bench.bare_lists:create_app", "--factory"),
                *("--no-access-log", "--workers", "1"),
            ]
            peer, peer_port = _start_uvicorn(peer_command, peer_env)
            rows = []
            for path in PATHS:
                ours = _request(http.client.HTTPConnection("127.0.0.1", port), path, auth)
                theirs = _request(http.client.HTTPConnection("127.0.0.1", peer_port), path, {})
                if ours != theirs:
                    sys.exit(
                        f"the peer's bytes differ for {path}:\n{ours[:400]!r}\n{theirs[:400]!r}"
                    )
                best_ours, best_peer = (0.0, 1e9), (0.0, 1e9)
                for _ in range(ROUNDS):
                    rate, cpu = _rate(port, service.pid, path, auth)
                    best_ours = (max(best_ours[0], rate), min(best_ours[1], cpu))
                    rate, cpu = _rate(peer_port, peer.pid, path, {})
                    best_peer = (max(best_peer[0], rate), min(best_peer[1], cpu))
                statements = len(captured[path])
                rows.append((path, *best_ours, *best_peer, statements, len(ours)))
            stack = [
                (path, *_best(port, service.pid, path, auth if headers is None else headers))
                for path, headers in STACK
            ]
        finally:
            for server in (service, peer):
                if server is not None:
                    server.terminate()
                    server.wait(timeout=30)

    print(
        f"\nJSON list pages, SQLite, {STUDENTS:,} students, one worker, {CONNECTIONS} "
        f"connections, best of {ROUNDS} rounds of {SECONDS:g} s (requests/s)"
    )
    print(
        f"{'path':<33}{'service':>8}{'peer':>7}{'ratio':>7}"
        f"{'CPU ms/req':>11}{'peer':>6}{'ratio':>7}{'SQL':>5}{'bytes':>7}"
    )
    for path, served, served_cpu, peer_rate, peer_cpu, statements, size in rows:
        print(
            f"{path:<33}{served:>8.0f}{peer_rate:>7.0f}{served / peer_rate:>7.0%}"
            f"{served_cpu:>11.2f}{peer_cpu:>6.2f}{peer_cpu / served_cpu:>7.0%}"
            f"{statements:>5}{size:>7}"
        )
    print("The service's own stack, same run (no list; ratio: to the first path's peer):")
    for path, served, served_cpu in stack:
        peer_rate, peer_cpu = rows[0][3], rows[0][4]
        print(
            f"{path:<33}{served:>8.0f}{'':>7}{served / peer_rate:>7.0%}"
            f"{served_cpu:>11.2f}{'':>6}{peer_cpu / served_cpu:>7.0%}"
        )


def _start_logging(command: list[str], env: dict[str, str], log: Path) -> tuple[Any, int]:
    """Start the service on port 0 with its output (one access log line per request) going to
    ``log``, as a deployment writes it to a file or the journal; its process and port. (Read
    through a pipe by a thread of this process, each line would cost the load's clients, not
    the service.)"""
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        port = re.search(r"running on http://127\.0\.0\.1:(\d+)", text)
        if port and "Application startup complete" in text:
            return server, int(port[1])
        if server.poll() is not None:
            break
        time.sleep(0.1)
    server.kill()
    sys.exit("the service did not start:\n" + log.read_text(errors="replace"))


def _start_uvicorn(command: list[str], env: dict[str, str]) -> tuple[Any, int]:
    """Start the peer on a free port (one worker uvicorn prints the port it was given)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [*command, "--port", str(port)]
    server, _printed = _start(command, env, 1)
    return server, port


if __name__ == "__main__":
    main()
