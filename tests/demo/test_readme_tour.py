"""Every request of the README's demo tour works on the demo data, as the login the tour names."""

import re
import shlex
from pathlib import Path

from sqlmodel import Session
from starlette.testclient import TestClient

from app.demo.loader import load_demo

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PASSWORD = "demo-password-123"
REQUEST = re.compile(r"`(GET|POST) (/api/v1/[^`\s]+)`")


def _tour() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## A tour of the demo", 1)[1].split("\n## ", 1)[0]


def _tour_rows() -> list[tuple[str | None, str, str]]:
    """(login or None, method, path) for every request in the tour's table."""
    requests = []
    for line in _tour().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not REQUEST.search(cells[1]):
            continue
        login = cells[2].strip("`")
        for method, path in REQUEST.findall(cells[1]):
            requests.append((None if login == "nobody" else login, method, path))
    return requests


def _tour_upload(path: str) -> Path:
    """The file the tour's shell example sends to ``path``."""
    shell = "".join(re.findall(r"```sh\n(.*?)```", _tour(), re.DOTALL))
    words = shlex.split(shell.replace("\\\n", " "))
    for i, word in enumerate(words):
        if word.startswith("file=@") and any(path in w for w in words[max(0, i - 6) : i]):
            return ROOT / word.removeprefix("file=@")
    raise AssertionError(f"the tour's shell example does not upload a file to {path}")


def _login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, (username, response.text[:300])
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_the_tour_names_its_requests() -> None:
    rows = _tour_rows()
    assert len(rows) >= 15
    assert {login for login, _, _ in rows} >= {"office", "student", "college", None}


def test_the_readme_tour_works_on_the_demo_data(client: TestClient, db: Session) -> None:
    assert load_demo(db, "admin", PASSWORD).created
    headers: dict[str | None, dict[str, str]] = {None: {}}
    student_id = None
    for login, method, path in _tour_rows():
        if login not in headers:
            assert login is not None
            headers[login] = _login(client, login)
        if "{student_id}" in path:
            me = client.get("/api/v1/auth/me", headers=headers[login]).json()
            student_id = me["student_id"]
            assert student_id is not None, f"{login} is not a student"
            path = path.replace("{student_id}", str(student_id))
        if method == "GET":
            response = client.get(path, headers=headers[login])
        else:
            upload = _tour_upload(path.split("?", 1)[0])
            files = {"file": (upload.name, upload.read_bytes())}
            response = client.post(path, headers=headers[login], files=files)
        assert response.status_code == 200, (login, method, path, response.text[:300])
        if "dry_run=true" in path:
            report = response.json()
            assert report["written"] is False
            assert report["errors"] == []
    certificate = client.get("/api/v1/public/certificates/W010012200001").json()
    assert certificate["status"] == "valid"
