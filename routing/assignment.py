"""Choosing the agent for a ticket: a pure function over the queue's candidates.

Only present (online) agents get new work, and never beyond their capacity.
Modes: manual (nobody is chosen), round robin (in turn, after the last one
chosen), least-loaded (open tickets and active chats against capacity) and
skills-based (those who have every required skill, then least-loaded). A
returning customer can go back to the agent who helped them before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MODES = ("manual", "round_robin", "least_loaded", "skills")


@dataclass(frozen=True)
class Candidate:
    agent_id: int
    present: bool = True
    open_tickets: int = 0
    active_chats: int = 0
    capacity: int | None = None  # at most this many open tickets and chats; None: no limit
    skills: frozenset[str] = frozenset()  # e.g. {"lang:de", "billing"}
    last_assigned_at: datetime | None = None

    @property
    def load(self) -> int:
        return self.open_tickets + self.active_chats

    @property
    def has_room(self) -> bool:
        return self.capacity is None or self.load < self.capacity


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
) -> Choice:
    """The agent for the next ticket of a queue, and why (None: it waits in the queue).

    `last_agent_id` is who the queue's round robin chose last; `previous_agent_id`
    who helped this customer before (preferred when present and with room).
    """
    if mode not in MODES:
        raise ValueError(f"assignment mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "manual":
        return Choice(None, "the queue assigns by hand")
    available = [c for c in candidates if c.present and c.has_room]
    if previous_agent_id is not None:
        for candidate in available:
            if candidate.agent_id == previous_agent_id and required_skills <= candidate.skills:
                return Choice(candidate.agent_id, "the agent who helped this customer before")
    if not available:
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
        return Choice(_least_loaded(skilled).agent_id, "skills match, least loaded")
    return Choice(_least_loaded(available).agent_id, "least loaded")


def _least_loaded(candidates: list[Candidate]) -> Candidate:
    def key(candidate: Candidate):
        share = candidate.load / candidate.capacity if candidate.capacity else 0.0
        # Fullest share last; then fewest tickets; then who waited longest for new work.
        waited = candidate.last_assigned_at.timestamp() if candidate.last_assigned_at else 0.0
        return (share, candidate.load, waited, candidate.agent_id)

    return min(candidates, key=key)
