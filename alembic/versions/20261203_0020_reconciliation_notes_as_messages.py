"""reconciliation notes and outcomes kept as messages, shown in each reader's language

A row's note and outcome reason were stored as text in the language of the request that made
them. They are now JSON messages (``{"msgid": …, "params": …}``, see ``app.core.i18n.M_``); a
text stored before is kept as it was written (``{"text": …}``). A refused row also keeps its
refusal's code (``outcome_code``), which the apply report gave but the row did not.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "reconciliation_rows"
COLUMNS = {"note": 500, "outcome_reason": 1000}


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome_code", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for column, length in COLUMNS.items():
            op.alter_column(
                TABLE,
                column,
                type_=sa.JSON(),
                existing_type=sa.String(length),
                existing_nullable=True,
                postgresql_using=f"CASE WHEN {column} IS NULL THEN NULL "
                f"ELSE json_build_object('text', {column}) END",
            )
        return
    for column in COLUMNS:
        op.execute(
            f"UPDATE {TABLE} SET {column} = json_object('text', {column}) "
            f"WHERE {column} IS NOT NULL"
        )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for column, length in COLUMNS.items():
            batch_op.alter_column(
                column, type_=sa.JSON(), existing_type=sa.String(length), existing_nullable=True
            )


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_column("outcome_code")
    # A message goes back as its text, or its msgid (the English text) when it has one.
    if op.get_bind().dialect.name == "postgresql":
        for column, length in COLUMNS.items():
            op.alter_column(
                TABLE,
                column,
                type_=sa.String(length),
                existing_type=sa.JSON(),
                existing_nullable=True,
                postgresql_using=f"left(coalesce({column}->>'text', {column}->>'msgid'), "
                f"{length})",
            )
        return
    for column, length in COLUMNS.items():
        op.execute(
            f"UPDATE {TABLE} SET {column} = substr(coalesce(json_extract({column}, '$.text'), "
            f"json_extract({column}, '$.msgid')), 1, {length}) WHERE {column} IS NOT NULL"
        )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for column, length in COLUMNS.items():
            batch_op.alter_column(
                column, type_=sa.String(length), existing_type=sa.JSON(), existing_nullable=True
            )
