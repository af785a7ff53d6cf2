"""The console in headless Chromium: sign in, a live list, replying."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page


@pytest.fixture
def desk(server):
    """A server with an agent and an API token for them."""
    server.add_user("agent@example.com", "agent-password", name="Anna Agent")
    server.token = server.cli(
        "tokens", "create", "agent@example.com", "--scope", "integration"
    ).stdout.strip()
    return server


def deliver(desk, external_id: str, subject: str, **extra) -> dict:
    answer = httpx.post(
        desk.url + "/api/v1/inbound",
        headers={"Authorization": f"Bearer {desk.token}"},
        json={
            "channel": "email",
            "external_id": external_id,
            "from": {"kind": "email", "value": "kunde@x.example", "name": "Karl Kunde"},
            "subject": subject,
            "text": "Bitte helfen Sie mir.",
            **extra,
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


async def test_login_then_ticket_arrives_live_without_reload(desk):
    deliver(desk, "<before@x>", "Schon da")
    async with open_browser() as browser:
        page = await sign_in_page(browser, desk.url, "agent@example.com", "agent-password")
        rows = page.locator("#ticket-rows tr")
        await expect(rows).to_have_count(1)
        await expect(page.get_by_role("link", name="Anna Agent")).to_be_visible()
        # The socket is open once htmx has connected; a navigation would reset this marker.
        await page.evaluate("window.__noReload = true")
        await expect(page.locator("main [ws-connect]")).to_have_attribute("data-live", "connected")
        created = deliver(desk, "<live@x>", "Live angekommen")
        row = page.locator(f"#ticket-{created['ticket_id']}")
        await expect(row).to_contain_text("Live angekommen")
        await expect(rows.first).to_contain_text("Live angekommen")
        await expect(rows).to_have_count(2)
        assert await page.evaluate("window.__noReload") is True
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "ticket-list.png", full_page=True)
        assert page.errors == []


async def test_reply_from_ticket_page_appears_in_conversation(desk):
    created = deliver(desk, "<reply@x>", "Rechnung fehlt")
    async with open_browser() as browser:
        page = await sign_in_page(browser, desk.url, "agent@example.com", "agent-password")
        await page.get_by_role("link", name="Rechnung fehlt").click()
        await page.wait_for_url(f"{desk.url}/tickets/{created['ticket_id']}")
        await expect(page.locator("main [ws-connect]")).to_have_attribute("data-live", "connected")
        await page.get_by_role("textbox", name="Message").fill("Die Rechnung ist unterwegs.")
        await page.get_by_role("button", name="Send").click()
        messages = page.locator("#messages > li.message")
        await expect(messages).to_have_count(2)
        await expect(messages.last).to_contain_text("Die Rechnung ist unterwegs.")
        await expect(page.get_by_role("status")).to_contain_text("Sent.")
        await expect(page.get_by_role("textbox", name="Message")).to_have_value("")
        # A customer's answer arrives live on the open ticket page.
        deliver(
            desk, "<answer@x>", f"Re: [#{created['ticket_number']}] Rechnung fehlt", text="Danke!"
        )
        await expect(messages).to_have_count(3)
        await expect(messages.last).to_contain_text("Danke!")
        await expect(page.locator("#ticket-status")).to_contain_text("open")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "ticket.png", full_page=True)
        assert page.errors == []

    ticket = httpx.get(
        f"{desk.url}/api/v1/tickets/{created['ticket_id']}",
        headers={"Authorization": f"Bearer {desk.token}"},
    ).json()
    assert [m["direction"] for m in ticket["messages"]] == ["inbound", "outbound", "inbound"]


async def test_signing_out_elsewhere_sends_an_open_console_to_the_sign_in_page(desk):
    """A sign-out ends every session of the user (a copied cookie too): a console left open
    in another browser loses its live socket at once and shows the sign-in page."""
    async with open_browser() as browser:
        left_open = await sign_in_page(browser, desk.url, "agent@example.com", "agent-password")
        live = left_open.locator("main [ws-connect]")
        await expect(live).to_have_attribute("data-live", "connected")
        elsewhere = await sign_in_page(browser, desk.url, "agent@example.com", "agent-password")
        await elsewhere.get_by_role("button", name="Sign out").click()
        await elsewhere.wait_for_url(desk.url + "/login**")
        await left_open.wait_for_url(desk.url + "/login?next=/")
        await expect(left_open.get_by_label("Password")).to_be_visible()
