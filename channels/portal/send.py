"""Sending on the portal channel: an agent's reply goes to the customer by e-mail, with a
link to the ticket in the portal, where they read the whole conversation and answer.

The mail goes out through the email channel (its account, its Message-ID), so a customer
who answers the mail instead lands on the same ticket by the mail's headers and number.
"""

from __future__ import annotations

import html
from dataclasses import replace

from sqlalchemy import Integer, String, column, select, table

from tresen import channel as channel_registry
from tresen.outbound import DeliveryError, OutboundMessage

# Plain rows of the customers room: the language the customer reads.
identities = table(
    "identities",
    column("customer_id", Integer),
    column("kind", String),
    column("value", String),
)
customers = table("customers", column("id", Integer), column("language", String))

FOOTER = {
    "en": "You can read the whole conversation and answer in our customer portal:\n{url}",
    "de": "Das ganze Gespräch lesen und antworten können Sie in unserem Kundenportal:\n{url}",
}
# The same words, the address as a link.
LINK = '<a href="{url}">{url}</a>'


def new_external_id(message_id: int, sender: str | None) -> str:
    """The Message-ID the reply's mail will carry (the email channel's), fixed before sending
    so that the customer's answer by mail threads onto the ticket."""
    email = channel_registry.get("email")
    if email is not None and email.new_external_id is not None:
        return email.new_external_id(message_id, sender)
    return f"portal:{message_id}"


def ticket_url(base_url: str, number: int) -> str:
    return f"{base_url.rstrip('/')}/portal/tickets/{number}"


async def language_of(runtime, address: str) -> str:
    """The language of the customer behind this address (German or English), else the
    desk's default for automatic mail."""
    async with runtime.read() as session:
        language = await session.scalar(
            select(customers.c.language)
            .join(identities, identities.c.customer_id == customers.c.id)
            .where(identities.c.kind == "email", identities.c.value == address)
            .limit(1)
        )
    language = (language or runtime.settings.default_language or "de")[:2].lower()
    return language if language in FOOTER else "de"


def _message_ids(ids: list[str]) -> list[str]:
    """Only real Message-IDs go into mail headers (a portal message's own id is none)."""
    return [item for item in ids if item.startswith("<") and item.endswith(">")]


def as_mail(outbound: OutboundMessage, url: str, language: str) -> OutboundMessage:
    """The reply as the email channel sends it: the text, then the link to the portal."""
    footer = FOOTER[language].format(url=url)
    text = f"{(outbound.text or '').rstrip()}\n\n-- \n{footer}\n"
    markup = None
    if outbound.html:
        words = html.escape(FOOTER[language].partition("\n")[0])
        link = LINK.format(url=html.escape(url, quote=True))
        markup = f"{outbound.html}\n<hr>\n<p>{words} {link}</p>"
    in_reply_to = _message_ids([outbound.in_reply_to] if outbound.in_reply_to else [])
    return replace(
        outbound,
        channel="email",
        text=text,
        html=markup,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_message_ids(outbound.references),
    )


async def send(runtime, outbound: OutboundMessage) -> str | None:
    """Mail the reply to the customer's address with the portal link. Raises DeliveryError
    (temporary while no mail account can send, so the reply waits in the outbox)."""
    email = channel_registry.get("email")
    if email is None or email.send is None:
        raise DeliveryError("no email channel can send the portal's mail", permanent=False)
    language = await language_of(runtime, outbound.recipient)
    url = ticket_url(runtime.settings.base_url, outbound.ticket_number)
    return await email.send(runtime, as_mail(outbound, url, language))
