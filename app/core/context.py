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


alone_var: ContextVar[bool] = ContextVar("alone", default=False)
"""True while each statement on SQLite is to be a transaction of its own (no BEGIN)."""


@contextmanager
def each_statement_alone() -> Iterator[None]:
    """On SQLite, transactions begun inside issue no BEGIN: each statement is a transaction of
    its own, done when it is (for one read that must neither take nor hold a lock, such as a
    write request's look-up of its caller). Elsewhere nothing changes."""
    token = alone_var.set(True)
    try:
        yield
    finally:
        alone_var.reset(token)


def current_request_id() -> str | None:
    return request_id_var.get()
