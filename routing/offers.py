"""Offering live chats to agents: offered, then accepted, declined or expired.

When routing gives a chat (a ticket of a live channel) to an agent, the ticket is
theirs at once (it shows in their Chats view) and they get an offer for
`chat_offer_seconds`. Declined, or not accepted in time, the chat goes to the
queue's next candidate, never back to anyone who declined it or let it expire;
with nobody left it is unassigned and waits in its queue, until an agent who has
not refused it has room (an agent comes online, a chat ends). A transfer gives it
to another agent (a new offer) or another queue (whose routing picks someone).

The worker (`run`) passes on expired offers and offers waiting chats. On
PostgreSQL it claims offers and waiting chats with `FOR UPDATE SKIP LOCKED`, and
answering an offer locks the same row, so an offer is accepted or passed on, never
both, and two processes never pass on (or offer) one chat.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from routing.assign import assign
from routing.events import ChatOfferAnswered, ChatOffered
from routing.models import AgentProfile, ChatOffer, QueueMember, QueueRouting, RoutingDecision
from tickets.actions import Actor, apply_changes, update_ticket
from tickets.models import Ticket
from tickets.states import DONE_STATES, OPEN_STATES
from tresen import channel as channel_registry
from tresen.models import User
from tresen.runtime import ActionError, Runtime, Transaction

log = logging.getLogger(__name__)

OFFERED = "offered"
# What an offer ends as: taken, refused, not answered in time, or moved on by someone else.
ANSWERS = ("accepted", "declined", "expired", "withdrawn")
BATCH = 100
IDLE = 1.0  # seconds between looks for expired offers


class OfferError(ActionError):
    """An offer that cannot be answered (gone, someone else's) or a transfer that cannot be."""


def is_live(channel: str) -> bool:
    """Whether tickets of this channel are live chats (counted against chat capacity)."""
    return channel_registry.describe(channel).live


def live_channels() -> list[str]:
    return [channel.name for channel in channel_registry.channels() if channel.live]


# --- Writing: offers and their answers


async def offer(tx: Transaction, ticket_id: int, agent_id: int) -> datetime:
    """Offer the chat to an agent (already its assignee) until now + chat_offer_seconds.

    An offer still open for the ticket is withdrawn first. Returns when it expires."""
    await _withdraw(tx, ticket_id)
    now = tx.now()
    expires_at = now + timedelta(seconds=tx.runtime.settings.chat_offer_seconds)
    tx.session.add(
        ChatOffer(
            ticket_id=ticket_id,
            agent_id=agent_id,
            state=OFFERED,
            offered_at=now,
            expires_at=expires_at,
        )
    )
    await tx.session.flush()
    tx.emit(ChatOffered(ticket_id=ticket_id, agent_id=agent_id, expires_at=expires_at.isoformat()))
    return expires_at


async def accept_offer(tx: Transaction, ticket_id: int, user) -> None:
    """The offered agent (`user`, a User or its id) takes the chat; it is theirs (assigned
    to them by the tickets room when it was not yet).

    OfferError (409) when no offer is open for the ticket (it expired and went on, was
    withdrawn, or the chat was given to someone else meanwhile); forbidden (403) when it
    is offered to someone else."""
    user_id = _user_id(user)
    row = await _open_offer_of(tx, ticket_id, user_id)
    ticket = await tx.session.get(Ticket, ticket_id)
    if ticket.assignee_id not in (None, user_id):  # reassigned by hand after the offer
        # (The offer runs out as usual; the worker does not pass on a chat that moved.)
        raise OfferError("ticket_id", "this chat was given to someone else", conflict=True)
    await _answer(tx, row, "accepted")
    if ticket.assignee_id is None:
        await update_ticket(tx, ticket, {"assignee_id": user_id}, Actor(user_id=user_id))


async def decline_offer(tx: Transaction, ticket_id: int, user) -> int | None:
    """The offered agent (`user`, a User or its id) refuses the chat: it goes to the next
    candidate of its queue (never back to them). Returns the new assignee, None when the
    chat now waits in the queue. Errors as `accept_offer`."""
    row = await _open_offer_of(tx, ticket_id, _user_id(user))
    await _answer(tx, row, "declined")
    return await reoffer(tx, ticket_id)


async def transfer_chat(
    tx: Transaction,
    ticket_id: int,
    actor,
    to_agent_id: int | None = None,
    to_queue_id: int | None = None,
) -> int | None:
    """Hand a chat on, by `actor` (a User or its id; the caller checks their role).

    To an agent: they become the assignee and get a new offer. To a queue: the queue
    changes and its routing picks an agent (not the current one, nor anyone who
    declined the chat or let it expire); with nobody free it waits there unassigned.
    Both given: the queue changes and the agent gets it. Changes go through the
    tickets room (`update_ticket`: history, `ticket.updated`). Returns the new
    assignee (None: waiting in the queue)."""
    if to_agent_id is None and to_queue_id is None:
        raise OfferError("to_agent_id", "name the agent or the queue to transfer the chat to")
    ticket = await tx.session.get(Ticket, ticket_id)
    if ticket is None:
        raise OfferError("ticket_id", f"ticket {ticket_id} does not exist")
    if not is_live(ticket.channel):
        raise OfferError("ticket_id", f"ticket {ticket_id} is not a live chat")
    if ticket.state in DONE_STATES:
        raise OfferError("ticket_id", "the chat has ended")
    if to_queue_id is None and to_agent_id == ticket.assignee_id:
        raise OfferError("to_agent_id", "the chat is already with this agent")
    by = Actor(user_id=_user_id(actor))
    current = ticket.assignee_id
    await _withdraw(tx, ticket_id)
    if to_queue_id is not None:
        await update_ticket(tx, ticket, {"queue_id": to_queue_id}, by)
    if to_agent_id is not None:
        await update_ticket(tx, ticket, {"assignee_id": to_agent_id}, by)
        await offer(tx, ticket_id, to_agent_id)
        return to_agent_id
    connection = await tx.session.connection()
    excluded = await _refused_by(connection, ticket_id)
    if current is not None:
        excluded |= {current}
    choice = await assign(
        tx,
        to_queue_id,
        customer_id=ticket.customer_id,
        ticket_id=ticket_id,
        language=await _language(connection, ticket_id),
        live=True,
        excluded=excluded,
    )
    await update_ticket(tx, ticket, {"assignee_id": choice.agent_id}, by)
    if choice.agent_id is not None:
        await offer(tx, ticket_id, choice.agent_id)
    return choice.agent_id


async def reoffer(tx: Transaction, ticket_id: int) -> int | None:
    """Give the chat to its queue's next candidate, leaving out everyone who declined it or
    let it expire; with nobody left it is unassigned and waits in the queue. Returns the
    new assignee. A chat that has ended is left as it is."""
    connection = await tx.session.connection()
    ticket = (
        await connection.execute(
            select(Ticket.queue_id, Ticket.customer_id, Ticket.state).where(Ticket.id == ticket_id)
        )
    ).one_or_none()
    if ticket is None or ticket.state in DONE_STATES:
        return None
    agent_id = None
    if ticket.queue_id is not None:
        choice = await assign(
            tx,
            ticket.queue_id,
            customer_id=ticket.customer_id,
            ticket_id=ticket_id,
            language=await _language(connection, ticket_id),
            live=True,
            excluded=await _refused_by(connection, ticket_id),
        )
        agent_id = choice.agent_id
    await apply_changes(tx, ticket_id, {"assignee_id": agent_id})
    if agent_id is not None:
        await offer(tx, ticket_id, agent_id)
    return agent_id


async def expire_offers(runtime: Runtime, *, limit: int = BATCH) -> int:
    """Pass on the chats whose offers ran out (at most `limit`), in one transaction;
    returns how many offers expired."""
    async with runtime.transaction() as tx:
        now = tx.now()
        connection = await tx.session.connection()
        query = (
            select(ChatOffer.id, ChatOffer.ticket_id, ChatOffer.agent_id)
            .where(ChatOffer.state == OFFERED, ChatOffer.expires_at <= now)
            .order_by(ChatOffer.expires_at)
            .limit(limit)
        )
        if runtime.settings.is_postgres:
            query = query.with_for_update(skip_locked=True)
        due = (await connection.execute(query)).all()
        for row in due:
            events_before = len(tx.events)
            try:
                async with tx.session.begin_nested():
                    await _expire(tx, row)
            except Exception:
                # One chat that cannot be passed on must not hold up the others; it stays
                # with the agent it was offered to (they see it in their Chats view).
                log.exception("passing on the chat of ticket %s failed", row.ticket_id)
                del tx.events[events_before:]
                await _answer(tx, row, "expired")
    return len(due)


async def _expire(tx: Transaction, row) -> None:
    if not await _answer(tx, row, "expired"):
        return  # answered meanwhile (a second guard: the row is claimed above)
    connection = await tx.session.connection()
    assignee_id = await connection.scalar(
        select(Ticket.assignee_id).where(Ticket.id == row.ticket_id)
    )
    if assignee_id == row.agent_id:  # not moved on by hand meanwhile
        await reoffer(tx, row.ticket_id)


async def offer_waiting(runtime: Runtime, *, limit: int = BATCH) -> int:
    """Offer chats waiting in their queues (nobody had room, or everyone asked let them go)
    to agents who have room now, oldest first; returns how many were offered.

    Looked at with reads first, so a desk where nobody has room takes no write lock."""
    live = live_channels()
    if not live:
        return 0
    async with runtime.read() as session:
        waiting = (await session.execute(_waiting(live, limit))).all()
        if not waiting:
            return 0
        room = await _room(
            session,
            {row.queue_id for row in waiting},
            runtime.settings.chat_default_capacity,
        )
        chosen = []
        for row in waiting:
            free = room.get(row.queue_id, {})
            if not any(left > 0 for left in free.values()):
                continue  # nobody of its queue has room: nothing to ask the database
            refused = await _refused_by(session, row.id)
            takers = [agent for agent, left in free.items() if left > 0 and agent not in refused]
            if takers:
                free[takers[0]] -= 1  # one place fewer to count on for the next one
                chosen.append(row.id)
    if not chosen:
        return 0
    offered = 0
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        query = select(Ticket.id).where(
            Ticket.id.in_(chosen), Ticket.assignee_id.is_(None), Ticket.state.in_(OPEN_STATES)
        )
        if runtime.settings.is_postgres:
            query = query.with_for_update(skip_locked=True)
        for ticket_id in list(await connection.scalars(query.order_by(Ticket.id))):
            if await reoffer(tx, ticket_id) is not None:
                offered += 1
    return offered


def _waiting(live: list[str], limit: int):
    return (
        select(Ticket.id, Ticket.queue_id)
        .where(
            Ticket.assignee_id.is_(None),
            Ticket.queue_id.is_not(None),
            Ticket.channel.in_(live),
            Ticket.state.in_(OPEN_STATES),
        )
        .order_by(Ticket.id)
        .limit(limit)
    )


async def _room(session, queue_ids: set[int], default_capacity: int) -> dict[int, dict[int, int]]:
    """Per queue (that assigns on its own), its online agents and the chats each has room for."""
    members = (
        await session.execute(
            select(QueueMember.queue_id, QueueMember.user_id, AgentProfile.chat_capacity)
            .join(AgentProfile, AgentProfile.user_id == QueueMember.user_id)
            .join(User, User.id == QueueMember.user_id)
            .join(QueueRouting, QueueRouting.queue_id == QueueMember.queue_id)
            .where(
                QueueMember.queue_id.in_(queue_ids),
                QueueMember.role == "agent",
                QueueRouting.mode != "manual",
                AgentProfile.presence == "online",
                User.active,
            )
        )
    ).all()
    if not members:
        return {}
    chats = dict(
        (
            await session.execute(
                select(Ticket.assignee_id, func.count())
                .where(
                    Ticket.assignee_id.in_(sorted({m.user_id for m in members})),
                    Ticket.channel.in_(live_channels()),
                    Ticket.state.in_(OPEN_STATES),
                )
                .group_by(Ticket.assignee_id)
            )
        ).all()
    )
    # A rough count (an agent in two queues is counted in each): the choice itself, in the
    # transaction, keeps to the capacity; this only spares writes when nobody has room.
    left = {
        m.user_id: (default_capacity if m.chat_capacity is None else m.chat_capacity)
        - chats.get(m.user_id, 0)
        for m in members
    }
    room: dict[int, dict[int, int]] = {}
    for member in members:
        room.setdefault(member.queue_id, {})[member.user_id] = left[member.user_id]
    return room


async def next_expiry(runtime: Runtime) -> datetime | None:
    """When the soonest open offer runs out (None: no offer is open)."""
    async with runtime.read() as session:
        return await session.scalar(
            select(func.min(ChatOffer.expires_at)).where(ChatOffer.state == OFFERED)
        )


async def run(runtime: Runtime) -> None:
    """The worker: passes on expired offers and offers waiting chats to agents with room, as
    long as the server runs; looks at least every IDLE seconds (sooner when an offer runs
    out sooner)."""
    while True:
        try:
            # A read first: an idle look takes no write lock (SQLite has one writer).
            soonest = await next_expiry(runtime)
            if soonest is not None and soonest <= runtime.clock.now():
                if await expire_offers(runtime) >= BATCH:
                    continue
                soonest = await next_expiry(runtime)
            if await offer_waiting(runtime):
                soonest = await next_expiry(runtime)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be away for a moment; try again soon
            log.exception("offering chats to agents failed")
            soonest = None
        wait = IDLE
        if soonest is not None:
            wait = min(IDLE, (soonest - runtime.clock.now()) / timedelta(seconds=1))
        await asyncio.sleep(max(wait, 0.01))


async def before_commit(tx: Transaction) -> None:
    """A chat given to someone else by hand (any ticket change of its assignee) withdraws
    the offer still open to the agent it was offered to (a commit hook, see tresen.rooms)."""
    ticket_ids = {
        event.data["ticket_id"]
        for event in tx.events
        if event.type == "ticket.updated" and "assignee_id" in event.data.get("fields", ())
    }
    if not ticket_ids:
        return
    session = tx.session
    if session.new or session.dirty or session.deleted:
        await session.flush()  # staff changes made on ORM objects in this transaction
    connection = await session.connection()
    stale = (
        await connection.execute(
            select(ChatOffer.id, ChatOffer.ticket_id, ChatOffer.agent_id)
            .join(Ticket, Ticket.id == ChatOffer.ticket_id)
            .where(
                ChatOffer.ticket_id.in_(sorted(ticket_ids)),
                ChatOffer.state == OFFERED,
                or_(Ticket.assignee_id.is_(None), Ticket.assignee_id != ChatOffer.agent_id),
            )
        )
    ).all()
    for row in stale:
        await _answer(tx, row, "withdrawn")


async def _open_offer_of(tx: Transaction, ticket_id: int, user_id: int):
    connection = await tx.session.connection()
    query = select(ChatOffer.id, ChatOffer.ticket_id, ChatOffer.agent_id).where(
        ChatOffer.ticket_id == ticket_id, ChatOffer.state == OFFERED
    )
    if tx.runtime.settings.is_postgres:
        # Waits for a worker passing it on; then sees it is no longer open.
        query = query.with_for_update()
    row = (await connection.execute(query)).first()
    if row is None:
        raise OfferError("ticket_id", "this chat is not offered any more", conflict=True)
    if row.agent_id != user_id:
        raise OfferError("ticket_id", "this chat is offered to someone else", forbidden=True)
    return row


async def _answer(tx: Transaction, row, state: str) -> bool:
    """End the offer as `state` if it is still open; whether it was."""
    connection = await tx.session.connection()
    done = await connection.execute(
        update(ChatOffer)
        .where(ChatOffer.id == row.id, ChatOffer.state == OFFERED)
        .values(state=state, answered_at=tx.now())
    )
    if done.rowcount:
        tx.emit(ChatOfferAnswered(ticket_id=row.ticket_id, agent_id=row.agent_id, state=state))
    return bool(done.rowcount)


async def _withdraw(tx: Transaction, ticket_id: int) -> None:
    connection = await tx.session.connection()
    rows = (
        await connection.execute(
            select(ChatOffer.id, ChatOffer.ticket_id, ChatOffer.agent_id).where(
                ChatOffer.ticket_id == ticket_id, ChatOffer.state == OFFERED
            )
        )
    ).all()
    for row in rows:
        await _answer(tx, row, "withdrawn")


async def _refused_by(connection, ticket_id: int) -> frozenset[int]:
    """Agents who declined this chat or let its offer expire."""
    rows = await connection.scalars(
        select(ChatOffer.agent_id).where(
            ChatOffer.ticket_id == ticket_id, ChatOffer.state.in_(("declined", "expired"))
        )
    )
    return frozenset(rows)


async def _language(connection, ticket_id: int) -> str | None:
    """The language routing read in the chat's first message (skills-based queues ask it)."""
    return await connection.scalar(
        select(RoutingDecision.language)
        .where(RoutingDecision.ticket_id == ticket_id, RoutingDecision.applied)
        .order_by(RoutingDecision.id)
        .limit(1)
    )


def _user_id(user) -> int:
    return user if isinstance(user, int) else user.id


# --- Reading: the console's Chats view


@dataclass(frozen=True)
class ChatItem:
    """One chat as an agent's Chats view lists it."""

    ticket_id: int
    number: int
    subject: str
    state: str  # the ticket's state
    channel: str
    customer_id: int
    queue_id: int | None
    updated_at: datetime
    # "offered" while the agent has not answered; "accepted"; None: given by hand (a
    # ticket change, not routing): no offer to answer.
    offer_state: str | None = None
    offered_at: datetime | None = None
    expires_at: datetime | None = None  # the offer's, while it is open


_CHAT_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.subject,
    Ticket.state,
    Ticket.channel,
    Ticket.customer_id,
    Ticket.queue_id,
    Ticket.updated_at,
)


