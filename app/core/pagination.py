"""The one list shape: a page of items with the total that matches the filters. Lists are
declared and answered by :mod:`app.core.listing`."""

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

MAX_LIMIT = 500
DEFAULT_LIMIT = 50

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    offset: int = 0


class Page(BaseModel, Generic[T]):
    """One page of ``items``, the ``total`` matching the filters, the ``limit`` and ``offset``,
    and the cursor of the page after it."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next: str | None = Field(
        default=None,
        description="Pass as `cursor` for the page after this one (also in the `Link` header, "
        "rel=next); null on the last page, and on lists that page by `offset` only",
    )
