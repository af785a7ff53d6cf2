"""Changes the desk makes on its own (routing, SLA escalation): Core statements, with history.

Staff changes go through `actions.update_ticket` on the ORM object; automatic ones
run inside the inbox's and the scheduler's transactions, where no ORM ticket is
loaded, so they write the columns, tags and history rows directly and emit the
same `ticket.updated` event.
"""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import bindparam, insert, select, update

from tickets.actions import SYSTEM, _check_choice, _history_values, normalize_tags
from tickets.models import PRIORITIES, Ticket, TicketHistory, TicketTag
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
    return changed
