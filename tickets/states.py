"""A ticket's states, and which of them are open work and which are done (pure data), and
how a customer is told them."""

from __future__ import annotations

from tresen.i18n import _

# "bot": a conversation the channel's bot is answering; neither open work for the desk
# (no offers, no assignment, no SLA) nor done. Only the bot's handoff leaves it.
BOT = "bot"
STATES = ("new", "open", "pending", "on_hold", "solved", "closed", BOT)
# Done: solved or closed, with a solved time.
DONE_STATES = ("solved", "closed")
OPEN_STATES = ("new", "open", "pending", "on_hold")
# What agents, macros, rules and the API may set: nobody hands a ticket to the bot by hand.
SETTABLE_STATES = tuple(state for state in STATES if state != BOT)


def customer_label(state: str) -> str:
    """A ticket's state in the customer's words (the portal, the bot's status answers)."""
    labels = {
        "new": _("Received"),
        "open": _("In progress"),
        "pending": _("Waiting for your answer"),
        "on_hold": _("In progress"),
        "solved": _("Solved"),
        "closed": _("Closed"),
        # The bot is answering: for the customer, their request is being handled.
        "bot": _("In progress"),
    }
    return labels.get(state, state)
