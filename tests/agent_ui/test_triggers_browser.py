"""In Chromium: an admin makes a trigger that tags on a keyword in a reply; an agent replies
with it; the tag shows on the ticket, and the run is on its timeline."""

from __future__ import annotations

import asyncio

import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page


async def test_a_trigger_tags_a_ticket_on_a_keyword_in_a_reply(server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    server.add_user("agent@example.com", "agent-password", name="Anna Agent")
    token = server.cli(
        "tokens", "create", "agent@example.com", "--scope", "integration"
    ).stdout.strip()
    api = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        server.url + "/api/v1/inbound",
        headers=api,
        json={
            "channel": "email",
            "external_id": "<money@x>",
            "from": {"kind": "email", "value": "kunde@x.example", "name": "Karl Kunde"},
            "subject": "Money back",
            "text": "I want my money back.",
        },
    )
    assert created.status_code == 202, created.text
    ticket_id = created.json()["ticket_id"]
    async with open_browser() as browser:
        admin = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        await admin.get_by_role("link", name="Automations").click()
        await admin.get_by_role("link", name="New trigger").click()
        await admin.get_by_label("Name").fill("Refund replies")
        await admin.get_by_label("an agent replies").check()
        await admin.get_by_label("Condition 1 field").select_option(label="Message text")
        await admin.get_by_label("Condition 1 operator").select_option(label="contains")
        await admin.get_by_label("Condition 1 value").fill("refund")
        await admin.get_by_label("Add tags").fill("refund")
        await admin.get_by_role("button", name="Save").click()
        await expect(admin.get_by_role("status")).to_contain_text("Saved.")
        await expect(admin.get_by_role("link", name="Edit Refund replies")).to_be_visible()
        # The pages fit a phone: nothing of them wider than 390 px.
        await admin.set_viewport_size({"width": 390, "height": 844})
        ARTIFACTS.mkdir(exist_ok=True)
        for path in ("/admin/triggers", "/admin/triggers/new", "/admin/automations"):
            await admin.goto(server.url + path)
            width = await admin.evaluate(
                "Math.max(...[...document.querySelectorAll('main section *')]"
                ".filter(e => !e.parentElement.closest('.scroll'))"  # a table scrolls in its box
                ".map(e => e.getBoundingClientRect().right))"
            )
            name = path.strip("/").replace("/", "-")
            await admin.screenshot(path=ARTIFACTS / f"{name}-390.png", full_page=True)
            assert width <= 390, (path, width)
        assert admin.errors == []

        page = await sign_in_page(browser, server.url, "agent@example.com", "agent-password")
        await page.goto(f"{server.url}/tickets/{ticket_id}")
        await expect(page.locator("main [ws-connect]")).to_have_attribute("data-live", "connected")
        await page.get_by_role("textbox", name="Message").fill("Your refund is on its way.")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_role("status")).to_contain_text("Sent.")
        for _ in range(100):  # the trigger runs after the reply's commit, in the worker
            ticket = httpx.get(f"{server.url}/api/v1/tickets/{ticket_id}", headers=api).json()
            if "refund" in ticket["tags"]:
                break
            await asyncio.sleep(0.1)
        await page.reload()
        await expect(page.get_by_label("Tags", exact=True)).to_have_value("refund")
        await expect(page.get_by_text("Trigger «Refund replies»: +refund")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "trigger.png", full_page=True)
        assert page.errors == []
