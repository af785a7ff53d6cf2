"""Which ticket a message belongs to: pure rules over subjects and states."""

from __future__ import annotations

import re

# "[#10042]", "[Ticket#10042]", "Ticket #10042": how our outbound subjects carry the number.
_NUMBER = re.compile(r"\[\s*(?:ticket\s*)?#\s*(\d{1,12})\s*\]|\bticket\s*#\s*(\d{1,12})\b", re.I)


def ticket_number_in_subject(subject: str | None) -> int | None:
    """The ticket number our outbound subject put there, if any."""
    if not subject:
        return None
    match = _NUMBER.search(subject)
    if not match:
        return None
    return int(match.group(1) or match.group(2))


def joins_existing(state: str) -> bool:
    """A reply joins its ticket unless the ticket is closed (then it opens a follow-up)."""
    return state != "closed"


def state_after_customer_message(state: str) -> str:
    """A customer's new message puts the ticket back in front of agents."""
    if state in ("pending", "solved"):
        return "open"
    return state


def state_after_agent_reply(state: str) -> str:
    """Answering a new ticket opens it; other states are the agent's choice."""
    return "open" if state == "new" else state
