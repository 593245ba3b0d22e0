"""One served app for the tests of integrators and script authors (issue 17).

``python -m app serve`` on a free port, on its own SQLite database with a bootstrap admin: what
an integrator has after `make run`, without the (slow) demo data. These tests talk HTTP only and
do not depend on the database, so they run once, in the SQLite half of ``make test``.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "admin"
ADMIN_PASSWORD = "integration-admin-password"
OFFICE = "office"  # the academic office: the role that uploads reference data and applications


@dataclass(frozen=True)
class Served:
    url: str
    env: dict[str, str]


def sqlite_half_only() -> None:
    if os.environ.get("ONEX_TEST_DATABASE_URL"):
        pytest.skip("runs once, in the SQLite half: it serves its own database over HTTP")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_env(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEX_")}
    env["ONEX_DATABASE_URL"] = f"sqlite:///{database}"
    env["ONEX_SECRET_KEY"] = "integration-secret-key-long-enough-0123456789"
    env["ONEX_BOOTSTRAP_ADMIN_USERNAME"] = ADMIN
    env["ONEX_BOOTSTRAP_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    return env


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    sqlite_half_only()
    env = cli_env(tmp_path_factory.mktemp("served") / "served.db")
    migrated = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("the served app did not become ready")
        token = _token(url, ADMIN)
        office = httpx.post(
            f"{url}/api/v1/users",
            json={"username": OFFICE, "password": ADMIN_PASSWORD, "role": "academic_office"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert office.status_code == 201, office.text
        yield Served(url=url, env=env)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _token(url: str, username: str) -> str:
    answer = httpx.post(
        f"{url}/api/v1/auth/token",
        data={"username": username, "password": ADMIN_PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def api_key(served: Served, name: str) -> str:
    """A fresh API key of the academic office on the served app."""
    token = _token(served.url, ADMIN)
    created = httpx.post(
        f"{served.url}/api/v1/api-keys",
        json={"name": name, "role": "academic_office"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key
