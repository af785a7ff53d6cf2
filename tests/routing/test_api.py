"""REST API v1 for routing: rules with their checks, the preview, policies, queues, presence."""

from __future__ import annotations

from tickets.inbox import receive
from tresen.inbound import InboundMessage


async def test_rules_are_made_changed_previewed_and_deleted(client, admin_headers, agent_headers):
    queue = await client.post("/api/v1/queues", json={"name": "Billing"}, headers=admin_headers)
    queue_id = queue.json()["id"]
    rule = {
        "name": "Invoices",
        "conditions": [
            {"field": "subject", "operator": "contains", "value": ["invoice", "rechnung"]}
        ],
        "actions": {"queue_id": queue_id, "priority": "high", "tags": ["billing"]},
    }
    refused = await client.post("/api/v1/routing/rules", json=rule, headers=agent_headers)
    assert refused.status_code == 403
    made = await client.post("/api/v1/routing/rules", json=rule, headers=admin_headers)
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]
    listed = await client.get("/api/v1/routing/rules", headers=agent_headers)
    assert [item["name"] for item in listed.json()["items"]] == ["Invoices"]

    preview = await client.post(
        "/api/v1/routing/preview",
        json={"subject": "Rechnung doppelt", "text": "Die Rechnung wurde zweimal abgebucht."},
        headers=agent_headers,
    )
    assert preview.status_code == 200
    assert preview.json()["matched_rules"] == ["Invoices"]
    assert preview.json()["language"] == "de"
    assert preview.json()["decision"]["queue_id"] == queue_id
    other = await client.post(
        "/api/v1/routing/preview",
        json={"subject": "Password", "text": "I cannot sign in any more."},
        headers=agent_headers,
    )
    assert other.json()["matched_rules"] == [] and other.json()["language"] == "en"

    changed = await client.patch(
        f"/api/v1/routing/rules/{rule_id}", json={"active": False}, headers=admin_headers
    )
    assert changed.status_code == 200 and changed.json()["active"] is False
    preview = await client.post(
        "/api/v1/routing/preview", json={"subject": "invoice"}, headers=agent_headers
    )
    assert preview.json()["matched_rules"] == []
    gone = await client.delete(f"/api/v1/routing/rules/{rule_id}", headers=admin_headers)
    assert gone.status_code == 204
    assert (
        await client.get(f"/api/v1/routing/rules/{rule_id}", headers=agent_headers)
    ).status_code == 404


async def test_bad_rules_are_refused_naming_the_problem(client, admin_headers):
    cases = [
        (
            {"name": "x", "conditions": [{"field": "colour", "operator": "is", "value": "red"}]},
            "colour",
        ),
        (
            {
                "name": "x",
                "conditions": [{"field": "subject", "operator": "matches", "value": "("}],
            },
            "not a valid expression",
        ),
        ({"name": "x", "actions": {"queue_id": 999}}, "queue 999 does not exist"),
        ({"name": "x", "actions": {"priority": "asap"}}, "priority 'asap'"),
        ({"name": "x", "actions": {"launch": True}}, "action 'launch'"),
        ({"name": "x", "actions": {"tags": "billing"}}, "tags must be a list"),
        ({"name": "x", "actions": {"queue_id": "two"}}, "queue id 'two' is not a whole number"),
        (
            {
                "name": "x",
                "conditions": [
                    {"field": "intent_confidence", "operator": "at_least", "value": "hi"}
                ],
            },
            "needs a number",
        ),
        (
            {"name": "x", "conditions": [{"field": "subject", "operator": "at_most", "value": 3}]},
            "compares numbers",
        ),
        ({"name": "x", "actions": {"stop": "yes"}}, "stop is true or false"),
    ]
    for body, reason in cases:
        answer = await client.post("/api/v1/routing/rules", json=body, headers=admin_headers)
        assert answer.status_code == 422, body
        assert reason in answer.json()["error"], (body, answer.json())
    assert (
        await client.post("/api/v1/routing/rules", json={"name": "x"}, headers=admin_headers)
    ).status_code == 201


