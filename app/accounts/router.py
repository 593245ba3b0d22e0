"""HTTP for logins, users and API keys."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.accounts import service
from app.accounts.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    Me,
    PasswordChange,
    Token,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from app.core.auth import AdminPrincipal, CurrentPrincipal, SettingsDep
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportColumn,
    ExportFormat,
    FormatQuery,
    export_response,
)
from app.core.legacy import fetch_for_export
from app.core.pagination import Page, PageDep
from app.core.params import DbId
from app.core.roles import SCOPE_FIELDS, Role
from app.core.versions import IfMatch, set_etag

auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(
    prefix="/users", tags=["users"], responses=problem_responses(401, 403, 422)
)
api_keys_router = APIRouter(
    prefix="/api-keys", tags=["api-keys"], responses=problem_responses(401, 403, 422)
)


@auth_router.post(
    "/token",
    response_model=Token,
    responses=problem_responses(401, 422, 429),
    summary="Log in (OAuth2 password flow)",
)
def auth_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """Exchange a username and password for a bearer token. Five failures for one username
    within 15 minutes lock further attempts for it (429 with `Retry-After`)."""
    client_ip = request.client.host if request.client else None
    return service.login(session, settings, form.username, form.password, client_ip)


@auth_router.get("/me", response_model=Me, responses=problem_responses(401))
def auth_me(session: SessionDep, principal: CurrentPrincipal) -> Me:
    """Who this credential acts as: role, scope, and the user account (none for an API key)."""
    user = None
    if principal.user_id is not None:
        user = UserPublic.model_validate(service.get_user(session, principal.user_id))
    return Me(
        principal=principal.label,
        role=principal.role,
        user=user,
        api_key_id=principal.api_key_id,
        **{field: getattr(principal, field) for field in SCOPE_FIELDS},
    )


@auth_router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 409, 422),
)
def auth_change_password(
    session: SessionDep, principal: CurrentPrincipal, data: PasswordChange
) -> None:
    """Change your own password (the current one is required)."""
    service.change_own_password(session, principal, data)


USER_COLUMNS = [
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
]
API_KEY_COLUMNS = [
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
]


@users_router.get("", response_model=Page[UserPublic], responses=EXPORT_RESPONSES)
def users_list(
    session: SessionDep,
    _admin: AdminPrincipal,
    page: PageDep,
    role: Role | None = None,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=64, description="Part of username or name")] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Users, oldest first."""
    if format != ExportFormat.json:
        statement = service.users_statement(role=role, is_active=is_active, q=q)
        rows = fetch_for_export(session, statement, service.USER_ORDER)
        items = [UserPublic.model_validate(u) for u in rows]
        return export_response(items, USER_COLUMNS, format, "users")
    return service.list_users(session, page, role=role, is_active=is_active, q=q)


@users_router.post(
    "",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
def users_create(
    session: SessionDep, admin: AdminPrincipal, data: UserCreate, response: Response
) -> UserPublic:
    """Create a user. Scoped roles need their scope: `college_manager` a `college_id`,
    `teacher` a `teacher_id`, `student` a `student_id`, `evaluation_org` an `evaluation_org_id`."""
    user = service.create_user(session, admin, data)
    set_etag(response, user.version)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return UserPublic.model_validate(user)


@users_router.get("/{user_id}", response_model=UserPublic, responses=problem_responses(404))
def users_get(
    session: SessionDep, _admin: AdminPrincipal, user_id: DbId, response: Response
) -> UserPublic:
    user = service.get_user(session, user_id)
    set_etag(response, user.version)
    return UserPublic.model_validate(user)


@users_router.patch(
    "/{user_id}", response_model=UserPublic, responses=problem_responses(404, 409, 412)
)
def users_update(
    session: SessionDep,
    admin: AdminPrincipal,
    user_id: DbId,
    data: UserUpdate,
    if_match: IfMatch,
    response: Response,
) -> UserPublic:
    """Change a user (send `If-Match` with the ETag you read to avoid overwriting a newer
    change). Deactivate with `is_active: false`; users are never deleted, the audit trail
    refers to them."""
    user = service.update_user(session, admin, user_id, data, if_match)
    set_etag(response, user.version)
    return UserPublic.model_validate(user)


@api_keys_router.get("", response_model=Page[ApiKeyPublic], responses=EXPORT_RESPONSES)
def api_keys_list(
    session: SessionDep,
    _admin: AdminPrincipal,
    page: PageDep,
    include_revoked: bool = False,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """API keys (never the secret), oldest first."""
    if format != ExportFormat.json:
        statement = service.api_keys_statement(include_revoked=include_revoked)
        rows = fetch_for_export(session, statement, service.API_KEY_ORDER)
        items = [ApiKeyPublic.model_validate(k) for k in rows]
        return export_response(items, API_KEY_COLUMNS, format, "api-keys")
    return service.list_api_keys(session, page, include_revoked=include_revoked)


@api_keys_router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def api_keys_create(
    session: SessionDep, admin: AdminPrincipal, data: ApiKeyCreate
) -> ApiKeyCreated:
    """Create a key bound to one role and scope. The `key` is shown in this response only;
    the service keeps a hash. Clients send it as `X-API-Key`."""
    return service.create_api_key(session, admin, data)


@api_keys_router.post(
    "/{key_id}/revoke", response_model=ApiKeyPublic, responses=problem_responses(404, 409)
)
def api_keys_revoke(session: SessionDep, admin: AdminPrincipal, key_id: DbId) -> ApiKeyPublic:
    """Revoke a key at once; it answers 401 from then on. The record stays for the audit."""
    return ApiKeyPublic.model_validate(service.revoke_api_key(session, admin, key_id))
