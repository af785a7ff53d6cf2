"""Merging two tickets (and undoing it for a while), splitting a message off into a new
ticket, linking related tickets."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tickets.fields import TicketError, take_from_bot
from tickets.history import Actor, change_state, record_history
from tickets.models import Message, Ticket, TicketLink, TicketTag
from tickets.opening import open_ticket
from tickets.undo_models import TicketMerge
from tresen.runtime import Transaction

# How long a merge (and a bulk change) can be undone: long enough to notice a mistake,
# short enough that little has happened on the merged conversation since.
UNDO_WINDOW = timedelta(minutes=30)


async def merge_into_oldest(
    tx: Transaction, tickets: list[Ticket], actor: Actor, *, bulk_change_id: int | None = None
) -> Ticket:
    """Merge several tickets into the oldest, the conversation that started it all."""
    if len(tickets) < 2:
        raise TicketError("tickets", "select two or more tickets to merge")
    target, *others = sorted(tickets, key=lambda ticket: ticket.number)
    for source in others:
        await merge_tickets(tx, source, target, actor, bulk_change_id=bulk_change_id)
    return target


async def merge_tickets(
    tx: Transaction,
    source: Ticket,
    target: Ticket,
    actor: Actor,
    *,
    bulk_change_id: int | None = None,
) -> Ticket:
    """Move source's conversation into target; source is closed and points there.

    Messages, attachments and tags move; both tickets' history says what happened, and
    replies to the old ticket number thread into the target from now on. What moved is
    recorded (`TicketMerge`), so that `undo_merge` can put it back within UNDO_WINDOW.
    """
    if source.id == target.id:
        raise TicketError("target", "a ticket cannot be merged into itself")
    if source.merged_into_id is not None:
        raise TicketError("source", f"ticket #{source.number} is merged already")
    if target.merged_into_id is not None:
        raise TicketError("target", f"ticket #{target.number} is merged into another ticket")
    # A conversation the bot has is taken from it first: merged work is people's work
    # (the bot would answer next to the agents on the target, and a closed source would
    # keep a conversation without an outcome).
    for ticket in (source, target):
        await take_from_bot(tx, ticket, actor)
    connection = await tx.session.connection()
    message_ids = list(
        await connection.scalars(select(Message.id).where(Message.ticket_id == source.id))
    )
    moved = await connection.execute(
        update(Message).where(Message.ticket_id == source.id).values(ticket_id=target.id)
    )
    record = {
        "messages": message_ids,
        "state": source.state,
        "solved_at": source.solved_at.isoformat() if source.solved_at else None,
        "tags_added": sorted(set(source.tags) - set(target.tags)),
        "links_removed": [],
        "links_added": [],
    }
    tags = sorted(set(target.tags) | set(source.tags))
    if tags != target.tags:
        record_history(tx, target, actor, "tags", ",".join(target.tags), ",".join(tags))
        target.tag_rows = [TicketTag(tag=tag) for tag in tags]
    # Links of the source become the target's (never to itself).
    linked = set(
        await connection.scalars(
            select(TicketLink.linked_id).where(TicketLink.ticket_id == source.id)
        )
    )
    record["links_removed"] = sorted(linked)
    linked -= {target.id}
    await connection.execute(
        delete(TicketLink).where(
            (TicketLink.ticket_id == source.id) | (TicketLink.linked_id == source.id)
        )
    )
    for other in sorted(linked):
        if await _link_rows(tx, target.id, other, actor):
            record["links_added"].append(other)
    tx.session.add(
        TicketMerge(
            source_id=source.id,
            target_id=target.id,
            user_id=actor.user_id,
            bulk_change_id=bulk_change_id,
            moved=record,
            created_at=tx.now(),
        )
    )
    record_history(tx, source, actor, "merged_into", None, target.number)
    record_history(tx, target, actor, "merged_from", None, source.number)
    source.merged_into_id = target.id
    change_state(tx, source, "closed", actor)
    source.updated_at = target.updated_at = tx.now()
    await tx.session.flush()
    tx.emit(
        "ticket.merged",
        ticket_id=source.id,
        into_id=target.id,
        messages=moved.rowcount,
    )
    tx.emit("ticket.updated", ticket_id=source.id, fields=["state", "merged", "messages"])
    tx.emit("ticket.updated", ticket_id=target.id, fields=["messages", "tags", "merged"])
    return target


async def messages_to_move(session, source_id: int) -> int:
    """How many messages a merge of the ticket would move (the confirmation says so)."""
    return await session.scalar(
        select(func.count()).select_from(Message).where(Message.ticket_id == source_id)
    )


def undo_deadline(record: TicketMerge) -> datetime:
    """Until when the merge can be undone."""
    return record.created_at + UNDO_WINDOW


def may_undo(record, user) -> bool:
    """Who merged (or made the bulk change) may undo it; so may supervisors."""
    return record.user_id == user.id or user.has_role("supervisor")


async def undoable_merges(session, ticket_id: int, now: datetime) -> list[TicketMerge]:
    """Merges into or out of the ticket that can still be undone, newest first."""
    return list(
        await session.scalars(
            select(TicketMerge)
            .where(
                or_(TicketMerge.source_id == ticket_id, TicketMerge.target_id == ticket_id),
                TicketMerge.undone_at.is_(None),
                TicketMerge.created_at > now - UNDO_WINDOW,
            )
            .order_by(TicketMerge.id.desc())
        )
    )


async def undo_merge(tx: Transaction, record: TicketMerge, actor: Actor) -> Ticket:
    """Put a merge back: the source's messages, links, tags and state; the source reopened
    as it was. Messages that arrived on the target since the merge stay there."""
    if record.undone_at is not None:
        raise TicketError("merge", "this merge was undone already")
    if tx.now() > undo_deadline(record):
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        raise TicketError("merge", f"a merge can be undone for {minutes} minutes only")
    source = await tx.session.get(Ticket, record.source_id)
    target = await tx.session.get(Ticket, record.target_id)
    if source.merged_into_id != target.id:
        raise TicketError(
            "merge", f"ticket #{source.number} is no longer merged into #{target.number}"
        )
    if target.merged_into_id is not None:
        raise TicketError(
            "merge",
            f"ticket #{target.number} was merged into another ticket since: undo that first",
        )
    moved = record.moved or {}
    connection = await tx.session.connection()
    if moved.get("messages"):
        await connection.execute(
            update(Message)
            .where(Message.id.in_(moved["messages"]), Message.ticket_id == target.id)
            .values(ticket_id=source.id)
        )
    added = set(moved.get("tags_added") or ())
    if added & set(target.tags):
        tags = [tag for tag in target.tags if tag not in added]
        record_history(tx, target, actor, "tags", ",".join(target.tags), ",".join(tags))
        target.tag_rows = [row for row in target.tag_rows if row.tag not in added]
    for other in moved.get("links_added") or ():
        await connection.execute(
            delete(TicketLink).where(
                ((TicketLink.ticket_id == target.id) & (TicketLink.linked_id == other))
                | ((TicketLink.ticket_id == other) & (TicketLink.linked_id == target.id))
            )
        )
    for other in moved.get("links_removed") or ():
        if await tx.session.get(Ticket, other) is not None:
            await _link_rows(tx, source.id, other, actor)
    source.merged_into_id = None
    change_state(tx, source, moved.get("state") or "open", actor)
    if moved.get("solved_at") and source.state == moved.get("state"):
        source.solved_at = datetime.fromisoformat(moved["solved_at"])
    record_history(tx, source, actor, "unmerged_from", target.number, None)
    record_history(tx, target, actor, "unmerged", source.number, None)
    record.undone_at, record.undone_by_id = tx.now(), actor.user_id
    source.updated_at = target.updated_at = tx.now()
    await tx.session.flush()
    tx.emit("ticket.updated", ticket_id=source.id, fields=["state", "merged", "messages", "links"])
    tx.emit("ticket.updated", ticket_id=target.id, fields=["messages", "tags", "merged", "links"])
    return source


async def split_message(tx: Transaction, message: Message, ticket: Ticket, actor: Actor) -> Ticket:
    """A customer's message moved off into a new ticket of its own (a second question)."""
    if message.ticket_id != ticket.id:
        raise TicketError("message", "the message is not on this ticket")
    if message.direction != "inbound" or message.internal:
        raise TicketError("message", "only a customer's message can start a new ticket")
    first = await tx.session.scalar(
        select(Message.id).where(Message.ticket_id == ticket.id).order_by(Message.id).limit(1)
    )
    if first == message.id:
        raise TicketError("message", "the first message is the ticket itself")
    subject = message.subject or ticket.subject
    new = await open_ticket(
        tx,
        customer_id=message.author_customer_id or ticket.customer_id,
        subject=subject,
        channel=message.channel,
        actor=actor,
        priority=ticket.priority,
        queue_id=ticket.queue_id,
    )
    message.ticket_id = new.id
    new.state = "open"
    record_history(tx, new, actor, "split_from", None, ticket.number)
    record_history(tx, ticket, actor, "split_to", None, new.number)
    await _link_rows(tx, ticket.id, new.id, actor)
    await tx.session.flush()
    tx.emit("ticket.updated", ticket_id=ticket.id, fields=["messages", "links"])
    tx.emit("ticket.updated", ticket_id=new.id, fields=["messages", "links"])
    return new


