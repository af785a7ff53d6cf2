"""Confirming a new ticket to the customer: per queue, in German or English, never to machines."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select

from customers.models import Customer
from tickets.actions import TicketRef, queue_automatic_reply
from tickets.models import Message, Queue
from tresen import channel as channel_registry
from tresen.inbound import InboundMessage
from tresen.runtime import Transaction

log = logging.getLogger(__name__)

TEMPLATES = {
    "de": (
        "Ihre Anfrage ist eingegangen: {subject}",
        "Guten Tag {name},\n\n"
        "vielen Dank für Ihre Nachricht. Wir haben sie unter der Ticketnummer #{number} "
        "erfasst und melden uns so schnell wie möglich bei Ihnen.\n\n"
        "Wenn Sie uns noch etwas mitteilen möchten, antworten Sie einfach auf diese E-Mail; "
        "bitte lassen Sie die Ticketnummer im Betreff stehen.\n\n"
        "Mit freundlichen Grüßen\nIhr Support-Team\n\n"
        "(Diese Nachricht wurde automatisch erstellt.)",
    ),
    "en": (
        "We have received your request: {subject}",
        "Hello {name},\n\n"
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


def acknowledgement_text(
    language: str | None, *, name: str, number: int, subject: str, style: str = "message"
):
    """Subject and body of the confirmation in the customer's language (German or English);
    style "conversation" is one line for chat and short-message channels (no subject)."""
    language = (language or "")[:2].lower()
    values = {"name": name, "number": number, "subject": subject}
    if style == "conversation":
        template = CONVERSATION_TEMPLATES.get(language, CONVERSATION_TEMPLATES["de"])
        return "", template.format(**values)
    template_subject, template_body = TEMPLATES.get(language, TEMPLATES["de"])
    return template_subject.format(**values), template_body.format(**values)


def fill_template(template: str, **values) -> str:
    """A rule's auto-reply text with {name}, {number} and {subject} filled in; other
    braces are left as written (an admin's text must not break the inbox)."""
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


async def acknowledge(
    tx: Transaction,
    ticket: TicketRef,
    inbound: InboundMessage,
    recipient: str,
    *,
    template: str | None = None,
) -> int | None:
    """Queue the confirmation of a new ticket when its queue (or a routing rule's
    `template`) asks for one; its message id."""
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
    since = tx.now() - timedelta(hours=1)
    sent = await connection.scalar(
        select(func.count(Message.id)).where(
            Message.recipient == recipient,
            Message.direction == "outbound",
            Message.auto_submitted.is_not(None),
            Message.created_at >= since,
        )
    )
    limit = tx.runtime.settings.auto_replies_per_hour
    if sent >= limit:
        log.info(
            "not confirming ticket %s: %s had %d automatic mails this hour",
            ticket.number,
            recipient,
            sent,
        )
        return None
    customer = (
        await connection.execute(
            select(Customer.name, Customer.language).where(Customer.id == ticket.customer_id)
        )
    ).one()
    subject, text = acknowledgement_text(
        customer.language or tx.runtime.settings.default_language,
        name=customer.name,
        number=ticket.number,
        subject=inbound.subject or "",
        style=channel.acknowledgement,
    )
    if template is not None:
        text = fill_template(template, name=customer.name, number=ticket.number, subject=subject)
    return await queue_automatic_reply(
        tx,
        ticket,
        channel=inbound.channel,
        subject=subject,
        text=text,
        recipient=recipient,
        our_address=inbound.to,
    )
