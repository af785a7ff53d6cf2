"""Live chat in the console: the Chats page (offers, my chats, waiting chats) and the
ticket page in chat mode (visitor typing and presence, read receipts, end, transfer).

The chat channel is not imported (UI rooms import domain rooms only): its events are
published and matched by name, and its session row is read as a plain row (see
`visitor_state`). Offers and transfers are routing's (`routing.offers`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from agent_ui.templating import render_fragment, templates
from bots.models import BotConversation
from routing import offers
from routing.models import QueueMember
from tickets import queries
from tickets.actions import Actor, update_ticket
from tickets.models import Ticket
from tickets.queries import TicketFilter
from tickets.states import BOT, OPEN_STATES
from tresen import auth
from tresen import channel as channel_registry
from tresen.auth import CSRF_FIELD
from tresen.events import Event
from tresen.i18n import _
from tresen.ids import parse_id
from tresen.live import Feed, Hub, Socket, accept_staff
from tresen.models import User
from tresen.runtime import ActionError

log = logging.getLogger(__name__)

VISITOR_TYPING_SECONDS = 6.0  # "Visitor is typing…" shows this long after the last event
AGENT_TYPING_EVERY = 2.0  # the agent's typing goes to the visitor at most this often
# The chat events a ticket page shows (its socket's topic is the ticket).
TICKET_EVENTS = ("chat.typing", "chat.read", "chat.ended", "chat.visitor")
LIST_EVENTS = ("chat.offered", "chat.offer_answered")
TICKET_CHANGES = ("message.created", "ticket.updated", "ticket.created")
WAITING_LIMIT = 50


def is_live(ticket: Ticket) -> bool:
    """Whether the ticket is a live chat (its channel says so)."""
    return offers.is_live(ticket.channel)


# What a chat looks like ---------------------------------------------------------------------


@dataclass
class ChatRow:
    """One chat in a list: its ticket and what the agent needs to see at a glance."""

    ticket: Ticket
    last_text: str = ""
    last_from: str = ""  # visitor | agent
    last_author: User | None = None  # the agent who wrote the last message
    waiting_since: datetime | None = None  # the visitor's oldest unanswered message
    unread: bool = False
    expires_at: datetime | None = None  # offers: when it passes to the next agent
    handoff_reason: str | None = None  # the bot handed it to people, and why (a reason code)


async def visitor_state(session, ticket_id: int, now: datetime, away_seconds: int) -> dict | None:
    """The chat session of a ticket as the console shows it: a small read of the channel's
    `chat_sessions` row as a plain row (agent_ui may not import the channel)."""
    row = (
        await session.execute(
            text(
                "SELECT name, email, email_verified, last_seen_at, status, visitor_read_id,"
                " agent_read_id FROM chat_sessions WHERE ticket_id = :ticket"
                " ORDER BY id DESC LIMIT 1"
            ),
            {"ticket": ticket_id},
        )
    ).first()
    if row is None:
        return None
    seen = row.last_seen_at
    if isinstance(seen, str):  # SQLite through a text() query: no column type to convert
        seen = datetime.fromisoformat(seen)
    if seen is not None and seen.tzinfo is None:
        seen = seen.replace(tzinfo=now.tzinfo)
    online = (
        row.status == "open" and seen is not None and now - seen < timedelta(seconds=away_seconds)
    )
    return {
        "online": online,
        "name": row.name,
        "email": row.email,
        "email_verified": bool(row.email_verified),
        "ended": row.status == "ended",
        "visitor_read_id": row.visitor_read_id or 0,
        "agent_read_id": row.agent_read_id or 0,
    }


async def _handoffs(session, ticket_ids: list[int]) -> dict[int, tuple[str | None, datetime]]:
    """The chats the bot handed to people: why, and when (one read for a whole list)."""
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(
            BotConversation.ticket_id, BotConversation.handoff_reason, BotConversation.ended_at
        ).where(BotConversation.ticket_id.in_(ticket_ids), BotConversation.outcome == "handed_off")
    )
    return {r.ticket_id: (r.handoff_reason, r.ended_at) for r in rows}


async def _chat_row(
    session, ticket: Ticket, runtime, now: datetime, handoff: tuple | None = None
) -> ChatRow:
    """Last message, waiting since, unread: one ticket's messages read (a few chats each)."""
    full = await queries.get_ticket(session, ticket.id, with_messages=True)
    public = [m for m in (full.messages if full else []) if not m.internal]
    row = ChatRow(ticket=full or ticket)
    handed_at = None
    if handoff is not None:
        row.handoff_reason, handed_at = handoff
    if not public:
        return row
    # The agent reads what the customer (or a colleague) wrote, not the bot's own lines.
    people = [m for m in public if m.auto_submitted != BOT]
    last = (people or public)[-1]
    row.last_text = (last.text or "").strip()[:120]
    row.last_from = "visitor" if last.direction == "inbound" else "agent"
    row.last_author = last.author_user
    for message in reversed(public):
        # The bot's lines since its handoff ("… will answer you shortly") answer nothing.
        if handed_at and message.auto_submitted == BOT and message.created_at >= handed_at:
            continue
        if message.direction != "inbound":
            break
        row.waiting_since = message.created_at
    if row.last_from == "visitor":
        state = await visitor_state(session, ticket.id, now, runtime.settings.chat_away_seconds)
        row.unread = last.id > (state["agent_read_id"] if state else 0)
    return row


