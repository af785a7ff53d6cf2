"""Request limits at the door: how large a body each kind of route takes, and how often one
client address may knock on the public doors.

`RequestLimits` is a pure ASGI middleware. It refuses a body by its `Content-Length` before
reading a byte of it, and counts the bytes of a body sent without one (chunked), answering
413 as soon as the count passes the limit: nothing past the limit is ever read, so a 50 MB
body costs the server no more than the limit. Which limit a request gets comes from the
table below (`DOORS`) and from the API's own declarations: every public operation
(`role=PUBLIC`) takes a small JSON body and is rate limited, so a new public door is small
and limited without anyone remembering to say so. What the table does not name takes a
form's size.

The rate limits are token buckets per (kind of door, client address), kept in the process,
bounded in size (buckets full again are forgotten, and the least recently used past
`Settings.rate_limit_addresses`), answered with 429 and `Retry-After`.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import compile_path

from tresen import i18n
from tresen.addresses import client_address
from tresen.api import MAX_BODY_BYTES, PREFIX, PUBLIC, ApiRouter
from tresen.i18n import _
from tresen.settings import Settings
from tresen.webhooks import MAX_WEBHOOK_BYTES

KB = 1024
MB = 1024 * KB
FORM_BYTES = 1 * MB  # console and help-centre forms, the sign-in form; and any route not named
UPLOAD_BYTES = 25 * MB  # the console's file uploads: 20 MB of files per reply, and the form
PUBLIC_JSON_BYTES = 64 * KB  # a public operation's JSON: a 10,000-character question fits
CHAT_FILE_BYTES = 11 * MB  # a visitor's file (10 MB) and its form
PORTAL_UPLOAD_BYTES = 21 * MB  # a portal customer's files (20 MB, portal/uploads.py) and form
API_BYTES = MAX_BODY_BYTES  # a token's API calls (/api/v1/inbound with attachments)

# Kinds of rate limit, each with its Settings field (requests per minute and address).
RATES = {
    "search": "public_searches_per_minute",
    "vote": "public_votes_per_minute",
    "page": "public_pages_per_minute",
    "sign-in": "sign_ins_per_minute",
}


@dataclass(frozen=True)
class Door:
    """A kind of route: the methods and path it answers, the body it takes, its rate limit."""

    methods: frozenset[str]
    path: re.Pattern
    body_bytes: int
    rate: str | None = None

    def opens(self, method: str, path: str) -> bool:
        return method in self.methods and self.path.match(path) is not None


def door(methods: str, path: str, body_bytes: int, rate: str | None = None) -> Door:
    """A door from a starlette-style path ("/help/{slug}") and methods ("GET HEAD")."""
    return Door(frozenset(methods.split()), compile_path(path)[0], body_bytes, rate)


ANY = "GET HEAD POST PUT PATCH DELETE OPTIONS"

# The pages anyone may open, and the console's routes that take files. Public API operations
# are added from their declarations (`doors()`); their rate is "search" unless named here.
DOORS = (
    door("POST", "/login", FORM_BYTES, "sign-in"),
    door("GET HEAD", "/login", FORM_BYTES, "page"),
    # The sign-in's second step (a code): counted with the passwords.
    door("POST", "/login/two-factor", FORM_BYTES, "sign-in"),
    door("GET HEAD", "/login/two-factor", FORM_BYTES, "page"),
    # The help centre: its search writes what was not found (a gap), so it counts as one.
    door("GET HEAD", "/help", FORM_BYTES, "search"),
    door("POST", "/help/{slug}", FORM_BYTES, "vote"),
    door("GET HEAD", "/help/{slug}", FORM_BYTES, "page"),
    door("GET HEAD", "/help/{slug}/files/{filename}", FORM_BYTES, "page"),
    # Its categories, uploaded logo, and what search engines read (portal/help.py).
    door("GET HEAD", "/help/category/{key}", FORM_BYTES, "page"),
    door("GET HEAD", "/help/assets/logo", FORM_BYTES, "page"),
    door("GET HEAD", "/sitemap.xml", FORM_BYTES, "page"),
    door("GET HEAD", "/robots.txt", FORM_BYTES, "page"),
    # The customer portal's sign-in (portal/sign_in.py): asking for a link or signing in
    # with a password; each address's links are limited per hour in the action as well. A
    # link's token (256 bits) is not guessed: using one is not rate limited.
    door("POST", "/portal/sign-in", FORM_BYTES, "sign-in"),
    door("GET HEAD", "/portal/sign-in", FORM_BYTES, "page"),
    door("GET HEAD", "/portal/sign-in/{token}", FORM_BYTES, "page"),
    # Rating a ticket by its signed link (portal/rating.py): no sign-in, an answer a vote.
    door("POST", "/portal/rate/{token}", FORM_BYTES, "vote"),
    door("GET HEAD", "/portal/rate/{token}", FORM_BYTES, "page"),
    # The chat widget (channels/chat/public.py): its script and settings load with every page
    # of the site that embeds it; a visitor's file is at most 10 MB (rate limited per visitor
    # and address in the handler, like the socket's messages).
    door("GET HEAD", "/chat/widget.js", FORM_BYTES, "page"),
    door("GET HEAD", "/chat/{key}/config", FORM_BYTES, "page"),
    door("POST", "/chat/{key}/files", CHAT_FILE_BYTES),
    door("GET HEAD", "/chat/{key}/files/{attachment_id}", FORM_BYTES, "page"),
    door("POST", "/tickets/{ticket_id:int}/messages", UPLOAD_BYTES),
    # A signed-in customer's reply with files (portal/tickets.py).
    door("POST", "/portal/tickets/{number:int}/reply", PORTAL_UPLOAD_BYTES),
    # A new request with files, and the knowledge base's suggestions while it is typed.
    door("POST", "/portal/requests/new", PORTAL_UPLOAD_BYTES),
    door("POST", "/portal/requests/suggest", FORM_BYTES, "search"),
    door("POST", "/kb/{article_id:int}/files", UPLOAD_BYTES),
)
PUBLIC_API_RATES = {("POST", "/kb/articles/{article_id:int}/feedback"): "vote"}
# Whole areas, after the doors above: the API for tokens, and the providers' webhooks
# (`tresen.webhooks` reads their bodies with the same limit; they are signed, not rate
# limited: a provider posts from few addresses in bursts. A webhook_route given a larger
# `limit=` needs its own door above).
AREAS = (
    door(ANY, PREFIX + "/{rest:path}", API_BYTES),
    door("POST", "/webhooks/{rest:path}", MAX_WEBHOOK_BYTES),
)
DEFAULT = door(ANY, "/{rest:path}", FORM_BYTES)


def doors(routers: Iterable[ApiRouter]) -> tuple[Door, ...]:
    """The table a request is matched against, first match wins."""
    public = tuple(
        door(
            operation.method + (" HEAD" if operation.method == "GET" else ""),
            PREFIX + operation.path,
            PUBLIC_JSON_BYTES,
            PUBLIC_API_RATES.get((operation.method, operation.path), "search"),
        )
        for router in routers
        for operation in router.operations
        if operation.role == PUBLIC
    )
    return (*public, *DOORS, *AREAS)


class BodyTooLarge(Exception):
    """Raised from `receive` when a streamed body passes its door's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class RateLimiter:
    """Token buckets per (kind, address): `per_minute` requests at once, then one every
    60/per_minute seconds. Bounded: a bucket full again is the same as none and is dropped,
    and past `max_keys` the least recently used ones go."""

    def __init__(
        self,
        per_minute: dict[str, int],
        *,
        max_keys: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = {kind: n for kind, n in per_minute.items() if n > 0}
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, kind: str, address: str) -> float:
        """0 when the request may go ahead (a token is taken), else the seconds to wait."""
        capacity = self.per_minute.get(kind)
        if not capacity:
            return 0.0
        now = self.clock()
        tokens = self._tokens(kind, self._buckets.pop((kind, address), None), now)
        wait = 0.0 if tokens >= 1 else (1 - tokens) * 60 / capacity
        self._buckets[(kind, address)] = (tokens - 1 if not wait else tokens, now)
        self._forget(now)
        return wait

    def _tokens(self, kind: str, bucket: tuple[float, float] | None, now: float) -> float:
        capacity = self.per_minute[kind]
        if bucket is None:
            return float(capacity)
        tokens, at = bucket
        return min(float(capacity), tokens + (now - at) * capacity / 60)

    def _forget(self, now: float) -> None:
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))  # the least recently used
            full = self._tokens(key[0], bucket, now) >= self.per_minute[key[0]]
            if not full and len(self._buckets) <= self.max_keys:
                return
            del self._buckets[key]


