"""The agent console in headless Chromium, two agents and a supervisor at once: mentions
arrive live, macros, merging, the 360 sidebar, who else is on a ticket, the supervisor
board when a ticket breaches, keyboard, the German UI; every control has a name; and
screenshots of the main pages in both languages (test-artifacts/)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import update

from routing.models import SlaClock
from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tickets.models import Ticket
from tresen.clock import Clock
from tresen.database import create_engine

INTERACTIVE = {
    "button",
    "link",
    "textbox",
    "searchbox",
    "combobox",
    "checkbox",
    "radio",
    "listbox",
    "spinbutton",
    "switch",
    "menuitem",
    "tab",
}


@pytest.fixture
def desk(server):
    server.add_user("anna@example.com", "anna-password", name="Anna Agent")
    server.add_user("bernd@example.com", "bernd-password", name="Bernd Berater")
    server.add_user("sina@example.com", "sina-password", role="supervisor", name="Sina Super")
    server.add_user("ada@example.com", "ada-password", role="admin", name="Ada Admin")
    server.token = server.cli(
        "tokens", "create", "ada@example.com", "--scope", "integration"
    ).stdout.strip()
    return server


def api(desk, method: str, path: str, **kwargs) -> httpx.Response:
    answer = httpx.request(
        method, desk.url + path, headers={"Authorization": f"Bearer {desk.token}"}, **kwargs
    )
    assert answer.status_code < 400, answer.text
    return answer


def deliver(desk, n: int, subject: str, sender: str = "kunde@x.example", **extra) -> dict:
    return api(
        desk,
        "POST",
        "/api/v1/inbound",
        json={
            "channel": "email",
            "external_id": f"<live-{n}@x>",
            "from": {"kind": "email", "value": sender, "name": "Karl Kunde"},
            "subject": subject,
            "text": f"Hallo, {subject}.",
            **extra,
        },
    ).json()


async def unnamed_controls(page) -> list[str]:
    """Interactive elements without an accessible name, as Chromium computes it."""
    session = await page.context.new_cdp_session(page)
    tree = await session.send("Accessibility.getFullAXTree")
    missing = []
    for node in tree["nodes"]:
        role = (node.get("role") or {}).get("value")
        if node.get("ignored") or role not in INTERACTIVE:
            continue
        name = ((node.get("name") or {}).get("value") or "").strip()
        if not name:
            missing.append(f"{role} {node.get('nodeId')}")
    await session.detach()
    return missing


async def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def test_mention_macro_merge_and_360_in_the_browser(desk):
    first = deliver(desk, 1, "Paket beschädigt")
    second = deliver(desk, 2, "Nochmal wegen Paket")
    async with open_browser() as browser:
        sina = await sign_in_page(browser, desk.url, "sina@example.com", "sina-password")
        await sina.goto(desk.url + "/macros")
        form = sina.get_by_role("form", name="New macro")
        await form.get_by_label("Name").fill("Ersatz zugesagt")
        await form.get_by_label("Text", exact=True).fill(
            "Hallo {{customer.name}}, zu #{{ticket.number}} schicken wir Ersatz."
        )
        await form.get_by_label("Set state").select_option("pending")
        await form.get_by_label("Add tags").fill("ersatz")
        await form.get_by_label("Share with everyone").check()
        await form.get_by_role("button", name="Create macro").click()
        await expect(sina.locator(".macros-admin")).to_contain_text("Ersatz zugesagt")
        assert await unnamed_controls(sina) == []

        anna = await sign_in_page(browser, desk.url, "anna@example.com", "anna-password")
        bernd = await sign_in_page(browser, desk.url, "bernd@example.com", "bernd-password")
        await expect(bernd.locator(".me[ws-connect]")).to_have_attribute("data-live", "connected")

        await anna.goto(f"{desk.url}/tickets/{first['ticket_id']}")
        await expect(anna.locator("article[ws-connect]")).to_have_attribute(
            "data-live", "connected"
        )
        assert await unnamed_controls(anna) == []
        # A note that mentions Bernd: his header shows it without a reload.
        await anna.get_by_label("Internal note (only agents see it)").check()
        message = anna.get_by_role("textbox", name="Message")
        await message.press_sequentially("@Be")  # offers the colleagues whose name fits
        choice = anna.get_by_role("option", name="Bernd Berater (@bernd)")
        await expect(choice).to_be_visible()
        await message.press("Enter")
        await message.press_sequentially("bitte Ersatz prüfen")
        await expect(message).to_have_value("@bernd bitte Ersatz prüfen")
        await anna.get_by_role("button", name="Send").click()
        await expect(anna.get_by_role("status")).to_contain_text("Note added.")
        await expect(bernd.locator("#notifications-link .unread")).to_have_text("1")
        await expect(bernd.locator("#toasts")).to_contain_text("Anna Agent mentioned you")

        # The macro fills the reply (htmx swaps the composer) and sets state and tag on send.
        await anna.get_by_label("Macro", exact=True).select_option(label="Ersatz zugesagt")
        await anna.get_by_role("button", name="Apply macro").click()
        reply = anna.get_by_role("textbox", name="Message")
        await expect(reply).to_have_value(
            f"Hallo Karl Kunde, zu #{first['ticket_number']} schicken wir Ersatz."
        )
        await anna.get_by_role("button", name="Send").click()
        await expect(anna.get_by_role("status")).to_contain_text("Sent.")
        await expect(anna.locator("#ticket-status")).to_contain_text("pending")
        await expect(anna.locator("#ticket-status")).to_contain_text("ersatz")
        # The changes join the timeline, and the fields form shows them, without a reload.
        await expect(anna.locator("#messages")).to_contain_text("Anna Agent set the tags to ersatz")
        await expect(anna.locator("#messages .field-state").last).to_contain_text("to pending")
        await expect(anna.locator("#ticket-fields select[name=state]")).to_have_value("pending")
        await shoot(anna, "console-ticket-en")

        # Merge the second ticket into the first from its page.
        await anna.goto(f"{desk.url}/tickets/{second['ticket_id']}")
        await anna.get_by_text("Merge and link").click()
        await anna.get_by_label("Merge this ticket into ticket number").fill(
            str(first["ticket_number"])
        )
        await anna.get_by_role("button", name="Merge", exact=True).click()
        await anna.get_by_role("button", name="Confirm merge").click()  # asked first
        await anna.wait_for_url(f"{desk.url}/tickets/{first['ticket_id']}")
        await expect(anna.locator("#messages")).to_contain_text("Nochmal wegen Paket")
        await expect(anna.get_by_role("status").first).to_contain_text(
            f"was merged into #{first['ticket_number']}"
        )

        # The 360 sidebar: link the customer's phone number to the record.
        panel = anna.locator("#customer")
        await panel.get_by_text("Link an identity").click()
        await panel.get_by_label("Kind").select_option("phone")
        await panel.get_by_label("Address or number").fill("030 1234567")
        await panel.get_by_role("button", name="Link", exact=True).click()
        await expect(anna.locator("#customer .identities")).to_contain_text("+49301234567")
        assert anna.errors == [] and bernd.errors == [] and sina.errors == []


async def test_two_agents_on_one_ticket_see_each_other(desk):
    made = deliver(desk, 10, "Drucker druckt nicht")
    async with open_browser() as browser:
        anna = await sign_in_page(browser, desk.url, "anna@example.com", "anna-password")
        bernd = await sign_in_page(browser, desk.url, "bernd@example.com", "bernd-password")
        url = f"{desk.url}/tickets/{made['ticket_id']}"
        await bernd.goto(url)
        await expect(bernd.locator("article[ws-connect]")).to_have_attribute(
            "data-live", "connected"
        )
        await anna.goto(url)
        await expect(anna.locator("article[ws-connect]")).to_have_attribute(
            "data-live", "connected"
        )
        await expect(bernd.locator("#collision")).to_contain_text("Anna Agent is viewing")
        await expect(anna.locator("#collision")).to_contain_text("Bernd Berater is viewing")
        # Bernd starts changing the priority but has not saved it yet.
        await bernd.locator("#ticket-fields select[name=priority]").select_option("high")
        await anna.get_by_role("textbox", name="Message").press_sequentially("Ich schau")
        await expect(bernd.locator("#collision")).to_contain_text("Anna Agent is typing")
        await anna.get_by_role("button", name="Send").click()
        await expect(bernd.locator("#collision")).to_contain_text(
            "Anna Agent replied since you opened this ticket."
        )
        await expect(bernd.locator("#messages > li.message").last).to_contain_text("Ich schau")
        # The reply changed the state: Bernd sees it, and his unsaved choice is kept.
        await expect(bernd.locator("#ticket-status")).to_contain_text("open")
        await expect(bernd.locator("#ticket-fields select[name=priority]")).to_have_value("high")
        await expect(anna.locator("#ticket-fields select[name=state]")).to_have_value("open")
        await anna.close()
        await expect(bernd.locator("#collision .viewers")).to_have_count(0)
        assert bernd.errors == []


async def test_board_changes_live_when_a_ticket_breaches(desk, database_url):
    policy = api(
        desk,
        "POST",
        "/api/v1/routing/sla-policies",
        json={"name": "Schnell", "targets": {"normal": {"first_response": 60}}},
    ).json()
    queue = api(desk, "POST", "/api/v1/queues", json={"name": "Support"}).json()
    api(
        desk,
        "POST",
        "/api/v1/routing/rules",
        json={
            "name": "Alles",
            "conditions": [{"field": "subject", "operator": "contains", "value": "Hilfe"}],
            "actions": {"queue_id": queue["id"], "sla_policy_id": policy["id"]},
        },
    )
    made = deliver(desk, 20, "Hilfe beim Login")
    async with open_browser() as browser:
        sina = await sign_in_page(browser, desk.url, "sina@example.com", "sina-password")
        await sina.get_by_role("link", name="Board").click()
        await expect(sina.locator("section[ws-connect]")).to_have_attribute(
            "data-live", "connected"
        )
        support = sina.locator("tr[data-queue]", has_text="Support")
        await expect(support.locator(".backlog")).to_have_text("1")
        await expect(support.locator(".breached")).to_have_text("0")
        assert await unnamed_controls(sina) == []
        await shoot(sina, "console-board-en")
        # An hour passes: the ticket's first response is overdue; the scheduler fires.
        engine = create_engine(database_url)
        past = Clock().now() - timedelta(minutes=1)
        async with engine.begin() as connection:
            await connection.execute(
                update(SlaClock)
                .where(SlaClock.ticket_id == made["ticket_id"])
                .values(due_at=past, warn_at=past - timedelta(minutes=5), next_fire_at=past)
            )
            await connection.execute(
                update(Ticket)
                .where(Ticket.id == made["ticket_id"])
                .values(sla_due_at=past, sla_warn_at=past - timedelta(minutes=5))
            )
        await engine.dispose()
        await expect(support.locator(".breached")).to_have_text("1", timeout=15000)
        await expect(sina.locator(".board-risk")).to_contain_text("Hilfe beim Login")
        await expect(sina.locator("[data-total=breached]")).to_have_text("1")
        # And the list of breached tickets is one click away.
        await support.locator(".breached a").click()
        await expect(sina.locator("#ticket-rows")).to_contain_text("Hilfe beim Login")
        assert sina.errors == []


async def test_keyboard_german_ui_phone_layout_and_screenshots(desk):
    made = [deliver(desk, 30 + n, f"Anfrage {n}") for n in range(3)]
    async with open_browser() as browser:
        anna = await sign_in_page(browser, desk.url, "anna@example.com", "anna-password")
        await expect(anna.locator("#ticket-rows tr")).to_have_count(3)
        assert await unnamed_controls(anna) == []
        await shoot(anna, "console-list-en")
        # j/k move, Enter opens, a assigns to me, ? lists the shortcuts.
        await anna.keyboard.press("j")
        await anna.keyboard.press("j")
        await expect(anna.locator("#ticket-rows tr.current")).to_have_id(
            f"ticket-{made[1]['ticket_id']}"
        )
        await anna.keyboard.press("k")
        await expect(anna.locator("#ticket-rows tr.current")).to_have_id(
            f"ticket-{made[2]['ticket_id']}"
        )
        await anna.keyboard.press("Shift+?")
        await expect(anna.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        await anna.keyboard.press("Escape")
        await anna.keyboard.press("Enter")
        await anna.wait_for_url(f"{desk.url}/tickets/{made[2]['ticket_id']}")
        await anna.keyboard.press("a")
        await expect(anna.locator("#ticket-status")).to_contain_text("Anna Agent")
        await anna.keyboard.press("n")
        await expect(anna.get_by_label("Internal note (only agents see it)")).to_be_checked()
        await expect(anna.get_by_role("textbox", name="Message")).to_be_focused()
        await anna.keyboard.press("Escape")
        await anna.locator("body").click(position={"x": 5, "y": 300})
        await anna.keyboard.press("/")
        await expect(anna.get_by_role("searchbox")).to_be_focused()

        # German: chosen in the agent's settings, everything follows.
        await anna.goto(desk.url + "/settings")
        await anna.get_by_label("Language").select_option("de")
        await anna.get_by_role("button", name="Save", exact=True).click()
        await expect(anna.get_by_role("status")).to_have_text("Gespeichert.")
        await anna.goto(desk.url + "/?view=open")
        await expect(anna.locator("html")).to_have_attribute("lang", "de")
        await expect(anna.get_by_role("heading", name="Alle offenen")).to_be_visible()
        await expect(anna.get_by_role("navigation", name="Ansichten")).to_contain_text(
            "Meine offenen Tickets"
        )
        await expect(anna.get_by_role("button", name="Abmelden")).to_be_visible()
        await shoot(anna, "console-list-de")
        await anna.goto(f"{desk.url}/tickets/{made[0]['ticket_id']}")
        await expect(anna.get_by_role("button", name="Senden")).to_be_visible()
        await expect(anna.get_by_label("Dem Kunden antworten")).to_be_checked()
        assert await unnamed_controls(anna) == []
        await shoot(anna, "console-ticket-de")
        # A plain reply works in German, and the live socket still speaks German.
        await anna.get_by_role("textbox", name="Nachricht").fill("Wir kümmern uns.")
        await anna.get_by_role("button", name="Senden").click()
        await expect(anna.get_by_role("status")).to_contain_text("Gesendet.")

        # On a phone: one column, nothing wider than the screen.
        phone = await browser.new_page(viewport={"width": 390, "height": 844})
        await phone.context.add_cookies(await anna.context.cookies())
        await phone.goto(desk.url + "/")
        too_wide = await phone.evaluate(
            """Array.from(document.querySelectorAll('body *'))
                .filter(e => e.getBoundingClientRect().right > 391 && e.offsetParent !== null)
                .map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)"""
        )
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, too_wide
        await shoot(phone, "console-list-phone-de")
        assert anna.errors == []

        sina = await sign_in_page(browser, desk.url, "sina@example.com", "sina-password")
        await sina.goto(desk.url + "/settings")
        await sina.get_by_label("Language").select_option("de")
        await sina.get_by_role("button", name="Save", exact=True).click()
        await sina.goto(desk.url + "/board")
        await expect(sina.get_by_role("heading", name="Übersicht")).to_be_visible()
        await expect(sina.locator(".board")).to_contain_text("SLA verletzt")
        assert await unnamed_controls(sina) == []
        await shoot(sina, "console-board-de")


async def test_live_counts_follow_new_tickets(desk):
    async with open_browser() as browser:
        anna = await sign_in_page(browser, desk.url, "anna@example.com", "anna-password")
        await expect(anna.locator("main [ws-connect]")).to_have_attribute("data-live", "connected")
        unassigned = anna.locator('[data-view="unassigned"] .count')
        await expect(unassigned).to_have_text("0")
        first = deliver(desk, 40, "Neu hereingekommen")
        await expect(unassigned).to_have_text("1")
        await expect(anna.locator("#ticket-rows")).to_contain_text("Neu hereingekommen")
        # What the agent selected survives the next live refresh of the rows.
        await anna.get_by_label(f"Select ticket #{first['ticket_number']}").check()
        deliver(desk, 41, "Noch einer")
        await expect(unassigned).to_have_text("2")
        await expect(anna.locator("#ticket-rows")).to_contain_text("Noch einer")
        await expect(anna.get_by_label(f"Select ticket #{first['ticket_number']}")).to_be_checked()
        await asyncio.sleep(0)


async def test_every_console_page_names_its_controls(desk):
    """Each page a person uses, signed in as an administrator (who sees them all), in both
    languages: no button, link, field or choice without an accessible name."""
    made = deliver(desk, 50, "Alles benannt?")
    pages = [
        "/",
        f"/tickets/{made['ticket_id']}",
        "/customers/1",
        "/search?q=benannt",
        "/notifications",
        "/settings",
        "/macros",
        "/board",
        "/kb",
        "/kb/new",
        "/admin/email",
        "/admin/routing",
        "/admin/routing/rules",
        "/admin/routing/queues",
        "/admin/routing/policies",
        "/admin/routing/calendars",
        "/admin/bots",
        "/reports/bots",
    ]
    async with open_browser() as browser:
        ada = await sign_in_page(browser, desk.url, "ada@example.com", "ada-password")
        for language in ("en", "de"):
            await ada.goto(desk.url + "/settings")
            await ada.locator("select[name=locale]").select_option(language)
            language_form = ada.locator("form[action='/settings']:has(select[name=locale])")
            await language_form.locator("button[type=submit]").click()
            for path in pages:
                await ada.goto(desk.url + path)
                await expect(ada.locator("html")).to_have_attribute("lang", language)
                assert await unnamed_controls(ada) == [], (language, path)
        # The check sees what it looks for: a button without a name is reported.
        await ada.evaluate("document.body.appendChild(document.createElement('button'))")
        assert len(await unnamed_controls(ada)) == 1
        assert ada.errors == []
