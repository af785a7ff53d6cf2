"""Reading tickets: filtered lists with keyset pagination, one ticket with its conversation."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, undefer

from tickets.models import (
    Attachment,
    InboundRecord,
    Message,
    Queue,
    Ticket,
    TicketHistory,
    TicketTag,
)


class CursorError(ValueError):
    """A pagination cursor that was not issued by us."""


@dataclass(frozen=True)
class TicketFilter:
    state: list[str] | None = None
    queue_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    channel: str | None = None
    tag: str | None = None


def encode_cursor(ticket: Ticket) -> str:
    raw = json.dumps([ticket.updated_at.isoformat(), ticket.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, ticket_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(stamp), int(ticket_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise CursorError(f"cursor {cursor!r} is not valid") from None


async def list_tickets(
    session: AsyncSession, filters: TicketFilter, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Ticket], str | None]:
    """Most recently updated first; returns the page and the cursor of the next one."""
    query = select(Ticket).order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit + 1)
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
    if filters.channel:
        query = query.where(Ticket.channel == filters.channel)
    if filters.tag:
        query = query.where(
            Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag == filters.tag))
        )
    if cursor:
        updated_at, ticket_id = decode_cursor(cursor)
        query = query.where(
            (Ticket.updated_at < updated_at)
            | ((Ticket.updated_at == updated_at) & (Ticket.id < ticket_id))
        )
    tickets = list((await session.scalars(query)).unique())
    next_cursor = encode_cursor(tickets[limit - 1]) if len(tickets) > limit else None
    return tickets[:limit], next_cursor


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