async def pending_offers(session, user_id: int) -> list[ChatItem]:
    """Chats offered to the agent and not yet answered, the soonest to expire first
    (not those given to someone else by hand meanwhile)."""
    rows = await session.execute(
        select(*_CHAT_COLUMNS, ChatOffer.offered_at, ChatOffer.expires_at)
        .join(ChatOffer, ChatOffer.ticket_id == Ticket.id)
        .where(
            ChatOffer.agent_id == user_id,
            ChatOffer.state == OFFERED,
            or_(Ticket.assignee_id == user_id, Ticket.assignee_id.is_(None)),
            Ticket.state.in_(OPEN_STATES),
        )
        .order_by(ChatOffer.expires_at, Ticket.id)
    )
    return [
        ChatItem(*row[:8], offer_state=OFFERED, offered_at=row[8], expires_at=row[9])
        for row in rows
    ]


async def active_chats(session, user_id: int) -> list[ChatItem]:
    """The agent's open chats they are in: accepted, or given to them by hand (an offer
    still waiting for their answer is in `pending_offers`, not here); oldest first."""
    live = live_channels()
    if not live:
        return []
    tickets = (
        await session.execute(
            select(*_CHAT_COLUMNS)
            .where(
                Ticket.assignee_id == user_id,
                Ticket.channel.in_(live),
                Ticket.state.in_(OPEN_STATES),
            )
            .order_by(Ticket.id)
        )
    ).all()
    if not tickets:
        return []
    newest: dict[int, tuple] = {}
    rows = await session.execute(
        select(ChatOffer.ticket_id, ChatOffer.state, ChatOffer.offered_at)
        .where(ChatOffer.agent_id == user_id, ChatOffer.ticket_id.in_([t.id for t in tickets]))
        .order_by(ChatOffer.id)
    )
    for ticket_id, state, offered_at in rows:
        newest[ticket_id] = (state, offered_at)
    items = []
    for ticket in tickets:
        state, offered_at = newest.get(ticket.id, (None, None))
        if state == OFFERED:
            continue
        if state != "accepted":
            state = None  # an older offer that ended: the chat came back to them by hand
        items.append(ChatItem(*ticket, offer_state=state, offered_at=offered_at))
    return items
