"""Alembic owns the schema: the models and the migrations must describe the same database."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from app.core.migrations import current_revisions, head_revisions


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        differences = compare_metadata(context, SQLModel.metadata)

    assert differences == [], f"models and migrations differ; write a migration: {differences}"


def test_test_database_is_at_the_single_head(engine: Engine, database_url: str) -> None:
    heads = head_revisions(database_url)

    with engine.connect() as connection:
        assert current_revisions(connection) == heads
    assert len(heads) == 1
