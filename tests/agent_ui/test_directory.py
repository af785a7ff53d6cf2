"""The customer directory, organization pages, and ticket lists filtered by name."""

from __future__ import annotations

from sqlalchemy import select

from customers.actions import create_customer, create_organization
from customers.directory import PAGE_SIZE
from customers.merge import merge_customers
from customers.models import Customer, Organization
from tests.fixtures import csrf_of, sign_in
from tickets.actions import open_ticket
from tickets.models import Ticket
from tresen.accounts import set_preferences


async def _world(runtime) -> dict:
    """Two organizations, their people and a ticket each; one customer without one."""
    async with runtime.transaction() as tx:
        acme = await create_organization(tx, name="Acme Werke", domain="acme.example")
        other = await create_organization(tx, name="Bergbau AG")
        anna = await create_customer(
            tx,
            name="Anna Acme",
            identities=[("email", "anna@acme.example"), ("phone", "+49 30 111222")],
            organization_id=acme.id,
        )
        bert = await create_customer(tx, name="Bert Acme", organization_id=acme.id)
        carl = await create_customer(tx, name="Carl Berg", organization_id=other.id)
        dora = await create_customer(tx, name="Dora Allein")
        for customer, subject in (
            (anna, "Anna's printer"),
            (bert, "Bert's invoice"),
            (carl, "Carl's shaft"),
            (dora, "Dora's question"),
        ):
            await open_ticket(tx, customer_id=customer.id, subject=subject, channel="email")
    return {"acme": acme, "other": other, "anna": anna, "bert": bert, "carl": carl, "dora": dora}


async def test_customers_found_by_name_email_phone_and_organization(client, runtime, agent):
    await _world(runtime)
    await sign_in(client)
    everyone = await client.get("/customers")
    assert everyone.status_code == 200
    for name in ("Anna Acme", "Bert Acme", "Carl Berg", "Dora Allein"):
        assert name in everyone.text
    cases = {
        "anna@acme": ["Anna Acme"],
        "030 111222": ["Anna Acme"],
        "allein": ["Dora Allein"],
        "bergbau": ["Carl Berg"],  # the organization's name
        "acme": ["Anna Acme", "Bert Acme"],
    }
    for q, expected in cases.items():
        page = await client.get("/customers", params={"q": q})
        shown = [
            n for n in ("Anna Acme", "Bert Acme", "Carl Berg", "Dora Allein") if n in page.text
        ]
        assert shown == expected, q
    # Percent and underscore are matched as themselves, not as wildcards.
    assert "Anna Acme" not in (await client.get("/customers", params={"q": "%"})).text
    assert (await client.get("/customers?page=x")).status_code == 400
    assert (await client.get("/customers?organization=x")).status_code == 400


async def test_the_directory_is_paginated(client, runtime, agent):
    async with runtime.transaction() as tx:
        for number in range(PAGE_SIZE + 3):
            await create_customer(tx, name=f"Kunde {number:02d}")
    await sign_in(client)
    first = await client.get("/customers")
    assert "Kunde 00" in first.text and f"Kunde {PAGE_SIZE:02d}" not in first.text
    assert 'rel="next"' in first.text and "Page 1 of 2" in first.text
    second = await client.get("/customers?page=2")
    assert f"Kunde {PAGE_SIZE:02d}" in second.text and "Kunde 00" not in second.text
    # A page past the end shows the last one.
    assert f"Kunde {PAGE_SIZE + 2:02d}" in (await client.get("/customers?page=99")).text


