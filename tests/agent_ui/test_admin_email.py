"""The admin page for mail: accounts and acknowledgements, over HTTP and in Chromium."""

from __future__ import annotations

import httpx
from playwright.async_api import expect
from sqlalchemy import select

from channels.email.accounts import imap_url, smtp_url
from channels.email.models import MailAccount
from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.fixtures import csrf_of, sign_in
from tresen.accounts import create_user

IMAP = "imaps://support:geheim-123@imap.example.com/INBOX"


async def test_only_admins_reach_the_email_settings(client, agent):
    await sign_in(client)
    assert (await client.get("/admin/email")).status_code == 403


async def test_admin_adds_an_account_and_bad_urls_are_named_without_echoing_passwords(
    runtime, client
):
    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="admin-pass"
    )
    await sign_in(client, "ada@example.com", "admin-pass")
    page = await client.get("/admin/email")
    bad = await client.post(
        "/admin/email/accounts",
        data={
            "csrf_token": csrf_of(page.text),
            "address": "support@example.com",
            "imap_url": "pop3://support:geheim-123@h/",
        },
    )
    assert bad.status_code == 422 and "pop3" in bad.text and "geheim" not in bad.text
    good = await client.post(
        "/admin/email/accounts",
        data={"csrf_token": csrf_of(page.text), "address": "support@example.com", "imap_url": IMAP},
    )
    assert good.status_code == 303
    listed = (await client.get("/admin/email")).text
    assert "imaps://support:***@imap.example.com/INBOX" in listed and "geheim" not in listed
    async with runtime.read() as session:
        account = await session.scalar(select(MailAccount))
    # Switching it off keeps its URL (and password) as they are.
    off = await client.post(
        f"/admin/email/accounts/{account.id}",
        data={"csrf_token": csrf_of(page.text), "active": "off"},
    )
    assert off.status_code == 303
    async with runtime.read() as session:
        account = await session.get(MailAccount, account.id)
    assert account.active is False and imap_url(runtime.settings, account) == IMAP
    moved = await client.post(
        f"/admin/email/accounts/{account.id}",
        data={
            "csrf_token": csrf_of(page.text),
            "imap_url": "",
            "smtp_url": "smtps://support:neu-456@smtp.example.com",
            "queue_id": "",
        },
    )
    assert moved.status_code == 303
    async with runtime.read() as session:
        account = await session.get(MailAccount, account.id)
    assert imap_url(runtime.settings, account) == IMAP
    assert smtp_url(runtime.settings, account) == "smtps://support:neu-456@smtp.example.com"


async def test_admin_page_in_the_browser(server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    token = server.cli("tokens", "create", "ada@example.com").stdout.strip()
    httpx.post(
        server.url + "/api/v1/queues",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "Support"},
    ).raise_for_status()
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        await page.get_by_role("link", name="Email settings").click()
        await expect(page.get_by_role("heading", name="Email", exact=True)).to_be_visible()
        form = page.get_by_role("form", name="Add a mail account")
        await form.get_by_label("Address").fill("support@example.com")
        await form.get_by_label("IMAP URL (fetching)").fill("imap://support:pw@127.0.0.1:1/INBOX")
        await form.get_by_label("SMTP URL (sending)").fill("smtp://127.0.0.1:2")
        await form.get_by_label("Queue for new tickets").select_option(label="Support")
        await form.get_by_role("button", name="Add account").click()
        await expect(page.get_by_role("status")).to_contain_text("Saved.")
        row = page.locator("table.accounts tbody tr")
        await expect(row).to_contain_text("support@example.com")
        await expect(row).to_contain_text("imap://support:***@127.0.0.1:1/INBOX")
        await expect(row).to_contain_text("Support")

        await page.get_by_label("Support confirms new tickets").check()
        await page.get_by_role("button", name="Save Support").click()
        await expect(page.get_by_label("Support confirms new tickets")).to_be_checked()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "admin-email.png", full_page=True)
        assert page.errors == []
    queues = httpx.get(server.url + "/api/v1/queues", headers={"Authorization": f"Bearer {token}"})
    assert queues.json()["items"][0]["acknowledge"] is True
