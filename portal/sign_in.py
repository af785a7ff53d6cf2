"""Signing in to the portal: by a link mailed to one of the record's addresses, or with a
password the customer set; signing out everywhere; the customer's account settings.

Asking for a link answers the same whether or not a customer has the address (and when
the address had its links for the hour): nobody learns from the portal who is a customer.
A link's page shows a button that signs in with a POST, so mail scanners that open links
do not use them up; pressed twice (a double-click), the second press finds the browser
signed in by the first and follows it. Changing a password asks for the current one.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from customers.actions import CustomerError, set_language
from customers.portal_access import (
    MAX_PASSWORD_LENGTH,
    LinkRefused,
    check_link,
    end_sessions,
    has_password,
    link_used_lately,
    mail_link,
    password_confirms,
    redeem_link,
    set_password,
    sign_in_with_password,
)
from portal.pages import render
from portal.session import (
    chosen_language,
    end_session,
    portal_viewer,
    remember_language,
    require_viewer,
    start_session,
)
from tresen import auth, i18n
from tresen.accounts import SignInBusy
from tresen.addresses import client_address
from tresen.email_address import EmailAddressError, normalize_email
from tresen.i18n import _, ngettext
from tresen.runtime import ActionError

log = logging.getLogger(__name__)

HOME = "/portal/tickets"
MAX_EMAIL = 320


def _next(url: str | None) -> str:
    """Back to a portal page after signing in; never elsewhere."""
    url = auth.safe_next(url)
    return url if url == "/portal" or url.startswith("/portal/") else HOME


async def portal_home(request: Request) -> Response:
    viewer = await portal_viewer(request)
    return RedirectResponse(HOME if viewer else "/portal/sign-in", status_code=303)


def _refusal(reason: str) -> tuple[str, int]:
    if reason == "used":
        return _("This sign-in link was used already. Each link works only once."), 410
    if reason == "expired":
        return _("This sign-in link has expired."), 410
    return _("This sign-in link is not valid. Please copy the whole link from the mail."), 404


async def _sign_in_form(request: Request, status_code: int = 200, **context) -> Response:
    context.setdefault("next", _next(request.query_params.get("next")))
    context.setdefault("email", "")
    return await render(request, "portal/sign_in.html", context, status_code=status_code)


async def sign_in_page(request: Request) -> Response:
    if request.method == "GET":
        if await portal_viewer(request) is not None:
            return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
        sent = request.query_params.get("sent") == "1"
        notice = None
        if sent:
            notice = _(
                "If this address belongs to a customer, a sign-in link is on its way. "
                "Please check your mail."
            )
        elif request.query_params.get("signed_out") == "1":
            notice = _("You are signed out on every device.")
        return await _sign_in_form(request, notice=notice, sent=sent)
    form = await auth.verified_form(request)
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    next_url = _next(str(form.get("next") or ""))
    if not email or len(email) > MAX_EMAIL:
        return await _sign_in_form(
            request, 400, next=next_url, problem=_("Please enter your e-mail address.")
        )
    if password:
        return await _password_sign_in(request, email, password, next_url)
    try:
        normalize_email(email)
    except EmailAddressError:
        return await _sign_in_form(
            request,
            400,
            next=next_url,
            email=email,
            problem=_("%(email)s is not an e-mail address.", email=email),
        )
    # Looked up and mailed after the answer is sent: a known address is not told apart
    # from an unknown one by how long the answer takes.
    send = BackgroundTask(
        _mail_link,
        request.app.state.runtime,
        email,
        chosen_language(request),
        next_url if next_url != HOME else None,
    )
    return RedirectResponse("/portal/sign-in?sent=1", status_code=303, background=send)


async def _mail_link(runtime, email: str, language: str, then: str | None) -> None:
    try:
        async with runtime.transaction() as tx:
            await mail_link(tx, email, source="customer", language=language, then=then)
    except ActionError as error:  # no channel can send mail: for the log, not the visitor
        log.error("portal sign-in link not sent: %s", error)
    except Exception:  # noqa: BLE001 - the answer is sent; the log is the one to tell
        log.exception("portal sign-in link not sent")


async def _password_sign_in(request: Request, email: str, password: str, next_url: str):
    throttle: auth.LoginThrottle = request.app.state.login_throttle
    account = "portal:" + email.lower()
    address = client_address(request.scope)
    wait = throttle.wait_seconds(account, address)
    if wait:
        minutes = (wait + 59) // 60
        problem = ngettext(
            "Too many failed sign-ins. Try again in %(num)d minute.",
            "Too many failed sign-ins. Try again in %(num)d minutes.",
            minutes,
        )
        response = await _sign_in_form(request, 429, next=next_url, email=email, problem=problem)
        response.headers["Retry-After"] = str(wait)
        return response
    throttle.attempt(account, address)
    turn = throttle.account_turn(account)
    if turn:
        await asyncio.sleep(turn)
    try:
        signed_in = await sign_in_with_password(request.app.state.runtime, email, password)
    except SignInBusy:
        problem = _("Too many sign-ins at once. Try again in a few seconds.")
        response = await _sign_in_form(request, 503, next=next_url, email=email, problem=problem)
        response.headers["Retry-After"] = "5"
        return response
    if signed_in is None:
        problem = _("E-mail address or password is wrong.")
        return await _sign_in_form(request, 401, next=next_url, email=email, problem=problem)
    throttle.succeeded(account, address)
    response = RedirectResponse(next_url, status_code=303)
    start_session(request, response, signed_in.customer_id, signed_in.session_key)
    return response


async def sign_in_link(request: Request) -> Response:
    """GET: a page with the button that signs in; POST: the button, which uses the link."""
    token = request.path_params["token"]
    runtime = request.app.state.runtime
    next_url = _next(request.query_params.get("next"))
    try:
        if request.method == "GET":
            async with runtime.read() as session:
                await check_link(session, token, runtime.clock.now())
            return await render(
                request, "portal/sign_in_link.html", {"token": token, "next": next_url}
            )
        form = await auth.verified_form(request)
        next_url = _next(str(form.get("next") or ""))
        async with runtime.transaction() as tx:
            signed_in = await redeem_link(tx, token)
    except LinkRefused as refused:
        if refused.reason == "used" and await _signed_in_by(request, token):
            # The second press of a double-click (or the link opened again right after):
            # this browser is signed in by it already.
            return RedirectResponse(next_url, status_code=303)
        message, status = _refusal(refused.reason)
        return await render(
            request,
            "portal/sign_in_link.html",
            {"refused": refused.reason, "problem": message},
            status_code=status,
        )
    response = RedirectResponse(next_url, status_code=303)
    start_session(request, response, signed_in.customer_id, signed_in.session_key)
    return response


async def _signed_in_by(request: Request, token: str) -> bool:
    """Whether this browser is signed in as the customer this link signed in, just now."""
    viewer = await portal_viewer(request)
    if viewer is None:
        return False
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        return await link_used_lately(session, token, runtime.clock.now(), viewer.customer_id)


async def sign_out(request: Request) -> Response:
    """Ends every portal session of the customer, on every device."""
    viewer = await require_viewer(request)
    await auth.verified_form(request)
    async with request.app.state.runtime.transaction() as tx:
        await end_sessions(tx, viewer.customer_id)
    response = RedirectResponse("/portal/sign-in?signed_out=1", status_code=303)
    end_session(request, response)
    return response


async def choose_language(request: Request) -> Response:
    """The portal's language: kept in a cookie, and on the record when signed in."""
    form = await auth.verified_form(request)
    language = str(form.get("language") or "")
    if language not in i18n.LANGUAGES:
        raise HTTPException(400, f"language {language[:20]!r} is not one of de, en")
    viewer = await portal_viewer(request)
    if viewer is not None:
        async with request.app.state.runtime.transaction() as tx:
            await set_language(tx, viewer.customer_id, language, source="chosen")
    next_url = auth.safe_next(str(form.get("next") or "/portal"))
    if not (next_url.startswith("/portal") or next_url.startswith("/help")):
        next_url = "/portal"
    response = RedirectResponse(next_url, status_code=303)
    remember_language(request, response, language)
    return response


