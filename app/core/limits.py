"""At most N requests in the application at once per process; beyond it, 503 problem+json at once.

Every request may need a database connection, and handlers run on a thread pool: admitting more
requests than the pool has connections leaves threads waiting for a connection while requests
holding one wait for a thread, until the pool times out. Refusing the excess at the door keeps
the service answering; a client retries after ``Retry-After``. ``/health`` is never refused (a
busy service is alive)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import problem_response
from app.core.i18n import _

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
                _(
                    "The service is handling {limit} requests at once, its limit; "
                    "retry in {seconds} second(s)",
                    limit=self.limit,
                    seconds=RETRY_AFTER_SECONDS,
                ),
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


BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class BodyLimitMiddleware:
    """Request bodies are bounded before anything else reads them (authentication included):
    a JSON (or any non-upload) body at ``json_limit`` bytes, a multipart upload at
    ``upload_limit``. A declared ``Content-Length`` over the limit is refused at once, unread;
    a body sent without one is read up to the limit and refused as soon as it passes it. Every
    refusal is 413 problem+json."""

    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.upload_limit if upload else self.json_limit
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit, upload)
            return
        if upload:
            # Streamed to the upload parser, which stops at its own limit while reading.
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._refuse(scope, receive, send, limit, upload)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int, upload: bool) -> None:
        what = _("an upload") if upload else _("a request body")
        response = problem_response(
            413,
            _(
                "The body is larger than {limit} bytes, the limit of {what}",
                limit=f"{limit:,}",
                what=what,
            ),
            code="payload_too_large",
            extra={"limit_bytes": limit},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then whatever comes next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
