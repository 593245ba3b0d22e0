"""Account rules: logins with a database-held failure count, users, API keys, request principals."""

import math
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from app.accounts.models import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyFilters,
    ApiKeyPublic,
    LoginFailure,
    PasswordChange,
    RevokedToken,
    Token,
    User,
    UserCreate,
    UserFilters,
    UserPublic,
    UserUpdate,
)
from app.core import security
from app.core.audit import record, save_new, snapshot
from app.core.auth import PrincipalResolvers
from app.core.config import Settings
from app.core.db import without_waiting
from app.core.errors import (
    Conflict,
    InvalidState,
    NotFound,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)
from app.core.export import ExportColumn
from app.core.i18n import N_, _, translate
from app.core.listing import Listing, each, where_equal
from app.core.locks import advisory_lock, lock_row
from app.core.roles import SCOPE_FIELDS, Principal, Role, scope_problems
from app.core.types import utcnow
from app.core.versions import check_version
from app.reference.models import College, EvaluationOrg, Student, Teacher

MAX_USERNAME_LENGTH = 64
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)
"""An API key's ``last_used_at`` is written at most once per this long."""
REVOKED_TOKEN_PURGE_BATCH = 500
"""At most this many expired revoked-token rows are deleted by one logout."""


def principal_for_api_key(key: ApiKey) -> Principal:
    assert key.id is not None
    return Principal(
        role=key.role,
        label=f"api-key:{key.id}:{key.name}"[:100],
        api_key_id=key.id,
        **{field: getattr(key, field) for field in SCOPE_FIELDS},
    )


def _check_scope(session: Session, role: Role, scope: dict[str, Any]) -> None:
    problems = scope_problems(role, scope)
    if problems:
        raise UnprocessableEntity(
            _(
                "The scope does not fit the role: {problems}",
                problems="; ".join(
                    f"{p['field'].removeprefix('body.')} {p['message']}" for p in problems
                ),
            ),
            errors=problems,
        )
    for field, value in scope.items():
        if value is None:
            continue
        model, label = _SCOPE_MODELS[field]
        if session.get(model, value) is None:
            raise UnprocessableEntity(
                _("{field} {value} names no {label}", field=field, value=value, label=label),
                errors=[
                    {
                        "field": f"body.{field}",
                        "message": _(
                            "no {label} with id {value}", label=translate(label), value=value
                        ),
                    }
                ],
            )


_SCOPE_MODELS: dict[str, tuple[type[SQLModel], str]] = {
    "college_id": (College, N_("college")),
    "teacher_id": (Teacher, N_("teacher")),
    "student_id": (Student, N_("student")),
    "evaluation_org_id": (EvaluationOrg, N_("evaluation organisation")),
}


def _serialise_login(session: Session, username: str) -> None:
    """Attempts for one username run one at a time, across workers (SQLite: BEGIN IMMEDIATE)."""
    advisory_lock(session, username)


