"""The Chats page in headless Chromium against a real server: a chat the bot hands off
appears live with why, the customer's own line and how long they wait (QA item 11)."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page


async def test_a_handed_off_chat_appears_live_with_why(server):
    server.add_user("agent@example.com", "agent-password", name="Anna Agent")
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    admin = server.cli("tokens", "create", "ada@example.com").stdout.strip()
    switched = httpx.put(
        server.url + "/api/v1/bot/settings/chat",
        headers={"Authorization": f"Bearer {admin}"},
        json={"enabled": True},
    )
    assert switched.status_code == 200, switched.text
    token = server.cli(
        "tokens", "create", "agent@example.com", "--scope", "integration"
    ).stdout.strip()
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "agent@example.com", "agent-password")
        await page.goto(f"{server.url}/chats")
        await expect(page.locator("section.chats")).to_have_attribute("data-live", "connected")
        sent = httpx.post(
            server.url + "/api/v1/inbound",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "channel": "chat",
                "external_id": "sess-h:c1",
                "conversation_id": "sess-h",
                "from": {"kind": "chat", "value": "visitor:sess-h", "name": "Vera Visitor"},
                "subject": "Chat: Mitarbeiter",
                "text": "Ich möchte mit einem Mitarbeiter sprechen",
                "language": "de",
            },
        )
        assert sent.status_code == 202, sent.text
        row = page.locator(f"#waiting-{sent.json()['ticket_id']}")
        await expect(row.locator(".chat-handoff")).to_have_text(
            "Bot handed off: the customer asked for a person"
        )
        await expect(row.locator(".chat-last")).to_have_text(
            "Ich möchte mit einem Mitarbeiter sprechen"
        )
        await expect(row.locator(".chat-waiting-since")).to_have_text("waiting 0 min")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "chats-handoff.png", full_page=True)
        assert page.errors == []
