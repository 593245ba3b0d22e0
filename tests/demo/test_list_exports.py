"""On the demo data with hostile text in every free-text column, every paged list answers its CSV
and its XLSX export completely: the file opens and holds every row the JSON total counts."""

import csv
import io
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlmodel import Session, SQLModel
from starlette.testclient import TestClient

from app.core.roles import Role
from app.demo.loader import load_demo
from tests.demo.test_list_statements import ADMIN_ONLY, _paged_lists
from tests.reference.factories import headers_for, office

HOSTILE = "=1+1\x07\x1b😀"
"""A formula, two control characters XML forbids and a 4-byte character."""
FREE_TEXT = frozenset(
    {"name", "title", "note", "notes", "remark", "remarks", "description", "class_name", "reason"}
)


def _poison_free_text(db: Session) -> int:
    """Put ``HOSTILE`` before the value of every free-text column of every table; how many
    columns took it."""
    poisoned = 0
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            kind = getattr(column.type, "impl", column.type)
            if column.name not in FREE_TEXT or not isinstance(kind, sa.String):
                continue
            if isinstance(kind, sa.Enum):
                continue
            db.execute(
                table.update()
                .where(column.is_not(None))
                .values({column.name: sa.literal(HOSTILE) + column})
            )
            poisoned += 1
    db.commit()
    return poisoned


def _csv_rows(response: Any) -> list[list[str]]:
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def _xlsx_rows(response: Any) -> list[tuple[Any, ...]]:
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    rows: list[tuple[Any, ...]] = []
    for number, sheet in enumerate(workbook.worksheets):
        sheet_rows = list(sheet.iter_rows(values_only=True))
        rows.extend(sheet_rows if number == 0 else sheet_rows[1:])
    return rows


@pytest.fixture
def hostile_demo(db: Session) -> Session:
    assert load_demo(db, "admin", "demo-password-123").created
    assert _poison_free_text(db) >= 10
    return db


def test_every_paged_list_declares_format(app: FastAPI) -> None:
    missing = []
    for path, _required in _paged_lists(app):
        names = {p["name"] for p in app.openapi()["paths"][path]["get"].get("parameters", [])}
        if "format" not in names:
            missing.append(path)
    assert missing == []


def test_every_list_exports_complete_files_whatever_its_text_holds(
    app: FastAPI, client: TestClient, hostile_demo: Session
) -> None:
    clerk, admin = office(hostile_demo), headers_for(hostile_demo, Role.admin)
    lists = _paged_lists(app)
    hostile_seen = []
    for path, required in lists:
        params = dict.fromkeys(required, 2022)
        headers = admin if path in ADMIN_ONLY else clerk
        page = client.get(path, params={**params, "limit": 500}, headers=headers)
        assert page.status_code == 200, (path, page.text)
        total = page.json()["total"]

        as_csv = client.get(path, params={**params, "format": "csv"}, headers=headers)
        assert as_csv.status_code == 200, (path, as_csv.text)
        assert as_csv.headers["content-type"].startswith("text/csv"), path
        csv_rows = _csv_rows(as_csv)
        assert len(csv_rows) == total + 1, path

        as_xlsx = client.get(path, params={**params, "format": "xlsx"}, headers=headers)
        assert as_xlsx.status_code == 200, (path, as_xlsx.text)
        xlsx_rows = _xlsx_rows(as_xlsx)
        assert len(xlsx_rows) == total + 1, path
        assert len(xlsx_rows[0]) == len(csv_rows[0]), path

        cells = [c for row in csv_rows[1:] for c in row]
        if any("'=1+1" in c for c in cells):
            hostile_seen.append(path)
            assert not any(c.startswith("=") for c in cells), path
            text = [c for row in xlsx_rows[1:] for c in row if isinstance(c, str)]
            assert any(c.startswith("=1+1\ufffd\ufffd😀") for c in text), path
    assert len(hostile_seen) >= 10, hostile_seen
