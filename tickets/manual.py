"""Tickets an agent opens by hand: a phone call noted, or a message to a customer sent first."""

from __future__ import annotations

from customers.models import Customer
from tickets.fields import TicketError, check_choice
from tickets.history import Actor, record_history
from tickets.models import Ticket
from tickets.notices import notify_assigned
from tickets.opening import open_ticket
from tickets.replies import reply, sending_channel
from tresen import channel as channel_registry
from tresen.runtime import Transaction

CALL = "call"
OUTBOUND = "outbound"
KINDS = (CALL, OUTBOUND)
# A call arrives on the voice channel (channels/conversational.py): its tickets are
# filtered and labelled "Phone call" with those that came in by telephony.
CALL_CHANNEL = "voice"
# The history row that says how a ticket was opened by hand (its new value: a KIND).
OPENED_FIELD = "opened_by_hand"
# Keep "assign to me" the default: the agent who took the call has the ticket.
ME = object()


async def open_by_hand(
    tx: Transaction,
    *,
    kind: str,
    customer_id: int,
    subject: str,
    text: str,
    actor: Actor,
    queue_id: int | None = None,
    priority: str = "normal",
    assignee_id: int | None | object = ME,
    channel: str | None = None,
    recipient: str | None = None,
) -> Ticket:
    """Open a ticket for a call (`text` an internal note) or an outbound message (sent)."""
    # Assigned to the actor unless `assignee_id` says otherwise (None: nobody).
    check_choice("kind", kind, KINDS)
    if actor.user_id is None:
        raise TicketError("actor", "only staff open tickets by hand")
    if not text.strip():
        what = "the call's note" if kind == CALL else "the message"
        raise TicketError("text", f"{what} must not be empty")
    if not subject.strip():
        raise TicketError("subject", "subject must not be empty")
    customer = await tx.session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        raise TicketError("customer_id", f"customer {customer_id} does not exist")
    if customer.merged_into_id is not None:
        customer_id = customer.merged_into_id
    if kind == CALL:
        ticket_channel = CALL_CHANNEL
    else:
        if not channel:
            raise TicketError("channel", "choose the channel the message goes out on")
        found = channel_registry.get(channel)
        if found is None:
            raise TicketError("channel", f"channel {channel!r} does not exist")
        if found.live:
            raise TicketError("channel", f"a {channel} conversation is the customer's to start")
        # Refused before anything is written when nothing can send to this channel's kind.
        ticket_channel = sending_channel(channel)
    ticket = await open_ticket(
        tx,
        customer_id=customer_id,
        subject=subject,
        channel=ticket_channel,
        actor=actor,
        priority=priority,
        queue_id=queue_id,
        assignee_id=actor.user_id if assignee_id is ME else assignee_id,
    )
    record_history(tx, ticket, actor, OPENED_FIELD, None, kind)
    # A colleague given the ticket hears of it, as when it is assigned later.
    await notify_assigned(tx, ticket.id, ticket.assignee_id, actor.user_id)
    if kind == CALL:
        await reply(tx, ticket, actor, text=text, internal=True)
    else:
        await reply(tx, ticket, actor, text=text, channel=ticket_channel, recipient=recipient)
    return ticket
