"""REST API v1: staff users (list, create, change, invite), API tokens, sign out everywhere."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from tresen import accounts, invites
from tresen.accounts import AccountConflict, AccountError, TokenInfo
from tresen.api import ApiError, ApiRouter, not_found, query_int
from tresen.models import User
from tresen.text import Text
from tresen.totp import is_enrolled

router = ApiRouter("users")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Text = Field(min_length=3, max_length=320)
    name: Text = Field(min_length=1, max_length=200)
    role: Text = Field(examples=["agent"], description="agent, supervisor or admin")
    locale: Text | None = Field(
        default=None,
        examples=["de"],
        description="de or en: the language of their invitation and console (default: the desk's)",
    )


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    role: Text | None = Field(default=None, description="agent, supervisor or admin")
    active: bool | None = Field(
        default=None, description="false: sessions end and tokens are refused at once"
    )


def user_json(user: User, invite_expires=None) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "locale": user.locale,
        "active": user.active,
        "has_password": user.password_hash is not None,
        "two_factor": is_enrolled(user),
        "created_at": user.created_at.isoformat(),
        "last_sign_in_at": user.last_sign_in_at.isoformat() if user.last_sign_in_at else None,
        "invite_expires_at": invite_expires.isoformat() if invite_expires else None,
    }


def token_json(token: TokenInfo) -> dict:
    return {
        "id": token.id,
        "email": token.email,
        "name": token.name,
        "scopes": list(token.scopes),
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked": token.revoked,
    }


def _refused(error: AccountError) -> ApiError:
    if isinstance(error, AccountConflict):
        return ApiError(409, str(error))
    if str(error).startswith("no user with id"):
        return ApiError(404, str(error))
    return ApiError(422, str(error))


def _invited(request: Request, user: User, token: str) -> dict:
    link = invites.invite_link(request.app.state.runtime.settings.base_url, token)
    return {"user": user_json(user), "invite_link": link, "expires_in_days": invites.INVITE_DAYS}


@router.route("GET", "/users", summary="List staff users", role="admin")
async def list_users(request: Request, user: User):
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        pending = await invites.pending_invites(session, runtime.clock.now())
    return {
        "items": [
            user_json(each, pending.get(each.id)) for each in await accounts.list_users(runtime)
        ]
    }


@router.route(
    "POST",
    "/users",
    summary="Invite a new staff user: the answer holds their link to set a password (once)",
    role="admin",
    body=UserCreate,
    status=201,
)
async def create_user(request: Request, user: User, body: UserCreate):
    try:
        async with request.app.state.runtime.transaction() as tx:
            made, token = await invites.invite_user(
                tx,
                email=body.email,
                name=body.name,
                role=body.role,
                created_by=user.id,
                locale=body.locale or request.app.state.runtime.settings.default_language,
            )
    except AccountError as error:
        raise _refused(error) from None
    return _invited(request, made, token)


@router.route(
    "PATCH",
    "/users/{user_id:int}",
    summary="Change a user's name, role or state (active)",
    role="admin",
    body=UserPatch,
)
async def change_user(request: Request, user: User, body: UserPatch):
    try:
        async with request.app.state.runtime.transaction() as tx:
            changed = await accounts.update_user(
                tx,
                request.path_params["user_id"],
                name=body.name,
                role=body.role,
                active=body.active,
            )
    except AccountError as error:
        raise _refused(error) from None
    return user_json(changed)


@router.route(
    "POST",
    "/users/{user_id:int}/invite",
    summary="A new link for the user to set their password (earlier unused links stop working)",
    role="admin",
    status=201,
)
async def invite_again(request: Request, user: User):
    user_id = request.path_params["user_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            token = await invites.issue_invite(tx, user_id, created_by=user.id)
            invited = await tx.session.get(User, user_id)
    except AccountError as error:
        raise _refused(error) from None
    return _invited(request, invited, token)


@router.route(
    "POST",
    "/users/me/sign-out-everywhere",
    summary="End every console session of the token's user (tokens keep working)",
)
async def sign_out_everywhere(request: Request, user: User):
    await accounts.sign_out_everywhere(request.app.state.runtime, user.email)
    return {"signed_out": True}


@router.route(
    "GET",
    "/tokens",
    summary="API tokens (never the tokens themselves): one's own; an admin's: everyone's",
    query={"user": "an administrator: only this user's tokens (id)"},
)
async def list_tokens(request: Request, user: User):
    wanted = query_int(request, "user")
    if user.role != "admin":
        if wanted not in (None, user.id):
            raise ApiError(403, "only an administrator lists other users' tokens", "user")
        wanted = user.id
    try:
        tokens = await accounts.tokens_of(request.app.state.runtime, wanted)
    except AccountError:
        raise not_found("user", wanted) from None
    return {"items": [token_json(token) for token in tokens]}


@router.route(
    "DELETE",
    "/tokens/{token_id:int}",
    summary="Revoke a token at once (its owner or an administrator)",
)
async def revoke_token(request: Request, user: User):
    token_id = request.path_params["token_id"]
    try:
        await accounts.revoke_token_as(request.app.state.runtime, token_id, user)
    except AccountError:
        raise not_found("API token", token_id) from None
    return {"id": token_id, "revoked": True}
