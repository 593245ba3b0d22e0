"""The tamper-evident audit trail: sealing the chain behind the writers, and verifying it.

Writers only hash their own event's content (:func:`app.core.audit.content_digest`, on insert).
The chain is sealed here, afterwards, in the change feed's order ``(xact_id, id)`` and only for
events below the feed's watermark (PostgreSQL; on SQLite every committed event, writers being
serialised), where that order is final: no event can later join the sealed part. Each sealed
event gets an ``AuditSeal``: its position ``seq`` (1, 2, 3, …) and

    link = HMAC(key, previous link | seq | event id | xact_id | content hash)

and the ``AuditChain`` checkpoint holds the last position, link and watermark under an HMAC of
its own. The key is derived from the secret key setting. Sealers take turns on the checkpoint's
row; writers never wait for them.

:func:`verify` recomputes every event's content hash and every link, in feed order, and names
the first event that was changed, deleted or inserted out of order. See docs/security.md for
what that proves and what it does not.
"""

import hashlib
import hmac
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app.core.audit import (
    FEED_WATERMARK_POSTGRESQL,
    AuditChain,
    AuditEvent,
    AuditSeal,
    content_digest,
)
from app.core.context import read_only
from app.core.types import utcnow

logger = logging.getLogger(__name__)

CHECKPOINT_ID = 1
SEAL_BATCH = 1000
"""Events sealed per transaction: on SQLite the sealer holds the write lock for one batch."""
READ_BATCH = 1000


