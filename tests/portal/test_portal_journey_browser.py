"""The customer portal end to end, as a customer on a phone uses it and an outside tester
checks it: a real server process (`tresen serve`) mailing through a real SMTP server, headless
Chromium driven by what the pages show (roles and labels). Kim has a ticket by e-mail and one
from a chat; she signs in by the link in the mail the desk sent, sees both, answers one, asks
something an article answers (no ticket), asks something it does not (a ticket, live in an
agent's open console), and rates a solved ticket from the solved notice's link. Once in
English, once in German.

test_screenshots_of_the_portal saves the pages (English, desktop, and one at phone size)
in test-artifacts/, or in the folder `TRESEN_SCREENSHOTS` names (`docs/screenshots` for
docs/portal.md)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import func, select

from customers.actions import create_customer
from knowledge_base.models import Deflection
from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.fixtures import load_kb_samples
from tickets import replies
from tickets.actions import Actor, update_ticket
from tickets.csat import ticket_rating
from tickets.inbox import receive
from tickets.models import Ticket
from tresen import rooms
from tresen.accounts import create_user
from tresen.inbound import InboundMessage
from tresen.models import User
from tresen.runtime import Runtime
from tresen.settings import Settings

WAIT = 20_000  # ms
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 760}
KIM = "kim.meyer@example.org"
SECRET_KEY = "test-secret-key-" + "k" * 24  # the server process's (tests.support)

# What each language's pages say (the German of the catalog) and what Kim writes.
WORDS = {
    "en": {
        "locale": "en-GB",
        "sign_in": "Sign in",
        "my_requests": "My requests",  # the help centre's header, in the browser's language
        "send_link": "Send me a sign-in link",
        "email": "E-mail address",
        "portal": "Customer portal",
        "my_tickets": "My tickets",
        "new_request": "New request",
        "subject": "Subject",
        "description": "Description",
        "your_message": "Your message",
        "send": "Send",
        "sent": "Your message was sent.",
        "conversation": "Conversation",
        "channel_chat": "Channel: Chat",
        "articles": "Articles that may help",
        "solved_it": "This solved my problem: Request a refund",
        "glad": "Glad we could help",
        "send_request": "Send request",
        "received": "as ticket #",
        "see_request": "See your request",
        "how_satisfied": "How satisfied were you?",
        "five": "5 Very satisfied",
        "send_rating": "Send rating",
        "thanks": "Thank you! You rated us 5 of 5.",
        "mail_subject": "Printer does not print",
        "mail_text": "Since this morning our printer prints nothing.",
        "chat_subject": "Chat: Parcel missing",
        "chat_text": "My parcel has not arrived since Monday.",
        "answer": "Sorry to hear that! What does the printer's display show?",
        "note": "Internal: the printer is out of warranty.",
        "reply": "It says E42 on the display now.",
        "deflect_subject": "Refund",
        "deflect_text": "How do I request a refund?",
        "refund_article": "Request a refund",
        "new_subject": "Scanner jams on every page",
        "new_text": "The office scanner jams on every page since the update.",
        "comment": "Quick and friendly.",
    },
    "de": {
        "locale": "de-DE",
        "sign_in": "Anmelden",
        "my_requests": "Meine Anfragen",
        "send_link": "Anmelde-Link senden",
        "email": "E-Mail-Adresse",
        "portal": "Kundenportal",
        "my_tickets": "Meine Tickets",
        "new_request": "Neue Anfrage",
        "subject": "Betreff",
        "description": "Beschreibung",
        "your_message": "Ihre Nachricht",
        "send": "Senden",
        "sent": "Ihre Nachricht wurde gesendet.",
        "conversation": "Verlauf",
        "channel_chat": "Kanal: Chat",
        "articles": "Artikel, die helfen könnten",
        "solved_it": "Das hat mein Problem gelöst: Rückerstattung beantragen",
        "glad": "Schön, dass wir helfen konnten",
        "send_request": "Anfrage senden",
        "received": "als Ticket #",
        "see_request": "Zu Ihrer Anfrage",
        "how_satisfied": "Wie zufrieden waren Sie?",
        "five": "5 Sehr zufrieden",
        "send_rating": "Bewertung senden",
        "thanks": "Danke! Sie haben uns mit 5 von 5 bewertet.",
        "mail_subject": "Drucker druckt nicht",
        "mail_text": "Seit heute Morgen druckt unser Drucker nichts mehr.",
        "chat_subject": "Chat: Paket fehlt",
        "chat_text": "Mein Paket ist seit Montag nicht angekommen.",
        "answer": "Das tut uns leid! Was zeigt das Display des Druckers an?",
        "note": "Intern: Der Drucker hat keine Garantie mehr.",
        "reply": "Im Display steht jetzt E42.",
        "deflect_subject": "Rückerstattung",
        "deflect_text": "Wie kann ich eine Rückerstattung beantragen?",
        "refund_article": "Rückerstattung beantragen",
        "new_subject": "Scanner zieht jede Seite schief ein",
        "new_text": "Der Scanner im Büro verklemmt seit dem Update jede Seite.",
        "comment": "Schnell und freundlich.",
    },
}


def _runtime(database_url: str) -> Runtime:
    return Runtime.create(Settings(database_url=database_url, secret_key=SECRET_KEY))


def mail_links(smtp_server, recipient: str, path: str) -> list[str]:
    """The links to `path` in the mails to `recipient` that reached the SMTP server."""
    pattern = re.compile(r"http://127\.0\.0\.1:\d+" + re.escape(path) + r"[\w.~-]+")
    return [
        match.group(0)
        for message in smtp_server.messages()
        if recipient in str(message["To"])
        for match in [pattern.search(message.get_body(("plain",)).get_content())]
        if match
    ]


async def mail_link(smtp_server, recipient: str, path: str, seen: int = 0) -> str:
    """The next link to `path` mailed to `recipient` after the first `seen` ones (waits for
    it: the desk sends in the background)."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        links = mail_links(smtp_server, recipient, path)
        if len(links) > seen:
            return links[seen]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no mail with a {path} link to {recipient} within 40 s")


