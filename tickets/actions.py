"""The only places that change tickets; each records history and emits events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from customers.models import Identity
from tickets.models import (
    PRIORITIES,
    STATES,
    Attachment,
    Counter,
    Message,
    OutboxMessage,
    Queue,
    Ticket,
    TicketHistory,
    TicketTag,
)
from tickets.notices import notify_assigned, notify_mentions
from tickets.threading import (
    state_after_agent_reply,
    state_after_customer_message,
    subject_key,
)
from tresen.html import html_to_text, sanitize_html, text_to_html
from tresen.models import User
from tresen.runtime import ActionError, Transaction

MAX_TAG_LENGTH = 100
CHANNEL_IDENTITY = {"sms": "phone", "voice": "phone", "web": "email", "api": "email"}


class TicketError(ActionError):
    """A bad value for a ticket; the message names the field."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff user, a customer, or the system (both None)."""

    user_id: int | None = None
    customer_id: int | None = None


SYSTEM = Actor()


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None  # shown inline by the HTML as cid:<content_id>


@dataclass(frozen=True)
class TicketRef:
    """The columns of a ticket that threading and the inbox need, without the ORM object."""

    id: int
    number: int
    state: str
    solved_at: datetime | None = None
    customer_id: int | None = None
    queue_id: int | None = None


_TAKE_TICKET_NUMBER = (
    update(Counter.__table__)
    .where(Counter.name == "ticket_number")
    .values(value=Counter.value + 1)
    .returning(Counter.value)
)


async def next_ticket_number(tx: Transaction) -> int:
    """The next human ticket number; the row lock makes it safe across processes."""
    # Core on the session's connection: the ORM's bulk-update path costs 3x as much here.
    connection = await tx.session.connection()
    take = _TAKE_TICKET_NUMBER
    number = await connection.scalar(take)
    if number is None:
        # The first ticket ever. Several processes may get here at once: the others
        # wait on the unique key for the first to commit, then take the next number.
        insert_for = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        start = tx.runtime.settings.ticket_number_start
        await connection.execute(
            insert_for(Counter.__table__)
            .values(name="ticket_number", value=start - 1)
            .on_conflict_do_nothing()
        )
        number = await connection.scalar(take)
    return number


