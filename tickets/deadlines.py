"""A ticket's SLA due and warning times: the columns the lists sort and filter by.

Routing's clocks (`routing.clocks`) compute them and set them here, the tickets
room's only write of these columns. It emits no event: the clocks are recomputed
before commit in the transaction that changed the ticket, whose own event
(ticket.created, or ticket.updated with messages, state, priority or sla) already
tells every console to show the ticket again, due times included.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, update

from tickets.models import Ticket
from tresen.runtime import Transaction

# Built once: it runs for every change of a ticket under an SLA.
_SET_DUE = (
    update(Ticket)
    .where(Ticket.id == bindparam("ticket"))
    .values(sla_due_at=bindparam("due_at"), sla_warn_at=bindparam("warn_at"))
)


async def set_sla_due(
    tx: Transaction, ticket_id: int, *, due_at: datetime | None, warn_at: datetime | None
) -> None:
    """Store when the ticket's earliest running SLA clock is due and warns (None: none runs)."""
    connection = await tx.session.connection()
    await connection.execute(_SET_DUE, {"ticket": ticket_id, "due_at": due_at, "warn_at": warn_at})
