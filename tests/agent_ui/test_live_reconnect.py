"""A console whose live socket drops says so, reconnects by itself, refreshes what it shows
and says that too; live updates then flow again (headless Chromium, a real server)."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser import open_browser, sign_in_page

WAIT = 40_000  # ms: the htmx extension backs off (with jitter) while the server is away


def deliver(server, token: str, n: int, subject: str) -> dict:
    answer = httpx.post(
        server.url + "/api/v1/inbound",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "channel": "email",
            "external_id": f"<reconnect-{n}@x>",
            "from": {"kind": "email", "value": f"kunde{n}@x.example", "name": "Karl Kunde"},
            "subject": subject,
            "text": "Hallo",
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


async def test_a_dropped_console_reconnects_refreshes_and_says_so(server, database_url):
    server.add_user("anna@example.com", "anna-password", name="Anna Agent")
    token = server.cli(
        "tokens", "create", "anna@example.com", "--scope", "integration"
    ).stdout.strip()
    deliver(server, token, 1, "Vor dem Neustart")
    async with open_browser() as browser:
        anna = await sign_in_page(browser, server.url, "anna@example.com", "anna-password")
        await expect(anna.locator("main [ws-connect]")).to_have_attribute("data-live", "connected")
        note = anna.locator("#live-note")
        await expect(note).to_be_hidden()

        server.stop()  # the process goes: the socket drops (1006)
        await expect(note).to_have_text("Reconnecting… live updates are paused.", timeout=WAIT)
        server.start()
        await expect(note).to_have_text("Connection restored, page refreshed.", timeout=WAIT)
        await expect(anna.locator("main [ws-connect]")).to_have_attribute(
            "data-live", "connected", timeout=WAIT
        )
        # Live again: a new ticket joins the list without a reload.
        made = deliver(server, token, 2, "Nach dem Neustart")
        await expect(anna.locator(f"#ticket-{made['ticket_id']}")).to_contain_text(
            "Nach dem Neustart", timeout=WAIT
        )
        await expect(anna.locator("#ticket-rows tr")).to_have_count(2)
        # While the server was away, each failed try is logged: by the browser ("WebSocket
        # connection ... failed", ERR_...) and by htmx (the socket's error event). Nothing else.
        expected = ("WebSocket", "ERR_", "[object Event]")
        assert [e for e in anna.errors if not any(part in e for part in expected)] == []
