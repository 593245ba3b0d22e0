"""The tamper-evident audit trail: events are hashed as they are written, the chain is sealed
behind the writers in the feed's order, and ``audit verify`` names the first event that was
changed, deleted or inserted out of order with raw SQL."""

import subprocess
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.audit.chain import ChainBroken, seal, verify
from app.core.audit import (
    AuditEvent,
    AuditSeal,
    content_digest,
    record,
)
from app.core.config import Settings
from app.core.roles import Role
from app.demo.loader import load_demo
from app.main import create_app
from tests.cli import app_env, run_app
from tests.concurrency import Call, fire_concurrently
from tests.conftest import TEST_SECRET
from tests.factories import feed_settled, login_as


def _write_events(engine: Engine, count: int, *, final: bool = True) -> list[int]:
    """``count`` audited changes, each in its own transaction, as the services write them;
    ``final``: returned once their place in the feed is final (:func:`feed_settled`)."""
    ids = []
    for n in range(count):
        with Session(engine, expire_on_commit=False) as session:
            event = record(
                session,
                None,
                action="update",
                entity="college",
                entity_id=n + 1,
                before={"name": f"学院{n}", "score": 1.5, "tags": ["a", "b"]},
                after={"name": f"新学院{n}", "score": -0.0, "nested": {"z": 1, "a": None}},
            )
            session.commit()
            assert event.id is not None
            ids.append(event.id)
    if final:
        feed_settled(engine, ids)
    return ids


def _sql(db_engine: Engine, statement: str, **params: Any) -> None:
    with db_engine.begin() as connection:
        connection.execute(sa.text(statement), params)


def _broken(engine: Engine) -> ChainBroken:
    with pytest.raises(ChainBroken) as caught:
        verify(engine, TEST_SECRET)
    return caught.value


def _run_cli(args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    env = app_env(ONEX_DATABASE_URL=database_url, ONEX_SECRET_KEY=TEST_SECRET)
    return run_app(args, env, timeout=300)


def test_every_event_is_hashed_as_it_is_written_and_the_sealed_chain_verifies(
    engine: Engine, db: Session
) -> None:
    ids = _write_events(engine, 5)
    stored = db.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    assert [e.content_hash for e in stored] == [content_digest(e) for e in stored]
    assert all(e.content_hash for e in stored)

    before_seal = verify(engine, TEST_SECRET)
    assert (before_seal.events, before_seal.sealed, before_seal.unsealed) == (5, 0, 5)

    assert seal(engine, TEST_SECRET).sealed == 5
    more = _write_events(engine, 2)
    partly = verify(engine, TEST_SECRET)
    assert (partly.events, partly.sealed, partly.unsealed) == (7, 5, 2)

    result = seal(engine, TEST_SECRET)
    assert (result.sealed, result.last_seq) == (2, 7)
    assert seal(engine, TEST_SECRET).sealed == 0
    final = verify(engine, TEST_SECRET)
    assert (final.events, final.sealed, final.unsealed) == (7, 7, 0)
    assert final.summary().startswith("audit trail intact: 7 events, 7 sealed")
    seals = db.exec(select(AuditSeal.event_id).order_by(AuditSeal.seq)).all()  # type: ignore[arg-type]
    assert list(seals) == ids + more


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "not-yet-sealed"])
def test_a_raw_update_of_one_events_detail_is_found(
    engine: Engine, db_engine: Engine, sealed: bool
) -> None:
    ids = _write_events(engine, 5)
    if sealed:
        seal(engine, TEST_SECRET)

    _sql(
        db_engine,
        "UPDATE audit_events SET after = :after WHERE id = :id",
        after='{"name": "someone else"}',
        id=ids[2],
    )

    broken = _broken(engine)
    assert broken.event_id == ids[2]
    assert f"event {ids[2]} was changed" in broken.message
    if not sealed:  # sealing never seals over it: the chain stops before the changed event
        with pytest.raises(ChainBroken) as refused:
            seal(engine, TEST_SECRET)
        assert refused.value.event_id == ids[2]
        assert _broken(engine).event_id == ids[2]
        with db_engine.connect() as connection:
            sealed_ids = connection.execute(
                sa.text("SELECT event_id FROM audit_seals ORDER BY seq")
            ).scalars()
            assert list(sealed_ids) == ids[:2]


