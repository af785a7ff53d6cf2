"""Routing in the console: rules and preview, queue modes, presence, and why a ticket is where."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.fixtures import csrf_of, sign_in
from tresen.accounts import create_user


async def test_only_admins_reach_routing_settings(client, agent):
    await sign_in(client)
    assert (await client.get("/admin/routing")).status_code == 403


async def test_a_bad_rule_from_the_form_is_named_and_kept(runtime, client):
    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="pw-admin-1"
    )
    await sign_in(client, "ada@example.com", "pw-admin-1")
    page = await client.get("/admin/routing")
    bad = await client.post(
        "/admin/routing/rules",
        data={
            "csrf_token": csrf_of(page.text),
            "name": "Broken",
            "field_0": "subject",
            "operator_0": "matches",
            "value_0": "([a-z",
        },
    )
    assert bad.status_code == 422
    assert "not a valid expression" in bad.text and 'value="([a-z"' in bad.text
    no_csrf = await client.post("/admin/routing/rules", data={"name": "x"})
    assert no_csrf.status_code == 403


async def test_routing_admin_and_the_tickets_reason_in_the_browser(server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    token = server.cli(
        "tokens", "create", "ada@example.com", "--scope", "integration"
    ).stdout.strip()
    api = {"Authorization": f"Bearer {token}"}
    httpx.post(
        server.url + "/api/v1/queues", headers=api, json={"name": "Billing"}
    ).raise_for_status()
    httpx.post(
        server.url + "/api/v1/routing/sla-policies",
        headers=api,
        json={"name": "Gold", "targets": {"high": {"first_response": 30, "resolution": 240}}},
    ).raise_for_status()
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        # Go online: only present agents get new work.
        async with page.expect_navigation():  # the form is sent, and the page comes back
            await page.get_by_label("Presence").select_option("online")
        await expect(page.get_by_label("Presence")).to_have_value("online")
        await page.get_by_role("link", name="Routing").click()
        await expect(page.get_by_role("heading", name="Routing", exact=True)).to_be_visible()
        sections = page.get_by_role("navigation", name="Routing sections")
        await sections.get_by_role("link", name="Rules").click()
        await expect(page.get_by_role("heading", name="Routing rules")).to_be_visible()

        form = page.get_by_role("form", name="Add a rule")
        await form.get_by_label("Name", exact=True).fill("Invoices to billing")
        await form.get_by_label("Condition 1 field").select_option("subject")
        await form.get_by_label("Condition 1 operator").select_option("contains")
        await form.get_by_label("Condition 1 value").fill("Rechnung, invoice")
        await form.locator("select[name=queue_id]").select_option(label="Billing")
        await form.locator("select[name=priority]").select_option("high")
        await form.get_by_label("Tags", exact=True).fill("billing")
        await form.locator("select[name=sla_policy_id]").select_option(label="Gold")
        await form.get_by_role("button", name="Add rule").click()
        await expect(page.locator("table.rules")).to_contain_text("Invoices to billing")
        await expect(page.locator("table.rules")).to_contain_text("queue Billing")

        preview = page.get_by_role("form", name="Preview")
        await preview.get_by_label("Subject").fill("Rechnung doppelt")
        await preview.get_by_label("Text").fill("Sie haben die Rechnung zweimal abgebucht.")
        await preview.get_by_role("button", name="Preview").click()
        result = page.get_by_role("status", name="Preview result")
        await expect(result.locator(".matched")).to_have_text("Invoices to billing")
        await expect(result).to_contain_text("Language: de")
        await preview.get_by_label("Subject").fill("Password reset")
        await preview.get_by_label("Text").fill("I cannot sign in.")
        await preview.get_by_role("button", name="Preview").click()
        await expect(result.locator(".matched")).to_have_text("none")

        await sections.get_by_role("link", name="Queues").click()
        await page.get_by_role("link", name="Edit Billing").click()
        queue = page.get_by_role("form", name="Routing of Billing")
        await queue.locator("select[name=mode]").select_option("round_robin")
        await queue.get_by_label("Ada Admin works here").check()
        await queue.get_by_role("button", name="Save Billing").click()
        await expect(page.get_by_role("status")).to_contain_text("Saved.")
        await expect(queue.locator("select[name=mode]")).to_have_value("round_robin")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "admin-routing.png", full_page=True)

        delivered = httpx.post(
            server.url + "/api/v1/inbound",
            headers=api,
            json={
                "channel": "email",
                "external_id": "<inv-1@example.com>",
                "from": {"kind": "email", "value": "kim@example.com", "name": "Kim Meyer"},
                "subject": "Rechnung doppelt abgebucht",
                "text": "Guten Tag, die Rechnung vom März wurde zweimal abgebucht.",
            },
        )
        assert delivered.status_code == 202, delivered.text
        ticket_id = delivered.json()["ticket_id"]
        await page.goto(f"{server.url}/tickets/{ticket_id}")
        status = page.locator("#ticket-status")
        await expect(status).to_contain_text("high")
        await expect(status).to_contain_text("Queue: Billing")
        await expect(status).to_contain_text("Assignee: Ada Admin")
        why = page.get_by_role("region", name="Routing")
        await expect(why).to_contain_text("Rules: Invoices to billing")
        await expect(why).to_contain_text("round robin: next in turn")
        await expect(why).to_contain_text("Language: de")
        sla = page.get_by_role("region", name="SLA")
        await expect(sla).to_contain_text("SLA: Gold")
        await expect(sla.locator("[data-target=first_response]")).to_contain_text("running")
        await expect(sla.locator("[data-target=first_response]")).to_contain_text("left")
        # Between updates the page counts down by itself.
        left = sla.locator("[data-target=first_response] .sla-left")
        await left.evaluate(
            "e => e.setAttribute('data-due', new Date(Date.now() - 125000).toISOString())"
        )
        await page.evaluate("slaTick()")
        await expect(left).to_have_text("overdue by 2 min")
        # Pending pauses the clocks, live on the page.
        await page.get_by_label("State").select_option("pending")
        await page.get_by_role("button", name="Save").first.click()
        await expect(sla.locator("[data-target=resolution]")).to_contain_text("paused")
        await page.screenshot(path=ARTIFACTS / "ticket-sla.png", full_page=True)
        assert page.errors == []


async def test_an_agent_sets_their_presence_with_a_form(runtime, client, agent):
    from routing.models import AgentProfile

    await sign_in(client)
    page = await client.get("/presence")
    assert 'value="offline" selected' in page.text
    token = csrf_of((await client.get("/")).text)
    done = await client.post(
        "/presence",
        data={"csrf_token": token, "presence": "online"},
        headers={"referer": "https://elsewhere.example/"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    async with runtime.read() as session:
        assert (await session.get(AgentProfile, agent.id)).presence == "online"
    bad = await client.post("/presence", data={"csrf_token": token, "presence": "asleep"})
    assert bad.status_code == 400 and "asleep" in bad.text
    forged = await client.post("/presence", data={"presence": "away"})
    assert forged.status_code == 403
