"""How the bot's conversations end, whoever ended them: handed to people (by the bot, by an
agent who replied or changed the ticket, by an administrator switching the bot off), or
abandoned (the customer left: the chat ended, or nothing was said for the conversation
window; `bots.sweep` finds those)."""

from __future__ import annotations

from sqlalchemy import select, update

from bots.models import BotConversation
from tickets.fields import update_ticket
from tickets.history import SYSTEM
from tickets.models import Ticket
from tickets.states import BOT
from tresen.handlers import handler
from tresen.runtime import Transaction


async def before_commit(tx: Transaction) -> None:
    """Every handoff in the transaction ends its conversation as "handed_off" with its reason
    (unless the conversation already has an outcome): tickets hands a conversation over when
    an agent works on it, and knows nothing of the bot's conversations."""
    reasons: dict[int, str] = {}
    for event in tx.events:
        if event.type == "ticket.handed_over":
            reasons.setdefault(event.data["ticket_id"], event.data["reason"])
    for ticket_id, reason in reasons.items():
        await end(tx, ticket_id, "handed_off", reason=reason)


async def end(tx: Transaction, ticket_id: int, outcome: str, *, reason: str | None = None) -> None:
    """The ticket's conversation ended so (kept for the ticket page and the report); one
    that has an outcome keeps it."""
    values = {"outcome": outcome, "ended_at": tx.now(), "updated_at": tx.now()}
    if reason is not None:
        values["handoff_reason"] = reason
    await tx.session.execute(
        update(BotConversation)
        .where(BotConversation.ticket_id == ticket_id, BotConversation.outcome.is_(None))
        .values(values)
        .execution_options(synchronize_session="fetch")
    )


async def abandon(tx: Transaction, ticket_id: int) -> bool:
    """The customer left a conversation the bot still had: it ends "abandoned" and the ticket
    is closed by the desk (closed, not solved: nobody solved anything, so no rating is
    asked, and a later message starts a new conversation). False when the bot no longer
    had it."""
    query = select(Ticket).where(Ticket.id == ticket_id)
    if tx.runtime.settings.is_postgres:
        query = query.with_for_update(of=Ticket)  # not while an agent or the bot acts on it
    ticket = await tx.session.scalar(query)
    if ticket is None or ticket.state != BOT:
        return False
    await update_ticket(tx, ticket, {"state": "closed"}, SYSTEM)
    await end(tx, ticket_id, "abandoned")
    return True


@handler("chat.ended", name="bots.chat_ended")
async def chat_ended(tx: Transaction, event) -> None:
    """A chat ended while the bot had it: the conversation was abandoned."""
    ticket_id = event.ticket_id if hasattr(event, "ticket_id") else event.data["ticket_id"]
    await abandon(tx, ticket_id)
