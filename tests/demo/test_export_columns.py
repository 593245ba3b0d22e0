"""A list whose export reads its columns straight from SQL writes exactly the cells its items
would: on the demo data, for every such list, both ways give the same rows."""

import importlib
import pkgutil
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

import app
from app.core.export import cell_value, item_rows
from app.core.listing import Listing
from app.core.roles import Principal, Role
from app.demo.loader import load_demo

OFFICE = Principal(role=Role.academic_office, label="test")


def _listings() -> list[tuple[str, Listing[Any, Any]]]:
    found: dict[int, tuple[str, Listing[Any, Any]]] = {}
    for module_info in pkgutil.walk_packages(app.__path__, "app."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if isinstance(value, Listing) and value.reads_export_columns:
                found.setdefault(id(value), (f"{module_info.name}.{name}", value))
    return sorted(found.values(), key=lambda pair: pair[0])


def _cells(rows: Any) -> list[list[Any]]:
    return [[cell_value(value) for value in row] for row in rows]


def test_sql_columns_and_items_give_the_same_export(db: Session, engine: Engine) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    listings = _listings()
    assert len(listings) >= 3, listings
    with Session(engine) as session:  # the app's engine: exports read in a transaction
        _compare(session, listings)


def _compare(db: Session, listings: list[tuple[str, Listing[Any, Any]]]) -> None:
    for name, listing in listings:
        filters = listing.filters()
        from_sql = _cells(listing.export_rows(db, OFFICE, filters))
        statement = listing.statement(db, OFFICE, filters).order_by(*listing.order)
        items = listing.items(db, statement)
        from_items = _cells(item_rows(items, listing.columns))
        assert from_sql == from_items, name
        assert from_sql, f"{name} has no rows in the demo: the comparison would prove nothing"
