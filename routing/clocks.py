"""Keeping each ticket's SLA clocks in step with the ticket, in the transaction that changed it.

Before a writing transaction commits, every ticket whose messages, state,
priority or SLA policy it changed gets its clocks recomputed from its history
(`routing.sla.ticket_clocks`, a pure function), so the stored due times are never
behind the ticket. A clock's warning and breach stay fired for its cycle; a new
cycle (a new customer message after a reply) can fire again. The ticket's own
due and warning times are set through the tickets room (`tickets.deadlines`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update

from routing.config import current
from routing.models import SlaClock, TicketSla
from routing.sla import ClockStatus, Post, SlaPolicy, ticket_clocks
from tickets.deadlines import set_sla_due
from tickets.models import Message, Ticket, TicketHistory
from tresen.runtime import Transaction

RELEVANT_FIELDS = {"messages", "state", "priority", "sla"}

# Built once: they run for every change of a ticket under an SLA.
_TICKET = select(Ticket.priority, Ticket.created_at).where(Ticket.id == bindparam("ticket_id"))
_STATES = (
    select(TicketHistory.at, TicketHistory.new_value)
    .where(TicketHistory.ticket_id == bindparam("ticket_id"), TicketHistory.field == "state")
    .order_by(TicketHistory.id)
)
_POSTS = (
    select(
        Message.created_at,
        Message.direction,
        Message.internal,
        Message.auto_submitted,
        Message.author_user_id,
    )
    .where(Message.ticket_id == bindparam("ticket_id"))
    .order_by(Message.id)
)
_CLOCKS = select(SlaClock).where(SlaClock.ticket_id == bindparam("ticket_id"))
_CLOCKS_LOCKED = _CLOCKS.with_for_update()


async def before_commit(tx: Transaction) -> None:
    ticket_ids = set()
    for event in tx.events:
        if event.type == "ticket.created" or (
            event.type == "ticket.updated" and RELEVANT_FIELDS & set(event.data.get("fields", ()))
        ):
            ticket_ids.add(event.data["ticket_id"])
    if ticket_ids:
        await recompute(tx, sorted(ticket_ids))


async def recompute(tx: Transaction, ticket_ids: list[int]) -> None:
    """Recompute and store the clocks of these tickets (those under an SLA policy)."""
    config = await current(tx)
    if not config.policies:
        return  # no policy, no clocks (the inbox's common case on a desk without SLAs)
    session = tx.session
    if session.new or session.dirty or session.deleted:
        await session.flush()  # staff changes made on ORM objects in this transaction
    connection = await session.connection()
    # Routing remembers the policy it gave a ticket in this transaction.
    policies = {
        ticket_id: tx.memo[("sla_policy", ticket_id)]
        for ticket_id in ticket_ids
        if ("sla_policy", ticket_id) in tx.memo
    }
    unknown = [ticket_id for ticket_id in ticket_ids if ticket_id not in policies]
    if unknown:
        policies.update(
            (
                await connection.execute(
                    select(TicketSla.ticket_id, TicketSla.policy_id).where(
                        TicketSla.ticket_id.in_(unknown)
                    )
                )
            ).all()
        )
    if not policies:
        return
    for ticket_id, policy_id in policies.items():
        policy = config.policies.get(policy_id)
        if policy is not None:
            await _recompute_one(tx, ticket_id, policy_id, policy)


async def _recompute_one(tx: Transaction, ticket_id: int, policy_id: int, policy: SlaPolicy):
    connection = await tx.session.connection()
    now = tx.now()
    key = {"ticket_id": ticket_id}
    ticket = (await connection.execute(_TICKET, key)).one()
    fresh = _opened_here(tx, ticket_id)
    if fresh is not None:
        states, posts = [(ticket.created_at, "new")], fresh
    else:
        states, posts = await _history(connection, key, ticket.created_at)
    statuses = ticket_clocks(
        policy, ticket.priority, created_at=ticket.created_at, states=states, posts=posts, now=now
    )
    if fresh is not None:
        stored = {}  # a ticket opened in this transaction has no clocks yet
    else:
        # Read under a row lock on PostgreSQL: a scheduler firing one of these clocks
        # commits first, and what it recorded as fired is kept below.
        query = _CLOCKS_LOCKED if tx.runtime.settings.is_postgres else _CLOCKS
        stored = {row.target: row for row in (await connection.execute(query, key)).mappings()}
    await _store(connection, ticket_id, policy_id, statuses, stored, now)
    await set_sla_due(tx, ticket_id, **ticket_sla_summary(statuses))


def _opened_here(tx: Transaction, ticket_id: int) -> list[Post] | None:
    """The posts of a ticket this transaction opened with customers' messages only, from
    its events (no look-ups); None for any other ticket, which reads its history."""
    opened, posts = False, []
    for event in tx.events:
        if event.data.get("ticket_id") != ticket_id:
            continue
        if event.type == "ticket.created":
            opened = True
        elif event.type == "message.created":
            if event.data["direction"] != "inbound":
                return None
            posts.append(Post(tx.now(), not event.data.get("automatic"), False))
        elif event.type == "ticket.updated" and "state" in event.data.get("fields", ()):
            return None
    return posts if opened else None


async def _history(connection, key: dict, created_at: datetime):
    states = [(created_at, "new")] + [
        (row.at, row.new_value) for row in await connection.execute(_STATES, key)
    ]
    posts = [
        Post(
            at=row.created_at,
            from_customer=row.direction == "inbound" and not row.auto_submitted,
            agent_reply=(
                row.direction == "outbound"
                and not row.internal
                and not row.auto_submitted
                and row.author_user_id is not None
            ),
        )
        for row in await connection.execute(_POSTS, key)
    ]
    return states, posts


async def _store(connection, ticket_id: int, policy_id: int, statuses, stored, now) -> None:
    for status in statuses:
        values = _values(status, stored.get(status.target), policy_id, now)
        if status.target in stored:
            await connection.execute(
                update(SlaClock).where(SlaClock.id == stored[status.target]["id"]).values(values)
            )
        else:
            await connection.execute(
                insert(SlaClock), {"ticket_id": ticket_id, "target": status.target, **values}
            )
    gone = set(stored) - {status.target for status in statuses}
    if gone:
        await connection.execute(
            delete(SlaClock).where(SlaClock.ticket_id == ticket_id, SlaClock.target.in_(gone))
        )


def ticket_sla_summary(statuses) -> dict:
    """The earliest due and warning time of the running clocks: what lists sort and filter by."""
    running = [s for s in statuses if s.met_at is None and not s.paused and s.due_at is not None]
    warnings = [s.warn_at for s in running if s.warn_at is not None]
    return {
        "due_at": min((s.due_at for s in running), default=None),
        "warn_at": min(warnings, default=None),
    }


def _values(status: ClockStatus, stored, policy_id: int, now: datetime) -> dict:
    same_cycle = stored is not None and stored["started_at"] == status.started_at
    warned_at = stored["warned_at"] if same_cycle else None
    breached_at = stored["breached_at"] if same_cycle else None
    next_fire_at = None
    if status.met_at is None and not status.paused:
        if breached_at is None:
            next_fire_at = status.due_at
        if warned_at is None and breached_at is None and status.warn_at is not None:
            next_fire_at = min(status.warn_at, status.due_at)
    return {
        "policy_id": policy_id,
        "started_at": status.started_at,
        "allowed_seconds": int(status.allowed / timedelta(seconds=1)),
        "elapsed_seconds": int(status.elapsed / timedelta(seconds=1)),
        "due_at": status.due_at,
        "warn_at": status.warn_at,
        "paused": status.paused,
        "met_at": status.met_at,
        "warned_at": warned_at,
        "breached_at": breached_at,
        "next_fire_at": next_fire_at,
        "computed_at": now,
    }
