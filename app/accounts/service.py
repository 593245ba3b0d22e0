"""Account rules: logins with a database-held failure count, users, API keys, request principals."""

import math
import secrets
from datetime import timedelta
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
from app.core.errors import (
    Conflict,
    InvalidState,
    NotFound,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)
from app.core.export import ExportColumn
from app.core.listing import Listing, each, where_equal
from app.core.locks import advisory_lock, lock_row
from app.core.roles import SCOPE_FIELDS, Principal, Role, scope_problems
from app.core.types import utcnow
from app.core.versions import check_version
from app.reference.models import College, EvaluationOrg, Student, Teacher

MAX_USERNAME_LENGTH = 64


def principal_for_user(user: User) -> Principal:
    assert user.id is not None
    return Principal(
        role=user.role,
        label=f"user:{user.username}",
        user_id=user.id,
        **{field: getattr(user, field) for field in SCOPE_FIELDS},
    )


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
            "The scope does not fit the role: "
            + "; ".join(f"{p['field'].removeprefix('body.')} {p['message']}" for p in problems),
            errors=problems,
        )
    for field, value in scope.items():
        if value is None:
            continue
        model, label = _SCOPE_MODELS[field]
        if session.get(model, value) is None:
            raise UnprocessableEntity(
                f"{field} {value} names no {label}",
                errors=[{"field": f"body.{field}", "message": f"no {label} with id {value}"}],
            )


_SCOPE_MODELS: dict[str, tuple[type[SQLModel], str]] = {
    "college_id": (College, "college"),
    "teacher_id": (Teacher, "teacher"),
    "student_id": (Student, "student"),
    "evaluation_org_id": (EvaluationOrg, "evaluation organisation"),
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
            f"Too many failed logins for this username; try again in {retry_after} seconds",
            code="login_throttled",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
    user = session.exec(select(User).where(User.username == username)).first()
    password_ok = security.verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.is_active:
        session.add(LoginFailure(username=username, client_ip=client_ip))
        session.commit()
        raise Unauthorized("Incorrect username or password, or the account is disabled")
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
    )
    return Token(access_token=token, expires_in=settings.access_token_minutes * 60, role=user.role)


def principal_from_token(session: Session, settings: Settings, token: str) -> Principal | None:
    claims = security.decode_access_token(token, settings.secret_key)
    if claims is None or not str(claims["sub"]).isdigit():
        return None
    user = session.get(User, int(claims["sub"]))
    if user is None or not user.is_active:
        return None
    return principal_for_user(user)


def principal_from_api_key(session: Session, key: str) -> Principal | None:
    lookup_id = security.api_key_lookup_id(key)
    if lookup_id is None:
        return None
    api_key = session.exec(select(ApiKey).where(ApiKey.lookup_id == lookup_id)).first()
    if api_key is None or not security.api_key_matches(key, api_key.key_hash):
        return None
    if api_key.revoked_at is not None:
        return None
    if api_key.expires_at is not None and api_key.expires_at <= utcnow():
        return None
    return principal_for_api_key(api_key)


# --- users -----------------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}")
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
    noun="user",
    statement=users_statement,
    order=[col(User.id)],
    to_items=each(UserPublic.model_validate),
    filters=UserFilters,
    key=User.id,
    columns=[
        ExportColumn("id", "ID"),
        ExportColumn("username", "用户名"),
        ExportColumn("full_name", "姓名"),
        ExportColumn("email", "邮箱"),
        ExportColumn("role", "角色"),
        ExportColumn("college_id", "学院ID"),
        ExportColumn("teacher_id", "教师ID"),
        ExportColumn("student_id", "学生ID"),
        ExportColumn("evaluation_org_id", "评价组织ID"),
        ExportColumn("is_active", "启用"),
        ExportColumn("created_at", "创建时间"),
    ],
    filename="users",
)


def create_user(session: Session, actor: Principal | None, data: UserCreate) -> User:
    _check_scope(session, data.role, data.model_dump(include=set(SCOPE_FIELDS)))
    existing = session.exec(select(User).where(User.username == data.username)).first()
    if existing is not None:
        raise Conflict(
            f"The username {data.username!r} is taken (user id {existing.id})",
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
    user = lock_row(session, User, user_id, "user")
    check_version(user.version, if_match, "user")
    changes = data.model_dump(exclude_unset=True)
    if actor.user_id == user.id and (
        changes.get("is_active") is False or changes.get("role", user.role) != user.role
    ):
        raise Conflict(
            "You cannot deactivate your own account or change your own role; ask another admin",
            code="self_lockout",
        )
    for field, value in changes.items():
        if value is None and field not in SCOPE_FIELDS and field != "email":
            raise UnprocessableEntity(
                f"{field} cannot be null", errors=[{"field": f"body.{field}", "message": "null"}]
            )
    role = changes.get("role", user.role)
    scope = {field: changes.get(field, getattr(user, field)) for field in SCOPE_FIELDS}
    if "role" in changes:
        # A new role keeps only the scope that was sent with it.
        scope = {field: changes.get(field) for field in SCOPE_FIELDS}
    _check_scope(session, role, scope)
    before = snapshot(user)
    password = changes.pop("password", None)
    if password is not None:
        user.password_hash = security.hash_password(password)
    for field, value in {**changes, **scope}.items():
        setattr(user, field, value)
    session.flush()
    after = snapshot(user)
    if password is not None:
        after = {**(after or {}), "password": "changed"}
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
        raise Conflict("API keys have no password", code="not_a_user")
    user = get_user(session, principal.user_id)
    if not security.verify_password(user.password_hash, data.current_password):
        raise UnprocessableEntity(
            "The current password is not correct",
            errors=[{"field": "body.current_password", "message": "does not match"}],
        )
    user.password_hash = security.hash_password(data.new_password)
    record(session, principal, action="change_password", entity="user", entity_id=user.id)
    session.commit()


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
    noun="API key",
    statement=api_keys_statement,
    order=[col(ApiKey.id)],
    to_items=each(ApiKeyPublic.model_validate),
    filters=ApiKeyFilters,
    key=ApiKey.id,
    columns=[
        ExportColumn("id", "ID"),
        ExportColumn("name", "名称"),
        ExportColumn("role", "角色"),
        ExportColumn("lookup_id", "公开编号"),
        ExportColumn("college_id", "学院ID"),
        ExportColumn("teacher_id", "教师ID"),
        ExportColumn("student_id", "学生ID"),
        ExportColumn("evaluation_org_id", "评价组织ID"),
        ExportColumn("created_at", "创建时间"),
        ExportColumn("expires_at", "过期时间"),
        ExportColumn("revoked_at", "吊销时间"),
    ],
    filename="api-keys",
)


def create_api_key(session: Session, actor: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
    _check_scope(session, data.role, data.model_dump(include=set(SCOPE_FIELDS)))
    if data.expires_at is not None and data.expires_at.tzinfo is None:
        raise UnprocessableEntity(
            "expires_at needs a UTC offset, e.g. 2027-01-01T00:00:00+08:00",
            errors=[{"field": "body.expires_at", "message": "timezone offset required"}],
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
    api_key = lock_row(session, ApiKey, key_id, "API key")
    if api_key.revoked_at is not None:
        raise InvalidState(
            f"API key {key_id} was already revoked at {api_key.revoked_at.isoformat()}",
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
