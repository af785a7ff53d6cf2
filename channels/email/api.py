"""REST API v1: mail accounts (administrators only; passwords are never returned)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.requests import Request

from channels.email.accounts import account_json, create_account, update_account
from channels.email.models import MailAccount
from tresen.api import ApiRouter, not_found
from tresen.ids import Id
from tresen.text import Text

router = ApiRouter("channels")


class MailAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: Text = Field(min_length=3, max_length=320, examples=["support@example.com"])
    display_name: Text = Field(default="", max_length=200)
    imap_url: Text | None = Field(
        default=None, max_length=2000, examples=["imaps://support:secret@imap.example.com/INBOX"]
    )
    smtp_url: Text | None = Field(
        default=None, max_length=2000, examples=["smtp+starttls://support:secret@smtp.example.com"]
    )
    queue_id: Id | None = None
    processed_folder: Text | None = Field(default=None, max_length=200)


class MailAccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: Text | None = Field(default=None, max_length=200)
    imap_url: Text | None = Field(default=None, max_length=2000)
    smtp_url: Text | None = Field(default=None, max_length=2000)
    queue_id: Id | None = None
    processed_folder: Text | None = Field(default=None, max_length=200)
    active: bool | None = None


async def _load(session, account_id: int) -> MailAccount:
    account = await session.get(MailAccount, account_id)
    if account is None:
        raise not_found("mail account", account_id)
    return account


@router.route("GET", "/channels/email", summary="Mail accounts", role="admin")
async def list_accounts(request: Request, user):
    async with request.app.state.runtime.read() as session:
        accounts = await session.scalars(select(MailAccount).order_by(MailAccount.id))
        settings = request.app.state.runtime.settings
        return {"items": [account_json(account, settings) for account in accounts], "next": None}


@router.route(
    "POST",
    "/channels/email",
    summary="Add a mail account (IMAP to fetch, SMTP to answer)",
    role="admin",
    body=MailAccountCreate,
    status=201,
)
async def add_account(request: Request, user, body: MailAccountCreate):
    async with request.app.state.runtime.transaction() as tx:
        account = await create_account(tx, **body.model_dump())
        return account_json(account, tx.runtime.settings)


@router.route("GET", "/channels/email/{account_id:int}", summary="One mail account", role="admin")
async def get_account(request: Request, user):
    async with request.app.state.runtime.read() as session:
        account = await _load(session, request.path_params["account_id"])
        return account_json(account, request.app.state.runtime.settings)


@router.route(
    "PATCH",
    "/channels/email/{account_id:int}",
    summary="Change a mail account (active: false stops fetching and sending from it)",
    role="admin",
    body=MailAccountPatch,
)
async def patch_account(request: Request, user, body: MailAccountPatch):
    async with request.app.state.runtime.transaction() as tx:
        account = await _load(tx.session, request.path_params["account_id"])
        await update_account(tx, account, body.model_dump(exclude_unset=True))
        return account_json(account, tx.runtime.settings)
