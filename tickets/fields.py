"""Changing a ticket's fields (state, priority, queue, assignee, subject, tags).

Staff change the ORM ticket they loaded (`update_ticket`); the desk's own changes
(routing, SLA escalation) run inside the inbox's and the scheduler's transactions,
where no ORM ticket is loaded, and write the columns as Core statements
(`apply_changes`). Both check values, record history and emit `ticket.updated` the
same way.
"""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import bindparam, insert, select, update

from tickets.history import SYSTEM, Actor, change_state, history_row, record_history
from tickets.models import PRIORITIES, Queue, Ticket, TicketHistory, TicketTag
from tickets.notices import notify_assigned
from tickets.states import BOT, SETTABLE_STATES
from tresen.models import User
from tresen.runtime import ActionError, Transaction

MAX_TAG_LENGTH = 100
# What the desk changes on its own; the rest is for people.
AUTOMATIC_FIELDS = ("queue_id", "priority", "assignee_id")


class TicketError(ActionError):
    """A bad value for a ticket; the message names the field."""


def check_choice(field: str, value, choices: tuple[str, ...]) -> None:
    """A TicketError unless `value` is one of `choices`."""
    if value not in choices:
        raise TicketError(field, f"{field} {value!r} is not one of {', '.join(choices)}")


def normalize_tags(tags) -> list[str]:
    """Lower-cased, without duplicates, sorted: the order tickets load them in."""
    cleaned = set()
    for tag in tags:
        value = str(tag).strip().lower()
        if not value:
            raise TicketError("tags", "a tag must not be empty")
        if len(value) > MAX_TAG_LENGTH:
            raise TicketError("tags", f"tag {value[:20]!r}… is longer than {MAX_TAG_LENGTH}")
        cleaned.add(value)
    return sorted(cleaned)


async def check_references(tx: Transaction, *, queue_id=None, assignee_id=None) -> None:
    """A TicketError unless the queue exists and the assignee is an active user."""
    if queue_id is not None and not await tx.session.get(Queue, queue_id):
        raise TicketError("queue_id", f"queue {queue_id} does not exist")
    if assignee_id is not None:
        user = await tx.session.get(User, assignee_id)
        if user is None or not user.active:
            raise TicketError("assignee_id", f"user {assignee_id} does not exist")


async def take_from_bot(tx: Transaction, ticket: Ticket, actor: Actor, *, assign: bool = True):
    """A staff member works on a conversation the bot has: it is theirs from now on (handed
    over "taken_by_agent", so routing starts its clocks; assigned to them unless `assign`
    is False or it has an assignee). Nothing happens for other tickets or actors."""
    if ticket.state != BOT or actor.user_id is None:
        return
    # Imported here: tickets.bot_messages writes messages, and tickets.messages imports us.
    from tickets.bot_messages import hand_over

    await hand_over(tx, ticket.id, "taken_by_agent")
    if assign and ticket.assignee_id is None:
        await update_ticket(tx, ticket, {"assignee_id": actor.user_id}, actor)


async def update_ticket(tx: Transaction, ticket: Ticket, changes: dict, actor: Actor) -> list[str]:
    """Change state, priority, queue, assignee, subject or tags; returns what changed.
    A staff member's change to a conversation the bot has takes it from the bot first."""
    if changes:
        await take_from_bot(tx, ticket, actor, assign="assignee_id" not in changes)
    changed: list[str] = []
    for field, value in changes.items():
        if field == "state":
            # Only the bot's own actions move a ticket to or from "bot".
            check_choice("state", value, SETTABLE_STATES)
            if change_state(tx, ticket, value, actor):
                changed.append(field)
        elif field == "priority":
            check_choice("priority", value, PRIORITIES)
            if value != ticket.priority:
                record_history(tx, ticket, actor, "priority", ticket.priority, value)
                ticket.priority = value
                changed.append(field)
        elif field in ("queue_id", "assignee_id"):
            await check_references(tx, **{field: value})
            if value != getattr(ticket, field):
                record_history(tx, ticket, actor, field, getattr(ticket, field), value)
                setattr(ticket, field, value)
                # Keep the joined relationship in step for whoever renders it next.
                await tx.session.flush()
                await tx.session.refresh(ticket, [field.removesuffix("_id")])
                changed.append(field)
                if field == "assignee_id":
                    await notify_assigned(tx, ticket.id, value, actor.user_id)
        elif field == "subject":
            value = str(value or "").strip()
            if not value:
                raise TicketError("subject", "subject must not be empty")
            if value != ticket.subject:
                record_history(tx, ticket, actor, "subject", ticket.subject, value)
                ticket.subject = value[:500]
                changed.append(field)
        elif field == "tags":
            tags = normalize_tags(value or [])
            if tags != ticket.tags:
                record_history(tx, ticket, actor, "tags", ",".join(ticket.tags), ",".join(tags))
                ticket.tag_rows = [TicketTag(tag=tag) for tag in tags]
                changed.append(field)
        else:
            raise TicketError(field, f"{field} cannot be changed")
    if changed:
        ticket.updated_at = tx.now()
        tx.emit("ticket.updated", ticket_id=ticket.id, fields=changed)
    return changed


async def update_tickets(
    tx: Transaction, tickets: list[Ticket], changes: dict, actor: Actor, *, add_tag: str = ""
) -> None:
    """One change to many tickets (a bulk action), and a tag added to each."""
    for ticket in tickets:
        ticket_changes = dict(changes)
        if add_tag:
            ticket_changes["tags"] = [*ticket.tags, add_tag]
        await update_ticket(tx, ticket, ticket_changes, actor)


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
    """The desk's own change: set queue, priority or assignee and add tags, by the system.

    Values are trusted to exist (routing checks its references); a priority is
    still checked against the known ones. A caller that knows the ticket's current
    queue, priority and assignee (`known`) and tags (`known_tags`), e.g. of the
    ticket it opened in this transaction, saves their look-ups. Returns what changed.
    """
    connection = await tx.session.connection()
    if known is not None:
        current = SimpleNamespace(**known)
    else:
        current = (await connection.execute(_CURRENT, {"ticket_id": ticket_id})).one()
    values, history, changed = {}, [], []
    for field, value in changes.items():
        if field not in AUTOMATIC_FIELDS:
            raise ValueError(f"{field} is not changed automatically")
        if field == "priority":
            check_choice("priority", value, PRIORITIES)
        old = getattr(current, field)
        if value != old:
            values[field] = value
            history.append(history_row(tx, ticket_id, SYSTEM, field, old, value))
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
            old_tags, new_tags = ",".join(sorted(have)), ",".join(sorted(have | set(new)))
            history.append(history_row(tx, ticket_id, SYSTEM, "tags", old_tags, new_tags))
            changed.append("tags")
    if changed:
        values["updated_at"] = tx.now()
        await connection.execute(update(Ticket).where(Ticket.id == ticket_id).values(values))
        await connection.execute(insert(TicketHistory), history)
        tx.emit("ticket.updated", ticket_id=ticket_id, fields=changed)
        if "assignee_id" in values:
            await notify_assigned(tx, ticket_id, values["assignee_id"], None)
    return changed
