"""A whole chat in headless Chromium: a visitor on a customer's website (another origin)
and an agent in the console talk live, typing shows both ways; the server is killed and
started again mid-conversation and the widget resumes with every message once; a site
not on the allow-list gets no chat; German and English."""

from __future__ import annotations

import signal

import pytest
from playwright.async_api import expect

from tests.browser import open_browser, sign_in_page
from tests.channels.chat.widget_host import Website, agent_online, chat_messages, create_channel

WAIT = 20_000  # ms
RESTART_WAIT = 45_000  # the widget backs off (up to 15 s) while the server is away


@pytest.fixture
def website():
    with Website() as site:
        yield site


async def test_visitor_and_agent_chat_live_through_a_server_restart(server, website):
    await agent_online(server, "anna@example.com", "Anna Agent")
    key = await create_channel(server, [website.origin])
    url = website.page("/shop", server.url, key)
    async with open_browser() as browser:
        agent = await sign_in_page(browser, server.url, "anna@example.com", "agent-password")
        visitor = await browser.new_page()
        await visitor.goto(url)
        await visitor.get_by_role("button", name="Open chat").click()
        box = visitor.get_by_role("textbox", name="Message")
        await box.fill("Hallo, wo bleibt meine Bestellung?")
        await visitor.get_by_role("button", name="Send").click()
        log = visitor.get_by_role("log")
        await expect(log).to_contain_text("Hallo, wo bleibt meine Bestellung?", timeout=WAIT)

        # The new chat appears live in the agent's open console; the agent opens it.
        row = agent.locator("#ticket-rows tr", has_text="Chat: Hallo, wo bleibt meine")
        await expect(row).to_be_visible(timeout=WAIT)
        await row.get_by_role("link").first.click()
        timeline = agent.locator("main")
        await expect(timeline).to_contain_text("Hallo, wo bleibt meine Bestellung?")
        # Its live socket is open (what the visitor does from now on reaches it).
        await expect(agent.locator("main [ws-connect]").first).to_have_attribute(
            "data-live", "connected", timeout=WAIT
        )

        # The visitor types: the agent sees it; then the message arrives live.
        await box.press_sequentially("Nummer 4711", delay=30)
        await expect(agent.get_by_text("Visitor is typing")).to_be_visible(timeout=WAIT)
        await visitor.get_by_role("button", name="Send").click()
        await expect(timeline).to_contain_text("Nummer 4711", timeout=WAIT)

        # The agent types and replies from the console: the visitor sees both live.
        reply = agent.get_by_label("Message", exact=True)
        await reply.press_sequentially("Ich schaue nach", delay=30)
        await expect(visitor.get_by_text("Anna Agent is typing")).to_be_visible(timeout=WAIT)
        await reply.fill("Ich schaue nach: Ihre Bestellung ist unterwegs.")
        await agent.get_by_role("button", name="Send", exact=True).click()
        await expect(log).to_contain_text("Ihre Bestellung ist unterwegs.", timeout=WAIT)

        # The server is killed mid-conversation; the visitor writes on meanwhile.
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        await box.fill("Sind Sie noch da?")
        await visitor.get_by_role("button", name="Send").click()
        server.start()
        await expect(timeline).to_contain_text("Sind Sie noch da?", timeout=RESTART_WAIT)
        await agent.reload()
        reply = agent.get_by_label("Message", exact=True)
        await reply.fill("Ja, bin ich.")
        await agent.get_by_role("button", name="Send", exact=True).click()
        await expect(log).to_contain_text("Ja, bin ich.", timeout=RESTART_WAIT)

        # Every message once, in the widget and in the database.
        texts = [
            "Hallo, wo bleibt meine Bestellung?",
            "Nummer 4711",
            "Ich schaue nach: Ihre Bestellung ist unterwegs.",
            "Sind Sie noch da?",
            "Ja, bin ich.",
        ]
        for text in texts:
            await expect(log.get_by_text(text, exact=True)).to_have_count(1)
        stored = [text for _direction, text in await chat_messages(server)]
        assert stored == texts
        # A reload of the visitor's page brings the conversation back, once.
        await visitor.reload()
        await visitor.get_by_role("button", name="Open chat").click()
        log = visitor.get_by_role("log")
        for text in texts:
            await expect(log.get_by_text(text, exact=True)).to_have_count(1, timeout=WAIT)


async def test_german_pages_and_sites_not_allowed(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin])
    german = website.page("/de", server.url, key, html_lang="de")
    with Website() as elsewhere:
        foreign = elsewhere.page("/", server.url, key)
        async with open_browser() as browser:
            page = await browser.new_page()
            await page.goto(german)
            await page.get_by_role("button", name="Chat öffnen").click()
            await page.get_by_role("textbox", name="Nachricht").fill("Guten Tag")
            await page.get_by_role("button", name="Senden").click()
            await expect(page.get_by_role("log")).to_contain_text("Guten Tag", timeout=WAIT)

            other = await browser.new_page()
            await other.goto(foreign)
            await expect(other.get_by_role("heading", name="Shop")).to_be_visible()
            await other.wait_for_timeout(2000)  # the widget asked and was refused by now
            await expect(other.get_by_role("button", name="Open chat")).to_have_count(0)
            assert await other.evaluate("document.getElementById('tresen-chat') === null") or (
                await other.get_by_role("button", name="Open chat").count() == 0
            )
    assert [text for _d, text in await chat_messages(server)] == ["Guten Tag"]


async def test_the_help_centre_offers_the_chat_of_a_channel_allowing_the_desk(server):
    await agent_online(server)
    await create_channel(server, [server.url])
    async with open_browser() as browser:
        page = await browser.new_page()
        # The help centre in German (it follows the browser, English here, unless chosen).
        await page.goto(server.url + "/help?lang=de")
        await page.get_by_role("button", name="Chat öffnen").click(timeout=WAIT)
        await page.get_by_role("textbox", name="Nachricht").fill("Wo finde ich meine Rechnung?")
        await page.get_by_role("button", name="Senden").click()
        await expect(page.get_by_role("log")).to_contain_text(
            "Wo finde ich meine Rechnung?", timeout=WAIT
        )
    assert [text for _d, text in await chat_messages(server)] == ["Wo finde ich meine Rechnung?"]