async def _my_queues(session, user_id: int) -> list[int]:
    """The queues the agent takes work from (a small read of routing's members table)."""
    rows = await session.scalars(
        select(QueueMember.queue_id).where(
            QueueMember.user_id == user_id, QueueMember.role == "agent"
        )
    )
    return list(rows)


async def _waiting(session, user: User, now: datetime) -> list[Ticket]:
    """Open chats nobody has, in the agent's queues (every queue when they are in none)."""
    mine = await _my_queues(session, user.id)
    found: dict[int, Ticket] = {}
    for channel in offers.live_channels():
        for queue_id in mine or [None]:
            filters = TicketFilter(
                state=list(OPEN_STATES),
                queue_id=queue_id,
                unassigned=True,
                channel=channel,
                sort="created",
            )
            tickets, _next = await queries.list_tickets(
                session, filters, limit=WAITING_LIMIT, now=now
            )
            found.update((t.id, t) for t in tickets)
    return sorted(found.values(), key=lambda t: t.created_at)


async def chat_lists(session, runtime, user: User, now: datetime) -> dict:
    """Offers waiting for the agent, their active chats, the waiting chats of their queues."""
    offered = await offers.pending_offers(session, user.id)
    expires = {item.ticket_id: item.expires_at for item in offered}
    # An offered chat is the agent's already (routing assigns it): listed once, as an offer.
    mine = [
        item.ticket_id
        for item in await offers.active_chats(session, user.id)
        if item.ticket_id not in expires
    ]
    tickets = {t.id: t for t in await queries.tickets_by_ids(session, [*expires, *mine])}
    waiting = await _waiting(session, user, now)
    handoffs = await _handoffs(session, [*tickets, *(t.id for t in waiting)])
    rows: dict[str, list[ChatRow]] = {"offers": [], "active": []}
    for ticket_id in expires:
        if ticket_id in tickets:
            row = await _chat_row(
                session, tickets[ticket_id], runtime, now, handoffs.get(ticket_id)
            )
            row.expires_at = expires[ticket_id]
            rows["offers"].append(row)
    for ticket_id in mine:
        if ticket_id in tickets:
            rows["active"].append(
                await _chat_row(session, tickets[ticket_id], runtime, now, handoffs.get(ticket_id))
            )
    rows["waiting"] = [
        await _chat_row(session, ticket, runtime, now, handoffs.get(ticket.id))
        for ticket in waiting
    ]
    return rows


def _status(error: ActionError) -> int:
    return 403 if error.forbidden else 409 if error.conflict else 422


# The Chats page -------------------------------------------------------------------------------


async def chats_page(request: Request) -> Response:
    user = await auth.require_staff(request)
    runtime = request.app.state.runtime
    now = runtime.clock.now()
    async with runtime.read() as session:
        lists = await chat_lists(session, runtime, user, now)
    context = {"now": now, "me_id": user.id, "notice": request.session.pop("flash", None), **lists}
    return templates.TemplateResponse(request, "chats.html", context)


