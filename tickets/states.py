"""A ticket's states, and which of them are open work and which are done (pure data)."""

from __future__ import annotations

STATES = ("new", "open", "pending", "on_hold", "solved", "closed")
# Done: solved or closed, with a solved time; every other state is open work for the desk.
DONE_STATES = ("solved", "closed")
OPEN_STATES = tuple(state for state in STATES if state not in DONE_STATES)
