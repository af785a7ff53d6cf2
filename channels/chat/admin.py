"""The chat channel's settings page in the console: the website chats, their look, where
they may be embedded, the embed line, and the identity secret (shown once). The console
draws it (`render`); the channel owns what it shows."""

from __future__ import annotations

from sqlalchemy import select, text
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from channels.chat.actions import (
    DEFAULT_COLORS,
    DEFAULT_GREETING,
    DEFAULT_PRECHAT,
    PRECHAT_FIELDS,
    chat_channel_json,
    create_chat_channel,
    rotate_identity_secret,
    snippet,
    update_chat_channel,
)
from channels.chat.models import ChatChannel
from tresen import auth
from tresen.forms import optional_id
from tresen.i18n import LANGUAGES
from tresen.runtime import ActionError

# Queues belong to the tickets room, which channels do not import: read as plain rows.
_QUEUES = text("SELECT id, name FROM queues ORDER BY name")
PAGE = "/admin/chat"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _values(form: FormData) -> dict:
    """The channel's fields the form holds (a field left out of the form is not changed)."""
    values: dict = {}
    if "name" in form:
        values["name"] = _text(form, "name")
    if "allowed_origins" in form:
        values["allowed_origins"] = [
            line.strip() for line in _text(form, "allowed_origins").splitlines() if line.strip()
        ]
    if "queue_id" in form:
        values["queue_id"] = optional_id(form.get("queue_id"), "queue")
    colors = {
        key: _text(form, f"color_{key}").strip()
        for key in DEFAULT_COLORS
        if _text(form, f"color_{key}").strip()
    }
    if colors:
        values["colors"] = colors
    greeting = {
        language: _text(form, f"greeting_{language}")
        for language in LANGUAGES
        if f"greeting_{language}" in form
    }
    if greeting:
        values["greeting"] = greeting
    if "avatar_url" in form:
        values["avatar_url"] = _text(form, "avatar_url").strip() or None
    prechat = {
        key: _text(form, f"prechat_{key}")
        for key in PRECHAT_FIELDS
        if _text(form, f"prechat_{key}")
    }
    if prechat:
        values["prechat"] = prechat
    return values


def admin_routes(render) -> list[Route]:
    """The page's routes, drawn by the console's `render`."""

    async def page(
        request: Request,
        *,
        error: str | None = None,
        form: dict | None = None,
        revealed: dict | None = None,
        status: int = 200,
    ) -> Response:
        runtime = request.app.state.runtime
        async with runtime.read() as session:
            rows = (await session.scalars(select(ChatChannel).order_by(ChatChannel.name))).all()
            queues = (await session.execute(_QUEUES)).all()
        names = {queue.id: queue.name for queue in queues}
        base_url = runtime.settings.base_url
        return render(
            request,
            "admin_chat.html",
            {
                "channels": [
                    {
                        **chat_channel_json(row),
                        "queue": names.get(row.queue_id),
                        "snippet": snippet(base_url, row),
                    }
                    for row in rows
                ],
                "queues": queues,
                "languages": LANGUAGES,
                "defaults": {
                    "colors": DEFAULT_COLORS,
                    "greeting": DEFAULT_GREETING,
                    "prechat": DEFAULT_PRECHAT,
                },
                "error": error,
                "form": form or {},
                "revealed": revealed,
                "saved": request.query_params.get("saved"),
            },
            status_code=status,
        )

    async def chat_settings(request: Request) -> Response:
        await auth.require_staff(request, role="admin")
        return await page(request)

    async def add_chat_channel(request: Request) -> Response:
        await auth.require_staff(request, role="admin")
        form = await auth.verified_form(request)
        values = _values(form)
        values.setdefault("name", "")
        values.setdefault("allowed_origins", [])
        try:
            async with request.app.state.runtime.transaction() as tx:
                row, secret = await create_chat_channel(tx, **values)
                name = row.name
        except ActionError as error:
            kept = {**values, "allowed_origins": "\n".join(values["allowed_origins"])}
            return await page(request, error=f"{error.field}: {error}", form=kept, status=422)
        # Shown here, once: it is stored sealed and no page shows it again.
        return await page(request, revealed={"name": name, "secret": secret, "new": True})

    async def change_chat_channel(request: Request) -> Response:
        await auth.require_staff(request, role="admin")
        form = await auth.verified_form(request)
        changes = _values(form)
        if "active" in form:
            changes["active"] = form.get("active") == "on"
        try:
            async with request.app.state.runtime.transaction() as tx:
                row = await _load(tx, request)
                await update_chat_channel(tx, row, changes)
        except ActionError as error:
            return await page(request, error=f"{error.field}: {error}", status=422)
        return RedirectResponse(f"{PAGE}?saved=channel", status_code=303)

    async def rotate_chat_secret(request: Request) -> Response:
        await auth.require_staff(request, role="admin")
        await auth.verified_form(request)
        async with request.app.state.runtime.transaction() as tx:
            row = await _load(tx, request)
            secret = await rotate_identity_secret(tx, row)
            name = row.name
        return await page(request, revealed={"name": name, "secret": secret, "new": False})

    return [
        Route(PAGE, chat_settings, name="admin_chat"),
        Route(f"{PAGE}/channels", add_chat_channel, methods=["POST"]),
        Route(f"{PAGE}/channels/{{channel_id:int}}", change_chat_channel, methods=["POST"]),
        Route(
            f"{PAGE}/channels/{{channel_id:int}}/rotate-secret",
            rotate_chat_secret,
            methods=["POST"],
        ),
    ]


async def _load(tx, request: Request) -> ChatChannel:
    row = await tx.session.get(ChatChannel, request.path_params["channel_id"])
    if row is None:
        raise HTTPException(404, "chat channel not found")
    return row
