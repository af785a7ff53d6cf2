"""What a channel's bot does on a ticket: take it, write to the customer, hand it to people,
or close it as resolved. The bots room calls these; nobody else moves a ticket to "bot"."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from tickets.delivery import queue_reply
from tickets.events import TicketHandedOver
from tickets.history import SYSTEM, history_row, state_columns
from tickets.messages import message_created, message_values
from tickets.models import Message, Ticket, TicketHistory
from tickets.states import BOT  # the bot's state, and its messages' auto_submitted
from tresen.i18n import _, using
from tresen.runtime import ActionError, Transaction


def reason_text(reason: str | None) -> str:
    """Why the bot handed off, in the current language."""
    texts = {
        "asked_for_person": _("the customer asked for a person"),
        "angry": _("the customer is upset"),
        "said_no": _("the customer said the answer did not help"),
        "second_miss": _("the bot did not find an answer twice"),
        "low_confidence": _("the bot was not sure of an answer"),
        "unsupported_language": _("the bot does not speak the customer's language"),
        "no_answer": _("the knowledge base has no answer"),
        "assistant_failed": _("the assistant did not answer"),
        "assistant": _("the assistant handed off"),
        "taken_by_agent": _("an agent took over"),
        "switched_off": _("the bot was switched off"),
        "bot_failed": _("the bot ran into an error"),
        "other_channel": _("the customer wrote on another channel"),
        "returned": _("the customer came back after the bot's answer"),
    }
    return texts.get(reason or "", reason or _("no reason given"))


def handoff_note_text(reason: str | None) -> str:
    """The bot's note for the team on a handoff, in the current language."""
    return _("Handed off: %(reason)s", reason=reason_text(reason))


def handoff_note(message) -> str | None:
    """A bot's handoff note in the reader's language (None for any other message: notes
    written before the reason code was kept show their stored text)."""
    offered = message.interactive
    if message.auto_submitted != BOT or not message.internal or not isinstance(offered, dict):
        return None
    reason = offered.get("handoff")
    return handoff_note_text(reason) if isinstance(reason, str) else None


async def to_bot(tx: Transaction, ticket_id: int, *, state: str = "new") -> None:
    """A ticket just opened goes to the bot first (routing, in the inbox's transaction)."""
    connection = await tx.session.connection()
    await connection.execute(update(Ticket).where(Ticket.id == ticket_id).values(state=BOT))
    await connection.execute(
        insert(TicketHistory), [history_row(tx, ticket_id, SYSTEM, "state", state, BOT)]
    )
    tx.emit("ticket.updated", ticket_id=ticket_id, fields=["state"])


async def add_bot_message(
    tx: Transaction,
    ticket: Ticket,
    text: str,
    *,
    interactive: dict | None = None,
    internal: bool = False,
) -> Message:
    """The bot's message on a ticket: to the customer through the outbox like a reply
    (automatic, no author), or an internal note for the agents (`internal`)."""
    values = message_values(
        tx,
        ticket.id,
        SYSTEM,
        direction="outbound",
        channel=ticket.channel,
        text=text,
        internal=internal,
        auto_submitted=BOT,
        interactive=interactive or None,
    )
    message = Message(**values)
    tx.session.add(message)
    await tx.session.flush()
    if not internal:
        await queue_reply(tx, ticket, message)
    ticket.updated_at = tx.now()
    message_created(tx, ticket.id, message.id, values)
    return message


async def _leave_bot(tx: Transaction, ticket_id: int, state: str) -> Ticket | None:
    """Move the ticket from "bot" to `state` if the bot still has it, in one conditional
    UPDATE: another transaction (an agent taking over) may have moved it since it was read,
    and a stale read must not overwrite that. The ticket, or None when the bot lost it."""
    result = await tx.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.state == BOT)
        .values(**state_columns(tx, state), updated_at=tx.now())
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        if await tx.session.scalar(select(Ticket.id).where(Ticket.id == ticket_id)) is None:
            raise ActionError("ticket_id", f"ticket {ticket_id} does not exist")
        return None
    connection = await tx.session.connection()
    await connection.execute(
        insert(TicketHistory), [history_row(tx, ticket_id, SYSTEM, "state", BOT, state)]
    )
    tx.emit("ticket.updated", ticket_id=ticket_id, fields=["state"])
    return await tx.session.get(Ticket, ticket_id)


async def hand_over(tx: Transaction, ticket_id: int, reason: str) -> bool:
    """The bot hands the conversation to people: state new, a note saying why, and
    `TicketHandedOver` (routing assigns it and starts its clocks). False when the bot
    no longer had it."""
    ticket = await _leave_bot(tx, ticket_id, "new")
    if ticket is None:
        return False
    # The text is for readers without a language (the API, search); the console shows the
    # note from its reason code in each agent's own language (`handoff_note`).
    with using(tx.runtime.settings.default_language):
        note = handoff_note_text(reason)
    written = await add_bot_message(
        tx, ticket, note, interactive={"handoff": reason}, internal=True
    )
    tx.emit(TicketHandedOver(ticket_id=ticket.id, reason=reason, note_id=written.id))
    return True


async def solved_by_bot(tx: Transaction, ticket_id: int) -> bool:
    """The customer said the bot's answer helped: the ticket is solved (by nobody in
    person). False when the bot no longer had it."""
    return await _leave_bot(tx, ticket_id, "solved") is not None