async def count_rows(database_url: str) -> tuple[int, int]:
    """(deflected requests, tickets), read from the server's database."""
    runtime = _runtime(database_url)
    try:
        async with runtime.read() as session:
            deflections = await session.scalar(select(func.count(Deflection.id)))
            tickets = await session.scalar(select(func.count(Ticket.id)))
    finally:
        await runtime.engine.dispose()
    return deflections, tickets


async def desk_with_kim(server, smtp_server, database_url, words) -> dict[str, int]:
    """The desk mails through the SMTP server; Kim wrote one e-mail (answered by an agent)
    and chatted once (her chat record joined hers when she proved her address); an agent
    works the console; the help centre has its articles. Returns ticket numbers."""
    added = server.cli(
        "channels", "add-email", "--address", "support@tresen.test", "--smtp-url", smtp_server.url()
    )
    assert added.returncode == 0, added.stderr
    server.stop()
    server.start()
    server.add_user("agent@example.com", "agent-password", name="Anna Agent")
    runtime = _runtime(database_url)
    try:
        language = "de" if words is WORDS["de"] else "en"
        async with runtime.transaction() as tx:
            await create_customer(
                tx, name="Kim Meyer", identities=[("email", KIM)], language=language
            )
        mail = await receive(
            runtime,
            InboundMessage.model_validate(
                {
                    "channel": "email",
                    "external_id": f"<printer-{language}@kim.example>",
                    "from": {"kind": "email", "value": KIM, "name": "Kim Meyer"},
                    "to": "support@tresen.test",
                    "subject": words["mail_subject"],
                    "text": words["mail_text"],
                }
            ),
        )
        chat = await receive(
            runtime,
            InboundMessage.model_validate(
                {
                    "channel": "chat",
                    "external_id": f"chat-{language}:1",
                    "from": {"kind": "chat", "value": f"visitor:kim-{language}", "name": "Kim"},
                    "subject": words["chat_subject"],
                    "text": words["chat_text"],
                    "conversation_id": f"chat-{language}",
                }
            ),
        )
        async with runtime.transaction() as tx:
            visitor = (await tx.session.get(Ticket, chat.ticket_id)).customer_id
            await rooms.link_identity(tx, visitor, "email", KIM)
        agent = await create_user(runtime, email="ben@example.com", name="Ben", role="agent")
        async with runtime.transaction() as tx:
            ticket = await tx.session.get(Ticket, mail.ticket_id)
            await replies.reply(tx, ticket, Actor(user_id=agent.id), text=words["answer"])
            await replies.reply(
                tx, ticket, Actor(user_id=agent.id), text=words["note"], internal=True
            )
        await load_kb_samples(runtime)
        async with runtime.read() as session:
            numbers = {
                "mail": (await session.get(Ticket, mail.ticket_id)).number,
                "chat": (await session.get(Ticket, chat.ticket_id)).number,
            }
    finally:
        await runtime.engine.dispose()
    return numbers | {"mail_id": mail.ticket_id}


