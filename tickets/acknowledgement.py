"""Confirming a new ticket to the customer: per queue, in German or English, never to machines."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from sqlalchemy import func, select

from customers.consent import allows as consent_allows
from customers.models import Customer
from tickets.actions import TicketRef, queue_automatic_reply
from tickets.models import Message, Queue
from tresen import channel as channel_registry
from tresen.inbound import InboundMessage
from tresen.runtime import Transaction

log = logging.getLogger(__name__)

# Nothing the sender wrote is repeated (not their name, not their subject): anyone can put
# another's address in From, and the confirmation would carry the forger's words ("verify
# your account at https://...") from the company's own server. The ticket number is ours.
TEMPLATES = {
    "de": (
        "Ihre Anfrage ist eingegangen",
        "Guten Tag,\n\n"
        "vielen Dank für Ihre Nachricht. Wir haben sie unter der Ticketnummer #{number} "
        "erfasst und melden uns so schnell wie möglich bei Ihnen.\n\n"
        "Wenn Sie uns noch etwas mitteilen möchten, antworten Sie einfach auf diese E-Mail; "
        "bitte lassen Sie die Ticketnummer im Betreff stehen.\n\n"
        "Mit freundlichen Grüßen\nIhr Support-Team\n\n"
        "(Diese Nachricht wurde automatisch erstellt.)",
    ),
    "en": (
        "We have received your request",
        "Hello,\n\n"
        "thank you for your message. We have filed it as ticket #{number} and will get back "
        "to you as soon as we can.\n\n"
        "If there is anything you would like to add, simply reply to this email; please keep "
        "the ticket number in the subject.\n\n"
        "Kind regards\nYour support team\n\n"
        "(This message was sent automatically.)",
    ),
}


# Inside a conversation (chat, SMS, WhatsApp): one short line, answered in the same place.
CONVERSATION_TEMPLATES = {
    "de": "Danke für Ihre Nachricht! Wir haben sie als Ticket #{number} erfasst und "
    "antworten Ihnen hier so schnell wie möglich. (Automatische Nachricht)",
    "en": "Thank you for your message! We have filed it as ticket #{number} and will answer "
    "you here as soon as we can. (Automatic message)",
}
# "{name}" in a rule's text, with the space before it: the name is never filled in.
_NAME = re.compile(r"[ \t]*\{name\}")


def acknowledgement_text(language: str | None, *, number: int, style: str = "message"):
    """Subject and body of the confirmation in the customer's language (German or English);
    style "conversation" is one line for chat and short-message channels (no subject)."""
    language = (language or "")[:2].lower()
    if style == "conversation":
        template = CONVERSATION_TEMPLATES.get(language, CONVERSATION_TEMPLATES["de"])
        return "", template.format(number=number)
    template_subject, template_body = TEMPLATES.get(language, TEMPLATES["de"])
    return template_subject, template_body.format(number=number)


def fill_template(template: str, *, number: int, subject: str) -> str:
    """A rule's auto-reply text with {number} and {subject} (the confirmation's own subject)
    filled in; {name} is dropped, as the sender's name may be anyone's words (see TEMPLATES).
    Other braces are left as written (an admin's text must not break the inbox)."""
    text = _NAME.sub("", template)
    return text.replace("{number}", str(number)).replace("{subject}", subject)


async def acknowledge(
    tx: Transaction,
    ticket: TicketRef,
    inbound: InboundMessage,
    recipient: str,
    *,
    template: str | None = None,
) -> int | None:
    """Queue the confirmation of a new ticket when its queue (or a routing rule's
    `template`) asks for one; its message id.

    None goes to a sender the channel found unauthenticated (SPF or DMARC failed), nor
    beyond the limits per address and for all addresses together in an hour."""
    channel = channel_registry.describe(inbound.channel)
    if channel.acknowledgement == "none" or channel.send is None:
        return None
    connection = await tx.session.connection()
    if template is None:
        if ticket.queue_id is None:
            return None
        wanted = await connection.scalar(
            select(Queue.acknowledge).where(Queue.id == ticket.queue_id)
        )
        if not wanted:
            return None
    if inbound.unauthenticated:
        log.info("not confirming ticket %s: %s", ticket.number, inbound.unauthenticated)
        return None
    # Automatic mail needs the customer's consent to service messages (customers/consent.py).
    purpose = "sms" if channel.identity_kind == "phone" else "service_mail"
    if not await consent_allows(tx.session, ticket.customer_id, purpose):
        log.info("not confirming ticket %s: the customer objected to %s", ticket.number, purpose)
        return None
    if await _over_limit(tx, ticket, recipient):
        return None
    language = await connection.scalar(
        select(Customer.language).where(Customer.id == ticket.customer_id)
    )
    subject, text = acknowledgement_text(
        language or tx.runtime.settings.default_language,
        number=ticket.number,
        style=channel.acknowledgement,
    )
    if template is not None:
        text = fill_template(template, number=ticket.number, subject=subject)
    return await queue_automatic_reply(
        tx,
        ticket,
        channel=inbound.channel,
        subject=subject,
        text=text,
        recipient=recipient,
        our_address=inbound.to,
    )


async def _over_limit(tx: Transaction, ticket: TicketRef, recipient: str) -> bool:
    """The hour's automatic mail to this address, or to all addresses together, is used up."""
    connection = await tx.session.connection()
    settings = tx.runtime.settings
    since = tx.now() - timedelta(hours=1)
    automatic = (Message.direction == "outbound", Message.auto_submitted.is_not(None))
    sent = await connection.scalar(
        select(func.count(Message.id)).where(
            Message.recipient == recipient, Message.created_at >= since, *automatic
        )
    )
    if sent >= settings.auto_replies_per_hour:
        log.info(
            "not confirming ticket %s: %s had %d automatic mails this hour",
            ticket.number,
            recipient,
            sent,
        )
        return True
    # Every automatic mail of the last hour (rule auto-replies on older tickets too), read
    # through the index on (direction, created_at). On PostgreSQL two tickets opened at the
    # same instant may both see the count one below the limit: it overshoots by a few.
    total = await connection.scalar(
        select(func.count(Message.id)).where(Message.created_at >= since, *automatic)
    )
    if total >= settings.auto_replies_total_per_hour:
        log.warning(
            "not confirming ticket %s: %d automatic mails went out this hour, the limit "
            "(TRESEN_AUTO_REPLIES_TOTAL_PER_HOUR) for all addresses together",
            ticket.number,
            total,
        )
        return True
    return False
