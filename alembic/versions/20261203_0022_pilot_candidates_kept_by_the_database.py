"""pilot candidates: the funnel's facts per student and pilot, kept by the database on every write

The funnel, the overview and the evaluation's exam indicators counted distinct students over
every live registration of a year joined with its result and its certificate, and over every
training enrolment: at a province's scale (a million registrations) each such report took 2–3 s
however it was written. ``pilot_candidates`` holds, per (pilot, student), how many live
registrations, of them sat, passed and certified, and how many training enrolments the
student has in the pilot. It is filled here from the rows already recorded, then kept by
triggers on ``exam_registrations``, ``exam_results``, ``issued_certificates``,
``training_enrollments`` and ``training_batches``, so that every way of writing those rows —
the API, an upload's bulk insert or COPY, plain SQL — keeps it right in the same transaction.
Each trigger adds the new rows' part and takes away the old rows' part; a candidate whose
counts all fall to 0 is deleted.

Concurrent writers cannot skew it: a result's or certificate's trigger takes a share lock on
the registration it counts under (so a registration cancelled at the same moment waits for
it, or it for the cancel, and the later one sees the earlier), and an enrolment's trigger on
its batch (so a batch moved to another pilot at the same moment does the same).

On PostgreSQL the triggers are per statement, reading the statement's transition tables (a
50,000-row COPY updates each candidate once), and a TRUNCATE of any of the tables rebuilds the
candidates from what is left; on SQLite, per row. On SQLite a later migration that rebuilds one
of these tables in batch mode drops its triggers with the old table: create them again there
(``tests/exams/test_pilot_candidates.py`` fails when they are missing).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("registered", "sat", "passed", "certified", "trained")
COLUMNS = "application_id, student_id, " + ", ".join(COUNTS)


def _none_left(prefix: str = "") -> str:
    """A candidate left with nothing counted."""
    return " AND ".join(f"{prefix}{count} <= 0" for count in COUNTS)


# Each table's part in the candidates: rows of (application_id, student_id, registered, sat,
# passed, certified, trained), signed {s} (+1 for rows written, -1 for rows taken away), for
# the rows of {rows} (a transition table, NEW/OLD on SQLite, the table itself when filling).
REGISTRATIONS = """SELECT x.application_id AS application_id, x.student_id AS student_id,
  {s} AS registered, CASE WHEN x.status = 'sat' THEN {s} ELSE 0 END AS sat,
  CASE WHEN res.passed THEN {s} ELSE 0 END AS passed,
  CASE WHEN c.id IS NOT NULL THEN {s} ELSE 0 END AS certified, 0 AS trained
FROM {rows} LEFT JOIN exam_results res ON res.registration_id = x.id
LEFT JOIN issued_certificates c ON c.result_id = res.id AND c.status = 'valid'
WHERE x.live"""
RESULTS = """SELECT r.application_id AS application_id, r.student_id AS student_id,
  0 AS registered, 0 AS sat, CASE WHEN x.passed THEN {s} ELSE 0 END AS passed,
  CASE WHEN c.id IS NOT NULL THEN {s} ELSE 0 END AS certified, 0 AS trained
FROM {rows} JOIN exam_registrations r ON r.id = x.registration_id AND r.live
LEFT JOIN issued_certificates c ON c.result_id = x.id AND c.status = 'valid'
WHERE true"""
CERTIFICATES = """SELECT r.application_id AS application_id, r.student_id AS student_id,
  0 AS registered, 0 AS sat, 0 AS passed, {s} AS certified, 0 AS trained
FROM {rows} JOIN exam_results res ON res.id = x.result_id
JOIN exam_registrations r ON r.id = res.registration_id AND r.live
WHERE x.status = 'valid'"""
ENROLMENTS = """SELECT b.application_id AS application_id, x.student_id AS student_id,
  0 AS registered, 0 AS sat, 0 AS passed, 0 AS certified, {s} AS trained
