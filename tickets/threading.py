"""Which ticket a message belongs to: pure rules over subjects and states."""

from __future__ import annotations

import re

from tickets.states import DONE_STATES

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


REPLY_TO_CLOSED = ("follow_up", "reopen")

# Reply and forward prefixes in the languages our customers' mail programs speak,
# possibly counted ("Re[2]:", "AW(3):") and repeated ("AW: WG: Re:").
_PREFIXES = re.compile(
    r"^\s*(?:(?:re|aw|antw|antwort|wg|fw|fwd|sv|vs|tr|ref|rif|odp|r|enc)\s*(?:\[\d+\]|\(\d+\))?"
    r"\s*[:：]\s*)+",
    re.IGNORECASE,
)


def joins_existing(state: str, reply_to_closed: str = "follow_up") -> bool:
    """A reply joins its ticket; to a closed one only when the desk reopens closed tickets."""
    return state != "closed" or reply_to_closed == "reopen"


def subject_key(subject: str | None) -> str | None:
    """The subject without reply prefixes, number and case: 'AW: [#1] Drucker' → 'drucker'."""
    if not subject:
        return None
    key = _NUMBER.sub(" ", subject)
    previous = None
    while previous != key:  # "AW: [#10042] Re: x" has prefixes on both sides of the number
        previous = key
        key = _PREFIXES.sub("", key).strip()
    key = " ".join(key.lower().split())
    if not key or key == "(no subject)":
        return None
    return key[:500]


def state_after_customer_message(state: str) -> str:
    """A customer's new message puts the ticket back in front of agents.

    A closed ticket only receives one when the desk reopens closed tickets.
    """
    if state == "pending" or state in DONE_STATES:
        return "open"
    return state


def state_after_agent_reply(state: str) -> str:
    """Answering a new ticket opens it; other states are the agent's choice."""
    return "open" if state == "new" else state
