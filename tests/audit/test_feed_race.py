"""The change feed under concurrent audited writes on PostgreSQL: writers commit out of id and
transaction order (some hold their transaction open while later ones commit), a consumer polls
with its cursor all along, and in the end it has been handed every event exactly once."""

import random
import threading
import time

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent, record
from app.core.locks import lock_row
from app.reference.models import College
from tests.reference.factories import make_college, office

WRITERS = 12
WRITES_EACH = 8


def _writer(engine: Engine, college_id: int, seed: int, errors: list[BaseException]) -> None:
    """Audited updates of one college; every third writer holds each transaction open for a
    while after writing its event, so transactions that began later commit first."""
    rng = random.Random(seed)
    try:
        for n in range(WRITES_EACH):
            with Session(engine, expire_on_commit=False) as session:
                college = lock_row(session, College, college_id, "college")
                before = {"name": college.name}
                college.name = f"学院{seed}-{n}"
                session.flush()
                record(
                    session,
                    None,
                    action="update",
                    entity="college",
                    entity_id=college_id,
                    before=before,
                    after={"name": college.name},
                )
                session.flush()
                time.sleep(rng.uniform(0.15, 0.3) if seed % 3 == 0 else rng.uniform(0, 0.02))
                session.commit()
    except BaseException as exc:  # pragma: no cover - reported by the test
        errors.append(exc)


def _poll(client: TestClient, headers: dict[str, str], after: int) -> tuple[list[int], int, bool]:
    response = client.get(f"/api/v1/events?after={after}&limit=7", headers=headers)
    assert response.status_code == 200, response.text
    batch = response.json()
    return [item["id"] for item in batch["items"]], batch["next_after"], batch["has_more"]


def test_a_polling_consumer_sees_every_event_once_while_writes_commit_out_of_order(
    client: TestClient, db: Session, engine: Engine, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite serialises writers: event ids are in commit order there")
    headers = office(db)
    colleges = [make_college(db) for _ in range(WRITERS)]
    start_ids = set(db.exec(select(AuditEvent.id)).all())
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_writer, args=(engine, college.id, seed, errors))
        for seed, college in enumerate(colleges)
    ]

    seen: list[int] = []
    after = 0
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        ids, after, _ = _poll(client, headers, after)
        seen.extend(ids)
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    while True:
        ids, after, has_more = _poll(client, headers, after)
        seen.extend(ids)
        if not ids and not has_more:
            break

    assert errors == []
    written = set(db.exec(select(AuditEvent.id)).all()) - start_ids
    assert len(written) == WRITERS * WRITES_EACH
    mine = [event_id for event_id in seen if event_id not in start_ids]
    assert len(mine) == len(set(mine)), "an event was handed out twice"
    assert set(mine) == written, f"skipped: {sorted(written - set(mine))}"
