"""``/health`` (the process answers) and ``/ready`` (the database answers and is migrated)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.core.errors import ServiceUnavailable, problem_responses
from app.core.i18n import _
from app.core.migrations import current_revisions

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migration: str


@router.get("/health", response_model=Health, summary="存活检查")
def system_health() -> Health:
    """The process is alive (no database call)."""
    return Health(status="ok")


@router.get(
    "/ready", response_model=Readiness, responses=problem_responses(503), summary="就绪检查"
)
def system_ready(request: Request) -> Readiness:
    """The database is reachable and its schema is at the migration head this code expects."""
    engine: Engine = request.app.state.engine
    heads: set[str] = request.app.state.migration_heads
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = current_revisions(connection)
    except Exception as exc:
        raise ServiceUnavailable(
            _("The database is not reachable: {error}", error=type(exc).__name__),
            code="database_unreachable",
        ) from exc
    if current != heads:
        raise ServiceUnavailable(
            _(
                "The database schema is at {current}, the code expects {heads}: run "
                "`python -m app migrate`",
                current=sorted(current) or _("no revision"),
                heads=sorted(heads),
            ),
            code="migrations_pending",
        )
    return Readiness(status="ready", database="ok", migration=", ".join(sorted(current)))
