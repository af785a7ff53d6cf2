"""A ticket's page, live: new messages and changed fields appear as they happen, delivery
lines move as replies go out, and the agent sees who else has the ticket open, who is typing
and who replied since (who views a ticket is not stored: each open page announces itself
with `ticket.viewer` events, and pages already open answer a newcomer). A chat ticket's
page is also the live chat (agent_ui.chats)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from starlette.websockets import WebSocket

from agent_ui import bots as bots_ui
from agent_ui import chats
from agent_ui import ticket as ticket_page
from agent_ui.templating import render_fragment
from routing import status as routing_status
from tickets import queries
from tickets.bot_messages import BOT
from tickets.models import Ticket
from tresen.auth import CSRF_FIELD
from tresen.events import Event
from tresen.ids import parse_id
from tresen.live import Feed, Hub, Socket, accept_staff
from tresen.models import User

log = logging.getLogger(__name__)

TYPING_SECONDS = 6.0  # "is typing" shows this long after the last keystroke
# What re-renders the ticket's fields form (a message may change the state: a reply opens
# a new ticket, a customer's answer reopens a pending one).
FIELD_CHANGES = {"state", "priority", "queue_id", "assignee_id", "tags", "messages"}


@dataclass(frozen=True)
class TicketChange:
    """What a tick's ticket.updated events changed, loaded once for the ticket's pages."""

    ticket: Ticket
    entries: list  # history entries after the oldest page's last change
    fields: dict | None  # the fields form's choices, when a field changed
    sla: object
    deliveries: list
    bot: dict | None = None  # the bot banner's context, when the state changed


class TicketFeed(Feed):
    """The open pages of each ticket: messages and changes loaded once per ticket."""

    def topics(self, event: Event):
        if event.type in ("message.created", "ticket.updated", "ticket.viewer"):
            return (f"ticket:{event.data.get('ticket_id')}",)
        if event.type in chats.TICKET_EVENTS:
            return (f"ticket:{event.data.get('ticket_id')}",)
        return ()

    async def load(self, batch, sockets) -> None:
        messages: dict[str, list[int]] = {}  # topic → new messages
        deliveries: dict[str, set[int] | None] = {}  # topic → replies whose delivery moved
        changes: dict[str, set[str]] = {}  # topic → the ticket's changed fields
        for topic, events in batch.items():
            members = sockets[topic]
            for event in events:
                if event.type == "ticket.viewer":
                    for socket in members:
                        socket.push(("viewer", event.data))
                elif event.type in chats.TICKET_EVENTS:
                    for socket in members:
                        socket.push(("chat", event))
            message_ids = [e.data["message_id"] for e in events if e.type == "message.created"]
            if message_ids:
                messages[topic] = message_ids
            updates = [e for e in events if e.type == "ticket.updated"]
            changed = {f for e in updates for f in e.data.get("fields", ())}
            if updates and changed == {"delivery"}:
                # Only how replies are going out (queued, sending, sent: three events per
                # reply): their status lines, not the whole ticket again.
                named = [e.data.get("message_ids") for e in updates]
                deliveries[topic] = (
                    None if None in named else {i for ids in named for i in ids or ()}
                )
            elif updates:
                changes[topic] = changed
        if not (messages or deliveries or changes):
            return
        async with self.runtime.read() as session:
            # Every ticket's new messages in one query, and before any ticket's other
            # changes: under load a line written should not wait behind status redraws.
            wanted = {i for ids in messages.values() for i in ids}
            wanted |= {i for ids in deliveries.values() if ids for i in ids}
            found = await queries.messages_by_ids(session, wanted) if wanted else {}
            for topic, message_ids in messages.items():
                ticket_id = int(topic.removeprefix("ticket:"))
                for message_id in message_ids:
                    message = found.get(message_id)
                    if message is not None and message.ticket_id == ticket_id:
                        for socket in sockets[topic]:
                            socket.push(("message", message))
            for topic, named in deliveries.items():
                ticket_id = int(topic.removeprefix("ticket:"))
                if named is None:
                    sent = await queries.outbound_messages(session, ticket_id)
                else:
                    sent = [found[i] for i in sorted(named) if i in found]
                shown = [
                    m
                    for m in sent
                    if m.ticket_id == ticket_id
                    and m.outbox
                    and m.direction == "outbound"
                    and not m.internal
                ]
                for socket in sockets[topic]:
                    socket.push(("deliveries", shown))
            for topic, changed in changes.items():
                ticket_id = int(topic.removeprefix("ticket:"))
                change = await self._changed(session, ticket_id, changed, sockets[topic])
                for socket in sockets[topic]:
                    socket.push(("ticket", change))

    async def _changed(self, session, ticket_id: int, fields: set, members) -> TicketChange:
        ticket = await queries.get_ticket(session, ticket_id)
        since = min(s.state.last_change for s in members)
        entries, _last = await ticket_page.history_entries(session, ticket, since)
        return TicketChange(
            ticket=ticket,
            entries=entries,
            fields=await ticket_page.fields_context(session) if FIELD_CHANGES & fields else None,
            sla=await routing_status.sla_status(session, ticket_id, self.runtime.clock.now()),
            deliveries=[m for m in await queries.outbound_messages(session, ticket_id) if m.outbox]
            if "delivery" in fields
            else [],
            bot=await bots_ui.ticket_context(session, ticket) if "state" in fields else None,
        )


@dataclass
class TicketPage:
    """One ticket page's socket: who it is, and who else is on the ticket."""

    user: User
    ticket_id: int
    opened: datetime
    last_change: int
    csrf: str | None
    viewers: dict[int, dict] = field(default_factory=dict)  # others: name, typing until
    replied: dict[int, str] = field(default_factory=dict)  # others' replies since opened
    timers: set = field(default_factory=set)
    chat: chats.ChatPage | None = None  # a live chat's state (agent_ui.chats)
    bot_name: str | None = None  # the channel's bot, once its message showed live


