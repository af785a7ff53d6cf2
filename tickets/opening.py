"""Opening tickets: the next ticket number and a new ticket's columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tickets.fields import check_choice, check_references, normalize_tags
from tickets.history import SYSTEM, Actor, record_history
from tickets.models import PRIORITIES, Counter, Ticket, TicketTag
from tickets.threading import subject_key
from tresen.runtime import Transaction


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


async def new_ticket_values(
    tx: Transaction, *, subject: str, channel: str, customer_id: int, **fields
) -> dict:
    """A new ticket's columns, in state new, with the next ticket number."""
    subject = (subject or "").strip() or "(no subject)"
    now = tx.now()
    return {
        "number": await next_ticket_number(tx),
        "subject": subject[:500],
        "subject_key": subject_key(subject),
        "state": "new",
        "channel": channel,
        "customer_id": customer_id,
        "created_at": now,
        "updated_at": now,
        **fields,
    }


def subject_from_text(text: str) -> str:
    """A subject for a ticket whose first message had none (chat, SMS): its first line."""
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first_line[:80] or "(no subject)"


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
    check_choice("priority", priority, PRIORITIES)
    await check_references(tx, queue_id=queue_id, assignee_id=assignee_id)
    values = await new_ticket_values(
        tx,
        subject=subject,
        channel=channel,
        customer_id=customer_id,
        priority=priority,
        queue_id=queue_id,
        assignee_id=assignee_id,
    )
    ticket = Ticket(**values, tag_rows=[TicketTag(tag=tag) for tag in normalize_tags(tags)])
    tx.session.add(ticket)
    await tx.session.flush()
    record_history(tx, ticket, actor, "created", None, ticket.number)
    tx.emit("ticket.created", ticket_id=ticket.id, number=ticket.number)
    return ticket
