"""Issue 16: where a person reads a status, level, role or action, they read its label, not
its code — in refusals, in the audit log's export — in Chinese and in English; ``code``,
``current_state`` and ``allowed_actions`` keep the codes."""

import csv
import io

from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from tests.applications.factories import make_application
from tests.reference.factories import headers_for, office

URL = "/api/v1/applications"
ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


def test_a_refusal_names_the_state_and_the_actions_by_their_labels(
    client: TestClient, db: Session
) -> None:
    application = make_application(db)
    clerk = office(db)

    chinese = client.post(f"{URL}/{application.id}/approve", headers={**clerk, **ZH}).json()
    english = client.post(f"{URL}/{application.id}/approve", headers={**clerk, **EN}).json()

    assert chinese["code"] == english["code"] == "invalid_state"
    assert chinese["current_state"] == english["current_state"] == "draft"
    assert (
        chinese["allowed_actions"] == english["allowed_actions"] == ["update", "delete", "submit"]
    )
    detail = chinese["detail"]
    assert "草稿" in detail and "批准" in detail and "提交" in detail, detail
    for code in ("draft", "approve", "submit", "submitted"):
        assert code not in detail, detail
    assert "Cannot approve" in english["detail"] and "Draft" in english["detail"]


def test_a_role_refusal_names_the_role_by_its_label(client: TestClient, db: Session) -> None:
    student = headers_for(db, Role.student)
    detail = client.get("/api/v1/audit-events", headers={**student, **ZH}).json()["detail"]
    assert "student" not in detail, detail


def test_the_audit_log_export_shows_actions_and_entities_by_their_labels(
    client: TestClient, db: Session
) -> None:
    make_application(db)
    admin = headers_for(db, Role.admin)
    client.post(
        "/api/v1/colleges", json={"code": "99", "name": "测试学院"}, headers={**office(db), **ZH}
    )
    for language, created, college in (("zh-CN", "新建", "二级学院"), ("en", "create", "College")):
        exported = client.get(
            "/api/v1/audit-events",
            params={"format": "csv"},
            headers={**admin, "Accept-Language": language},
        )
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        action, entity = (
            rows[0].index("操作" if language == "zh-CN" else "Action"),
            rows[0].index("对象" if language == "zh-CN" else "Entity"),
        )
        assert (created, college) in {(row[action], row[entity]) for row in rows[1:]}, rows
    as_json = client.get("/api/v1/audit-events", headers=admin).json()["items"]
    assert {"create"} <= {item["action"] for item in as_json}
    assert "college" in {item["entity"] for item in as_json}
