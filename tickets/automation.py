"""What the desk does on its own (routing, SLA escalation, automatic replies): Core
statements, with history.

Staff changes go through `actions.update_ticket` on the ORM object; automatic ones
run inside the inbox's and the scheduler's transactions, where no ORM ticket is
loaded, so they write the columns, tags and history rows directly and emit the
same `ticket.updated` event.
"""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import bindparam, insert, select, update

from tickets.actions import (
    SYSTEM,
    TicketRef,
    _check_choice,
    _emit_message_created,
    _history_values,
    _message_values,
    _outbox_values,
    normalize_tags,
)
from tickets.models import PRIORITIES, Message, OutboxMessage, Ticket, TicketHistory, TicketTag
from tickets.notices import notify_assigned
from tresen.html import text_to_html
from tresen.runtime import Transaction

FIELDS = ("queue_id", "priority", "assignee_id")
_CURRENT = select(Ticket.queue_id, Ticket.priority, Ticket.assignee_id).where(
    Ticket.id == bindparam("ticket_id")
)
_TAGS = select(TicketTag.tag).where(TicketTag.ticket_id == bindparam("ticket_id"))


async def apply_changes(
    tx: Transaction,
    ticket_id: int,
    changes: dict,
    *,
    add_tags: list[str] = (),
    known: dict | None = None,
    known_tags: list[str] | None = None,
) -> list[str]:
    """Set queue, priority or assignee and add tags; returns the fields that changed.

    Values are trusted to exist (routing checks its references); a priority is
    still checked against the known ones. A caller that knows the ticket's current
    queue, priority and assignee (`known`) and tags (`known_tags`), e.g. of the
    ticket it opened in this transaction, saves their look-ups.
    """
    connection = await tx.session.connection()
    if known is not None:
        current = SimpleNamespace(**known)
    else:
        current = (await connection.execute(_CURRENT, {"ticket_id": ticket_id})).one()
    values, history, changed = {}, [], []
    for field, value in changes.items():
        if field not in FIELDS:
            raise ValueError(f"{field} is not changed automatically")
        if field == "priority":
            _check_choice("priority", value, PRIORITIES)
        old = getattr(current, field)
        if value != old:
            values[field] = value
            history.append(_history_values(tx, ticket_id, SYSTEM, field, old, value))
            changed.append(field)
    if add_tags:
        if known_tags is not None:
            have = set(known_tags)
        else:
            have = set(await connection.scalars(_TAGS, {"ticket_id": ticket_id}))
        new = [tag for tag in normalize_tags(add_tags) if tag not in have]
        if new:
            await connection.execute(
                insert(TicketTag), [{"ticket_id": ticket_id, "tag": tag} for tag in new]
            )
            history.append(
                _history_values(
                    tx,
                    ticket_id,
                    SYSTEM,
                    "tags",
                    ",".join(sorted(have)),
                    ",".join(sorted(have | set(new))),
                )
            )
            changed.append("tags")
    if changed:
        values["updated_at"] = tx.now()
        await connection.execute(update(Ticket).where(Ticket.id == ticket_id).values(values))
        await connection.execute(insert(TicketHistory), history)
        tx.emit("ticket.updated", ticket_id=ticket_id, fields=changed)
        if "assignee_id" in values:
            await notify_assigned(tx, ticket_id, values["assignee_id"], None)
    return changed


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
    values = _message_values(
        tx,
        ticket.id,
        direction="outbound",
        channel=channel,
        text=text,
        html=text_to_html(text),
        internal=False,
        actor=SYSTEM,
        has_attachments=False,
        sender=our_address,
        recipient=recipient,
        subject=subject,
        auto_submitted=reason,
    )
    message_id = (await connection.execute(insert(Message), values)).inserted_primary_key[0]
    await connection.execute(
        insert(OutboxMessage),
        _outbox_values(tx, message_id, channel, recipient, None),
    )
    _emit_message_created(tx, ticket.id, message_id, values)
    tx.emit("outbox.queued", message_id=message_id, channel=channel)
    return message_id
