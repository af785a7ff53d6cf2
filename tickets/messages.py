"""Messages on tickets: what customers send, what staff write, what the desk answers itself."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import insert, update

from tickets.delivery import queue_delivery, queue_reply
from tickets.fields import TicketError, take_from_bot
from tickets.history import SYSTEM, Actor, change_state, history_row, state_columns
from tickets.models import Attachment, Message, Ticket, TicketHistory
from tickets.notices import notify_mentions
from tickets.opening import TicketRef, new_ticket_values, subject_from_text
from tickets.threading import state_after_agent_reply, state_after_customer_message
from tresen.html import html_to_text, sanitize_html, text_to_html
from tresen.runtime import Transaction


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None  # shown inline by the HTML as cid:<content_id>


def message_values(
    tx: Transaction,
    ticket_id: int,
    actor: Actor,
    *,
    direction: str,
    channel: str,
    text: str,
    html: str | None = None,
    internal: bool = False,
    attachments: list[NewAttachment] = (),
    **fields,
) -> dict:
    """A message row's values; the HTML sanitized, a text version derived when missing."""
    if direction not in ("inbound", "outbound"):
        raise TicketError("direction", f"direction {direction!r} is not inbound or outbound")
    if internal and direction != "outbound":
        raise TicketError("internal", "only staff write internal notes")
    clean_html = sanitize_html(html) if html else None
    if not text.strip() and clean_html:
        text = html_to_text(clean_html)
    # What a customer sent is kept even when empty (a subject alone); staff must write something.
    if not text.strip() and not attachments and direction == "outbound":
        raise TicketError("text", "a message needs text or an attachment")
    if fields.get("subject"):
        fields["subject"] = fields["subject"][:500]
    return {
        "ticket_id": ticket_id,
        "direction": direction,
        "channel": channel,
        "internal": internal,
        "author_user_id": actor.user_id,
        "author_customer_id": actor.customer_id,
        "text": text,
        "html": clean_html,
        "created_at": tx.now(),
        **fields,
    }


def attachment_rows(attachments: list[NewAttachment], message_id: int | None = None) -> list[dict]:
    """The attachments' rows; with `message_id` for a Core insert."""
    rows = [
        {
            "filename": item.filename,
            "content_type": item.content_type,
            "size": len(item.content),
            "content": item.content,
            "content_id": item.content_id,
        }
        for item in attachments
    ]
    if message_id is not None:
        for row in rows:
            row["message_id"] = message_id
    return rows


def message_created(tx: Transaction, ticket_id: int, message_id: int, values: dict) -> None:
    """The events of a new message on a ticket."""
    tx.emit(
        "message.created",
        ticket_id=ticket_id,
        message_id=message_id,
        direction=values["direction"],
        internal=values["internal"],
        # Sent by a machine (an auto-reply, a bounce), not written by a person.
        automatic=bool(values.get("auto_submitted")),
        channel=values["channel"],
    )
    tx.emit("ticket.updated", ticket_id=ticket_id, fields=["messages"])


async def add_message(
    tx: Transaction,
    ticket: Ticket,
    *,
    direction: str,
    channel: str | None = None,
    text: str = "",
    html: str | None = None,
    internal: bool = False,
    actor: Actor = SYSTEM,
    sender: str | None = None,
    subject: str | None = None,
    external_id: str | None = None,
    conversation_id: str | None = None,
    attachments: list[NewAttachment] = (),
    recipient: str | None = None,
    delivered: bool = False,
) -> Message:
    """Add a message or internal note to a loaded ticket; a public reply goes to the outbox.

    A reply goes to `recipient` when given (one of the customer's identities on the
    channel), else to where the customer last wrote from on that channel. `delivered`
    records a reply that already went out elsewhere (history brought in): not sent again.
    """
    values = message_values(
        tx,
        ticket.id,
        actor,
        direction=direction,
        channel=channel or ticket.channel,
        text=text,
        html=html,
        internal=internal,
        attachments=attachments,
        sender=sender,
        subject=subject,
        external_id=external_id,
        conversation_id=conversation_id,
    )
    if direction == "outbound" and not internal:
        # Replying to a conversation the bot has takes it from the bot (a note does not).
        await take_from_bot(tx, ticket, actor)
    rows = attachment_rows(attachments)
    message = Message(**values, attachments=[Attachment(**row) for row in rows])
    tx.session.add(message)
    await tx.session.flush()

    if direction == "inbound":
        change_state(tx, ticket, state_after_customer_message(ticket.state), actor)
    elif not internal:
        change_state(tx, ticket, state_after_agent_reply(ticket.state), actor)
        if not delivered:
            await queue_reply(tx, ticket, message, recipient)
    elif actor.user_id is not None:
        await notify_mentions(tx, ticket.id, message.text, actor.user_id)
    ticket.updated_at = tx.now()
    message_created(tx, ticket.id, message.id, values)
    return message