def _check_choice(field: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise TicketError(field, f"{field} {value!r} is not one of {', '.join(choices)}")


def normalize_tags(tags) -> list[str]:
    """Lower-cased, without duplicates, sorted: the order tickets load them in."""
    cleaned = set()
    for tag in tags:
        value = str(tag).strip().lower()
        if not value:
            raise TicketError("tags", "a tag must not be empty")
        if len(value) > MAX_TAG_LENGTH:
            raise TicketError("tags", f"tag {value[:20]!r}… is longer than {MAX_TAG_LENGTH}")
        cleaned.add(value)
    return sorted(cleaned)


async def _check_references(tx: Transaction, *, queue_id=None, assignee_id=None) -> None:
    if queue_id is not None and not await tx.session.get(Queue, queue_id):
        raise TicketError("queue_id", f"queue {queue_id} does not exist")
    if assignee_id is not None:
        user = await tx.session.get(User, assignee_id)
        if user is None or not user.active:
            raise TicketError("assignee_id", f"user {assignee_id} does not exist")


def _history_values(tx: Transaction, ticket_id: int, actor: Actor, field: str, old, new) -> dict:
    return {
        "ticket_id": ticket_id,
        "actor_user_id": actor.user_id,
        "actor_customer_id": actor.customer_id,
        "field": field,
        "old_value": None if old is None else str(old),
        "new_value": None if new is None else str(new),
        "at": tx.now(),
    }


def _history(tx: Transaction, ticket: Ticket, actor: Actor, field: str, old, new) -> None:
    tx.session.add(TicketHistory(**_history_values(tx, ticket.id, actor, field, old, new)))


def _ticket_values(
    tx: Transaction, *, number: int, subject: str, channel: str, customer_id: int, **fields
) -> dict:
    subject = (subject or "").strip() or "(no subject)"
    now = tx.now()
    return {
        "number": number,
        "subject": subject[:500],
        "subject_key": subject_key(subject),
        "state": "new",
        "channel": channel,
        "customer_id": customer_id,
        "created_at": now,
        "updated_at": now,
        **fields,
    }


def _message_values(
    tx: Transaction,
    ticket_id: int,
    *,
    direction: str,
    channel: str,
    text: str,
    html: str | None,
    internal: bool,
    actor: Actor,
    has_attachments: bool,
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
    if not text.strip() and not has_attachments and direction == "outbound":
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


def _emit_message_created(tx: Transaction, ticket_id: int, message_id: int, values: dict) -> None:
    tx.emit(
        "message.created",
        ticket_id=ticket_id,
        message_id=message_id,
        direction=values["direction"],
        internal=values["internal"],
        # Sent by a machine (an auto-reply, a bounce), not written by a person.
        automatic=bool(values.get("auto_submitted")),
    )
    tx.emit("ticket.updated", ticket_id=ticket_id, fields=["messages"])


async def open_ticket(
    tx: Transaction,
    *,
    customer_id: int,
    subject: str,
    channel: str,
    actor: Actor = SYSTEM,
    priority: str = "normal",
    queue_id: int | None = None,
    assignee_id: int | None = None,
    tags: list[str] = (),
) -> Ticket:
    """A new ticket for the customer, in state new."""
    _check_choice("priority", priority, PRIORITIES)
    await _check_references(tx, queue_id=queue_id, assignee_id=assignee_id)
    ticket = Ticket(
        **_ticket_values(
            tx,
            number=await next_ticket_number(tx),
            subject=subject,
            channel=channel,
            customer_id=customer_id,
            priority=priority,
            queue_id=queue_id,
            assignee_id=assignee_id,
        ),
        tag_rows=[TicketTag(tag=tag) for tag in normalize_tags(tags)],
    )
    tx.session.add(ticket)
    await tx.session.flush()
    _history(tx, ticket, actor, "created", None, ticket.number)
    tx.emit("ticket.created", ticket_id=ticket.id, number=ticket.number)
    return ticket


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
) -> Message:
    """Add a message or internal note; a public outbound reply is queued in the outbox.

    A reply goes to `recipient` when given (one of the customer's identities on the
    channel), else to where the customer last wrote from on that channel.
    """
    values = _message_values(
        tx,
        ticket.id,
        direction=direction,
        channel=channel or ticket.channel,
        text=text,
        html=html,
        internal=internal,
        actor=actor,
        has_attachments=bool(attachments),
        sender=sender,
        subject=subject,
        external_id=external_id,
        conversation_id=conversation_id,
    )
    message = Message(
        **values, attachments=[Attachment(**row) for row in _attachments(attachments)]
    )
    tx.session.add(message)
    await tx.session.flush()

    if direction == "inbound":
        await _set_state(tx, ticket, state_after_customer_message(ticket.state), actor)
    elif not internal:
        await _set_state(tx, ticket, state_after_agent_reply(ticket.state), actor)
        await _queue_delivery(tx, ticket, message, recipient)
    elif actor.user_id is not None:
        await notify_mentions(tx, ticket.id, message.text, actor.user_id)
    ticket.updated_at = tx.now()
    _emit_message_created(tx, ticket.id, message.id, values)
    return message


def _attachments(attachments: list[NewAttachment], message_id: int | None = None) -> list[dict]:
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
        values = _ticket_values(
            tx,
            number=await next_ticket_number(tx),
            subject=subject or _subject_from_text(text),
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
        history.append(_history_values(tx, ticket.id, actor, "created", None, ticket.number))
        tx.emit("ticket.created", ticket_id=ticket.id, number=ticket.number)
    values = _message_values(
        tx,
        ticket.id,
        direction="inbound",
        channel=channel,
        text=text,
        html=html,
        internal=False,
        actor=actor,
        has_attachments=bool(attachments),
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
        await connection.execute(insert(Attachment), _attachments(attachments, message_id))
    changes = {"updated_at": tx.now()}
    state = (
        ticket.state if auto_submitted or internal else state_after_customer_message(ticket.state)
    )
    if state != ticket.state:
        history.append(_history_values(tx, ticket.id, actor, "state", ticket.state, state))
        changes.update(_state_columns(tx, state, solved_at=ticket.solved_at))
        ticket = replace(ticket, state=state, solved_at=changes["solved_at"])
    if not created or len(changes) > 1:  # a new ticket has its timestamps already
        await connection.execute(update(Ticket).where(Ticket.id == ticket.id).values(changes))
    if history:
        await connection.execute(insert(TicketHistory), history)
    _emit_message_created(tx, ticket.id, message_id, values)
    return ticket, message_id


def _subject_from_text(text: str) -> str:
    """A subject for a ticket whose first message had none (chat, SMS): its first line."""
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first_line[:80] or "(no subject)"


async def _queue_delivery(
    tx: Transaction, ticket: Ticket, message: Message, chosen: str | None = None
) -> None:
    """The reply goes to the customer on the message's channel, through the outbox."""
    recipient, our_address, problem = await reply_addresses(
        tx, ticket.id, ticket.customer_id, message.channel
    )
    if chosen is not None and chosen != recipient:
        kind = CHANNEL_IDENTITY.get(message.channel, message.channel)
        owned = await tx.session.scalar(
            select(Identity.id).where(
                Identity.customer_id == ticket.customer_id,
                Identity.kind == kind,
                Identity.value == chosen,
            )
        )
        if owned is None:
            raise TicketError(
                "recipient", f"{chosen} is not one of the customer's {kind} identities"
            )
        recipient, problem = chosen, None
    message.recipient = recipient
    message.sender = message.sender or our_address
    if message.html is None:
        message.html = text_to_html(message.text)
    connection = await tx.session.connection()
    await connection.execute(
        insert(OutboxMessage),
        _outbox_values(tx, message.id, message.channel, recipient, problem),
    )
    tx.emit("outbox.queued", message_id=message.id, channel=message.channel)


def _outbox_values(
    tx: Transaction, message_id: int, channel: str, recipient: str | None, problem: str | None
) -> dict:
    return {
        "message_id": message_id,
        "channel": channel,
        "recipient": recipient or "",
        # Without an address on that channel the reply cannot go out; say so.
        "status": "queued" if recipient else "undeliverable",
        "attempts": 0,
        "next_attempt_at": tx.now() if recipient else None,
        "last_error": problem,
        "details": {},
        "created_at": tx.now(),
    }


async def reply_addresses(
    tx: Transaction, ticket_id: int, customer_id: int, channel: str
) -> tuple[str | None, str | None, str | None]:
    """Whom a reply on this channel goes to, from which of our addresses, and what is wrong.

    The address the customer last wrote from on this ticket, answered from the address
    they wrote to; otherwise the customer's first identity of the channel's kind.
    """
    kind = CHANNEL_IDENTITY.get(channel, channel)
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
    if last is not None and kind == channel:
        return last.sender, last.recipient, None
    recipient = await connection.scalar(
        select(Identity.value)
        .where(Identity.customer_id == customer_id, Identity.kind == kind)
        .order_by(Identity.bounced_at.is_not(None), Identity.id)
        .limit(1)
    )
    if recipient is None:
        return None, None, f"customer has no {kind} identity"
    return recipient, last.recipient if last else None, None


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


async def _set_state(tx: Transaction, ticket: Ticket, state: str, actor: Actor) -> None:
    if state == ticket.state:
        return
    _history(tx, ticket, actor, "state", ticket.state, state)
    columns = _state_columns(tx, state, solved_at=ticket.solved_at)
    ticket.state = columns["state"]
    ticket.solved_at = columns["solved_at"]


def _state_columns(tx: Transaction, state: str, *, solved_at=None) -> dict:
    """A state and the solved time that goes with it (kept when solved already)."""
    if state in ("solved", "closed"):
        return {"state": state, "solved_at": solved_at or tx.now()}
    return {"state": state, "solved_at": None}


async def update_ticket(tx: Transaction, ticket: Ticket, changes: dict, actor: Actor) -> list[str]:
    """Change state, priority, queue, assignee, subject or tags; returns what changed."""
    changed: list[str] = []
    for field, value in changes.items():
        if field == "state":
            _check_choice("state", value, STATES)
            if value != ticket.state:
                await _set_state(tx, ticket, value, actor)
                changed.append(field)
        elif field == "priority":
            _check_choice("priority", value, PRIORITIES)
            if value != ticket.priority:
                _history(tx, ticket, actor, "priority", ticket.priority, value)
                ticket.priority = value
                changed.append(field)
        elif field in ("queue_id", "assignee_id"):
            await _check_references(tx, **{field: value})
            if value != getattr(ticket, field):
                _history(tx, ticket, actor, field, getattr(ticket, field), value)
                setattr(ticket, field, value)
                # Keep the joined relationship in step for whoever renders it next.
                await tx.session.flush()
                await tx.session.refresh(ticket, [field.removesuffix("_id")])
                changed.append(field)
                if field == "assignee_id":
                    await notify_assigned(tx, ticket.id, value, actor.user_id)
        elif field == "subject":
            value = str(value or "").strip()
            if not value:
                raise TicketError("subject", "subject must not be empty")
            if value != ticket.subject:
                _history(tx, ticket, actor, "subject", ticket.subject, value)
                ticket.subject = value[:500]
                changed.append(field)
        elif field == "tags":
            tags = normalize_tags(value or [])
            if tags != ticket.tags:
                _history(tx, ticket, actor, "tags", ",".join(ticket.tags), ",".join(tags))
                ticket.tag_rows = [TicketTag(tag=tag) for tag in tags]
                changed.append(field)
        else:
            raise TicketError(field, f"{field} cannot be changed")
    if changed:
        ticket.updated_at = tx.now()
        tx.emit("ticket.updated", ticket_id=ticket.id, fields=changed)
    return changed
