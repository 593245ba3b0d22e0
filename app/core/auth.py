"""Request authentication (bearer token or ``X-API-Key``) and role checks as typed dependencies.

Core knows no accounts: the application factory installs the resolvers (``accounts`` owns users
and keys) that turn a credential into a principal, with ``install_principal_resolvers``.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.roles import Principal, Role
from app.core.types import school_today

TOKEN_URL = "/api/v1/auth/token"

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    auto_error=False,
    description="Log in with a username and password; the token goes in `Authorization: Bearer`",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A service account's key, created by an admin under /api/v1/api-keys",
)


async def get_settings_from_app(request: Request) -> Settings:
    """The application's settings. A dependency without I/O is a coroutine: FastAPI runs a plain
    function in the thread pool, a hop to another thread and back on every request."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]


@dataclass(frozen=True)
class PrincipalResolvers:
    """Who a credential names, or None when it names no one (unknown, revoked, expired)."""

    from_token: Callable[[Session, Settings, str], Principal | None]
    from_api_key: Callable[[Session, str], Principal | None]


def install_principal_resolvers(app: FastAPI, resolvers: PrincipalResolvers) -> None:
    app.state.principal_resolvers = resolvers


def _resolvers(request: Request) -> PrincipalResolvers:
    resolvers: PrincipalResolvers | None = getattr(request.app.state, "principal_resolvers", None)
    if resolvers is None:
        raise RuntimeError("No principal resolvers installed; call install_principal_resolvers")
    return resolvers


def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """Who the request acts as; 401 when no valid credential came with it."""
    resolvers = _resolvers(request)
    principal = None
    if api_key:
        principal = resolvers.from_api_key(session, api_key)
        if principal is None:
            raise Unauthorized(_("The X-API-Key is unknown, revoked or expired"))
    elif token:
        principal = resolvers.from_token(session, settings, token)
        if principal is None:
            raise Unauthorized(_("The access token is invalid or expired; log in again"))
    if principal is None:
        raise Unauthorized(
            _(
                "Authentication required: send `Authorization: Bearer <token>` (from POST "
                "{token_url}) or `X-API-Key`",
                token_url=TOKEN_URL,
            )
        )
    request.state.principal_label = principal.label
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def check_role(principal: Principal, *roles: Role, what: str = N_("do this")) -> None:
    """403 unless ``principal`` has one of ``roles``; ``what`` names the refused action."""
    if principal.role not in roles:
        allowed = ", ".join(label(r) for r in roles)
        raise Forbidden(
            _(
                "Role {role} may not {what}; allowed roles: {allowed}",
                role=label(principal.role),
                what=translate(what),
                allowed=allowed,
            ),
            allowed_roles=[r.value for r in roles],
        )


def require_office(principal: Principal, what: str = N_("change this")) -> None:
    """403 unless ``principal`` is the academic office, which alone may ``what``."""
    if principal.role != Role.academic_office:
        raise Forbidden(
            _(
                "Only the academic office may {what}; role {role} may not",
                what=translate(what),
                role=label(principal.role),
            ),
            allowed_roles=[Role.academic_office.value],
        )


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        check_role(principal, *roles)
        return principal

    return _check


AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.admin))]

ANY_ROLE: frozenset[Role] = frozenset(Role)
"""Every role: a write any logged-in caller may make (their own password, logging out)."""


def writers(roles: Iterable[Role]) -> dict[str, Any]:
    """Options of a write route (``router.post(..., **writers(OFFICE))``, or ``Routes``'
    ``writers=``): only ``roles`` may call it, checked before its body is read, so a role that
    never writes here is answered 403 rather than told what the body lacks (422); and the
    roles are named in the operation's OpenAPI (``x-roles``) for client authors.

    The coarse check only: the service still decides whether this caller may write this row
    (a college manager their own college's, a student themself)."""
    allowed = sorted(set(roles), key=list(Role).index)
    options: dict[str, Any] = {"openapi_extra": {"x-roles": [role.value for role in allowed]}}
    if set(allowed) != ANY_ROLE:

        async def _writer(request: Request, principal: CurrentPrincipal) -> None:
            what = _("call {method} {path}", method=request.method, path=request.url.path)
            check_role(principal, *allowed, what=what)

        options["dependencies"] = [Depends(_writer)]
    return options


async def school_today_dep(settings: SettingsDep) -> date:
    """Today's calendar date in the school's time zone (``ONEX_TIMEZONE``)."""
    return school_today(settings.timezone)


Today = Annotated[date, Depends(school_today_dep)]