async def test_policies_calendars_queues_and_presence(
    runtime, client, admin_headers, agent, agent_headers
):
    calendar = await client.post(
        "/api/v1/routing/calendars",
        json={
            "name": "Munich",
            "weekly": {str(day): [["09:00", "17:00"]] for day in range(5)},
            "subdivision": "BY",
            "is_default": True,
        },
        headers=admin_headers,
    )
    assert calendar.status_code == 201, calendar.text
    bad = await client.post(
        "/api/v1/routing/calendars",
        json={"name": "Mars", "timezone": "Mars/Olympus", "weekly": {}},
        headers=admin_headers,
    )
    assert bad.status_code == 422 and "Mars/Olympus" in bad.json()["error"]
    policy = await client.post(
        "/api/v1/routing/sla-policies",
        json={
            "name": "Gold",
            "calendar_id": calendar.json()["id"],
            "targets": {"normal": {"first_response": 60, "resolution": 480}},
            "escalation": {"breach": [{"action": "raise_priority"}]},
        },
        headers=admin_headers,
    )
    assert policy.status_code == 201, policy.text
    bad = await client.post(
        "/api/v1/routing/sla-policies",
        json={"name": "Bad", "targets": {"normal": {"first_answer": 60}}},
        headers=admin_headers,
    )
    assert bad.status_code == 422 and "first_answer" in bad.json()["error"]
    queue = await client.post("/api/v1/queues", json={"name": "Support"}, headers=admin_headers)
    queue_id = queue.json()["id"]
    routing = await client.put(
        f"/api/v1/routing/queues/{queue_id}",
        json={
            "mode": "round_robin",
            "sla_policy_id": policy.json()["id"],
            "members": [{"user_id": agent.id}],
        },
        headers=admin_headers,
    )
    assert routing.status_code == 200, routing.text
    rule = await client.post(
        "/api/v1/routing/rules",
        json={"name": "all to support", "actions": {"queue_id": queue_id}},
        headers=admin_headers,
    )
    assert rule.status_code == 201
    # Offline agents get nothing; once online, the next ticket is theirs.
    message = {
        "channel": "email",
        "from": {"kind": "email", "value": "kim@example.com"},
        "subject": "Drucker",
        "text": "Der Drucker druckt nicht mehr, bitte helfen.",
    }
    first = await receive(
        runtime, InboundMessage.model_validate({**message, "external_id": "<1@x>"})
    )
    presence = await client.put(
        "/api/v1/routing/presence", json={"presence": "online"}, headers=agent_headers
    )
    assert presence.status_code == 200
    bad = await client.put(
        "/api/v1/routing/presence", json={"presence": "asleep"}, headers=agent_headers
    )
    assert bad.status_code == 422
    second = await receive(
        runtime,
        InboundMessage.model_validate(
            {**message, "external_id": "<2@x>", "subject": "Scanner", "text": "Er scannt nicht."}
        ),
    )
    assert second.ticket_id != first.ticket_id
    one = await client.get(f"/api/v1/tickets/{first.ticket_id}", headers=agent_headers)
    two = await client.get(f"/api/v1/tickets/{second.ticket_id}", headers=agent_headers)
    assert one.json()["assignee"] is None
    assert two.json()["assignee"]["id"] == agent.id
    shown = await client.get(f"/api/v1/tickets/{second.ticket_id}/routing", headers=agent_headers)
    assert shown.status_code == 200
    body = shown.json()
    assert body["sla"]["policy"] == "Gold"
    assert {clock["target"] for clock in body["sla"]["clocks"]} == {"first_response", "resolution"}
    assert all(clock["due_at"] for clock in body["sla"]["clocks"])
    [decision] = body["decisions"]
    assert decision["matched_rules"] == ["all to support"]
    assert decision["queue"] == "Support" and decision["assignee"] == "Anna Agent"
    assert decision["assignment_reason"] == "round robin: next in turn"