async def account_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    runtime = request.app.state.runtime
    notice = problem = None
    status = 200
    response_session = None
    if request.method == "POST":
        form = await auth.verified_form(request)
        action = str(form.get("action") or "")
        if action == "password":
            password = str(form.get("password") or "")
            if password != str(form.get("password_again") or ""):
                problem, status = _("The two passwords are not the same."), 400
            elif len(password) > MAX_PASSWORD_LENGTH:
                problem = _(
                    "The password may have at most %(count)s characters.",
                    count=MAX_PASSWORD_LENGTH,
                )
                status = 400
            else:
                refusal = await _current_password_refusal(request, viewer.customer_id, form)
                if refusal is not None:
                    return refusal
                try:
                    response_session = await set_password(runtime, viewer.customer_id, password)
                    notice = _("Your password is set. You are signed out on your other devices.")
                except CustomerError:
                    problem = _("The password needs at least %(count)s characters.", count=8)
                    status = 400
        elif action == "remove_password":
            response_session = await set_password(runtime, viewer.customer_id, None)
            notice = _("Your password is removed: you sign in by a link sent to your mail.")
        elif action == "sign_out_others":
            async with runtime.transaction() as tx:
                generation = await end_sessions(tx, viewer.customer_id)
            response_session = (viewer.customer_id, generation)
            notice = _("You are signed out on your other devices.")
        else:
            raise HTTPException(
                400, f"action {action[:30]!r} is not password, remove_password or sign_out_others"
            )
    async with runtime.read() as session:
        password_set = await has_password(session, viewer.customer_id)
    response = await render(
        request,
        "portal/account.html",
        {"password_set": password_set, "notice": notice, "problem": problem},
        status_code=status,
    )
    if response_session is not None:
        customer_id, session_key = (
            response_session
            if isinstance(response_session, tuple)
            else (response_session.customer_id, response_session.session_key)
        )
        start_session(request, response, customer_id, session_key)
    return response


