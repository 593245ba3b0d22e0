"""The ``national-results`` kind: the list of results and certificates downloaded from the
national 1+X platform (职业技能等级证书信息管理服务平台), as the office gets it. The engine only
reads it (``POST /api/v1/reconciliations`` compares it); nothing of it is written as is."""

import re
import unicodedata
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from app.core.i18n import _
from app.core.labels import label
from app.core.roles import Principal, Role
from app.imports.cells import CellError, code, date_cell, decimal, text, yes_no
from app.imports.engine import Column, ImportKind, Plan
from app.imports.registry import register
from app.reconciliation.models import ReconciliationRow
from app.reference.models import LEVEL_ORDER, Level

READERS_OF_THE_LIST = frozenset({Role.academic_office, Role.college_manager, Role.evaluation_org})
PASS_WORDS = frozenset({"是", "通过", "合格", "已通过", "y", "yes", "true", "1", "pass", "passed"})
FAIL_WORDS = frozenset(
    {"否", "不通过", "未通过", "不合格", "n", "no", "false", "0", "fail", "failed", "缺考"}
)
_ID_NUMBER = re.compile(r"^(\d{17}[\dX]|\d{15})$")
_LEVEL_WORDS = {
    "初级": Level.junior,
    "中级": Level.intermediate,
    "高级": Level.senior,
    "junior": Level.junior,
    "intermediate": Level.intermediate,
    "senior": Level.senior,
}


def level_cell(raw: str) -> Level:
    """初级 / 中级 / 高级, also as the platform writes them (初级（一级）, 中级证书)."""
    value = unicodedata.normalize("NFKC", raw).strip().casefold()
    for word, level in _LEVEL_WORDS.items():
        if value.startswith(word):
            return level
    raise CellError(_("one of {levels}", levels=", ".join(label(lv) for lv in LEVEL_ORDER)))


def national_id_cell(raw: str) -> str:
    """An 18-character (or old 15-digit) resident id number, upper-case X."""
    value = re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw)).upper()
    if not _ID_NUMBER.match(value):
        raise CellError(_("an 18-character id number (digits, the last may be X)"))
    return value


def _never(_session: Session, _principal: Principal) -> Plan:
    raise AssertionError("national-results files are read by the reconciliation only")


def _as_is(_plan: Plan, cells: dict[str, Any], _principal: Principal) -> dict[str, Any]:
    return cells


SCORE = decimal(Decimal(0), Decimal(100), 1)

NATIONAL_RESULTS = register(
    ImportKind(
        name="national-results",
        title="平台成绩证书名单",
        model=ReconciliationRow,
        key="name",
        columns=(
            Column(
                "name",
                "姓名",
                text(100),
                aliases=("学生姓名", "考生姓名", "学员姓名"),
                example="张三",
            ),
            Column(
                "national_id",
                "证件号码",
                national_id_cell,
                required=False,
                aliases=("身份证号", "身份证号码", "证件号", "id_number"),
                example="310101200301011234",
                help="compared through a keyed hash, never stored",
            ),
            Column(
                "student_no",
                "学号",
                code(20),
                required=False,
                aliases=("学籍号", "学生学号"),
                example="2021510203001",
            ),
            Column(
                "certificate_name",
                "证书名称",
                text(100),
                required=False,
                aliases=("证书", "职业技能等级证书名称", "证书名", "职业技能等级证书"),
                example="Web前端开发",
            ),
            Column(
                "level",
                "等级",
                level_cell,
                required=False,
                aliases=("级别", "证书等级", "证书级别"),
                example="中级",
            ),
            Column(
                "passed",
                "考核结果",
                yes_no(PASS_WORDS, FAIL_WORDS, "通过 or 不通过 (also 合格/不合格, 是/否)"),
                required=False,
                aliases=("结果", "是否通过", "考核结论", "成绩结果"),
                example="通过",
            ),
            Column(
                "theory_score",
                "成绩",
                SCORE,
                required=False,
                aliases=("考核成绩", "总成绩", "理论成绩", "理论", "分数", "theory_score"),
                example="82.5",
                help="0–100; compared with the theory score here",
                en="score",
            ),
            Column(
                "practical_score",
                "实操成绩",
                SCORE,
                required=False,
                aliases=("实操", "实践成绩", "技能成绩", "实操考核成绩"),
                example="76",
            ),
            Column(
                "certificate_number",
                "证书编号",
                code(64),
                required=False,
                aliases=("证书号", "证书号码", "number"),
                example="W010011220001",
            ),
            Column(
                "issue_date",
                "发证日期",
                date_cell,
                required=False,
                aliases=("发证时间", "颁证日期", "发证日"),
                example="2022-12-20",
            ),
            Column(
                "evaluation_org_name",
                "培训评价组织",
                text(200),
                required=False,
                aliases=("评价组织", "发证机构", "培训评价组织名称"),
                example="",
                en="evaluation_org",
            ),
        ),
        require_any=("certificate_number", "student_no", "certificate_name"),
        prepare=_never,
        to_values=_as_is,
        writers=READERS_OF_THE_LIST,
        read_by="POST /api/v1/reconciliations?year=",
        description="The national platform's list of results and certificates, compared with "
        "the records here by POST /api/v1/reconciliations (nothing is imported as is)",
    )
)
