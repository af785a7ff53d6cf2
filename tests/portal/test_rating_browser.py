"""Rating a solved ticket in headless Chromium on a phone-sized screen: the desk (a real
server process) mails the solved notice through a real SMTP server, the customer opens its
link, answers with the keyboard alone, and later changes the answer."""

from __future__ import annotations

import asyncio
import re
import time

from playwright.async_api import expect

from tests.browser import open_browser
from tests.fixtures import inbound_mail
from tickets.actions import Actor, update_ticket
from tickets.csat import ticket_rating
from tickets.inbox import receive
from tickets.models import Ticket
from tresen.accounts import create_user
from tresen.runtime import Runtime
from tresen.settings import Settings

WAIT = 20_000  # ms
PHONE = {"width": 390, "height": 844}


async def mail_to(smtp_server, recipient: str, seconds: float = 40.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in smtp_server.messages():
            if recipient in str(message["To"]):
                return message
        await asyncio.sleep(0.2)
    raise AssertionError(f"no mail to {recipient} within {seconds} s")


async def test_a_customer_rates_a_solved_ticket_from_the_mail_on_a_phone(
    server, smtp_server, database_url
):
    added = server.cli(
        "channels", "add-email", "--address", "support@tresen.test", "--smtp-url", smtp_server.url()
    )
    assert added.returncode == 0, added.stderr
    server.stop()
    server.start()
    settings = Settings(database_url=database_url, secret_key="test-secret-key-" + "k" * 24)
    runtime = Runtime.create(settings)
    try:
        agent = await create_user(runtime, email="anna@example.com", name="Anna", role="agent")
        result = await receive(runtime, inbound_mail("<rate-browser@example.com>"))
        async with runtime.transaction() as tx:
            ticket = await tx.session.get(Ticket, result.ticket_id)
            await update_ticket(tx, ticket, {"state": "solved"}, Actor(user_id=agent.id))
    finally:
        await runtime.engine.dispose()

    mail = await mail_to(smtp_server, "kim@example.com")
    assert mail["Subject"] == f"[#{ticket.number}] Ihre Anfrage wurde gelöst"
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:\d+/portal/rate/[\w.-]+", text).group(0)

    async with open_browser() as browser:
        context = await browser.new_context(viewport=PHONE, locale="de-DE", is_mobile=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(link)
        await expect(page.get_by_role("heading", name="Wie zufrieden waren Sie?")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # The keyboard alone: to the first choice, down to "Unzufrieden" (2), a comment, send.
        await page.get_by_role("radio", name="5 Sehr zufrieden").focus()
        for _ in range(3):
            await page.keyboard.press("ArrowDown")
        await expect(page.get_by_role("radio", name="2 Unzufrieden")).to_be_checked()
        await page.keyboard.press("Tab")
        await page.keyboard.type("Es hat zu lange gedauert.")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("status")).to_contain_text(
            "Danke! Sie haben uns mit 2 von 5 bewertet.", timeout=WAIT
        )
        # A later answer replaces it.
        await page.get_by_role("radio", name="4 Zufrieden").check()
        await page.get_by_role("button", name="Bewertung ändern").click()
        await expect(page.get_by_role("status")).to_contain_text("mit 4 von 5", timeout=WAIT)
        assert errors == []
        await context.close()

    runtime = Runtime.create(settings)
    try:
        async with runtime.read() as session:
            rating = await ticket_rating(session, ticket.id)
    finally:
        await runtime.engine.dispose()
    assert (rating.score, rating.comment, rating.source) == (4, "Es hat zu lange gedauert.", "mail")
