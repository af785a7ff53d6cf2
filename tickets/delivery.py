"""Messages going out: whom a reply goes to, the outbox row, deliveries that came back."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from customers.models import Identity
from tickets.events import OutboxQueued
from tickets.fields import TicketError
from tickets.models import Message, OutboxMessage, Ticket
from tresen import channel as channel_registry
from tresen.html import text_to_html
from tresen.runtime import Transaction


async def reply_addresses(
    tx: Transaction, ticket_id: int, customer_id: int, channel: str
) -> tuple[str | None, str | None, str | None]:
    """Whom a reply on this channel goes to, from which of our addresses, and what is wrong.

    The address the customer last wrote from on this ticket, answered from the address
    they wrote to; otherwise the customer's first identity of the channel's kind.
    """
    kinds = [kind.name for kind in channel_registry.describe(channel).identity_kinds]
    connection = await tx.session.connection()
    last = (
        await connection.execute(
            select(Message.sender, Message.recipient)
            .where(
                Message.ticket_id == ticket_id,
                Message.direction == "inbound",
                Message.channel == channel,
                Message.internal.is_(False),
                Message.auto_submitted.is_(None),
                Message.sender.is_not(None),
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
    ).first()
    if last is not None:
        return last.sender, last.recipient, None
    recipient = await connection.scalar(
        select(Identity.value)
        .where(Identity.customer_id == customer_id, Identity.kind.in_(kinds))
        .order_by(Identity.bounced_at.is_not(None), Identity.id)
        .limit(1)
    )
    if recipient is None:
        return None, None, f"customer has no {' or '.join(kinds)} identity"
    return recipient, None, None


async def queue_reply(
    tx: Transaction, ticket: Ticket, message: Message, chosen: str | None = None
) -> None:
    """A staff reply goes to the customer on the message's channel, through the outbox.

    To `chosen` when given (it must be one of the customer's identities of the
    channel's kind), else to where `reply_addresses` says.
    """
    channel = channel_registry.describe(message.channel)
    if channel.send is None:
        # Refused now, while the agent is there to choose another way, not failed later.
        raise TicketError("channel", channel.why_not())
    recipient, our_address, problem = await reply_addresses(
        tx, ticket.id, ticket.customer_id, message.channel
    )
    if chosen is not None and chosen != recipient:
        kinds = [kind.name for kind in channel.identity_kinds]
        owned = await tx.session.scalar(
            select(Identity.id).where(
                Identity.customer_id == ticket.customer_id,
                Identity.kind.in_(kinds),
                Identity.value == chosen,
            )
        )
        if owned is None:
            raise TicketError(
                "recipient",
                f"{chosen} is not one of the customer's {' or '.join(kinds)} identities",
            )
        recipient, problem = chosen, None
    if recipient is None:
        # Refused now rather than kept as a reply that can never go out.
        raise TicketError("recipient", f"{channel.label()}: {problem}")
    message.recipient = recipient
    message.sender = message.sender or our_address
    if message.html is None:
        message.html = text_to_html(message.text)
    await queue_delivery(tx, message.id, message.channel, recipient, problem)


async def queue_delivery(
    tx: Transaction,
    message_id: int,
    channel: str,
    recipient: str | None,
    problem: str | None = None,
) -> None:
    """The one place a message is queued to go out: its outbox row and `outbox.queued`.

    Every outbound message passes here: staff replies (through `queue_reply`, which
    refuses a channel that cannot send) and automatic replies.
    """
    now = tx.now()
    connection = await tx.session.connection()
    await connection.execute(
        insert(OutboxMessage),
        {
            "message_id": message_id,
            "channel": channel,
            "recipient": recipient or "",
            # Without an address on that channel the reply cannot go out; say so.
            "status": "queued" if recipient else "undeliverable",
            "attempts": 0,
            "next_attempt_at": now if recipient else None,
            "last_error": problem,
            "details": {},
            "created_at": now,
        },
    )
    tx.emit("outbox.queued", message_id=message_id, channel=channel)


async def queue_staff_mail(
    tx: Transaction, notification_id: int, recipient: str, subject: str, text: str
) -> None:
    """A staff notification's mail copy: an outbox row without a ticket message, sent like
    every other mail (retries, backoff, never twice) by the channel that reaches an email
    address."""
    await _queue_mail(tx, recipient, subject, text, notification_id=notification_id)


async def queue_mail(tx: Transaction, recipient: str, subject: str, text: str) -> None:
    """A mail to a customer's address that is no ticket message (a chat's verification code,
    its transcript): sent like a staff notification's copy, marked as automatic."""
    await _queue_mail(tx, recipient, subject, text, notification_id=None)


async def _queue_mail(
    tx: Transaction, recipient: str, subject: str, text: str, *, notification_id: int | None
) -> None:
    """The outbox row of a mail without a ticket message: it carries its subject and text."""
    senders = channel_registry.senders_to("email")
    if not senders:
        raise TicketError("channel", "no channel can send mail")
    channel = senders[0].name
    connection = await tx.session.connection()
    await connection.execute(
        insert(OutboxMessage),
        {
            "message_id": None,
            "notification_id": notification_id,
            "channel": channel,
            "recipient": recipient,
            "subject": subject[:500],
            "text": text,
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": tx.now(),
            "details": {},
            "created_at": tx.now(),
        },
    )
    tx.emit(OutboxQueued(message_id=None, channel=channel))


async def mark_delivery_failed(
    tx: Transaction, message_ids: list[int], action: str, diagnostic: str
) -> None:
    """Deliveries that came back (bounced) or were reported as abuse (complaint)."""
    connection = await tx.session.connection()
    status = "complaint" if action == "complaint" else "bounced"
    rows = await connection.execute(
        update(OutboxMessage)
        .where(OutboxMessage.message_id.in_(message_ids))
        .values(status=status, last_error=diagnostic[:2000], next_attempt_at=None)
        .returning(OutboxMessage.message_id)
    )
    failed = [row.message_id for row in rows]
    ticket_ids = (
        await connection.scalars(select(Message.ticket_id).where(Message.id.in_(failed)))
        if failed
        else []
    )
    for ticket_id in sorted(set(ticket_ids)):
        tx.emit("ticket.updated", ticket_id=ticket_id, fields=["delivery"])
