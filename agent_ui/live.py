"""Live updates: websockets that turn bus events into htmx out-of-band swaps."""

from __future__ import annotations

import asyncio
import logging

from starlette.exceptions import HTTPException
from starlette.websockets import WebSocket, WebSocketDisconnect

from agent_ui.filters import list_filter
from agent_ui.templating import render_fragment
from routing import status as routing_status
from tickets import queries
from tresen import auth
from tresen.auth import CSRF_FIELD

log = logging.getLogger(__name__)

TICKET_EVENTS = ("ticket.created", "ticket.updated")
LIST_PAGE_SIZE = 50
LIST_REFRESH_SECONDS = 0.25


async def _accept_staff(websocket: WebSocket):
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


async def _pump(websocket: WebSocket, handle) -> None:
    """Feed bus events to handle(event, queue) and send what it renders until the browser leaves."""
    runtime = websocket.app.state.runtime
    async with runtime.bus.subscribe() as events:
        closed = asyncio.create_task(_wait_closed(websocket))
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


async def _wait_closed(websocket: WebSocket) -> None:
    # htmx sends nothing we need; read until the browser disconnects.
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return


async def console_socket(websocket: WebSocket) -> None:
    """The ticket list: the visible page is re-rendered when tickets arrive or change.

    Bursts of events are coalesced, so a busy desk costs one query per interval
    per open list, not one per event.
    """
    user = await _accept_staff(websocket)
    if user is None:
        return
    try:
        filters = list_filter(websocket, user)
    except HTTPException:
        await websocket.close(code=1008)
        return
    runtime = websocket.app.state.runtime
    cursor = websocket.query_params.get("cursor")
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
        async with runtime.read() as session:
            try:
                tickets, _next = await queries.list_tickets(
                    session, filters, cursor=cursor, limit=LIST_PAGE_SIZE
                )
            except queries.CursorError:
                return None
        return render_fragment("_live_rows.html", tickets=tickets)

    await _pump(websocket, handle)


async def ticket_socket(websocket: WebSocket) -> None:
    """One ticket's page: new messages and changed fields appear as they happen."""
    user = await _accept_staff(websocket)
    if user is None:
        return
    ticket_id = websocket.path_params["ticket_id"]
    runtime = websocket.app.state.runtime

    async def handle(event, _pending):
        if event.type == "bus.overflow":
            return render_fragment("_stale.html")
        if event.data.get("ticket_id") != ticket_id:
            return None
        async with runtime.read() as session:
            if event.type == "message.created":
                message = await queries.get_message(session, event.data["message_id"])
                return render_fragment("_live_message.html", message=message)
            if event.type == "ticket.updated":
                ticket = await queries.get_ticket(session, ticket_id)
                html = render_fragment("_ticket_status.html", ticket=ticket, oob=True)
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
        return None

    await _pump(websocket, handle)
