"""The chat's bot in headless Chromium, German and English: a visitor's question answered
with the knowledge base's article (its link, Yes/No), "No" handing off to the agent who
sees the bot's part and why, a request for a person handed off at once, "Yes" resolving."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import func, select

from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.channels.chat.widget_host import (
    Website,
    _runtime,
    agent_online,
    chat_sessions,
    chat_ticket,
)
from tests.channels.chat.widget_host import create_channel as create_chat

WAIT = 20_000  # ms

ARTICLES = {
    "en": [
        (
            "Returning an item",
            "You can return any item within 30 days of delivery. Print the return label "
            "from your order page and take the parcel to a post office. We refund the "
            "money within five days of receiving it.",
        ),
        (
            "Changing your password",
            "Open your account settings, choose Security and enter a new password twice. "
            "It must be at least twelve characters long.",
        ),
        (
            "Payment methods",
            "We accept credit cards, PayPal and invoices for business customers. "
            "Invoices are due within 14 days.",
        ),
    ],
    "de": [
        (
            "Artikel zurückgeben",
            "Sie können jeden Artikel innerhalb von 30 Tagen nach der Lieferung zurückgeben. "
            "Drucken Sie das Rücksendeetikett auf Ihrer Bestellseite aus und bringen Sie das "
            "Paket zur Post. Wir erstatten das Geld innerhalb von fünf Tagen nach Eingang.",
        ),
        (
            "Passwort ändern",
            "Öffnen Sie Ihre Kontoeinstellungen, wählen Sie Sicherheit und geben Sie zweimal "
            "ein neues Passwort ein. Es muss mindestens zwölf Zeichen lang sein.",
        ),
        (
            "Zahlungsarten",
            "Wir akzeptieren Kreditkarten, PayPal und Rechnungen für Geschäftskunden. "
            "Rechnungen sind innerhalb von 14 Tagen fällig.",
        ),
    ],
}
WORDS = {
    "en": {
        "open": "Open chat",
        "message": "Message",
        "question": "I would like to return an item",
        "person": "I want to talk to a human",
        "yes": "Yes",
        "no": "No",
        "greeting": "Hi, I am Tilda. Ask me anything.",
        "give": "Send my e-mail address",
        "email": "E-mail",
    },
    "de": {
        "open": "Chat öffnen",
        "message": "Nachricht",
        "question": "Ich möchte meine Bestellung zurückgeben",
        "person": "Ich möchte mit einem Mitarbeiter sprechen",
        "yes": "Ja",
        "no": "Nein",
        "greeting": "Hallo, ich bin Tilda. Fragen Sie mich.",
        "give": "E-Mail-Adresse senden",
        "email": "E-Mail",
    },
}


@pytest.fixture
def website():
    with Website() as site:
        yield site


def watch(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors


def bearer(server, email: str) -> dict:
    token = server.cli("tokens", "create", email).stdout.strip()
    return {"Authorization": f"Bearer {token}"}


def switch_bot_on(server) -> None:
    """The chat's bot "Tilda", switched on by an administrator (the admin API)."""
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    switched = httpx.put(
        f"{server.url}/api/v1/bot/settings/chat",
        headers=bearer(server, "ada@example.com"),
        json={
            "enabled": True,
            "engine": "faq",
            "name": "Tilda",
            "greeting_en": WORDS["en"]["greeting"],
            "greeting_de": WORDS["de"]["greeting"],
        },
    )
    assert switched.status_code == 200, switched.text


