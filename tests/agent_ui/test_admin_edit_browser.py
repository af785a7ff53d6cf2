"""In Chromium: an administrator edits a routing rule (condition and action, previewed, then
routed) and an SLA policy's first-response time; a refused form keeps what was typed; the
routing admin's pages fit a 390 px wide screen."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page


def _setup(server) -> dict:
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    token = server.cli(
        "tokens", "create", "ada@example.com", "--scope", "integration"
    ).stdout.strip()
    api = {"Authorization": f"Bearer {token}"}
    ids = {}
    for name in ("Billing", "Sales"):
        made = httpx.post(server.url + "/api/v1/queues", headers=api, json={"name": name})
        made.raise_for_status()
        ids[name] = made.json()["id"]
    rule = httpx.post(
        server.url + "/api/v1/routing/rules",
        headers=api,
        json={
            "name": "Invoices",
            "conditions": [{"field": "subject", "operator": "contains", "value": ["invoice"]}],
            "actions": {"queue_id": ids["Billing"]},
        },
    )
    rule.raise_for_status()
    policy = httpx.post(
        server.url + "/api/v1/routing/sla-policies",
        headers=api,
        json={"name": "Gold", "targets": {"high": {"first_response": 30, "resolution": 240}}},
    )
    policy.raise_for_status()
    return {"api": api, "queues": ids, "policy_id": policy.json()["id"]}


async def test_an_admin_edits_a_rule_and_an_sla_policy(server):
    made = _setup(server)
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        await page.get_by_role("link", name="Routing").click()
        sections = page.get_by_role("navigation", name="Routing sections")
        await sections.get_by_role("link", name="Rules").click()
        await page.get_by_role("link", name="Edit Invoices").click()
        form = page.get_by_role("form", name="Edit rule")
        await expect(form.get_by_label("Condition 1 value")).to_have_value("invoice")

        # A refused change: the page says why and keeps every field as typed.
        await form.get_by_label("Name", exact=True).fill("Offers to sales")
        await form.get_by_label("Condition 1 operator").select_option("matches")
        await form.get_by_label("Condition 1 value").fill("([a-z")
        await form.locator("select[name=queue_id]").select_option(label="Sales")
        await form.get_by_role("button", name="Save rule").click()
        await expect(page.get_by_role("alert")).to_contain_text("not a valid expression")
        form = page.get_by_role("form", name="Edit rule")
        await expect(form.get_by_label("Name", exact=True)).to_have_value("Offers to sales")
        await expect(form.get_by_label("Condition 1 operator")).to_have_value("matches")
        await expect(form.get_by_label("Condition 1 value")).to_have_value("([a-z")
        await expect(form.locator("select[name=queue_id]")).to_have_value(
            str(made["queues"]["Sales"])
        )

        # Corrected, previewed on a sample message, then saved.
        await form.get_by_label("Condition 1 operator").select_option("contains")
        await form.get_by_label("Condition 1 value").fill("Angebot, offer")
        await form.get_by_label("Tags", exact=True).fill("lead")
        await form.get_by_label("Subject", exact=True).fill("Angebot für 20 Lizenzen")
        await form.get_by_role("button", name="Preview this rule").click()
        result = page.get_by_role("status", name="Preview result")
        await expect(result).to_contain_text("The rule as edited matches this message.")
        await expect(result).to_contain_text("queue Sales")
        form = page.get_by_role("form", name="Edit rule")
        await expect(form.get_by_label("Condition 1 value")).to_have_value("Angebot, offer")
        await form.get_by_role("button", name="Save rule").click()
        await expect(page.get_by_role("status")).to_contain_text("Saved.")
        await expect(page.get_by_role("heading", name="Rule Offers to sales")).to_be_visible()

        # The edited rule routes a new message.
        delivered = httpx.post(
            server.url + "/api/v1/inbound",
            headers=made["api"],
            json={
                "channel": "email",
                "external_id": "<offer-1@example.com>",
                "from": {"kind": "email", "value": "kim@example.com", "name": "Kim Meyer"},
                "subject": "Angebot für 20 Lizenzen",
                "text": "Guten Tag, bitte schicken Sie uns ein Angebot.",
            },
        )
        assert delivered.status_code == 202, delivered.text
        await page.goto(f"{server.url}/tickets/{delivered.json()['ticket_id']}")
        await expect(page.locator("#ticket-status")).to_contain_text("Queue: Sales")
        await expect(page.get_by_role("region", name="Routing")).to_contain_text(
            "Rules: Offers to sales"
        )

        # The SLA policy's first-response time, edited and saved; a bad number is kept.
        await page.get_by_role("link", name="Routing").click()
        await sections.get_by_role("link", name="SLA policies").click()
        await page.get_by_role("link", name="Edit Gold").click()
        policy = page.get_by_role("form", name="Edit SLA policy")
        first = policy.locator("input[name=high_first_response]")
        await expect(first).to_have_value("30")
        await first.fill("soon")
        await policy.get_by_role("button", name="Save policy").click()
        await expect(page.get_by_role("alert")).to_contain_text("'soon' is not a whole number")
        await expect(first).to_have_value("soon")
        await first.fill("45")
        await policy.get_by_role("button", name="Save policy").click()
        await expect(page.get_by_role("status")).to_contain_text("Saved.")
        await expect(first).to_have_value("45")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "admin-sla-policy.png", full_page=True)
        # The two refused forms answered 422, as they should; nothing else went wrong.
        assert [e for e in page.errors if "422" not in e] == []
    stored = httpx.get(server.url + "/api/v1/routing/sla-policies", headers=made["api"])
    gold = next(item for item in stored.json()["items"] if item["id"] == made["policy_id"])
    assert gold["targets"]["high"] == {"first_response": 45, "resolution": 240}


async def test_the_routing_admin_fits_a_narrow_screen(server):
    made = _setup(server)
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        await page.set_viewport_size({"width": 390, "height": 800})
        paths = [
            "/admin/routing",
            "/admin/routing/rules",
            "/admin/routing/rules/1",
            "/admin/routing/queues",
            f"/admin/routing/queues/{made['queues']['Billing']}",
            "/admin/routing/policies",
            f"/admin/routing/policies/{made['policy_id']}",
            "/admin/routing/calendars",
            "/macros",
            "/admin/email",
        ]
        wide = []
        for path in paths:
            answer = await page.goto(server.url + path)
            assert answer.status == 200, path
            width = await page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide.append(f"{path}: {width}px")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.goto(server.url + "/admin/routing/rules/1")
        await page.screenshot(path=ARTIFACTS / "admin-rule-390.png", full_page=True)
        assert wide == []
        assert page.errors == []


async def test_an_admin_tests_a_mail_accounts_smtp_connection(server, smtp_server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        await page.get_by_role("link", name="Email settings").click()
        form = page.get_by_role("form", name="Add a mail account")
        await form.get_by_label("Address").fill("support@example.com")
        await form.get_by_label("SMTP URL (sending)").fill(smtp_server.url())
        await form.get_by_role("button", name="Add account").click()
        await expect(page.get_by_role("status")).to_contain_text("Saved.")
        await page.get_by_role("button", name="Test SMTP of support@example.com").click()
        result = page.get_by_role("status", name="Connection test")
        await expect(result).to_contain_text("SMTP: the connection works")
        await expect(result).to_contain_text("login: 235")
        assert smtp_server.password not in await page.content()
        # The account's name is changed afterwards, in place.
        await page.get_by_text("Change", exact=True).click()
        change = page.get_by_role("form", name="Change support@example.com")
        await change.get_by_label("Name shown to customers").fill("Example Support")
        await change.get_by_role("button", name="Save changes").click()
        await expect(page.locator("table.accounts")).to_contain_text("Example Support")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "admin-email-test.png", full_page=True)
        assert page.errors == []
    assert smtp_server.received == []
