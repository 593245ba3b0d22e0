"""The engine pauses the cyclic garbage collector while an import runs, and always restores it."""

import gc
import threading
from collections.abc import Iterator

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.collector import collector_paused
from tests.imports.helpers import upload
from tests.reference.factories import make_college, office


@pytest.fixture(autouse=True)
def _gc_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_collector_is_off_inside_and_on_again_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_restore_the_collector_only_when_the_last_ends() -> None:
    first_inside, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def long_import() -> None:
        with collector_paused():
            first_inside.set()
            release.wait(5)

    worker = threading.Thread(target=long_import)
    worker.start()
    assert first_inside.wait(5)
    with collector_paused():
        pass
    seen.append(gc.isenabled())  # the first import is still running
    release.set()
    worker.join(5)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_operator_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_collector_is_back_after_a_refused_upload(client: TestClient, db: Session) -> None:
    response = upload(client, office(db), "students", "s.csv", "学号,姓名\n".encode())
    assert response.status_code == 422
    assert gc.isenabled()


def test_collector_is_back_after_a_good_upload(client: TestClient, db: Session) -> None:
    make_college(db, code="01", name="信息学院")
    content = "学院代码,学院名称\n02,机电学院\n".encode()
    response = upload(client, office(db), "colleges", "c.csv", content)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    assert gc.isenabled()