async def bot_desk(server, website, lang: str) -> tuple[str, dict]:
    """Anna online in the chat's queue, the articles public in `lang`, the chat's bot on;
    the page's URL and Anna's API headers."""
    from routing.actions import set_queue_routing
    from tickets.models import Queue

    user_id = await agent_online(server)
    runtime = _runtime(server)
    try:
        async with runtime.transaction() as tx:
            queue_id = await tx.session.scalar(
                select(Queue.id).where(Queue.name == f"Chat {user_id}")
            )
            # Chats are given to the least loaded agent (Anna, the only one).
            await set_queue_routing(
                tx, queue_id, mode="least_loaded", members=[{"user_id": user_id, "role": "agent"}]
            )
    finally:
        await runtime.engine.dispose()
    key = await create_chat(server, [website.origin], queue_id=queue_id)
    switch_bot_on(server)
    anna, admin = bearer(server, "anna@example.com"), bearer(server, "ada@example.com")
    for title, body in ARTICLES[lang]:
        made = httpx.post(
            f"{server.url}/api/v1/kb/articles",
            headers=admin,
            json={"title": title, "body": body, "language": lang, "visibility": "public"},
        )
        assert made.status_code == 201, made.text
    await embedded(server, len(ARTICLES[lang]))
    return website.page(f"/{lang}", server.url, key, lang=lang), anna


async def embedded(server, count: int) -> None:
    """Wait for the server's worker to embed the articles (with the semantic extra): the
    bot ranks lexically while it is busy, and the test asks one question in one mode."""
    from knowledge_base import semantic
    from knowledge_base.models import ArticleEmbedding

    if not semantic.available():
        return
    runtime = _runtime(server)
    try:
        for _ in range(600):
            async with runtime.read() as session:
                done = await session.scalar(select(func.count()).select_from(ArticleEmbedding))
            if done >= count:
                return
            await asyncio.sleep(0.1)
    finally:
        await runtime.engine.dispose()
    raise AssertionError("the articles were not embedded within a minute")


def ticket(server, headers: dict, ticket_id: int) -> dict:
    found = httpx.get(f"{server.url}/api/v1/tickets/{ticket_id}", headers=headers)
    assert found.status_code == 200, found.text
    return found.json()


async def open_chat(browser, url: str, lang: str):
    page = await browser.new_page()  # a context of its own: a visitor of their own
    page.errors = watch(page)
    await page.goto(url)
    await page.get_by_role("button", name=WORDS[lang]["open"]).click(timeout=WAIT)
    # The bot greets under its name, as the conversation's first line.
    greeting = page.get_by_role("log").locator(".m.bo.g")
    await expect(greeting).to_contain_text("Tilda")
    await expect(greeting).to_contain_text(WORDS[lang]["greeting"])
    return page


async def ask(page, lang: str, text: str) -> None:
    box = page.get_by_role("textbox", name=WORDS[lang]["message"])
    await box.fill(text)
    await box.press("Enter")


def bot_lines(page):
    return page.get_by_role("log").locator(".m.bo:not(.g)")


