"""My data in headless Chromium on a phone-sized screen, against a real server: the
customer changes what we may send them with the keyboard, downloads their data, asks to be
deleted; an administrator confirms it in the console; the customer's session is over."""

from __future__ import annotations

import io
import json
import zipfile

from playwright.async_api import expect

from customers.actions import create_customer
from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.fixtures import inbound_mail
from tickets.inbox import deliver
from tresen.runtime import Runtime
from tresen.settings import Settings

WAIT = 20_000  # ms
PHONE = {"width": 390, "height": 844}


async def test_my_data_from_choices_to_deletion(server, database_url):
    server.add_user("admin@example.com", "admin-password", role="admin", name="Ada Admin")
    runtime = Runtime.create(Settings(database_url=database_url, secret_key="x" * 40))
    try:
        async with runtime.transaction() as tx:
            kim = await create_customer(
                tx, name="Kim Meyer", identities=[("email", "kim@example.com")], language="en"
            )
            kim_id = kim.id
        await deliver(runtime, inbound_mail("<browser-1@x>", subject="Drucker E42"))
    finally:
        await runtime.engine.dispose()
    made = server.cli("portal", "link", "kim@example.com")
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip().splitlines()[-1]

    async with open_browser() as browser:
        context = await browser.new_context(
            viewport=PHONE, locale="en-US", is_mobile=True, accept_downloads=True
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(link)
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await page.wait_for_url(server.url + "/portal/tickets")
        await (
            page.get_by_role("navigation", name="Customer portal")
            .get_by_role("link", name="My data")
            .click()
        )
        await expect(page.get_by_role("heading", name="What we may send you")).to_be_visible()
        # With the keyboard: marketing, "Yes" (each purpose is a labelled group of radios).
        news = page.get_by_role("group", name="News and offers")
        await news.get_by_role("radio", name="No").focus()
        await page.keyboard.press("ArrowLeft")
        await expect(news.get_by_role("radio", name="Yes")).to_be_checked()
        await page.get_by_role("button", name="Save my choices").click()
        await expect(page.get_by_role("status")).to_contain_text("Your choices were saved.")
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "portal-my-data.png", full_page=True)

        async with page.expect_download() as waiting:
            await page.get_by_role("link", name="Download my data").click()
        download = await waiting.value
        archive = zipfile.ZipFile(io.BytesIO((await download.path()).read_bytes()))
        data = json.loads(archive.read("data.json"))
        assert data["customer"]["name"] == "Kim Meyer" and data["consent"]["marketing"] is True
        assert [t["subject"] for t in data["tickets"]] == ["Drucker E42"]

        await page.get_by_label("Yes, delete my account and my data.").check()
        await page.get_by_role("button", name="Delete my account").click()
        await expect(page.get_by_role("status")).to_contain_text("We received your request")

        console = await sign_in_page(browser, server.url, "admin@example.com", "admin-password")
        await console.get_by_role("link", name="Data requests").click()
        row = console.get_by_role("row", name="Kim Meyer")
        await row.get_by_label(f"Type {kim_id} to confirm").fill(str(kim_id))
        await console.screenshot(path=ARTIFACTS / "console-data-requests.png", full_page=True)
        await row.get_by_role("button", name="Erase Kim Meyer").click()
        await expect(console.get_by_role("status")).to_contain_text(f"Customer {kim_id} was erased")

        await page.reload()
        await page.wait_for_url(server.url + "/portal/sign-in**")
        assert errors == [] and console.errors == []
