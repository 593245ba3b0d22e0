"""Per-request context readable from anywhere: the request id, and whether a transaction
begun now means to write."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

write_intent_var: ContextVar[bool] = ContextVar("write_intent", default=True)
"""False while serving a read-only request (GET, HEAD, OPTIONS): SQLite then begins deferred."""


@contextmanager
def read_only() -> Iterator[None]:
    """Transactions begun inside only read: on SQLite they begin deferred, taking no write
    lock (the row a write reads back after its commit, the audit chain's verification)."""
    token = write_intent_var.set(False)
    try:
        yield
    finally:
        write_intent_var.reset(token)


def current_request_id() -> str | None:
    return request_id_var.get()
