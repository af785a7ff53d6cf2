"""Reading tickets: filtered lists with keyset pagination, one ticket with its conversation."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defaultload, joinedload, selectinload, undefer

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
    TicketView,
)
from tickets.states import OPEN_STATES
from tickets.text_search import matching
from tresen.ids import parse_id


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def sort_key(ticket: Ticket, sort: str = "updated") -> tuple:
    """The list's order in memory: sorted(tickets, key=...) agrees with list_tickets."""
    if sort == "updated":
        return _order_key(sort, [ticket.updated_at, ticket.id])
    if sort == "created":
        return _order_key(sort, [ticket.created_at, ticket.id])
    if sort == "priority":
        rank = PRIORITY_RANK.get(ticket.priority, 0)
        return _order_key(sort, [rank, ticket.updated_at, ticket.id])
    return _order_key(sort, [ticket.sla_due_at, ticket.id])


def cursor_key(cursor: str, sort: str = "updated") -> tuple:
    """The sort_key of the last row of the page before the cursor's (rows after it follow)."""
    return _order_key(sort, decode_cursor(cursor, sort))


def _order_key(sort: str, values: list) -> tuple:
    if sort == "sla":  # due first, earliest first; tickets without a clock after them
        due, ticket_id = values
        return (due is None, _micros(due) if due else 0, ticket_id)
    # Every other sort is descending in all its columns.
    return tuple(-(_micros(v) if isinstance(v, datetime) else v) for v in values)


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
                # A forged cursor's number must still fit the column (64 bits).
                if type(value) is not int or not 0 <= value < 2**63:
                    raise ValueError
            elif value is not None:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError
                values[index] = moment.astimezone(UTC)
            elif column is not Ticket.sla_due_at:
                raise ValueError
        return values
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, json.JSONDecodeError):
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


def matches(ticket: Ticket, filters: TicketFilter, now: datetime, *, text_hit: bool = False):
    """Whether `filtered` finds this ticket, decided in memory (customer and tags loaded).

    The text filter reads the messages' full-text index, which only the database has: the
    caller asks it (one query for many tickets) and says here whether this one matched.
    """
    if filters.state and ticket.state not in filters.state:
        return False
    if filters.queue_id is not None and ticket.queue_id != filters.queue_id:
        return False
    if filters.assignee_id is not None and ticket.assignee_id != filters.assignee_id:
        return False
    if filters.unassigned and ticket.assignee_id is not None:
        return False
    if filters.customer_id is not None and ticket.customer_id != filters.customer_id:
        return False
    if (
        filters.organization_id is not None
        and ticket.customer.organization_id != filters.organization_id
    ):
        return False
    if filters.channel and ticket.channel != filters.channel:
        return False
    if filters.priority and ticket.priority not in filters.priority:
        return False
    if filters.tag and filters.tag not in ticket.tags:
        return False
    due, warn = ticket.sla_due_at, ticket.sla_warn_at
    if filters.sla == "breached" and not (due is not None and due <= now):
        return False
    if filters.sla == "at_risk" and not (
        warn is not None and warn <= now and due is not None and due > now
    ):
        return False
    if filters.sla == "running" and due is None:
        return False
    if filters.sla == "none" and due is not None:
        return False
    return not filters.text or text_hit


def _text_matches(text: str):
    """Ticket number, subject, or every word in one of its messages (full-text index)."""
    text = text.strip()
    number = text.removeprefix("#")
    matches = [Ticket.subject.ilike(f"%{escape_like(text)}%", escape="\\")]
    in_messages = matching(Message.id, Message.text, text)
    if in_messages is not None:
        matches.append(Ticket.id.in_(select(Message.ticket_id).where(in_messages)))
    if parse_id(number) is not None:
        matches.insert(0, Ticket.number == parse_id(number))
    return or_(*matches)


_KEY_COLUMNS = (Ticket.id, Ticket.updated_at, Ticket.created_at, Ticket.priority, Ticket.sla_due_at)


