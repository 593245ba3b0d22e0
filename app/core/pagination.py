"""The one list shape: a page of items with the total that matches the filters. Lists are
declared and answered by :mod:`app.core.listing`."""

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
COUNT_LIMIT = 10_000
"""A first page counts the matching rows up to this many; past it ``total`` is null unless the
request asks for ``count=true`` (counting a million joined rows costs a few hundred
milliseconds, the page itself one)."""

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    offset: int = 0


class Page(BaseModel, Generic[T]):
    """One page of ``items``, the ``total`` matching the filters (null past
    :data:`COUNT_LIMIT` unless counted on request), the ``limit`` and ``offset``,
    and the cursor of the page after it."""

    items: list[T]
    total: int | None = Field(
        description="How many rows match the filters, counted on a walk's first page: up to "
        f"{COUNT_LIMIT:,}, or however many with `count=true`; null when more match and the "
        "request did not ask for the count"
    )
    limit: int
    offset: int
    next: str | None = Field(
        default=None,
        description="Pass as `cursor` for the page after this one (also in the `Link` header, "
        "rel=next); null on the last page, and on lists that page by `offset` only",
    )
