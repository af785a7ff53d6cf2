"""The visitor's socket: `WS /chat/{key}/socket`, one conversation, live both ways.

The widget says `hello` (its visitor token, the newest message it holds); the server
answers `welcome` with everything it missed, then the socket serves frames both ways. A
visitor's message carries the widget's own id: it goes through the inbox under
`"{conversation}:{client id}"`, so a message sent again after a dropped connection or a
restart is stored once and acknowledged with the same id. Bad frames get an `error` frame
(never a dropped server); other sites' pages and forged identities are refused (1008).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import Integer, String, column, select, table
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from channels.chat import feed, protocol, sessions, tokens
from channels.chat.availability import availability, bot
from channels.chat.events import ChatEnded, ChatRead, ChatTyping
from channels.chat.models import ChatSession
from channels.chat.presence import Presence, announce
from channels.chat.protocol import FrameError
from tresen import rooms
from tresen.addresses import client_address
from tresen.database import unavailable
from tresen.email_address import EmailAddressError, normalize_email
from tresen.inbound import InboundMessage
from tresen.limits import RateLimiter
from tresen.live import REFUSED, Hub, Socket, close_quietly

log = logging.getLogger(__name__)

HELLO_SECONDS = 10  # the widget's hello must come this soon after the socket opens
TYPING_EVERY = 2.0  # a visitor's typing is passed on at most this often
TRY_LATER = 1013
SUBJECT_CHARS = 60  # a ticket subject made of a chat's first line, at most (with "…")
inbox = table(
    "inbox",
    column("channel", String),
    column("external_id", String),
    column("message_id", Integer),
    column("ticket_id", Integer),
)


@dataclass
class Visit:
    """One socket's visitor and conversation (the socket's state in the hub)."""

    channel: sessions.ChannelInfo
    visitor: tokens.Visitor
    identity: str  # the "chat" identity value its messages come from
    language: str
    page: str | None
    name: str | None = None
    email: str | None = None
    email_verified: bool = False
    user_id: str | None = None
    session_id: int | None = None
    session_key: str | None = None
    ticket_id: int | None = None
    status: str = "new"  # new | open | ended | offline
    read_id: int = 0
    last_typing: float = 0.0
    typing: bool = False
    present: int | None = None  # the session Presence counts this socket for

    def visitor_json(self) -> dict:
        return {"name": self.name, "email": self.email, "email_verified": self.email_verified}

    def visitor_frame(self) -> dict:
        return {"type": "visitor", **self.visitor_json()}


def rate_limiter(runtime) -> RateLimiter:
    found = runtime.caches.get("chat.rates")
    if found is None:
        settings = runtime.settings
        found = runtime.caches["chat.rates"] = RateLimiter(
            {
                "socket": settings.chat_connections_per_minute,
                "message": settings.chat_messages_per_minute,
                # Several visitors behind one address (an office) write more than one.
                "address": settings.chat_messages_per_minute * 5,
                # Every frame of one visitor (typing, read receipts, forms, pings), and of
                # all visitors behind one address.
                "frame": settings.chat_messages_per_minute * 5,
                "address-frame": settings.chat_messages_per_minute * 20,
                # Codes mailed to addresses a visitor typed: few, whoever asks.
                "code": 3,
            },
            max_keys=settings.rate_limit_addresses,
        )
    return found


async def chat_socket(websocket: WebSocket) -> None:
    runtime = websocket.app.state.runtime
    address = client_address(websocket.scope)
    # Counted before anything is looked up: knocking costs the knocker, not the database.
    if rate_limiter(runtime).take("socket", address):
        await websocket.close(code=TRY_LATER)
        return
    channel = await sessions.channel_info(runtime, websocket.path_params["key"])
    if channel is None or not channel.allows(websocket.headers.get("origin")):
        await websocket.close(code=REFUSED)
        return
    open_here = runtime.caches.setdefault("chat.sockets", {})
    limit = runtime.settings.chat_sockets_per_address
    if limit and open_here.get(address, 0) >= limit:
        await websocket.close(code=TRY_LATER)
        return
    open_here[address] = open_here.get(address, 0) + 1
    try:
        await _serve(runtime, websocket, channel)
    finally:
        open_here[address] -= 1
        if not open_here[address]:
            del open_here[address]


async def _serve(runtime, websocket: WebSocket, channel) -> None:
    address = client_address(websocket.scope)
    await websocket.accept()
    try:
        visit, hello = await _hello(runtime, websocket, channel)
    except FrameError as error:
        await _refuse(websocket, error)
        return
    except WebSocketDisconnect:
        return  # gone before saying hello
    except (TimeoutError, RuntimeError, ConnectionError):
        await close_quietly(websocket, REFUSED)
        return
    presence = Presence.of(runtime)
    hub = Hub.of(runtime)
    topics = [feed.topic(visit.ticket_id)] if visit.ticket_id else []

    async def on_text(socket: Socket, raw) -> None:
        try:
            limiter = rate_limiter(runtime)
            if limiter.take("frame", visit.visitor.visitor_id) or limiter.take(
                "address-frame", address
            ):
                raise FrameError("rate_limited", "too many frames: slow down")
            frame = protocol.parse(raw)
            await _handle(runtime, hub, presence, socket, frame)
        except FrameError as error:
            socket.push(("frame", error.frame()))

    async def welcome() -> None:
        # Listening already: a message stored from now on reaches the socket; what was
        # stored before is in the welcome (the widget keeps each id once).
        await _welcome(runtime, websocket, visit, hello)
        if visit.session_id is not None:
            await presence.came(visit)

    try:
        await hub.serve(
            websocket,
            f"chat:{visit.visitor.visitor_id}",
            feed.VisitorFeed,
            topics,
            _render,
            state=visit,
            on_text=on_text,
            on_listening=welcome,
        )
    finally:
        try:
            await presence.left(visit)
        except Exception:  # noqa: BLE001 - the server may be stopping; presence times out
            log.debug("could not record that chat %s was left", visit.session_id, exc_info=True)


async def _hello(runtime, websocket: WebSocket, channel) -> tuple[Visit, dict]:
    """Who the hello names, and their conversation (nothing sent yet)."""
    raw = await asyncio.wait_for(websocket.receive_text(), HELLO_SECONDS)
    hello = protocol.parse(raw)
    if hello["type"] != "hello":
        raise FrameError("bad_frame", "the first frame must be hello")
    secret_key = runtime.settings.secret_key
    visitor = tokens.read_visitor_token(secret_key, hello["token"], channel.id)
    visitor = visitor or tokens.new_visitor(channel.id)
    identity = f"visitor:{visitor.visitor_id}"
    claimed = hello["identity"]
    user_id = email = name = None
    email_verified = False
    if claimed is not None:
        if not tokens.vouched(channel.identity_secret, claimed["user_id"], claimed["user_hash"]):
            raise FrameError("identity_refused", "the user's signature (user_hash) is wrong")
        user_id = claimed["user_id"]
        identity = f"user:{channel.id}:{user_id}"
        name = claimed["name"]
        if claimed["email"]:
            try:
                email = normalize_email(claimed["email"])
            except EmailAddressError:
                email = None
            email_verified = email is not None and tokens.vouched(
                channel.identity_secret, email, claimed["email_hash"]
            )
    visit = Visit(
        channel=channel,
        visitor=visitor,
        identity=identity,
        language=hello["lang"] or "en",
        page=hello["page"],
        name=name,
        email=email,
        email_verified=email_verified,
        user_id=user_id,
    )
    async with runtime.read() as session:
        row = await sessions.latest_session(session, channel.id, identity)
        if row is not None and not (hello["new"] and row.status != "open"):
            _resume(visit, row)
            if visit.ticket_id is None:
                # Its first message was stored but the link to the ticket was not written.
                visit.ticket_id = await sessions.conversation_ticket(session, row.key)
    if visit.session_id is not None:
        await _remember_claims(runtime, visit, row)
    return visit, hello


async def _welcome(runtime, websocket: WebSocket, visit: Visit, hello: dict) -> None:
    channel = visit.channel
    agent_read_id = 0
    bot_name = None
    async with runtime.read() as session:
        messages, files = [], {}
        if visit.ticket_id is not None:
            messages = await sessions.messages_after(
                session, visit.ticket_id, visit.identity, hello["last_id"]
            )
            files = await sessions.attachments_of(session, [m.id for m in messages])
            if any(feed.is_bot(m) for m in messages):
                bot_name = await sessions.bot_name(session)
        agent = await sessions.agent_of(session, visit.ticket_id) if visit.ticket_id else None
        if visit.session_id is not None:
            agent_read_id = await sessions.agent_read(session, visit.session_id)
    await websocket.send_text(
        feed.dumps(
            {
                "type": "welcome",
                "token": tokens.visitor_token(runtime.settings.secret_key, visit.visitor),
                "status": visit.status,
                "visitor": visit.visitor_json(),
                "agent": {"name": agent, "avatar_url": channel.avatar_url} if agent else None,
                "messages": [
                    feed.message_frame(
                        m,
                        files.get(m.id, []),
                        channel.public_key,
                        visit.session_key,
                        runtime.settings.secret_key,
                        bot_name,
                    )
                    for m in messages
                ],
                "agent_read_id": agent_read_id,
                "available": await availability(runtime, channel.queue_id),
                "bot": await bot(runtime, channel.queue_id, visit.language),
                "prechat": {
                    "name": channel.prechat_mode("name"),
                    "email": channel.prechat_mode("email"),
                },
            }
        )
    )


def _resume(visit: Visit, row: ChatSession) -> None:
    visit.session_id, visit.session_key, visit.ticket_id = row.id, row.key, row.ticket_id
    visit.status = row.status
    visit.read_id = row.visitor_read_id
    # What the site vouched for in this hello wins; what the visitor typed before is kept.
    visit.name = visit.name or row.name
    if visit.email is None or (row.email == visit.email and row.email_verified):
        visit.email, visit.email_verified = row.email, row.email_verified or visit.email_verified


async def _remember_claims(runtime, visit: Visit, row: ChatSession) -> None:
    changes = {}
    if visit.name and visit.name != row.name:
        changes["name"] = visit.name
    if visit.email != row.email or visit.email_verified != row.email_verified:
        changes.update(email=visit.email, email_verified=visit.email_verified)
        if visit.email != row.email:
            changes.update(code_hash=None, code_expires_at=None)
    if changes:
        await sessions.update_session(runtime, row.id, **changes)


def _render(socket: Socket, item) -> str | None:
    kind, value = item
    if kind == "json":
        return value
    return feed.dumps(value)


async def _handle(runtime, hub: Hub, presence: Presence, socket: Socket, frame: dict) -> None:
    visit: Visit = socket.state
    kind = frame["type"]
    if kind == "ping":
        socket.push(("frame", {"type": "pong"}))
    elif kind == "message":
        await _message(runtime, hub, presence, socket, frame)
    elif kind == "typing":
        await _typing(runtime, visit, frame["typing"])
    elif kind == "read":
        if visit.ticket_id is not None and frame["id"] > visit.read_id:
            visit.read_id = frame["id"]
            await runtime.publish(
                ChatRead(ticket_id=visit.ticket_id, side="visitor", message_id=frame["id"])
            )
    elif kind == "prechat":
        await _prechat(runtime, socket, frame)
    elif kind == "hello":
        raise FrameError("bad_frame", "hello comes once, first")
    else:
        await _mail_frame(runtime, hub, presence, socket, frame)


async def _typing(runtime, visit: Visit, typing: bool) -> None:
    if visit.ticket_id is None:
        return
    now = time.monotonic()
    if typing and visit.typing and now - visit.last_typing < TYPING_EVERY:
        return
    if not typing and not visit.typing:
        return
    visit.typing, visit.last_typing = typing, now
    await runtime.publish(
        ChatTyping(ticket_id=visit.ticket_id, side="visitor", typing=typing, name=visit.name)
    )


async def _message(runtime, hub: Hub, presence: Presence, socket: Socket, frame: dict) -> None:
    visit: Visit = socket.state
    client_id = frame["client_id"]
    limiter = rate_limiter(runtime)
    wait = limiter.take("message", visit.visitor.visitor_id) or limiter.take(
        "address", client_address(socket.websocket.scope)
    )
    if wait:
        raise FrameError(
            "rate_limited",
            f"too many messages: try again in {max(1, round(wait))} s",
            client_id=client_id,
            retry_after=max(1, round(wait)),
        )
    offline = visit.status in ("new", "ended")
    if offline:
        queue_id = visit.channel.queue_id
        answer = await availability(runtime, queue_id)
        # With the bot on, nobody leaves a message for lack of agents: the bot answers.
        offline = not answer.get("available", True)
        offline = offline and await bot(runtime, queue_id, visit.language) is None
    missing = _missing_prechat(visit, offline)
    if missing:
        raise FrameError(
            "prechat_required",
            "please fill in the form first",
            fields=missing,
            client_id=client_id,
        )
    await _ensure_session(runtime, hub, presence, socket, offline=offline)
    external_id = f"{visit.session_key}:{client_id}"
    try:
        stored, ticket_id = await stored_message(runtime, external_id)
        if stored is None:
            received = await rooms.deliver(
                runtime, inbound_message(visit, external_id, frame["text"])
            )
            stored, ticket_id = received.message_id, received.ticket_id
        # Also for a resend: the link may not have been written the first time.
        if ticket_id and ticket_id != visit.ticket_id:
            await _on_ticket(runtime, hub, socket, ticket_id)
    except Exception as error:
        if unavailable(error):
            raise FrameError(
                "unavailable",
                "the message could not be stored now: it will be sent again",
                client_id=client_id,
            ) from None
        raise
    socket.push(
        (
            "frame",
            {
                "type": "ack",
                "client_id": client_id,
                "id": stored,
                "at": runtime.clock.now().isoformat(),
            },
        )
    )


def _missing_prechat(visit: Visit, offline: bool) -> list[str]:
    missing = []
    if visit.channel.prechat_mode("name") == "required" and not visit.name:
        missing.append("name")
    if (offline or visit.channel.prechat_mode("email") == "required") and not visit.email:
        missing.append("email")
    return missing


async def stored_message(runtime, external_id: str) -> tuple[int | None, int | None]:
    """The message and ticket of a message already received under this id (a resend);
    (None, None) when it is new.

    Asked before the inbox so that a resend is acknowledged whatever changed meanwhile
    (the visitor gave a name: the inbox would take it for another message)."""
    async with runtime.read() as session:
        row = (
            await session.execute(
                select(inbox.c.message_id, inbox.c.ticket_id).where(
                    inbox.c.channel == "chat", inbox.c.external_id == external_id
                )
            )
        ).first()
    return (None, None) if row is None else (row.message_id, row.ticket_id)


def subject_from(text: str, limit: int = SUBJECT_CHARS) -> str:
    """The first line of a chat message as a subject: cut on a word, with an ellipsis."""
    line = next((" ".join(row.split()) for row in text.splitlines() if row.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    # Back to the last space, unless that would leave too little (one very long word).
    if " " in cut and cut.rfind(" ") >= limit // 2:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def inbound_message(visit: Visit, external_id: str, text: str, attachments=()) -> InboundMessage:
    subject = subject_from(text) or (attachments[0].filename if attachments else "")
    return InboundMessage(
        channel="chat",
        external_id=external_id,
        **{"from": {"kind": "chat", "value": visit.identity, "name": visit.name}},
        subject=f"Chat: {subject}",
        text=text,
        conversation_id=visit.session_key,
        queue_id=visit.channel.queue_id,
        language=visit.language,
        attachments=list(attachments),
        raw={"page": visit.page, "language": visit.language, "chat_channel": visit.channel.id},
    )


async def _ensure_session(runtime, hub, presence, socket: Socket, *, offline: bool = False) -> None:
    """The conversation's row, made with the first message (or a code asked for); joined
    when another tab of the visitor began it meanwhile."""
    visit: Visit = socket.state
    if visit.session_id is not None and visit.status != "ended":
        return
    ended = visit.session_id
    await presence.left(visit)  # an ended conversation: the next message starts a new one
    joined = None
    async with runtime.transaction() as tx:
        row = await sessions.latest_session(tx.session, visit.channel.id, visit.identity)
        if row is not None and row.status != "ended" and row.id != ended:
            joined = row
        else:
            visit.session_id = await sessions.create_session(
                tx,
                visit.channel,
                visit.visitor.visitor_id,
                visit.identity,
                name=visit.name,
                email=visit.email,
                user_id=visit.user_id,
                language=visit.language,
                page_url=visit.page,
                email_verified=visit.email_verified,
                status="offline" if offline else "open",
            )
    if joined is not None:
        _resume(visit, joined)
        if visit.ticket_id is not None:
            await hub.add_topic(socket, feed.topic(visit.ticket_id))
    else:
        async with runtime.read() as session:
            visit.session_key = await session.scalar(
                select(ChatSession.key).where(ChatSession.id == visit.session_id)
            )
        visit.status, visit.ticket_id, visit.read_id = ("offline" if offline else "open"), None, 0
    await presence.came(visit)


async def _on_ticket(runtime, hub: Hub, socket: Socket, ticket_id: int) -> None:
    """The conversation has its ticket: remember it, listen to it, link a verified e-mail."""
    visit: Visit = socket.state
    await sessions.update_session(runtime, visit.session_id, ticket_id=ticket_id)
    await hub.add_topic(socket, feed.topic(ticket_id))
    visit.ticket_id = ticket_id  # only now: a failure above is tried again with the resend
    # Its first messages were published before this socket listened to the ticket.
    async with runtime.read() as session:
        rows = await sessions.messages_after(session, ticket_id, visit.identity, 0)
        files = await sessions.attachments_of(session, [row.id for row in rows])
        bot_name = await sessions.bot_name(session) if any(map(feed.is_bot, rows)) else None
    for row in rows:
        frame = feed.message_frame(
            row,
            files.get(row.id, []),
            visit.channel.public_key,
            visit.session_key,
            runtime.settings.secret_key,
            bot_name,
        )
        socket.push(("frame", frame))
    if visit.email_verified and visit.email:
        from channels.chat import mail

        async with runtime.transaction() as tx:
            row = await tx.session.get(ChatSession, visit.session_id)
            customer_id = await mail.chat_customer(tx, visit.identity)
            if row is not None and customer_id is not None:
                await mail.link_verified_email(tx, row, customer_id)
    await announce(runtime, visit, online=True)


async def _prechat(runtime, socket: Socket, frame: dict) -> None:
    visit: Visit = socket.state
    changes = {}
    if frame["name"] is not None:
        visit.name = " ".join(frame["name"].split())[:200] or None
        changes["name"] = visit.name
    if frame["email"] is not None:
        try:
            email = normalize_email(frame["email"])
        except EmailAddressError as error:
            raise FrameError("invalid", str(error), field="email") from None
        if email != visit.email:
            visit.email, visit.email_verified = email, False
            # A code mailed to the address before is no good for this one.
            changes.update(email=email, email_verified=False, code_hash=None, code_expires_at=None)
    if changes and visit.session_id is not None:
        await sessions.update_session(runtime, visit.session_id, **changes)
        await announce(runtime, visit, online=True)
    socket.push(("frame", visit.visitor_frame()))


async def _mail_frame(runtime, hub, presence, socket: Socket, frame: dict) -> None:
    """verify_email, verify_code, transcript, end: each needs the conversation's row."""
    from channels.chat import mail

    visit: Visit = socket.state
    kind = frame["type"]
    if kind == "end":
        if visit.session_id is None or visit.status == "ended":
            socket.push(("frame", {"type": "ended", "by": "visitor"}))
            return
        async with runtime.transaction() as tx:
            await tx.session.execute(
                ChatSession.__table__.update()
                .where(ChatSession.id == visit.session_id)
                .values(status="ended", ended_at=tx.now())
            )
            if visit.ticket_id is not None:
                tx.emit(ChatEnded(ticket_id=visit.ticket_id, by="visitor"))
        visit.status = "ended"
        if visit.ticket_id is None:
            socket.push(("frame", {"type": "ended", "by": "visitor"}))
        return
    try:
        if kind == "verify_email":
            if rate_limiter(runtime).take("code", client_address(socket.websocket.scope)):
                raise FrameError("rate_limited", "too many codes asked for: try again later")
            if visit.session_id is None:  # (an ended conversation's row serves as well)
                await _ensure_session(runtime, hub, presence, socket)
            await mail.send_code(runtime, visit.session_id, frame["email"])
            visit.email = normalize_email(frame["email"])
            visit.email_verified = False
            socket.push(("frame", {"type": "code_sent", "email": visit.email}))
        elif kind == "verify_code":
            if visit.session_id is None:
                raise FrameError("code_expired", "ask for a code first")
            answer = await mail.check_code(runtime, visit.session_id, frame["code"])
            visit.email, visit.email_verified = answer["email"], answer["email_verified"]
            socket.push(("frame", visit.visitor_frame()))
            await announce(runtime, visit, online=True)
        elif kind == "transcript":
            if visit.session_id is None:
                raise FrameError("invalid", "there is no conversation yet", field="transcript")
            sent_to = await mail.send_transcript(runtime, visit.session_id)
            socket.push(("frame", {"type": "transcript_sent", "email": sent_to}))
    except mail.ChatMailError as error:
        extra = {"field": error.field} if error.field else {}
        raise FrameError(error.code, str(error), **extra) from None
    except (ValueError, EmailAddressError) as error:
        raise FrameError("invalid", str(error), field="email") from None


async def _refuse(websocket: WebSocket, error: FrameError) -> None:
    try:
        await websocket.send_text(feed.dumps(error.frame()))
    except (RuntimeError, ConnectionError):
        pass
    await close_quietly(websocket, REFUSED)


routes = [WebSocketRoute("/chat/{key}/socket", chat_socket)]
