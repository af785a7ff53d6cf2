"""Admin that edits: routing rules, queues, SLA policies and calendars changed after they
were made, each form shown again as typed (422 with the reason) when refused."""

from __future__ import annotations

from sqlalchemy import select

from routing import actions
from routing.models import BusinessCalendarRow, QueueMember, QueueRouting, RoutingRule, SlaPolicyRow
from tests.fixtures import csrf_of, sign_in
from tickets.models import Queue
from tickets.queues import create_queue
from tresen.accounts import create_user


async def admin(runtime, client, locale: str = "en"):
    user = await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="pw-admin-1"
    )
    if locale != "en":
        async with runtime.transaction() as tx:
            (await tx.session.get(type(user), user.id)).locale = locale
    await sign_in(client, "ada@example.com", "pw-admin-1")
    return user, csrf_of((await client.get("/admin/routing")).text)


async def test_the_hub_leads_to_each_part_and_is_admins_only(runtime, client, agent):
    await sign_in(client)
    for path in (
        "/admin/routing",
        "/admin/routing/rules",
        "/admin/routing/queues",
        "/admin/routing/policies",
        "/admin/routing/calendars",
    ):
        assert (await client.get(path)).status_code == 403, path
    client.cookies.clear()
    await admin(runtime, client)
    hub = await client.get("/admin/routing")
    assert hub.status_code == 200
    for path in (
        "/admin/routing/rules",
        "/admin/routing/queues",
        "/admin/routing/policies",
        "/admin/routing/calendars",
    ):
        assert f'href="{path}"' in hub.text
        assert (await client.get(path)).status_code == 200, path