async def list_tickets(
    session: AsyncSession,
    filters: TicketFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
    keys_only: bool = False,
) -> tuple[list[Ticket], str | None]:
    """One page in the filter's sort order, and the cursor of the next page (keyset).

    keys_only: rows of the id and the sort columns alone (what a live list keeps), not tickets.
    """
    now = now or datetime.now(UTC)
    sort = filters.sort if filters.sort in _ORDER else "updated"
    after = _after(sort, decode_cursor(cursor, sort)) if cursor else None
    query = select(*_KEY_COLUMNS) if keys_only else select(Ticket)
    query = query.order_by(*_ordering(sort)).limit(limit + 1)
    if _by_state(filters, sort):
        query = query.where(Ticket.id.in_(_page_ids_by_state(filters, sort, after, now, limit)))
    else:
        query = filtered(query, filters, now)
        if after is not None:
            query = query.where(after)
    if keys_only:
        tickets = list(await session.execute(query))
    else:
        tickets = list((await session.scalars(query)).unique())
    next_cursor = encode_cursor(tickets[limit - 1], sort) if len(tickets) > limit else None
    return tickets[:limit], next_cursor


async def sort_keys(session: AsyncSession, ids: list[int], sort: str) -> dict[int, tuple]:
    """The sort_key of each of these tickets (those that exist)."""
    rows = await session.execute(select(*_KEY_COLUMNS).where(Ticket.id.in_(ids)))
    return {row.id: sort_key(row, sort) for row in rows}


async def list_rows(session: AsyncSession, ids: list[int]) -> dict[int, Ticket]:
    """Tickets as a list row shows them (customer, queue, assignee, tags), in one query."""
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.id.in_(ids))
        .options(
            joinedload(Ticket.tag_rows),
            defaultload(Ticket.customer).raiseload(Customer.identities),
        )
    )
    return {ticket.id: ticket for ticket in rows.unique()}


async def text_hits(session: AsyncSession, ids: list[int], text: str, now: datetime) -> set[int]:
    """Which of these tickets the list's text filter finds (for `matches`)."""
    query = filtered(select(Ticket.id).where(Ticket.id.in_(ids)), TicketFilter(text=text), now)
    return set(await session.scalars(query))


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


def filter_key(filters: TicketFilter) -> tuple:
    """What the filter finds, hashable (the sort aside): equal keys, one count."""
    return tuple(
        tuple(v) if isinstance(v, list) else v for k, v in vars(filters).items() if k != "sort"
    )


async def count_tickets_shared(
    session: AsyncSession, filters: list[TicketFilter], now: datetime, *, cap: int = 10_000
) -> dict[tuple, int]:
    """Counts for many filters (by filter_key) in few queries, as count_tickets counts them:
    every filter within the open states in one pass over the open tickets (a sum per filter,
    its condition `filtered`'s own), each other distinct filter by its own query."""
    wanted = {filter_key(f): f for f in filters}
    together = {
        key: f
        for key, f in wanted.items()
        if f.state and set(f.state) <= set(OPEN_STATES) and not f.text
    }
    counts: dict[tuple, int] = {}
    if together:
        sums = [
            func.coalesce(func.sum(case((filtered(select(Ticket.id), f, now).whereclause, 1))), 0)
            for f in together.values()
        ]
        row = (await session.execute(select(*sums).where(Ticket.state.in_(OPEN_STATES)))).one()
        counts.update({key: min(n, cap + 1) for key, n in zip(together, row, strict=True)})
    rest = [(key, f) for key, f in wanted.items() if key not in together]
    rest_counts = await count_tickets(session, [f for _k, f in rest], now, cap=cap)
    for (key, _f), count in zip(rest, rest_counts, strict=True):
        counts[key] = count
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


async def messages_by_ids(session: AsyncSession, ids) -> dict[int, Message]:
    """Messages by id, in one query (with their attachments, author and delivery)."""
    found = await session.scalars(select(Message).where(Message.id.in_(list(ids))))
    return {message.id: message for message in found.unique()}


