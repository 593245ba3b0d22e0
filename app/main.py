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
from app.committee.router import experts_router, meetings_router
from app.core.auth import install_principal_resolvers
from app.core.config import Settings, get_settings
from app.core.db import create_db_engine
from app.core.errors import install_error_handlers
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
from app.reference.router import router as reference_router
from app.system.router import router as system_router
from app.trainings.router import (
    application_detail_router,
    batches_router,
    coverage_router,
    trainings_router,
)

API_PREFIX = "/api/v1"
logger = logging.getLogger("onex.app")

DESCRIPTION = """
The service a vocational college runs its **1+X certificate pilot** on: which majors pilot which
vocational skill certificates, teacher and student training, exams and results, issued
certificates, the credit bank and the earmarked funds.

**Logging in**: click *Authorize*, enter a username and password (the OAuth2 password flow),
or paste an API key into `X-API-Key`. Every error is `application/problem+json` with a stable
`code`. Lists take `limit`/`offset` and answer `{items, total, limit, offset}`.
"""

TAGS = [
    {"name": "auth", "description": "Log in, who am I, change my password"},
    {"name": "users", "description": "User accounts, their roles and scopes (admin)"},
    {"name": "api-keys", "description": "Service-account keys for other campus systems (admin)"},
    {
        "name": "reference",
        "description": "Colleges, majors, courses, teachers, students, evaluation organisations "
        "and certificates; every list also exports as CSV or XLSX (`format`)",
    },
    {
        "name": "imports",
        "description": "Bulk uploads of .xlsx/.csv/.tsv for every kind, their templates and "
        "the history of import batches",
    },
    {
        "name": "applications",
        "description": "Pilot applications (试点申报): draft → submitted → approved | rejected, "
        "approved → closed; the teachers assigned to each pilot",
    },
    {
        "name": "plans",
        "description": "Each major's pilot work plan (试点工作方案) with 3–5 core courses: "
        "draft → filed → acknowledged | returned",
    },
    {
        "name": "exams",
        "description": "Exam sessions (考核) of approved pilots, registrations (报名) that never "
        "exceed a session's capacity or a pilot's headcount, cancel/absent, and results (成绩)",
    },
    {
        "name": "certificates",
        "description": "Issued certificate numbers (证书编号) for passed results, and revocation",
    },
    {
        "name": "public",
        "description": "No credential needed: verify a certificate number (60 look-ups a minute "
        "per client)",
    },
    {
        "name": "teacher-trainings",
        "description": "Teachers' trainer trainings (师资培训): planned → in_progress → "
        "certified | failed, with the unique trainer certificate number and 考评员 "
        "qualification",
    },
    {
        "name": "training-batches",
        "description": "Student training batches (学生培训) of approved pilots and their "
        "enrolments: attended hours and completion",
    },
    {
        "name": "credit-bank",
        "description": "The credit bank (学分银行): conversion rules (certificate → course, "
        "免修/替换, versioned), students' conversion requests reviewed by the academic office "
        "(submitted → approved | rejected | withdrawn), options still open to a student, and "
        "the append-only credit ledger with reversals",
    },
    {
        "name": "funding",
        "description": "Funds (专项经费, 专款专用), budget lines per pilot and category, "
        "expenditures that never overdraw a line (corrected by reversals, never edited) and "
        "pass-only exam subsidy runs (奖励补贴)",
    },
    {
        "name": "reports",
        "description": "Summaries: applications and headcount per group; teacher coverage "
        "(师资培训覆盖率) per pilot, college and overall; the exam funnel; approved credit "
        "conversions for the credit-bank registry; budget execution; the year's overview",
    },
    {
        "name": "evaluations",
        "description": "The annual performance evaluation (绩效考核): each year's scheme "
        "(weights, thresholds, plan deadline), computed indicators per approved pilot, the "
        "committee score, weighted total, rating 优秀/良好/合格/不合格, 整改 flag, ranking, and "
        "finalize (freeze)",
    },
    {
        "name": "committee",
        "description": "The expert advisory committee (专家顾问委员会): experts and its regular "
        "meetings (例会) with attendees, minutes and decisions",
    },
    {"name": "audit", "description": "The audit trail and the change feed other systems poll"},
    {"name": "system", "description": "Liveness and readiness probes"},
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


def api_router() -> APIRouter:
    document_kind_options(imports_router)
    router = APIRouter(prefix=API_PREFIX)
    router.include_router(auth_router)
    router.include_router(users_router)
    router.include_router(api_keys_router)
    router.include_router(reference_router)
    router.include_router(applications_router)
    router.include_router(application_detail_router)
    router.include_router(plans_router)
    router.include_router(reports_router)
    router.include_router(coverage_router)
    router.include_router(trainings_router)
    router.include_router(batches_router)
    router.include_router(sessions_router)
    router.include_router(registrations_router)
    router.include_router(certificates_router)
    router.include_router(public_router)
    router.include_router(funnel_router)
    router.include_router(rules_router)
    router.include_router(requests_router)
    router.include_router(students_router)
    router.include_router(records_router)
    router.include_router(report_router)
    router.include_router(sources_router)
    router.include_router(lines_router)
    router.include_router(expenditures_router)
    router.include_router(subsidy_router)
    router.include_router(funding_report_router)
    router.include_router(schemes_router)
    router.include_router(evaluations_router)
    router.include_router(overview_router)
    router.include_router(experts_router)
    router.include_router(meetings_router)
    router.include_router(imports_router)
    router.include_router(audit_router)
    return router


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
        # No validator badge: the page loads nothing from outside.
        swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
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
    app.add_middleware(RequestContextMiddleware)

    app.include_router(system_router)
    app.include_router(api_router())
    install_openapi(app)
    return app
