"""At the end of a chat the widget asks "How satisfied were you?": a link to the desk's
rating page (signed for this conversation's ticket), gone again with a new chat."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser import open_browser
from tests.channels.chat.widget_host import Website, agent_online, create_channel

WAIT = 15_000  # ms


@pytest.fixture
def website():
    with Website() as site:
        yield site


async def test_the_ended_chat_links_to_the_rating_page(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin])
    async with open_browser() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(website.page("/", server.url, key))
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        panel = page.get_by_role("dialog", name="Chat")
        box = page.get_by_role("textbox", name="Message")
        await box.fill("Thanks, that was all")
        await box.press("Enter")
        sent = page.get_by_role("log").locator(".m.v", has_text="Thanks, that was all")
        await expect(sent).not_to_contain_text("Sending…", timeout=WAIT)

        await page.get_by_role("button", name="End chat").click()
        await expect(panel).to_contain_text("The chat has ended.", timeout=WAIT)
        rate = page.get_by_role("link", name="How satisfied were you? Rate us")
        await expect(rate).to_be_visible(timeout=WAIT)
        href = await rate.get_attribute("href")
        assert href.startswith(server.url + "/portal/rate/") and href.endswith("?via=chat")
        assert await rate.get_attribute("target") == "_blank"

        rating_page = await browser.new_page()
        await rating_page.goto(href)
        await expect(
            rating_page.get_by_role("heading", name="How satisfied were you?")
        ).to_be_visible()
        await rating_page.close()

        await page.get_by_role("button", name="Start a new chat").click()
        await expect(box).to_be_focused(timeout=WAIT)
        await expect(rate).to_be_hidden()
        assert errors == []
