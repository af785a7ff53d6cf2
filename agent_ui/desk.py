"""The agent's own state in the console: presence (who gets new work) and notifications."""

from __future__ import annotations

from sqlalchemy import func, select, update
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from routing.assign import PRESENCE, set_presence
from routing.models import AgentProfile
from tresen import auth
from tresen.models import Notification


async def _presence_context(request: Request, user) -> dict:
    async with request.app.state.runtime.read() as session:
        presence = await session.scalar(
            select(AgentProfile.presence).where(AgentProfile.user_id == user.id)
        )
        unread = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
    return {"presence": presence or "offline", "choices": PRESENCE, "unread": unread}


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
        items = list(
            await session.scalars(
                select(Notification)
                .where(Notification.user_id == user.id)
                .order_by(Notification.id.desc())
                .limit(100)
            )
        )
    return templates.TemplateResponse(request, "notifications.html", {"items": items})


async def mark_read(request: Request) -> Response:
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    async with request.app.state.runtime.transaction() as tx:
        await tx.session.execute(
            update(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .values(read_at=tx.now())
        )
    return RedirectResponse("/notifications", status_code=303)


routes = [
    Route("/presence", presence, methods=["GET", "POST"]),
    Route("/notifications", notifications),
    Route("/notifications/read", mark_read, methods=["POST"]),
]