def login(
    session: Session, settings: Settings, username: str, password: str, client_ip: str | None
) -> Token:
    """Check a password; after too many failures in the window, refuse with 429 until it passes."""
    username = username.strip()[:MAX_USERNAME_LENGTH]
    _serialise_login(session, username)
    window = timedelta(minutes=settings.login_window_minutes)
    now = utcnow()
    recent = session.exec(
        select(LoginFailure.created_at)
        .where(LoginFailure.username == username, LoginFailure.created_at > now - window)
        .order_by(col(LoginFailure.created_at).desc())
        .limit(settings.login_max_failures)
    ).all()
    if len(recent) >= settings.login_max_failures:
        unlocks_at = recent[-1] + window
        retry_after = max(1, math.ceil((unlocks_at - now).total_seconds()))
        session.rollback()
        raise TooManyRequests(
            _(
                "Too many failed logins for this username; try again in {retry_after} seconds",
                retry_after=retry_after,
            ),
            code="login_throttled",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
    user = session.exec(select(User).where(User.username == username)).first()
    password_ok = security.verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.is_active:
        session.add(LoginFailure(username=username, client_ip=client_ip))
        session.commit()
        raise Unauthorized(_("Incorrect username or password, or the account is disabled"))
    session.execute(sa.delete(LoginFailure).where(col(LoginFailure.username) == username))
    if security.password_needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    session.commit()
    assert user.id is not None
    token = security.create_access_token(
        subject=user.id,
        role=user.role.value,
        secret_key=settings.secret_key,
        minutes=settings.access_token_minutes,
        session_epoch=user.session_epoch,
    )
    return Token(access_token=token, expires_in=settings.access_token_minutes * 60, role=user.role)


def _token_user_statement() -> Any:
    """The statement of :func:`principal_from_token`, built once (``:user_id`` and ``:jti``
    are bound per request): the user's columns a principal needs, joined with a primary-key
    look-up of the revoked tokens."""
    return (
        select(  # type: ignore[call-overload]
            User.id,
            User.username,
            User.role,
            *[getattr(User, field) for field in SCOPE_FIELDS],
            User.is_active,
            User.session_epoch,
            RevokedToken.jti,
        )
        .outerjoin(RevokedToken, col(RevokedToken.jti) == sa.bindparam("jti", type_=sa.String))
        .where(col(User.id) == sa.bindparam("user_id", type_=sa.Integer))
    )


TOKEN_USER = _token_user_statement()


def principal_from_token(session: Session, settings: Settings, token: str) -> Principal | None:
    """The token's user, unless the token is forged or expired, the user is disabled, the
    user's session epoch has moved on since it was issued, or it was logged out. One
    statement on every request, built once and read as plain columns (no statement built, no
    ORM entity loaded per request)."""
    claims = security.decode_access_token(token, settings.secret_key)
    if claims is None:
        return None
    found = (
        session.connection()
        .execute(TOKEN_USER, {"user_id": int(claims["sub"]), "jti": claims["jti"]})
        .first()
    )
    if found is None:
        return None
    user_id, username, role, *scope, is_active, session_epoch, revoked = found
    if not is_active or session_epoch != claims["sep"] or revoked is not None:
        return None
    return Principal(
        role=role,
        label=f"user:{username}",
        user_id=user_id,
        **dict(zip(SCOPE_FIELDS, scope, strict=True)),
    )


def principal_from_api_key(session: Session, key: str) -> Principal | None:
    lookup_id = security.api_key_lookup_id(key)
    if lookup_id is None:
        return None
    api_key = session.exec(select(ApiKey).where(ApiKey.lookup_id == lookup_id)).first()
    if api_key is None or not security.api_key_matches(key, api_key.key_hash):
        return None
    if api_key.revoked_at is not None:
        return None
    now = utcnow()
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return None
    principal = principal_for_api_key(api_key)
    if api_key.last_used_at is None or api_key.last_used_at <= now - API_KEY_LAST_USED_RESOLUTION:
        _note_api_key_use(session, principal.api_key_id or 0, now)
    return principal


def _note_api_key_use(session: Session, key_id: int, now: datetime) -> None:
    """Set the key's ``last_used_at`` in a short transaction of its own, unless another request
    did so within the resolution: a storm of requests writes it once a minute, not per request.
    Best effort: on SQLite, a write that cannot take the write lock at once is skipped (the
    next one sets it), so that a read never waits for another request's write."""
    session.rollback()  # end the look-up's read; the write starts a fresh transaction
    stale = now - API_KEY_LAST_USED_RESOLUTION
    connection = session.connection()
    try:
        with without_waiting(connection):
            connection.execute(
                sa.update(ApiKey)
                .where(
                    col(ApiKey.id) == key_id,
                    sa.or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) <= stale),
                )
                .values(last_used_at=now)
            )
        session.commit()
    except sa.exc.OperationalError:
        session.rollback()


# --- users -----------------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No user with id {user_id}", user_id=user_id))
    return user


def users_statement(_session: Session, _principal: Principal, filters: UserFilters) -> Any:
    """The users matching the list's filters (the admin check is the router's)."""
    statement = select(User)
    statement = where_equal(statement, filters, role=User.role, is_active=User.is_active)
    if filters.q:
        pattern = f"%{filters.q.strip()}%"
        statement = statement.where(
            sa.or_(col(User.username).ilike(pattern), col(User.full_name).ilike(pattern))
        )
    return statement


USERS = Listing(
    noun=N_("user"),
    statement=users_statement,
    order=[col(User.id)],
    to_items=each(UserPublic.model_validate),
    filters=UserFilters,
    key=User.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("username", N_("Username")),
        ExportColumn("full_name", N_("Full name")),
        ExportColumn("email", N_("Email")),
        ExportColumn("role", N_("Role")),
        ExportColumn("college_id", N_("College ID")),
        ExportColumn("teacher_id", N_("Teacher ID")),
        ExportColumn("student_id", N_("Student ID")),
        ExportColumn("evaluation_org_id", N_("Evaluation organisation ID")),
        ExportColumn("is_active", N_("Enabled")),
        ExportColumn("created_at", N_("Created at")),
    ],
    filename="users",
    sheet=N_("Users"),
)


