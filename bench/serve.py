"""Keep-alive latency of the real server with 1 and N workers (issue 14, item 5).

One client, on one keep-alive connection per server, sends ``BENCH_REQUESTS`` (default 300)
sequential requests to each path, against each of these servers, all started first and then
taking turns in blocks of 10 requests (so that a busy moment on a shared machine falls on all of
them alike):

- ``python -m app serve --workers 1``: the floor, the latency one worker gives;
- ``python -m app serve --workers N`` (N from ``BENCH_WORKERS``, default 2);
- plain ``uvicorn --workers N``, the before: its listening socket has no ``IPPROTO_TCP``, so
  asyncio leaves Nagle's algorithm on and each request after the first waits for the client's
  delayed ACK (upstream uvicorn issue #3149).

It prints the median and the 95th percentile per request, and the median's distance from the
floor. The database is a temporary, migrated SQLite file. Target: N workers within 2 ms of one.
"""

import http.client
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WARM_UP = 30
BLOCK = 10
PATHS = ("/health", "/ready")


@dataclass
class Latency:
    case: str
    path: str
    median_ms: float
    p95_ms: float


Server = subprocess.Popen[str]


def _start(command: list[str], env: dict[str, str], workers: int) -> tuple[Server, int]:
    """Start a server on port 0; wait until each worker has started; its process and port."""
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    port, started, seen = 0, 0, list[str]()
    while started < workers:
        try:
            line = lines.get(timeout=120)
        except queue.Empty:
            server.kill()
            sys.exit("the server did not start:\n" + "".join(seen))
        seen.append(line)
        if match := re.search(r"running on http://127\.0\.0\.1:(\d+)", line):
            port = int(match[1])
        started += "Application startup complete" in line
    return server, port


def _request(connection: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        sys.exit(f"GET {path} answered {response.status}")
    return elapsed


def _measure(ports: list[int], path: str) -> list[list[float]]:
    """Per server, the seconds of each request on one keep-alive connection; the servers take
    turns in blocks of ``BLOCK`` requests, so a noisy moment on the machine hits them alike."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port in ports]
    for connection in connections:
        for _ in range(WARM_UP):
            _request(connection, path)
    seconds: list[list[float]] = [[] for _ in ports]
    for _ in range(0, REQUESTS, BLOCK):
        for connection, times in zip(connections, seconds, strict=True):
            times += [_request(connection, path) for _ in range(BLOCK)]
    for connection in connections:
        connection.close()
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONEX_")}
        env["ONEX_DATABASE_URL"] = f"sqlite:///{Path(folder) / 'serve.db'}"
        env["ONEX_SECRET_KEY"] = "bench-serve-secret-key-long-enough-0123456789"
        subprocess.run([sys.executable, "-m", "app", "migrate"], cwd=ROOT, env=env, check=True)
        app = [sys.executable, "-m", "app", "serve", "--port", "0", "--workers"]
        uvicorn = [
            *(sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"),
            *("--port", "0", "--no-access-log", "--workers", str(WORKERS)),
        ]
        cases = [
            (f"{WORKERS} workers, plain uvicorn (before)", uvicorn, WORKERS),
            ("1 worker, python -m app serve (floor)", [*app, "1"], 1),
            (f"{WORKERS} workers, python -m app serve", [*app, str(WORKERS)], WORKERS),
        ]
        servers = [_start(command, env, workers) for _, command, workers in cases]
        try:
            rows = []
            for path in PATHS:
                measured = _measure([port for _, port in servers], path)
                for (case, _, _), seconds in zip(cases, measured, strict=True):
                    ms = sorted(second * 1000 for second in seconds)
                    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
                    rows.append(Latency(case, path, statistics.median(ms), p95))
        finally:
            for server, _ in servers:
                server.terminate()
                server.wait(timeout=30)

    print(f"\nKeep-alive latency, one connection, {REQUESTS} sequential requests per path (ms)")
    print(f"{'case':<42}{'path':<9}{'median':>8}{'p95':>8}{'- floor':>9}")
    floors = {row.path: row for row in rows if "floor" in row.case}
    for row in rows:
        gap = row.median_ms - floors[row.path].median_ms
        print(f"{row.case:<42}{row.path:<9}{row.median_ms:>8.2f}{row.p95_ms:>8.2f}{gap:>+9.2f}")


if __name__ == "__main__":
    main()
