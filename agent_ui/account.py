"""The signed-in user's own account: password, two-factor sign-in, signing out everywhere."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from tresen import auth, totp
from tresen.accounts import (
    AccountError,
    SignInBusy,
    get_user,
    set_password,
    sign_out_everywhere,
    verify_password,
)
from tresen.addresses import client_address
from tresen.desk_settings import get_setting
from tresen.i18n import _

# Pages that show a secret (the key being set up, recovery codes) are never cached.
NO_STORE = {"Cache-Control": "no-store"}


async def _password_right(request: Request, user, password: str) -> bool:
    """Whether this is the user's current password, counted by the sign-in throttle."""
    # Counted: a session left open must not become a way to guess the password.
    throttle: auth.LoginThrottle = request.app.state.login_throttle
    account, address = user.email.strip().lower(), client_address(request.scope)
    if throttle.wait_seconds(account, address):
        return False
    throttle.attempt(account, address)
    async with request.app.state.runtime.read() as session:
        stored = await session.get(type(user), user.id)
        password_hash = stored.password_hash if stored else None
    if not await verify_password(password_hash, password):
        return False
    throttle.succeeded(account, address)
    return True


async def _signed_in_again(request: Request, user_id: int) -> None:
    """Keep this browser signed in after a change that ended the user's other sessions."""
    user = await get_user(request.app.state.runtime, user_id)
    if user is not None:
        auth.login(request, user)


async def password_page(request: Request) -> Response:
    """Change one's own password (the current one first); other sessions end."""
    user = await auth.require_staff(request)
    context = {"saved": request.query_params.get("saved") == "1"}
    if request.method == "GET":
        return templates.TemplateResponse(request, "account_password.html", context)
    form = await auth.verified_form(request)
    new, repeat = str(form.get("new_password") or ""), str(form.get("repeat_password") or "")
    error = None
    try:
        if not await _password_right(request, user, str(form.get("current_password") or "")):
            error = _("Your current password is not right.")
    except SignInBusy:
        error = _("Too many sign-ins at once. Try again in a few seconds.")
    if error is None and new != repeat:
        error = _("The two new passwords are not the same.")
    if error is None:
        try:
            await set_password(request.app.state.runtime, user.email, new)
        except AccountError:
            error = _("The new password needs at least 8 characters.")
    if error is not None:
        context.update(error=error, saved=False)
        return templates.TemplateResponse(
            request, "account_password.html", context, status_code=422
        )
    await _signed_in_again(request, user.id)
    return RedirectResponse("/account/password?saved=1", status_code=303)


async def _two_factor_context(request: Request, user) -> dict:
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        required = await get_setting(session, "require_two_factor")
        left = await totp.unused_recovery_codes(session, user.id)
    context = {"required": required, "enrolled": totp.is_enrolled(user), "codes_left": left}
    if not totp.is_enrolled(user):
        context["enrolment"] = await totp.start_enrolment(runtime, user.id)
    return context


def _codes_page(request: Request, codes: list[str]) -> Response:
    return templates.TemplateResponse(
        request, "account_recovery_codes.html", {"codes": codes}, headers=NO_STORE
    )


async def two_factor_page(request: Request) -> Response:
    """Set up two-factor sign-in (key, QR code, a code to confirm), or see it is on."""
    user = await auth.require_staff(request)
    if request.method == "GET":
        context = await _two_factor_context(request, user)
        context["off"] = request.query_params.get("off") == "1"
        return templates.TemplateResponse(
            request, "account_two_factor.html", context, headers=NO_STORE
        )
    form = await auth.verified_form(request)
    if totp.is_enrolled(user):
        context = await _two_factor_context(request, user)
        context["error"] = _("Two-factor sign-in is on already.")
        return templates.TemplateResponse(
            request, "account_two_factor.html", context, status_code=409, headers=NO_STORE
        )
    try:
        codes = await totp.confirm_enrolment(
            request.app.state.runtime, user.id, str(form.get("code") or "")
        )
    except totp.TwoFactorError:
        context = await _two_factor_context(request, user)
        context["error"] = _("The code is not right. Check that your phone's time is correct.")
        return templates.TemplateResponse(
            request, "account_two_factor.html", context, status_code=422, headers=NO_STORE
        )
    return _codes_page(request, codes)


async def _confirmed(request: Request, user) -> tuple[bool, Response | None]:
    """The form's password checked: (True, None), or (False, the page saying why)."""
    form = await auth.verified_form(request)
    try:
        right = await _password_right(request, user, str(form.get("password") or ""))
    except SignInBusy:
        right = False
    if right and totp.is_enrolled(user):
        return True, None
    context = await _two_factor_context(request, user)
    context["error"] = (
        _("Your password is not right.") if not right else _("Two-factor sign-in is not on.")
    )
    return False, templates.TemplateResponse(
        request, "account_two_factor.html", context, status_code=422, headers=NO_STORE
    )


async def recovery_codes(request: Request) -> Response:
    """New recovery codes (the password first); the old ones stop working."""
    user = await auth.require_staff(request)
    right, refusal = await _confirmed(request, user)
    if not right:
        return refusal
    return _codes_page(request, await totp.new_recovery_codes(request.app.state.runtime, user.id))


async def disable_two_factor(request: Request) -> Response:
    """Turn two-factor sign-in off (the password first)."""
    user = await auth.require_staff(request)
    right, refusal = await _confirmed(request, user)
    if not right:
        return refusal
    await totp.disable(request.app.state.runtime, user.id)
    return RedirectResponse("/account/two-factor?off=1", status_code=303)


async def sign_out_all(request: Request) -> Response:
    """End every session of this user, this one too (a lost laptop, a shared computer)."""
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    await sign_out_everywhere(request.app.state.runtime, user.email)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


routes = [
    Route("/account/password", password_page, methods=["GET", "POST"]),
    Route(auth.TWO_FACTOR_SETUP, two_factor_page, methods=["GET", "POST"]),
    Route("/account/two-factor/recovery-codes", recovery_codes, methods=["POST"]),
    Route("/account/two-factor/disable", disable_two_factor, methods=["POST"]),
    Route("/account/sign-out-everywhere", sign_out_all, methods=["POST"]),
]
