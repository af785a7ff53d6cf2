"""Live updates: websockets that turn bus events into htmx out-of-band swaps.

Three sockets: a list page's (its rows and the views' counts), a ticket page's (new
messages, changed fields, who else is looking or typing), and every page's header
(notifications). Who views a ticket is not stored: each open page announces itself
with `ticket.viewer` events, and pages already open answer a newcomer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime

from sqlalchemy import func, select
from starlette.exceptions import HTTPException
from starlette.websockets import WebSocket, WebSocketDisconnect

from agent_ui import lists
from agent_ui import ticket as ticket_page
from agent_ui.filters import list_filter
from agent_ui.templating import render_fragment
from routing import status as routing_status
from tickets import queries
from tresen import auth
from tresen.auth import CSRF_FIELD
from tresen.models import Notification
from tresen.notifications import text_of, unread_count

log = logging.getLogger(__name__)

TICKET_EVENTS = ("ticket.created", "ticket.updated", "ticket_view.changed")
LIST_PAGE_SIZE = 50
LIST_REFRESH_SECONDS = 0.25
TYPING_SECONDS = 6.0  # "is typing" shows this long after the last keystroke
# What re-renders the ticket's fields form (a message may change the state: a reply opens
# a new ticket, a customer's answer reopens a pending one).
FIELD_CHANGES = {"state", "priority", "queue_id", "assignee_id", "tags", "messages"}


async def accept_staff(websocket: WebSocket):
    """The signed-in user, or None after refusing the socket."""
    if not auth.same_origin(websocket):
        await websocket.close(code=1008)
        return None
    user = await auth.session_user(websocket)
    if user is None:
        await websocket.close(code=1008)
        return None
    await websocket.accept()
    return user


async def pump(websocket: WebSocket, handle, on_message=None, on_listening=None) -> None:
    """Feed bus events to handle(event, queue) and send what it renders until the browser
    leaves; what the browser sends goes to on_message(dict). on_listening() runs once the
    events are subscribed to (an announcement made then cannot miss its answers)."""
    runtime = websocket.app.state.runtime
    async with runtime.bus.subscribe() as events:
        if on_listening is not None:
            await on_listening()
        closed = asyncio.create_task(_read(websocket, on_message))
        try:
            while True:
                getter = asyncio.create_task(events.get())
                await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                html = await handle(getter.result(), events)
                if html:
                    await websocket.send_text(html)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            closed.cancel()


async def _read(websocket: WebSocket, on_message) -> None:
    # Read until the browser disconnects; htmx sends forms as JSON objects.
    try:
        while True:
            raw = await websocket.receive_text()
            if on_message is None:
                continue
            try:
                body = json.loads(raw)
            except ValueError:
                continue
            if isinstance(body, dict):
                await on_message(body)
    except (WebSocketDisconnect, RuntimeError):
        return


async def desk_socket(websocket: WebSocket) -> None:
    """Every page's header: the unread badge, and a note for each notification that arrives."""
    user = await accept_staff(websocket)
    if user is None:
        return
    runtime = websocket.app.state.runtime
    async with runtime.read() as session:
        shown = await session.scalar(
            select(func.max(Notification.id)).where(Notification.user_id == user.id)
        )
    shown = shown or 0

    async def handle(event, _pending):
        nonlocal shown
        if event.type == "notification.created" and event.data.get("user_id") == user.id:
            async with runtime.read() as session:
                fresh = list(
                    await session.scalars(
                        select(Notification)
                        .where(Notification.user_id == user.id, Notification.id > shown)
                        .order_by(Notification.id)
                        .limit(10)
                    )
                )
            if not fresh:
                return None  # shown already with an earlier event of the same transaction
            shown = fresh[-1].id
            async with runtime.read() as session:
                unread = await unread_count(session, user.id)
            html = render_fragment("_badge.html", unread=unread, oob=True)
            for item in fresh:
                html += render_fragment("_toast.html", item=item, text=text_of(item))
            return html
        if event.type == "notifications.read" and event.data.get("user_id") == user.id:
            return render_fragment("_badge.html", unread=0, oob=True)
        return None

    await pump(websocket, handle)


async def console_socket(websocket: WebSocket) -> None:
    """The ticket list: the visible page and the views' counts re-rendered when tickets
    arrive or change.

    Bursts of events are coalesced, so a busy desk costs one query per interval
    per open list, not one per event.
    """
    user = await accept_staff(websocket)
    if user is None:
        return
    try:
        filters = list_filter(websocket, user)
    except HTTPException:
        await websocket.close(code=1008)
        return
    runtime = websocket.app.state.runtime
    cursor = websocket.query_params.get("cursor")
    view_key = websocket.query_params.get("view")
    loop = asyncio.get_running_loop()
    last_render = 0.0

    async def handle(event, pending: asyncio.Queue):
        nonlocal last_render
        if event.type not in TICKET_EVENTS and event.type != "bus.overflow":
            return None
        wait = last_render + LIST_REFRESH_SECONDS - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        # Whatever else arrived meanwhile is covered by this one rendering.
        while not pending.empty():
            pending.get_nowait()
        last_render = loop.time()
        now = runtime.clock.now()
        async with runtime.read() as session:
            try:
                tickets, _next = await queries.list_tickets(
                    session, filters, cursor=cursor, limit=LIST_PAGE_SIZE, now=now
                )
            except queries.CursorError:
                return None
            views = await lists.views_context(session, user, now, view_key)
        return render_fragment("_live_rows.html", tickets=tickets, now=now, **views)

    await pump(websocket, handle)