async def test_organizations_and_an_organization_page(client, runtime, agent):
    world = await _world(runtime)
    await sign_in(client)
    listing = await client.get("/organizations")
    assert "Acme Werke" in listing.text and "Bergbau AG" in listing.text
    searched = await client.get("/organizations", params={"q": "acme.example"})
    assert "Acme Werke" in searched.text and "Bergbau AG" not in searched.text
    acme = world["acme"]
    page = await client.get(f"/organizations/{acme.id}")
    assert page.status_code == 200
    assert "Anna Acme" in page.text and "Bert Acme" in page.text and "Carl Berg" not in page.text
    assert "Anna&#39;s printer" in page.text and "Bert&#39;s invoice" in page.text
    assert "Carl&#39;s shaft" not in page.text
    assert (await client.get("/organizations/999999")).status_code == 404
    # A member's page leads to the organization, and to a new ticket for them.
    anna = await client.get(f"/customers/{world['anna'].id}")
    assert f'href="/organizations/{acme.id}"' in anna.text
    assert f'href="/tickets/new?customer={world["anna"].id}"' in anna.text

    notes = "Key account.\nCall before 10 o'clock <b>only</b>."
    forged = await client.post(f"/organizations/{acme.id}/notes", data={"notes": "forged"})
    assert forged.status_code == 403
    saved = await client.post(
        f"/organizations/{acme.id}/notes", data={"notes": notes, "csrf_token": csrf_of(page.text)}
    )
    assert saved.status_code == 303
    async with runtime.read() as session:
        assert (await session.get(Organization, acme.id)).notes == notes
    again = await client.get(f"/organizations/{acme.id}")
    assert "Call before 10 o&#39;clock &lt;b&gt;only&lt;/b&gt;." in again.text
    # Beside a member's tickets, the notes are at hand.
    member = await client.get(f"/customers/{world['bert'].id}")
    assert 'class="org-notes"' in member.text and "Key account." in member.text
    async with runtime.read() as session:
        ticket_id = await session.scalar(
            select(Ticket.id).where(Ticket.customer_id == world["bert"].id)
        )
    ticket_page = await client.get(f"/tickets/{ticket_id}")
    assert ticket_page.status_code == 200 and "Key account." in ticket_page.text
    too_long = {"notes": "x" * 20_001, "csrf_token": csrf_of(page.text)}
    assert (await client.post(f"/organizations/{acme.id}/notes", data=too_long)).status_code == 422


async def test_lists_filter_by_customer_and_organization_name(client, runtime, agent):
    world = await _world(runtime)
    await sign_in(client)

    def shown(page) -> list[str]:
        subjects = ("Anna&#39;s printer", "Bert&#39;s invoice", "Carl&#39;s shaft", "Dora&#39;s")
        return [s.split("&#39;")[0] for s in subjects if s in page.text]

    by_customer = await client.get("/", params={"customer": "dora allein"})
    assert shown(by_customer) == ["Dora"]
    assert 'value="dora allein"' in by_customer.text
    by_email = await client.get("/", params={"customer": "anna@acme.example"})
    assert shown(by_email) == ["Anna"]
    by_phone = await client.get("/", params={"customer": "030 111222"})
    assert shown(by_phone) == ["Anna"]
    by_organization = await client.get("/", params={"organization": "Acme Werke"})
    assert shown(by_organization) == ["Anna", "Bert"]
    part = await client.get("/", params={"organization": "bergbau"})
    assert shown(part) == ["Carl"]
    # The old links by id still work, and show the name in the field.
    by_id = await client.get("/", params={"customer": str(world["carl"].id)})
    assert shown(by_id) == ["Carl"] and 'value="Carl Berg"' in by_id.text
    org_id = await client.get("/", params={"organization": str(world["acme"].id)})
    assert shown(org_id) == ["Anna", "Bert"] and 'value="Acme Werke"' in org_id.text
    # A name several customers have: the agent picks one; nothing is guessed.
    several = await client.get("/", params={"customer": "acme"})
    assert shown(several) == []
    assert "Several customers match" in several.text
    assert f"customer={world['anna'].id}" in several.text
    assert f"customer={world['bert'].id}" in several.text
    unknown = await client.get("/", params={"organization": "Nirgendwo GmbH"})
    assert shown(unknown) == [] and "No organization matches" in unknown.text


async def test_a_merged_customer_is_not_in_the_directory(client, runtime, agent):
    world = await _world(runtime)
    async with runtime.transaction() as tx:
        source = await tx.session.get(Customer, world["dora"].id)
        target = await tx.session.get(Customer, world["carl"].id)
        await merge_customers(tx, source, target)
    await sign_in(client)
    page = await client.get("/customers")
    assert "Carl Berg" in page.text and "Dora Allein" not in page.text
    # Nor does a filter by the merged record's name find it.
    listed = await client.get("/", params={"customer": "Dora Allein"})
    assert "No customer matches" in listed.text


async def test_the_pages_speak_german(client, runtime, agent):
    world = await _world(runtime)
    await set_preferences(runtime, agent.id, locale="de", timezone="Europe/Berlin")
    await sign_in(client)
    new = await client.get("/tickets/new")
    assert "Neues Ticket" in new.text and "Notizen zum Anruf" in new.text
    assert "Ausgehende Nachricht" in new.text
    assert "Name, E-Mail, Telefon oder Organisation" in (await client.get("/customers")).text
    organization = await client.get(f"/organizations/{world['acme'].id}")
    assert "Notizen zu dieser Organisation" in organization.text
    several = await client.get("/", params={"customer": "acme"})
    assert "Mehrere Kunden passen zu „acme“" in several.text
