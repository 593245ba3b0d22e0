"""A list's CSV or XLSX export, in either language, uploads back unchanged through the kind of the
same rows: a clerk exports, corrects a few cells in Excel and uploads the file again."""

from itertools import product

from sqlmodel import Session
from starlette.testclient import TestClient

from app.demo.loader import load_demo
from tests.imports.helpers import upload
from tests.reference.factories import office

ROUND_TRIPS = {
    # upload kind: the list whose export it reads
    "applications": "applications",
    "certificates": "certificates",
    "colleges": "colleges",
    "courses": "courses",
    "credit-rules": "credit-rules",
    "evaluation-orgs": "evaluation-orgs",
    "evaluator-qualifications": "evaluator-qualifications",
    "exam-registrations": "registrations",
    "issued-certificates": "issued-certificates",
    "majors": "majors",
    "students": "students",
    "teacher-trainings": "teacher-trainings",
    "teachers": "teachers",
    "training-bases": "training-bases",
}


def test_every_list_export_uploads_back_unchanged_in_either_language_and_format(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    wrong = []
    for kind, path in ROUND_TRIPS.items():
        for language, fmt in product(("zh-CN", "en"), ("csv", "xlsx")):
            exported = client.get(
                f"/api/v1/{path}",
                params={"format": fmt},
                headers={**headers, "Accept-Language": language},
            )
            assert exported.status_code == 200, (kind, language)
            answer = upload(client, headers, kind, f"{kind}.{fmt}", exported.content, dry_run=True)
            body = answer.json()
            if answer.status_code != 200 or body["rows"] == 0 or body["unchanged"] != body["rows"]:
                wrong.append(
                    f"{kind} ({language}, {fmt}): {answer.status_code} {body.get('errors')}"
                )
    assert wrong == []