async def solve(database_url: str, ticket_id: int) -> None:
    """An agent marks the ticket solved (the desk then mails the solved notice)."""
    runtime = _runtime(database_url)
    try:
        async with runtime.read() as session:
            agent = await session.scalar(select(User).where(User.email == "ben@example.com"))
        async with runtime.transaction() as tx:
            ticket = await tx.session.get(Ticket, ticket_id)
            await update_ticket(tx, ticket, {"state": "solved"}, Actor(user_id=agent.id))
    finally:
        await runtime.engine.dispose()


async def signed_in_customer(browser, server, smtp_server, words, viewport):
    """Kim's page, signed in by asking for a link and opening it from the mail."""
    context = await browser.new_context(
        viewport=viewport, locale=words["locale"], is_mobile=viewport is PHONE
    )
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # From the help centre, where customers look first.
    await page.goto(server.url + "/help")
    await page.get_by_role("link", name=words["my_requests"]).click()
    await expect(page.get_by_role("heading", name=words["sign_in"])).to_be_visible(timeout=WAIT)
    # The password form's address is inside a closed <details>: only the link form's shows.
    await page.get_by_role("textbox", name=words["email"]).fill(KIM)
    seen = len(mail_links(smtp_server, KIM, "/portal/sign-in/"))
    await page.get_by_role("button", name=words["send_link"]).click()
    await expect(page.get_by_role("status")).to_be_visible(timeout=WAIT)
    link = await mail_link(smtp_server, KIM, "/portal/sign-in/", seen)
    await page.goto(link)
    await page.get_by_role("button", name=words["sign_in"], exact=True).click()
    await page.wait_for_url(server.url + "/portal/tickets", timeout=WAIT)
    return context, page


@pytest.mark.parametrize("language", ["en", "de"])
async def test_a_customer_uses_the_portal_on_a_phone(server, smtp_server, database_url, language):
    words = WORDS[language]
    numbers = await desk_with_kim(server, smtp_server, database_url, words)

    async with open_browser() as browser:
        console = await sign_in_page(browser, server.url, "agent@example.com", "agent-password")
        await expect(console.locator("main [ws-connect]")).to_have_attribute(
            "data-live", "connected", timeout=WAIT
        )
        await console.evaluate("window.__noReload = true")

        context, page = await signed_in_customer(browser, server, smtp_server, words, PHONE)
        nav = page.get_by_role("navigation", name=words["portal"])
        await expect(nav.get_by_role("link", name=words["my_tickets"])).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        # Both tickets, the e-mail's and the chat's, on the record she signed in to.
        tickets = page.get_by_role("table")
        await expect(tickets.get_by_role("link", name=words["mail_subject"])).to_be_visible()
        await expect(tickets.get_by_role("link", name=words["chat_subject"])).to_be_visible()
        await tickets.get_by_role("link", name=words["chat_subject"]).click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text(words["chat_subject"])
        await expect(page.get_by_text(words["channel_chat"])).to_be_visible()
        await expect(page.get_by_text(words["chat_text"])).to_be_visible()

        # She answers the e-mail ticket.
        await nav.get_by_role("link", name=words["my_tickets"]).click()
        await tickets.get_by_role("link", name=words["mail_subject"]).click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text(f"#{numbers['mail']}")
        conversation = page.get_by_role("list", name=words["conversation"])
        await expect(conversation).to_contain_text(words["answer"])
        await expect(conversation).not_to_contain_text(words["note"])  # never internal notes
        await page.get_by_role("textbox", name=words["your_message"]).fill(words["reply"])
        await page.get_by_role("button", name=words["send"], exact=True).click()
        await expect(page.get_by_role("status")).to_have_text(words["sent"], timeout=WAIT)
        conversation = page.get_by_role("list", name=words["conversation"])
        await expect(conversation.get_by_role("listitem").last).to_contain_text(words["reply"])
        assert await count_rows(database_url) == (0, 2)

        # An article answers this one: counted as deflected, no ticket.
        await nav.get_by_role("link", name=words["new_request"]).click()
        await page.get_by_label(words["subject"]).press_sequentially(words["deflect_subject"])
        await page.get_by_label(words["description"]).press_sequentially(words["deflect_text"])
        suggestions = page.get_by_role("region", name=words["articles"])
        await expect(suggestions.get_by_role("link", name=words["refund_article"])).to_be_visible(
            timeout=WAIT
        )
        await suggestions.get_by_role("button", name=words["solved_it"]).click()
        await expect(page.get_by_role("heading", name=words["glad"])).to_be_visible(timeout=WAIT)
        assert await count_rows(database_url) == (1, 2)

        # Nothing answers this one: a ticket, live in the agent's open console.
        await nav.get_by_role("link", name=words["new_request"]).click()
        await page.get_by_label(words["subject"]).fill(words["new_subject"])
        await page.get_by_label(words["description"]).fill(words["new_text"])
        await page.get_by_role("button", name=words["send_request"]).click()
        await expect(page.get_by_role("status")).to_contain_text(words["received"], timeout=WAIT)
        row = console.get_by_role("row").filter(has_text=words["new_subject"])
        await expect(row).to_be_visible(timeout=WAIT)
        assert await console.evaluate("window.__noReload") is True, "shown live, not reloaded"
        assert await count_rows(database_url) == (1, 3)
        await page.get_by_role("link", name=words["see_request"]).click()
        await expect(page.get_by_text(words["new_text"])).to_be_visible(timeout=WAIT)

        # The e-mail ticket is solved: she rates it from the solved notice's link.
        await solve(database_url, numbers["mail_id"])
        rate_link = await mail_link(smtp_server, KIM, "/portal/rate/")
        await page.goto(rate_link)
        await expect(page.get_by_role("heading", name=words["how_satisfied"])).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await page.get_by_role("radio", name=words["five"]).check()
        await page.get_by_role("textbox").fill(words["comment"])
        await page.get_by_role("button", name=words["send_rating"]).click()
        await expect(page.get_by_role("status")).to_have_text(words["thanks"], timeout=WAIT)
        assert page.errors == [] and console.errors == []
        await context.close()

    runtime = _runtime(database_url)
    try:
        async with runtime.read() as session:
            rating = await ticket_rating(session, numbers["mail_id"])
    finally:
        await runtime.engine.dispose()
    assert (rating.score, rating.comment) == (5, words["comment"])


