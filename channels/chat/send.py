"""Sending on the chat channel: a reply is in the conversation once stored; a visitor who
has left gets it by e-mail when they gave an address.

The outbox calls `send` once per attempt and records what it returns, so each branch does
at most one thing outside the database: nothing (the visitor's socket shows the reply, or
will when they come back), or one mail through the email channel.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Integer, String, column, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from channels.chat.mail import language_of
from channels.chat.models import ChatSession
from tresen import channel as channel_registry
from tresen.outbound import DeliveryError, OutboundMessage

# A visitor whose socket closed this recently may be reloading the page: ask the outbox to
# try again rather than mail them at once.
RELOADING = timedelta(seconds=30)

tickets = table("tickets", column("id", Integer), column("number", Integer))
messages = table(
    "messages",
    column("ticket_id", Integer),
    column("conversation_id", String),
)

MAIL = {
    "en": (
        "Re: your chat [#{number}]",
        "You can continue the conversation in the chat on our website.",
    ),
    "de": (
        "Re: Ihr Chat [#{number}]",
        "Sie können das Gespräch im Chat auf unserer Website fortsetzen.",
    ),
}


async def conversation_of(session: AsyncSession, outbound: OutboundMessage) -> ChatSession | None:
    """The chat session the reply belongs to: the visitor's session on the reply's ticket
    (found through its indexed number), else their newest one (a merged ticket's reply)."""
    by_visitor = (
        select(ChatSession)
        .where(ChatSession.identity == outbound.recipient)
        .order_by(ChatSession.id.desc())
        .limit(1)
    )
    found = await session.scalar(
        by_visitor.join(tickets, tickets.c.id == ChatSession.ticket_id).where(
            tickets.c.number == outbound.ticket_number
        )
    )
    return found or await session.scalar(by_visitor)


async def reply_address(session: AsyncSession, ticket_id: int) -> str | None:
    """Where `send` mails an answer on this ticket once the visitor has left: the address
    they typed in its conversation (unverified: it links nobody), if the desk can mail."""
    email = channel_registry.get("email")
    if email is None or email.send is None:
        return None
    # By the messages' conversation too: the bot may ask before the socket links the ticket.
    keys = select(messages.c.conversation_id).where(
        messages.c.ticket_id == ticket_id, messages.c.conversation_id.is_not(None)
    )
    return await session.scalar(
        select(ChatSession.email)
        .where(or_(ChatSession.ticket_id == ticket_id, ChatSession.key.in_(keys)))
        .order_by(ChatSession.id.desc())
        .limit(1)
    )


def whereabouts(row: ChatSession, now, away: timedelta) -> str:
    """Where the visitor is: "here" (a socket open and alive), "reloading" (their last socket
    closed a moment ago) or "gone"."""
    seen = row.last_seen_at or row.created_at
    if row.left_at is None and seen >= now - away:
        return "here"
    if row.left_at is not None and now - row.left_at < RELOADING:
        return "reloading"
    return "gone"


async def send(runtime, outbound: OutboundMessage) -> str | None:
    """Deliver a reply: in the chat while the visitor is there (or when no e-mail address is
    known), by e-mail once they have left or the chat has ended. Raises DeliveryError."""
    delivered = f"chat:{outbound.message_id}"
    async with runtime.read() as session:
        row = await conversation_of(session, outbound)
    if row is None:  # no widget conversation (an API integration's chat): stored is all
        return delivered
    now = runtime.clock.now()
    where = whereabouts(row, now, timedelta(seconds=runtime.settings.chat_away_seconds))
    if row.status != "ended":
        if where == "here":
            return delivered
        if where == "reloading":
            raise DeliveryError("the visitor left the chat a moment ago", permanent=False)
    email = channel_registry.get("email")
    if not row.email or email is None or email.send is None:
        return delivered  # shown when they come back: the widget resumes the conversation
    subject, footer = MAIL[language_of(row)]
    mail = OutboundMessage(
        channel="email",
        message_id=outbound.message_id,
        external_id=email.new_external_id(outbound.message_id, None)
        if email.new_external_id
        else None,
        sender=None,
        recipient=row.email,
        subject=subject.format(number=outbound.ticket_number),
        text=f"{outbound.text.rstrip()}\n\n-- \n{footer}\n",
        html=None,
        ticket_number=outbound.ticket_number,
        created_at=outbound.created_at,
        attachments=outbound.attachments,
        auto_submitted=outbound.auto_submitted,
    )
    # A DeliveryError goes to the outbox as it is: temporary ones are tried again (and the
    # visitor may be back by then), permanent ones are recorded.
    return await email.send(runtime, mail)
