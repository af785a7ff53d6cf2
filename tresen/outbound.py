"""OutboundMessage: what the outbox hands a channel to deliver, and how a channel says no."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    """One message to one recipient, with everything the channel needs to thread it."""

    channel: str
    message_id: int  # our message's id
    # The id it carries on the channel (an email Message-ID), fixed before sending so a
    # crash after sending cannot lose it; None where the channel assigns one (SMS).
    external_id: str | None
    sender: str | None  # our address or number it goes out from; None: the channel's default
    recipient: str
    subject: str
    text: str
    html: str | None
    ticket_number: int
    created_at: datetime
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    attachments: list[OutboundAttachment] = field(default_factory=list)
    # Why it is automatic (an acknowledgement); None for an agent's own message.
    auto_submitted: str | None = None
    # What a bot's message offers besides its text: {"buttons": [{"title", "payload"}],
    # "image": url, "ask": "email"}; channels with quick replies render the buttons.
    interactive: dict | None = None


class DeliveryError(Exception):
    """The channel could not deliver; `permanent` says whether trying again can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
