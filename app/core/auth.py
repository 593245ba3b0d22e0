"""Request authentication (bearer token or ``X-API-Key``) and role checks as typed dependencies.

Core knows no accounts: the application factory installs the resolvers (``accounts`` owns users
and keys) that turn a credential into a principal, with ``install_principal_resolvers``.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any, get_args

from fastapi import Depends, FastAPI, Request, params
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlmodel import Session

from app.core.config import Settings
from app.core.context import write_intent_var
from app.core.db import SessionDep, outside_transaction
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


@dataclass(frozen=True)
class Credential:
    """What a request presented (a bearer token or an ``X-API-Key``), not yet looked up.

    The look-up needs the database, so it runs in the thread pool; :meth:`principal` does it
    with the request's session. A read endpoint that runs its statements there anyway takes
    the credential instead of the principal and resolves it in the same hop (one hop to the
    thread pool per request, not one for the principal and another for the statements; a
    hop costs about 0.13 ms of CPU alone, more under load)."""

    request: Request
    settings: Settings
    token: str | None
    api_key: str | None
    roles: tuple[Role, ...] | None = None
    """The roles let through (403 for the others); None lets every role through."""

    def principal(self, session: Session) -> Principal:
        """Who the credential names; 401 when no one (unknown, revoked, expired, logged
        out), 403 when its role is not among :attr:`roles`."""
        resolvers = _resolvers(self.request)
        if self.api_key:
            principal = resolvers.from_api_key(session, self.api_key)
            if principal is None:
                raise Unauthorized(_("The X-API-Key is unknown, revoked or expired"))
        else:
            principal = resolvers.from_token(session, self.settings, self.token or "")
            if principal is None:
                raise Unauthorized(_("The access token is invalid or expired; log in again"))
        self.request.state.principal_label = principal.label
        if self.roles is not None:
            check_role(principal, *self.roles)
        return principal


async def get_credential(
    request: Request,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Credential:
    """The request's credential; 401 at once when it brought none (no I/O: a coroutine)."""
    if not api_key and not token:
        raise Unauthorized(
            _(
                "Authentication required: send `Authorization: Bearer <token>` (from POST "
                "{token_url}) or `X-API-Key`",
                token_url=TOKEN_URL,
            )
        )
    return Credential(request, settings, token, api_key)


CredentialDep = Annotated[Credential, Depends(get_credential)]


def get_principal(session: SessionDep, credential: CredentialDep) -> Principal:
    """Who the request acts as; 401 when no valid credential came with it.

    On SQLite, a request that writes looks its caller up outside its write's transaction (the
    look-up a statement on its own, no BEGIN): the write's BEGIN IMMEDIATE would otherwise take
    the database's one write lock for the look-up and hold it while the request goes back to
    the event loop and on to its endpoint in another hop, every other writer waiting (a
    quarter more audited writes/s without). Elsewhere the look-up is the transaction's first
    statement."""
    if write_intent_var.get() and not session.in_transaction():
        with outside_transaction(session):
            return credential.principal(session)
    return credential.principal(session)


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


class RoleCheck:
    """A dependency that lets only ``roles`` through (403 for the others); :func:`deferred`
    reads its roles."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        check_role(principal, *self.roles)
        return principal


def require_roles(*roles: Role) -> RoleCheck:
    """A dependency that lets only ``roles`` through (403 for the others)."""
    return RoleCheck(*roles)


def deferred(principal: Any) -> Any:
    """The :class:`Credential` dependency (an annotation) of an endpoint that resolves, in
    its own hop to the thread pool, the principal ``principal`` gives: ``CurrentPrincipal``,
    or an ``Annotated[Principal, Depends(require_roles(...))]`` (the credential then checks
    those roles once it is looked up)."""
    dependency = next(
        (m.dependency for m in get_args(principal)[1:] if isinstance(m, params.Depends)), None
    )
    if dependency is get_principal:
        return CredentialDep
    if not isinstance(dependency, RoleCheck):
        raise TypeError(f"not a principal dependency: {principal!r}")
    roles = dependency.roles

    async def with_roles(credential: CredentialDep) -> Credential:
        return replace(credential, roles=roles)

    return Annotated[Credential, Depends(with_roles)]


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
