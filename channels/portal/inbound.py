"""What a signed-in customer writes in the portal, as the InboundMessage the inbox takes.

The portal pages (portal/) build messages here and hand them to the inbox with
`tresen.rooms.deliver`, like every channel adapter:

- `new_request`: a new ticket. Its `external_id` is the customer's id and the form's nonce,
  so a form sent twice (a double click, a reload) is stored once and makes one ticket.
- `ticket_reply`: a message on a ticket the page has checked the customer may see; the
  ticket number in its subject threads it there.

The sender is the customer record's e-mail address (`sender_of`): the inbox resolves it to
that same record, and an agent's reply goes back to it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from sqlalchemy import Integer, String, column, select, table

from tresen.database import UTCDateTime
from tresen.inbound import InboundMessage

# Plain rows of the customers room.
identities = table(
    "identities",
    column("id", Integer),
    column("customer_id", Integer),
    column("kind", String),
    column("value", String),
    column("bounced_at", UTCDateTime),
)
customers = table(
    "customers",
    column("id", Integer),
    column("name", String),
)

# A form nonce: what secrets.token_urlsafe makes (see `new_nonce` in the pages).
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# "#" before a number, as the inbox reads ticket numbers from subjects ("[#10042]",
# "Ticket #10042"); a new request's subject gets a full-width sign there instead.
_NUMBER_SIGN = re.compile(r"#(?=\s*\d)")


class PortalMessageError(ValueError):
    """What the customer sent cannot become a message; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Sender:
    """Whom a portal message comes from: the record's e-mail address and its name."""

    address: str
    name: str | None


@dataclass(frozen=True)
class Upload:
    """A file the customer attached, already checked for size and type by the page."""

    filename: str
    content_type: str
    content: bytes


async def sender_of(session, customer_id: int) -> Sender | None:
    """The customer record's e-mail address a portal message comes from (one that did not
    bounce first, then the oldest), or None when the record has none."""
    row = (
        await session.execute(
            select(identities.c.value, customers.c.name)
            .join(customers, customers.c.id == identities.c.customer_id)
            .where(identities.c.customer_id == customer_id, identities.c.kind == "email")
            .order_by(identities.c.bounced_at.is_not(None), identities.c.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return Sender(row.value, (row.name or "").strip()[:200] or None)


def inert_subject(subject: str) -> str:
    """The subject with no ticket number the inbox would follow: a new request opens a
    ticket of its own even when it says "Ticket #10042" (which may be someone else's)."""
    return _NUMBER_SIGN.sub("\uff03", subject)


def _attachments(uploads: list[Upload]) -> list[dict]:
    return [
        {
            "filename": item.filename,
            "content_type": item.content_type,
            "content_base64": base64.b64encode(item.content).decode("ascii"),
        }
        for item in uploads
    ]


def _checked_nonce(nonce: str) -> str:
    if not NONCE.match(nonce or ""):
        raise PortalMessageError("nonce", "the form's nonce is missing or malformed")
    return nonce


def new_request(
    *,
    customer_id: int,
    nonce: str,
    sender: Sender,
    subject: str,
    text: str,
    uploads: list[Upload] = (),
    queue_id: int | None = None,
    fields: dict[str, str] | None = None,
) -> InboundMessage:
    """A new request from the portal: a ticket of its own. `fields` (label → value, the
    queue's own questions) are written under the text, so agents read them with it."""
    subject = " ".join((subject or "").split())
    if not subject:
        raise PortalMessageError("subject", "the subject is empty")
    if not (text or "").strip():
        raise PortalMessageError("text", "the description is empty")
    body = text.strip()
    if fields:
        lines = [f"{label}: {value}" for label, value in fields.items() if value]
        if lines:
            body = f"{body}\n\n" + "\n".join(lines)
    return InboundMessage.model_validate(
        {
            "channel": "portal",
            "external_id": f"request:{customer_id}:{_checked_nonce(nonce)}",
            "from": {"kind": "email", "value": sender.address, "name": sender.name},
            "subject": inert_subject(subject)[:2000],
            "text": body,
            "attachments": _attachments(list(uploads)),
            "queue_id": queue_id,
        }
    )


def ticket_reply(
    *,
    ticket_number: int,
    customer_id: int,
    nonce: str,
    sender: Sender,
    text: str,
    uploads: list[Upload] = (),
) -> InboundMessage:
    """A customer's reply in the portal on ticket `ticket_number`, which the caller has
    checked they may see: the number in the subject threads it onto that ticket (a merged
    ticket's reply goes where it was merged into, a closed one's as the desk decides)."""
    if not (text or "").strip() and not uploads:
        raise PortalMessageError("text", "the reply is empty")
    return InboundMessage.model_validate(
        {
            "channel": "portal",
            "external_id": f"reply:{customer_id}:{_checked_nonce(nonce)}",
            "from": {"kind": "email", "value": sender.address, "name": sender.name},
            "subject": f"[#{int(ticket_number)}]",
            "text": (text or "").strip(),
            "attachments": _attachments(list(uploads)),
        }
    )