def test_an_update_that_also_rewrites_the_content_hash_breaks_the_seal(
    engine: Engine, db: Session, db_engine: Engine
) -> None:
    ids = _write_events(engine, 4)
    seal(engine, TEST_SECRET)
    _sql(db_engine, "UPDATE audit_events SET actor = 'user:nobody' WHERE id = :id", id=ids[1])
    changed = db.get(AuditEvent, ids[1], populate_existing=True)
    assert changed is not None
    _sql(
        db_engine,
        "UPDATE audit_events SET content_hash = :hash WHERE id = :id",
        hash=content_digest(changed),
        id=ids[1],
    )

    broken = _broken(engine)

    assert broken.event_id == ids[1]
    assert "does not match its seal at chain position 2" in broken.message


def test_a_deleted_event_is_named(engine: Engine, db_engine: Engine) -> None:
    ids = _write_events(engine, 5)
    seal(engine, TEST_SECRET)

    _sql(db_engine, "DELETE FROM audit_events WHERE id = :id", id=ids[2])

    broken = _broken(engine)
    assert broken.event_id == ids[2]
    assert broken.message.startswith(f"event {ids[2]} was deleted")
    assert "chain position 3" in broken.message


def test_a_deleted_event_with_its_seal_leaves_a_gap_in_the_chain(
    engine: Engine, db_engine: Engine
) -> None:
    ids = _write_events(engine, 5)
    seal(engine, TEST_SECRET)

    _sql(db_engine, "DELETE FROM audit_events WHERE id = :id", id=ids[1])
    _sql(db_engine, "DELETE FROM audit_seals WHERE event_id = :id", id=ids[1])

    broken = _broken(engine)
    assert broken.event_id == ids[2]
    assert "chain position 2 is missing before event" in broken.message


def test_deleting_the_newest_sealed_events_and_their_seals_is_found(
    engine: Engine, db_engine: Engine
) -> None:
    ids = _write_events(engine, 5)
    seal(engine, TEST_SECRET)

    _sql(db_engine, "DELETE FROM audit_events WHERE id >= :id", id=ids[3])
    _sql(db_engine, "DELETE FROM audit_seals WHERE event_id >= :id", id=ids[3])

    broken = _broken(engine)
    assert "the chain ends at position 3 but its checkpoint says 5" in broken.message
    # Nor can the checkpoint be wound back without the key.
    _sql(db_engine, "UPDATE audit_chain SET last_seq = 3, last_event_id = :id", id=ids[2])
    assert "checkpoint was changed" in _broken(engine).message


def _copy_event(db_engine: Engine, source: int, new_id: int, xact_id: int | None = None) -> None:
    columns = (
        "created_at, updated_at, actor, actor_role, actor_user_id, actor_api_key_id, action, "
        "entity, entity_id, before, after, request_id, content_hash"
    )
    _sql(
        db_engine,
        f"INSERT INTO audit_events (id, xact_id, {columns}) "
        f"SELECT :new_id, COALESCE(:xact_id, xact_id), {columns} FROM audit_events "
        "WHERE id = :source",
        new_id=new_id,
        xact_id=xact_id,
        source=source,
    )


def test_an_event_inserted_before_the_sealed_end_is_found(
    engine: Engine, db_engine: Engine
) -> None:
    ids = _write_events(engine, 4)
    seal(engine, TEST_SECRET)

    # A well-formed event (its content hash is right) given a place among the sealed ones.
    _copy_event(db_engine, ids[1], new_id=0)

    broken = _broken(engine)
    assert broken.event_id == 0
    assert "event 0 was inserted out of order" in broken.message
    with pytest.raises(ChainBroken):
        verify(engine, TEST_SECRET)  # and sealing in between does not absorb it
    seal(engine, TEST_SECRET)
    assert _broken(engine).event_id == 0


