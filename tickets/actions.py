"""The ticket room's actions, the only ways tickets change: one import for every caller.

Each records history and emits its events after commit; the console, the API, routing,
the scheduler and bots call the same functions. They live by concept:

- `tickets.opening`: `open_ticket`, ticket numbers
- `tickets.manual`: `open_by_hand`, a ticket an agent opens for a phone call or with a message
- `tickets.fields`: `update_ticket`, `update_tickets` (staff), `apply_changes` (the desk's
  own), the checks
- `tickets.messages`: `add_message`, `add_inbound_message`, `queue_automatic_reply`
- `tickets.replies`: `reply`, a staff reply or note with files, optionally through a macro
- `tickets.delivery`: whom replies go to, the outbox, `mark_delivery_failed`
- `tickets.history`: `Actor`, the history rows and the state's solved time
- `tickets.merge`: merging (and undoing a merge within `UNDO_WINDOW`), splitting and linking
- `tickets.bulk`: a bulk change planned (the console's preview), applied and undone
"""

from __future__ import annotations

from tickets.delivery import mark_delivery_failed, reply_addresses
from tickets.fields import TicketError, apply_changes, normalize_tags, update_ticket, update_tickets
from tickets.history import SYSTEM, Actor
from tickets.messages import (
    NewAttachment,
    add_inbound_message,
    add_message,
    queue_automatic_reply,
)
from tickets.opening import TicketRef, next_ticket_number, open_ticket
from tickets.replies import Reply, reply

__all__ = [
    "SYSTEM",
    "Actor",
    "NewAttachment",
    "Reply",
    "TicketError",
    "TicketRef",
    "add_inbound_message",
    "add_message",
    "apply_changes",
    "mark_delivery_failed",
    "next_ticket_number",
    "normalize_tags",
    "open_ticket",
    "queue_automatic_reply",
    "reply",
    "reply_addresses",
    "update_ticket",
    "update_tickets",
]
