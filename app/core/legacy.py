"""The list and export helpers the domains used before :mod:`app.core.listing`; each domain moves
onto ``Listing`` and this module goes when the last one has (temporary)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from app.core.errors import NotFound, UnprocessableEntity
from app.core.pagination import Page, PageParams, paginate

T = TypeVar("T")

EXPORT_MAX_ROWS = 200_000


def fetch_for_export(session: Session, statement: Any, order_by: Sequence[Any]) -> list[Any]:
    """Every row ``statement`` matches, in order; 422 past ``EXPORT_MAX_ROWS``."""
    rows = list(session.exec(statement.order_by(*order_by).limit(EXPORT_MAX_ROWS + 1)).all())
    if len(rows) > EXPORT_MAX_ROWS:
        raise UnprocessableEntity(
            f"More than {EXPORT_MAX_ROWS:,} rows match; narrow the filters to export them",
            code="export_too_large",
            errors=[{"field": "query", "message": f"more than {EXPORT_MAX_ROWS} rows match"}],
        )
    return rows


@dataclass(frozen=True)
class RowListing(Generic[T]):
    noun: str
    order: Sequence[Any]
    to_item: Callable[[Any], T]

    def page(self, session: Session, statement: Any, page: PageParams) -> Page[T]:
        return paginate(session, statement, page, list(self.order), self.to_item)

    def export(self, session: Session, statement: Any) -> list[T]:
        return [self.to_item(row) for row in fetch_for_export(session, statement, self.order)]

    def one(self, session: Session, statement: Any, row_id: int) -> T:
        row = session.exec(statement).first()
        if row is None:
            raise NotFound(f"No {self.noun} with id {row_id}")
        return self.to_item(row)
