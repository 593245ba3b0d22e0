"""The one error family, rendered once as RFC 9457 ``application/problem+json``."""

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.context import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:onex:problem:"
logger = logging.getLogger("onex.errors")


class FieldError(BaseModel):
    field: str = Field(description="Where the bad value is, e.g. `body.headcount` or `query.limit`")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="A URN naming the kind of problem; the same as `code`")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code, e.g. `not_found`")
    request_id: str | None = None
    errors: list[FieldError] | None = None

    model_config = {"extra": "allow"}


class AppError(Exception):
    """Base of every error a service raises; the handler turns it into problem+json."""

    status_code = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    title = "Not authenticated"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class InvalidState(Conflict):
    """A workflow action that the current state does not allow."""

    code = "invalid_state"
    title = "Action not allowed in the current state"


class MethodNotAllowed(AppError):
    """A method a route refuses on purpose, with the reason (e.g. money records are never
    edited); the handler adds ``Allow`` from the documented routes, as for any other 405."""

    status_code = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"
    title = "Precondition failed"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnprocessableEntity(AppError):
    status_code = 422
    code = "validation_error"
    title = "Invalid input"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    title = "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    title = "Service unavailable"


_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Build the problem+json response; every error of the service goes through here."""
    code = code or _CODE_BY_STATUS.get(status, f"http_{status}")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": current_request_id(),
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid value"))
        errors.append({"field": _field_path(err.get("loc", ())), "message": message})
    return errors


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = exc.headers
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers = {**headers, "Allow": allowed}
    return problem_response(
        exc.status_code,
        exc.detail,
        code=exc.code,
        title=exc.title,
        headers=headers,
        extra=exc.extra,
    )


def _path_methods(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each documented path as a pattern, with every method it answers (built once per app)."""
    cached: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "path_methods", None)
    if cached is None:
        cached = []
        for path, item in app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
            methods = {m.upper() for m in item if m in {"get", "post", "put", "patch", "delete"}}
            if "GET" in methods:
                methods.add("HEAD")
            cached.append((re.compile(pattern), methods))
        app.state.path_methods = cached
    return cached


def _allowed_methods(request: Request) -> str | None:
    """All methods of every route at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for pattern, route_methods in _path_methods(request.app):
        if pattern.fullmatch(request.url.path):
            methods |= route_methods
    return ", ".join(sorted(methods)) or None


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).description
    if status == 400 and detail == "There was an error parsing the body":
        # Same answer as for malformed JSON: the body could not be read.
        return problem_response(
            422,
            "The request body could not be parsed: send UTF-8 JSON (or the form the route "
            "documents)",
            code="validation_error",
            title="Invalid input",
            errors=[{"field": "body", "message": "not parseable"}],
        )
    if status == 404 and detail == "Not Found":
        detail = "No resource at this path; see /docs for the routes this service offers"
    headers = dict(exc.headers or {})
    if status == 405:
        allowed = _allowed_methods(request) or headers.get("Allow") or headers.get("allow")
        if allowed:
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["Allow"] = allowed
            detail = f"Method not allowed here; allowed: {allowed}"
    return problem_response(status, detail, headers=headers)


async def _validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(
        422,
        f"The request is not valid: {summary}" if summary else "The request is not valid",
        code="validation_error",
        title="Invalid input",
        errors=errors,
    )


async def _integrity_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    # A constraint caught what a service check could not (a concurrent writer got there first).
    logger.info("integrity error turned into 409: %s", exc)
    return problem_response(
        409,
        "The change conflicts with data written at the same time (a unique or reference "
        "constraint refused it); reload and try again",
        code="conflict",
    )


async def _data_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.info("data error turned into 422: %s", exc)
    return problem_response(
        422,
        "A value is not acceptable to the database (too long, out of range, or containing a "
        "NUL character)",
        code="validation_error",
        title="Invalid input",
        errors=[],
    )


async def _operational_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", exc)
    return problem_response(
        503,
        "The database is busy or unreachable; try again shortly",
        headers={"Retry-After": "2"},
    )


async def _unhandled_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return problem_response(
        500,
        "An internal error occurred; it has been logged with this request id",
        code="internal_error",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(IntegrityError, _integrity_error_handler)
    app.add_exception_handler(DataError, _data_error_handler)
    app.add_exception_handler(OperationalError, _operational_error_handler)
    app.add_exception_handler(PoolTimeoutError, _operational_error_handler)
    app.add_exception_handler(Exception, _unhandled_error_handler)


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, expired or invalid credentials",
    403: "The credential's role or scope does not allow this",
    404: "No such resource",
    405: "Method not allowed",
    409: "Conflicts with the current state or with existing data",
    412: "`If-Match` does not match the current version",
    413: "Upload too large",
    415: "Unsupported media type",
    422: "Invalid input; `errors` lists each field",
    429: "Too many requests; see `Retry-After`",
    503: "Not ready",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` declaration for problem+json errors, so the OpenAPI shows them."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
