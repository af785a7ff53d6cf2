"""REST API v1: a ticket's state for a bot, told only to who knows its number and the
e-mail address of its customer (`POST /api/v1/bot/ticket-status`).

A wrong number and a wrong address get the same answer from the same single query, each
token may ask `LOOKUPS_PER_MINUTE` times a minute, and any one address is asked about at
most `LOOKUPS_PER_ADDRESS_PER_HOUR` times an hour whatever the token: a bot cannot be used
to find out which numbers exist or whose they are, nor one visitor probing one address use
up a shared token's lookups for everyone else.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import column, exists, select, table
from starlette.requests import Request
from starlette.responses import JSONResponse

from tickets.models import Ticket
from tickets.states import customer_label as state_label
from tresen import i18n
from tresen.api import ApiError, ApiRouter
from tresen.email_address import EmailAddressError, normalize_email
from tresen.limits import RateLimiter
from tresen.text import Text

router = ApiRouter("bots")

LOOKUPS_PER_MINUTE = 30
LOOKUPS_PER_ADDRESS_PER_HOUR = 10  # a customer asking about their tickets, with typos
MAX_NUMBER = 2**31 - 1


class StatusQuestion(BaseModel):
    """A ticket number as the customer wrote it ("10042", "#10042") and their address."""

    model_config = ConfigDict(extra="forbid")

    number: int | Text = Field(examples=["10042"])
    email: Text = Field(min_length=3, max_length=320, examples=["anna@example.com"])
    lang: Literal["de", "en"] | None = None

    @field_validator("number")
    @classmethod
    def _a_ticket_number(cls, value: int | str) -> int:
        digits = str(value).strip().lstrip("#").strip()
        if not digits.isascii() or not digits.isdigit() or not 0 < int(digits) <= MAX_NUMBER:
            raise ValueError("is not a ticket number (digits, e.g. 10042)")
        return int(digits)

    @field_validator("email")
    @classmethod
    def _an_address(cls, value: str) -> str:
        try:
            return normalize_email(value)
        except EmailAddressError as error:
            raise ValueError(str(error)) from None


def _limiter(request: Request) -> RateLimiter:
    """The app's buckets of status lookups, one per token."""
    state = request.app.state
    if getattr(state, "bot_status_lookups", None) is None:
        state.bot_status_lookups = RateLimiter({"status": LOOKUPS_PER_MINUTE})
    return state.bot_status_lookups


def _address_limiter(request: Request) -> RateLimiter:
    """The app's buckets of status lookups, one per e-mail address asked about (per hour)."""
    state = request.app.state
    if getattr(state, "bot_status_address_lookups", None) is None:
        # RateLimiter counts per minute; on a clock in minutes its "minute" is an hour.
        state.bot_status_address_lookups = RateLimiter(
            {"address": LOOKUPS_PER_ADDRESS_PER_HOUR}, clock=lambda: time.monotonic() / 60
        )
    return state.bot_status_address_lookups


def _token_key(request: Request) -> str:
    # The token itself is a secret: the buckets keep a digest of it.
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    return hashlib.sha256(token.encode()).hexdigest()


class TooMany(ApiError):
    """429 with Retry-After, as the public doors answer (tresen.limits)."""

    def __init__(self, seconds: int, limit: str) -> None:
        super().__init__(429, f"too many ticket-status lookups {limit}; try again in {seconds} s")
        self.seconds = seconds

    def response(self) -> JSONResponse:
        answer = super().response()
        answer.headers["Retry-After"] = str(self.seconds)
        return answer


# The customers' identities as plain rows: bots do not import the customers room.
IDENTITIES = table("identities", column("customer_id"), column("kind"), column("value"))

NOT_FOUND = {"found": False, "number": None, "state": None, "state_label": None, "updated_at": None}


@router.route(
    "POST",
    "/bot/ticket-status",
    summary="A ticket's state, for its number and its customer's e-mail address "
    "(the same answer for a wrong number and a wrong address; rate limited per token "
    "and per address)",
    body=StatusQuestion,
    # It answers for any customer who knows their number: integrations (a bot) only.
    scope="integration",
)
async def ticket_status(request: Request, user, body: StatusQuestion):
    # The address first: lookups it refuses take nothing from the token's shared bucket.
    address_key = hashlib.sha256(body.email.encode()).hexdigest()
    wait = _address_limiter(request).take("address", address_key)
    if wait:
        limit = f"for this address: at most {LOOKUPS_PER_ADDRESS_PER_HOUR} an hour"
        raise TooMany(max(1, math.ceil(wait * 60)), limit)
    wait = _limiter(request).take("status", _token_key(request))
    if wait:
        raise TooMany(
            max(1, math.ceil(wait)), f"with this token: at most {LOOKUPS_PER_MINUTE} a minute"
        )
    owned = exists().where(
        IDENTITIES.c.customer_id == Ticket.customer_id,
        IDENTITIES.c.kind == "email",
        IDENTITIES.c.value == body.email,
    )
    query = select(Ticket.number, Ticket.state, Ticket.updated_at).where(
        Ticket.number == body.number, owned
    )
    async with request.app.state.runtime.read() as session:
        row = (await session.execute(query)).first()
    if row is None:
        return NOT_FOUND
    with i18n.using(body.lang or "en"):
        label = state_label(row.state)
    return {
        "found": True,
        "number": row.number,
        "state": row.state,
        "state_label": label,
        "updated_at": row.updated_at.isoformat(),
    }
