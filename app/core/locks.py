"""Row locks and advisory locks: the one place services take them.

Row locks (``lock_row``, ``lock_one``, ``lock_first``, ``lock_listed``) are ``SELECT … FOR
UPDATE`` (or ``FOR NO KEY UPDATE`` with ``no_key``, ``FOR SHARE`` with ``share``) of one row;
the session hook in ``app.core.db`` reads a locked row afresh. On SQLite the clause is dropped:
a writing request's transaction starts with ``BEGIN IMMEDIATE`` and holds the database's write
lock, so writers are serialised already. A missing row is 404 (an id in the path) or 422 on
``field`` (an id in the body).

Advisory locks (``advisory_lock``) are PostgreSQL transaction-scoped locks on a key with no
row behind it (``pg_advisory_xact_lock``), released at commit or rollback; on SQLite they are
no-ops for the same reason. The keys in use:

* ``"import:<kind>"`` (hashed): an upload of one kind, so two uploads of a kind take turns;
  a conversion rule saved or changed one at a time takes ``import:credit-rules`` too, so its
  check against the other rules is never raced;
* the username (hashed): a login attempt, so failures are counted one attempt at a time;
* ``(PUBLIC_LOOKUP_SPACE, client)`` (client hashed): a public certificate look-up, so a client's
  rate limit is counted one look-up at a time.

Lock order. Every writer takes its locks in this order (a later lock never before an earlier
one within a transaction), so concurrent writers queue and never deadlock:

1. Advisory: ``import:<kind>`` first of all in an upload (before its rows are read) and in a
   conversion rule's POST or PATCH (before the rule's row); a login's
   username and a public look-up's client are the only locks of their transactions.
2. Reference rows (college, major, course, teacher, student, evaluation organisation,
   certificate) are locked alone, by their own updates and deletes. The credit bank locks the
   student (``FOR NO KEY UPDATE``) first, before anything else of a conversion request.
3. Pilot work: a pilot plan before its pilot application (plan changes and filing); a training
   batch before its pilot application (shared, enrolments) and before its enrolments; a
   teacher training alone. Uploads lock the batches (in id order) then share their
   applications (in id order); application uploads lock the rows they compare.
4. Exams: the exam session, then its pilot application (every writer that counts seats or
   headcount: ``lock_session_and_application``, the registration upload in id order); results
   share the session (``share_sessions``, in id order), then lock the registration
   (uploads: registrations in id order); a certificate revocation locks the issued
   certificate, then its credit records and waiting conversion requests (in id order).
5. Credit bank: the student (``FOR NO KEY UPDATE``), then the issued certificate (shared),
   then the conversion request, then its conversion rule (shared); a rule change locks the
   rule alone; a credit's reversal locks the credit record, then its request.
6. Funding: the funding source before its budget lines; a subsidy run locks the exam session
   before the line; an expenditure or its reversal locks the line before the expenditure;
   the expenditure upload locks its lines in id order.
7. Evaluations: the year's scheme row first, then the evaluation.

An audit event takes no lock: the change feed stays in order without one (``core.audit``).
"""

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from app.core.errors import missing
from app.core.listing import Listing

Row = TypeVar("Row", bound=SQLModel)

PUBLIC_LOOKUP_SPACE = 0x0E7E_C3A7


def lock_first(
    session: Session,
    statement: Any,
    *,
    share: bool = False,
    no_key: bool = False,
    of: Any = None,
) -> Any:
    """The first row of ``statement`` with its row(s) locked, or None; ``of`` names the
    table(s) to lock when the statement joins others."""
    return session.exec(statement.with_for_update(read=share, key_share=no_key, of=of)).first()


def lock_one(
    session: Session,
    statement: Any,
    what: str,
    row_id: int,
    *,
    field: str | None = None,
    share: bool = False,
    no_key: bool = False,
    of: Any = None,
) -> Any:
    """``lock_first``, with 404 (or 422 on ``field``) "No <what> with id <row_id>" when the
    statement finds nothing (also when a visibility filter hides the row)."""
    row = lock_first(session, statement, share=share, no_key=no_key, of=of)
    if row is None:
        raise missing(what, row_id, field)
    return row


def lock_row(
    session: Session,
    model: type[Row],
    row_id: int,
    what: str,
    *,
    field: str | None = None,
    share: bool = False,
    no_key: bool = False,
) -> Row:
    """The ``model`` row with id ``row_id``, locked; 404 (or 422 on ``field``) when missing."""
    pk = model.__table__.c.id  # type: ignore[attr-defined]
    row: Row = lock_one(
        session,
        select(model).where(pk == row_id),
        what,
        row_id,
        field=field,
        share=share,
        no_key=no_key,
    )
    return row


def lock_listed(
    session: Session, listing: Listing[Any, Any], principal: Any, row_id: int, *, of: Any
) -> Any:
    """The row ``listing.one`` answers, as the list's statement selects it (the row and the
    columns the list joins to it), the ``of`` table's row locked; 404 "No <noun> with id …"
    when the principal may not see it.

    An update reads, checks and answers from this one statement: the checks see the locked
    row, and the answer is built from it (``listing.to_items``) with the values just written,
    instead of a second read after the commit."""
    statement = listing.statement(session, principal, listing.filters()).where(
        listing.key == row_id
    )
    return lock_one(session, statement, listing.noun, row_id, of=of)


def advisory_lock(session: Session, key: int | str, *, space: int | None = None) -> None:
    """Hold the transaction-scoped advisory lock ``key`` (PostgreSQL; nothing on SQLite).

    An ``int`` key is the lock itself; a ``str`` key is hashed (``hashtext``); with ``space``
    the lock is the pair (``space``, hashed ``key``), apart from the single-key locks."""
    if session.get_bind().dialect.name != "postgresql":
        return
    if space is not None:
        session.execute(
            sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
            {"space": space, "key": str(key)},
        )
    elif isinstance(key, int):
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
