"""/docs and /redoc load nothing from outside (issue 17, item 4): every script, style sheet,
icon and schema they name is served by the app itself, and Swagger UI shows no validator badge
(which it would fetch from validator.swagger.io)."""

import re

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

REFERENCE = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: ?'([^']+)'""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_load_only_from_the_app(app: FastAPI, page: str) -> None:
    with TestClient(app) as client:
        html = client.get(page)
        assert html.status_code == 200
        references = [a or b for a, b in REFERENCE.findall(html.text)]
        assert references, html.text
        assert "http://" not in html.text
        assert "https://" not in html.text
        assert "fonts.googleapis" not in html.text
        for reference in references:
            assert reference.startswith("/") and not reference.startswith("//"), reference
            assert client.get(reference).status_code == 200, reference


def test_swagger_ui_has_no_validator_badge(app: FastAPI) -> None:
    with TestClient(app) as client:
        html = client.get("/docs").text
    assert '"validatorUrl": null' in html


def test_swagger_ui_shows_who_may_call_each_write(app: FastAPI) -> None:
    with TestClient(app) as client:
        html = client.get("/docs").text
    assert '"showExtensions": true' in html
