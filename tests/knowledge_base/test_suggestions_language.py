"""Suggestions for a ticket prefer its language and never cross languages on stems alone:
a German "ändern" must not bring up an English article for its "and"."""

from __future__ import annotations

from sqlalchemy import update

from customers.models import Customer
from knowledge_base.transfer import import_articles
from routing.suggestions import for_ticket
from tests.fixtures import inbound_mail, kb_record, lexical_only
from tickets.inbox import receive
from tickets.models import Ticket

ENGLISH = [
    (
        "address-en",
        kb_record(
            "address-en",
            "en",
            "public",
            "Change and update your address",
            "Open your account and change the address; billing and delivery follow.",
        ),
    ),
    (
        "cloud-en",
        kb_record(
            "cloud-en",
            "en",
            "public",
            "Tresencloud sign-in",
            "Signing in to Tresencloud needs your e-mail address and a password.",
        ),
    ),
]


async def _german_ticket(runtime, n: int, subject: str, text: str) -> int:
    received = await receive(runtime, inbound_mail(f"<sugg-{n}@x>", subject=subject, text=text))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, received.ticket_id)
        await tx.session.execute(
            update(Customer).where(Customer.id == ticket.customer_id).values(language="de")
        )
    return received.ticket_id


async def test_no_english_article_on_a_german_stem(runtime):
    lexical_only(runtime)
    report = await import_articles(runtime, ENGLISH)
    assert report.created == 2, report.rejected
    ticket_id = await _german_ticket(
        runtime, 1, "Adresse ändern", "Ich möchte meine Adresse ändern und anders liefern lassen."
    )
    hits, _ = await for_ticket(runtime, ticket_id)
    assert [hit.title for hit in hits] == []
    # A word both hold as it is (a product name) still finds the English article.
    ticket_id = await _german_ticket(
        runtime, 2, "Tresencloud Anmeldung", "Die Anmeldung bei Tresencloud geht nicht."
    )
    hits, _ = await for_ticket(runtime, ticket_id)
    assert [hit.title for hit in hits] == ["Tresencloud sign-in"]
