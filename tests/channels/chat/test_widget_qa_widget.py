"""The widget's side of the QA findings, in headless Chromium: an agent taking over from the
bot is announced and the bot's buttons end (item 10); a paste over the limit is shown and
not cut (item 12); the e-mail address given to the bot is confirmed (item 15)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser import open_browser, sign_in_page
from tests.channels.chat.test_bot_widget_browser import (
    WAIT,
    WORDS,
    answered_with_the_article,
    bot_desk,
    bot_lines,
    open_chat,
    switch_bot_on,
    watch,
)
from tests.channels.chat.widget_host import (
    Website,
    agent_online,
    chat_messages,
    chat_ticket,
    create_channel,
)

LIMIT = 5000


@pytest.fixture
def website():
    with Website() as site:
        yield site


async def test_taking_over_from_the_bot_tells_the_visitor_and_ends_its_buttons(server, website):
    url, _anna = await bot_desk(server, website, "de")
    words = WORDS["de"]
    async with open_browser() as browser:
        page = await open_chat(browser, url, "de")
        answer = await answered_with_the_article(page, server, "de")
        ticket_id = await chat_ticket(server)

        console = await sign_in_page(browser, server.url, "anna@example.com", "agent-password")
        await console.goto(f"{server.url}/tickets/{ticket_id}")
        await console.get_by_role("button", name="Take over from the bot").click()
        await expect(console.get_by_role("button", name="Take over from the bot")).to_have_count(
            0, timeout=WAIT
        )

        # In the visitor's language, live; "Nein" can no longer reach Anna as a bare word.
        await expect(bot_lines(page).last).to_contain_text(
            "Anna Agent ist dem Gespräch beigetreten.", timeout=WAIT
        )
        for label in (words["yes"], words["no"]):
            await expect(answer.get_by_role("button", name=label, exact=True)).to_be_disabled()
        # So after a reload too.
        await page.reload()
        await page.get_by_role("button", name=words["open"]).click(timeout=WAIT)
        await expect(bot_lines(page).last).to_contain_text("Anna Agent", timeout=WAIT)
        await expect(page.get_by_role("log").locator(".q button:enabled")).to_have_count(0)
        assert page.errors == []


async def test_a_paste_over_the_limit_is_kept_and_shown_not_cut(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin])
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(website.page("/", server.url, key))
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        box = page.get_by_role("textbox", name="Message")
        pasted = "A long story. " * 430  # 6,020 characters
        await box.fill(pasted)
        # All of it stays in the box, and the visitor is told why it does not go.
        assert len(await box.input_value()) == len(pasted)
        counter = page.locator("#tresen-chat .cc")
        await expect(counter).to_contain_text(f"at most {LIMIT} characters")
        await expect(counter).to_contain_text(f"{len(pasted)} characters")
        await box.press("Enter")
        await expect(page.get_by_role("log").locator(".m.v")).to_have_count(0)
        assert len(await box.input_value()) == len(pasted)

        # Shortened under the limit: the counter says how much room is left, and it goes whole.
        shorter = pasted[:4800]
        await box.fill(shorter)
        await expect(counter).to_have_text(f"4800 / {LIMIT}")
        await box.press("Enter")
        mine = page.get_by_role("log").locator(".m.v")
        await expect(mine).to_have_count(1)
        await expect(mine).not_to_contain_text("Sending…", timeout=WAIT)
        await expect(counter).to_be_hidden()
        assert await chat_messages(server) == [("inbound", shorter)]
        assert errors == []


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_the_email_address_given_to_the_bot_is_confirmed(server, website, lang):
    key = await create_channel(server, [website.origin])  # nobody is online
    switch_bot_on(server)
    words = WORDS[lang]
    async with open_browser() as browser:
        page = await open_chat(browser, website.page(f"/{lang}", server.url, key, lang=lang), lang)
        await page.get_by_role("textbox", name=words["message"]).fill(words["person"])
        await page.get_by_role("textbox", name=words["message"]).press("Enter")
        await expect(bot_lines(page)).to_have_count(2, timeout=WAIT)
        email = page.get_by_role("textbox", name=words["email"], exact=True)
        await email.fill("kim@example.com")
        await page.get_by_role("button", name=words["give"]).click()
        await expect(email).to_be_hidden()
        confirmed = page.get_by_role("log").locator(".m.s").last
        thanks = "we will answer you by e-mail at" if lang == "en" else "Wir antworten Ihnen per"
        await expect(confirmed).to_contain_text(re.compile(thanks), timeout=WAIT)
        await expect(confirmed).to_contain_text("kim@example.com")
        assert page.errors == []
