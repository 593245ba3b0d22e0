"""Optimistic versions: the ``ETag`` a read hands out, the ``If-Match`` a write sends back, and
the 412 when the row moved on in between."""

from typing import Annotated

from fastapi import Depends, Request, Response

from app.core.errors import PreconditionFailed
from app.core.i18n import _, translate


def parse_if_match(request: Request) -> int | None:
    """The version named by ``If-Match`` (``"3"``, ``W/"3"``, ``3``); None when absent or ``*``."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionFailed(
            _(
                'If-Match must be the ETag from a previous GET, such as "3"; got {raw}',
                raw=repr(raw),
            )
        )
    return int(value)


IfMatch = Annotated[int | None, Depends(parse_if_match)]


def check_version(current: int, if_match: int | None, what: str) -> None:
    """412 when the client's ``If-Match`` names another version than the stored one."""
    if if_match is not None and if_match != current:
        raise PreconditionFailed(
            _(
                "The {what} was changed by someone else (current version {current}, "
                "If-Match {if_match}); reload it and apply your change again",
                what=translate(what),
                current=current,
                if_match=if_match,
            ),
            current_version=current,
        )


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def set_created(response: Response, path: str, row_id: int | None, version: int) -> None:
    """``ETag`` and ``Location`` of a row a POST just created under ``/api/v1/<path>``."""
    set_etag(response, version)
    response.headers["Location"] = f"/api/v1/{path}/{row_id}"
