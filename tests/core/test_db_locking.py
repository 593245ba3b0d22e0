"""A row locked with SELECT … FOR UPDATE is read as it is once locked, not as first loaded."""

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.reference.models import College
from tests.reference.factories import make_college


def test_locking_select_refreshes_a_row_the_session_already_holds(
    db: Session, engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writing transactions; a held row cannot go stale there")
    college = make_college(db, code="01", name="信息学院")
    with Session(engine, expire_on_commit=False) as mine:
        held = mine.get(College, college.id)  # read in this transaction, before the lock
        assert held is not None
        assert held.name == "信息学院"
        with Session(engine) as theirs:
            other = theirs.get(College, college.id)
            assert other is not None
            other.name = "信息工程学院"
            theirs.commit()

        locked = mine.exec(select(College).where(College.id == college.id).with_for_update()).one()

    assert locked is held
    assert locked.name == "信息工程学院"
    assert locked.version == 2
