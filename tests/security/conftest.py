"""One world for the package's sweeps, built once (the demo load is the costly part) and emptied
after the last of them. The sweeps use their own client, so the per-test emptying of
tests/conftest.py (which follows the ``engine`` fixture) leaves the world standing between them."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.conftest import _empty_all_tables
from tests.security.world import World, build_world


@pytest.fixture(scope="package")
def world(app: FastAPI) -> Iterator[World]:
    engine = app.state.engine
    try:
        # Built and closed before the sweeps run: a session left open would hold the
        # database (on SQLite, a read lock that every write of the sweep then waits behind).
        with Session(engine, expire_on_commit=False) as db:
            built = build_world(db)
            db.commit()
        yield built
    finally:
        _empty_all_tables(engine)


@pytest.fixture(scope="package")
def sweep_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
