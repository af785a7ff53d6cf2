"""A new request in headless Chromium on a phone-sized screen, against a real server: the
articles appear while the customer types (htmx), "This solved my problem" makes no ticket,
and a request no article answers arrives live in an agent's open console."""

from __future__ import annotations

from playwright.async_api import expect
from sqlalchemy import func, select

from customers.actions import create_customer
from knowledge_base.models import Deflection
from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.fixtures import PNG, load_kb_samples
from tickets.models import Ticket
from tresen.runtime import Runtime
from tresen.settings import Settings

WAIT = 20_000  # ms
PHONE = {"width": 390, "height": 844}


async def counts(database_url: str) -> tuple[int, int]:
    """(deflections, tickets), read from the server's database."""
    runtime = Runtime.create(Settings(database_url=database_url, secret_key="x" * 40))
    try:
        async with runtime.read() as session:
            deflections = await session.scalar(select(func.count(Deflection.id)))
            tickets = await session.scalar(select(func.count(Ticket.id)))
    finally:
        await runtime.engine.dispose()
    return deflections, tickets


async def test_a_request_answered_by_an_article_and_one_that_becomes_a_ticket(server, database_url):
    server.add_user("agent@example.com", "agent-password", name="Anna Agent")
    runtime = Runtime.create(Settings(database_url=database_url, secret_key="x" * 40))
    try:
        async with runtime.transaction() as tx:
            await create_customer(tx, name="Kim Meyer", identities=[("email", "kim@example.com")])
        await load_kb_samples(runtime)
    finally:
        await runtime.engine.dispose()
    made = server.cli("portal", "link", "kim@example.com")
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip().splitlines()[-1]

    async with open_browser() as browser:
        console = await sign_in_page(browser, server.url, "agent@example.com", "agent-password")
        await expect(console.locator("main [ws-connect]")).to_have_attribute(
            "data-live", "connected", timeout=WAIT
        )
        await console.evaluate("window.__noReload = true")

        context = await browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(link)
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await page.wait_for_url(server.url + "/portal/tickets")

        nav = page.get_by_role("navigation", name="Customer portal")
        # An article answers it: counted, no ticket.
        await nav.get_by_role("link", name="New request").click()
        await page.get_by_label("Subject").press_sequentially("Refund")
        await page.get_by_label("Description").press_sequentially("How do I get my money back?")
        suggestions = page.get_by_role("region", name="Articles that may help")
        await expect(suggestions.get_by_role("link", name="Request a refund")).to_be_visible(
            timeout=WAIT
        )
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "portal-new-request.png", full_page=True)
        await suggestions.get_by_role(
            "button", name="This solved my problem: Request a refund"
        ).click()
        await expect(page.get_by_role("heading", name="Glad we could help")).to_be_visible()
        await page.screenshot(path=ARTIFACTS / "portal-request-solved.png", full_page=True)
        assert await counts(database_url) == (1, 0)

        # Nothing answers this one: a ticket, live in the agent's console.
        await nav.get_by_role("link", name="New request").click()
        await page.get_by_label("Subject").fill("Printer shows E42")
        await page.get_by_label("Description").fill("The office printer stopped with E42.")
        await page.get_by_label("Attach files").set_input_files(
            files=[{"name": "e42.png", "mimeType": "image/png", "buffer": PNG}]
        )
        await page.get_by_role("button", name="Send request").click()
        await expect(page.get_by_role("status")).to_contain_text("as ticket #", timeout=WAIT)
        await page.screenshot(path=ARTIFACTS / "portal-request-sent.png", full_page=True)
        row = console.locator("#ticket-rows tr", has_text="Printer shows E42")
        await expect(row).to_be_visible(timeout=WAIT)
        assert await console.evaluate("window.__noReload") is True
        assert await counts(database_url) == (1, 1)
        await page.get_by_role("link", name="See your request").click()
        await expect(page.get_by_text("The office printer stopped with E42.")).to_be_visible()
        await expect(page.get_by_role("link", name="e42.png")).to_be_visible()
        assert errors == [] and console.errors == []
