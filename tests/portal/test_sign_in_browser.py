"""Signing in to the portal in headless Chromium, on a phone-sized screen, as a customer
does: ask for a link, take it from the mail the desk sent (a real SMTP server), press the
button, switch the language, sign out; a used link is refused with a clear page."""

from __future__ import annotations

import asyncio
import re
import time

from playwright.async_api import expect

from customers.actions import create_customer
from tests.browser import open_browser
from tresen.runtime import Runtime
from tresen.settings import Settings

WAIT = 20_000  # ms
PHONE = {"width": 390, "height": 844}


async def mail_to(smtp_server, recipient: str, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in smtp_server.messages():
            if recipient in str(message["To"]):
                return message
        await asyncio.sleep(0.2)
    raise AssertionError(f"no mail to {recipient} within {seconds} s")


async def test_a_customer_signs_in_by_the_mailed_link_on_a_phone(server, smtp_server, database_url):
    added = server.cli(
        "channels",
        "add-email",
        "--address",
        "support@tresen.test",
        "--smtp-url",
        smtp_server.url(),
    )
    assert added.returncode == 0, added.stderr
    server.stop()
    server.start()
    runtime = Runtime.create(Settings(database_url=database_url, secret_key="x" * 40))
    try:
        async with runtime.transaction() as tx:
            await create_customer(tx, name="Kim Meyer", identities=[("email", "kim@example.com")])
    finally:
        await runtime.engine.dispose()

    async with open_browser() as browser:
        context = await browser.new_context(viewport=PHONE, locale="de-DE", is_mobile=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(server.url + "/portal")
        await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
        await page.locator("#link-email").fill("kim@example.com")
        await page.get_by_role("button", name="Anmelde-Link senden").click()
        await expect(page.get_by_role("status")).to_contain_text("ist ein Anmelde-Link unterwegs")

        mail = await mail_to(smtp_server, "kim@example.com")
        assert mail["Subject"] == "Ihr Anmelde-Link für Tresen"
        link = re.search(
            r"http://127\.0\.0\.1:\d+/portal/sign-in/[\w-]+",
            mail.get_body(("plain",)).get_content(),
        ).group(0)

        await page.goto(link)
        await page.get_by_role("button", name="Anmelden", exact=True).click()
        await page.wait_for_url(server.url + "/portal/tickets")
        await expect(
            page.get_by_role("navigation", name="Kundenportal").get_by_role(
                "link", name="Meine Tickets"
            )
        ).to_be_visible()
        nav = page.locator("nav.portal-nav")
        # Nothing wider than the phone's screen.
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        await page.get_by_role("button", name="English").click()
        await expect(nav.get_by_role("link", name="My tickets")).to_be_visible(timeout=WAIT)
        await nav.get_by_role("link", name="Account").click()
        await expect(page.get_by_text("Signed in as Kim Meyer.")).to_be_visible()

        await nav.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(server.url + "/portal/sign-in?signed_out=1")
        await expect(page.get_by_role("status")).to_contain_text("signed out on every device")

        await page.goto(link)
        await expect(page.get_by_role("alert")).to_contain_text("was used already")
        await expect(page.get_by_role("button", name="Sign in", exact=True)).to_have_count(0)
        assert errors == []
        await context.close()
