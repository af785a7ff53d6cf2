"""REST API v1: chat channels (administrators only; the identity secret is answered once,
when it is made)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.requests import Request

from channels.chat.actions import (
    MAX_AVATAR_URL,
    MAX_NAME,
    MAX_ORIGINS,
    chat_channel_json,
    create_chat_channel,
    rotate_identity_secret,
    snippet,
    update_chat_channel,
)
from channels.chat.models import ChatChannel
from tresen.api import ApiRouter, not_found
from tresen.ids import Id
from tresen.text import Text

router = ApiRouter("channels")

# The actions check each value and name the bad one; these only bound what is read.
Key = Annotated[Text, Field(max_length=50)]
Value = Annotated[Text, Field(max_length=5000)]
Origin = Annotated[Text, Field(max_length=2000)]


class ChatChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=MAX_NAME, examples=["Shop"])
    allowed_origins: list[Origin] = Field(
        max_length=MAX_ORIGINS, examples=[["https://shop.example.com"]]
    )
    queue_id: Id | None = None
    colors: dict[Key, Value] | None = Field(
        default=None, max_length=10, examples=[{"primary": "#0b5cad", "text": "#ffffff"}]
    )
    greeting: dict[Key, Value] | None = Field(
        default=None, max_length=10, examples=[{"en": "Hello!", "de": "Hallo!"}]
    )
    avatar_url: Text | None = Field(default=None, max_length=MAX_AVATAR_URL)
    prechat: dict[Key, Value] | None = Field(
        default=None, max_length=10, examples=[{"name": "optional", "email": "required"}]
    )


class ChatChannelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    allowed_origins: list[Origin] | None = Field(default=None, max_length=MAX_ORIGINS)
    queue_id: Id | None = None
    colors: dict[Key, Value] | None = Field(default=None, max_length=10)
    greeting: dict[Key, Value] | None = Field(default=None, max_length=10)
    avatar_url: Text | None = Field(default=None, max_length=MAX_AVATAR_URL)
    prechat: dict[Key, Value] | None = Field(default=None, max_length=10)
    active: bool | None = None


def _answer(request: Request, row: ChatChannel, secret: str | None = None) -> dict:
    answer = chat_channel_json(row)
    answer["snippet"] = snippet(request.app.state.runtime.settings.base_url, row)
    if secret is not None:
        answer["identity_secret"] = secret
    return answer


async def _load(session, channel_id: int) -> ChatChannel:
    row = await session.get(ChatChannel, channel_id)
    if row is None:
        raise not_found("chat channel", channel_id)
    return row


@router.route("GET", "/chat/channels", summary="Chat channels (website widgets)", role="admin")
async def list_channels(request: Request, user):
    async with request.app.state.runtime.read() as session:
        rows = await session.scalars(select(ChatChannel).order_by(ChatChannel.id))
        return {"items": [_answer(request, row) for row in rows], "next": None}


@router.route(
    "POST",
    "/chat/channels",
    summary="Add a chat channel; the answer holds its identity secret, shown this once",
    role="admin",
    body=ChatChannelCreate,
    status=201,
)
async def add_channel(request: Request, user, body: ChatChannelCreate):
    async with request.app.state.runtime.transaction() as tx:
        row, secret = await create_chat_channel(tx, **body.model_dump())
        return _answer(request, row, secret)


@router.route("GET", "/chat/channels/{channel_id:int}", summary="One chat channel", role="admin")
async def get_channel(request: Request, user):
    async with request.app.state.runtime.read() as session:
        return _answer(request, await _load(session, request.path_params["channel_id"]))


@router.route(
    "PATCH",
    "/chat/channels/{channel_id:int}",
    summary="Change a chat channel (active: false closes its widget)",
    role="admin",
    body=ChatChannelPatch,
)
async def patch_channel(request: Request, user, body: ChatChannelPatch):
    async with request.app.state.runtime.transaction() as tx:
        row = await _load(tx.session, request.path_params["channel_id"])
        await update_chat_channel(tx, row, body.model_dump(exclude_unset=True))
        return _answer(request, row)


@router.route(
    "POST",
    "/chat/channels/{channel_id:int}/rotate-secret",
    summary="A new identity secret for a chat channel (the old one stops working); shown once",
    role="admin",
)
async def rotate_secret(request: Request, user):
    async with request.app.state.runtime.transaction() as tx:
        row = await _load(tx.session, request.path_params["channel_id"])
        secret = await rotate_identity_secret(tx, row)
        return _answer(request, row, secret)
