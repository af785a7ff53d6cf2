"""Choosing the agent for a ticket: a pure function over the queue's candidates.

Only present (online) agents get new work, and never beyond their capacity: open
tickets against `capacity`, live chats (a chat channel's tickets) against
`chat_capacity`; one does not count against the other. Modes: manual (nobody is
chosen), round robin (in turn, after the last one chosen), least-loaded (open
tickets against capacity, or for a chat active chats against chat capacity) and
skills-based (those who have every required skill, then least-loaded). A
returning customer can go back to the agent who helped them before. Agents who
declined a chat or let its offer expire (`excluded`) are not offered it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MODES = ("manual", "round_robin", "least_loaded", "skills")
DEFAULT_CHAT_CAPACITY = 3  # settings.chat_default_capacity, for callers without settings


@dataclass(frozen=True)
class Candidate:
    agent_id: int
    present: bool = True
    open_tickets: int = 0  # open tickets of channels that are not live
    active_chats: int = 0  # open tickets of live channels (chats)
    capacity: int | None = None  # at most this many open tickets; None: no limit
    # At most this many chats at once; None: the desk's default (chat_default_capacity).
    chat_capacity: int | None = None
    skills: frozenset[str] = frozenset()  # e.g. {"lang:de", "billing"}
    last_assigned_at: datetime | None = None

    @property
    def load(self) -> int:
        """Everything on the agent's plate: open tickets and active chats."""
        return self.open_tickets + self.active_chats

    @property
    def has_room(self) -> bool:
        """Room for one more ticket (chats do not count against it)."""
        return self.capacity is None or self.open_tickets < self.capacity

    def chat_limit(self, default: int = DEFAULT_CHAT_CAPACITY) -> int:
        return default if self.chat_capacity is None else self.chat_capacity

    def has_chat_room(self, default: int = DEFAULT_CHAT_CAPACITY) -> bool:
        """Room for one more live chat (tickets do not count against it)."""
        return self.active_chats < self.chat_limit(default)


@dataclass(frozen=True)
class Choice:
    agent_id: int | None
    reason: str


def choose(
    mode: str,
    candidates: list[Candidate],
    *,
    last_agent_id: int | None = None,
    required_skills: frozenset[str] = frozenset(),
    previous_agent_id: int | None = None,
    live: bool = False,
    excluded: frozenset[int] = frozenset(),
    default_chat_capacity: int = DEFAULT_CHAT_CAPACITY,
) -> Choice:
    """The agent for the next ticket of a queue, and why (None: it waits in the queue).

    `last_agent_id` is who the queue's round robin chose last; `previous_agent_id`
    who helped this customer before (preferred when present and with room). `live`:
    the ticket is a chat, judged by chat capacity; `excluded`: agents not to choose
    (they declined this chat, or let its offer expire).
    """
    if mode not in MODES:
        raise ValueError(f"assignment mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "manual":
        return Choice(None, "the queue assigns by hand")
    if live:
        available = [
            c
            for c in candidates
            if c.present and c.agent_id not in excluded and c.has_chat_room(default_chat_capacity)
        ]
    else:
        available = [
            c for c in candidates if c.present and c.agent_id not in excluded and c.has_room
        ]
    if previous_agent_id is not None:
        for candidate in available:
            if candidate.agent_id == previous_agent_id and required_skills <= candidate.skills:
                return Choice(candidate.agent_id, "the agent who helped this customer before")
    if not available:
        if live:
            return Choice(None, "no agent is present with room for another chat")
        return Choice(None, "no agent is present with room for more")
    if mode == "round_robin":
        ordered = sorted(available, key=lambda c: c.agent_id)
        after = [c for c in ordered if last_agent_id is None or c.agent_id > last_agent_id]
        chosen = (after or ordered)[0]
        return Choice(chosen.agent_id, "round robin: next in turn")
    if mode == "skills":
        skilled = [c for c in available if required_skills <= c.skills]
        if not skilled:
            missing = ", ".join(sorted(required_skills))
            return Choice(None, f"no present agent has every skill needed ({missing})")
        chosen = _least_loaded(skilled, live, default_chat_capacity)
        return Choice(chosen.agent_id, "skills match, least loaded")
    return Choice(_least_loaded(available, live, default_chat_capacity).agent_id, "least loaded")


def _least_loaded(candidates: list[Candidate], live: bool, default_chat_capacity: int) -> Candidate:
    def key(candidate: Candidate):
        # Who waited longest for new work comes first among equals.
        waited = candidate.last_assigned_at.timestamp() if candidate.last_assigned_at else 0.0
        if live:
            limit = candidate.chat_limit(default_chat_capacity)
            share = candidate.active_chats / limit if limit else 1.0
            return (share, candidate.active_chats, waited, candidate.agent_id)
        # Fullest share of ticket capacity last; then least on the plate (chats included:
        # someone in three chats answers mail later than someone in none).
        share = candidate.open_tickets / candidate.capacity if candidate.capacity else 0.0
        return (share, candidate.load, waited, candidate.agent_id)

    return min(candidates, key=key)
