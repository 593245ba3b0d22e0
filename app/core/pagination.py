"""The one list shape and the one pagination dependency."""

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1–{MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of ``items``, the ``total`` matching the filters, the ``limit`` and ``offset``."""

    items: list[T]
    total: int
    limit: int
    offset: int


def paginate(
    session: Session,
    statement: Any,
    page: PageParams,
    order_by: list[Any],
    to_item: Callable[[Any], T],
) -> Page[T]:
    """One page of ``statement`` in a stable order, with the total that matches its filters."""
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    total = session.exec(counted).one()
    rows = session.exec(statement.order_by(*order_by).limit(page.limit).offset(page.offset))
    return Page[T](
        items=[to_item(row) for row in rows.all()],
        total=int(total),
        limit=page.limit,
        offset=page.offset,
    )
