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
        batch_op.add_column(
            sa.Column("outcome_code", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True)
        )
    _retype(
        to_json=True,
        postgresql="CASE WHEN {c} IS NULL THEN NULL ELSE json_build_object('text', {c}) END",
        sqlite="json_object('text', {c})",
    )


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_column("outcome_code")
    # A message goes back as its text, or its msgid (the English text) when it has one.
    _retype(
        to_json=False,
        postgresql="left(coalesce({c}->>'text', {c}->>'msgid'), {n})",
        sqlite="substr(coalesce(json_extract({c}, '$.text'), json_extract({c}, '$.msgid')), 1, {n})",
    )


def _retype(*, to_json: bool, postgresql: str, sqlite: str) -> None:
    """Each column to JSON (or back to text), its values converted by the dialect's expression
    (``{c}`` the column, ``{n}`` its length as text)."""
    for column, length in COLUMNS.items():
        old, new = (sa.String(length), sa.JSON()) if to_json else (sa.JSON(), sa.String(length))
        if op.get_bind().dialect.name == "postgresql":
            using = postgresql.format(c=column, n=length)
            op.alter_column(
                TABLE,
                column,
                type_=new,
                existing_type=old,
                existing_nullable=True,
                postgresql_using=using,
            )
            continue
        value = sqlite.format(c=column, n=length)
        op.execute(f"UPDATE {TABLE} SET {column} = {value} WHERE {column} IS NOT NULL")
        with op.batch_alter_table(TABLE, schema=None) as batch_op:
            batch_op.alter_column(column, type_=new, existing_type=old, existing_nullable=True)
