"""In Chromium: an agent opens a ticket for a phone call from a new customer, then writes
to that customer first; the directory's pages fit a phone's width."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page

PHONE_WIDTH = 390


async def test_a_ticket_for_a_phone_call_for_a_new_customer(server):
    server.add_user("anna@example.com", "agent-password", name="Anna Agent")
    server.add_user("sam@example.com", "sam-password", role="supervisor", name="Sam")
    token = server.cli("tokens", "create", "sam@example.com").stdout.strip()
    api = {"Authorization": f"Bearer {token}"}
    made = httpx.post(
        server.url + "/api/v1/organizations", headers=api, json={"name": "Acme Werke"}
    )
    made.raise_for_status()
    httpx.post(
        server.url + "/api/v1/customers",
        headers=api,
        json={"name": "Olaf Org", "organization_id": made.json()["id"]},
    ).raise_for_status()
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "anna@example.com", "agent-password")
        await page.get_by_role("link", name="New ticket").click()
        await expect(page.get_by_role("heading", name="New ticket")).to_be_visible()
        form = page.get_by_role("form", name="New ticket")
        await expect(form.get_by_label("Phone call")).to_be_checked()
        # A call needs no channel to send on; the field shows for an outbound message only.
        await expect(form.get_by_label("Send on")).to_be_hidden()

        # Searched as typed: nobody of that name yet, so she is entered on the spot.
        await form.get_by_label("Find a customer by name, e-mail or phone").fill("Clara")
        await expect(form.locator("#customer-matches")).to_contain_text("No customer matches")
        await form.get_by_label("A new customer").check()
        await form.get_by_label("Name", exact=True).fill("Clara Anruf")
        await form.get_by_label("E-mail", exact=True).fill("clara@example.org")
        await form.get_by_label("Phone", exact=True).fill("+49 30 1234567")
        await form.get_by_label("Subject").fill("Rechnung doppelt abgebucht")
        await form.get_by_label("Priority").select_option("high")
        await form.get_by_label("Notes of the call").fill(
            "Kundin ruft an: Rechnung 4711 wurde zweimal abgebucht. Rückruf zugesagt."
        )
        await form.get_by_role("button", name="Create ticket").click()
        await page.wait_for_url(re.compile(r"/tickets/\d+$"))
        call_url = page.url
        await expect(page.locator(".message.internal")).to_contain_text("Rückruf zugesagt")
        await expect(page.locator("main")).to_contain_text("Clara Anruf")
        await expect(page.locator("main")).to_contain_text("opened this ticket for a phone call")
        await page.screenshot(path=str(ARTIFACTS / "new-ticket-call.png"), full_page=True)

        # Then a message to her, found by her address as the agent types it.
        await page.goto(server.url + "/tickets/new")
        form = page.get_by_role("form", name="New ticket")
        await form.get_by_label("Outbound message").check()
        await expect(form.get_by_label("Send on")).to_be_visible()
        await form.get_by_label("Find a customer by name, e-mail or phone").fill("clara@exa")
        match = form.locator("#customer-matches").get_by_label(re.compile("Clara Anruf"))
        await match.check()
        await form.get_by_label("Subject").fill("Gutschrift")
        await form.get_by_label("Message to the customer").fill("Die Gutschrift ist unterwegs.")
        await form.get_by_role("button", name="Create ticket").click()
        await page.wait_for_url(re.compile(r"/tickets/\d+$"))
        assert page.url != call_url
        await expect(page.locator(".message.outbound")).to_contain_text("Gutschrift ist unterwegs")

        # The directory finds her; her organization-less record links her tickets.
        await page.get_by_role("link", name="Customers").click()
        await page.get_by_label("Name, e-mail, phone or organization").fill("1234567")
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("table.directory-table")).to_contain_text("Clara Anruf")

        # An organization's page: its members, and notes any agent keeps.
        await page.goto(server.url + "/organizations")
        await page.get_by_role("link", name="Acme Werke").click()
        await expect(page.get_by_role("heading", name="Acme Werke")).to_be_visible()
        await expect(page.locator("main")).to_contain_text("Olaf Org")
        notes = page.get_by_label("Notes about this organization")
        await notes.fill("Key account: call before 10.")
        await page.get_by_role("button", name="Save notes").click()
        await expect(page.get_by_role("status")).to_contain_text("Notes saved.")
        await expect(notes).to_have_value("Key account: call before 10.")
        await page.screenshot(path=str(ARTIFACTS / "organization-page.png"), full_page=True)
        assert page.errors == []

        phone = await browser.new_page(viewport={"width": PHONE_WIDTH, "height": 800})
        await phone.context.add_cookies(await page.context.cookies())
        for path in ("/tickets/new", "/customers", "/organizations", "/organizations/1"):
            await phone.goto(server.url + path)
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE_WIDTH, (path, width)
        await phone.goto(server.url + "/tickets/new")
        await phone.screenshot(path=str(ARTIFACTS / "new-ticket-390.png"), full_page=True)
