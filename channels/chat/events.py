"""The chat's events: typing, read receipts, a chat ended, the visitor came or left."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from channels.chat.models import ChatSession
from tresen.events import Payload
from tresen.handlers import handler


@dataclass(frozen=True)
class ChatTyping(Payload, type="chat.typing"):
    """Someone is (or stopped) writing in a chat; published, nothing stored."""

    ticket_id: int
    side: str  # "visitor" | "agent"
    typing: bool
    name: str | None = None


@dataclass(frozen=True)
class ChatRead(Payload, type="chat.read"):
    """One side has seen the conversation up to this message."""

    ticket_id: int
    side: str
    message_id: int


@dataclass(frozen=True)
class ChatEnded(Payload, type="chat.ended"):
    ticket_id: int
    by: str  # "agent" | "visitor"


@dataclass(frozen=True)
class ChatVisitor(Payload, type="chat.visitor"):
    """The visitor came or left, or gave a name or an e-mail address."""

    ticket_id: int
    online: bool
    name: str | None = None
    email: str | None = None
    email_verified: bool = False


@handler(ChatEnded, name="chat.session_ended")
async def end_session(tx, event: ChatEnded) -> None:
    """The conversation of a chat the agent (or the visitor) ended is over for the widget:
    the visitor's next message starts a new one."""
    connection = await tx.session.connection()
    await connection.execute(
        update(ChatSession)
        .where(ChatSession.ticket_id == event.ticket_id, ChatSession.status != "ended")
        .values(status="ended", ended_at=tx.now())
    )
