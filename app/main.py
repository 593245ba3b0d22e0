"""The application factory."""

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app import (
    __version__,
    plugins,  # noqa: F401  (registers every import kind and flow)
)
from app.accounts import service as accounts_service
from app.accounts.router import api_keys_router, auth_router, users_router
from app.applications.router import applications_router, plans_router, reports_router
from app.audit.chain import seal_quietly
from app.audit.router import router as audit_router
from app.bases.router import router as bases_router
from app.committee.router import experts_router, meetings_router
from app.core.auth import install_principal_resolvers
from app.core.config import Settings, get_settings
from app.core.db import create_db_engine
from app.core.errors import install_error_handlers
from app.core.i18n import set_default_language
from app.core.limits import BodyLimitMiddleware, ConcurrencyLimitMiddleware
from app.core.logging import RequestContextMiddleware, configure_logging
from app.core.migrations import head_revisions
from app.credits.router import (
    records_router,
    report_router,
    requests_router,
    rules_router,
    students_router,
)
from app.evaluations.router import evaluations_router, overview_router, schemes_router
from app.exams.router import (
    certificates_router,
    funnel_router,
    public_router,
    registrations_router,
    sessions_router,
)
from app.funding.router import (
    expenditures_router,
    funding_report_router,
    lines_router,
    sources_router,
    subsidy_router,
)
from app.imports.readers import MAX_UPLOAD_BYTES
from app.imports.router import MULTIPART_OVERHEAD, document_kind_options
from app.imports.router import router as imports_router
from app.reconciliation.router import reconciliations_router
from app.reference.router import router as reference_router
from app.system.router import router as system_router
from app.trainings.router import (
    application_detail_router,
    batches_router,
    coverage_router,
    qualifications_router,
    trainings_router,
)
from app.yearbook.router import year_report_router

API_PREFIX = "/api/v1"
logger = logging.getLogger("onex.app")

DESCRIPTION = """
某职业院校 **1+X 证书制度试点** 的管理服务：哪些专业试点哪些职业技能等级证书
（试点申报与试点工作方案）、师资培训与学生培训、考核报名与成绩、证书发放与查验、学分银行，以及专项经费的预算与支出；
另有年度绩效考核与专家顾问委员会。

**登录**：点击 *Authorize*，输入用户名和密码（OAuth2 密码模式）；其他校内系统在请求头
`X-API-Key` 中携带 API 密钥。每个接口说明写明哪些角色可以调用、会拒绝什么；写操作还在
`x-roles` 中列出可调用的角色，其他角色在读取请求体之前即得到 403。

**错误**：所有错误都是 `application/problem+json`，带有稳定的 `code`（程序据此判断）
和面向人的 `title`/`detail`；401 未登录，403 角色无权，404 不存在或不在你的范围内，
409 状态或引用冲突，412 `If-Match` 中的版本已过期，422 输入有误（逐字段说明）。

**分页**：列表接受 `limit`/`offset`，返回 `{items, total, limit, offset}`；加 `format=csv` 或
`format=xlsx` 导出同一列表。修改时在 `If-Match` 中回传读取时拿到的 `ETag`。

**For integrators (English):** the service a vocational college runs its 1+X certificate pilot
on. Log in with the OAuth2 password flow (`POST /api/v1/auth/token`) or send an API key in
`X-API-Key`. Every error is `application/problem+json` with a stable `code`; lists take
`limit`/`offset` and answer `{items, total, limit, offset}`. Operation ids and paths are stable;
the summaries shown here are Chinese, the descriptions say who may call each operation, and
each write operation lists the roles that may call it in `x-roles` (any other role is answered
403 before its body is read).
"""


def _tag(name: str, display: str, zh: str, en: str) -> dict[str, str]:
    """A tag as Swagger UI (its description) and Redoc (``x-displayName``) show it: the Chinese
    name and description first, the English after."""
    return {"name": name, "x-displayName": display, "description": f"**{display}**：{zh}\n\n{en}"}