def test_on_postgresql_an_event_claiming_an_ended_transaction_is_found(
    engine: Engine, db: Session, db_engine: Engine, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has no transaction ids in the feed's order (xact_id is 0)")
    ids = _write_events(engine, 4)
    seal(engine, TEST_SECRET)
    second = db.get(AuditEvent, ids[1])
    last = db.get(AuditEvent, ids[3])
    assert second is not None and last is not None

    # A new id, but the transaction of a sealed event: it sorts between sealed events ...
    _copy_event(db_engine, ids[0], new_id=ids[3] + 100, xact_id=second.xact_id)
    broken = _broken(engine)
    assert broken.event_id == ids[3] + 100
    assert "inserted out of order" in broken.message
    _sql(db_engine, "DELETE FROM audit_events WHERE id = :id", id=ids[3] + 100)

    # ... or after them, in a transaction that had ended before the last seal.
    _copy_event(db_engine, ids[0], new_id=ids[3] + 200, xact_id=last.xact_id)
    broken = _broken(engine)
    assert broken.event_id == ids[3] + 200
    assert "had ended before the chain was last sealed" in broken.message
    with pytest.raises(ChainBroken):
        seal(engine, TEST_SECRET)


def test_a_chain_sealed_with_another_key_says_so(engine: Engine) -> None:
    _write_events(engine, 2)
    seal(engine, TEST_SECRET)

    with pytest.raises(ChainBroken) as caught:
        verify(engine, "another-secret-key-that-is-long-enough-too")

    assert "sealed with another key" in caught.value.message


def test_audit_verify_on_the_command_line(
    engine: Engine, db_engine: Engine, database_url: str
) -> None:
    ids = _write_events(engine, 3)

    intact = _run_cli(["audit", "verify"], database_url)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("audit trail intact: 3 events, 3 sealed")
    assert len(intact.stdout.strip().splitlines()) == 1

    _sql(db_engine, "UPDATE audit_events SET entity_id = '999' WHERE id = :id", id=ids[-1])
    broken = _run_cli(["audit", "verify"], database_url)
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"audit trail broken: event {ids[-1]} was changed")
    # The chain is not extended past the changed event.
    sealed = _run_cli(["audit", "seal"], database_url)
    assert sealed.returncode == 1
    assert "audit chain not sealed: the end of the chain does not verify" in sealed.stderr


def test_a_checkpoint_kept_elsewhere_catches_a_chain_cut_back_and_rebuilt(
    engine: Engine, db_engine: Engine, database_url: str
) -> None:
    ids = _write_events(engine, 5)
    seal(engine, TEST_SECRET)
    checkpoint = verify(engine, TEST_SECRET).checkpoint
    assert checkpoint is not None and checkpoint.startswith("5:")
    held = _run_cli(["audit", "verify", "--expect", checkpoint], database_url)
    assert held.returncode == 0, held.stderr
    assert held.stdout.strip().endswith(f"checkpoint {checkpoint}")

    # Someone with the key deletes the newest event and seals the chain afresh: it verifies on
    # its own, but no longer holds the checkpoint printed before.
    _sql(db_engine, "DELETE FROM audit_events WHERE id = :id", id=ids[4])
    _sql(db_engine, "DELETE FROM audit_seals")
    _sql(db_engine, "DELETE FROM audit_chain")
    seal(engine, TEST_SECRET)
    assert verify(engine, TEST_SECRET).sealed == 4
    cut = _run_cli(["audit", "verify", "--expect", checkpoint], database_url)
    assert cut.returncode == 1
    assert "the chain is 4 long but was 5 at the given checkpoint" in cut.stderr

    # ... or puts another event in its place.
    _write_events(engine, 1)
    seal(engine, TEST_SECRET)
    with pytest.raises(ChainBroken) as caught:
        verify(engine, TEST_SECRET, expect=(5, checkpoint.split(":")[1]))
    assert "chain position 5" in caught.value.message
    assert "differs from the given checkpoint" in caught.value.message

    bad = _run_cli(["audit", "verify", "--expect", "five"], database_url)
    assert bad.returncode == 2
    assert "not a checkpoint" in bad.stderr