async def link_tickets(tx: Transaction, ticket: Ticket, other: Ticket, actor: Actor) -> bool:
    """Mark two tickets as related; False when they were already."""
    if ticket.id == other.id:
        raise TicketError("linked", "a ticket cannot be linked to itself")
    added = await _link_rows(tx, ticket.id, other.id, actor)
    if added:
        record_history(tx, ticket, actor, "linked", None, other.number)
        record_history(tx, other, actor, "linked", None, ticket.number)
        tx.emit("ticket.updated", ticket_id=ticket.id, fields=["links"])
        tx.emit("ticket.updated", ticket_id=other.id, fields=["links"])
    return added


async def unlink_tickets(tx: Transaction, ticket: Ticket, other: Ticket, actor: Actor) -> None:
    connection = await tx.session.connection()
    done = await connection.execute(
        delete(TicketLink).where(
            ((TicketLink.ticket_id == ticket.id) & (TicketLink.linked_id == other.id))
            | ((TicketLink.ticket_id == other.id) & (TicketLink.linked_id == ticket.id))
        )
    )
    if done.rowcount:
        record_history(tx, ticket, actor, "unlinked", other.number, None)
        record_history(tx, other, actor, "unlinked", ticket.number, None)
        tx.emit("ticket.updated", ticket_id=ticket.id, fields=["links"])
        tx.emit("ticket.updated", ticket_id=other.id, fields=["links"])


async def _link_rows(tx: Transaction, a: int, b: int, actor: Actor) -> bool:
    connection = await tx.session.connection()
    dialect = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    rows = [
        {"ticket_id": x, "linked_id": y, "created_at": tx.now(), "created_by_id": actor.user_id}
        for x, y in ((a, b), (b, a))
    ]
    done = await connection.execute(dialect(TicketLink).values(rows).on_conflict_do_nothing())
    return bool(done.rowcount)


async def linked_tickets(session, ticket_id: int) -> list[Ticket]:
    return list(
        await session.scalars(
            select(Ticket)
            .join(TicketLink, TicketLink.linked_id == Ticket.id)
            .where(TicketLink.ticket_id == ticket_id)
            .order_by(Ticket.number)
        )
    )
