"""Console basics: signing in and out, message files and sources, the live sockets."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from agent_ui import live, ticket_live
from agent_ui.templating import HERE, templates
from tickets import queries
from tickets.outbox import requeue_delivery
from tresen import auth, i18n, totp
from tresen.accounts import SignInBusy, authenticate, get_user
from tresen.addresses import client_address
from tresen.downloads import disposition, file_response
from tresen.i18n import _, ngettext
from tresen.runtime import ActionError

# The half-signed-in state (right password, code still owed) in the session, and how long
# it lasts before the password must be given again.
PENDING = "two_factor"
PENDING_SECONDS = 300


# Attachments shown in the page; everything else is only downloaded (no HTML, no SVG).
async def login_page(request: Request) -> Response:
    i18n.activate(i18n.pick_language(None, request.headers.get("accept-language")))
    if request.method == "GET":
        return templates.TemplateResponse(
            request, "login.html", {"next": auth.safe_next(request.query_params.get("next"))}
        )
    form = await auth.verified_form(request)
    email = str(form.get("email") or "")
    next_url = auth.safe_next(str(form.get("next") or "/"))
    throttle: auth.LoginThrottle = request.app.state.login_throttle
    account = email.strip().lower()
    # The peer, or the client a trusted proxy names (tresen serve --forwarded-allow-ips).
    address = client_address(request.scope)
    wait = throttle.wait_seconds(account, address)
    if wait:
        minutes = (wait + 59) // 60
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "next": next_url,
                "email": email,
                "error": ngettext(
                    "Too many failed sign-ins. Try again in %(num)d minute.",
                    "Too many failed sign-ins. Try again in %(num)d minutes.",
                    minutes,
                ),
            },
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    # Counted before the check: guesses sent at once cannot all pass the test above.
    throttle.attempt(account, address)
    turn = throttle.account_turn(account)
    if turn:
        # Guessed at from many addresses: slower (one try per delay), never closed to its owner.
        await asyncio.sleep(turn)
    try:
        user = await authenticate(request.app.state.runtime, email, str(form.get("password") or ""))
    except SignInBusy:
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "next": next_url,
                "email": email,
                "error": _("Too many sign-ins at once. Try again in a few seconds."),
            },
            status_code=503,
            headers={"Retry-After": "5"},
        )
    if user is None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"next": next_url, "email": email, "error": _("Email or password is wrong.")},
            status_code=401,
        )
    if totp.is_enrolled(user):
        # Half signed in: the password's attempt stays counted until the code is right.
        request.session.clear()
        request.session[PENDING] = {
            "uid": user.id,
            "gen": user.session_generation,
            "until": request.app.state.runtime.clock.now().timestamp() + PENDING_SECONDS,
            "next": next_url,
        }
        return RedirectResponse("/login/two-factor", status_code=303)
    throttle.succeeded(account, address)
    await auth.signed_in(request, user)
    return RedirectResponse(next_url, status_code=303)


async def _pending_user(request: Request):
    """The user whose password was right a moment ago and who still owes a code, or None."""
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("uid"), int):
        return None
    runtime = request.app.state.runtime
    if not runtime.clock.now().timestamp() < float(pending.get("until") or 0):
        return None
    user = await get_user(runtime, pending["uid"])
    if user is None or user.session_generation != pending.get("gen"):
        return None  # deactivated, or signed out everywhere meanwhile
    return user if totp.is_enrolled(user) else None


async def two_factor_page(request: Request) -> Response:
    """The sign-in's second step: a code from the app or a recovery code."""
    i18n.activate(i18n.pick_language(None, request.headers.get("accept-language")))
    form = await auth.verified_form(request) if request.method == "POST" else None
    user = await _pending_user(request)
    if user is None:
        request.session.pop(PENDING, None)
        return templates.TemplateResponse(
            request,
            "login_two_factor.html",
            {"expired": True},
            status_code=401 if form is not None else 200,
        )
    if form is None:
        return templates.TemplateResponse(request, "login_two_factor.html", {})
    throttle: auth.LoginThrottle = request.app.state.login_throttle
    address = client_address(request.scope)
    account = user.email.strip().lower()
    wait = throttle.wait_seconds(account, address)
    if wait:
        minutes = (wait + 59) // 60
        error = ngettext(
            "Too many failed sign-ins. Try again in %(num)d minute.",
            "Too many failed sign-ins. Try again in %(num)d minutes.",
            minutes,
        )
        return templates.TemplateResponse(
            request,
            "login_two_factor.html",
            {"error": error},
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    throttle.attempt(account, address)
    turn = throttle.account_turn(account)
    if turn:
        await asyncio.sleep(turn)
    kind = await totp.verify(request.app.state.runtime, user, str(form.get("code") or ""))
    if kind is None:
        return templates.TemplateResponse(
            request,
            "login_two_factor.html",
            {"error": _("The code is not right.")},
            status_code=401,
        )
    # Both attempts taken back: the password's and the code's.
    throttle.succeeded(account, address)
    throttle.succeeded(account, address)
    next_url = auth.safe_next(request.session[PENDING].get("next"))
    await auth.signed_in(request, user)
    return RedirectResponse(next_url, status_code=303)


async def logout(request: Request) -> Response:
    await auth.verified_form(request)
    await auth.logout(request)
    return RedirectResponse("/login", status_code=303)


async def message_attachment(request: Request) -> Response:
    """An attachment, downloaded; only images that cannot carry script are shown inline."""
    await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        attachment = await queries.get_attachment(
            session, request.path_params["message_id"], request.path_params["attachment_id"]
        )
    if attachment is None:
        raise HTTPException(404, "attachment not found")
    return file_response(
        attachment.content, attachment.content_type, attachment.filename, public=False
    )


async def message_source(request: Request) -> Response:
    """The message exactly as received (an email's RFC 822 source), shown as plain text for
    agents to inspect (never rendered: text/plain, and the headers forbid sniffing)."""
    await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        message = await queries.get_message(session, request.path_params["message_id"])
        source = await queries.raw_source(session, message) if message else None
    if source is None:
        raise HTTPException(404, "no original source is kept for this message")
    return Response(
        source,
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": disposition("inline", f"message-{message.id}.eml"),
            "X-Content-Type-Options": "nosniff",
        },
    )


async def resend_message(request: Request) -> Response:
    """Send a failed, bounced or uncertain reply again (the agent decided so)."""
    await auth.require_staff(request)
    await auth.verified_form(request)
    message_id = request.path_params["message_id"]
    async with request.app.state.runtime.read() as session:
        message = await queries.get_message(session, message_id)
    if message is None:
        raise HTTPException(404, "message not found")
    try:
        async with request.app.state.runtime.transaction() as tx:
            await requeue_delivery(tx, message_id)
    except ActionError as error:
        raise HTTPException(409, str(error)) from None
    return RedirectResponse(f"/tickets/{message.ticket_id}#message-{message_id}", status_code=303)


routes = [
    Route("/login", login_page, methods=["GET", "POST"], name="login"),
    Route("/login/two-factor", two_factor_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/messages/{message_id:int}/attachments/{attachment_id:int}", message_attachment),
    Route("/messages/{message_id:int}/source", message_source),
    Route("/messages/{message_id:int}/resend", resend_message, methods=["POST"]),
    WebSocketRoute("/ws/console", live.console_socket),
    WebSocketRoute("/ws/tickets/{ticket_id:int}", ticket_live.ticket_socket),
    WebSocketRoute("/ws/desk", live.desk_socket),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]