SHOTS = os.environ.get("TRESEN_SCREENSHOTS")


async def test_screenshots_of_the_portal(server, smtp_server, database_url):
    """Every portal page as a customer sees it, at desktop and phone size: the pictures of
    docs/portal.md when TRESEN_SCREENSHOTS names a folder (test-artifacts/ otherwise)."""
    folder = Path(SHOTS) if SHOTS else ARTIFACTS / "portal-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    words = WORDS["en"]
    numbers = await desk_with_kim(server, smtp_server, database_url, words)

    async def shot(page, name: str) -> None:
        await page.screenshot(path=folder / f"portal-{name}.png")

    async with open_browser() as browser:
        context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
        page = await context.new_page()
        await page.goto(server.url + "/portal")
        await page.get_by_role("textbox", name=words["email"]).fill(KIM)
        await shot(page, "sign-in")
        await context.close()

        context, page = await signed_in_customer(browser, server, smtp_server, words, DESKTOP)
        nav = page.get_by_role("navigation", name=words["portal"])
        await page.get_by_role("link", name=words["mail_subject"]).click()
        await page.get_by_role("textbox", name=words["your_message"]).fill(words["reply"])
        await page.get_by_role("button", name=words["send"], exact=True).click()
        await expect(page.get_by_role("status")).to_have_text(words["sent"], timeout=WAIT)
        await nav.get_by_role("link", name=words["my_tickets"]).click()
        await expect(page.get_by_role("link", name=words["chat_subject"])).to_be_visible()
        await shot(page, "tickets-list")
        await page.get_by_role("link", name=words["mail_subject"]).click()
        await expect(page.get_by_text(words["reply"])).to_be_visible()
        await shot(page, "ticket-conversation")

        await nav.get_by_role("link", name=words["new_request"]).click()
        await page.get_by_label(words["subject"]).press_sequentially(words["deflect_subject"])
        await page.get_by_label(words["description"]).press_sequentially(words["deflect_text"])
        suggestions = page.get_by_role("region", name=words["articles"])
        await expect(suggestions.get_by_role("link", name=words["refund_article"])).to_be_visible(
            timeout=WAIT
        )
        await shot(page, "suggestions")

        await nav.get_by_role("link", name="My data").click()
        await expect(page.get_by_role("heading", name="My data", level=1)).to_be_visible()
        await page.screenshot(path=folder / "portal-data.png", full_page=True)

        await solve(database_url, numbers["mail_id"])
        await page.goto(await mail_link(smtp_server, KIM, "/portal/rate/"))
        await page.get_by_role("radio", name="4 Satisfied").check()
        await shot(page, "rating")
        await context.close()

        context, page = await signed_in_customer(browser, server, smtp_server, words, PHONE)
        await page.get_by_role("link", name=words["mail_subject"]).click()
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await shot(page, "ticket-phone")
        await context.close()