def _speaks_json(path: str) -> bool:
    return path.startswith(("/api/", "/webhooks/"))


def refusal(scope, status: int, message: str, headers: dict | None = None) -> Response:
    """JSON `{"error": ...}` for the API and webhooks, plain text (translated) for pages."""
    if _speaks_json(scope["path"]):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return PlainTextResponse(message, status_code=status, headers=headers)


def _language(scope) -> str:
    """English for the API (as its other errors), the reader's language on pages."""
    if _speaks_json(scope["path"]):
        return "en"
    accept = dict(scope.get("headers") or ()).get(b"accept-language", b"")
    return i18n.pick_language(None, accept.decode("latin-1"))


def _size(count: int) -> str:
    return f"{count // MB} MB" if count % MB == 0 else f"{count // KB} KB"


class RequestLimits:
    """The middleware: rate limit, then the body's size (declared, then counted)."""

    def __init__(self, app, *, settings: Settings, routers: Iterable[ApiRouter] = ()) -> None:
        self.app = app
        self.doors = doors(routers)
        self.rates = RateLimiter(
            {kind: getattr(settings, name) for kind, name in RATES.items()},
            max_keys=settings.rate_limit_addresses,
        )

    def door_for(self, method: str, path: str) -> Door:
        return next((d for d in self.doors if d.opens(method, path)), DEFAULT)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        found = self.door_for(scope["method"], scope["path"])
        with i18n.using(_language(scope)):
            refused = self._refused_at_once(scope, found)
        if refused is not None:
            return await refused(scope, receive, send)
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > found.body_bytes:
                    raise BodyTooLarge(found.body_bytes)
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as error:
            if started:  # too late to answer; the connection ends
                raise
            with i18n.using(_language(scope)):
                message = _(
                    "The request's body is larger than the %(size)s taken here.",
                    size=_size(error.limit),
                )
                response = refusal(scope, 413, message)
            await response(scope, receive, send)

    def _refused_at_once(self, scope, found: Door) -> Response | None:
        headers = dict(scope.get("headers") or ())
        by_token = b"authorization" in headers and scope["path"].startswith(PREFIX + "/")
        if found.rate and not by_token:
            # Token holders are known and answer for their calls; a bad token is a 401 that
            # costs a lookup and no search. Only the API reads a token: elsewhere (sign-in,
            # the help centre) the header would be a free pass.
            address = client_address(scope)
            wait = self.rates.take(found.rate, address)
            if wait:
                seconds = max(1, math.ceil(wait))
                message = _(
                    "Too many requests from %(address)s: at most %(count)s a minute here; "
                    "try again in %(seconds)s s.",
                    address=address,
                    count=self.rates.per_minute[found.rate],
                    seconds=seconds,
                )
                return refusal(scope, 429, message, {"Retry-After": str(seconds)})
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isascii() and declared.isdigit() and int(declared) > found.body_bytes:
            message = _(
                "Content-Length %(declared)s is more than the %(size)s taken here.",
                declared=declared,
                size=_size(found.body_bytes),
            )
            return refusal(scope, 413, message)
        return None
