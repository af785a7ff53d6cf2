"""A ticket's states, and which of them are open work and which are done (pure data)."""

from __future__ import annotations

# "bot": a conversation the channel's bot is answering; neither open work for the desk
# (no offers, no assignment, no SLA) nor done. Only the bot's handoff leaves it.
STATES = ("new", "open", "pending", "on_hold", "solved", "closed", "bot")
# Done: solved or closed, with a solved time.
DONE_STATES = ("solved", "closed")
OPEN_STATES = ("new", "open", "pending", "on_hold")
# What agents, macros, rules and the API may set: nobody hands a ticket to the bot by hand.
SETTABLE_STATES = tuple(state for state in STATES if state != "bot")
