"""The agent's own state in the console: presence (who gets new work) and notifications."""

from __future__ import annotations

from zoneinfo import available_timezones

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from routing.assign import PRESENCE, set_presence
from routing.queries import presence_of
from tresen import auth, totp
from tresen.accounts import AccountError, set_preferences
from tresen.i18n import LANGUAGES, _
from tresen.notifications import mark_all_read, recent, text_of, unread_count
from tresen.signatures import MAX_SIGNATURE, SignatureError, set_signatures


async def _presence_context(request: Request, user) -> dict:
    async with request.app.state.runtime.read() as session:
        presence = await presence_of(session, user.id)
        unread = await unread_count(session, user.id)
    return {"presence": presence, "choices": PRESENCE, "unread": unread}


async def presence(request: Request) -> Response:
    """GET: the header's presence switch (fetched by each page); POST: change it, back to
    the page it was changed on."""
    user = await auth.require_staff(request)
    if request.method == "POST":
        form = await auth.verified_form(request)
        chosen = str(form.get("presence") or "")
        if chosen not in PRESENCE:
            raise HTTPException(400, f"presence {chosen!r} is not one of {', '.join(PRESENCE)}")
        async with request.app.state.runtime.transaction() as tx:
            await set_presence(tx, user.id, chosen)
        back = request.headers.get("referer") or "/"
        if not back.startswith(str(request.base_url)):
            back = "/"  # only back into the console
        return RedirectResponse(back, status_code=303)
    return templates.TemplateResponse(
        request, "_presence.html", await _presence_context(request, user)
    )


async def notifications(request: Request) -> Response:
    user = await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        items = await recent(session, user.id)
    return templates.TemplateResponse(
        request, "notifications.html", {"items": [(item, text_of(item)) for item in items]}
    )


async def mark_read(request: Request) -> Response:
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    async with request.app.state.runtime.transaction() as tx:
        await mark_all_read(tx, user.id)
    return RedirectResponse("/notifications", status_code=303)


async def settings(request: Request) -> Response:
    """The agent's own settings: language, timezone, signatures, links to their account."""
    user = await auth.require_staff(request)
    if request.method == "POST":
        form = await auth.verified_form(request)
        if form.get("part") == "signatures":
            return await _save_signatures(request, user, form)
        try:
            await set_preferences(
                request.app.state.runtime,
                user.id,
                locale=str(form.get("locale") or ""),
                timezone=str(form.get("timezone") or "").strip(),
            )
        except AccountError as error:
            raise HTTPException(400, str(error)) from None
        return RedirectResponse("/settings?saved=1", status_code=303)
    return templates.TemplateResponse(
        request, "settings.html", _settings_context(request, user.signatures or {})
    )


def _settings_context(request: Request, signatures: dict) -> dict:
    return {
        "languages": LANGUAGES,
        "timezones": sorted(available_timezones()),
        "saved": request.query_params.get("saved") == "1",
        "signatures": signatures,
        "two_factor": totp.is_enrolled(request.state.user),
    }


async def _save_signatures(request: Request, user, form) -> Response:
    """The reply signatures, one per language; a bad one shows the form again as typed."""
    typed = {code: str(form.get(f"signature_{code}") or "") for code in LANGUAGES}
    try:
        await set_signatures(request.app.state.runtime, user.id, typed)
    except SignatureError:
        context = _settings_context(request, typed)
        context["signature_error"] = _(
            "A signature may have at most %(num)d characters.", num=MAX_SIGNATURE
        )
        return templates.TemplateResponse(request, "settings.html", context, status_code=422)
    return RedirectResponse("/settings?saved=1#signatures", status_code=303)


routes = [
    Route("/settings", settings, methods=["GET", "POST"]),
    Route("/presence", presence, methods=["GET", "POST"]),
    Route("/notifications", notifications),
    Route("/notifications/read", mark_read, methods=["POST"]),
]
