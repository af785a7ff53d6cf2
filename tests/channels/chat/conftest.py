"""A chat channel for the chat tests, and a visitor speaking the widget's protocol over ASGI."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from sqlalchemy import select

from channels.chat.actions import create_chat_channel
from channels.chat.models import ChatChannel, ChatSession
from channels.email.accounts import create_account
from routing.actions import set_queue_routing
from routing.assign import set_presence
from tests.support import AsgiSocket
from tickets.inbox import receive
from tickets.queues import create_queue
from tresen.accounts import create_user
from tresen.clock import FrozenClock
from tresen.inbound import InboundMessage

ORIGIN = "https://shop.example.com"


@pytest.fixture
async def desk(runtime, smtp_server):
    """The runtime on a clock that moves when told, a chat channel "Shop", mail going out
    through the SMTP server."""
    runtime.clock = FrozenClock(runtime.clock.now())
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
        await create_chat_channel(tx, name="Shop", allowed_origins=[ORIGIN])
    return runtime


@pytest.fixture
async def chat_agent(runtime):
    """An agent online in the queue "Chat" (least loaded): chats are taken now."""
    user = await create_user(
        runtime,
        email="chat-agent@example.com",
        name="Clara Chat",
        role="agent",
        password="chat-agent-password",
    )
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Chat")
        await set_queue_routing(
            tx, queue.id, mode="least_loaded", members=[{"user_id": user.id, "role": "agent"}]
        )
        await set_presence(tx, user.id, "online")
    return user, queue.id


@pytest.fixture
async def chat_channel(runtime, chat_agent):
    """An active channel embedded on ORIGIN, routed to the queue "Chat"; its row and its
    identity secret."""
    async with runtime.transaction() as tx:
        row, secret = await create_chat_channel(
            tx, name="Shop", allowed_origins=[ORIGIN], queue_id=chat_agent[1]
        )
    return row, secret


class Visitor:
    """One widget: a socket to the app, frames as dicts."""

    def __init__(self, app, key: str, origin: str | None = ORIGIN, address="127.0.0.1") -> None:
        self.socket = AsgiSocket(app, f"/chat/{key}/socket", cookie="", origin=origin)
        self.socket.scope["client"] = (address, 50000)
        self.closed: int | None = None

    async def connect(self) -> dict:
        return await self.socket.connect()

    async def send(self, frame: dict | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        self.socket.to_app.put_nowait({"type": "websocket.receive", "text": text})

    async def frame(self, timeout: float = 10) -> dict:
        message = await self.socket.receive(timeout)
        if message["type"] == "websocket.close":
            self.closed = message.get("code", 1000)
            return {"type": "closed", "code": self.closed}
        return json.loads(message["text"])

    async def until(self, kind: str, timeout: float = 10) -> dict:
        """The next frame of this type (others before it are skipped)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            frame = await self.frame(max(left, 0.01))
            if frame["type"] == kind or frame["type"] == "closed":
                return frame

    async def collect(self, *kinds: str, timeout: float = 10) -> dict[str, dict]:
        """The next frame of each of these types, in whatever order they come."""
        found: dict[str, dict] = {}
        while len(found) < len(kinds):
            frame = await self.frame(timeout)
            assert frame["type"] != "closed", frame
            if frame["type"] in kinds:
                found.setdefault(frame["type"], frame)
        return found

    async def hello(self, **fields) -> dict:
        accepted = await self.connect()
        assert accepted["type"] == "websocket.accept", accepted
        await self.send({"type": "hello", "token": None, "last_id": 0, "lang": "en", **fields})
        return await self.frame()

    async def close(self) -> None:
        await self.socket.close()


@pytest.fixture
def visitor(app, chat_channel):
    made = []

    def make(**options) -> Visitor:
        found = Visitor(app, chat_channel[0].public_key, **options)
        made.append(found)
        return found

    yield make


async def chat_session(
    runtime, *, language="en", email=None, name="Kim", text=None, verified=False
) -> int:
    """A visitor's chat session; with `text`, their first message (a ticket, a customer)."""
    async with runtime.transaction() as tx:
        channel_id = await tx.session.scalar(select(ChatChannel.id))
        visitor_id = secrets.token_hex(8)
        row = ChatSession(
            channel_id=channel_id,
            key=secrets.token_urlsafe(18),
            visitor_id=visitor_id,
            identity=f"visitor:{visitor_id}",
            name=name,
            email=email,
            email_verified=verified,
            language=language,
            status="open",
            visitor_read_id=0,
            agent_read_id=0,
            code_attempts=0,
            created_at=tx.now(),
            last_seen_at=tx.now(),
        )
        tx.session.add(row)
        await tx.session.flush()
        session_id = row.id
    if text:
        await visitor_writes(runtime, session_id, text)
    return session_id


async def visitor_writes(runtime, session_id: int, text: str) -> int:
    """The visitor writes in the chat (as the socket delivers it); the ticket's id."""
    async with runtime.read() as session:
        row = await session.get(ChatSession, session_id)
    received = await receive(
        runtime,
        InboundMessage.model_validate(
            {
                "channel": "chat",
                "external_id": f"{row.key}:{secrets.token_hex(4)}",
                "from": {"kind": "chat", "value": row.identity, "name": row.name},
                "subject": f"Chat: {text[:60]}",
                "text": text,
                "conversation_id": row.key,
            }
        ),
    )
    async with runtime.transaction() as tx:
        (await tx.session.get(ChatSession, session_id)).ticket_id = received.ticket_id
    return received.ticket_id