class ChainBroken(Exception):
    """The trail does not verify; ``event_id`` names the first bad event when there is one."""

    def __init__(self, message: str, event_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.event_id = event_id


def chain_key(secret_key: str) -> bytes:
    """The chain's HMAC key, derived from the secret key setting (so it is no login token key)."""
    return hmac.new(secret_key.encode("utf-8"), b"onex audit chain v1", hashlib.sha256).digest()


def _mac(key: bytes, *parts: object) -> str:
    text = "\n".join("" if part is None else str(part) for part in parts)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def link(key: bytes, previous: str, seq: int, event_id: int, xact_id: int, digest: str) -> str:
    """One event's link in the chain: it binds the event's content and position to all before."""
    return _mac(key, "link", previous, seq, event_id, xact_id, digest)


def key_check(key: bytes) -> str:
    """Stored with the checkpoint, so a changed secret key is told apart from tampering."""
    return _mac(key, "key check")


def checkpoint_hash(key: bytes, chain: AuditChain) -> str:
    return _mac(
        key,
        "checkpoint",
        chain.last_seq,
        chain.last_event_id,
        chain.last_xact_id,
        chain.last_hash,
        chain.sealed_below,
        chain.legacy_max_id,
    )


def _check_checkpoint(key: bytes, chain: AuditChain) -> None:
    if chain.key_check is not None and not hmac.compare_digest(chain.key_check, key_check(key)):
        raise ChainBroken(
            "the chain was sealed with another key: was ONEX_SECRET_KEY changed? "
            "(verify with the key it was sealed with)"
        )
    if chain.checkpoint_hash is None:
        if chain.last_seq or chain.key_check is not None:
            raise ChainBroken("the chain's checkpoint was changed: it has lost its seal")
        return
    if not hmac.compare_digest(chain.checkpoint_hash, checkpoint_hash(key, chain)):
        raise ChainBroken("the chain's checkpoint was changed: it does not match its seal")


def _watermark(session: Session) -> int | None:
    """The feed's watermark on PostgreSQL (every transaction below it has ended); None on
    SQLite, where the sealer holds the write lock and sees every committed event."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    value: int = session.exec(select(sa.text(FEED_WATERMARK_POSTGRESQL))).one()
    return value


@dataclass
class SealResult:
    sealed: int
    """Events sealed by this call."""
    last_seq: int
    """The chain's length now."""


def seal(engine: Engine, secret_key: str, *, batch: int = SEAL_BATCH) -> SealResult:
    """Seal every event whose place in the feed is final, a batch per transaction.

    Refuses (:class:`ChainBroken`) to extend a chain whose checkpoint or last link does not
    verify, and stops at an event whose content no longer matches its hash: it never seals over
    tampering. Safe to run from several processes at once (they take turns on the checkpoint)."""
    key = chain_key(secret_key)
    sealed = 0
    while True:
        with Session(engine, expire_on_commit=False) as session:
            count, last_seq = _seal_batch(session, key, batch)
        sealed += count
        if count < batch:
            return SealResult(sealed=sealed, last_seq=last_seq)


def _lock_checkpoint(session: Session) -> AuditChain:
    chain = session.exec(
        select(AuditChain).where(AuditChain.id == CHECKPOINT_ID).with_for_update()
    ).first()
    if chain is not None:
        return chain
    if session.exec(select(AuditSeal.event_id).limit(1)).first() is not None:
        raise ChainBroken("the chain's checkpoint is missing while events are sealed")
    # A new database (or one emptied): the chain starts here; every event needs its hash.
    chain = AuditChain(id=CHECKPOINT_ID)
    session.add(chain)
    session.flush()
    return chain


def _check_tail(session: Session, key: bytes, chain: AuditChain) -> None:
    """The last sealed link still stands: its event, its seal and the one before it."""
    if not chain.last_seq:
        return
    rows = session.exec(
        select(AuditSeal.seq, AuditSeal.chain_hash).where(col(AuditSeal.seq) >= chain.last_seq - 1)
    ).all()
    links = dict(rows)
    event = session.get(AuditEvent, chain.last_event_id)
    last = links.get(chain.last_seq)
    broken = (
        max(links, default=0) != chain.last_seq
        or last != chain.last_hash
        or event is None
        or event.xact_id != chain.last_xact_id
        or link(
            key,
            links.get(chain.last_seq - 1, ""),
            chain.last_seq,
            event.id or 0,
            event.xact_id or 0,
            content_digest(event),
        )
        != last
    )
    if broken:
        raise ChainBroken(
            "the end of the chain does not verify: run `python -m app audit verify`",
            chain.last_event_id,
        )


def _seal_batch(session: Session, key: bytes, batch: int) -> tuple[int, int]:
    chain = _lock_checkpoint(session)
    _check_checkpoint(key, chain)
    _check_tail(session, key, chain)
    watermark = _watermark(session)
    statement = select(AuditEvent)
    if chain.last_seq:
        statement = statement.where(
            sa.tuple_(col(AuditEvent.xact_id), col(AuditEvent.id))
            > sa.tuple_(sa.literal(chain.last_xact_id), sa.literal(chain.last_event_id))
        )
    if watermark is not None:
        statement = statement.where(col(AuditEvent.xact_id) < watermark)
    events = session.exec(
        statement.order_by(col(AuditEvent.xact_id), col(AuditEvent.id)).limit(batch)
    ).all()
    drained = len(events) < batch
    new_below = chain.sealed_below
    if drained and watermark is not None:
        new_below = max(new_below, watermark)
    if not events and new_below <= chain.sealed_below and chain.key_check is not None:
        session.rollback()
        return 0, chain.last_seq

    seq, previous = chain.last_seq, chain.last_hash or ""
    seals: list[dict[str, object]] = []
    refusal: ChainBroken | None = None
    for event in events:
        assert event.id is not None and event.xact_id is not None
        digest = content_digest(event)
        try:
            if event.xact_id < chain.sealed_below:
                raise ChainBroken(
                    f"event {event.id} was inserted out of order: its transaction "
                    f"{event.xact_id} had ended before the chain was last sealed",
                    event.id,
                )
            _check_content(event, digest, chain.legacy_max_id)
        except ChainBroken as exc:
            refusal, new_below = exc, chain.sealed_below  # seal what comes before it, only
            break
        seq += 1
        previous = link(key, previous, seq, event.id, event.xact_id, digest)
        seals.append({"event_id": event.id, "seq": seq, "chain_hash": previous})
    if seals:
        session.execute(sa.insert(AuditSeal), seals)
        last = events[len(seals) - 1]
        chain.last_seq, chain.last_hash = seq, previous
        chain.last_event_id, chain.last_xact_id = last.id, last.xact_id
    chain.sealed_below = new_below
    chain.key_check = key_check(key)
    chain.checkpoint_hash = checkpoint_hash(key, chain)
    chain.sealed_at = utcnow()
    session.add(chain)
    session.commit()
    if refusal is not None:
        raise refusal
    return len(seals), seq


@dataclass
class VerifyResult:
    events: int
    sealed: int
    unsealed: int
    last_hash: str | None

    @property
    def checkpoint(self) -> str | None:
        """``LENGTH:LAST_LINK``: keep it outside the database and pass it back to
        ``verify --expect``, which then also catches the chain being cut back and rebuilt."""
        return f"{self.sealed}:{self.last_hash}" if self.sealed else None

    def summary(self) -> str:
        end = f"; checkpoint {self.checkpoint}" if self.checkpoint else ""
        return (
            f"audit trail intact: {self.events} events, {self.sealed} sealed, "
            f"{self.unsealed} not yet sealed{end}"
        )


def parse_checkpoint(text: str) -> tuple[int, str]:
    """``LENGTH:LAST_LINK`` as printed by ``audit verify``; ValueError when it is not one."""
    length, _, link_hex = text.partition(":")
    if not length.isdigit() or int(length) < 1 or len(link_hex) != 64:
        raise ValueError(f"not a checkpoint: {text!r} (expected LENGTH:64 hex digits)")
    int(link_hex, 16)
    return int(length), link_hex.lower()


def verify(
    engine: Engine, secret_key: str, *, expect: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the whole trail in feed order; raise :class:`ChainBroken` at the first event that
    was changed, deleted or inserted out of order, or when the chain no longer holds the
    checkpoint ``expect`` (``(length, last link)`` of an earlier verify). Reads one consistent
    snapshot, writes nothing."""
    key = chain_key(secret_key)
    with read_only(), Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
        result = _verify(session, key)
        if expect is not None:
            _check_expected(session, result, expect)
        return result


def _check_expected(session: Session, result: VerifyResult, expect: tuple[int, str]) -> None:
    length, expected_link = expect
    if length > result.sealed:
        raise ChainBroken(
            f"the chain is {result.sealed} long but was {length} at the given checkpoint: "
            "sealed events were deleted and the chain rebuilt"
        )
    seal = session.exec(select(AuditSeal).where(AuditSeal.seq == length)).one()
    if not hmac.compare_digest(seal.chain_hash, expected_link):
        raise ChainBroken(
            f"chain position {length} (event {seal.event_id}) differs from the given "
            "checkpoint: the chain was rebuilt since",
            seal.event_id,
        )


def _verify(session: Session, key: bytes) -> VerifyResult:
    chain = _checked_checkpoint(session, key)
    walk = _Walk(key, chain, _deleted_seals(session))
    rows = session.exec(
        select(AuditEvent, AuditSeal.seq, AuditSeal.chain_hash)
        .outerjoin(AuditSeal, col(AuditSeal.event_id) == AuditEvent.id)
        .order_by(col(AuditEvent.xact_id), col(AuditEvent.id))
        .execution_options(yield_per=READ_BATCH)
    )
    for event, seq, chain_hash in rows:
        walk.step(event, seq, chain_hash)
    return walk.finish()


def _checked_checkpoint(session: Session, key: bytes) -> AuditChain:
    chain = session.get(AuditChain, CHECKPOINT_ID)
    seal_count = session.exec(select(func.count()).select_from(AuditSeal)).one()
    if chain is None:
        if seal_count:
            raise ChainBroken("the chain's checkpoint is missing while events are sealed")
        chain = AuditChain(id=CHECKPOINT_ID)
    _check_checkpoint(key, chain)
    if seal_count != chain.last_seq:
        beyond = session.exec(
            select(AuditSeal.event_id).where(col(AuditSeal.seq) > chain.last_seq)
        ).first()
        if beyond is not None:
            raise ChainBroken(
                f"event {beyond} has a seal beyond the chain's checkpoint: it was forged",
                beyond,
            )
    return chain


def _deleted_seals(session: Session) -> dict[int, int]:
    """The seals whose event is gone: the deleted events' ids by chain position."""
    rows = session.exec(
        select(AuditSeal.seq, AuditSeal.event_id)
        .outerjoin(AuditEvent, col(AuditEvent.id) == AuditSeal.event_id)
        .where(col(AuditEvent.id).is_(None))
    ).all()
    return dict(rows)


class _Walk:
    """The events in feed order against the seals: the first that does not fit is raised."""

    def __init__(self, key: bytes, chain: AuditChain, orphans: dict[int, int]) -> None:
        self.key, self.chain, self.orphans = key, chain, orphans
        self.expected, self.previous = 1, ""
        self.last_sealed_id: int | None = None
        self.events = self.unsealed = 0

    def step(self, event: AuditEvent, seq: int | None, chain_hash: str | None) -> None:
        assert event.id is not None and event.xact_id is not None
        self.events += 1
        digest = content_digest(event)
        _check_content(event, digest, self.chain.legacy_max_id)
        if seq is None or chain_hash is None:
            self._unsealed(event)
        else:
            self._sealed(event, seq, chain_hash, digest)

    def _unsealed(self, event: AuditEvent) -> None:
        assert event.xact_id is not None
        self.unsealed += 1
        if self.expected <= self.chain.last_seq and self.expected not in self.orphans:
            after = f" after event {self.last_sealed_id}" if self.last_sealed_id else ""
            raise ChainBroken(
                f"event {event.id} was inserted out of order: it sits{after} among events "
                f"already sealed (before chain position {self.expected}) without a seal",
                event.id,
            )
        if event.xact_id < self.chain.sealed_below:
            raise ChainBroken(
                f"event {event.id} was inserted out of order: its transaction "
                f"{event.xact_id} had ended before the chain was last sealed",
                event.id,
            )

    def _sealed(self, event: AuditEvent, seq: int, chain_hash: str, digest: str) -> None:
        assert event.id is not None and event.xact_id is not None
        expected = self.expected
        if expected in self.orphans:
            raise self._deleted()
        if seq > expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
            raise ChainBroken(
                f"chain position {missing} is missing before event {event.id}: sealed "
                "events were deleted",
                event.id,
            )
        if seq < expected:
            raise ChainBroken(
                f"event {event.id} is out of place: it was sealed at chain position {seq} but "
                f"sits at {expected} (its id or transaction was changed)",
                event.id,
            )
        recomputed = link(self.key, self.previous, seq, event.id, event.xact_id, digest)
        if not hmac.compare_digest(chain_hash, recomputed):
            raise ChainBroken(
                f"event {event.id} does not match its seal at chain position {seq}: its "
                "content, id or transaction was changed after it was sealed",
                event.id,
            )
        self.previous, self.last_sealed_id, self.expected = chain_hash, event.id, expected + 1

    def _deleted(self) -> ChainBroken:
        seq = self.expected
        where = f"after event {self.last_sealed_id}" if self.last_sealed_id else "the first"
        return ChainBroken(
            f"event {self.orphans[seq]} was deleted: it was sealed at chain position {seq} "
            f"({where})",
            self.orphans[seq],
        )

    def finish(self) -> VerifyResult:
        chain = self.chain
        if self.expected in self.orphans:
            raise self._deleted()
        length = self.expected - 1
        if length != chain.last_seq or (chain.last_seq and self.previous != chain.last_hash):
            raise ChainBroken(
                f"the chain ends at position {length} but its checkpoint says "
                f"{chain.last_seq} (event {chain.last_event_id}): the newest sealed events "
                "were deleted",
                chain.last_event_id,
            )
        return VerifyResult(
            events=self.events,
            sealed=chain.last_seq,
            unsealed=self.unsealed,
            last_hash=chain.last_hash,
        )


def _check_content(event: AuditEvent, digest: str, legacy_max_id: int) -> None:
    assert event.id is not None
    if event.content_hash is None:
        if event.id > legacy_max_id:
            raise ChainBroken(f"event {event.id} has no content hash", event.id)
    elif not hmac.compare_digest(event.content_hash, digest):
        raise ChainBroken(
            f"event {event.id} was changed: its content no longer matches its hash", event.id
        )


def seal_quietly(engine: Engine, secret_key: str) -> None:
    """For the periodic sealer: log what a seal did or why it could not."""
    try:
        result = seal(engine, secret_key)
    except ChainBroken as exc:
        logger.error("audit chain not sealed: %s", exc.message)
    except sa.exc.SQLAlchemyError as exc:
        logger.warning("audit chain not sealed this time: %s", exc.__class__.__name__)
    else:
        if result.sealed:
            logger.info("audit chain sealed %d events (length %d)", result.sealed, result.last_seq)
