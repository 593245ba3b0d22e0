"""A list's total is counted, and a deep page's rows picked, on its first table alone only when
its joins and its WHERE cannot change the rows; every other statement is counted and paged as
written. Each case is run both ways on the test database: the answers agree, and the shortcut
is taken where it may be."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlmodel import col

from app.applications.models import PilotTeacher
from app.core.counting import _base_rows, counted_rows, picked_page
from app.reference.models import Teacher

meta = MetaData()
parent = Table("count_probe_parent", meta, Column("id", Integer, primary_key=True))
child = Table(
    "count_probe_child",
    meta,
    Column("id", Integer, primary_key=True),
    Column("parent_id", ForeignKey("count_probe_parent.id"), nullable=False),
    Column("maybe_parent_id", ForeignKey("count_probe_parent.id"), nullable=True),
    Column("code", String(10), nullable=False),
)
note = Table(
    "count_probe_note",
    meta,
    Column("id", Integer, primary_key=True),
    Column("child_id", ForeignKey("count_probe_child.id"), nullable=False),
    Column("only_child_id", ForeignKey("count_probe_child.id"), unique=True),
)


@pytest.fixture
def probe(engine: Engine) -> Iterator[Engine]:
    meta.create_all(engine)
    try:
        with engine.begin() as connection:
            connection.execute(insert(parent), [{"id": i} for i in (1, 2)])
            connection.execute(
                insert(child),
                [
                    {"id": 1, "parent_id": 1, "maybe_parent_id": None, "code": "a"},
                    {"id": 2, "parent_id": 1, "maybe_parent_id": 2, "code": "b"},
                    {"id": 3, "parent_id": 2, "maybe_parent_id": None, "code": "a"},
                ],
            )
            connection.execute(
                insert(note),
                [
                    {"id": 1, "child_id": 1, "only_child_id": 1},
                    {"id": 2, "child_id": 1, "only_child_id": None},
                    {"id": 3, "child_id": 2, "only_child_id": 2},
                ],
            )
        yield engine
    finally:
        meta.drop_all(engine)


def _counts(engine: Engine, statement: Any) -> tuple[int, int]:
    with engine.connect() as connection:
        counted = connection.execute(counted_rows(statement, None)).scalar_one()
        written = connection.execute(
            select(func.count()).select_from(statement.subquery())
        ).scalar_one()
    return counted, written


ON_FIRST_TABLE = {
    "no join": select(child),
    "inner join along a foreign key never null": select(child, parent).join(
        parent, parent.c.id == child.c.parent_id
    ),
    "filtered on the first table": select(child, parent)
    .join(parent, child.c.parent_id == parent.c.id)
    .where(child.c.code == "a"),
    "outer join to a unique column": select(child, note).outerjoin(
        note, note.c.only_child_id == child.c.id
    ),
}

AS_WRITTEN = {
    "inner join along a foreign key that may be null": select(child, parent).join(
        parent, parent.c.id == child.c.maybe_parent_id
    ),
    "outer join to a column that repeats": select(child, note).outerjoin(
        note, note.c.child_id == child.c.id
    ),
    "inner join from parent to children": select(parent, child).join(
        child, child.c.parent_id == parent.c.id
    ),
    "filtered on a joined table": select(child, parent)
    .join(parent, parent.c.id == child.c.maybe_parent_id)
    .where(parent.c.id == 2),
    "filtered through a subquery": select(child).where(child.c.id.in_(select(note.c.child_id))),
    "grouped": select(child.c.code).group_by(child.c.code),
    "distinct": select(child.c.code).distinct(),
    "limited": select(child).order_by(child.c.id).limit(2),
}


@pytest.mark.parametrize("case", sorted(ON_FIRST_TABLE))
def test_a_join_that_keeps_the_count_is_counted_on_the_first_table(
    probe: Engine, case: str
) -> None:
    statement = ON_FIRST_TABLE[case]
    assert _base_rows(statement) is not None
    counted, written = _counts(probe, statement)
    assert counted == written


@pytest.mark.parametrize("case", sorted(AS_WRITTEN))
def test_anything_else_is_counted_as_written(probe: Engine, case: str) -> None:
    statement = AS_WRITTEN[case]
    assert _base_rows(statement) is None
    counted, written = _counts(probe, statement)
    assert counted == written


def test_a_count_past_the_limit_stops_one_row_past_it(probe: Engine) -> None:
    with probe.connect() as connection:
        assert connection.execute(counted_rows(select(child), 1)).scalar_one() == 2
        assert connection.execute(counted_rows(select(child), 5)).scalar_one() == 3


ORDER = [child.c.code.desc(), child.c.id]


@pytest.mark.parametrize("case", sorted(ON_FIRST_TABLE))
@pytest.mark.parametrize(("limit", "offset"), [(1, 1), (2, 1), (1, 2), (5, 0), (2, 3)])
def test_a_page_picked_on_the_first_table_is_the_page_as_written(
    probe: Engine, case: str, limit: int, offset: int
) -> None:
    statement = ON_FIRST_TABLE[case]
    picked = picked_page(statement, ORDER, limit, offset)
    assert picked is not None
    with probe.connect() as connection:
        written = connection.execute(statement.order_by(*ORDER).limit(limit).offset(offset))
        ids = connection.execute(picked.ids).scalars().all()
        narrowed = picked.narrowed(statement, ids)
        shortcut = connection.execute(narrowed.order_by(*ORDER).limit(limit))
        assert [*shortcut] == [*written]


@pytest.mark.parametrize("case", sorted(AS_WRITTEN))
def test_anything_else_is_paged_as_written(case: str) -> None:
    assert picked_page(AS_WRITTEN[case], ORDER, 2, 1) is None


def test_a_page_ordered_by_a_joined_table_is_paged_as_written() -> None:
    statement = ON_FIRST_TABLE["inner join along a foreign key never null"]
    assert picked_page(statement, [parent.c.id, child.c.id], 2, 1) is None


def test_an_order_by_a_mapped_attribute_of_a_joined_table_is_paged_as_written() -> None:
    statement = select(PilotTeacher, Teacher).join(
        Teacher, col(Teacher.id) == PilotTeacher.teacher_id
    )
    assert picked_page(statement, [Teacher.staff_no, PilotTeacher.id], 2, 1) is None
    assert picked_page(statement, [PilotTeacher.teacher_id, PilotTeacher.id], 2, 1) is not None
