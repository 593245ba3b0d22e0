"""At most N requests in the application at once per process; beyond it, 503 problem+json at once.

Every request may need a database connection, and handlers run on a thread pool: admitting more
requests than the pool has connections leaves threads waiting for a connection while requests
holding one wait for a thread, until the pool times out. Refusing the excess at the door keeps
the service answering; a client retries after ``Retry-After``. ``/health`` is never refused (a
busy service is alive)."""

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import problem_response

RETRY_AFTER_SECONDS = 1
EXEMPT_PATHS = frozenset({"/health"})


class ConcurrencyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            response = problem_response(
                503,
                f"The service is handling {self.limit} requests at once, its limit; "
                f"retry in {RETRY_AFTER_SECONDS} second(s)",
                code="overloaded",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await response(scope, receive, send)
            return
        # One event loop per process: the counter needs no lock (no await between test and set).
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
