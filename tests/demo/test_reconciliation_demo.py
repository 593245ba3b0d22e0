"""The demo ships the national platform's list with a few differences of each kind, compared
with the records on load; applying its rows shows the exams' refusals."""

from sqlmodel import Session
from starlette.testclient import TestClient

from app.demo.loader import load_demo
from tests.reference.factories import office


def test_demo_has_a_reconciliation_with_every_group(client: TestClient, db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)

    listed = client.get("/api/v1/reconciliations?year=2022", headers=headers).json()
    assert listed["total"] == 1
    body = client.get(f"/api/v1/reconciliations/{listed['items'][0]['id']}", headers=headers)
    result = body.json()
    assert result["counts"] == {
        "same": 1,
        "different": 6,
        "platform_only": 1,
        "local_only": 1,
        "ambiguous": 0,
    }
    differences = {r["name"]: r["differences"] for r in result["different"]}
    assert differences == {
        "刘洋": ["score"],
        "赵磊": ["issue_date"],
        "吴敏": ["certificate_number"],
        "杨敏1": ["result", "score"],
        "周涛1": ["result", "score", "certificate_number", "issue_date"],
        "王静2": ["result"],
    }
    assert result["same"][0]["national_id"] == "3101**********1234"
    assert [r["local_name"] for r in result["local_only"]] == ["李娜1"]

    applied = client.post(
        f"/api/v1/reconciliations/{result['id']}/apply",
        json={"group": "different"},
        headers=headers,
    ).json()
    outcome = {r["row_id"]: r for r in applied["rows"]}
    by_name = {r["name"]: outcome[r["id"]] for r in result["different"]}
    assert by_name["刘洋"]["outcome"] == "applied"
    assert by_name["赵磊"]["outcome"] == "applied"
    assert by_name["周涛1"]["outcome"] == "applied"
    assert by_name["吴敏"]["outcome"] == "refused"
    assert by_name["杨敏1"]["code"] == "certificate_issued"
    assert by_name["王静2"]["code"] == "invalid_state"
