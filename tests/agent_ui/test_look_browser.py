"""The console's look in Chromium: every console page (the route matrix's GET pages) fits a
390 px screen, is readable in the dark theme, the header stays one row at 1280 px in German,
and a missing page is a styled page with a way back. Screenshots go to test-artifacts/
(docs/screenshots/ with TRESEN_DOCS_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.browser import open_browser, sign_in_page
from tests.tresen.test_route_matrix import PAGES
from tresen.models import ROLES

# docs/screenshots/ when asked for (TRESEN_DOCS_SCREENSHOTS=1: the docs' pictures made
# again); else test-artifacts/, so that a test run changes no file of the project.
SCREENSHOTS = Path(__file__).resolve().parents[2] / (
    "docs/screenshots" if os.environ.get("TRESEN_DOCS_SCREENSHOTS") else "test-artifacts"
)
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 800}
# GET routes of the console that are no page of their own (nothing to lay out).
NOT_PAGES = {
    "/messages/{message_id:int}/attachments/{attachment_id:int}": "a file",
    "/messages/{message_id:int}/source": "a mail's source, as text",
    "/customers/{customer_id:int}/export": "a download",
    "/tickets/{ticket_id:int}/composer": "a piece the ticket page swaps in",
    "/tickets/{ticket_id:int}/suggestions": "a piece the ticket page swaps in",
    "/tickets/new/customers": "a piece the new-ticket form swaps in",
    "/presence": "a piece every header swaps in",
}
# Pages served only while `tresen demo` runs (404 otherwise): tests/tresen/test_demo_browser.py.
ONLY_IN_THE_DEMO = "/demo/"
# A query some pages need to show what they are for.
QUERIES = {"/search": "?q=printer"}

# Text colour, background colour (the nearest painted one) and their contrast for every
# visible element with text of its own: what fails WCAG AA's 4.5:1 (3:1 for large text).
CONTRAST = """() => {
  const rgb = (c) => { const m = c.match(/[\\d.]+/g) || [0, 0, 0, 0];
    return {r: +m[0], g: +m[1], b: +m[2], a: m.length > 3 ? +m[3] : 1}; };
  const lum = ({r, g, b}) => { const f = (v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ratio = (x, y) => { const [a, b] = [lum(x), lum(y)].sort((p, q) => q - p);
    return (a + 0.05) / (b + 0.05); };
  const background = (e) => { for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor); if (c.a >= 0.5) return c; }
    return rgb(getComputedStyle(document.documentElement).backgroundColor); };
  const SKIP = '.visually-hidden, [hidden], .body.html, .article-body, option, noscript';
  const bad = [];
  for (const e of document.querySelectorAll('body *')) {
    if (!e.getClientRects().length || e.closest(SKIP)) continue;
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const style = getComputedStyle(e);
    if (style.visibility === 'hidden' || +style.opacity === 0 || e.matches(':disabled')) continue;
    const size = parseFloat(style.fontSize), bold = +style.fontWeight >= 700;
    const needed = size >= 24 || (bold && size >= 18.5) ? 3 : 4.5;
    const r = ratio(rgb(style.color), background(e));
    const what = `${e.tagName.toLowerCase()}.${e.className} "${e.textContent.trim().slice(0, 30)}"`;
    if (r < needed) bad.push(`${what} ${r.toFixed(2)}`);
  }
  return bad.slice(0, 6);
}"""
# Wider than the screen: the elements that reach past its right edge (outside a scroll box).
TOO_WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1 && e.getClientRects().length
    && !e.parentElement.closest('.scroll, .table-scroll, .body.html, .article-body'))
  .map(e => e.tagName.toLowerCase() + '.' + e.className).slice(0, 5)"""


