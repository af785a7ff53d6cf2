"""A chat ticket's page in headless Chromium against a real server: the visitor's messages
arrive live, Enter sends the reply (Shift+Enter a new line) and it shows once without a
reload; on PostgreSQL the visitor's typing and read receipts, published into the server's
bus, show too, and the agent's page tells the visitor what it has read and that the agent
is typing."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
import pytest
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page

EVENTS = "tresen_events"  # tresen.events.CHANNEL: the bus's NOTIFY channel


@pytest.fixture
def desk(server):
    server.add_user("agent@example.com", "agent-password", name="Anna Agent")
    server.token = server.cli(
        "tokens", "create", "agent@example.com", "--scope", "integration"
    ).stdout.strip()
    return server


def visitor_says(desk, n: int, text: str) -> dict:
    """A visitor's message, handed to the inbox as the chat channel does."""
    answer = httpx.post(
        desk.url + "/api/v1/inbound",
        headers={"Authorization": f"Bearer {desk.token}"},
        json={
            "channel": "chat",
            "external_id": f"sess-b:c{n}",
            "conversation_id": "sess-b",
            "from": {"kind": "chat", "value": "visitor:sess-b", "name": "Vera Visitor"},
            "subject": "Chat: Hallo",
            "text": text,
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def on_postgres(desk) -> bool:
    return desk.env["TRESEN_DATABASE_URL"].startswith("postgresql")


async def test_chat_mode_live_messages_typing_and_a_reply_shown_once(desk):
    first = visitor_says(desk, 1, "Hallo, ist jemand da?")
    tid = first["ticket_id"]
    heard: list[dict] = []
    bus = None
    if on_postgres(desk):
        # The server's bus: what the agent's page publishes, and where a visitor's events come from.
        bus = await asyncpg.connect(desk.env["TRESEN_DATABASE_URL"])
        await bus.add_listener(EVENTS, lambda *args: heard.extend(json.loads(args[3])))

    async def publish(event_type: str, **data) -> None:
        payload = json.dumps([{"type": event_type, "data": data}])
        await bus.execute("SELECT pg_notify($1, $2)", EVENTS, payload)

    async def heard_event(event_type: str, **data) -> None:
        for _ in range(100):
            if any(e["type"] == event_type and data.items() <= e["data"].items() for e in heard):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {event_type} {data} in {heard}")

    try:
        async with open_browser() as browser:
            page = await sign_in_page(browser, desk.url, "agent@example.com", "agent-password")
            await page.goto(f"{desk.url}/tickets/{tid}")
            article = page.locator("article[data-chat]")
            await expect(article).to_have_attribute("data-live", "connected")
            await page.evaluate("window.__noReload = true")
            messages = page.locator("#messages > li.message")
            await expect(messages).to_have_count(1)
            if bus:  # the page says it has shown the visitor's message
                await heard_event(
                    "chat.read", ticket_id=tid, side="agent", message_id=first["message_id"]
                )

            second = visitor_says(desk, 2, "Meine Bestellung 4711 ist nicht da.")
            await expect(messages).to_have_count(2)
            await expect(messages.last).to_contain_text("Meine Bestellung 4711")
            if bus:
                await heard_event(
                    "chat.read", ticket_id=tid, side="agent", message_id=second["message_id"]
                )
                await publish(
                    "chat.typing", ticket_id=tid, side="visitor", typing=True, name="Vera"
                )
                await expect(page.locator("#chat-typing")).to_have_text("Visitor is typing…")
                await publish(
                    "chat.visitor",
                    ticket_id=tid,
                    online=True,
                    name="Vera Visitor",
                    email="vera@example.com",
                    email_verified=True,
                )
                await expect(page.locator("#chat-visitor")).to_contain_text("Visitor online")
                await expect(page.locator("#chat-visitor")).to_contain_text(
                    "vera@example.com (verified)"
                )

            box = page.get_by_role("textbox", name="Message")
            await box.click()
            # Shift+Enter starts a new line; nothing is sent.
            await box.press_sequentially("Einen Moment,")
            await box.press("Shift+Enter")
            await box.press_sequentially("ich sehe nach.")
            await expect(box).to_have_value("Einen Moment,\nich sehe nach.")
            if bus:  # a public reply being written: the visitor is told the agent types
                await heard_event("chat.typing", ticket_id=tid, side="agent", typing=True)
            await box.press("Enter")
            replies = page.locator("#messages > li.message.outbound")
            await expect(replies).to_have_count(1)
            await expect(replies.last).to_contain_text("ich sehe nach.")
            await expect(box).to_have_value("")
            await expect(box).to_be_focused()
            if bus:
                await heard_event("chat.typing", ticket_id=tid, side="agent", typing=False)
            # Shown once: the live push is the only copy, also a moment later.
            await asyncio.sleep(1)
            await expect(page.locator("#messages li", has_text="ich sehe nach.")).to_have_count(1)
            await expect(messages).to_have_count(3)
            assert await page.evaluate("window.__noReload") is True

            if bus:
                reply_id = int((await replies.last.get_attribute("id")).removeprefix("message-"))
                await publish("chat.read", ticket_id=tid, side="visitor", message_id=reply_id)
                await expect(replies.last.locator(".chat-read-mark")).to_have_text("Read")
                await publish("chat.typing", ticket_id=tid, side="visitor", typing=False, name=None)
                await expect(page.locator("#chat-typing")).to_have_text("")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "chat-ticket.png", full_page=True)

            # The Chats page lists it, with the last message.
            await page.goto(f"{desk.url}/chats")
            listed = page.locator(f"#waiting-{tid}, #chat-{tid}")
            await expect(listed).to_contain_text("ich sehe nach.")
            await page.screenshot(path=ARTIFACTS / "chats.png", full_page=True)
            assert page.errors == []
    finally:
        if bus is not None:
            await bus.close()