TAGS = [
    _tag(
        "auth",
        "登录与身份",
        "登录、查看当前身份、修改本人密码、退出登录",
        "Log in, who am I, change my password",
    ),
    _tag(
        "users",
        "用户管理",
        "用户账号及其角色与范围（仅管理员）",
        "User accounts, their roles and scopes (admin)",
    ),
    _tag(
        "api-keys",
        "API 密钥",
        "供其他校内系统使用的服务账号密钥（仅管理员）",
        "Service-account keys for other campus systems (admin)",
    ),
    _tag(
        "reference",
        "基础数据",
        "二级学院、专业、课程、教师、学生、培训评价组织与 X 证书；"
        "每个列表都可导出 CSV 或 XLSX（`format`）",
        "Colleges, majors, courses, teachers, students, evaluation organisations "
        "and certificates; every list also exports as CSV or XLSX (`format`)",
    ),
    _tag(
        "imports",
        "批量导入",
        "各类数据的 .xlsx/.csv/.tsv 批量导入、导入模板与导入记录",
        "Bulk uploads of .xlsx/.csv/.tsv for every kind, their templates and "
        "the history of import batches",
    ),
    _tag(
        "applications",
        "试点申报",
        "试点申报：草稿 → 已提交 → 已批准 | 已驳回，已批准 → 已结束；各试点指派的教师",
        "Pilot applications: draft → submitted → approved | rejected, "
        "approved → closed; the teachers assigned to each pilot",
    ),
    _tag(
        "plans",
        "试点工作方案",
        "各专业的试点工作方案（含 3–5 门核心课程）：草稿 → 已报备 → 已确认 | 已退回",
        "Each major's pilot work plan with 3–5 core courses: "
        "draft → filed → acknowledged | returned",
    ),
    _tag(
        "exams",
        "考核与报名",
        "已批准试点的考核场次、报名（不超过场次容量和试点人数）、取消/缺考，以及成绩",
        "Exam sessions of approved pilots, registrations that never exceed a session's "
        "capacity or a pilot's headcount, cancel/absent, and results",
    ),
    _tag(
        "certificates",
        "证书发放",
        "为通过的成绩发放证书编号，以及吊销",
        "Issued certificate numbers for passed results, and revocation",
    ),
    _tag(
        "public",
        "证书查验",
        "无需登录：查验证书编号（每个客户端每分钟 60 次）",
        "No credential needed: verify a certificate number (60 look-ups a minute per client)",
    ),
    _tag(
        "teacher-trainings",
        "师资培训",
        "教师的培训师培训：计划 → 进行中 → 合格 | 不合格，合格时登记唯一的培训证书编号与考评员资格",
        "Teachers' trainer trainings: planned → in_progress → certified | failed, with the "
        "unique trainer certificate number and evaluator (考评员) qualification",
    ),
    _tag(
        "training-bases",
        "实训基地",
        "与企业共建的实训基地：校内/校外、合作企业、服务的证书与试点、工位数、是否为考点；"
        "考核场次可设在基地，设备采购支出可记到基地",
        "Training bases built with enterprises: on or off campus, partner enterprises, the "
        "certificates and pilots they serve, stations, registered exam site; exam sessions may "
        "be held at a base and equipment payments may name the base they equip",
    ),
    _tag(
        "training-batches",
        "学生培训",
        "已批准试点的学生培训批次及学员：参训学时与结业",
        "Student training batches of approved pilots and their enrolments: attended hours "
        "and completion",
    ),
    _tag(
        "credit-bank",
        "学分银行",
        "学分转换规则（证书 → 课程，免修/替换，有版本）、学生的学分转换申请及教务处审核"
        "（已提交 → 已批准 | 已驳回 | 已撤回）、学生仍可申请的转换，"
        "以及只增不改、以冲销更正的学分台账",
        "The credit bank: conversion rules (certificate → course, exemption/replacement, "
        "versioned), students' conversion requests reviewed by the academic office "
        "(submitted → approved | rejected | withdrawn), options still open to a student, and "
        "the append-only credit ledger with reversals",
    ),
    _tag(
        "funding",
        "专项经费",
        "专项经费（专款专用）、按试点和类别的预算项目、不会超支的经费支出（以红冲更正，从不修改）"
        "以及按考核通过人数发放的奖励补贴",
        "Funds (earmarked), budget lines per pilot and category, expenditures that never "
        "overdraw a line (corrected by reversals, never edited) and pass-only exam subsidy runs",
    ),
    _tag(
        "reports",
        "统计报表",
        "试点申报与人数汇总、师资培训覆盖率、考核漏斗、学分银行登记表、预算执行情况、年度总览、"
        "年度报告（含图表的工作簿）",
        "Summaries: applications and headcount per group; teacher coverage per pilot, college "
        "and overall; the exam funnel; approved credit conversions for the credit-bank "
        "registry; budget execution; the year's overview; the year's report as one workbook "
        "with charts",
    ),
    _tag(
        "evaluations",
        "绩效考核",
        "年度绩效考核：考核方案（权重、等级线、方案报备截止日）、各已批准试点的指标、专家委员会评分、"
        "加权总分、等级（优秀/良好/合格/不合格）、整改标记、排名与年度锁定",
        "The annual performance evaluation: each year's scheme (weights, thresholds, plan "
        "deadline), computed indicators per approved pilot, the committee score, weighted "
        "total, rating, rectification flag, ranking, and finalize (freeze)",
    ),
    _tag(
        "committee",
        "专家顾问委员会",
        "专家顾问委员会的专家及其例会（出席专家、纪要与决议）",
        "The expert advisory committee: experts and its regular meetings with attendees, "
        "minutes and decisions",
    ),
    _tag(
        "reconciliations",
        "平台对账",
        "与全国 1+X 平台（职业技能等级证书信息管理服务平台）下载的成绩证书名单逐条对账："
        "一致、不一致（逐字段）、仅平台有、仅本系统有；导出，并按需应用",
        "Reconcile with the list downloaded from the national 1+X platform: the same, "
        "different (field by field), only on the platform, only here; export it and apply "
        "chosen rows through the usual audited paths",
    ),
    _tag(
        "audit",
        "审计与变更订阅",
        "审计记录，以及供其他系统轮询的变更订阅",
        "The audit trail and the change feed other systems poll",
    ),
    _tag("system", "系统状态", "存活与就绪探针", "Liveness and readiness probes"),
]


