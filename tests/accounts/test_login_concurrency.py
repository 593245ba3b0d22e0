from collections import Counter

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from app.accounts.models import LoginFailure
from tests.concurrency import Call, fire_concurrently
from tests.factories import make_user


@pytest.mark.slow
def test_concurrent_password_guesses_record_at_most_the_allowed_failures(
    app: FastAPI, db: Session
) -> None:
    make_user(db, username="target")
    guess = Call(
        "POST", "/api/v1/auth/token", {"data": {"username": "target", "password": "guess-1234"}}
    )

    responses = fire_concurrently(app, [guess] * 20)

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {401: 5, 429: 15}
    failures = db.exec(select(LoginFailure).where(LoginFailure.username == "target")).all()
    assert len(failures) == 5
