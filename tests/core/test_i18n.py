"""One message catalogue: Chinese by default, English on request, codes the same in both."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from string import Formatter
from uuid import uuid4

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


def _placeholders(text: str) -> set[str]:
    return {name for _text, name, _spec, _conv in Formatter().parse(text) if name is not None}


def test_every_translation_keeps_the_placeholders_of_its_message() -> None:
    """A translation naming a placeholder its message does not fill would fail (500) when
    the message is shown; one dropping a placeholder would lose what it says."""
    wrong = {
        msgid: text
        for msgid, text in catalogue._read().items()
        if text and _placeholders(msgid) != _placeholders(text)
    }
    assert wrong == {}


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


def test_the_allowed_values_are_listed_in_the_requests_language(
    chinese_client: TestClient, db: Session
) -> None:
    headers = login_as(db, Role.academic_office)
    zh, en = _both(chinese_client, "GET", "/api/v1/applications?status=maybe", headers=headers)
    (message,) = [e["message"] for e in zh["errors"] if e["field"] == "query.status"]
    assert " or " not in message and "或 'closed'" in message
    (message,) = [e["message"] for e in en["errors"] if e["field"] == "query.status"]
    assert message.endswith("or 'closed'")


def test_the_suite_default_stays_english(client: TestClient) -> None:
    body = client.get("/api/v1/no-such-thing").json()
    assert body["title"] == "Not found"
    chinese = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "zh-CN"}).json()
    assert chinese["title"] == "未找到"


# --- every domain's messages: Chinese without Accept-Language, English on request ------------


def _college(client: TestClient, headers: dict[str, str], name: str) -> int:
    response = client.post("/api/v1/colleges", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_missing_object_reads_in_chinese_and_in_english(
    chinese_client: TestClient, db: Session
) -> None:
    headers = login_as(db, Role.academic_office)
    zh, en = _both(chinese_client, "GET", "/api/v1/students/999999999", headers=headers)
    assert (zh["status"], zh["code"]) == (404, "not_found")
    assert zh["detail"] == "不存在编号为 999999999 的学生"
    assert en["detail"] == "No student with id 999999999"


def test_a_refused_role_reads_in_chinese_and_in_english(
    chinese_client: TestClient, db: Session
) -> None:
    headers = login_as(db, Role.teacher)
    zh, en = _both(
        chinese_client, "POST", "/api/v1/colleges", json={"name": "任意学院"}, headers=headers
    )
    assert (zh["status"], zh["code"]) == (403, "forbidden")
    assert zh["title"] == "无权操作"
    assert zh["detail"] == "角色 教师 无权调用 POST /api/v1/colleges；允许的角色：教务处"
    assert en["detail"] == (
        "Role Teacher may not call POST /api/v1/colleges; allowed roles: Academic office"
    )


def test_a_conflict_reads_in_chinese_and_in_english(
    chinese_client: TestClient, db: Session
) -> None:
    headers = login_as(db, Role.academic_office)
    name = f"冲突测试学院{uuid4().hex[:8]}"
    existing = _college(chinese_client, headers, name)
    zh, en = _both(chinese_client, "POST", "/api/v1/colleges", json={"name": name}, headers=headers)
    assert (zh["status"], zh["code"]) == (409, "duplicate")
    assert zh["detail"] == f"已有另一个二级学院的 name 为 '{name}'（编号 {existing}）"
    assert en["detail"] == f"Another college already has name '{name}' (id {existing})"


def test_a_state_refusal_reads_in_chinese_and_in_english(
    chinese_client: TestClient, db: Session
) -> None:
    """A 409 whose message is put together from translated pieces (what, action, states)."""
    headers = login_as(db, Role.academic_office)
    college = _college(chinese_client, headers, f"状态测试学院{uuid4().hex[:8]}")
    major = chinese_client.post(
        "/api/v1/majors",
        json={"code": uuid4().hex[:8], "name": "软件技术", "college_id": college},
        headers=headers,
    )
    assert major.status_code == 201, major.text
    zh, en = _both(chinese_client, "DELETE", f"/api/v1/colleges/{college}", headers=headers)
    assert zh["status"] == 409
    assert zh["detail"].startswith(f"二级学院 {college} 仍被以下数据引用：")
    assert en["detail"].startswith(f"The college {college} is still referred to by ")


def test_a_domain_validator_reads_in_chinese_and_in_english(
    chinese_client: TestClient, db: Session
) -> None:
    headers = login_as(db, Role.academic_office)
    college = _college(chinese_client, headers, f"学分测试学院{uuid4().hex[:8]}")
    body = {"code": uuid4().hex[:8], "name": "程序设计", "credits": "120", "college_id": college}
    zh, en = _both(chinese_client, "POST", "/api/v1/courses", json=body, headers=headers)
    assert (zh["status"], zh["code"]) == (422, "validation_error")
    (message,) = [e["message"] for e in zh["errors"] if e["field"] == "body.credits"]
    assert message == "学分应为 0 到 99.9 之间的数，最多一位小数"
    (message,) = [e["message"] for e in en["errors"] if e["field"] == "body.credits"]
    assert message == "credits are a number from 0 to 99.9 with at most one decimal place"


def test_an_uploads_row_errors_read_in_chinese_and_in_english(
    chinese_client: TestClient, db: Session
) -> None:
    headers = login_as(db, Role.academic_office)
    college = f"信息工程学院{uuid4().hex[:6]}"
    _college(chinese_client, headers, college)
    csv = f"专业代码,专业名称,二级学院\n{uuid4().hex[:8]},软件技术,{college}X\n,物联网,{college}\n"
    zh, en = _both(
        chinese_client,
        "POST",
        "/api/v1/imports/majors",
        files={"file": ("专业.csv", csv.encode())},
        headers=headers,
    )
    assert (zh["status"], zh["code"]) == (422, "import_rejected")
    assert (
        zh["detail"]
        == "专业.csv 中有 2 处问题；未写入任何数据。请修改 `errors` 中列出的行后重新上传"
    )
    assert en["detail"].startswith("2 problem(s) in 专业.csv; nothing was written")
    assert [(e["row"], e["column"]) for e in zh["errors"]] == [
        (e["row"], e["column"]) for e in en["errors"]
    ]
    reasons = {e["column"]: e["reason"] for e in zh["errors"]}
    assert reasons["专业代码"] == "必填：专业代码"
    assert reasons["二级学院"] == (
        f"未知的二级学院 '{college}X'；您是不是要填 '{college}'？；请填写已有学院的名称"
        "（GET /api/v1/colleges）"
    )
    reasons = {e["column"]: e["reason"] for e in en["errors"]}
    assert reasons["专业代码"] == "required: 专业代码"
    assert reasons["二级学院"] == (
        f"unknown college '{college}X'; did you mean '{college}'?; use the name of a college "
        "that exists (GET /api/v1/colleges)"
    )


MISSING_PATHS = [
    "/api/v1/colleges/{}",
    "/api/v1/majors/{}",
    "/api/v1/courses/{}",
    "/api/v1/teachers/{}",
    "/api/v1/evaluation-orgs/{}",
    "/api/v1/certificates/{}",
    "/api/v1/applications/{}",
    "/api/v1/plans/{}",
    "/api/v1/teacher-trainings/{}",
    "/api/v1/training-batches/{}",
    "/api/v1/exam-sessions/{}",
    "/api/v1/registrations/{}",
    "/api/v1/issued-certificates/{}",
    "/api/v1/credit-rules/{}",
    "/api/v1/conversion-requests/{}",
    "/api/v1/credit-records/{}",
    "/api/v1/funding-sources/{}",
    "/api/v1/budget-lines/{}",
    "/api/v1/expenditures/{}",
    "/api/v1/subsidy-runs/{}",
    "/api/v1/evaluations/{}",
    "/api/v1/experts/{}",
    "/api/v1/meetings/{}",
]


def test_every_domains_missing_object_is_named_in_chinese(
    chinese_client: TestClient, db: Session
) -> None:
    """The noun of each domain's 404 comes from the catalogue too: no English word in it."""
    headers = login_as(db, Role.academic_office)
    for path in MISSING_PATHS:
        zh, en = _both(chinese_client, "GET", path.format(999999999), headers=headers)
        assert zh["status"] == 404, path
        assert re.fullmatch(r"不存在编号为 999999999 的[^A-Za-z]+", zh["detail"]), zh["detail"]
        assert re.fullmatch(r"No [a-z ]+ with id 999999999", en["detail"]), en["detail"]