FROM {rows} JOIN training_batches b ON b.id = x.batch_id
WHERE true"""
# Rows just inserted: nothing can reference them yet (a result its registration, a
# certificate its result), so their part needs no join to the tables that would.
INSERTED = {
    "exam_registrations": """SELECT x.application_id AS application_id,
  x.student_id AS student_id, {s} AS registered,
  CASE WHEN x.status = 'sat' THEN {s} ELSE 0 END AS sat, 0 AS passed, 0 AS certified,
  0 AS trained
FROM {rows} WHERE x.live""",
    "exam_results": """SELECT r.application_id AS application_id, r.student_id AS student_id,
  0 AS registered, 0 AS sat, CASE WHEN x.passed THEN {s} ELSE 0 END AS passed,
  0 AS certified, 0 AS trained
FROM {rows} JOIN exam_registrations r ON r.id = x.registration_id AND r.live
WHERE true""",
}
# A batch moved to another pilot moves its enrolments' part with it.
BATCHES = """SELECT x.application_id AS application_id, e.student_id AS student_id,
  0 AS registered, 0 AS sat, 0 AS passed, 0 AS certified, {s} AS trained
FROM {rows} JOIN training_enrollments e ON e.batch_id = x.id
WHERE true"""


def _fill() -> str:
    parts = " UNION ALL ".join(
        part.format(s=1, rows=f"{table} x")
        for part, table in (
            (REGISTRATIONS, "exam_registrations"),
            (ENROLMENTS, "training_enrollments"),
        )
    )
    sums = ", ".join(f"sum({count})" for count in COUNTS)
    return (
        f"INSERT INTO pilot_candidates ({COLUMNS}) SELECT application_id, student_id, {sums} "
        f"FROM ({parts}) AS p GROUP BY application_id, student_id"
    )


# --- PostgreSQL: per statement, from the transition tables ----------------------------------

# What a statement's trigger locks before it counts: the registrations (or batches) its rows
# count under, so that a concurrent change of those waits, or is waited for.
PG_LOCKS = {
    "exam_results": "SELECT 1 FROM exam_registrations WHERE id IN "
    "(SELECT registration_id FROM {rows}) FOR SHARE",
    "issued_certificates": "SELECT 1 FROM exam_registrations WHERE id IN "
    "(SELECT res.registration_id FROM exam_results res JOIN {rows} ON res.id = x.result_id) "
    "FOR SHARE",
    "training_enrollments": "SELECT 1 FROM training_batches WHERE id IN "
    "(SELECT batch_id FROM {rows}) FOR SHARE",
}


WATCHED = {
    "exam_registrations": ("application_id", "student_id", "status", "live"),
    "exam_results": ("registration_id", "passed"),
    "issued_certificates": ("result_id", "status"),
    "training_enrollments": ("batch_id", "student_id"),
    "training_batches": ("application_id",),
}
"""The columns a row's part depends on (besides its id): an update of other columns changes no
candidate."""


def _changed(table: str, rows: str, other: str) -> str:
    """The rows of transition table ``rows`` (id and counted columns) that ``other`` does not
    hold as they are: a set difference, hashed, since a transition table has no index to join
    on."""
    columns = ", ".join(("id", *WATCHED[table]))
    return f"(SELECT {columns} FROM {rows} EXCEPT ALL SELECT {columns} FROM {other})"


def _row(alias: str, table: str) -> str:
    """A row trigger's NEW or OLD (id and counted columns) as a one-row table ``x`` (a trigger
    may read their columns, not select from them)."""
    picked = ", ".join(f"{alias}.{column} AS {column}" for column in ("id", *WATCHED[table]))
    return f"(SELECT {picked}) AS x"


def _pg_apply(parts: str) -> str:
    """Add the signed parts to their candidates, then delete the candidates left with none."""
    sums = ", ".join(f"sum({count}) AS {count}" for count in COUNTS)
    changed = " OR ".join(f"{count} <> 0" for count in COUNTS)
    added = ", ".join(f"{count} = k.{count} + EXCLUDED.{count}" for count in COUNTS)
    left = " OR ".join(f"k.{count} > 0" for count in COUNTS)
    return f"""
    WITH d AS (
      SELECT application_id, student_id, {sums} FROM ({parts}) AS p
      GROUP BY application_id, student_id),
    kept AS (
      INSERT INTO pilot_candidates AS k ({COLUMNS})
      SELECT * FROM d WHERE {changed} ORDER BY application_id, student_id
      ON CONFLICT (application_id, student_id) DO UPDATE SET {added}
      RETURNING k.application_id, k.student_id, ({left}) AS counted)
    SELECT array_agg(application_id), array_agg(student_id) INTO gone_a, gone_s
    FROM kept WHERE NOT counted;
    IF gone_a IS NOT NULL THEN
      DELETE FROM pilot_candidates k
      USING unnest(gone_a, gone_s) AS g (application_id, student_id)
      WHERE k.application_id = g.application_id AND k.student_id = g.student_id
        AND {_none_left("k.")};
    END IF;"""


def _pg_function(table: str, part: str) -> str:
    lock = PG_LOCKS.get(table)
    # An update counts only the rows whose counted columns changed (a corrected score, a
    # version bump or an edit of the hours attended changes no candidate).
    old_changed = _changed(table, "old_rows", "new_rows")
    new_changed = _changed(table, "new_rows", "old_rows")

    def locked(rows: str) -> str:
        return f"PERFORM {lock[len('SELECT ') :].format(rows=f'{rows} x')};" if lock else ""

    def signed(*pairs: tuple[int, str]) -> str:
        return " UNION ALL ".join(part.format(s=s, rows=f"{rows} x") for s, rows in pairs)

    inserted = INSERTED.get(table, part)

    return f"""
