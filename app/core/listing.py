"""One resource's list, export and read-one, from one statement builder's output, one stable order
and one row → public mapper: the shape every domain's list endpoints share."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from app.core.errors import NotFound
from app.core.export import fetch_for_export
from app.core.pagination import Page, PageParams, paginate

T = TypeVar("T")


@dataclass(frozen=True)
class Listing(Generic[T]):
    noun: str
    """As the 404 names it: ``No <noun> with id 7``."""
    order: Sequence[Any]
    to_item: Callable[[Any], T]

    def page(self, session: Session, statement: Any, page: PageParams) -> Page[T]:
        return paginate(session, statement, page, list(self.order), self.to_item)

    def export(self, session: Session, statement: Any) -> list[T]:
        return [self.to_item(row) for row in fetch_for_export(session, statement, self.order)]

    def one(self, session: Session, statement: Any, row_id: int) -> T:
        """The single row ``statement`` (already narrowed to ``row_id``) finds, or 404."""
        row = session.exec(statement).first()
        if row is None:
            raise NotFound(f"No {self.noun} with id {row_id}")
        return self.to_item(row)