async def add_inbound_message(
    tx: Transaction,
    ticket: TicketRef | None,
    *,
    customer_id: int | None,
    channel: str,
    subject: str | None,
    text: str = "",
    html: str | None = None,
    sender: str | None = None,
    recipient: str | None = None,
    external_id: str | None = None,
    conversation_id: str | None = None,
    attachments: list[NewAttachment] = (),
    auto_submitted: str | None = None,
    internal: bool = False,
    visible_text: str | None = None,
    notices: list[str] | None = None,
    queue_id: int | None = None,
    follow_up_of_id: int | None = None,
) -> tuple[TicketRef, int]:
    """A customer's message into its ticket, or into a new ticket when `ticket` is None.

    The inbox's hot path: the same rows, history and events as `open_ticket` plus
    `add_message`, written as Core statements on the transaction's connection
    (no ORM unit of work; every inbound message of every channel comes through here).
    A message a machine sent (`auto_submitted`) or a report kept as an internal note
    leaves the ticket's state alone. Returns the ticket and the new message's id.
    """
    connection = await tx.session.connection()
    actor = Actor(customer_id=customer_id)
    history = []
    created = ticket is None
    if created:
        values = await new_ticket_values(
            tx,
            subject=subject or subject_from_text(text),
            channel=channel,
            customer_id=customer_id,
            priority="normal",
            queue_id=queue_id,
            follow_up_of_id=follow_up_of_id,
        )
        ticket_id = (await connection.execute(insert(Ticket), values)).inserted_primary_key[0]
        ticket = TicketRef(
            ticket_id, values["number"], "new", customer_id=customer_id, queue_id=queue_id
        )
        history.append(history_row(tx, ticket.id, actor, "created", None, ticket.number))
        tx.emit("ticket.created", ticket_id=ticket.id, number=ticket.number)
    values = message_values(
        tx,
        ticket.id,
        actor,
        direction="inbound",
        channel=channel,
        text=text,
        html=html,
        attachments=attachments,
        sender=sender,
        recipient=recipient,
        subject=subject,
        external_id=external_id,
        conversation_id=conversation_id,
        auto_submitted=auto_submitted,
        visible_text=visible_text,
        notices=notices or None,
    )
    values["internal"] = internal  # a report kept on the ticket for agents only
    message_id = (await connection.execute(insert(Message), values)).inserted_primary_key[0]
    if attachments:
        await connection.execute(insert(Attachment), attachment_rows(attachments, message_id))
    changes = {"updated_at": tx.now()}
    state = (
        ticket.state if auto_submitted or internal else state_after_customer_message(ticket.state)
    )
    if state != ticket.state:
        history.append(history_row(tx, ticket.id, actor, "state", ticket.state, state))
        changes.update(state_columns(tx, state, solved_at=ticket.solved_at))
        ticket = replace(ticket, state=state, solved_at=changes["solved_at"])
    if not created or len(changes) > 1:  # a new ticket has its timestamps already
        await connection.execute(update(Ticket).where(Ticket.id == ticket.id).values(changes))
    if history:
        await connection.execute(insert(TicketHistory), history)
    message_created(tx, ticket.id, message_id, values)
    return ticket, message_id


async def queue_automatic_reply(
    tx: Transaction,
    ticket: TicketRef,
    *,
    channel: str,
    subject: str,
    text: str,
    recipient: str,
    our_address: str | None,
    reason: str = "auto-replied",
) -> int:
    """An automatic message to the customer (e.g. an acknowledgement), queued for delivery.

    It carries `auto_submitted`, so channels mark it as automatic (RFC 3834) and
    it never counts as an agent's answer. Returns the message's id.
    """
    connection = await tx.session.connection()
    values = message_values(
        tx,
        ticket.id,
        SYSTEM,
        direction="outbound",
        channel=channel,
        text=text,
        html=text_to_html(text),
        sender=our_address,
        recipient=recipient,
        subject=subject,
        auto_submitted=reason,
    )
    message_id = (await connection.execute(insert(Message), values)).inserted_primary_key[0]
    message_created(tx, ticket.id, message_id, values)
    await queue_delivery(tx, message_id, channel, recipient)
    return message_id