def test_a_kept_message_is_put_into_words_by_each_reader() -> None:
    """``M_`` keeps a message as msgid and parameters; ``shown`` translates it, its message
    parameters and the parts of ``all_of`` in the current language, and leaves a text kept
    ``as_written`` alone."""
    from app.core.i18n import M_, all_of, as_written, language_var, shown

    steps = all_of([M_("result recorded"), M_("certificate issued or corrected")])
    kept = M_("{done}, then refused: {reason}", done=steps, reason=as_written("原样"))
    token = language_var.set("en")
    try:
        assert shown(kept) == (
            "result recorded; certificate issued or corrected, then refused: 原样"
        )
    finally:
        language_var.reset(token)
    token = language_var.set("zh-CN")
    try:
        assert shown(kept) == "已录入成绩；已发放或更正证书，随后被拒绝：原样"
        assert shown(M_("no registration here fits by {by}", by="name")) == (
            "按 name 在本系统找不到匹配的报名"
        )
    finally:
        language_var.reset(token)
    assert shown(None) is None
    assert shown(as_written("{not a field}")) == "{not a field}"


def test_a_text_made_in_each_language_is_shown_in_the_readers() -> None:
    from app.core.i18n import _, in_each_language, language_var, shown

    made = in_each_language(lambda: _("result recorded"))
    assert made == {"zh-CN": "已录入成绩", "en": "result recorded"}
    for language, text in made.items():
        token = language_var.set(language)
        try:
            assert shown({"texts": made}) == text
        finally:
            language_var.reset(token)


def test_a_worded_text_is_kept_as_its_message_for_other_readers() -> None:
    """A text ``_`` put into words and kept ``as_written`` (another domain's refusal) is kept
    as the message it was worded from, so a reader in the other language reads their own; a
    parameter JSON would not give back as it was is kept as the text it was filled in as."""
    from datetime import date

    from app.core.i18n import _, as_written, language_var, shown

    token = language_var.set("en")
    try:
        inner = _("result recorded")
        kept = as_written(_("{done}, then refused: {reason}", done=inner, reason="x"))
        dated = _("{done}, then refused: {reason}", done="a", reason=date(2022, 1, 2))
        assert as_written(dated)["params"] == {"done": "a", "reason": "2022-01-02"}
        assert as_written("plain") == {"text": "plain"}
    finally:
        language_var.reset(token)
    assert kept == {
        "msgid": "{done}, then refused: {reason}",
        "params": {"done": {"msgid": "result recorded", "params": {}}, "reason": "x"},
    }
    token = language_var.set("zh-CN")
    try:
        assert shown(kept) == "已录入成绩，随后被拒绝：x"
    finally:
        language_var.reset(token)
