"""The one list shape: a page of items with the total that matches the filters. Lists are
declared and answered by :mod:`app.core.listing`."""

from typing import Generic, TypeVar

from pydantic import BaseModel

MAX_LIMIT = 500
DEFAULT_LIMIT = 50

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    offset: int = 0


class Page(BaseModel, Generic[T]):
    """One page of ``items``, the ``total`` matching the filters, the ``limit`` and ``offset``."""

    items: list[T]
    total: int
    limit: int
    offset: int