async def ticket_socket(websocket: WebSocket) -> None:
    """One ticket's page: new messages and changed fields appear as they happen, and the
    agent sees who else has it open, who is typing, and who replied since."""
    user = await accept_staff(websocket)
    if user is None:
        return
    ticket_id = websocket.path_params["ticket_id"]
    runtime = websocket.app.state.runtime
    try:
        opened = datetime.fromisoformat(websocket.query_params.get("opened", ""))
    except ValueError:
        opened = runtime.clock.now()
    change = websocket.query_params.get("change", "0")
    last_change = int(change) if change.isdigit() else 0
    viewers: dict[int, dict] = {}  # other users on this ticket: name, typing until
    replied: dict[int, str] = {}  # others' replies since the page was opened: id -> name
    me = {"ticket_id": ticket_id, "user_id": user.id, "name": user.name}
    last_typing = 0.0
    timers: set[asyncio.Task] = set()

    def collision() -> str:
        now = time.monotonic()
        shown = [
            {"name": v["name"], "typing": v.get("typing_until", 0) > now}
            for _id, v in sorted(viewers.items())
        ]
        return render_fragment("_collision.html", viewers=shown, replied=list(replied.values()))

    async def on_message(body: dict) -> None:
        nonlocal last_typing
        if body.get("typing") and time.monotonic() - last_typing > 2:
            last_typing = time.monotonic()
            await runtime.publish("ticket.viewer", action="typing", **me)

    async def handle(event, _pending):
        if event.type == "bus.overflow":
            return render_fragment("_stale.html")
        if event.type == "ticket.viewer":
            return await _viewer_event(event.data)
        if event.data.get("ticket_id") != ticket_id:
            return None
        async with runtime.read() as session:
            if event.type == "message.created":
                message = await queries.get_message(session, event.data["message_id"])
                if message is None or message.ticket_id != ticket_id:
                    return None
                html = render_fragment(
                    "_live_message.html",
                    message=message,
                    csrf_token=websocket.session.get("csrf"),
                    csrf_field=CSRF_FIELD,
                )
                author = message.author_user_id
                if (
                    author not in (None, user.id)
                    and message.direction == "outbound"
                    and not message.internal
                    and message.created_at >= opened
                ):
                    replied[message.id] = message.author_user.name
                    html += collision()
                return html
            if event.type == "ticket.updated":
                return await _ticket_changed(session, event)
        return None

    async def _viewer_event(data: dict) -> str | None:
        if data.get("ticket_id") != ticket_id or data.get("user_id") == user.id:
            return None
        other = data["user_id"]
        action = data.get("action")
        if action == "leave":
            viewers.pop(other, None)
        else:
            entry = viewers.setdefault(other, {"name": data.get("name", "?")})
            if action == "typing":
                entry["typing_until"] = time.monotonic() + TYPING_SECONDS
                timer = asyncio.create_task(_typing_expired())
                timers.add(timer)
                timer.add_done_callback(timers.discard)
            if action == "join":  # a newcomer: tell them we are here too
                await runtime.publish("ticket.viewer", action="here", **me)
        return collision()

    async def _typing_expired() -> None:
        await asyncio.sleep(TYPING_SECONDS + 0.1)
        try:
            await websocket.send_text(collision())
        except (WebSocketDisconnect, RuntimeError):
            pass

    async def _ticket_changed(session, event) -> str:
        nonlocal last_change
        ticket = await queries.get_ticket(session, ticket_id)
        html = render_fragment("_ticket_status.html", ticket=ticket, oob=True)
        changes, last_change = await ticket_page.history_entries(session, ticket, last_change)
        if changes:
            html += render_fragment("_live_entries.html", entries=changes)
        if FIELD_CHANGES & set(event.data.get("fields", ())):
            html += render_fragment(
                "_ticket_fields.html",
                ticket=ticket,
                oob=True,
                csrf_token=websocket.session.get("csrf"),
                csrf_field=CSRF_FIELD,
                **await ticket_page.fields_context(session),
            )
        html += render_fragment(
            "_sla.html",
            sla=await routing_status.sla_status(session, ticket_id, runtime.clock.now()),
            ticket_state=ticket.state,
            oob=True,
        )
        if "delivery" in event.data.get("fields", ()):
            for message in await queries.outbound_messages(session, ticket_id):
                if message.outbox is not None:
                    html += render_fragment(
                        "_delivery.html",
                        message=message,
                        oob=True,
                        csrf_token=websocket.session.get("csrf"),
                        csrf_field=CSRF_FIELD,
                    )
        return html

    async def join() -> None:
        await runtime.publish("ticket.viewer", action="join", **me)

    try:
        await pump(websocket, handle, on_message, join)
    finally:
        for timer in timers:
            timer.cancel()
        try:
            await runtime.publish("ticket.viewer", action="leave", **me)
        except Exception:  # noqa: BLE001 - the server may be stopping; viewers time out
            log.debug("could not announce leaving ticket %s", ticket_id, exc_info=True)