def _collision(page: TicketPage) -> str:
    now = time.monotonic()
    shown = [
        {"name": v["name"], "typing": v.get("typing_until", 0) > now}
        for _id, v in sorted(page.viewers.items())
    ]
    return render_fragment("_collision.html", viewers=shown, replied=list(page.replied.values()))


async def render_ticket(socket: Socket, item) -> str | None:
    page: TicketPage = socket.state
    kind, data = item
    if kind == "collision":
        return _collision(page)
    if kind == "chat":
        return chats.render_chat(socket, data)
    if kind == "viewer":
        return await _viewer_event(socket, data)
    if kind == "deliveries":
        return "".join(_delivery_fragment(page, message) for message in data)
    if kind == "message":
        if data.auto_submitted == BOT and page.bot_name is None:
            # Read once per page, when the bot's first message shows live.
            async with socket.websocket.app.state.runtime.read() as session:
                page.bot_name = await bots_ui.bot_name(session, data.channel)
        html = render_fragment(
            "_live_message.html",
            message=data,
            csrf_token=page.csrf,
            csrf_field=CSRF_FIELD,
            bot_name=page.bot_name,
        )
        author = data.author_user_id
        if (
            author not in (None, page.user.id)
            and data.direction == "outbound"
            and not data.internal
            and data.created_at >= page.opened
        ):
            page.replied[data.id] = data.author_user.name
            html += _collision(page)
        return html
    change: TicketChange = data
    ticket = change.ticket
    html = render_fragment("_ticket_status.html", ticket=ticket, oob=True)
    entries = [e for e in change.entries if e.order > page.last_change]
    if entries:
        page.last_change = max(e.order for e in entries)
        html += render_fragment("_live_entries.html", entries=entries)
    if change.fields is not None:
        html += render_fragment(
            "_ticket_fields.html",
            ticket=ticket,
            oob=True,
            csrf_token=page.csrf,
            csrf_field=CSRF_FIELD,
            **change.fields,
        )
    html += render_fragment("_sla.html", sla=change.sla, ticket_state=ticket.state, oob=True)
    if change.bot is not None:  # the bot handed off, or an agent took over
        html += render_fragment(
            "bots_ticket_banner.html",
            ticket=ticket,
            oob=True,
            csrf_token=page.csrf,
            csrf_field=CSRF_FIELD,
            **change.bot,
        )
    for message in change.deliveries:
        html += _delivery_fragment(page, message)
    return html


def _delivery_fragment(page: TicketPage, message) -> str:
    return render_fragment(
        "_delivery.html", message=message, oob=True, csrf_token=page.csrf, csrf_field=CSRF_FIELD
    )


async def _viewer_event(socket: Socket, data: dict) -> str | None:
    page: TicketPage = socket.state
    if data.get("user_id") == page.user.id:
        return None
    other = data["user_id"]
    action = data.get("action")
    if action == "leave":
        page.viewers.pop(other, None)
    else:
        entry = page.viewers.setdefault(other, {"name": data.get("name", "?")})
        if action == "typing":
            entry["typing_until"] = time.monotonic() + TYPING_SECONDS
            timer = asyncio.create_task(_typing_expired(socket))
            page.timers.add(timer)
            timer.add_done_callback(page.timers.discard)
        if action == "join":  # a newcomer: tell them we are here too
            runtime = socket.websocket.app.state.runtime
            await runtime.publish("ticket.viewer", action="here", **_me(page))
    return _collision(page)


async def _typing_expired(socket: Socket) -> None:
    await asyncio.sleep(TYPING_SECONDS + 0.1)
    socket.push(("collision", None))


def _me(page: TicketPage) -> dict:
    return {"ticket_id": page.ticket_id, "user_id": page.user.id, "name": page.user.name}


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
    page = TicketPage(
        user,
        ticket_id,
        opened,
        parse_id(change) or 0,
        websocket.session.get("csrf"),
    )
    last_typing = 0.0

    async def on_message(body: dict) -> None:
        nonlocal last_typing
        if body.get("typing") and time.monotonic() - last_typing > 2:
            last_typing = time.monotonic()
            await runtime.publish("ticket.viewer", action="typing", **_me(page))
        await chats.on_ticket_message(runtime, page, body)

    async def join() -> None:
        await runtime.publish("ticket.viewer", action="join", **_me(page))

    try:
        await Hub.of(runtime).serve(
            websocket,
            user,
            TicketFeed,
            [f"ticket:{ticket_id}"],
            render_ticket,
            state=page,
            on_message=on_message,
            on_listening=join,
        )
    finally:
        for timer in page.timers:
            timer.cancel()
        try:
            await chats.stop(runtime, page)
            await runtime.publish("ticket.viewer", action="leave", **_me(page))
        except Exception:  # noqa: BLE001 - the server may be stopping; viewers time out
            log.debug("could not announce leaving ticket %s", ticket_id, exc_info=True)
