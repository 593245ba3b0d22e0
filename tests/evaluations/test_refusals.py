"""Clumsy and unauthorised clients of the evaluation: clear 4xx answers, nothing changed."""

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.evaluations.models import Evaluation, EvaluationScheme
from tests.evaluations.factories import EVALUATIONS, YEAR, build_pilot, compute, score
from tests.reference.factories import headers_for, office


def test_bad_scores_and_unknown_ids_change_nothing(client: TestClient, db: Session) -> None:
    build_pilot(db)
    headers = office(db)
    evaluation = compute(client, headers).json()["evaluations"][0]
    assert score(client, headers, evaluation["id"], "70").status_code == 200
    url = f"{EVALUATIONS}/{evaluation['id']}/committee-score"
    for bad in ("-1", "100.1", "abc", "NaN", "Infinity", "1e999", "70.25", None, ""):
        response = client.put(url, json={"score": bad}, headers=headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["field"].startswith("body.score")
    assert client.put(url, json={}, headers=headers).status_code == 422
    for unknown in ("999999", "0"):
        response = score(client, headers, unknown, "50")
        assert response.status_code in (404, 422), response.text
    assert score(client, headers, "abc", "50").status_code == 422
    db.expire_all()
    stored = db.exec(select(Evaluation)).one()
    assert str(stored.committee_score) == "70.0" and stored.version == evaluation["version"] + 1


def test_wrong_roles_and_years_are_refused_and_nothing_is_finalized(
    client: TestClient, db: Session
) -> None:
    build_pilot(db)
    headers = office(db)
    evaluation = compute(client, headers).json()["evaluations"][0]
    score(client, headers, evaluation["id"], "70")
    for role in (Role.auditor, Role.college_manager, Role.teacher, Role.student, Role.admin):
        other = headers_for(db, role)
        refused = client.post(f"{EVALUATIONS}/finalize", params={"year": YEAR}, headers=other)
        assert refused.status_code == 403, refused.text
        assert refused.json()["allowed_roles"] == ["academic_office"]
    for year in ("1999", "3000", "abc", ""):
        response = client.post(f"{EVALUATIONS}/compute", params={"year": year}, headers=headers)
        assert response.status_code == 422, response.text
    assert client.post(f"{EVALUATIONS}/compute", headers=headers).status_code == 422
    for params in ({"format": "pdf"}, {"rating": "很好"}, {"needs_rectification": "maybe"}):
        response = client.get(EVALUATIONS, params=params, headers=headers)
        assert response.status_code == 422, response.text
    db.expire_all()
    assert db.exec(select(EvaluationScheme)).one().finalized_at is None
    assert db.exec(select(Evaluation)).one().finalized_at is None