async def accept(request: Request) -> Response:
    """Take an offered chat: on to its ticket."""
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    ticket_id = request.path_params["ticket_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            await offers.accept_offer(tx, ticket_id, user)
    except ActionError as error:
        request.session["flash"] = str(error)
        return RedirectResponse("/chats", status_code=303)
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


async def decline(request: Request) -> Response:
    """Pass an offered chat on (routing offers it to the next agent)."""
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            await offers.decline_offer(tx, request.path_params["ticket_id"], user)
    except ActionError as error:
        request.session["flash"] = str(error)
    return RedirectResponse("/chats", status_code=303)


async def end_chat(request: Request) -> Response:
    """Solve the chat's ticket and tell the visitor the chat has ended, in one transaction."""
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    ticket_id = request.path_params["ticket_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            ticket = await queries.get_ticket(tx.session, ticket_id)
            if ticket is None:
                raise HTTPException(404, "ticket not found")
            if not is_live(ticket):
                raise HTTPException(409, "this ticket is not a live chat")
            if ticket.state not in ("solved", "closed"):
                await update_ticket(tx, ticket, {"state": "solved"}, Actor(user_id=user.id))
            tx.emit("chat.ended", ticket_id=ticket.id, by="agent")
    except ActionError as error:
        raise HTTPException(422, str(error)) from None
    request.session["flash"] = _("The chat has ended.")
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


async def transfer(request: Request) -> Response:
    """Hand the chat to another agent or a queue (routing offers it there)."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    ticket_id = request.path_params["ticket_id"]
    kind, _sep, raw = str(form.get("to") or "").partition(":")
    target = parse_id(raw)
    if kind not in ("agent", "queue") or target is None:
        raise HTTPException(400, "choose an agent or a queue")
    try:
        async with request.app.state.runtime.transaction() as tx:
            if await queries.get_ticket(tx.session, ticket_id) is None:
                raise HTTPException(404, "ticket not found")
            await offers.transfer_chat(
                tx,
                ticket_id,
                user,
                to_agent_id=target if kind == "agent" else None,
                to_queue_id=target if kind == "queue" else None,
            )
    except ActionError as error:
        raise HTTPException(_status(error), str(error)) from None
    request.session["flash"] = _("The chat was transferred.")
    return RedirectResponse("/chats", status_code=303)


# The Chats page, live --------------------------------------------------------------------------


class ChatsFeed(Feed):
    """Every open Chats page: its lists again when an offer or a chat ticket changes (per
    user, a few reads; events of tickets on other channels cost one read per tick)."""

    tick = 0.3

    def topics(self, event: Event):
        if event.type in LIST_EVENTS or event.type in TICKET_CHANGES:
            return ("chats",)
        return ()

    async def load(self, batch, sockets) -> None:
        events, members = batch["chats"], sockets["chats"]
        now = self.runtime.clock.now()
        async with self.runtime.read() as session:
            if not any(e.type in LIST_EVENTS for e in events):
                ids = sorted({e.data["ticket_id"] for e in events})
                rows = await queries.list_rows(session, ids)
                if not any(is_live(t) for t in rows.values()):
                    return
            users = {s.who.id: s.who for s in members}
            lists = {
                uid: await chat_lists(session, self.runtime, u, now) for uid, u in users.items()
            }
        for socket in members:
            socket.push((now, lists[socket.who.id]))


def render_lists(socket: Socket, item) -> str:
    now, lists = item
    return render_fragment(
        "_chat_lists.html",
        oob=True,
        now=now,
        me_id=socket.who.id,
        csrf_token=socket.state,
        csrf_field=CSRF_FIELD,
        **lists,
    )


async def chats_socket(websocket: WebSocket) -> None:
    """The Chats page: offers, my chats and waiting chats change as they happen."""
    user = await accept_staff(websocket)
    if user is None:
        return
    runtime = websocket.app.state.runtime
    await Hub.of(runtime).serve(
        websocket, user, ChatsFeed, ["chats"], render_lists, state=websocket.session.get("csrf")
    )


# Every page's header: a new offer -------------------------------------------------------------


def offer_recipient(data: dict) -> int | None:
    """The agent a `chat.offered` event offers the chat to."""
    return data.get("agent_id") or data.get("user_id")


def render_offer_toast(data: dict) -> str:
    return render_fragment("_chat_offer_toast.html", offer=data)


# The ticket page in chat mode -------------------------------------------------------------------


@dataclass
class ChatPage:
    """What a ticket page's socket keeps for the chat (on ticket_live.TicketPage.chat)."""

    live: bool | None = None  # the ticket is a live chat (read once)
    visitor_typing_until: float = 0.0
    visitor_name: str | None = None
    agent_typing: bool = False
    agent_typing_at: float = 0.0
    read_sent: int = 0
    timers: set = field(default_factory=set)


def chat_of(page) -> ChatPage:
    if page.chat is None:
        page.chat = ChatPage()
    return page.chat


async def chat_context(session, runtime, ticket: Ticket) -> dict:
    """What the ticket page shows of the chat (nothing for tickets on other channels)."""
    if not is_live(ticket):
        return {"chat_mode": False}
    now = runtime.clock.now()
    state = await visitor_state(session, ticket.id, now, runtime.settings.chat_away_seconds)
    return {
        "chat_mode": True,
        "visitor": state,
        "read_id": state["visitor_read_id"] if state else 0,
    }


def render_chat(socket: Socket, event: Event | None) -> str | None:
    """A chat event on the ticket page (None: the visitor's typing may have expired)."""
    chat = chat_of(socket.state)
    now = time.monotonic()
    if event is None:
        typing = chat.visitor_typing_until > now
        return None if typing else render_fragment("_chat_typing.html", oob=True, typing=False)
    data = event.data
    if event.type == "chat.typing":
        if data.get("side") != "visitor":
            return None
        if data.get("typing"):
            chat.visitor_typing_until = now + VISITOR_TYPING_SECONDS
            chat.visitor_name = data.get("name") or chat.visitor_name
            timer = asyncio.create_task(_typing_expired(socket))
            chat.timers.add(timer)
            timer.add_done_callback(chat.timers.discard)
        else:
            chat.visitor_typing_until = 0.0
        return render_fragment(
            "_chat_typing.html",
            oob=True,
            typing=chat.visitor_typing_until > now,
            visitor_name=chat.visitor_name,
        )
    if event.type == "chat.visitor":
        return render_fragment("_chat_visitor.html", oob=True, visitor=data)
    if event.type == "chat.read":
        if data.get("side") != "visitor":
            return None
        return render_fragment("_chat_read.html", oob=True, read_id=data.get("message_id") or 0)
    if event.type == "chat.ended":
        return render_fragment("_chat_ended.html", oob=True, ended_by=data.get("by"))
    return None


async def _typing_expired(socket: Socket) -> None:
    await asyncio.sleep(VISITOR_TYPING_SECONDS + 0.1)
    socket.push(("chat", None))


async def stop(runtime, page) -> None:
    """The page's socket closes: its timers go, and the visitor stops seeing it type."""
    chat = page.chat
    if chat is None:
        return
    for timer in chat.timers:
        timer.cancel()
    if chat.agent_typing:
        chat.agent_typing = False
        await runtime.publish(
            "chat.typing", ticket_id=page.ticket_id, side="agent", typing=False, name=page.user.name
        )


async def on_ticket_message(runtime, page, body: dict) -> None:
    """What the agent's page says about the chat: typing a reply, the newest message seen."""
    chat = chat_of(page)
    if chat.live is None:
        async with runtime.read() as session:
            ticket = await queries.get_ticket(session, page.ticket_id)
        chat.live = ticket is not None and is_live(ticket)
    if not chat.live:
        return
    if "typing" in body and body.get("reply") is True:
        typing = body["typing"] is True
        now = time.monotonic()
        if typing and (chat.agent_typing and now - chat.agent_typing_at < AGENT_TYPING_EVERY):
            return
        if not typing and not chat.agent_typing:
            return
        chat.agent_typing = typing
        chat.agent_typing_at = now if typing else 0.0
        await runtime.publish(
            "chat.typing",
            ticket_id=page.ticket_id,
            side="agent",
            typing=typing,
            name=page.user.name,
        )
    read = body.get("read")
    if type(read) is int and read > chat.read_sent:
        async with runtime.read() as session:
            message = await queries.get_message(session, read)
        if message is None or message.ticket_id != page.ticket_id or message.internal:
            return
        channel = channel_registry.get(message.channel)
        if channel is None or channel.mark_read is None:
            return
        try:
            await channel.mark_read(runtime, page.ticket_id, read)
        except SQLAlchemyError:  # a busy database: the page says it again with the next line
            log.warning("could not mark chat %s read", page.ticket_id, exc_info=True)
            return
        chat.read_sent = read


routes = [
    Route("/chats", chats_page, name="chats"),
    Route("/chats/{ticket_id:int}/accept", accept, methods=["POST"]),
    Route("/chats/{ticket_id:int}/decline", decline, methods=["POST"]),
    Route("/tickets/{ticket_id:int}/chat/end", end_chat, methods=["POST"]),
    Route("/tickets/{ticket_id:int}/chat/transfer", transfer, methods=["POST"]),
    WebSocketRoute("/ws/chats", chats_socket),
]