async def answered_with_the_article(page, server, lang: str):
    """The bot's answer: the return article's title and link, and Yes/No under it."""
    words, title = WORDS[lang], ARTICLES[lang][0][0]
    await ask(page, lang, words["question"])
    answer = bot_lines(page).first
    await expect(answer).to_contain_text(title, timeout=WAIT)
    await expect(answer.locator(".w")).to_have_text("Tilda")
    link = answer.locator(f'a[href^="{server.url}/help/"]')
    await expect(link).to_have_count(1)
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    for label in (words["yes"], words["no"]):
        await expect(answer.get_by_role("button", name=label, exact=True)).to_be_enabled()
    return answer


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_the_bot_answers_with_the_article_and_no_hands_off_to_the_agent(
    server, website, lang
):
    url, anna = await bot_desk(server, website, lang)
    words = WORDS[lang]
    async with open_browser() as browser:
        page = await open_chat(browser, url, lang)
        answer = await answered_with_the_article(page, server, lang)
        ticket_id = await chat_ticket(server)
        assert ticket(server, anna, ticket_id)["state"] == "bot"

        await answer.get_by_role("button", name=words["no"], exact=True).click()
        mine = page.get_by_role("log").locator(".m.v")
        await expect(mine.nth(1)).to_have_text(re.compile(words["no"]))
        await expect(answer.get_by_role("button", name=words["no"], exact=True)).to_be_disabled()
        # Handed off: the bot says so, and who will answer (Anna: the chat is offered to her).
        await expect(bot_lines(page)).to_have_count(3, timeout=WAIT)
        handed = ticket(server, anna, ticket_id)
        assert handed["state"] != "bot" and handed["assignee"] is not None, (
            handed["queue"],
            handed,
        )
        await expect(bot_lines(page).last).to_contain_text("Anna Agent")
        await expect(bot_lines(page).last.get_by_role("button")).to_have_count(0)

        # After a reload the old answer's buttons are never active again.
        await page.reload()
        await page.get_by_role("button", name=words["open"]).click(timeout=WAIT)
        await expect(bot_lines(page).first).to_contain_text(ARTICLES[lang][0][0], timeout=WAIT)
        await expect(
            bot_lines(page).first.get_by_role("button", name=words["yes"], exact=True)
        ).to_be_disabled()
        assert page.errors == []

        # The agent sees the bot's part, marked as the bot's, and why it handed off.
        console = await sign_in_page(browser, server.url, "anna@example.com", "agent-password")
        await console.goto(f"{server.url}/tickets/{ticket_id}")
        banner = console.get_by_role("note", name="The bot")
        await expect(banner).to_contain_text(
            "The bot handed off: the customer said the answer did not help", timeout=WAIT
        )
        said = console.locator("li.message.bot:not(.internal)")
        await expect(said).to_have_count(3)  # the answer, "sorry", who will answer
        await expect(said.first).to_contain_text(ARTICLES[lang][0][0])
        await expect(said.first.locator(".bot-label")).to_have_text("Bot")
        await expect(said.first).to_contain_text("Tilda")
        await expect(said.last).to_contain_text("Anna Agent")
        ARTIFACTS.mkdir(exist_ok=True)
        await console.screenshot(path=ARTIFACTS / f"chat-bot-handoff-{lang}.png", full_page=True)
        assert console.errors == []


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_a_person_asked_for_is_handed_off_at_once_and_yes_resolves(server, website, lang):
    url, anna = await bot_desk(server, website, lang)
    words = WORDS[lang]
    async with open_browser() as browser:
        page = await open_chat(browser, url, lang)
        await ask(page, lang, words["person"])
        await expect(bot_lines(page).last).to_contain_text("Anna Agent", timeout=WAIT)
        await expect(page.get_by_role("log").locator(".m.bo button")).to_have_count(0)
        first = await chat_ticket(server)
        handed = ticket(server, anna, first)
        assert handed["state"] != "bot" and handed["assignee"] is not None
        assert page.errors == []

        visitor = await open_chat(browser, url, lang)
        answer = await answered_with_the_article(visitor, server, lang)
        await answer.get_by_role("button", name=words["yes"], exact=True).click()
        await expect(answer.get_by_role("button", name=words["yes"], exact=True)).to_be_disabled()
        await expect(bot_lines(visitor)).to_have_count(2, timeout=WAIT)
        second = await chat_ticket(server)
        assert second != first
        assert ticket(server, anna, second)["state"] == "solved"
        ARTIFACTS.mkdir(exist_ok=True)
        await visitor.screenshot(path=ARTIFACTS / f"chat-bot-resolved-{lang}.png")
        assert visitor.errors == []


async def bot_writes(server, ticket_id: int, text: str, interactive: dict) -> None:
    """A message of the bot's written on the server's database (as a Rasa assistant's
    answer with an image would be)."""
    from tickets.bot_messages import add_bot_message
    from tickets.models import Ticket

    runtime = _runtime(server)
    try:
        async with runtime.transaction() as tx:
            found = await tx.session.get(Ticket, ticket_id)
            await add_bot_message(tx, found, text, interactive=interactive)
    finally:
        await runtime.engine.dispose()


