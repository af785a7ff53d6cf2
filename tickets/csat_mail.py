"""The solved mail: "Your request #N was solved" with the link that asks how satisfied they were.

A durable handler (tresen.handlers) of a ticket's state change: when a ticket becomes
solved, the customer gets one mail per solving (a ticket reopened and solved again asks
again; solved then closed does not), by e-mail when they have an address and may get
service mail, in their language. It goes through the outbox like every mail
(`tickets.delivery.queue_mail`), and what was done is kept as a `RatingRequest` (shown on
the ticket, and what makes a retried job send nothing twice).
"""

from __future__ import annotations

import logging

from sqlalchemy import insert, select

from customers.consent import allows
from customers.models import Customer
from tickets.csat import rating_url
from tickets.csat_models import RatingRequest
from tickets.delivery import queue_mail, reply_addresses
from tickets.events import TicketUpdated
from tickets.fields import TicketError
from tickets.models import Ticket
from tresen.handlers import handler
from tresen.runtime import Transaction

log = logging.getLogger(__name__)

# Nothing the customer wrote is repeated (not their subject): the ticket may have come from
# a forged sender, and this mail goes out in the company's name. The number is ours.
SOLVED_MAIL = {
    "en": (
        "[#{number}] Your request was solved",
        "Hello,\n\n"
        "we have solved your request #{number}. If anything is still open, simply reply to "
        "this mail and we will take it up again.\n\n"
        "How satisfied were you? Your answer takes a few seconds and helps us improve:\n\n"
        "    {url}\n\n"
        "Or choose right here:\n"
        "    5 (very satisfied):     {url}?score=5\n"
        "    4 (satisfied):          {url}?score=4\n"
        "    3 (neutral):            {url}?score=3\n"
        "    2 (dissatisfied):       {url}?score=2\n"
        "    1 (very dissatisfied):  {url}?score=1\n\n"
        "Kind regards\nYour support team\n\n"
        "(This message was sent automatically.)",
    ),
    "de": (
        "[#{number}] Ihre Anfrage wurde gelöst",
        "Guten Tag,\n\n"
        "wir haben Ihre Anfrage #{number} gelöst. Falls noch etwas offen ist, antworten Sie "
        "einfach auf diese E-Mail, dann nehmen wir sie wieder auf.\n\n"
        "Wie zufrieden waren Sie? Ihre Antwort dauert nur einige Sekunden und hilft uns, "
        "besser zu werden:\n\n"
        "    {url}\n\n"
        "Oder wählen Sie gleich hier:\n"
        "    5 (sehr zufrieden):      {url}?score=5\n"
        "    4 (zufrieden):           {url}?score=4\n"
        "    3 (neutral):             {url}?score=3\n"
        "    2 (unzufrieden):         {url}?score=2\n"
        "    1 (sehr unzufrieden):    {url}?score=1\n\n"
        "Mit freundlichen Grüßen\nIhr Support-Team\n\n"
        "(Diese Nachricht wurde automatisch erstellt.)",
    ),
}


def solved_mail(language: str | None, *, number: int, url: str) -> tuple[str, str]:
    """Subject and text of the solved mail in German or English (German when unknown)."""
    subject, text = SOLVED_MAIL.get((language or "")[:2].lower(), SOLVED_MAIL["de"])
    return subject.format(number=number), text.format(number=number, url=url)


async def _may_mail(session, customer_id: int) -> bool:
    """May the customer get automatic service mail (consent "service_mail": until they
    object; see customers.consent)?"""
    return await allows(session, customer_id, "service_mail")


@handler(TicketUpdated, name="tickets.csat_mail", when=lambda event: "state" in event.fields)
async def ask_for_rating(tx: Transaction, event: TicketUpdated) -> None:
    """A ticket that is solved (still, when this runs) asks its customer for a rating."""
    connection = await tx.session.connection()
    ticket = (
        await connection.execute(
            select(
                Ticket.id,
                Ticket.number,
                Ticket.state,
                Ticket.solved_at,
                Ticket.customer_id,
                Ticket.merged_into_id,
                Customer.language,
            )
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(Ticket.id == event.ticket_id)
        )
    ).first()
    if ticket is None or ticket.state != "solved" or ticket.solved_at is None:
        return  # gone, or reopened (or closed) before this ran
    if ticket.merged_into_id is not None:
        return
    asked = await connection.scalar(
        select(RatingRequest.id).where(
            RatingRequest.ticket_id == ticket.id,
            RatingRequest.solved_at == ticket.solved_at,
            RatingRequest.via == "email",
        )
    )
    if asked is not None:
        return
    recipient, skipped = None, None
    if not await _may_mail(tx.session, ticket.customer_id):
        skipped = "the customer does not want service mail"
    else:
        address, _, _ = await reply_addresses(tx, ticket.id, ticket.customer_id, "email")
        if address is None:
            skipped = "the customer has no e-mail address"
        else:
            settings = tx.runtime.settings
            url = rating_url(
                settings, ticket.id, ticket.customer_id, tx.now(), number=ticket.number
            )
            subject, text = solved_mail(
                ticket.language or settings.default_language, number=ticket.number, url=url
            )
            try:
                await queue_mail(tx, address, subject, text)
                recipient = address
            except TicketError as error:  # no channel sends mail: nothing to retry for
                skipped = str(error)[:200]
    if skipped:
        log.info("not asking for a rating of ticket %s: %s", ticket.number, skipped)
    await connection.execute(
        insert(RatingRequest),
        {
            "ticket_id": ticket.id,
            "solved_at": ticket.solved_at,
            "via": "email",
            "recipient": recipient,
            "skipped": skipped,
            "asked_at": tx.now(),
        },
    )


async def rating_requests(session, ticket_id: int) -> list[RatingRequest]:
    """When the customer was asked for a rating of this ticket, newest first."""
    return list(
        await session.scalars(
            select(RatingRequest)
            .where(RatingRequest.ticket_id == ticket_id)
            .order_by(RatingRequest.id.desc())
        )
    )
