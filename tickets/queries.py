"""Reading tickets: filtered lists with keyset pagination, one ticket with its conversation."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, undefer

from customers.models import Customer
from customers.queries import escape_like
from tickets.models import (
    STATES,
    Attachment,
    InboundRecord,
    Message,
    Queue,
    Ticket,
    TicketHistory,
    TicketTag,
)
from tickets.text_search import matching


class CursorError(ValueError):
    """A pagination cursor that was not issued by us."""


PRIORITY_RANK = {"urgent": 4, "high": 3, "normal": 2, "low": 1}
SORTS = ("updated", "sla", "priority", "created")
SLA_FILTERS = ("at_risk", "breached", "running", "none")


@dataclass(frozen=True)
class TicketFilter:
    state: list[str] | None = None
    queue_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    organization_id: int | None = None
    channel: str | None = None
    tag: str | None = None
    priority: list[str] | None = None
    # at_risk: warned, not yet due; breached: due and not met; running: any clock runs.
    sla: str | None = None
    # Ticket number, subject or the text of its messages.
    text: str | None = None
    sort: str = "updated"


_RANK = case(PRIORITY_RANK, value=Ticket.priority, else_=0)
# Each sort: the columns in order, descending or not; ties end on the id.
_ORDER = {
    "updated": [(Ticket.updated_at, True), (Ticket.id, True)],
    "created": [(Ticket.created_at, True), (Ticket.id, True)],
    "priority": [(_RANK, True), (Ticket.updated_at, True), (Ticket.id, True)],
    # Due first; tickets without a running clock after them.
    "sla": [(Ticket.sla_due_at, False), (Ticket.id, False)],
}


def _sort_values(ticket: Ticket, sort: str) -> list:
    if sort == "updated":
        return [ticket.updated_at.isoformat(), ticket.id]
    if sort == "created":
        return [ticket.created_at.isoformat(), ticket.id]
    if sort == "priority":
        return [PRIORITY_RANK.get(ticket.priority, 0), ticket.updated_at.isoformat(), ticket.id]
    return [ticket.sla_due_at.isoformat() if ticket.sla_due_at else None, ticket.id]


def encode_cursor(ticket: Ticket, sort: str = "updated") -> str:
    raw = json.dumps([sort, *_sort_values(ticket, sort)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str = "updated") -> list:
    """The sort values of the last row of the previous page."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(raw, list) or raw[0] != sort or len(raw) != len(_ORDER[sort]) + 1:
            raise ValueError
        values = raw[1:]
        for index, (column, _desc) in enumerate(_ORDER[sort]):
            value = values[index]
            if column is Ticket.id or column is _RANK:
                values[index] = int(value)
            elif value is not None:
                values[index] = datetime.fromisoformat(value)
            elif column is not Ticket.sla_due_at:
                raise ValueError
        return values
    except (ValueError, TypeError, KeyError, IndexError, json.JSONDecodeError):
        raise CursorError(f"cursor {cursor!r} is not valid") from None


def _after(sort: str, values: list):
    """Rows after the cursor in the sort order: (a > x) or (a = x and b > y) or ..."""
    columns = _ORDER[sort]
    if sort == "sla":
        due, ticket_id = values
        if due is None:  # in the tail of tickets without a due time
            return Ticket.sla_due_at.is_(None) & (Ticket.id > ticket_id)
        return (
            (Ticket.sla_due_at > due)
            | ((Ticket.sla_due_at == due) & (Ticket.id > ticket_id))
            | Ticket.sla_due_at.is_(None)
        )
    clauses = []
    for index, (column, descending) in enumerate(columns):
        beyond = column < values[index] if descending else column > values[index]
        equal = [c == v for (c, _d), v in zip(columns[:index], values[:index], strict=False)]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def _ordering(sort: str) -> list:
    if sort == "sla":
        return [Ticket.sla_due_at.is_(None), Ticket.sla_due_at, Ticket.id]
    return [column.desc() if descending else column for column, descending in _ORDER[sort]]


def filtered(query, filters: TicketFilter, now: datetime):
    """The query narrowed by the filters (shared by lists and counts)."""
    if filters.state:
        query = query.where(Ticket.state.in_(filters.state))
    if filters.queue_id is not None:
        query = query.where(Ticket.queue_id == filters.queue_id)
    if filters.assignee_id is not None:
        query = query.where(Ticket.assignee_id == filters.assignee_id)
    if filters.unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    if filters.customer_id is not None:
        query = query.where(Ticket.customer_id == filters.customer_id)
    if filters.organization_id is not None:
        query = query.where(
            Ticket.customer_id.in_(
                select(Customer.id).where(Customer.organization_id == filters.organization_id)
            )
        )
    if filters.channel:
        query = query.where(Ticket.channel == filters.channel)
    if filters.priority:
        query = query.where(Ticket.priority.in_(filters.priority))
    if filters.tag:
        query = query.where(
            Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag == filters.tag))
        )
    if filters.sla == "breached":
        query = query.where(Ticket.sla_due_at <= now)
    elif filters.sla == "at_risk":
        query = query.where(Ticket.sla_warn_at <= now, Ticket.sla_due_at > now)
    elif filters.sla == "running":
        query = query.where(Ticket.sla_due_at.is_not(None))
    elif filters.sla == "none":
        query = query.where(Ticket.sla_due_at.is_(None))
    if filters.text:
        query = query.where(_text_matches(filters.text))
    return query


