"""Serving over HTTP: the listening socket, made here, and uvicorn run on it with 1 or N workers.

uvicorn's own multi-worker (and reload) path binds its socket as ``socket.socket(AF_INET)``,
whose ``proto`` is 0. asyncio sets ``TCP_NODELAY`` on an accepted connection only when the
socket's ``proto`` is ``IPPROTO_TCP`` (``asyncio.base_events._set_nodelay``), and an accepted
socket inherits ``proto`` from the listening one; so under ``uvicorn --workers N`` Nagle's
algorithm stays on, and every keep-alive request after the first waits for the client's delayed
ACK, about 40 ms (upstream uvicorn issue #3149). :func:`listening_socket` names the protocol, so
every connection any worker accepts gets ``TCP_NODELAY``; :func:`serve` hands that one socket to
uvicorn, to the worker supervisor with N workers and to the server itself with one, so both
serve the same way.
"""

import logging
import socket
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import ChangeReload, Multiprocess

logger = logging.getLogger("uvicorn.error")


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` and listening, inheritable by worker processes.

    IPv6 when ``host`` is an IPv6 address (it has a ``:``), IPv4 otherwise, as uvicorn decides;
    ``port`` 0 takes a free port (read it back with ``getsockname()``). Raises ``OSError`` when
    the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(app: str, *, host: str, port: int, workers: int, reload: bool, **options: Any) -> int:
    """Run uvicorn on :func:`listening_socket` until it is stopped; the process's exit status.

    ``app`` is an import string; ``options`` are passed to ``uvicorn.Config``.
    """
    config = uvicorn.Config(app, host=host, port=port, workers=workers, reload=reload, **options)
    try:
        sock = listening_socket(host, port, config.backlog)
    except OSError as exc:
        logger.error(exc)
        return STARTUP_FAILURE
    address = "[%s]:%d" if ":" in host else "%s:%d"
    logger.info(
        f"Uvicorn running on http://{address} with TCP_NODELAY, %d worker(s) "
        "(Press CTRL+C to quit)",
        host,
        sock.getsockname()[1],
        config.workers,
    )
    server = uvicorn.Server(config)
    with sock:
        try:
            if config.should_reload:
                ChangeReload(config, target=server.run, sockets=[sock]).run()
            elif config.workers > 1:
                Multiprocess(config, sockets=[sock]).run()
            else:
                server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
    if config.workers == 1 and not config.should_reload and not server.started:
        return STARTUP_FAILURE
    return 0