async def stored_email(server) -> str | None:
    for _ in range(100):
        email = (await chat_sessions(server))[-1][1]
        if email:
            return email
        await asyncio.sleep(0.1)
    return None


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_with_nobody_online_the_bot_asks_for_the_email_address(server, website, lang):
    key = await create_chat(server, [website.origin])  # nobody is online
    switch_bot_on(server)
    url = website.page(f"/{lang}", server.url, key, lang=lang)
    words = WORDS[lang]
    async with open_browser() as browser:
        page = await open_chat(browser, url, lang)
        # The bot answers: no "leave a message", the address not required to begin.
        email = page.get_by_role("textbox", name=words["email"], exact=True)
        await expect(page.get_by_role("dialog")).not_to_contain_text("online")
        assert not await email.evaluate("e => e.required")
        await ask(page, lang, words["person"])
        await expect(page.get_by_role("log").locator(".m.v")).not_to_contain_text(
            re.compile("Sending|Wird gesendet"), timeout=WAIT
        )
        # "Of course …", then: nobody is there, the answer comes by e-mail: which address?
        await expect(bot_lines(page)).to_have_count(2, timeout=WAIT)
        await expect(email).to_be_visible()
        await email.fill("kim@example.com")
        await page.get_by_role("button", name=words["give"]).click()
        await expect(email).to_be_hidden()
        assert await stored_email(server) == "kim@example.com"
        assert page.errors == []

        # An image (https only) and buttons under the newest message; older ones stay off.
        ticket_id = await chat_ticket(server)
        await bot_writes(
            server,
            ticket_id,
            "Our shop on the map:",
            {
                "image": "https://desk.example/map.png",
                "buttons": [{"title": "Opening hours", "payload": "/hours"}],
            },
        )
        await bot_writes(
            server, ticket_id, "And not this:", {"image": "http://desk.example/plain.png"}
        )
        await page.reload()
        await page.get_by_role("button", name=words["open"]).click(timeout=WAIT)
        await expect(bot_lines(page)).to_have_count(4, timeout=WAIT)
        pictured = bot_lines(page).nth(2)
        await expect(pictured.locator("img")).to_have_attribute(
            "src", "https://desk.example/map.png"
        )
        await expect(pictured.get_by_role("button", name="Opening hours")).to_be_disabled()
        await expect(bot_lines(page).last.locator("img")).to_have_count(0)


async def test_the_email_form_stays_until_the_address_is_given(server, website):
    key = await create_chat(server, [website.origin])  # nobody is online
    switch_bot_on(server)
    url = website.page("/en", server.url, key, lang="en")
    words = WORDS["en"]
    async with open_browser() as browser:
        page = await open_chat(browser, url, "en")
        email = page.get_by_role("textbox", name=words["email"], exact=True)
        await ask(page, "en", words["person"])
        await expect(bot_lines(page)).to_have_count(2, timeout=WAIT)
        await expect(email).to_be_visible()
        assert await email.evaluate("e => e.required")

        # More is said after the question (here the bot's next line): the form stays.
        ticket_id = await chat_ticket(server)
        await bot_writes(server, ticket_id, "Meanwhile, our opening hours are 9 to 5.", {})
        await page.reload()
        await page.get_by_role("button", name=words["open"]).click(timeout=WAIT)
        await expect(bot_lines(page)).to_have_count(3, timeout=WAIT)
        await expect(email).to_be_visible()
        # Not required any more: the visitor may go on talking without it.
        assert not await email.evaluate("e => e.required")
        await ask(page, "en", "Thanks, I will wait.")
        mine = page.get_by_role("log").locator(".m.v")
        await expect(mine).to_have_count(2, timeout=WAIT)
        await expect(mine.last).not_to_contain_text(re.compile("Sending"), timeout=WAIT)
        await expect(email).to_be_visible()

        await email.fill("kim@example.com")
        await page.get_by_role("button", name=words["give"]).click()
        await expect(email).to_be_hidden()
        assert await stored_email(server) == "kim@example.com"
        await page.reload()
        await page.get_by_role("button", name=words["open"]).click(timeout=WAIT)
        await expect(bot_lines(page)).to_have_count(3, timeout=WAIT)
        await expect(email).to_be_hidden()
        assert page.errors == []
