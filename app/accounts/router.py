"""HTTP for logins, users and API keys."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.accounts import models, service
from app.core.auth import (
    ANY_ROLE,
    AdminPrincipal,
    CurrentPrincipal,
    SettingsDep,
    oauth2_scheme,
    writers,
)
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.params import DbId
from app.core.roles import SCOPE_FIELDS, Role
from app.core.routes import Routes, domain_router

auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = domain_router("/users", "users")
api_keys_router = domain_router("/api-keys", "api-keys")

ADMIN = frozenset({Role.admin})


@auth_router.post(
    "/token",
    response_model=models.Token,
    responses=problem_responses(401, 422, 429),
    summary="登录（OAuth2 密码模式）",
)
def auth_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> models.Token:
    """Exchange a username and password for a bearer token. Five failures for one username
    within 15 minutes lock further attempts for it (429 with `Retry-After`)."""
    client_ip = request.client.host if request.client else None
    return service.login(session, settings, form.username, form.password, client_ip)


@auth_router.get(
    "/me", response_model=models.Me, responses=problem_responses(401), summary="当前身份"
)
def auth_me(session: SessionDep, principal: CurrentPrincipal) -> models.Me:
    """Who this credential acts as: role, scope, and the user account (none for an API key)."""
    user = None
    if principal.user_id is not None:
        user = models.UserPublic.model_validate(service.get_user(session, principal.user_id))
    return models.Me(
        principal=principal.label,
        role=principal.role,
        user=user,
        api_key_id=principal.api_key_id,
        **{field: getattr(principal, field) for field in SCOPE_FIELDS},
    )


@auth_router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    **writers(ANY_ROLE),
    responses=problem_responses(401, 409, 422),
    summary="修改本人密码",
)
def auth_change_password(
    session: SessionDep, principal: CurrentPrincipal, data: models.PasswordChange
) -> None:
    """Change your own password (the current one is required). Every token issued to you
    before, this one included, stops working (401): log in again with the new password."""
    service.change_own_password(session, principal, data)


@auth_router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    **writers(ANY_ROLE),
    responses=problem_responses(401, 409),
    summary="退出登录",
)
def auth_logout(
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> None:
    """End the bearer token this request carries, and only it: from now on it answers 401,
    like an expired token; your other sessions go on. An API key cannot log out (409
    `not_a_user`): an admin revokes it."""
    service.logout(session, settings, principal, token)


users = Routes(
    users_router,
    models.UserPublic,
    id_name="user_id",
    read=service.USERS.one,
    principal=AdminPrincipal,
    noun="用户",
    writers=ADMIN,
)
users.list(service.USERS, "Users, oldest first.")
users.create(
    models.UserCreate,
    service.create_user,
    """Create a user. Scoped roles need their scope: `college_manager` a `college_id`,
    `teacher` a `teacher_id`, `student` a `student_id`, `evaluation_org` an `evaluation_org_id`.""",
)
users.get("""One user with its roles and scope (admin only; everyone else 403).""")
users.update(
    models.UserUpdate,
    service.update_user,
    """Change a user (send `If-Match` with the ETag you read to avoid overwriting a newer
    change). Deactivate with `is_active: false`; users are never deleted, the audit trail
    refers to them. A new `password`, another `role` or a deactivation ends every session the
    user has: their earlier tokens answer 401.""",
)


@users_router.post(
    "/{user_id}/sessions/end",
    status_code=status.HTTP_204_NO_CONTENT,
    **writers(ADMIN),
    responses=problem_responses(404),
    summary="结束用户的全部会话",
)
def users_end_sessions(session: SessionDep, admin: AdminPrincipal, user_id: DbId) -> None:
    """End every session of the user (admin): each token issued to them so far answers 401,
    like an expired token, until they log in again. The account itself is unchanged. Setting a
    new `password`, another `role` or `is_active: false` with `PATCH /users/{user_id}` ends
    them too."""
    service.end_sessions(session, admin, user_id)


api_keys = Routes(
    api_keys_router,
    models.ApiKeyPublic,
    id_name="key_id",
    principal=AdminPrincipal,
    noun="API 密钥",
    writers=ADMIN,
)
api_keys.list(service.API_KEYS, "API keys (never the secret), oldest first.")


@api_keys_router.post(
    "",
    response_model=models.ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="新建 API 密钥",
    **writers(ADMIN),
)
def api_keys_create(
    session: SessionDep, admin: AdminPrincipal, data: models.ApiKeyCreate
) -> models.ApiKeyCreated:
    """Create a key bound to one role and scope, optionally expiring at `expires_at` (after
    which it answers 401). The `key` is shown in this response only; the service keeps a hash.
    Clients send it as `X-API-Key`. `last_used_at` then shows, to within a minute, when the key
    last authenticated a request."""
    return service.create_api_key(session, admin, data)


api_keys.action(
    "revoke",
    service.revoke_api_key,
    "Revoke a key at once; it answers 401 from then on. The record stays for the audit.",
    summary="吊销 API 密钥",
)
