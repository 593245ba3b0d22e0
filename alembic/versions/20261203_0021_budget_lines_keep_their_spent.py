"""budget lines keep Σ of their expenditures (spent), kept by the database on every write

What a line has spent was summed from its expenditures wherever it was needed: for each line of
a list page, for each funding source over every entry of its lines (the whole table at a
province's scale), and before every expenditure, to refuse an overdraft. ``budget_lines.spent``
now holds it, in integer fen like ``amount``: filled here from the expenditures already
recorded, then kept by triggers on ``expenditures`` (insert, update of ``line_id`` or
``amount``, delete), so that every way of writing an entry — the API, an upload's bulk insert
or COPY, a subsidy run, plain SQL — keeps it right in the same transaction.

On PostgreSQL the triggers are per statement, reading the statement's transition tables (a
50,000-row COPY updates each line once), and a TRUNCATE of ``expenditures`` sets every line's
spent to 0; on SQLite, per row (SQLite has no TRUNCATE: a DELETE of every row fires them). On SQLite a later migration that
rebuilds ``expenditures`` in batch mode drops its triggers with the old table: create them
again there (``tests/funding/test_line_spent.py`` fails when they are missing).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE budget_lines SET spent = (
  SELECT coalesce(sum(e.amount), 0) FROM expenditures e WHERE e.line_id = budget_lines.id
)
"""

POSTGRESQL_FUNCTION = """
CREATE FUNCTION budget_lines_keep_spent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE budget_lines l SET spent = l.spent + d.amount
    FROM (SELECT line_id, sum(amount) AS amount FROM new_rows GROUP BY line_id) d
    WHERE l.id = d.line_id;
  ELSIF TG_OP = 'TRUNCATE' THEN
    UPDATE budget_lines SET spent = 0 WHERE spent <> 0;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE budget_lines l SET spent = l.spent - d.amount
    FROM (SELECT line_id, sum(amount) AS amount FROM old_rows GROUP BY line_id) d
    WHERE l.id = d.line_id;
  ELSE
    UPDATE budget_lines l SET spent = l.spent + d.amount
    FROM (
      SELECT line_id, sum(amount) AS amount FROM (
        SELECT line_id, amount FROM new_rows
        UNION ALL SELECT line_id, -amount FROM old_rows
      ) changed GROUP BY line_id
    ) d
    WHERE l.id = d.line_id AND d.amount <> 0;
  END IF;
  RETURN NULL;
END $$
"""

POSTGRESQL_TRIGGERS = {
    "expenditures_keep_spent_insert": "AFTER INSERT ON expenditures "
    "REFERENCING NEW TABLE AS new_rows",
    "expenditures_keep_spent_update": "AFTER UPDATE ON expenditures "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "expenditures_keep_spent_delete": "AFTER DELETE ON expenditures "
    "REFERENCING OLD TABLE AS old_rows",
    "expenditures_keep_spent_truncate": "AFTER TRUNCATE ON expenditures",
}

SQLITE_TRIGGERS = {
    "expenditures_keep_spent_insert": """
CREATE TRIGGER expenditures_keep_spent_insert AFTER INSERT ON expenditures BEGIN
  UPDATE budget_lines SET spent = spent + NEW.amount WHERE id = NEW.line_id;
END""",
    "expenditures_keep_spent_update": """
CREATE TRIGGER expenditures_keep_spent_update AFTER UPDATE OF line_id, amount ON expenditures
BEGIN
  UPDATE budget_lines SET spent = spent - OLD.amount WHERE id = OLD.line_id;
  UPDATE budget_lines SET spent = spent + NEW.amount WHERE id = NEW.line_id;
END""",
    "expenditures_keep_spent_delete": """
CREATE TRIGGER expenditures_keep_spent_delete AFTER DELETE ON expenditures BEGIN
  UPDATE budget_lines SET spent = spent - OLD.amount WHERE id = OLD.line_id;
END""",
}


def upgrade() -> None:
    with op.batch_alter_table("budget_lines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("spent", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for name, when in POSTGRESQL_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT "
                "EXECUTE FUNCTION budget_lines_keep_spent()"
            )
    else:
        for create in SQLITE_TRIGGERS.values():
            op.execute(create)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON expenditures" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS budget_lines_keep_spent()")
    with op.batch_alter_table("budget_lines", schema=None) as batch_op:
        batch_op.drop_column("spent")