async def list_queues(session: AsyncSession) -> list[Queue]:
    return list(await session.scalars(select(Queue).order_by(Queue.name)))


async def visible_views(session: AsyncSession, user_id: int) -> list[TicketView]:
    """The saved views a user sees: their own and the shared ones, by name."""
    return list(
        await session.scalars(
            select(TicketView)
            .where(or_(TicketView.user_id == user_id, TicketView.shared))
            .order_by(TicketView.name, TicketView.id)
        )
    )


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
    raw = payload.get("raw") if isinstance(payload, dict) else None
    encoded = raw.get("rfc822_base64") if isinstance(raw, dict) else None
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:  # binascii.Error: a row stored before `raw` was validated
        return None


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


async def ticket_by_number(session: AsyncSession, number: int) -> Ticket | None:
    return await session.scalar(select(Ticket).where(Ticket.number == number))


async def tickets_by_ids(session: AsyncSession, ids: list[int]) -> list[Ticket]:
    return list((await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))).unique())


async def customer_tickets(
    session: AsyncSession, customer_id: int, *, other_than: int | None = None, limit: int = 10
) -> list[Ticket]:
    """The customer's most recently updated tickets, but `other_than`."""
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .order_by(Ticket.updated_at.desc())
        .limit(limit)
    )
    if other_than is not None:
        query = query.where(Ticket.id != other_than)
    return list((await session.scalars(query)).unique())


async def count_customer_tickets(session: AsyncSession, customer_id: int) -> int:
    return await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.customer_id == customer_id)
    )


async def last_customer_sender(session: AsyncSession, ticket_id: int) -> str | None:
    """Where the customer last wrote from on this ticket (the reply's default address)."""
    return await session.scalar(
        select(Message.sender)
        .where(
            Message.ticket_id == ticket_id,
            Message.direction == "inbound",
            Message.internal.is_(False),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


# --- The supervisors' board ---


async def open_by_queue(session: AsyncSession, now: datetime) -> dict:
    """Per queue id (None: no queue) of the open tickets: (backlog, unassigned, oldest
    created, SLA at risk, SLA breached)."""
    rows = await session.execute(
        select(
            Ticket.queue_id,
            func.count(),
            func.sum(case((Ticket.assignee_id.is_(None), 1), else_=0)),
            func.min(Ticket.created_at),
            func.sum(case((and_(Ticket.sla_warn_at <= now, Ticket.sla_due_at > now), 1), else_=0)),
            func.sum(case((Ticket.sla_due_at <= now, 1), else_=0)),
        )
        .where(Ticket.state.in_(OPEN_STATES))
        .group_by(Ticket.queue_id)
    )
    return {row[0]: tuple(row[1:]) for row in rows}


async def at_risk(session: AsyncSession, now: datetime, limit: int) -> list[Ticket]:
    """Open tickets past their SLA warning, the soonest due first."""
    return list(
        (
            await session.scalars(
                select(Ticket)
                .where(Ticket.state.in_(OPEN_STATES), Ticket.sla_warn_at <= now)
                .order_by(Ticket.sla_due_at, Ticket.id)
                .limit(limit)
            )
        ).unique()
    )


async def open_load_by_assignee(session: AsyncSession) -> dict[int, int]:
    """How many open tickets each agent has."""
    rows = await session.execute(
        select(Ticket.assignee_id, func.count())
        .where(Ticket.state.in_(OPEN_STATES), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
    )
    return dict(rows.all())


async def view_choices(session: AsyncSession) -> tuple[list[tuple], list[tuple]]:
    """Every queue (id, name) and every saved view (id, name, query, shared, owner), by
    name: what the live lists match events against."""
    queues = [
        tuple(row)
        for row in await session.execute(select(Queue.id, Queue.name).order_by(Queue.name))
    ]
    saved = [
        tuple(row)
        for row in await session.execute(
            select(
                TicketView.id,
                TicketView.name,
                TicketView.query,
                TicketView.shared,
                TicketView.user_id,
            ).order_by(TicketView.name, TicketView.id)
        )
    ]
    return queues, saved