CREATE FUNCTION {table}_keep_candidates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  gone_a integer[];
  gone_s integer[];
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM pilot_candidates;
    {_fill()};
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    {locked("new_rows")}
    {_pg_apply(inserted.format(s=1, rows="new_rows x"))}
  ELSIF TG_OP = 'DELETE' THEN
    {locked("old_rows")}
    {_pg_apply(signed((-1, "old_rows")))}
  ELSIF EXISTS (SELECT 1 FROM {old_changed} AS changed) THEN
    {locked(f"({old_changed} UNION ALL {new_changed})")}
    {_pg_apply(signed((-1, old_changed), (1, new_changed)))}
  END IF;
  RETURN NULL;
END $$
"""


PG_TABLES = {
    "exam_registrations": REGISTRATIONS,
    "exam_results": RESULTS,
    "issued_certificates": CERTIFICATES,
    "training_enrollments": ENROLMENTS,
}


def _pg_triggers(table: str) -> dict[str, str]:
    return {
        f"{table}_keep_candidates_insert": f"AFTER INSERT ON {table} "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        f"{table}_keep_candidates_update": f"AFTER UPDATE ON {table} "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT",
        f"{table}_keep_candidates_delete": f"AFTER DELETE ON {table} "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
        f"{table}_keep_candidates_truncate": f"AFTER TRUNCATE ON {table} FOR EACH STATEMENT",
    }


# A batch: moved to another pilot (per statement), or deleted (per row, before its enrolments
# go with it: the enrolments' own trigger then finds no batch and counts nothing).
BATCH_DELETED = BATCHES.format(s=-1, rows=_row("OLD", "training_batches"))
BATCHES_MOVED = (
    BATCHES.format(s=-1, rows=_changed("training_batches", "old_rows", "new_rows") + " x")
    + " UNION ALL "
    + BATCHES.format(s=1, rows=_changed("training_batches", "new_rows", "old_rows") + " x")
)
PG_BATCHES = f"""
CREATE FUNCTION training_batches_keep_candidates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  gone_a integer[];
  gone_s integer[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    {_pg_apply(BATCH_DELETED)}
    RETURN OLD;
  END IF;
  {_pg_apply(BATCHES_MOVED)}
  RETURN NULL;
END $$
"""
PG_BATCH_TRIGGERS = {
    "training_batches_keep_candidates_update": "AFTER UPDATE ON training_batches "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT",
    "training_batches_keep_candidates_delete": "BEFORE DELETE ON training_batches FOR EACH ROW",
}


# --- SQLite: per row -------------------------------------------------------------------------


def _sqlite_apply(parts: str, *, tidy: bool = True) -> str:
    """Add the signed part to its candidate, then (``tidy``) delete it if nothing is left; an
    inserted row only adds, so its trigger need not look."""
    added = ", ".join(f"{count} = {count} + excluded.{count}" for count in COUNTS)
    upsert = f"""
  INSERT INTO pilot_candidates ({COLUMNS}) {parts}
  ON CONFLICT (application_id, student_id) DO UPDATE SET {added};"""
    if not tidy:
        return upsert
    return f"""{upsert}
  DELETE FROM pilot_candidates WHERE (application_id, student_id) IN
    (SELECT application_id, student_id FROM ({parts})) AND {_none_left()};"""


def _sqlite_triggers() -> dict[str, str]:
    triggers = {}
    for table, part in PG_TABLES.items():
        watched = ", ".join(WATCHED[table])
        new = part.format(s=1, rows=_row("NEW", table))
        old = part.format(s=-1, rows=_row("OLD", table))
        inserted = INSERTED.get(table, part).format(s=1, rows=_row("NEW", table))
        triggers[f"{table}_keep_candidates_insert"] = (
            f"AFTER INSERT ON {table} BEGIN{_sqlite_apply(inserted, tidy=False)}\nEND"
        )
        triggers[f"{table}_keep_candidates_update"] = (
            f"AFTER UPDATE OF {watched} ON {table} BEGIN"
            f"{_sqlite_apply(old)}{_sqlite_apply(new)}\nEND"
        )
        triggers[f"{table}_keep_candidates_delete"] = (
            f"AFTER DELETE ON {table} BEGIN{_sqlite_apply(old)}\nEND"
        )
    moved_from = BATCHES.format(s=-1, rows=_row("OLD", "training_batches"))
    moved_to = BATCHES.format(s=1, rows=_row("NEW", "training_batches"))
    triggers["training_batches_keep_candidates_update"] = (
        "AFTER UPDATE OF application_id ON training_batches "
        "WHEN OLD.application_id <> NEW.application_id BEGIN"
        f"{_sqlite_apply(moved_from)}{_sqlite_apply(moved_to)}\nEND"
    )
    triggers["training_batches_keep_candidates_delete"] = (
        f"BEFORE DELETE ON training_batches BEGIN{_sqlite_apply(moved_from)}\nEND"
    )
    return triggers


def upgrade() -> None:
    op.create_table(
        "pilot_candidates",
        sa.Column("application_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("student_id", sa.Integer(), autoincrement=False, nullable=False),
        *[sa.Column(count, sa.Integer(), server_default="0", nullable=False) for count in COUNTS],
        sa.PrimaryKeyConstraint("application_id", "student_id", name=op.f("pk_pilot_candidates")),
    )
    op.execute(_fill())
    if op.get_bind().dialect.name == "postgresql":
        for table, part in PG_TABLES.items():
            op.execute(_pg_function(table, part))
            for name, when in _pg_triggers(table).items():
                op.execute(
                    f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {table}_keep_candidates()"
                )
        op.execute(PG_BATCHES)
        for name, when in PG_BATCH_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION training_batches_keep_candidates()"
            )
    else:
        for name, body in _sqlite_triggers().items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*PG_TABLES, "training_batches"):
            names = _pg_triggers(table) if table in PG_TABLES else PG_BATCH_TRIGGERS
            for name in names:
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_keep_candidates()")
    else:
        for name in _sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("pilot_candidates")
