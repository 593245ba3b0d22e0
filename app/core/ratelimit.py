"""A rate limit per client that holds across workers: each request is a row in the database.

A domain declares a :class:`RateLimit` over its own table of hits (a table with ``id``,
``client``, ``created_at`` and ``updated_at``, indexed on ``(client, created_at)``) and calls
:meth:`RateLimit.hit` before answering; past the limit it answers 429 with ``Retry-After``.

On PostgreSQL one client's hits take turns (a transaction-scoped advisory lock on the limit's
key and the client), so concurrent requests cannot all count the same rows and slip through.
Every hit also forgets a bounded number of any client's hits older than the window, so the
table stays small without a cleaning job.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.core.errors import TooManyRequests
from app.core.i18n import _, translate
from app.core.locks import advisory_lock
from app.core.types import utcnow

CLIENT_MAX_LENGTH = 64


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` hits per ``window`` from one client, counted in ``table``'s rows."""

    table: Any
    """The SQLModel table holding one row per hit."""
    limit: int
    window: timedelta
    lock_key: int
    """The advisory lock's first key: one per limit, so limits never wait for each other."""
    what: str = "requests"
    """How the 429 names a hit, in the plural (``More than 60 look-ups a minute …``)."""
    per: str = "a minute"
    """The window as the 429 names it."""
    prune_batch: int = 500
    """At most this many expired rows are deleted by one hit."""

    def hit(self, session: Session, client: str) -> None:
        """Count one hit from ``client`` and commit it; 429 with ``Retry-After`` (nothing
        counted) when it is one too many."""
        client = client[:CLIENT_MAX_LENGTH]
        table = self.table
        advisory_lock(session, client, space=self.lock_key)
        now = utcnow()
        session.add(table(client=client, created_at=now, updated_at=now))
        session.flush()
        since = now - self.window
        recent = session.exec(
            select(table.created_at)
            .where(table.client == client, col(table.created_at) > since)
            .order_by(col(table.created_at))
        ).all()
        if len(recent) > self.limit:
            session.rollback()
            oldest = recent[len(recent) - self.limit - 1]
            retry_after = max(1, int((oldest + self.window - now).total_seconds()) + 1)
            raise TooManyRequests(
                _(
                    "More than {limit} {what} {per} from this client; try again in "
                    "{retry_after} seconds",
                    limit=self.limit,
                    what=translate(self.what),
                    per=translate(self.per),
                    retry_after=retry_after,
                ),
                headers={"Retry-After": str(retry_after)},
                retry_after=retry_after,
            )
        self._forget_expired(session, since)
        session.commit()

    def _forget_expired(self, session: Session, since: Any) -> None:
        """Delete every client's hits older than the window (not only this client's, or the
        rows of one-off clients would stay for ever), a bounded number at a time; on
        PostgreSQL rows another hit is deleting right now are skipped rather than waited
        for."""
        table = self.table
        expired = (
            select(table.id)
            .where(col(table.created_at) <= since)
            .limit(self.prune_batch)
            .with_for_update(skip_locked=True)
        )
        session.execute(sa.delete(table).where(col(table.id).in_(expired.scalar_subquery())))
