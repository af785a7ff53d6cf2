"""The admin pages of triggers and time-based automations: create, edit, errors that keep
what was typed, switch off, delete, and the previews."""

from __future__ import annotations

from sqlalchemy import select

from routing.automation_models import Automation, Trigger
from tests.fixtures import csrf_of, sign_in
from tickets.actions import Actor, update_ticket
from tickets.inbox import receive
from tickets.queries import get_ticket
from tresen.accounts import create_user
from tresen.inbound import InboundMessage


async def admin(runtime, client) -> str:
    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="pw-admin-1"
    )
    await sign_in(client, "ada@example.com", "pw-admin-1")
    return csrf_of((await client.get("/admin/triggers")).text)


async def test_only_admins_reach_the_automation_pages(client, agent):
    await sign_in(client)
    for path in ("/admin/triggers", "/admin/automations", "/admin/triggers/new"):
        assert (await client.get(path)).status_code == 403


async def test_an_admin_makes_edits_switches_off_and_deletes_a_trigger(runtime, client):
    csrf = await admin(runtime, client)
    made = await client.post(
        "/admin/triggers",
        data={
            "csrf_token": csrf,
            "name": "Refunds",
            "active": "on",
            "on_reply": "on",
            "field_0": "text",
            "operator_0": "contains",
            "value_0": "refund, money back",
            "add_tags": "refund",
        },
    )
    assert made.status_code == 303
    async with runtime.read() as session:
        row = (await session.scalars(select(Trigger))).one()
    assert row.events == ["reply"] and row.actions == {"add_tags": ["refund"]}
    assert row.conditions == [
        {"field": "text", "operator": "contains", "value": ["refund", "money back"]}
    ]
    listed = await client.get("/admin/triggers")
    assert "Refunds" in listed.text and "+refund" in listed.text
    edit = await client.get(f"/admin/triggers/{row.id}")
    assert 'value="refund, money back"' in edit.text
    changed = await client.post(
        f"/admin/triggers/{row.id}",
        data={
            "csrf_token": csrf,
            "name": "Refunds and returns",
            "active": "on",
            "on_reply": "on",
            "on_inbound": "on",
            "field_0": "text",
            "operator_0": "contains",
            "value_0": "refund",
            "priority": "high",
        },
    )
    assert changed.status_code == 303
    async with runtime.read() as session:
        row = await session.get(Trigger, row.id)
    assert row.name == "Refunds and returns" and row.events == ["inbound", "reply"]
    assert row.actions == {"priority": "high"}
    off = await client.post(
        f"/admin/triggers/{row.id}/change", data={"csrf_token": csrf, "do": "off"}
    )
    assert off.status_code == 303
    async with runtime.read() as session:
        assert (await session.get(Trigger, row.id)).active is False
    await client.post(f"/admin/triggers/{row.id}/change", data={"csrf_token": csrf, "do": "delete"})
    async with runtime.read() as session:
        assert (await session.scalars(select(Trigger))).all() == []
    assert (await client.get(f"/admin/triggers/{row.id}")).status_code == 404
    assert (await client.post("/admin/triggers", data={"name": "x"})).status_code == 403


async def test_a_bad_form_is_named_and_keeps_what_was_typed(runtime, client):
    csrf = await admin(runtime, client)
    bad = await client.post(
        "/admin/triggers",
        data={
            "csrf_token": csrf,
            "name": "Broken pattern",
            "on_inbound": "on",
            "field_0": "subject",
            "operator_0": "matches",
            "value_0": "([a-z",
            "add_tags": "x",
        },
    )
    assert bad.status_code == 422
    assert "not a valid expression" in bad.text
    assert 'value="([a-z"' in bad.text and 'value="Broken pattern"' in bad.text
    no_events = await client.post(
        "/admin/triggers", data={"csrf_token": csrf, "name": "Nothing", "add_tags": "x"}
    )
    assert no_events.status_code == 422 and 'value="Nothing"' in no_events.text
    hours = await client.post(
        "/admin/automations",
        data={
            "csrf_token": csrf,
            "name": "Stale",
            "field_0": "hours_in_state",
            "operator_0": "at_least",
            "value_0": "many",
            "state": "closed",
        },
    )
    assert hours.status_code == 422 and "not a number" in hours.text
    async with runtime.read() as session:
        assert (await session.scalars(select(Trigger))).all() == []


async def test_previews_show_what_would_act(runtime, client, agent):
    csrf = await admin(runtime, client)
    await client.post(
        "/admin/triggers",
        data={
            "csrf_token": csrf,
            "name": "Refunds",
            "active": "on",
            "on_reply": "on",
            "field_0": "text",
            "operator_0": "contains",
            "value_0": "refund",
            "add_tags": "refund",
        },
    )
    inbound = InboundMessage.model_validate(
        {
            "channel": "email",
            "external_id": "p1",
            "from": {"kind": "email", "value": "kim@example.com"},
            "subject": "Printer",
            "text": "It broke.",
        }
    )
    received = await receive(runtime, inbound)
    hit = await client.post(
        "/admin/triggers/preview",
        data={
            "csrf_token": csrf,
            "number": str(received.ticket_number),
            "event": "reply",
            "text": "Your refund is on its way",
        },
    )
    assert hit.status_code == 200 and '<strong class="matched">Refunds</strong>' in hit.text
    miss = await client.post(
        "/admin/triggers/preview",
        data={"csrf_token": csrf, "number": str(received.ticket_number), "event": "inbound"},
    )
    assert "no trigger would act" in miss.text
    unknown = await client.post(
        "/admin/triggers/preview", data={"csrf_token": csrf, "number": "99999", "event": "reply"}
    )
    assert unknown.status_code == 422 and 'value="99999"' in unknown.text
    # An automation's page lists the tickets it holds for now.
    made = await client.post(
        "/admin/automations",
        data={
            "csrf_token": csrf,
            "name": "Pending now",
            "active": "on",
            "field_0": "state",
            "operator_0": "is",
            "value_0": "pending",
            "field_1": "hours_in_state",
            "operator_1": "at_least",
            "value_1": "0",
            "add_tags": "seen",
        },
    )
    assert made.status_code == 303
    async with runtime.transaction() as tx:
        ticket = await get_ticket(tx.session, received.ticket_id)
        await update_ticket(tx, ticket, {"state": "pending"}, Actor(user_id=agent.id))
    async with runtime.read() as session:
        automation = (
            await session.scalars(select(Automation).where(Automation.name == "Pending now"))
        ).one()
    page = await client.get(f"/admin/automations/{automation.id}")
    assert f"#{received.ticket_number}" in page.text
    # The two examples the desk starts with are there, switched off.
    listed = await client.get("/admin/automations")
    assert "Pending 7 days → remind the customer" in listed.text
    assert "3 days later → close" in listed.text
