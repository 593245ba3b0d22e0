"""Per-request context readable from anywhere: the request id."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

write_intent_var: ContextVar[bool] = ContextVar("write_intent", default=True)
"""False while serving a read-only request (GET, HEAD, OPTIONS): SQLite then begins deferred."""


def current_request_id() -> str | None:
    return request_id_var.get()
