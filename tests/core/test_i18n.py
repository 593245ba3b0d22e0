"""One message catalogue: Chinese by default, English on request, codes the same in both."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core import catalogue
from app.core.config import Settings
from app.core.i18n import negotiate, set_default_language
from app.core.roles import Role
from app.main import create_app
from tests.factories import login_as

APP = Path(__file__).resolve().parents[2] / "app"


def test_every_message_has_its_translation_and_every_entry_is_used() -> None:
    result = catalogue.check()
    assert result.untranslated == [], "run `python -m app i18n update` and translate these"
    assert result.unused == [], "run `python -m app i18n update` to drop these"


def _binds_underscore(tree: ast.AST) -> list[int]:
    stores = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store)
    ]
    args = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.arg) and node.arg == "_"]
    return stores + args


def test_no_module_that_translates_rebinds_the_gettext_name() -> None:
    """``for _ in ...`` in a module that imports ``_`` would make ``_("...")`` fail there."""
    offenders = []
    for path in sorted(APP.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports_gettext = any(
            isinstance(node, ast.ImportFrom)
            and node.module == "app.core.i18n"
            and any(alias.name == "_" for alias in node.names)
            for node in ast.walk(tree)
        )
        if imports_gettext:
            offenders += [f"{path.relative_to(APP)}:{line}" for line in _binds_underscore(tree)]
    assert offenders == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh-CN"),
        ("", "zh-CN"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("fr-FR, en;q=0.5", "en"),
        ("en;q=0.2, zh;q=0.9", "zh-CN"),
        ("de", "zh-CN"),
        ("*", "zh-CN"),
        ("en;q=0", "zh-CN"),
        ("en;q=abc, ;;, zh", "zh-CN"),
    ],
)
def test_accept_language_is_negotiated(header: str | None, expected: str) -> None:
    assert negotiate(header, "zh-CN") == expected


@pytest.fixture
def chinese_client(settings: Settings, engine: object) -> Iterator[TestClient]:
    """The product as shipped: no Accept-Language means Chinese."""
    chinese: FastAPI = create_app(settings.model_copy(update={"default_language": "zh-CN"}))
    try:
        with TestClient(chinese, raise_server_exceptions=False) as client:
            yield client
    finally:
        chinese.state.engine.dispose()
        set_default_language(settings.default_language)


def _both(client: TestClient, method: str, url: str, **kwargs: object) -> tuple[dict, dict]:
    chinese = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    headers = {**dict(kwargs.pop("headers", {}) or {}), "Accept-Language": "en"}  # type: ignore[call-overload]
    english = client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
    assert chinese.status_code == english.status_code
    assert chinese.headers["content-language"] == "zh-CN"
    assert english.headers["content-language"] == "en"
    zh, en = chinese.json(), english.json()
    assert zh["code"] == en["code"] and zh["type"] == en["type"]
    return zh, en


def test_an_unknown_path_reads_in_chinese_and_in_english(chinese_client: TestClient) -> None:
    zh, en = _both(chinese_client, "GET", "/api/v1/no-such-thing")
    assert zh["status"] == 404
    assert (zh["title"], en["title"]) == ("未找到", "Not found")
    assert "/docs" in zh["detail"] and "没有资源" in zh["detail"]
    assert en["detail"].startswith("No resource at this path")


def test_a_validation_error_reads_in_chinese_and_in_english(chinese_client: TestClient) -> None:
    zh, en = _both(chinese_client, "POST", "/api/v1/auth/token", data={})
    assert zh["status"] == 422
    assert (zh["title"], en["title"]) == ("输入无效", "Invalid input")
    assert zh["detail"].startswith("请求无效：")
    assert [e["field"] for e in zh["errors"]] == [e["field"] for e in en["errors"]]
    assert {e["message"] for e in zh["errors"]} == {"必填字段"}
    assert {e["message"] for e in en["errors"]} == {"Field required"}


def test_a_bound_is_filled_into_the_translated_message(
    chinese_client: TestClient, db: Session
) -> None:
    headers = login_as(db, Role.academic_office)
    zh, en = _both(chinese_client, "GET", "/api/v1/students?limit=100000", headers=headers)
    assert zh["status"] == 422
    (message,) = [e["message"] for e in zh["errors"] if e["field"] == "query.limit"]
    assert message.startswith("应小于或等于 ")
    (message,) = [e["message"] for e in en["errors"] if e["field"] == "query.limit"]
    assert message.startswith("Input should be less than or equal to ")


def test_the_suite_default_stays_english(client: TestClient) -> None:
    body = client.get("/api/v1/no-such-thing").json()
    assert body["title"] == "Not found"
    chinese = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "zh-CN"}).json()
    assert chinese["title"] == "未找到"