def _text_matches(text: str):
    """Ticket number, subject, or every word in one of its messages (full-text index)."""
    text = text.strip()
    number = text.removeprefix("#")
    matches = [Ticket.subject.ilike(f"%{escape_like(text)}%", escape="\\")]
    in_messages = matching(Message.id, Message.text, text)
    if in_messages is not None:
        matches.append(Ticket.id.in_(select(Message.ticket_id).where(in_messages)))
    if number.isdigit():
        matches.insert(0, Ticket.number == int(number))
    return or_(*matches)


async def list_tickets(
    session: AsyncSession,
    filters: TicketFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> tuple[list[Ticket], str | None]:
    """One page in the filter's sort order, and the cursor of the next page (keyset)."""
    now = now or datetime.now(UTC)
    sort = filters.sort if filters.sort in _ORDER else "updated"
    after = _after(sort, decode_cursor(cursor, sort)) if cursor else None
    query = select(Ticket).order_by(*_ordering(sort)).limit(limit + 1)
    if _by_state(filters, sort):
        query = query.where(Ticket.id.in_(_page_ids_by_state(filters, sort, after, now, limit)))
    else:
        query = filtered(query, filters, now)
        if after is not None:
            query = query.where(after)
    tickets = list((await session.scalars(query)).unique())
    next_cursor = encode_cursor(tickets[limit - 1], sort) if len(tickets) > limit else None
    return tickets[:limit], next_cursor


# Filters that narrow a list to few tickets: their own index finds them faster than
# walking the state's index in sort order.
_SELECTIVE = ("assignee_id", "customer_id", "organization_id", "tag", "text")


def _by_state(filters: TicketFilter, sort: str) -> bool:
    one_state = filters.state is not None and len(filters.state) == 1
    return not (one_state and sort == "updated") and not any(
        getattr(filters, name) for name in _SELECTIVE
    )


def _page_ids_by_state(filters: TicketFilter, sort: str, after, now: datetime, limit: int):
    """The ids of the page's candidates: the first `limit + 1` of each state in sort order.

    "state IN (...) ORDER BY x LIMIT n" makes the database sort every open ticket; one
    ordered walk of the (state, x) index per state reads n rows each instead. By priority:
    one walk per state and priority, newest first.
    """
    parts = []
    for state in filters.state or STATES:
        one_state = filtered(select(Ticket.id), replace(filters, state=[state]), now)
        if after is not None:
            one_state = one_state.where(after)
        if sort == "sla":  # those with a due time by it, then those without by id
            ordered = [
                one_state.where(Ticket.sla_due_at.is_not(None)).order_by(
                    Ticket.sla_due_at, Ticket.id
                ),
                one_state.where(Ticket.sla_due_at.is_(None)).order_by(Ticket.id),
            ]
        elif sort == "priority":
            ordered = [
                one_state.where(Ticket.priority == priority).order_by(
                    Ticket.updated_at.desc(), Ticket.id.desc()
                )
                for priority in (filters.priority or PRIORITY_RANK)
            ]
        else:
            ordered = [one_state.order_by(*_ordering(sort))]
        for statement in ordered:
            inner = statement.limit(limit + 1).subquery()
            parts.append(select(inner.c.id))
    return union_all(*parts)


async def count_tickets(
    session: AsyncSession, filters: list[TicketFilter], now: datetime, *, cap: int = 10_000
) -> list[int]:
    """How many tickets each filter finds (counted up to `cap`: "10000+" is enough to know)."""
    counts = []
    for item in filters:
        inner = filtered(select(Ticket.id), item, now).limit(cap + 1).subquery()
        counts.append(await session.scalar(select(func.count()).select_from(inner)))
    return counts


async def get_ticket(session: AsyncSession, ticket_id: int, *, with_messages: bool = False):
    query = select(Ticket).where(Ticket.id == ticket_id)
    if with_messages:
        query = query.options(selectinload(Ticket.messages))
    return (await session.scalars(query)).unique().one_or_none()


async def ticket_history(session: AsyncSession, ticket_id: int) -> list[TicketHistory]:
    rows = await session.scalars(
        select(TicketHistory).where(TicketHistory.ticket_id == ticket_id).order_by(TicketHistory.id)
    )
    return list(rows)


async def get_message(session: AsyncSession, message_id: int) -> Message | None:
    return await session.get(Message, message_id)


async def list_queues(session: AsyncSession) -> list[Queue]:
    return list(await session.scalars(select(Queue).order_by(Queue.name)))


async def get_attachment(session: AsyncSession, message_id: int, attachment_id: int):
    """An attachment of a message, with its content."""
    return await session.scalar(
        select(Attachment)
        .where(Attachment.id == attachment_id, Attachment.message_id == message_id)
        .options(undefer(Attachment.content))
    )


async def raw_source(session: AsyncSession, message: Message) -> bytes | None:
    """The message exactly as its channel delivered it (an email's RFC 822 source)."""
    if message.direction != "inbound" or not message.external_id:
        return None
    payload = await session.scalar(
        select(InboundRecord.payload).where(
            InboundRecord.channel == message.channel,
            InboundRecord.external_id == message.external_id,
        )
    )
    encoded = ((payload or {}).get("raw") or {}).get("rfc822_base64") if payload else None
    if not isinstance(encoded, str):
        return None
    return base64.b64decode(encoded)


async def outbound_messages(session: AsyncSession, ticket_id: int) -> list[Message]:
    """A ticket's public outbound messages with their delivery (for live delivery updates)."""
    return list(
        await session.scalars(
            select(Message)
            .where(
                Message.ticket_id == ticket_id,
                Message.direction == "outbound",
                Message.internal.is_(False),
            )
            .order_by(Message.id)
        )
    )
