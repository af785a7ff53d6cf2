"""What happens to tickets, their messages and the outbox: the payload of each event."""

from __future__ import annotations

from dataclasses import dataclass

from tresen.events import Payload


@dataclass(frozen=True)
class TicketCreated(Payload, type="ticket.created"):
    ticket_id: int
    number: int

    def key(self) -> str:
        return f"ticket.created:{self.ticket_id}"


@dataclass(frozen=True)
class TicketUpdated(Payload, type="ticket.updated"):
    ticket_id: int
    # What changed, e.g. ["state", "assignee"], ["messages"], ["delivery"], ["sla"].
    fields: list[str]
    # For ["delivery"]: the replies whose delivery moved (None: look at all of them).
    message_ids: list[int] | None = None


@dataclass(frozen=True)
class TicketHandedOver(Payload, type="ticket.handed_over"):
    """The bot handed a conversation to people (routing assigns it and starts its clocks)."""

    ticket_id: int
    # asked_for_person, angry, said_no, second_miss, low_confidence, unsupported_language,
    # no_answer, assistant_failed, taken_by_agent, other_channel, switched_off, bot_failed,
    # returned (the customer wrote again on what the bot resolved, and the bot is off now)
    reason: str
    # The handoff's note on the ticket: one key per handoff (a resumed conversation may be
    # handed off again).
    note_id: int | None = None

    def key(self) -> str | None:
        if self.note_id is None:
            return None  # a key of its own per emission (tresen.handlers)
        return f"ticket.handed_over:{self.ticket_id}:{self.note_id}"


@dataclass(frozen=True)
class TicketMerged(Payload, type="ticket.merged"):
    ticket_id: int
    into_id: int
    messages: int  # how many messages moved


@dataclass(frozen=True)
class MessageCreated(Payload, type="message.created"):
    ticket_id: int
    message_id: int
    direction: str  # inbound or outbound
    internal: bool
    # Sent by a machine (an auto-reply, a bounce), not written by a person.
    automatic: bool = False
    # The message's channel (the bot answers on the channels it is on).
    channel: str | None = None

    def key(self) -> str:
        return f"message.created:{self.message_id}"


@dataclass(frozen=True)
class OutboxQueued(Payload, type="outbox.queued"):
    """A message (or, with message_id None, a staff mail) waits in the outbox."""

    message_id: int | None
    channel: str | None = None


@dataclass(frozen=True)
class MacroChanged(Payload, type="macro.changed"):
    macro_id: int


@dataclass(frozen=True)
class QueueCreated(Payload, type="queue.created"):
    queue_id: int


@dataclass(frozen=True)
class QueueUpdated(Payload, type="queue.updated"):
    queue_id: int
    fields: list[str]


@dataclass(frozen=True)
class TicketViewChanged(Payload, type="ticket_view.changed"):
    """A saved view (list filter) was saved, renamed or removed."""

    view_id: int
    user_id: int


@dataclass(frozen=True)
class TicketViewer(Payload, type="ticket.viewer"):
    """Who is on a ticket's page (published, not stored): join, here, typing, leave."""

    action: str
    ticket_id: int
    user_id: int
    name: str


@dataclass(frozen=True)
class TicketRated(Payload, type="ticket.rated"):
    """The customer rated a ticket (CSAT, 1-5), or changed their rating."""

    ticket_id: int
    rating_id: int
    score: int
    # A low score that was not low before: the queue's supervisors hear of it.
    alert: bool = False
