"""Whether a queue can take a live chat now: open, staffed, and how long a visitor waits.

The queue's hours are its SLA policy's calendar, else the desk's default calendar,
else round the clock. Closed: the widget offers to leave a message and says when
it opens. Open with no member agent online: nobody to chat with. Online agents all
at their chat capacity: the chat is taken, with an expected wait of the chats
waiting before it (and itself) times the queue's average chat length, shared by
the agents online.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import func, select

from routing.assignment import DEFAULT_CHAT_CAPACITY
from routing.calendars import BusinessCalendar, CalendarError
from routing.config import RoutingConfigError, calendar_from_row
from routing.models import (
    AgentProfile,
    BusinessCalendarRow,
    QueueMember,
    QueueRouting,
    SlaPolicyRow,
)
from tickets.models import Message, Ticket, TicketHistory
from tickets.states import DONE_STATES, OPEN_STATES
from tresen import channel as channel_registry
from tresen.models import User

DEFAULT_CHAT_SECONDS = 300  # a chat's length when the queue has no finished chats yet
RECENT_CHATS = 50  # finished chats the average length is taken over


async def availability(
    session,
    queue_id: int | None,
    now: datetime,
    *,
    chat_default_capacity: int = DEFAULT_CHAT_CAPACITY,
) -> dict:
    """{"available", "reason" (None, "closed", "no_agents", "busy"), "expected_wait_seconds",
    "opens_at" (ISO 8601 when closed)} for a chat into the queue (None: any queue).

    `chat_default_capacity` is the setting of that name (chats at once for an agent whose
    profile sets none)."""
    calendar = await _calendar(session, queue_id)
    if calendar is not None and not calendar.is_open(now):
        return _answer(False, "closed", opens_at=_next_opening(calendar, now))
    agents = await _online_agents(session, queue_id)
    if not agents:
        return _answer(False, "no_agents")
    chats = await _active_chats(session, list(agents))
    with_room = [
        agent_id
        for agent_id, capacity in agents.items()
        if chats.get(agent_id, 0) < (chat_default_capacity if capacity is None else capacity)
    ]
    if with_room:
        return _answer(True, None)
    waiting = await _waiting_chats(session, queue_id)
    average = await average_chat_seconds(session, queue_id)
    # The visitor asking waits for those before them and their own turn.
    wait = math.ceil((waiting + 1) * average / len(agents))
    return _answer(True, "busy", expected_wait_seconds=wait)


def _answer(
    available: bool,
    reason: str | None,
    *,
    expected_wait_seconds: int | None = None,
    opens_at: str | None = None,
) -> dict:
    return {
        "available": available,
        "reason": reason,
        "expected_wait_seconds": expected_wait_seconds,
        "opens_at": opens_at,
    }


def _next_opening(calendar: BusinessCalendar, now: datetime) -> str | None:
    try:
        begin, _end = next(calendar.intervals_from(now))
    except CalendarError:  # never opens
        return None
    return begin.isoformat()


async def _calendar(session, queue_id: int | None) -> BusinessCalendar | None:
    """The queue's SLA policy's calendar, else the default one, else None (always open)."""
    row = None
    if queue_id is not None:
        calendar_id = await session.scalar(
            select(SlaPolicyRow.calendar_id)
            .join(QueueRouting, QueueRouting.sla_policy_id == SlaPolicyRow.id)
            .where(QueueRouting.queue_id == queue_id)
        )
        if calendar_id is not None:
            row = await session.get(BusinessCalendarRow, calendar_id)
    if row is None:
        row = await session.scalar(
            select(BusinessCalendarRow)
            .where(BusinessCalendarRow.is_default)
            .order_by(BusinessCalendarRow.id)
            .limit(1)
        )
    if row is None:
        return None
    try:
        return calendar_from_row(row)
    except RoutingConfigError:  # stored before a check existed: not a reason to close
        return None


async def _online_agents(session, queue_id: int | None) -> dict[int, int | None]:
    """Online, active agents of the queue (of any queue: None), with their chat capacity."""
    query = (
        select(AgentProfile.user_id, AgentProfile.chat_capacity)
        .join(User, User.id == AgentProfile.user_id)
        .where(AgentProfile.presence == "online", User.active)
    )
    members = select(QueueMember.user_id).where(QueueMember.role == "agent")
    if queue_id is not None:
        members = members.where(QueueMember.queue_id == queue_id)
    query = query.where(AgentProfile.user_id.in_(members))
    return {user_id: capacity for user_id, capacity in await session.execute(query)}


def _live_channels() -> list[str]:
    return [channel.name for channel in channel_registry.channels() if channel.live]


async def _active_chats(session, agent_ids: list[int]) -> dict[int, int]:
    live = _live_channels()
    if not live or not agent_ids:
        return {}
    rows = await session.execute(
        select(Ticket.assignee_id, func.count())
        .where(
            Ticket.assignee_id.in_(agent_ids),
            Ticket.channel.in_(live),
            Ticket.state.in_(OPEN_STATES),
        )
        .group_by(Ticket.assignee_id)
    )
    return dict(rows.all())


async def _waiting_chats(session, queue_id: int | None) -> int:
    """Open chats nobody has yet (of the queue; None: of any queue)."""
    live = _live_channels()
    if not live:
        return 0
    query = (
        select(func.count())
        .select_from(Ticket)
        .where(
            Ticket.assignee_id.is_(None),
            Ticket.channel.in_(live),
            Ticket.state.in_(OPEN_STATES),
        )
    )
    if queue_id is not None:
        query = query.where(Ticket.queue_id == queue_id)
    return await session.scalar(query) or 0


_with_the_bot = (
    select(TicketHistory.id)
    .where(
        TicketHistory.ticket_id == Ticket.id,
        TicketHistory.field == "state",
        TicketHistory.new_value == "bot",
    )
    .exists()
)


async def average_chat_seconds(session, queue_id: int | None) -> float:
    """The average length (first to last message) of the queue's last RECENT_CHATS finished
    chats (None: of any queue); DEFAULT_CHAT_SECONDS when there are none."""
    live = _live_channels()
    if not live:
        return DEFAULT_CHAT_SECONDS
    recent = (
        select(Ticket.id)
        .where(
            Ticket.channel.in_(live),
            Ticket.state.in_(DONE_STATES),
            # A chat the bot had and no agent took (it solved it, or the customer left)
            # says nothing about how long an agent's chat takes.
            Ticket.assignee_id.is_not(None) | ~_with_the_bot,
        )
        .order_by(Ticket.solved_at.desc(), Ticket.id.desc())
        .limit(RECENT_CHATS)
    )
    if queue_id is not None:
        recent = recent.where(Ticket.queue_id == queue_id)
    spans = await session.execute(
        select(func.min(Message.created_at), func.max(Message.created_at))
        .where(Message.ticket_id.in_(recent))
        .group_by(Message.ticket_id)
    )
    # A chat of one message was never a conversation: it says nothing about the length.
    lengths = [(last - first).total_seconds() for first, last in spans if last > first]
    if not lengths:
        return DEFAULT_CHAT_SECONDS
    return sum(lengths) / len(lengths)
