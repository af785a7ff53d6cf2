"""What a customer signed in to the portal may see: which tickets, which of their messages,
which attachments.

A customer sees the tickets of their own record (from every channel and identity); the
manager of an organization also sees those of every customer of the organization. Of a
ticket only the public conversation is shown (never internal notes), and only what a
customer may know of it: number, subject, state, channel and times, never the queue, the
assignee, the priority, tags or SLA. Everything else does not exist: the pages answer 404
for it, however its number or id is guessed, never 403.

The portal's pages ask here and nowhere else; every query takes the viewer and narrows by
`ticket_scope(viewer)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from customers.models import Customer
from tickets.models import Attachment, Message, Ticket
from tickets.states import DONE_STATES

# How many tickets the list shows at most (newest first).
LIST_LIMIT = 200
# Merged tickets point to where their conversation went; merges may chain.
MAX_MERGE_HOPS = 10


class Viewer(Protocol):
    """Who is looking (portal.session.PortalViewer, read from the database per request)."""

    customer_id: int
    organization_id: int | None
    org_role: str | None


def is_manager(viewer: Viewer) -> bool:
    return viewer.org_role == "manager" and viewer.organization_id is not None


def ticket_scope(viewer: Viewer):
    """The condition on `Ticket` of the tickets the viewer may see."""
    own = Ticket.customer_id == viewer.customer_id
    if not is_manager(viewer):
        return own
    colleagues = select(Customer.id).where(Customer.organization_id == viewer.organization_id)
    return or_(own, Ticket.customer_id.in_(colleagues))


@dataclass(frozen=True)
class PortalTicket:
    """A ticket as a customer sees it: no queue, assignee, priority, tags or SLA."""

    id: int
    number: int
    subject: str
    state: str
    channel: str
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    # Whose request it is (a manager sees the organization's), and whether it is the viewer's.
    customer_id: int
    customer_name: str
    own: bool

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES


@dataclass(frozen=True)
class PortalAttachment:
    id: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class PortalMessage:
    """One message of the public conversation."""

    id: int
    # inbound: the customer's side wrote it; outbound: the desk answered.
    direction: str
    channel: str
    created_at: datetime
    text: str
    # The customer who wrote it (inbound); None for the desk's answers.
    author_name: str | None
    by_viewer: bool
    attachments: tuple[PortalAttachment, ...]


_TICKET_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.subject,
    Ticket.state,
    Ticket.channel,
    Ticket.created_at,
    Ticket.updated_at,
    Ticket.solved_at,
    Ticket.customer_id,
    Customer.name,
)


def _portal_ticket(row, viewer: Viewer) -> PortalTicket:
    return PortalTicket(
        id=row.id,
        number=row.number,
        subject=row.subject,
        state=row.state,
        channel=row.channel,
        created_at=row.created_at,
        updated_at=row.updated_at,
        solved_at=row.solved_at,
        customer_id=row.customer_id,
        customer_name=row.name,
        own=row.customer_id == viewer.customer_id,
    )


def _visible_tickets(viewer: Viewer):
    return (
        select(*_TICKET_COLUMNS)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(ticket_scope(viewer))
    )


async def list_tickets(
    session: AsyncSession, viewer: Viewer, *, show: str = "all", limit: int = LIST_LIMIT
) -> list[PortalTicket]:
    """The viewer's tickets, last updated first; show: "open", "closed" (solved or closed)
    or "all". Tickets merged into another are left out (their conversation is there)."""
    query = (
        _visible_tickets(viewer)
        .where(Ticket.merged_into_id.is_(None))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    if show == "open":
        query = query.where(Ticket.state.not_in(DONE_STATES))
    elif show == "closed":
        query = query.where(Ticket.state.in_(DONE_STATES))
    rows = await session.execute(query)
    return [_portal_ticket(row, viewer) for row in rows]


async def find_ticket(session: AsyncSession, viewer: Viewer, number: int) -> PortalTicket | None:
    """The visible ticket with this number; for a merged one, the ticket it went into (when
    that is visible too). None for every ticket the viewer may not see."""
    for _hop in range(MAX_MERGE_HOPS):
        row = (
            await session.execute(
                select(*_TICKET_COLUMNS, Ticket.merged_into_id)
                .join(Customer, Customer.id == Ticket.customer_id)
                .where(Ticket.number == number, ticket_scope(viewer))
            )
        ).first()
        if row is None:
            return None
        if row.merged_into_id is None:
            return _portal_ticket(row, viewer)
        target = await session.scalar(select(Ticket.number).where(Ticket.id == row.merged_into_id))
        if target is None:
            return None
        number = target
    return None


async def public_conversation(
    session: AsyncSession, viewer: Viewer, ticket: PortalTicket
) -> list[PortalMessage]:
    """The ticket's public messages, oldest first, with their attachments (no internal
    notes). `ticket` comes from `find_ticket`, so it is the viewer's to see."""
    rows = (
        await session.execute(
            select(
                Message.id,
                Message.direction,
                Message.channel,
                Message.created_at,
                Message.text,
                Message.visible_text,
                Message.author_customer_id,
                Customer.name,
            )
            .outerjoin(Customer, Customer.id == Message.author_customer_id)
            .where(Message.ticket_id == ticket.id, Message.internal.is_(False))
            .order_by(Message.created_at, Message.id)
        )
    ).all()
    files: dict[int, list[PortalAttachment]] = {}
    if rows:
        found = await session.execute(
            select(
                Attachment.message_id,
                Attachment.id,
                Attachment.filename,
                Attachment.content_type,
                Attachment.size,
            )
            .where(Attachment.message_id.in_([row.id for row in rows]))
            .order_by(Attachment.id)
        )
        for item in found:
            files.setdefault(item.message_id, []).append(
                PortalAttachment(item.id, item.filename, item.content_type, item.size)
            )
    messages = []
    for row in rows:
        inbound = row.direction == "inbound"
        messages.append(
            PortalMessage(
                id=row.id,
                direction=row.direction,
                channel=row.channel,
                created_at=row.created_at,
                # Mail's quoted history and signature trimmed, as the console shows it.
                text=(row.visible_text or row.text or "") if inbound else (row.text or ""),
                author_name=row.name if inbound else None,
                by_viewer=inbound and row.author_customer_id == viewer.customer_id,
                attachments=tuple(files.get(row.id, ())),
            )
        )
    return messages


async def find_attachment(
    session: AsyncSession, viewer: Viewer, number: int, attachment_id: int
) -> Attachment | None:
    """An attachment of a public message of a visible ticket with this number, with its
    content; None for anything else (an internal note's file, another's ticket, a wrong
    number)."""
    return await session.scalar(
        select(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(
            Attachment.id == attachment_id,
            Message.internal.is_(False),
            Ticket.number == number,
            ticket_scope(viewer),
        )
        .options(undefer(Attachment.content))
    )


def reopen_until(ticket: PortalTicket, days: float) -> datetime | None:
    """Until when a solved or closed ticket may be reopened by its customer (None: not done)."""
    if not ticket.done:
        return None
    return (ticket.solved_at or ticket.updated_at) + timedelta(days=days)


def may_reopen(ticket: PortalTicket, now: datetime, days: float) -> bool:
    until = reopen_until(ticket, days)
    return until is not None and now <= until


def may_reply(ticket: PortalTicket) -> bool:
    """A reply joins every ticket but a closed one (that one is reopened first, or a new
    request is made)."""
    return ticket.state != "closed"


def may_close(ticket: PortalTicket) -> bool:
    return not ticket.done
