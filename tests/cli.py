"""The command line in tests: ``python -m app …`` as a subprocess, and an app served by it."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def app_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``ONEX_`` setting, plus ``settings`` (messages in
    English unless ``ONEX_DEFAULT_LANGUAGE`` is given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEX_")}
    env["ONEX_DEFAULT_LANGUAGE"] = "en"
    env.update(settings)
    return env


def run_app(
    args: list[str],
    env: dict[str, str],
    *,
    cwd: Path = ROOT,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python -m app ARGS`` to its end, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(env: dict[str, str], *, cwd: Path = ROOT, seconds: float = 60) -> Iterator[str]:
    """``python -m app serve`` on a free port, once it answers ``/ready``, until the block
    ends; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("the served app did not become ready")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
