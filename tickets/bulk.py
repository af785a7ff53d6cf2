"""Bulk changes: what one change to many tickets would do, doing it, and undoing it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from tickets.fields import TicketError, normalize_tags, update_ticket, update_tickets
from tickets.history import Actor
from tickets.merge import UNDO_WINDOW, merge_into_oldest, undo_merge
from tickets.models import Ticket
from tickets.states import SETTABLE_STATES
from tickets.undo_models import BulkChange, TicketMerge
from tresen.runtime import Transaction

FIELDS = ("state", "priority", "queue_id", "assignee_id")


@dataclass
class Planned:
    """One ticket's part of a bulk change: (field, old, new) for what would change."""

    ticket: Ticket
    changes: list[tuple[str, object, object]] = field(default_factory=list)


def plan(tickets: list[Ticket], changes: dict, add_tag: str = "") -> list[Planned]:
    """What the change would do to each ticket (unchanged fields left out)."""
    tag = normalize_tags([add_tag])[0] if add_tag else ""
    planned = []
    for ticket in tickets:
        row = Planned(ticket)
        for name in FIELDS:
            if name in changes and changes[name] != getattr(ticket, name):
                row.changes.append((name, getattr(ticket, name), changes[name]))
        if tag and tag not in ticket.tags:
            row.changes.append(("tags", None, tag))
        planned.append(row)
    return planned


def summary(planned: list[Planned]) -> list[tuple[str, object, object, int]]:
    """(field, old, new, how many tickets) for the preview's headline, in field order."""
    counts: dict[tuple[str, object, object], int] = {}
    for row in planned:
        for change in row.changes:
            counts[change] = counts.get(change, 0) + 1
    order = {name: i for i, name in enumerate((*FIELDS, "tags"))}
    return [
        (name, old, new, n)
        for (name, old, new), n in sorted(
            counts.items(), key=lambda item: (order[item[0][0]], -item[1], str(item[0][1]))
        )
    ]


async def apply(
    tx: Transaction,
    tickets: list[Ticket],
    changes: dict,
    actor: Actor,
    *,
    add_tag: str = "",
    merge: bool = False,
) -> tuple[BulkChange, Ticket | None]:
    """Do the change (or the merge into the oldest) and record it for undoing; returns the
    record and, for a merge, the ticket the others went into."""
    record = BulkChange(
        user_id=actor.user_id,
        request={"changes": changes, "add_tag": add_tag, "merge": merge},
        tickets=[],
        created_at=tx.now(),
    )
    tx.session.add(record)
    await tx.session.flush()
    if merge:
        target = await merge_into_oldest(tx, tickets, actor, bulk_change_id=record.id)
        record.tickets = [{"ticket_id": t.id} for t in tickets]
        return record, target
    tag = normalize_tags([add_tag])[0] if add_tag else ""
    before = [
        (ticket, {name: getattr(ticket, name) for name in changes}, tag and tag not in ticket.tags)
        for ticket in tickets
    ]
    await update_tickets(tx, tickets, changes, actor, add_tag=add_tag)
    record.tickets = [
        {
            "ticket_id": ticket.id,
            "before": old,
            "after": {name: getattr(ticket, name) for name in changes},
            "tag_added": tag if added else "",
        }
        for ticket, old, added in before
    ]
    return record, None


@dataclass
class Undone:
    """What an undo put back, and what it left because it was changed since."""

    tickets: int = 0
    kept: list[tuple[int, str]] = field(default_factory=list)  # (ticket number, field)


async def undo(tx: Transaction, record: BulkChange, actor: Actor) -> Undone:
    """Put every ticket of the bulk change back as it was, where nobody changed it since."""
    if record.undone_at is not None:
        raise TicketError("bulk", "this change was undone already")
    if tx.now() > record.created_at + UNDO_WINDOW:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        raise TicketError("bulk", f"a bulk change can be undone for {minutes} minutes only")
    result = Undone()
    if (record.request or {}).get("merge"):
        merges = await tx.session.scalars(
            select(TicketMerge)
            .where(TicketMerge.bulk_change_id == record.id, TicketMerge.undone_at.is_(None))
            .order_by(TicketMerge.id.desc())
        )
        for merge in merges.all():
            await undo_merge(tx, merge, actor)
            result.tickets += 1
    else:
        for entry in record.tickets or ():
            ticket = await tx.session.get(Ticket, entry["ticket_id"])
            if ticket is None:
                continue
            if await _put_back(tx, ticket, entry, actor, result):
                result.tickets += 1
    record.undone_at, record.undone_by_id = tx.now(), actor.user_id
    return result


async def _put_back(tx: Transaction, ticket: Ticket, entry: dict, actor: Actor, result) -> bool:
    """One ticket's fields back to `before`, each only if it still holds what the change set."""
    restored = False
    for name, old in (entry.get("before") or {}).items():
        new = (entry.get("after") or {}).get(name)
        if old == new:
            continue
        if getattr(ticket, name) != new or (name == "state" and old not in SETTABLE_STATES):
            result.kept.append((ticket.number, name))
            continue
        try:
            restored |= bool(await update_ticket(tx, ticket, {name: old}, actor))
        except TicketError:
            # The old value is gone (a deactivated assignee, a deleted queue).
            result.kept.append((ticket.number, name))
    tag = entry.get("tag_added")
    if tag and tag in ticket.tags:
        tags = [t for t in ticket.tags if t != tag]
        restored |= bool(await update_ticket(tx, ticket, {"tags": tags}, actor))
    return restored


async def undoable(session, record_id: int, now) -> BulkChange | None:
    """The bulk change, if it can still be undone."""
    record = await session.get(BulkChange, record_id)
    if record is None or record.undone_at is not None or now > record.created_at + UNDO_WINDOW:
        return None
    return record