def _seed(server) -> dict:
    """Demo-like data through the API: queues, a rule, a policy, a calendar, a ticket, its
    customer, an organization, an article; the ids the pages' paths need."""
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    server.add_user("anna@example.com", "agent-password", name="Anna Agent")
    token = server.cli(
        "tokens", "create", "ada@example.com", "--scope", "integration"
    ).stdout.strip()
    api = {"Authorization": f"Bearer {token}"}

    def post(path: str, body: dict) -> dict:
        answer = httpx.post(server.url + "/api/v1" + path, headers=api, json=body, timeout=30)
        assert answer.status_code in (200, 201, 202), (path, answer.text)
        return answer.json()

    ids = {"queue_id": post("/queues", {"name": "Rechnungen und Zahlungserinnerungen"})["id"]}
    ids["rule_id"] = post(
        "/routing/rules",
        {
            "name": "Rechnungen",
            "conditions": [{"field": "subject", "operator": "contains", "value": ["rechnung"]}],
            "actions": {"queue_id": ids["queue_id"]},
        },
    )["id"]
    ids["policy_id"] = post(
        "/routing/sla-policies",
        {"name": "Gold", "targets": {"normal": {"first_response": 30, "resolution": 240}}},
    )["id"]
    ids["calendar_id"] = post(
        "/routing/calendars",
        {"name": "München", "weekly": {str(day): [["09:00", "17:00"]] for day in range(5)}},
    )["id"]
    ids["organization_id"] = post("/organizations", {"name": "Bergmann & Söhne GmbH"})["id"]
    made = post(
        "/inbound",
        {
            "channel": "email",
            "external_id": "<drucker-1@kunde.example>",
            "from": {"kind": "email", "value": "karl.kunde@kunde.example", "name": "Karl Kunde"},
            "subject": "Rechnung 2026-0042: der Drucker druckt seit dem Update nur noch leere "
            "Seiten, Ausnahme_beim_Drucken_ohne_Leerzeichen_0123456789",
            "text": "Guten Tag,\n\nseit gestern druckt unser Drucker nichts mehr. "
            "https://kunde.example/ein/sehr/langer/pfad/der/nicht/umbricht/0123456789abcdef\n",
        },
    )
    ids["ticket_id"] = made["ticket_id"]
    ticket = httpx.get(
        f"{server.url}/api/v1/tickets/{ids['ticket_id']}", headers=api, timeout=30
    ).json()
    ids["customer_id"] = ticket["customer"]["id"]
    ids["article_id"] = post(
        "/kb/articles",
        {
            "title": "Drucker zurücksetzen",
            "body": "Schalten Sie den Drucker aus und wieder ein.",
            "language": "de",
            "visibility": "public",
        },
    )["id"]
    post("/chat/channels", {"name": "Webshop", "allowed_origins": ["https://shop.example"]})
    account = post(
        "/channels/email",
        {
            "address": "support@firma.example",
            "imap_url": "imaps://support:geheim@imap.firma.example/INBOX",
            "smtp_url": "smtp+starttls://support:geheim@smtp.firma.example",
        },
    )
    httpx.patch(
        f"{server.url}/api/v1/channels/email/{account['id']}",
        headers=api,
        json={"active": False},
        timeout=30,
    ).raise_for_status()
    users = httpx.get(server.url + "/api/v1/users", headers=api, timeout=30).json()
    users = users["items"] if isinstance(users, dict) else users
    ids["user_id"] = next(u["id"] for u in users if u["email"] == "anna@example.com")
    return ids


async def _form(page, base: str, list_path: str, post_path: str, fields: dict) -> int:
    """Post a console form as the signed-in page would (its CSRF token); the new row's id."""
    html = await (await page.request.get(base + list_path)).text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    answer = await page.request.post(base + post_path, form={"csrf_token": csrf, **fields})
    assert answer.ok, await answer.text()
    html = await (await page.request.get(base + list_path)).text()
    made = re.findall(re.escape(list_path) + r"/(\d+)", html)
    return int(made[-1]) if made else 0


def _console_pages(ids: dict) -> dict[str, str]:
    """Every GET page of the console from the route matrix, its path filled in."""
    pages, missing = {}, []
    for (method, route), role in PAGES.items():
        if method != "GET" or role not in ROLES or route in NOT_PAGES:
            continue
        if route.startswith(ONLY_IN_THE_DEMO):
            continue

        def value(match: re.Match, route=route) -> str:
            name = match.group(1)
            if name == "row_id":
                name = "automation_id" if route.startswith("/admin/automations") else "trigger_id"
            if name not in ids:
                missing.append(route)
                return "0"
            return str(ids[name])

        pages[route] = re.sub(r"\{(\w+)(?::\w+)?\}", value, route) + QUERIES.get(route, "")
    assert not missing, f"no id for these pages' paths: say which in _seed: {missing}"
    return pages


