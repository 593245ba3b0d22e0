"""``python -m app serve``: every connection a worker accepts has ``TCP_NODELAY``, with 1 or N
workers (issue 14, item 5; app/core/serving.py).

The option is set on the server's side of the connection, which the client cannot see. The
end-to-end test therefore looks at the server's own socket: it finds, among the worker
processes' open files, the socket whose peer is the client's end (through /proc), takes a
duplicate of it with ``pidfd_getfd(2)`` (the workers are this test's descendants, so it may),
and reads ``TCP_NODELAY`` from that duplicate: the very socket the worker serves the client on.
"""

import asyncio
import ctypes
import errno
import http.client
import os
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.core.serving import listening_socket

ROOT = Path(__file__).resolve().parents[1]
SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def _accepted_nodelay(listener: socket.socket) -> int:
    """Serve ``listener`` with asyncio, connect once, and read the accepted socket's option."""
    accepted: asyncio.Queue[asyncio.BaseTransport] = asyncio.Queue()

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.put_nowait(transport)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Protocol, sock=listener)
    host, port = listener.getsockname()[:2]
    _, writer = await asyncio.open_connection(host, port)
    transport = await asyncio.wait_for(accepted.get(), timeout=10)
    option = _nodelay(transport.get_extra_info("socket"))
    writer.close()
    transport.close()
    server.close()
    await server.wait_closed()
    return option


def test_the_listening_socket_is_tcp_so_asyncio_sets_nodelay_on_each_connection() -> None:
    sock = listening_socket("127.0.0.1", 0)

    assert sock.proto == socket.IPPROTO_TCP
    assert sock.family == socket.AF_INET
    assert sock.get_inheritable()
    assert sock.getsockname()[1] != 0
    assert asyncio.run(_accepted_nodelay(sock)) == 1


def test_a_socket_without_the_protocol_leaves_nagle_on() -> None:
    """The upstream bug this module works around: uvicorn's ``socket.socket(AF_INET)``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))

    assert sock.proto == 0
    assert asyncio.run(_accepted_nodelay(sock)) == 0


def test_an_ipv6_host_gets_an_ipv6_socket() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        sock = listening_socket("::1", 0)
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")

    assert sock.family == socket.AF_INET6
    assert sock.proto == socket.IPPROTO_TCP
    assert asyncio.run(_accepted_nodelay(sock)) == 1


def test_an_address_in_use_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match=os.strerror(errno.EADDRINUSE)):
            listening_socket("127.0.0.1", taken.getsockname()[1])


# --- the real server ---------------------------------------------------------------------------


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEX_")}
    env["ONEX_DATABASE_URL"] = f"sqlite:///{tmp_path}/serve.db"
    env["ONEX_SECRET_KEY"] = "serve-test-secret-key-long-enough-0123456789"
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
    return env


@contextmanager
def _served(env: dict[str, str], workers: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``python -m app serve --port 0 --workers N`` until every worker has started; yields the
    process and the port it took."""
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", "0", "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        port, started, seen = 0, 0, list[str]()
        while started < workers:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                pytest.fail("the server did not start:\n" + "".join(seen))
            seen.append(line)
            if match := re.search(r"running on http://127\.0\.0\.1:(\d+) with TCP_NODELAY", line):
                port = int(match[1])
            started += "Application startup complete" in line
        assert port, "".join(seen)
        yield server, port
    finally:
        server.terminate()
        server.wait(timeout=20)


def _descendants(pid: int) -> list[int]:
    found = []
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
        for child in map(int, children.read().split()):
            found += [child, *_descendants(child)]
    return found


def _socket_of(pid: int, fd: int) -> socket.socket | None:
    """A duplicate of process ``pid``'s file ``fd``, through ``pidfd_getfd(2)``."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        duplicate = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if duplicate < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOSYS, errno.EPERM):
                pytest.skip(f"pidfd_getfd is not allowed here: {os.strerror(code)}")
            return None  # the file was closed meanwhile
        return socket.socket(fileno=duplicate)
    finally:
        os.close(pidfd)


def _server_end(pids: list[int], client: socket.socket) -> socket.socket:
    """The socket, in one of ``pids``, whose peer is ``client``: the accepted connection."""
    for pid in pids:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except FileNotFoundError:
                continue
            sock = _socket_of(pid, int(name))
            if sock is None:
                continue
            try:
                if sock.family == client.family and sock.getpeername() == client.getsockname():
                    return sock
            except OSError:
                pass  # not connected: the listening socket, a pipe to the parent, …
            sock.close()
    raise AssertionError(f"no process of {pids} holds the server end of {client.getsockname()}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, pidfd_getfd")
@pytest.mark.parametrize("workers", [2, 1])
def test_every_worker_serves_keep_alive_connections_with_nodelay(
    serve_env: dict[str, str], workers: int
) -> None:
    with _served(serve_env, workers) as (server, port):
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(4)]
        statuses = []
        for connection in connections:
            for path in ("/health", "/ready", "/health"):  # keep-alive: one connection each
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
        pids = [server.pid, *_descendants(server.pid)]
        options = []
        for connection in connections:
            assert connection.sock is not None
            with _server_end(pids, connection.sock) as accepted:
                options.append(_nodelay(accepted))
            connection.close()

    assert statuses == [200] * 12
    assert len(pids) >= (workers + 1 if workers > 1 else 1)
    assert options == [1, 1, 1, 1]
