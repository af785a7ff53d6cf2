"""Webhooks: what a provider (Twilio, Meta, Telegram, ...) posts to a channel, checked first.

Every channel's webhook is made by `webhook_route`: the raw body is read with a size limit,
the channel's `verify` decides on the raw bytes (a forged request is refused with 403 and
nothing of it is stored), `parse` turns it into InboundMessages, and each goes to the inbox,
which stores it before anything else (a provider's retry is recognised by its external id).
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tresen import rooms
from tresen.inbound import InboundMessage

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024  # providers post small JSON or forms; media come by URL


# What a parser raises on a body that is not as documented (RecursionError: nested past the
# decoder's stack, as 200,000 brackets are).
_UNREADABLE = (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError)


class WebhookPayloadError(ValueError):
    """The (verified) body is not what the provider documents; the message says what."""


class BodyTooLarge(Exception):
    pass


def hmac_sha256_hex(secret: str | bytes, body: bytes) -> str:
    """HMAC-SHA256 of the raw body in hex, as Meta's X-Hub-Signature-256 carries it."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def signatures_match(given: str | None, expected: str) -> bool:
    """Compare a signature (or a shared secret token) in constant time; absent never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def verify_hmac_sha256(
    given: str | None, secret: str | bytes, body: bytes, prefix: str = ""
) -> bool:
    """Whether a header like "sha256=<hex>" is the body's HMAC-SHA256 with this secret."""
    if not given or not given.startswith(prefix):
        return False
    return signatures_match(given[len(prefix) :].lower(), hmac_sha256_hex(secret, body))


async def read_body(request: Request, limit: int = MAX_WEBHOOK_BYTES) -> bytes:
    """The raw body, refused past `limit` bytes whether or not Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


async def _call(function: Callable, *args) -> Any:
    result = function(*args)
    return await result if inspect.isawaitable(result) else result


Verify = Callable[[Request, bytes, Any], bool | Awaitable[bool]]
Parse = Callable[[Request, bytes, Any], Sequence[InboundMessage] | Awaitable]


def webhook_route(
    path: str,
    *,
    verify: Verify,
    parse: Parse,
    respond: Callable[[list], Response] | None = None,
    limit: int = MAX_WEBHOOK_BYTES,
    name: str | None = None,
) -> Route:
    """A POST route for a provider's webhook.

    `verify(request, body, runtime)` says whether the signature over the raw `body` holds;
    `parse(request, body, runtime)` gives the InboundMessages (a WebhookPayloadError, or any
    ValueError, KeyError, TypeError, ... it raises on a body that is not as documented, is a
    400 with the reason); `respond(results)`
    answers the provider (TwiML, "ok", ...; default JSON with the count received).
    """

    async def endpoint(request: Request) -> Response:
        runtime = request.app.state.runtime
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            return JSONResponse({"error": f"body is larger than {limit} bytes"}, status_code=413)
        if not await _call(verify, request, body, runtime):
            log.warning("webhook %s: signature does not match; refused", path)
            return JSONResponse({"error": "signature does not match"}, status_code=403)
        try:
            messages = list(await _call(parse, request, body, runtime))
        except ValidationError as error:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
            )
            return JSONResponse({"error": f"bad payload: {problem}"}, status_code=400)
        except _UNREADABLE as error:
            # A body that is not what the provider documents: answered, so it is not retried
            # for ever; logged, since a provider that changed its format needs a look.
            log.warning(
                "webhook %s: unreadable payload (%s: %s)", path, type(error).__name__, error
            )
            return JSONResponse(
                {"error": f"bad payload: {type(error).__name__}: {error}"}, status_code=400
            )
        results = []
        for message in messages:
            try:
                results.append(await rooms.deliver(runtime, message))
            except Exception:  # nothing could be stored: the provider must deliver it again
                log.exception("webhook %s: could not store %s", path, message.external_id)
                return JSONResponse(
                    {"error": "could not store the message now"},
                    status_code=503,
                    headers={"Retry-After": "30"},
                )
        if respond is not None:
            return respond(results)
        return JSONResponse({"received": len(results)})

    return Route(path, endpoint, methods=["POST"], name=name)
