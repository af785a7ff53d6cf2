"""In Chromium: a merge asks for confirmation, then is undone from the banner; the merged
ticket is back with its messages. A bulk change is previewed, applied and undone."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page

PHONE_WIDTH = 390


def deliver(server, token: str, n: int, subject: str, text: str) -> dict:
    answer = httpx.post(
        server.url + "/api/v1/inbound",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "channel": "email",
            "external_id": f"<merge-undo-{n}@x>",
            "from": {"kind": "email", "value": "kunde@x.example", "name": "Karl Kunde"},
            "subject": subject,
            "text": text,
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


async def test_merge_with_confirmation_then_undo(server):
    server.add_user("agent@example.com", "agent-password", name="Anna Agent")
    token = server.cli(
        "tokens", "create", "agent@example.com", "--scope", "integration"
    ).stdout.strip()
    first = deliver(server, token, 1, "Lieferung fehlt", "Mein Paket ist nicht da.")
    second = deliver(server, token, 2, "Falsche Farbe", "Der Pullover ist grün statt blau.")
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "agent@example.com", "agent-password")
        await page.goto(f"{server.url}/tickets/{second['ticket_id']}")
        await page.get_by_text("Merge and link").click()
        await page.get_by_label("Merge this ticket into ticket number").fill(
            str(first["ticket_number"])
        )
        await page.get_by_role("button", name="Merge", exact=True).click()
        # Asked first: nothing has moved yet.
        question = f"Merge #{second['ticket_number']} into #{first['ticket_number']}?"
        await expect(page.get_by_role("heading", name=question)).to_be_visible()
        await page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the confirmation scrolls sideways by {overflow}px at 390 px"
        await page.screenshot(path=str(ARTIFACTS / "merge-confirm-390.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.get_by_role("link", name="Cancel").click()
        await page.wait_for_url(re.compile(rf"/tickets/{second['ticket_id']}$"))
        await expect(page.locator("#messages")).to_contain_text("grün statt blau")

        await page.get_by_text("Merge and link").click()
        await page.get_by_label("Merge this ticket into ticket number").fill(
            str(first["ticket_number"])
        )
        await page.get_by_role("button", name="Merge", exact=True).click()
        await page.get_by_role("button", name="Confirm merge").click()
        await page.wait_for_url(re.compile(rf"/tickets/{first['ticket_id']}$"))
        await expect(page.locator("#messages")).to_contain_text("grün statt blau")
        await page.screenshot(path=str(ARTIFACTS / "merge-undo-banner.png"), full_page=True)

        await page.get_by_role("button", name="Undo merge").click()
        await page.wait_for_url(re.compile(rf"/tickets/{second['ticket_id']}$"))
        await expect(page.locator("main")).to_contain_text("is back with its messages")
        await expect(page.locator("#messages")).to_contain_text("grün statt blau")
        await expect(page.locator("main")).not_to_contain_text("This ticket was merged into")
        await page.goto(f"{server.url}/tickets/{first['ticket_id']}")
        await expect(page.locator("#messages")).not_to_contain_text("grün statt blau")
        await expect(page.locator("#messages")).to_contain_text("Mein Paket ist nicht da")

        # A bulk change: previewed, applied, undone.
        await page.goto(server.url + "/")
        for ticket in (first, second):
            await page.get_by_label(f"Select ticket #{ticket['ticket_number']}").check()
        bulk = page.get_by_role("form", name="Change the selected tickets")
        await bulk.get_by_label("Priority").select_option("urgent")
        await bulk.get_by_role("button", name="Change selected").click()
        await expect(page.get_by_role("heading", name="Change 2 tickets?")).to_be_visible()
        await expect(page.locator(".bulk-summary")).to_contain_text("Priority normal → urgent")
        await page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the bulk preview scrolls sideways by {overflow}px at 390 px"
        await page.screenshot(path=str(ARTIFACTS / "bulk-preview-390.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.get_by_role("button", name="Confirm").click()
        await expect(page.locator("main")).to_contain_text("2 tickets changed")
        await page.get_by_role("button", name="Undo").click()
        await expect(page.locator("main")).to_contain_text("2 tickets put back")
    with httpx.Client(base_url=server.url) as client:
        for ticket in (first, second):
            got = client.get(
                f"/api/v1/tickets/{ticket['ticket_id']}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert got.json()["priority"] == "normal", got.text
