"""``python -m app upload`` (issue 17, item 2): against the served app, and a 503 retry against a
tiny fake server that is busy once. They run once, in the SQLite half (see conftest.py)."""

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli import ROOT, free_port, run_app
from tests.integration.conftest import Served, api_key, sqlite_half_only

MAJORS = ROOT / "app" / "demo" / "fixtures" / "majors-sample.tsv"


def _upload(
    args: list[str], key: str | None, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in env.items() if k != "ONEX_API_KEY"}
    if key is not None:
        env["ONEX_API_KEY"] = key
    return run_app(["upload", *args], env)


@pytest.fixture(scope="module")
def key(served: Served) -> str:
    return api_key(served, "upload command tests")


def test_dry_run_then_upload_then_rerun_is_unchanged(
    served: Served, key: str, tmp_path: Path
) -> None:
    # Colleges of their own: the served app is shared with the generated-client test.
    colleges = tmp_path / "colleges.csv"
    colleges.write_text("学院名称,学院代码\n上传测试学院甲,UPA\n上传测试学院乙,UPB\n", "utf-8")
    args = ["colleges", str(colleges), "--url", served.url]

    dry = _upload([*args, "--dry-run"], key, served.env)
    real = _upload(args, key, served.env)
    again = _upload(args, key, served.env)

    assert dry.returncode == 0, dry.stderr
    assert "2 created, 0 updated, 0 unchanged (dry run, nothing written)" in dry.stdout
    assert real.returncode == 0, real.stderr
    assert "2 created, 0 updated, 0 unchanged (written)" in real.stdout
    assert again.returncode == 0, again.stderr
    assert "0 created, 0 updated, 2 unchanged (written)" in again.stdout


def test_bad_rows_are_a_table_and_exit_1(served: Served, key: str, tmp_path: Path) -> None:
    bad = tmp_path / "students.csv"
    bad.write_text("学号,姓名,专业代码,年级\nS1,张三,999999,2022\n", encoding="utf-8")

    result = _upload(["students", str(bad), "--url", served.url], key, served.env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "problem(s):" in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("row"))
    assert header.split() == ["row", "column", "value", "reason"]
    assert "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_and_connection_problems_exit_2(served: Served, key: str) -> None:
    no_key = _upload(["majors", str(MAJORS), "--url", served.url], None, served.env)
    no_file = _upload(["majors", "no-such-file.tsv", "--url", served.url], key, served.env)
    no_url = _upload(["majors", str(MAJORS)], key, served.env)
    closed = f"http://127.0.0.1:{free_port()}"
    unreachable = _upload(["majors", str(MAJORS), "--url", closed], key, served.env)
    bad_key = _upload(["majors", str(MAJORS), "--url", served.url], "not-a-key", served.env)

    assert (no_key.returncode, no_file.returncode, no_url.returncode) == (2, 2, 2)
    assert "ONEX_API_KEY" in no_key.stderr
    assert unreachable.returncode == 2
    assert unreachable.stderr.startswith("error: cannot reach")
    assert bad_key.returncode == 1
    for result in (no_key, no_file, unreachable, bad_key):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


REPORT = {
    "kind": "majors",
    "file_name": "majors-sample.tsv",
    "dry_run": False,
    "written": True,
    "rows": 2,
    "created": 2,
    "updated": 0,
    "unchanged": 0,
    "also_created": {},
    "errors": [],
    "errors_total": 0,
    "batch_id": 7,
}


@pytest.fixture
def busy_server() -> Iterator[tuple[str, list[float]]]:
    """Answers ``503`` with ``Retry-After: 1`` to every request while it is busy (the first
    one, or all of them for the ``/always-busy`` URL), then a report."""
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.append(time.monotonic())
            busy = self.path.startswith("/always-busy") or len(arrivals) == 1
            status, body = (
                (503, {"code": "overloaded", "detail": "busy"})
                if busy
                else (
                    200,
                    REPORT,
                )
            )
            payload = json.dumps(body).encode()
            self.send_response(status)
            if busy:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", arrivals
    finally:
        server.shutdown()
        server.server_close()


def test_a_503_is_retried_after_retry_after(busy_server: tuple[str, list[float]]) -> None:
    sqlite_half_only()
    url, arrivals = busy_server

    result = _upload(["majors", str(MAJORS), "--url", url], "key", {})

    assert result.returncode == 0, result.stderr
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.9
    assert "retrying in 1 s" in result.stderr
    assert "2 created" in result.stdout


def test_retries_are_bounded(busy_server: tuple[str, list[float]]) -> None:
    sqlite_half_only()
    url, arrivals = busy_server

    result = _upload(
        ["majors", str(MAJORS), "--url", f"{url}/always-busy", "--retries", "1"], "key", {}
    )

    assert result.returncode == 2
    assert len(arrivals) == 2
    assert result.stderr.strip().splitlines()[-1] == "error: 503 busy"