async def test_a_rule_is_edited_conditions_and_actions(runtime, client):
    _, token = await admin(runtime, client)
    async with runtime.transaction() as tx:
        billing = await create_queue(tx, name="Billing")
        sales = await create_queue(tx, name="Sales")
        rule = await actions.create_rule(
            tx,
            name="Invoices",
            conditions=[{"field": "subject", "operator": "contains", "value": ["invoice"]}],
            actions={"queue_id": billing.id, "tags": ["billing"]},
        )
    page = await client.get(f"/admin/routing/rules/{rule.id}")
    assert page.status_code == 200
    assert 'value="invoice"' in page.text and f'<option value="{billing.id}" selected' in page.text
    saved = await client.post(
        f"/admin/routing/rules/{rule.id}",
        data={
            "csrf_token": token,
            "name": "Offers",
            "field_0": "subject",
            "operator_0": "contains",
            "value_0": "offer, Angebot",
            "field_1": "tier",
            "operator_1": "is",
            "value_1": "vip",
            "queue_id": str(sales.id),
            "priority": "high",
            "tags": "sales, lead",
            "active": "on",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/routing/rules/{rule.id}?saved=rule"
    async with runtime.read() as session:
        row = await session.get(RoutingRule, rule.id)
    assert row.name == "Offers" and row.active
    assert row.conditions == [
        {"field": "subject", "operator": "contains", "value": ["offer", "Angebot"]},
        {"field": "tier", "operator": "is", "value": "vip"},
    ]
    assert row.actions == {"queue_id": sales.id, "priority": "high", "tags": ["sales", "lead"]}


async def test_a_refused_rule_edit_keeps_what_was_typed(runtime, client):
    _, token = await admin(runtime, client)
    async with runtime.transaction() as tx:
        rule = await actions.create_rule(tx, name="Keep", conditions=[], actions={"tags": ["x"]})
    bad = await client.post(
        f"/admin/routing/rules/{rule.id}",
        data={
            "csrf_token": token,
            "name": "Typed name",
            "field_0": "subject",
            "operator_0": "matches",
            "value_0": "([a-z",
            "tags": "typed, tags",
            "priority": "urgent",
        },
    )
    assert bad.status_code == 422
    assert "not a valid expression" in bad.text
    assert 'value="Typed name"' in bad.text and 'value="([a-z"' in bad.text
    assert 'value="typed, tags"' in bad.text and '<option value="urgent" selected' in bad.text
    async with runtime.read() as session:
        row = await session.get(RoutingRule, rule.id)
    assert row.name == "Keep" and row.actions == {"tags": ["x"]}
    # A number that is not one is a form error too, not a 400 page.
    worse = await client.post(
        f"/admin/routing/rules/{rule.id}",
        data={"csrf_token": token, "name": "N", "queue_id": "abc"},
    )
    assert worse.status_code == 422 and "abc" in worse.text


async def test_a_rule_preview_shows_which_conditions_hold_without_saving(runtime, client):
    _, token = await admin(runtime, client)
    async with runtime.transaction() as tx:
        rule = await actions.create_rule(tx, name="Old", conditions=[], actions={"tags": ["x"]})
    fields = {
        "csrf_token": token,
        "name": "Refunds",
        "field_0": "subject",
        "operator_0": "contains",
        "value_0": "refund",
        "tags": "refund",
        "channel": "email",
        "tier": "standard",
    }
    hit = await client.post(
        f"/admin/routing/rules/{rule.id}/preview",
        data={**fields, "subject": "Refund please", "text": "I want my money back."},
    )
    assert hit.status_code == 200
    assert "The rule as edited matches this message." in hit.text
    assert 'value="refund"' in hit.text  # the form stays as typed
    miss = await client.post(
        f"/admin/routing/rules/{rule.id}/preview",
        data={**fields, "subject": "Hello", "text": "Just saying hi."},
    )
    assert "does not match this message" in miss.text
    async with runtime.read() as session:
        assert (await session.get(RoutingRule, rule.id)).name == "Old"


async def test_queues_are_created_and_edited_in_the_console(runtime, client):
    user, token = await admin(runtime, client)
    made = await client.post(
        "/admin/routing/queues",
        data={
            "csrf_token": token,
            "name": "Returns",
            "description": "Parcels",
            "mode": "round_robin",
        },
    )
    assert made.status_code == 303
    async with runtime.read() as session:
        queue = await session.scalar(select(Queue).where(Queue.name == "Returns"))
        routing = await session.get(QueueRouting, queue.id)
    assert queue.description == "Parcels" and routing.mode == "round_robin"
    assert made.headers["location"] == f"/admin/routing/queues/{queue.id}?saved=queue"
    twice = await client.post(
        "/admin/routing/queues", data={"csrf_token": token, "name": "Returns", "description": "x2"}
    )
    assert twice.status_code == 422 and "exists already" in twice.text
    assert 'value="x2"' in twice.text
    edited = await client.post(
        f"/admin/routing/queues/{queue.id}",
        data={
            "csrf_token": token,
            "name": "Returns and refunds",
            "description": "",
            "acknowledge": "on",
            "mode": "least_loaded",
            "agents": [str(user.id)],
            "required_skills": "lang:de",
        },
    )
    assert edited.status_code == 303
    async with runtime.read() as session:
        queue = await session.get(Queue, queue.id)
        routing = await session.get(QueueRouting, queue.id)
        members = list(await session.scalars(select(QueueMember)))
    assert (queue.name, queue.acknowledge) == ("Returns and refunds", True)
    from channels.email.accounts import create_account

    async with runtime.transaction() as tx:
        await create_account(
            tx, address="returns@example.com", smtp_url="smtp://127.0.0.1:2", queue_id=queue.id
        )
    page = await client.get(f"/admin/routing/queues/{queue.id}")
    assert "<code>returns@example.com</code>" in page.text
    assert routing.mode == "least_loaded" and routing.required_skills == ["lang:de"]
    assert [(m.user_id, m.role) for m in members] == [(user.id, "agent")]
    # The default SLA policy is chosen, and cleared again with "–".
    async with runtime.transaction() as tx:
        gold = await actions.create_sla_policy(
            tx, name="Gold", targets={"high": {"resolution": 60}}
        )
    for chosen, stored in ((str(gold.id), gold.id), ("", None)):
        answer = await client.post(
            f"/admin/routing/queues/{queue.id}",
            data={"csrf_token": token, "name": queue.name, "sla_policy_id": chosen},
        )
        assert answer.status_code == 303
        async with runtime.read() as session:
            assert (await session.get(QueueRouting, queue.id)).sla_policy_id == stored
    async with runtime.transaction() as tx:
        await create_queue(tx, name="Sales")
    clash = await client.post(
        f"/admin/routing/queues/{queue.id}",
        data={"csrf_token": token, "name": "Sales", "mode": "skills", "agents": [str(user.id)]},
    )
    assert clash.status_code == 422 and "exists already" in clash.text
    assert 'value="Sales"' in clash.text and '<option value="skills" selected' in clash.text
    assert f'name="agents" value="{user.id}" checked' in clash.text


async def test_an_sla_policy_is_edited_and_a_bad_number_keeps_the_form(runtime, client):
    _, token = await admin(runtime, client)
    async with runtime.transaction() as tx:
        policy = await actions.create_sla_policy(
            tx, name="Gold", targets={"high": {"first_response": 30, "resolution": 240}}
        )
    page = await client.get(f"/admin/routing/policies/{policy.id}")
    assert 'name="high_first_response" inputmode="numeric" size="6" value="30"' in page.text
    saved = await client.post(
        f"/admin/routing/policies/{policy.id}",
        data={
            "csrf_token": token,
            "name": "Gold plus",
            "high_first_response": "20",
            "high_resolution": "240",
            "urgent_first_response": "10",
            "warn_before_minutes": "5",
            "breach_actions": ["notify", "raise_priority"],
            "pausing": "1",
            "pause_states": ["pending"],
        },
    )
    assert saved.status_code == 303
    async with runtime.read() as session:
        row = await session.get(SlaPolicyRow, policy.id)
    assert row.name == "Gold plus" and row.warn_before_minutes == 5
    assert row.pause_states == ["pending"]
    assert row.targets == {
        "high": {"first_response": 20, "resolution": 240},
        "urgent": {"first_response": 10},
    }
    assert row.escalation == {
        "warning": [],
        "breach": [{"action": "notify"}, {"action": "raise_priority"}],
    }
    bad = await client.post(
        f"/admin/routing/policies/{policy.id}",
        data={"csrf_token": token, "name": "Typed", "high_first_response": "soon"},
    )
    assert bad.status_code == 422 and "soon" in bad.text and 'value="Typed"' in bad.text
    async with runtime.read() as session:
        assert (await session.get(SlaPolicyRow, policy.id)).name == "Gold plus"


async def test_a_calendar_is_edited_hours_holidays_and_closures(runtime, client):
    _, token = await admin(runtime, client)
    async with runtime.transaction() as tx:
        calendar = await actions.create_calendar(
            tx, name="Office", weekly={"0": [["09:00", "17:00"]]}
        )
    page = await client.get(f"/admin/routing/calendars/{calendar.id}")
    assert 'name="hours_0" value="09:00-17:00"' in page.text
    saved = await client.post(
        f"/admin/routing/calendars/{calendar.id}",
        data={
            "csrf_token": token,
            "name": "Office Munich",
            "timezone": "Europe/Berlin",
            "hours_0": "08:00-12:00, 13:00-16:00",
            "hours_4": "08:00-14:00",
            "country": "de",
            "subdivision": "by",
            "closures": "2026-12-24\n2026-12-31",
            "is_default": "on",
        },
    )
    assert saved.status_code == 303
    async with runtime.read() as session:
        row = await session.get(BusinessCalendarRow, calendar.id)
    assert row.name == "Office Munich" and row.is_default
    assert row.weekly == {"0": [["08:00", "12:00"], ["13:00", "16:00"]], "4": [["08:00", "14:00"]]}
    assert (row.country, row.subdivision) == ("DE", "BY")
    assert row.closures == ["2026-12-24", "2026-12-31"]
    bad = await client.post(
        f"/admin/routing/calendars/{calendar.id}",
        data={"csrf_token": token, "name": "Typed", "hours_1": "nine to five"},
    )
    assert bad.status_code == 422 and "nine to five" in bad.text
    assert 'name="hours_1" value="nine to five"' in bad.text
    async with runtime.read() as session:
        assert (await session.get(BusinessCalendarRow, calendar.id)).name == "Office Munich"


async def test_operators_and_fields_are_named_in_german(runtime, client):
    await admin(runtime, client, locale="de")
    page = await client.get("/admin/routing/rules")
    assert page.status_code == 200
    assert ">enthält</option>" in page.text and ">Betreff</option>" in page.text
    assert ">ist eine von</option>" in page.text and ">Kundenstufe</option>" in page.text
    queues = await client.get("/admin/routing/queues")
    assert ">von Hand</option>" in queues.text