def _for_generators(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as client generators take it unchanged (issue 17).

    Every component's title is its (unique) name in CamelCase (``Thresholds-Input`` is titled
    ``ThresholdsInput``, ``Body_auth_token`` ``BodyAuthToken``), so generators that name
    classes by title never merge two schemas; and a file upload is ``format: binary`` (pydantic
    2 writes ``contentMediaType``, which generators type as a plain string).
    """
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        component["title"] = "".join(
            part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name)
        )
        for field in component.get("properties", {}).values():
            if field.get("type") == "string" and "contentMediaType" in field:
                del field["contentMediaType"]
                field["format"] = "binary"
    return schema


def install_openapi(app: FastAPI) -> None:
    """``app.openapi()`` (and /openapi.json) answer the schema as generators take it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _for_generators(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def operation_id(route: APIRoute) -> str:
    """Stable, readable operation ids: the handler's name, e.g. ``users_list``."""
    return route.name


def api_routers() -> list[APIRouter]:
    """The API's routers, in the order their routes are matched, each included under
    ``API_PREFIX`` straight into the app: one level of included routers fewer for every request
    to walk (FastAPI matches a path by walking each level's routers)."""
    document_kind_options(imports_router)
    return [
        auth_router,
        users_router,
        api_keys_router,
        reference_router,
        applications_router,
        application_detail_router,
        plans_router,
        reports_router,
        coverage_router,
        trainings_router,
        qualifications_router,
        batches_router,
        bases_router,
        sessions_router,
        registrations_router,
        certificates_router,
        public_router,
        funnel_router,
        rules_router,
        requests_router,
        students_router,
        records_router,
        report_router,
        sources_router,
        lines_router,
        expenditures_router,
        subsidy_router,
        funding_report_router,
        schemes_router,
        evaluations_router,
        overview_router,
        year_report_router,
        experts_router,
        meetings_router,
        reconciliations_router,
        imports_router,
        audit_router,
    ]


def _bootstrap_admin(app: FastAPI, settings: Settings) -> None:
    if not (settings.bootstrap_admin_username and settings.bootstrap_admin_password):
        return
    with Session(app.state.engine, expire_on_commit=False) as session:
        try:
            created = accounts_service.ensure_bootstrap_admin(
                session, settings.bootstrap_admin_username, settings.bootstrap_admin_password
            )
        except IntegrityError:
            # Another worker created it at the same moment.
            session.rollback()
            return
    if created is not None:
        logger.info("created bootstrap admin %s", created.username)


def _start_audit_sealer(app: FastAPI, settings: Settings) -> "asyncio.Task[None] | None":
    """Every ``audit_seal_seconds`` seal the audit chain up to the change feed's watermark, on a
    worker thread (several workers take turns on the chain's checkpoint; writers never wait)."""
    if not settings.audit_seal_seconds:
        return None

    async def run() -> None:
        while True:
            await asyncio.sleep(settings.audit_seal_seconds)
            await anyio.to_thread.run_sync(seal_quietly, app.state.engine, settings.secret_key)

    return asyncio.create_task(run(), name="audit-sealer")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    set_default_language(settings.default_language)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _bootstrap_admin(app, settings)
        sealer = _start_audit_sealer(app, settings)
        yield
        if sealer is not None:
            sealer.cancel()
            with suppress(asyncio.CancelledError):
                await sealer
        app.state.engine.dispose()

    app = FastAPIOffline(
        # A title generators turn into an importable package name (onex_1x_pilot_service_client).
        title="onex 1+X pilot service",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
        # No validator badge: the page loads nothing from outside. Extensions shown: a write
        # operation's x-roles (who may call it) appears under it.
        swagger_ui_parameters={
            "persistAuthorization": True,
            "validatorUrl": None,
            "showExtensions": True,
        },
    )
    app.state.settings = settings
    install_principal_resolvers(app, accounts_service.PRINCIPAL_RESOLVERS)
    app.state.engine = create_db_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    app.state.migration_heads = head_revisions(settings.database_url)

    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "X-Request-ID", "Retry-After", "Location"],
        )
    # Inside the request context (so a refusal has a request id and an access-log line).
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.request_limit)
    app.add_middleware(
        BodyLimitMiddleware,
        json_limit=settings.max_json_body_bytes,
        upload_limit=MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD,
    )
    app.add_middleware(RequestContextMiddleware, default_language=settings.default_language)

    app.include_router(system_router)
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX)
    install_openapi(app)
    return app