async def _current_password_refusal(request: Request, customer_id: int, form) -> Response | None:
    """None when the customer may change their password: they have none yet (setting the
    first one right after signing in by a link), or they gave the current one. Otherwise
    the account page saying why (wrong guesses are throttled like sign-ins)."""
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        if not await has_password(session, customer_id):
            return None
    current = str(form.get("current_password") or "")
    throttle: auth.LoginThrottle = request.app.state.login_throttle
    account = f"portal-account:{customer_id}"
    address = client_address(request.scope)
    status, headers = 400, None
    if not current:
        problem = _("Please enter your current password to change it.")
    elif wait := throttle.wait_seconds(account, address):
        minutes = (wait + 59) // 60
        problem = ngettext(
            "Too many failed sign-ins. Try again in %(num)d minute.",
            "Too many failed sign-ins. Try again in %(num)d minutes.",
            minutes,
        )
        status, headers = 429, {"Retry-After": str(wait)}
    else:
        throttle.attempt(account, address)
        try:
            confirmed = await password_confirms(runtime, customer_id, current)
        except SignInBusy:
            confirmed = None
        if confirmed:
            throttle.succeeded(account, address)
            return None
        if confirmed is None:
            problem = _("Too many sign-ins at once. Try again in a few seconds.")
            status, headers = 503, {"Retry-After": "5"}
        else:
            problem = _("The current password is wrong.")
    return await render(
        request,
        "portal/account.html",
        {"password_set": True, "problem": problem},
        status_code=status,
        headers=headers,
    )


routes = [
    Route("/portal", portal_home),
    Route("/portal/sign-in", sign_in_page, methods=["GET", "POST"]),
    Route("/portal/sign-in/{token:str}", sign_in_link, methods=["GET", "POST"]),
    Route("/portal/sign-out", sign_out, methods=["POST"]),
    Route("/portal/language", choose_language, methods=["POST"]),
    Route("/portal/account", account_page, methods=["GET", "POST"]),
]