def test_events_written_before_hashing_are_sealed_as_they_are_and_no_later_one_may_lack_a_hash(
    engine: Engine, db_engine: Engine
) -> None:
    ids = _write_events(engine, 4)
    # As migration 0017 leaves a database with events: no content hash, and the checkpoint
    # remembering how far those events go.
    _sql(db_engine, "UPDATE audit_events SET content_hash = NULL WHERE id <= :id", id=ids[1])
    _sql(db_engine, "DELETE FROM audit_chain")
    _sql(
        db_engine,
        "INSERT INTO audit_chain (id, last_seq, sealed_below, legacy_max_id) VALUES (1, 0, 0, :id)",
        id=ids[1],
    )

    assert seal(engine, TEST_SECRET).sealed == 4
    assert verify(engine, TEST_SECRET).sealed == 4

    # A legacy event changed after sealing is still caught by its seal.
    _sql(db_engine, "UPDATE audit_events SET action = 'delete' WHERE id = :id", id=ids[0])
    broken = _broken(engine)
    assert broken.event_id == ids[0]
    assert "does not match its seal" in broken.message
    _sql(db_engine, "UPDATE audit_events SET action = 'update' WHERE id = :id", id=ids[0])

    _sql(db_engine, "UPDATE audit_events SET content_hash = NULL WHERE id = :id", id=ids[2])
    broken = _broken(engine)
    assert (broken.event_id, broken.message) == (ids[2], f"event {ids[2]} has no content hash")


def test_each_worker_seals_the_chain_on_its_own(settings: Settings, engine: Engine) -> None:
    ids = _write_events(engine, 3)
    sealing = create_app(settings.model_copy(update={"audit_seal_seconds": 1}))

    with TestClient(sealing):
        deadline = time.monotonic() + 20
        while verify(engine, TEST_SECRET).sealed < len(ids) and time.monotonic() < deadline:
            time.sleep(0.2)

    assert verify(engine, TEST_SECRET).sealed == len(ids)


def test_the_demo_data_verifies(engine: Engine, database_url: str) -> None:
    with Session(engine, expire_on_commit=False) as session:
        assert load_demo(session, "admin", "demo-password-123").created

    result = _run_cli(["audit", "verify"], database_url)

    assert result.returncode == 0, result.stderr
    assert " 0 not yet sealed" in result.stdout
    assert verify(engine, TEST_SECRET).events > 100


def test_on_postgresql_an_event_committed_late_is_sealed_in_its_place_not_skipped(
    engine: Engine, db: Session, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite serialises writers: an event cannot commit after a later one")
    first = _write_events(engine, 1)
    with Session(engine, expire_on_commit=False) as held:
        early = record(held, None, action="update", entity="college", entity_id=7, after={})
        held.flush()  # its transaction began to write first, and stays open
        late = _write_events(engine, 1, final=False)  # a later transaction commits meanwhile

        assert seal(engine, TEST_SECRET).last_seq == 1  # only what is final: nothing after it
        seen = verify(engine, TEST_SECRET)  # the held event is not visible yet
        assert (seen.events, seen.sealed, seen.unsealed) == (2, 1, 1)
        held.commit()

    assert seal(engine, TEST_SECRET).last_seq == 3
    seals = db.exec(select(AuditSeal.event_id).order_by(AuditSeal.seq)).all()  # type: ignore[arg-type]
    assert list(seals) == [*first, early.id, *late]
    assert verify(engine, TEST_SECRET).sealed == 3


def _sealed_to_the_end(engine: Engine) -> Any:
    """Seal, then verify, until every event is sealed (or 30 s have passed): the watermark is
    the whole PostgreSQL server's, so a transaction of another database that happens to be
    running (another test's, autovacuum's) holds a seal short of the end until it ends."""
    deadline = time.monotonic() + 30
    while True:
        seal(engine, TEST_SECRET)
        result = verify(engine, TEST_SECRET)
        if result.events == result.sealed or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_concurrent_writers_and_a_sealer_build_a_chain_that_verifies(
    app: FastAPI, engine: Engine, db: Session, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite serialises writers: the race is PostgreSQL's")
    headers = login_as(db, Role.academic_office)
    calls = [
        Call("POST", "/api/v1/colleges", {"json": {"name": f"学院{n}"}, "headers": headers})
        for n in range(120)
    ]
    stop = threading.Event()
    errors: list[BaseException] = []
    rounds = [0]

    def sealer() -> None:
        try:
            while not stop.is_set():
                seal(engine, TEST_SECRET, batch=7)
                rounds[0] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=sealer)
    thread.start()
    try:
        responses = fire_concurrently(app, calls, max_in_flight=16)
    finally:
        stop.set()
        thread.join()

    assert not errors, errors
    assert rounds[0] > 1
    assert [r.status_code for r in responses] == [201] * len(calls)
    result = _sealed_to_the_end(engine)
    assert result.events == result.sealed >= len(calls)
