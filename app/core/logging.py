"""Request ids and one JSON log line per request; unhandled errors become a problem+json 500."""

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import request_id_var, write_intent_var
from app.core.errors import problem_response
from app.core.i18n import Language, _, language_var, negotiate

REQUEST_ID_HEADER = "x-request-id"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_logger = logging.getLogger("onex.access")
error_logger = logging.getLogger("onex.errors")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("onex")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class RequestContextMiddleware:
    """Accept or make an ``X-Request-ID``, echo it, log the request, and never leak a traceback."""

    def __init__(self, app: ASGIApp, default_language: Language = "zh-CN") -> None:
        self.app = app
        self.default_language: Language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope["headers"])
        incoming = request_headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        language = negotiate(
            request_headers.get(b"accept-language", b"").decode("latin-1"), self.default_language
        )
        language_token = language_var.set(language)
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        intent_token = write_intent_var.set(scope.get("method") not in READ_ONLY_METHODS)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"content-language", language.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error_logger.exception("unhandled error", exc_info=exc)
            if response_started:
                raise
            response = problem_response(
                500,
                _("An internal error occurred; it has been logged with this request id"),
                code="internal_error",
            )
            await response(scope, receive, send_with_id)
        finally:
            state = scope.get("state") or {}
            access_logger.info(
                "request",
                extra={
                    "fields": {
                        "event": "request",
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "user": state.get("principal_label"),
                    }
                },
            )
            request_id_var.reset(token)
            language_var.reset(language_token)
            write_intent_var.reset(intent_token)
