"""Helpers for upload tests: send a file, count rows."""

from typing import Any

from sqlmodel import Session, func, select
from starlette.testclient import TestClient


def upload(
    client: TestClient,
    headers: dict[str, str],
    kind: str,
    name: str,
    content: bytes,
    *,
    dry_run: bool = False,
    **options: Any,
) -> Any:
    """POST ``content`` as a ``kind`` upload; ``options`` are the kind's own query parameters."""
    return client.post(
        f"/api/v1/imports/{kind}",
        params={"dry_run": str(dry_run).lower(), **options},
        files={"file": (name, content)},
        headers=headers,
    )


def count(db: Session, model: Any) -> int:
    return int(db.exec(select(func.count()).select_from(model)).one())
