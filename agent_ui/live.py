"""Live updates: websockets that turn bus events into htmx out-of-band swaps."""

from __future__ import annotations

import asyncio
import logging

from starlette.exceptions import HTTPException
from starlette.websockets import WebSocket, WebSocketDisconnect

from agent_ui.filters import list_filter
from agent_ui.templating import render_fragment
from tickets import queries
from tresen import auth

log = logging.getLogger(__name__)

TICKET_EVENTS = ("ticket.created", "ticket.updated")


async def _accept_staff(websocket: WebSocket):
    """The signed-in user, or None after closing the socket with a policy violation."""
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
    """Feed bus events to handle(event) until the browser goes away."""
    runtime = websocket.app.state.runtime
    async with runtime.bus.subscribe() as events:
        closed = asyncio.create_task(_wait_closed(websocket))
        try:
            while not closed.done():
                getter = asyncio.create_task(events.get())
                done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                event = getter.result()
                if event.type == "bus.overflow":
                    await websocket.send_text(render_fragment("_stale.html"))
                    continue
                html = await handle(event)
                if html:
                    await websocket.send_text(html)
        except (WebSocketDisconnect, RuntimeError):
            pass
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
    """The ticket list: rows move to the top when tickets arrive or change."""
    user = await _accept_staff(websocket)
    if user is None:
        return
    try:
        filters = list_filter(websocket, user)
    except HTTPException:
        await websocket.close(code=1008)
        return
    runtime = websocket.app.state.runtime

    async def handle(event):
        if event.type not in TICKET_EVENTS:
            return None
        ticket_id = event.data["ticket_id"]
        async with runtime.read() as session:
            ticket = await queries.get_ticket(session, ticket_id)
        if ticket is None:
            return None
        return render_fragment(
            "_live_row.html", ticket=ticket, show=filters.matches(ticket)
        )

    await _pump(websocket, handle)


async def ticket_socket(websocket: WebSocket) -> None:
    """One ticket's page: new messages and changed fields appear as they happen."""
    user = await _accept_staff(websocket)
    if user is None:
        return
    ticket_id = websocket.path_params["ticket_id"]
    runtime = websocket.app.state.runtime

    async def handle(event):
        if event.data.get("ticket_id") != ticket_id:
            return None
        async with runtime.read() as session:
            if event.type == "message.created":
                message = await queries.get_message(session, event.data["message_id"])
                return render_fragment("_live_message.html", message=message)
            if event.type == "ticket.updated":
                ticket = await queries.get_ticket(session, ticket_id)
                return render_fragment("_ticket_status.html", ticket=ticket, oob=True)
        return None

    await _pump(websocket, handle)
