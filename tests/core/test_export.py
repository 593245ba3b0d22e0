"""The one export writer, on the platform's own lists too."""

import csv
import io
import json

from openpyxl import load_workbook
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.export import neutralise
from app.core.roles import Role
from tests.factories import login_as


def test_formula_prefixes_are_neutralised_and_numbers_are_not() -> None:
    assert [neutralise(v) for v in ("=SUM(A1)", "+1", "-x", "@cmd", "\tx", "ok")] == [
        "'=SUM(A1)",
        "'+1",
        "'-x",
        "'@cmd",
        "'\tx",
        "ok",
    ]
    assert neutralise(-5) == -5


def test_users_export_as_csv_with_chinese_headers(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    response = client.get("/api/v1/users", params={"format": "csv"}, headers=admin)
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    header, first = response.content.decode("utf-8-sig").splitlines()[:2]
    assert header.startswith("ID,用户名,姓名")
    assert ",admin," in first


def test_api_keys_export_as_xlsx(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    client.post("/api/v1/api-keys", json={"name": "nightly", "role": "auditor"}, headers=admin)
    response = client.get("/api/v1/api-keys", params={"format": "xlsx"}, headers=admin)
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("ID", "名称", "角色")
    assert rows[1][1:3] == ("nightly", "auditor")


def test_audit_events_export_with_before_and_after_as_json(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    client.post("/api/v1/api-keys", json={"name": "nightly", "role": "auditor"}, headers=admin)
    response = client.get(
        "/api/v1/audit-events", params={"format": "csv", "entity": "api_key"}, headers=admin
    )
    assert response.status_code == 200
    header, *rows = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
    assert header == [
        "ID",
        "时间",
        "操作者",
        "角色",
        "操作",
        "对象",
        "对象ID",
        "修改前",
        "修改后",
        "请求ID",
    ]
    assert len(rows) == 1
    assert json.loads(rows[0][8])["name"] == "nightly"
