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
from app.core.i18n import N_, _, translate

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
    title = N_("Bad request")

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
    title = N_("Not authenticated")

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    title = N_("Forbidden")


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    title = N_("Not found")


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    title = N_("Conflict")


class InvalidState(Conflict):
    """A workflow action that the current state does not allow."""

    code = "invalid_state"
    title = N_("Action not allowed in the current state")


class MethodNotAllowed(AppError):
    """A method a route refuses on purpose, with the reason (e.g. money records are never
    edited); the handler adds ``Allow`` from the documented routes, as for any other 405."""

    status_code = 405
    code = "method_not_allowed"
    title = N_("Method not allowed")


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"
    title = N_("Precondition failed")


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    title = N_("Payload too large")


class UnprocessableEntity(AppError):
    status_code = 422
    code = "validation_error"
    title = N_("Invalid input")


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    title = N_("Too many requests")


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    title = N_("Service unavailable")


def missing(what: str, row_id: int, field: str | None = None) -> Exception:
    """No such row: 422 on ``field`` when the id came in a body, else 404."""
    if field:
        return UnprocessableEntity(
            _("No {what} with id {row_id}", what=translate(what), row_id=row_id),
            errors=[{"field": field, "message": _("no such {what}", what=translate(what))}],
        )
    return NotFound(_("No {what} with id {row_id}", what=translate(what), row_id=row_id))


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

_TITLE_BY_STATUS = {
    400: N_("Bad request"),
    401: N_("Not authenticated"),
    403: N_("Forbidden"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    406: N_("Not acceptable"),
    409: N_("Conflict"),
    412: N_("Precondition failed"),
    413: N_("Payload too large"),
    415: N_("Unsupported media type"),
    422: N_("Invalid input"),
    429: N_("Too many requests"),
    500: N_("Internal server error"),
    503: N_("Service unavailable"),
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
    """Build the problem+json response; every error of the service goes through here.

    ``detail`` comes translated (built with ``_()``); ``title`` is a catalogue msgid, translated
    here into the request's language."""
    code = code or _CODE_BY_STATUS.get(status, f"http_{status}")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": translate(title or _TITLE_BY_STATUS.get(status) or HTTPStatus(status).phrase),
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


_VALIDATION_MESSAGES = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "string_type": N_("Input should be a valid string"),
    "string_too_short": N_("String should have at least {min_length} characters"),
    "string_too_long": N_("String should have at most {max_length} characters"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "decimal_parsing": N_("Input should be a valid decimal"),
    "decimal_type": N_("Decimal input should be an integer, float, string or Decimal object"),
    "decimal_max_places": N_(
        "Decimal input should have no more than {decimal_places} decimal places"
    ),
    "decimal_max_digits": N_("Decimal input should have no more than {max_digits} digits in total"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "finite_number": N_("Input should be a finite number"),
    "enum": N_("Input should be {expected}"),
    "literal_error": N_("Input should be {expected}"),
    "date_type": N_("Input should be a valid date"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, {error}"),
    "date_from_datetime_parsing": N_("Input should be a valid date or datetime, {error}"),
    "date_from_datetime_inexact": N_("Datetimes provided to dates should have zero time"),
    "datetime_type": N_("Input should be a valid datetime"),
    "datetime_parsing": N_("Input should be a valid datetime, {error}"),
    "datetime_from_date_parsing": N_("Input should be a valid datetime or date, {error}"),
    "timezone_aware": N_("Input should have timezone info"),
    "list_type": N_("Input should be a valid list"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be a valid dictionary or instance of {class_name}"),
    "model_attributes_type": N_(
        "Input should be a valid dictionary or object to extract fields from"
    ),
    "too_short": N_("List should have at least {min_length} items after validation"),
    "too_long": N_("List should have at most {max_length} items after validation"),
    "json_invalid": N_("Invalid JSON: {error}"),
    "json_type": N_("JSON input should be string, bytes or bytearray"),
    "uuid_parsing": N_("Input should be a valid UUID, {error}"),
    "url_parsing": N_("Input should be a valid URL, {error}"),
    "multiple_of": N_("Input should be a multiple of {multiple_of}"),
    "set_type": N_("Input should be a valid set"),
    "union_tag_invalid": N_(
        "Input tag '{tag}' found using {discriminator} does not match any of the expected "
        "tags: {expected_tags}"
    ),
}


def _choices(expected: str) -> str:
    """Pydantic's list of the allowed values (``'a', 'b' or 'c'``) with its "or" in the
    request's language."""
    *items, last = re.split(r", | or ", expected)
    if not items:
        return last
    return _("{items} or {last}", items=", ".join(items), last=last)


def validation_message(err: Any) -> str:
    """One pydantic error's message in the request's language.

    A validator's own ``ValueError`` carries a message already built with ``_()``; pydantic's
    built-in errors are translated here from their type and context."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    template = _VALIDATION_MESSAGES.get(kind)
    if template is not None:
        if kind in {"enum", "literal_error"} and "expected" in ctx:
            ctx = {**ctx, "expected": _choices(str(ctx["expected"]))}
        try:
            return translate(template).format(**{k: str(v) for k, v in ctx.items()})
        except (KeyError, IndexError, ValueError):
            pass
    return _("Invalid value: {message}", message=str(err.get("msg", "")))


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    return [
        {"field": _field_path(err.get("loc", ())), "message": validation_message(err)}
        for err in exc.errors()
    ]


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
            _(
                "The request body could not be parsed: send UTF-8 JSON (or the form the route "
                "documents)"
            ),
            code="validation_error",
            title=N_("Invalid input"),
            errors=[{"field": "body", "message": _("not parseable")}],
        )
    if status == 404 and detail == "Not Found":
        detail = _("No resource at this path; see /docs for the routes this service offers")
    headers = dict(exc.headers or {})
    if status == 405:
        allowed = _allowed_methods(request) or headers.get("Allow") or headers.get("allow")
        if allowed:
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["Allow"] = allowed
            detail = _("Method not allowed here; allowed: {allowed}", allowed=allowed)
    return problem_response(status, detail, headers=headers)


async def _validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(
        422,
        _("The request is not valid: {summary}", summary=summary)
        if summary
        else _("The request is not valid"),
        code="validation_error",
        title=N_("Invalid input"),
        errors=errors,
    )


async def _integrity_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    # A constraint caught what a service check could not (a concurrent writer got there first).
    logger.info("integrity error turned into 409: %s", exc)
    return problem_response(
        409,
        _(
            "The change conflicts with data written at the same time (a unique or reference "
            "constraint refused it); reload and try again"
        ),
        code="conflict",
    )


async def _data_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.info("data error turned into 422: %s", exc)
    return problem_response(
        422,
        _(
            "A value is not acceptable to the database (too long, out of range, or containing a "
            "NUL character)"
        ),
        code="validation_error",
        title=N_("Invalid input"),
        errors=[],
    )


async def _operational_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", exc)
    return problem_response(
        503,
        _("The database is busy or unreachable; try again shortly"),
        headers={"Retry-After": "2"},
    )


async def _unhandled_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return problem_response(
        500,
        _("An internal error occurred; it has been logged with this request id"),
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
