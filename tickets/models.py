"""Tickets and everything they hold; the inbox and outbox tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from customers.models import Customer
from tickets.states import STATES  # noqa: F401  (kept importable from here)
from tresen.database import Base, UTCDateTime
from tresen.models import User

PRIORITIES = ("low", "normal", "high", "urgent")


class Counter(Base):
    """Named counters, e.g. the next human ticket number."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Confirm each new ticket to the customer (mail channels), in the customer's language.
    acknowledge: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_state_updated", "state", "updated_at"),
        Index("ix_tickets_customer_updated", "customer_id", "updated_at"),
        Index("ix_tickets_customer_subject_key", "customer_id", "subject_key"),
        # Agents' load (open tickets per assignee) for assignment.
        Index("ix_tickets_assignee_state", "assignee_id", "state"),
        # The console's "SLA at risk" and "breached" views, sorted by what is due first
        # (with the warning time, counting those at risk reads the index alone).
        Index("ix_tickets_state_sla_due", "state", "sla_due_at", "sla_warn_at"),
        Index("ix_tickets_state_created", "state", "created_at"),
        # A queue's open tickets: counted from the index.
        Index("ix_tickets_queue_state", "queue_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    channel: Mapped[str] = mapped_column(String(30))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The subject without reply prefixes and ticket number, for threading mail by subject.
    subject_key: Mapped[str | None] = mapped_column(String(500))
    # Opened by a reply to this (closed) ticket.
    follow_up_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL")
    )
    # Merged into that ticket (this one is closed; its messages moved there).
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL")
    )
    # The earliest due and warning time of the ticket's running SLA clocks (routing keeps
    # them), so lists sort and filter by SLA without reading the clocks.
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship(lazy="joined")
    queue: Mapped[Queue | None] = relationship(lazy="joined")
    assignee: Mapped[User | None] = relationship(lazy="joined")
    tag_rows: Mapped[list[TicketTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="TicketTag.tag"
    )
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.id", lazy="raise"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def display_number(self) -> str:
        return f"#{self.number}"


class TicketTag(Base):
    __tablename__ = "ticket_tags"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class Message(Base):
    __tablename__ = "messages"
    # The automatic mails of the last hour (the confirmations' limit for all addresses).
    __table_args__ = (Index("ix_messages_direction_created", "direction", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    channel: Mapped[str] = mapped_column(String(30))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    sender: Mapped[str | None] = mapped_column(String(320))  # the identity value it came from
    # Where it was sent: our address or number for inbound, the customer's for outbound.
    recipient: Mapped[str | None] = mapped_column(String(320), index=True)
    subject: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)  # always sanitized
    # The channel's own id for this message (an email Message-ID, a Twilio SID, ...).
    external_id: Mapped[str | None] = mapped_column(String(500), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(500), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Why a machine sent it (auto-reply, bounce, list); None when a person wrote it.
    auto_submitted: Mapped[str | None] = mapped_column(String(200))
    # The new part of the text (quoted history and signature trimmed), when it differs.
    visible_text: Mapped[str | None] = mapped_column(Text)
    # What the channel could not take as it came (e.g. an attachment over the size limit).
    notices: Mapped[list | None] = mapped_column(JSON)
    # What a bot's message offers besides its text (tresen.outbound.OutboundMessage.interactive).
    interactive: Mapped[dict | None] = mapped_column(JSON)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author_user: Mapped[User | None] = relationship(lazy="joined")
    attachments: Mapped[list[Attachment]] = relationship(
        lazy="selectin", order_by="Attachment.id", cascade="all, delete-orphan"
    )
    # How its delivery went (public outbound messages only).
    outbox: Mapped[OutboxMessage | None] = relationship(
        lazy="selectin", uselist=False, viewonly=True
    )


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    # Shown inline by the message's HTML (src="cid:...").
    content_id: Mapped[str | None] = mapped_column(String(500))


class TicketHistory(Base):
    """Who changed what on a ticket, and when."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    field: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class TicketLink(Base):
    """Two related tickets (kept both ways round: each lists the other)."""

    __tablename__ = "ticket_links"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    linked_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Macro(Base):
    """A canned response with placeholders ({{customer.name}}, {{ticket.number}}, ...) that
    may also change the ticket (state, priority, tags)."""

    __tablename__ = "macros"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # An agent's own macro; None: shared with everyone (supervisors keep those).
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    # Write the text as an internal note rather than a reply.
    internal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # {"state": "pending", "priority": "high", "add_tags": [...], "remove_tags": [...]}
    actions: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TicketView(Base):
    """A saved list of tickets: filters and a sort, an agent's own or shared with everyone."""

    __tablename__ = "ticket_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The list's query string, e.g. "state=open_all&priority=urgent&sort=sla".
    query: Mapped[str] = mapped_column(String(2000))
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboundRecord(Base):
    """Every inbound message exactly as received, stored before it is processed.

    status: processed, rejected (for what it holds), failed (tried again later) or
    quarantined (failed `tickets.inbox.MAX_ATTEMPTS` times: kept, no longer tried, shown
    to administrators with its error).
    """

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failed processing attempts so far, and when the last one was.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message waiting for its channel to deliver it; written with the message.

    A ticket message's row points to it (`message_id`); a mail to a staff member
    (a notification's copy) has no message and carries its own subject and text.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    # The staff notification this mail copies (rows without a message only).
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), unique=True
    )
    subject: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(30), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
