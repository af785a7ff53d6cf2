"""What routing announces: rule changes, agents' presence, SLA warnings and breaches,
live chats offered to agents and their answers."""

from __future__ import annotations

from dataclasses import dataclass

from tresen.events import Payload


@dataclass(frozen=True)
class RoutingChanged(Payload, type="routing.changed"):
    """Rules, queues' assignment or SLA policies changed: every process reloads them."""


@dataclass(frozen=True)
class AgentPresence(Payload, type="agent.presence"):
    user_id: int
    presence: str


@dataclass(frozen=True)
class SlaWarning(Payload, type="sla.warning"):
    ticket_id: int
    target: str  # first_response, next_response or resolution


@dataclass(frozen=True)
class SlaBreached(Payload, type="sla.breached"):
    ticket_id: int
    target: str


@dataclass(frozen=True)
class ChatOffered(Payload, type="chat.offered"):
    """A live chat is offered to an agent (and assigned to them) until `expires_at`."""

    ticket_id: int
    agent_id: int
    expires_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class ChatOfferAnswered(Payload, type="chat.offer_answered"):
    """An offer ended: accepted, declined, expired, or withdrawn (the chat went elsewhere)."""

    ticket_id: int
    agent_id: int
    state: str