def create_user(session: Session, actor: Principal | None, data: UserCreate) -> User:
    _check_scope(session, data.role, data.model_dump(include=set(SCOPE_FIELDS)))
    existing = session.exec(select(User).where(User.username == data.username)).first()
    if existing is not None:
        raise Conflict(
            _(
                "The username {username} is taken (user id {id})",
                username=repr(data.username),
                id=existing.id,
            ),
            code="username_taken",
        )
    user = User.model_validate(
        data.model_dump(exclude={"password"}),
        update={"password_hash": security.hash_password(data.password)},
    )
    session.add(user)
    session.flush()
    record(session, actor, action="create", entity="user", entity_id=user.id, after=snapshot(user))
    session.commit()
    return user


def update_user(
    session: Session, actor: Principal, user_id: int, data: UserUpdate, if_match: int | None
) -> User:
    user = lock_row(session, User, user_id, N_("user"))
    check_version(user.version, if_match, N_("user"))
    changes = data.model_dump(exclude_unset=True)
    if actor.user_id == user.id and (
        changes.get("is_active") is False or changes.get("role", user.role) != user.role
    ):
        raise Conflict(
            _("You cannot deactivate your own account or change your own role; ask another admin"),
            code="self_lockout",
        )
    for field, value in changes.items():
        if value is None and field not in SCOPE_FIELDS and field != "email":
            raise UnprocessableEntity(
                _("{field} cannot be null", field=field),
                errors=[{"field": f"body.{field}", "message": _("null")}],
            )
    role = changes.get("role", user.role)
    scope = {field: changes.get(field, getattr(user, field)) for field in SCOPE_FIELDS}
    if "role" in changes:
        # A new role keeps only the scope that was sent with it.
        scope = {field: changes.get(field) for field in SCOPE_FIELDS}
    _check_scope(session, role, scope)
    before = snapshot(user)
    password = changes.pop("password", None)
    ends_sessions = (
        password is not None
        or changes.get("role", user.role) != user.role
        or (user.is_active and changes.get("is_active") is False)
    )
    if password is not None:
        user.password_hash = security.hash_password(password)
    for field, value in {**changes, **scope}.items():
        setattr(user, field, value)
    if ends_sessions:
        user.session_epoch += 1
    session.flush()
    after = snapshot(user)
    if password is not None:
        after = {**(after or {}), "password": "changed"}
    if ends_sessions:
        after = {**(after or {}), "sessions": "ended"}
    record(
        session,
        actor,
        action="update",
        entity="user",
        entity_id=user.id,
        before=before,
        after=after,
    )
    session.commit()
    return user


def change_own_password(session: Session, principal: Principal, data: PasswordChange) -> None:
    if principal.user_id is None:
        raise Conflict(_("API keys have no password"), code="not_a_user")
    user = get_user(session, principal.user_id)
    if not security.verify_password(user.password_hash, data.current_password):
        raise UnprocessableEntity(
            _("The current password is not correct"),
            errors=[{"field": "body.current_password", "message": _("does not match")}],
        )
    user.password_hash = security.hash_password(data.new_password)
    user.session_epoch += 1
    record(session, principal, action="change_password", entity="user", entity_id=user.id)
    session.commit()


def end_sessions(session: Session, actor: Principal, user_id: int) -> User:
    """End every token the user holds (an admin's action): the user must log in again."""
    user = lock_row(session, User, user_id, N_("user"))
    user.session_epoch += 1
    session.flush()
    record(
        session,
        actor,
        action="end_sessions",
        entity="user",
        entity_id=user.id,
        after={"session_epoch": user.session_epoch},
    )
    session.commit()
    return user