async def _visit(page, url: str, route: str) -> None:
    answer = await page.goto(url)
    assert answer is not None and answer.status < 400, (route, answer and answer.status)
    await page.wait_for_load_state("networkidle")


async def _one_row(page) -> tuple[float, float]:
    """The header's height and the spread of its items' tops (0: they share one row)."""
    return await page.evaluate(
        """() => { const h = document.querySelector('header.topbar');
          const tops = [...h.children].filter(e => e.getClientRects().length)
            .map(e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; });
          return [h.getBoundingClientRect().height, Math.max(...tops) - Math.min(...tops)]; }"""
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_console_page_fits_a_phone_and_reads_in_both_themes(server):
    ids = _seed(server)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with open_browser() as browser:
        admin = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        trigger = {"name": "Erstattungen", "active": "on", "on_reply": "on", "field_0": "text"}
        trigger |= {"operator_0": "contains", "value_0": "erstattung", "add_tags": "erstattung"}
        ids["trigger_id"] = await _form(
            admin, server.url, "/admin/triggers", "/admin/triggers", trigger
        )
        automation = {"name": "Liegengeblieben", "active": "on", "field_0": "hours_in_state"}
        automation |= {"operator_0": "at_least", "value_0": "48", "state": "closed"}
        ids["automation_id"] = await _form(
            admin, server.url, "/admin/automations", "/admin/automations", automation
        )
        macro = {"name": "Danke, wir warten", "body": "Danke, {{customer.first_name}}"}
        await _form(admin, server.url, "/macros", "/macros", macro | {"state": "pending"})
        pages = _console_pages(ids)
        assert len(pages) > 30, pages
        cookies = await admin.context.cookies()
        shots = {"/": "tickets", "/tickets/{ticket_id:int}": "ticket", "/board": "board"}
        shots |= {"/admin/routing/rules/{rule_id:int}": "rule", "/admin/settings": "settings"}

        # 390 × 844: nothing wider than the screen, on any page; readable in the light theme.
        phone = await browser.new_context(viewport=PHONE, is_mobile=True, color_scheme="light")
        await phone.add_cookies(cookies)
        page = await phone.new_page()
        too_wide, unreadable = {}, {}
        for route, path in pages.items():
            await _visit(page, server.url + path, route)
            scroll, inner = await page.evaluate(
                "[document.documentElement.scrollWidth, innerWidth]"
            )
            if scroll > inner:
                too_wide[route] = (scroll, await page.evaluate(TOO_WIDE))
            if bad := await page.evaluate(CONTRAST):
                unreadable[route] = bad
            if route in ("/", "/tickets/{ticket_id:int}"):
                await page.screenshot(path=SCREENSHOTS / f"{shots[route]}-390-light.png")
        assert not too_wide, f"wider than 390 px: {too_wide}"
        assert not unreadable, f"low contrast (light theme): {unreadable}"
        # The menu opens behind its button on a phone and lists the pages.
        await page.goto(server.url + "/")
        nav = page.get_by_role("navigation", name="Main")
        await expect(nav).to_be_hidden()
        await page.get_by_role("button", name="Menu").click()
        await expect(nav.get_by_role("link", name="Desk settings")).to_be_visible()
        await page.screenshot(path=SCREENSHOTS / "menu-390-light.png")
        await phone.close()

        # The dark theme: a dark background, light text, enough contrast, on every page.
        dark = await browser.new_context(viewport=DESK, color_scheme="dark")
        await dark.add_cookies(cookies)
        page = await dark.new_page()
        not_dark, unreadable, too_wide = {}, {}, {}
        for route, path in pages.items():
            await _visit(page, server.url + path, route)
            background, text = await page.evaluate(
                """() => { const l = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).map(Number);
                  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
                  const main = document.querySelector('main');
                  return [l(getComputedStyle(document.body).backgroundColor),
                          l(getComputedStyle(main).color)]; }"""
            )
            if background > 0.2 or text < 0.7:
                not_dark[route] = (round(background, 2), round(text, 2))
            # At a desk's width, too, nothing runs past the right edge.
            if await page.evaluate("document.documentElement.scrollWidth > innerWidth"):
                too_wide[route] = await page.evaluate(TOO_WIDE)
            if bad := await page.evaluate(CONTRAST):
                unreadable[route] = bad
            if route in shots:
                await page.screenshot(path=SCREENSHOTS / f"{shots[route]}-dark.png")
        assert not not_dark, f"not dark (background, text luminance): {not_dark}"
        assert not too_wide, f"wider than 1280 px: {too_wide}"
        assert not unreadable, f"low contrast (dark theme): {unreadable}"
        page = await dark.new_page()
        await page.set_viewport_size(PHONE)
        await page.goto(server.url + f"/tickets/{ids['ticket_id']}")
        await page.screenshot(path=SCREENSHOTS / "ticket-390-dark.png")
        await dark.close()

        # 1280 px in German: the header is one row (the menu sits beside the page).
        await admin.set_viewport_size(DESK)
        await admin.goto(server.url + "/settings")
        await admin.get_by_label("Language").select_option("de")
        await admin.get_by_role("button", name="Save", exact=True).click()
        for route in ("/", "/tickets/{ticket_id:int}", "/admin/settings"):
            await admin.goto(server.url + pages[route])
            await expect(admin.get_by_role("link", name="Desk-Einstellungen")).to_be_visible()
            height, spread = await _one_row(admin)
            assert spread < 4 and height < 64, (route, height, spread)
            if route in shots:
                await admin.screenshot(path=SCREENSHOTS / f"{shots[route]}-light-de.png")
        assert admin.errors == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_error_pages_are_styled_with_a_way_back(server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    server.add_user("anna@example.com", "agent-password", name="Anna Agent")
    async with open_browser() as browser:
        # Signed in: the console's frame, its menu, a link back to the tickets.
        agent = await sign_in_page(browser, server.url, "anna@example.com", "agent-password")
        answer = await agent.goto(server.url + "/no/such/page")
        assert answer.status == 404
        await expect(agent.get_by_role("heading", name="Page not found")).to_be_visible()
        await expect(agent.get_by_role("navigation", name="Main")).to_be_visible()
        await agent.get_by_role("link", name="Back to the tickets").click()
        await agent.wait_for_url(server.url + "/")
        answer = await agent.goto(server.url + "/tickets/987654")
        assert answer.status == 404
        await expect(agent.locator(".error-detail")).to_contain_text("ticket not found")
        # An agent on an administrator's page: 403, said plainly, the way back.
        answer = await agent.goto(server.url + "/admin/settings")
        assert answer.status == 403
        await expect(
            agent.get_by_role("heading", name="You may not open this page")
        ).to_be_visible()
        await expect(agent.get_by_role("link", name="Back to the tickets")).to_be_visible()
        await agent.screenshot(path=SCREENSHOTS / "error-403-light.png")
        # The console reports each page's own 404/403; nothing else went wrong.
        assert [e for e in agent.errors if "Failed to load resource" not in e] == []

        # Nobody signed in, dark theme, German: a plain page, no menu, links out.
        context = await browser.new_context(color_scheme="dark", locale="de-DE", viewport=PHONE)
        page = await context.new_page()
        answer = await page.goto(server.url + "/gibt/es/nicht")
        assert answer.status == 404
        await expect(page.get_by_role("heading", name="Seite nicht gefunden")).to_be_visible()
        await expect(page.locator("nav")).to_have_count(0)
        await expect(page.get_by_role("link", name="Zur Startseite")).to_have_attribute("href", "/")
        await expect(page.get_by_role("link", name="Zum Hilfe-Center")).to_be_visible()
        await page.screenshot(path=SCREENSHOTS / "error-404-dark.png")
        # The sign-in page, the console's one page for nobody yet: fits, dark, readable.
        await page.goto(server.url + "/login")
        assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        assert await page.evaluate(CONTRAST) == []
        await page.screenshot(path=SCREENSHOTS / "login-390-dark.png")
        await context.close()

    # Scripts, htmx and the API keep their short answers.
    plain = httpx.get(server.url + "/no/such/page")
    assert plain.status_code == 404 and plain.headers["content-type"].startswith("text/plain")
    piece = httpx.get(
        server.url + "/no/such/page", headers={"Accept": "text/html", "HX-Request": "true"}
    )
    assert piece.headers["content-type"].startswith("text/plain")
    api = httpx.get(server.url + "/api/v1/nothing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and "error" in api.json()
