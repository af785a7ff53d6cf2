"""Who changed what on a ticket: the actor, the history rows, the state and its solved time.

Every ticket action records its changes through these steps, whether it changes the ORM
ticket (staff) or writes Core statements (the inbox, routing, the scheduler).
"""

from __future__ import annotations

from dataclasses import dataclass

from tickets.models import Ticket, TicketHistory
from tickets.states import DONE_STATES
from tresen.runtime import Transaction


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff user, a customer, or the system (both None)."""

    user_id: int | None = None
    customer_id: int | None = None


SYSTEM = Actor()


def history_row(tx: Transaction, ticket_id: int, actor: Actor, field: str, old, new) -> dict:
    """One history row's values: `field` went from `old` to `new`, by `actor`, now."""
    return {
        "ticket_id": ticket_id,
        "actor_user_id": actor.user_id,
        "actor_customer_id": actor.customer_id,
        "field": field,
        "old_value": None if old is None else str(old),
        "new_value": None if new is None else str(new),
        "at": tx.now(),
    }


def record_history(tx: Transaction, ticket: Ticket, actor: Actor, field: str, old, new) -> None:
    """A history row for a ticket loaded in the session (written when it flushes)."""
    tx.session.add(TicketHistory(**history_row(tx, ticket.id, actor, field, old, new)))


def state_columns(tx: Transaction, state: str, *, solved_at=None) -> dict:
    """A state and the solved time that goes with it (kept when solved already)."""
    if state in DONE_STATES:
        return {"state": state, "solved_at": solved_at or tx.now()}
    return {"state": state, "solved_at": None}


def change_state(tx: Transaction, ticket: Ticket, state: str, actor: Actor) -> bool:
    """Move a loaded ticket to `state`, with history; False when it is there already."""
    if state == ticket.state:
        return False
    record_history(tx, ticket, actor, "state", ticket.state, state)
    columns = state_columns(tx, state, solved_at=ticket.solved_at)
    ticket.state = columns["state"]
    ticket.solved_at = columns["solved_at"]
    return True