def logout(session: Session, settings: Settings, principal: Principal, token: str | None) -> None:
    """End the bearer token the request came with (and only it), until it would have expired.
    Also forgets a bounded number of revoked tokens that have expired since."""
    if principal.user_id is None:
        raise Conflict(
            _(
                "An API key is not a session and cannot log out; an admin revokes it with "
                "POST /api/v1/api-keys/{id}/revoke",
            ),
            code="not_a_user",
        )
    claims = security.decode_access_token(token or "", settings.secret_key)
    if claims is None:  # pragma: no cover - the principal came from this very token
        raise Unauthorized(_("The access token is invalid or expired; log in again"))
    now = utcnow()
    expired = (
        select(RevokedToken.jti)
        .where(col(RevokedToken.expires_at) <= now)
        .limit(REVOKED_TOKEN_PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(sa.delete(RevokedToken).where(col(RevokedToken.jti).in_(expired)))
    session.add(
        RevokedToken(
            jti=claims["jti"],
            user_id=principal.user_id,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            revoked_at=now,
        )
    )
    record(session, principal, action="logout", entity="user", entity_id=principal.user_id)
    try:
        session.commit()
    except sa.exc.IntegrityError:
        # The same token logged out twice at once: the other request already revoked it.
        session.rollback()


def ensure_bootstrap_admin(session: Session, username: str, password: str) -> User | None:
    """Create the configured admin when there are no users yet; None when there were users."""
    if session.exec(select(User.id).limit(1)).first() is not None:
        return None
    data = UserCreate(
        username=username, password=password, role=Role.admin, full_name="Administrator"
    )
    return create_user(session, None, data)


def random_password() -> str:
    return secrets.token_urlsafe(12)


# --- API keys --------------------------------------------------------------------------------


def api_keys_statement(_session: Session, _principal: Principal, filters: ApiKeyFilters) -> Any:
    """The keys matching the list's filters (the admin check is the router's)."""
    statement = select(ApiKey)
    if not filters.include_revoked:
        statement = statement.where(col(ApiKey.revoked_at).is_(None))
    return statement


API_KEYS = Listing(
    noun=N_("API key"),
    statement=api_keys_statement,
    order=[col(ApiKey.id)],
    to_items=each(ApiKeyPublic.model_validate),
    filters=ApiKeyFilters,
    key=ApiKey.id,
    columns=[
        ExportColumn("id", N_("ID")),
        ExportColumn("name", N_("Name")),
        ExportColumn("role", N_("Role")),
        ExportColumn("lookup_id", N_("Public lookup number")),
        ExportColumn("college_id", N_("College ID")),
        ExportColumn("teacher_id", N_("Teacher ID")),
        ExportColumn("student_id", N_("Student ID")),
        ExportColumn("evaluation_org_id", N_("Evaluation organisation ID")),
        ExportColumn("created_at", N_("Created at")),
        ExportColumn("expires_at", N_("Expires at")),
        ExportColumn("revoked_at", N_("Revoked at")),
        ExportColumn("last_used_at", N_("Last used at")),
    ],
    filename="api-keys",
    sheet=N_("API keys"),
)


def create_api_key(session: Session, actor: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
    _check_scope(session, data.role, data.model_dump(include=set(SCOPE_FIELDS)))
    if data.expires_at is not None and data.expires_at.tzinfo is None:
        raise UnprocessableEntity(
            _("expires_at needs a UTC offset, e.g. 2027-01-01T00:00:00+08:00"),
            errors=[{"field": "body.expires_at", "message": _("timezone offset required")}],
        )
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise UnprocessableEntity(
            _(
                "expires_at {expires_at} has passed; give a time in the "
                "future (or none for a key that does not expire)",
                expires_at=data.expires_at.isoformat(),
            ),
            errors=[{"field": "body.expires_at", "message": _("in the past")}],
        )
    key, lookup_id = security.generate_api_key()
    api_key = ApiKey.model_validate(
        data.model_dump(),
        update={
            "lookup_id": lookup_id,
            "key_hash": security.hash_api_key(key),
            "created_by_id": actor.user_id,
        },
    )
    save_new(session, actor, api_key, "api_key")
    return ApiKeyCreated.model_validate({**api_key.model_dump(), "key": key})


def revoke_api_key(session: Session, actor: Principal, key_id: int) -> ApiKey:
    api_key = lock_row(session, ApiKey, key_id, N_("API key"))
    if api_key.revoked_at is not None:
        raise InvalidState(
            _(
                "API key {key_id} was already revoked at {revoked_at}",
                key_id=key_id,
                revoked_at=api_key.revoked_at.isoformat(),
            ),
            current_state="revoked",
            allowed_actions=[],
        )
    before = snapshot(api_key)
    api_key.revoked_at = utcnow()
    session.flush()
    record(
        session,
        actor,
        action="revoke",
        entity="api_key",
        entity_id=key_id,
        before=before,
        after=snapshot(api_key),
    )
    session.commit()
    return api_key


PRINCIPAL_RESOLVERS = PrincipalResolvers(
    from_token=principal_from_token, from_api_key=principal_from_api_key
)
"""What the application installs into core's authentication (``install_principal_resolvers``)."""
