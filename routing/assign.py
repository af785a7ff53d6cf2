"""Agents' presence and profiles, and assignment by a queue's mode (the pure choice is
`routing.assignment.choose`; this gathers its candidates and records the outcome)."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, func, insert, select, update

from routing.assignment import Candidate, Choice, choose
from routing.config import current
from routing.models import AgentProfile, QueueMember, QueueRouting
from tickets.models import Ticket
from tickets.states import OPEN_STATES
from tresen import channel as channel_registry
from tresen.models import User
from tresen.runtime import ActionError, Transaction

PRESENCE = ("online", "away", "offline")


async def set_presence(tx: Transaction, user_id: int, presence: str) -> None:
    """An agent goes online (gets new work), away or offline (gets none)."""
    if presence not in PRESENCE:
        raise ActionError("presence", f"presence {presence!r} is not one of {', '.join(PRESENCE)}")
    connection = await tx.session.connection()
    values = {"presence": presence, "presence_changed_at": tx.now()}
    done = await connection.execute(
        update(AgentProfile).where(AgentProfile.user_id == user_id).values(values)
    )
    if done.rowcount == 0:
        await connection.execute(insert(AgentProfile), {"user_id": user_id, "skills": [], **values})
    tx.emit("agent.presence", user_id=user_id, presence=presence)


async def assign(
    tx: Transaction,
    queue_id: int,
    *,
    customer_id: int | None,
    ticket_id: int,
    language: str | None,
    live: bool = False,
    excluded: frozenset[int] = frozenset(),
) -> Choice:
    """Pick the agent for a new ticket in a queue, per the queue's mode.

    `live`: the ticket is a chat (chat capacity counts, not ticket capacity);
    `excluded`: agents not to choose (they declined this chat or let it expire).
    """
    config = await current(tx)
    routing = config.queues.get(queue_id)
    if routing is None or routing.mode == "manual":
        return Choice(None, "the queue assigns by hand")
    connection = await tx.session.connection()
    # Who the queue chose last, read under a row lock: concurrent inboxes on
    # PostgreSQL take turns, so round robin never gives two in a row to one agent.
    query = _LAST_AGENT_LOCKED if tx.runtime.settings.is_postgres else _LAST_AGENT
    last_agent_id = await connection.scalar(query, {"queue_id": queue_id})
    candidates = await _candidates(tx, queue_id)
    previous = None
    if routing.prefer_previous_agent and customer_id is not None:
        previous = await connection.scalar(
            select(Ticket.assignee_id)
            .where(
                Ticket.customer_id == customer_id,
                Ticket.id != ticket_id,
                Ticket.assignee_id.is_not(None),
            )
            .order_by(Ticket.id.desc())
            .limit(1)
        )
    required = frozenset(routing.required_skills or ())
    if routing.mode == "skills" and language:
        required |= {f"lang:{language}"}
    choice = choose(
        routing.mode,
        candidates,
        last_agent_id=last_agent_id,
        required_skills=required,
        previous_agent_id=previous,
        live=live,
        excluded=excluded,
        default_chat_capacity=tx.runtime.settings.chat_default_capacity,
    )
    if choice.agent_id is not None:
        chosen = {"for_queue": queue_id, "agent_id": choice.agent_id, "at": tx.now()}
        await connection.execute(_SET_LAST_AGENT, chosen)
        await connection.execute(_SET_LAST_ASSIGNED, chosen)
    return choice


_LAST_AGENT = select(QueueRouting.last_agent_id).where(
    QueueRouting.queue_id == bindparam("queue_id")
)
_LAST_AGENT_LOCKED = _LAST_AGENT.with_for_update()
_SET_LAST_AGENT = (
    update(QueueRouting)
    .where(QueueRouting.queue_id == bindparam("for_queue"))
    .values(last_agent_id=bindparam("agent_id"))
)
_SET_LAST_ASSIGNED = (
    update(AgentProfile)
    .where(AgentProfile.user_id == bindparam("agent_id"))
    .values(last_assigned_at=bindparam("at"))
)
_MEMBERS = (
    select(
        QueueMember.user_id,
        AgentProfile.presence,
        AgentProfile.capacity,
        AgentProfile.chat_capacity,
        AgentProfile.skills,
        AgentProfile.last_assigned_at,
    )
    .join(User, User.id == QueueMember.user_id)
    .outerjoin(AgentProfile, AgentProfile.user_id == QueueMember.user_id)
    .where(QueueMember.queue_id == bindparam("queue_id"), QueueMember.role == "agent", User.active)
)
_LOADS = (
    select(Ticket.assignee_id, Ticket.channel, func.count())
    .where(
        and_(
            Ticket.assignee_id.in_(bindparam("ids", expanding=True)),
            Ticket.state.in_(OPEN_STATES),
        )
    )
    .group_by(Ticket.assignee_id, Ticket.channel)
)


async def _candidates(tx: Transaction, queue_id: int) -> list[Candidate]:
    connection = await tx.session.connection()
    members = (await connection.execute(_MEMBERS, {"queue_id": queue_id})).all()
    if not members:
        return []
    loads: dict[tuple[int, bool], int] = {}
    rows = await connection.execute(_LOADS, {"ids": [member.user_id for member in members]})
    for agent_id, channel, count in rows:
        key = (agent_id, channel_registry.describe(channel).live)
        loads[key] = loads.get(key, 0) + count
    return [
        Candidate(
            agent_id=member.user_id,
            present=member.presence == "online",
            open_tickets=loads.get((member.user_id, False), 0),
            active_chats=loads.get((member.user_id, True), 0),
            capacity=member.capacity,
            chat_capacity=member.chat_capacity,
            skills=frozenset(member.skills or ()),
            last_assigned_at=member.last_assigned_at,
        )
        for member in members
    ]
