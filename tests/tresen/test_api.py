"""REST API v1 through HTTP: customers, tickets, inbound, errors, OpenAPI."""

from __future__ import annotations

import base64

from starlette.routing import Route

from tresen.accounts import create_token, create_user

INBOUND = {
    "channel": "email",
    "external_id": "<first@mail.example>",
    "from": {"kind": "email", "value": "jana@kunde.example", "name": "Jana Krüger"},
    "to": "support@desk.example",
    "subject": "Lieferung fehlt",
    "text": "Meine Bestellung 4711 ist nicht angekommen.",
    "received_at": "2026-11-20T09:30:00+01:00",
    "attachments": [
        {
            "filename": "beleg.txt",
            "content_type": "text/plain",
            "content_base64": base64.b64encode(b"Beleg 4711").decode(),
        }
    ],
}


async def test_inbound_twice_gives_same_answer_and_one_message(client, agent_headers):
    first = await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)
    second = await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert set(first.json()) == {"ticket_id", "message_id", "ticket_number"}
    ticket = (
        await client.get(f"/api/v1/tickets/{first.json()['ticket_id']}", headers=agent_headers)
    ).json()
    assert len(ticket["messages"]) == 1
    assert ticket["messages"][0]["attachments"][0]["filename"] == "beleg.txt"
    assert ticket["customer"]["name"] == "Jana Krüger"


async def test_inbound_reply_threads_by_number_and_in_reply_to(client, agent_headers):
    first = (await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)).json()
    by_number = {
        **INBOUND,
        "external_id": "<2@mail.example>",
        "subject": f"Re: [#{first['ticket_number']}] Lieferung fehlt",
    }
    by_header = {
        **INBOUND,
        "external_id": "<3@mail.example>",
        "subject": "Nachtrag",
        "in_reply_to": "<first@mail.example>",
    }
    for body in (by_number, by_header):
        answer = await client.post("/api/v1/inbound", json=body, headers=agent_headers)
        assert answer.json()["ticket_id"] == first["ticket_id"]
    ticket = (
        await client.get(f"/api/v1/tickets/{first['ticket_id']}", headers=agent_headers)
    ).json()
    assert len(ticket["messages"]) == 3


async def test_inbound_errors_name_the_field(client, agent_headers):
    cases = [
        ({**INBOUND, "from": {"kind": "email"}}, 422, "from.value"),
        ({**INBOUND, "received_at": "yesterday"}, 422, "received_at"),
        ({**INBOUND, "received_at": "2026-11-20T09:30:00"}, 422, "received_at"),
        (
            {**INBOUND, "attachments": [{"filename": "a", "content_base64": "%%%"}]},
            422,
            "attachments.0.content_base64",
        ),
        ({**INBOUND, "surprise": 1}, 422, "surprise"),
        ({**INBOUND, "from": {"kind": "email", "value": "not-an-address"}}, 422, "from"),
        ({k: v for k, v in INBOUND.items() if k != "external_id"}, 422, "external_id"),
    ]
    for body, status, field in cases:
        answer = await client.post("/api/v1/inbound", json=body, headers=agent_headers)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["field"] == field, answer.json()
        assert answer.json()["error"]
    broken = await client.post(
        "/api/v1/inbound",
        content=b"{not json",
        headers={**agent_headers, "content-type": "application/json"},
    )
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]
    listed = await client.get("/api/v1/tickets", headers=agent_headers)
    assert listed.json()["items"] == []


async def test_auth_errors(client, runtime, agent_headers):
    assert (await client.get("/api/v1/tickets")).status_code == 401
    wrong = await client.get("/api/v1/tickets", headers={"Authorization": "Bearer trs_nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "token is not valid"
    forbidden = await client.post("/api/v1/queues", json={"name": "VIP"}, headers=agent_headers)
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["error"]
    await create_user(
        runtime, email="boss@example.com", name="Boss", role="admin", password="boss-password"
    )
    admin = {"Authorization": f"Bearer {await create_token(runtime, 'boss@example.com')}"}
    created = await client.post("/api/v1/queues", json={"name": "VIP"}, headers=admin)
    assert created.status_code == 201
    again = await client.post("/api/v1/queues", json={"name": "VIP"}, headers=admin)
    assert again.status_code == 409


async def test_customers_create_get_patch_search_timeline(client, agent_headers):
    org = await client.post("/api/v1/organizations", json={"name": "Acme"}, headers=agent_headers)
    assert org.status_code == 403  # supervisors manage organizations
    created = await client.post(
        "/api/v1/customers",
        headers=agent_headers,
        json={
            "name": "Max Mustermann",
            "identities": [
                {"kind": "email", "value": "Max@Muster.example"},
                {"kind": "phone", "value": "0171 1234567"},
            ],
            "language": "de",
        },
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert [(i["kind"], i["value"]) for i in customer["identities"]] == [
        ("email", "max@muster.example"),
        ("phone", "+491711234567"),
    ]
    cid = customer["id"]

    patched = await client.patch(
        f"/api/v1/customers/{cid}",
        headers=agent_headers,
        json={"tier": "vip", "notes": "Ruft lieber an."},
    )
    assert patched.status_code == 200 and patched.json()["tier"] == "vip"
    bad_tier = await client.patch(
        f"/api/v1/customers/{cid}", headers=agent_headers, json={"tier": "gold"}
    )
    assert bad_tier.status_code == 422 and bad_tier.json()["field"] == "tier"
    assert (await client.get("/api/v1/customers/999999", headers=agent_headers)).status_code == 404

    for q in ("muster", "MAX@muster.example", "+49 171 1234567", "01711234567"):
        found = (
            await client.get("/api/v1/customers", params={"q": q}, headers=agent_headers)
        ).json()["items"]
        assert [c["id"] for c in found] == [cid], q
    none = await client.get("/api/v1/customers", params={"q": "nobody"}, headers=agent_headers)
    assert none.json()["items"] == []

    clash = await client.post(
        "/api/v1/customers",
        headers=agent_headers,
        json={"name": "Other", "identities": [{"kind": "email", "value": "max@muster.example"}]},
    )
    assert clash.status_code == 409 and clash.json()["field"] == "identities"

    ticket = await client.post(
        "/api/v1/tickets",
        headers=agent_headers,
        json={
            "customer_id": cid,
            "subject": "Rückruf",
            "text": "Bitte zurückrufen",
            "channel": "phone",
        },
    )
    assert ticket.status_code == 201, ticket.text
    await client.post(
        "/api/v1/inbound",
        headers=agent_headers,
        json={
            "channel": "sms",
            "external_id": "SM1",
            "from": {"kind": "phone", "value": "+491711234567"},
            "text": "Bin jetzt erreichbar",
        },
    )
    timeline = (
        await client.get(f"/api/v1/customers/{cid}/timeline", headers=agent_headers)
    ).json()["items"]
    assert {entry["channel"] for entry in timeline} == {"phone", "sms"}
    stamps = [entry["at"] for entry in timeline]
    assert stamps == sorted(stamps, reverse=True)
    assert timeline[0]["summary"] == "Bin jetzt erreichbar"


async def test_tickets_filters_pagination_patch_and_messages(client, agent, agent_headers):
    for n in range(7):
        await client.post(
            "/api/v1/inbound",
            headers=agent_headers,
            json={
                **INBOUND,
                "external_id": f"<p{n}@x>",
                "subject": f"Frage {n}",
                "from": {"kind": "email", "value": f"kunde{n % 2}@x.example"},
            },
        )
    page = (await client.get("/api/v1/tickets", params={"limit": 3}, headers=agent_headers)).json()
    seen = [t["subject"] for t in page["items"]]
    while page["next"]:
        page = (
            await client.get(
                "/api/v1/tickets",
                params={"limit": 3, "cursor": page["next"]},
                headers=agent_headers,
            )
        ).json()
        seen += [t["subject"] for t in page["items"]]
    assert seen == [f"Frage {n}" for n in reversed(range(7))]

    tid = (await client.get("/api/v1/tickets", headers=agent_headers)).json()["items"][0]["id"]
    patched = await client.patch(
        f"/api/v1/tickets/{tid}",
        headers=agent_headers,
        json={
            "state": "pending",
            "priority": "high",
            "assignee_id": agent.id,
            "tags": ["Lieferung", "vip"],
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["state"], body["priority"], body["assignee"]["id"], body["tags"]) == (
        "pending",
        "high",
        agent.id,
        ["lieferung", "vip"],
    )
    for params, expected in (
        ({"state": "pending"}, 1),
        ({"assignee": "me"}, 1),
        ({"tag": "vip"}, 1),
        ({"assignee": "none"}, 6),
        ({"state": "new,pending"}, 7),
        ({"channel": "sms"}, 0),
    ):
        items = (await client.get("/api/v1/tickets", params=params, headers=agent_headers)).json()[
            "items"
        ]
        assert len(items) == expected, params
    assert (
        await client.get("/api/v1/tickets", params={"state": "done"}, headers=agent_headers)
    ).status_code == 400
    assert (
        await client.get("/api/v1/tickets", params={"cursor": "garbage"}, headers=agent_headers)
    ).status_code == 422
    bad = await client.patch(
        f"/api/v1/tickets/{tid}", headers=agent_headers, json={"state": "done"}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "state"
    # Overlapping tag lists: "vip" stays, "lieferung" goes, "neu" comes.
    retagged = await client.patch(
        f"/api/v1/tickets/{tid}", headers=agent_headers, json={"tags": ["vip", "Neu"]}
    )
    assert retagged.status_code == 200 and retagged.json()["tags"] == ["neu", "vip"]
    cleared = await client.patch(
        f"/api/v1/tickets/{tid}", headers=agent_headers, json={"tags": None}
    )
    assert cleared.status_code == 200 and cleared.json()["tags"] == []
    bad = await client.patch(
        f"/api/v1/tickets/{tid}", headers=agent_headers, json={"assignee_id": 424242}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "assignee_id"

    note = await client.post(
        f"/api/v1/tickets/{tid}/messages",
        headers=agent_headers,
        json={"text": "Intern: Kunde ist VIP", "internal": True},
    )
    reply = await client.post(
        f"/api/v1/tickets/{tid}/messages",
        headers=agent_headers,
        json={"text": "Wir kümmern uns darum."},
    )
    assert note.status_code == reply.status_code == 201
    assert note.json()["internal"] and not reply.json()["internal"]
    empty = await client.post(
        f"/api/v1/tickets/{tid}/messages", headers=agent_headers, json={"text": "  "}
    )
    assert empty.status_code == 422 and empty.json()["field"] == "text"
    missing = await client.post(
        "/api/v1/tickets/999999/messages", headers=agent_headers, json={"text": "x"}
    )
    assert missing.status_code == 404

    history = (await client.get(f"/api/v1/tickets/{tid}/history", headers=agent_headers)).json()[
        "items"
    ]
    fields = [(h["field"], h["new"]) for h in history]
    assert ("state", "pending") in fields and ("priority", "high") in fields
    assert ("tags", "lieferung,vip") in fields and ("tags", "") in fields
    assert ("assignee_id", str(agent.id)) in fields
    assert all(h["actor_user_id"] == agent.id for h in history if h["field"] != "created")


async def test_outbound_reply_is_queued_in_the_outbox(client, runtime, agent_headers):
    from sqlalchemy import select

    from tickets.models import OutboxMessage

    first = (await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)).json()
    await client.post(
        f"/api/v1/tickets/{first['ticket_id']}/messages",
        headers=agent_headers,
        json={"text": "Ist unterwegs."},
    )
    await client.post(
        f"/api/v1/tickets/{first['ticket_id']}/messages",
        headers=agent_headers,
        json={"text": "nur intern", "internal": True},
    )
    async with runtime.read() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    assert [(row.channel, row.recipient, row.status) for row in rows] == [
        ("email", "jana@kunde.example", "queued")
    ]


async def test_openapi_lists_every_api_route(client, app):
    document = (await client.get("/api/v1/openapi.json")).json()
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith(("/api/", "/healthz")):
            path = route.path.replace(":int", "")
            for method in route.methods - {"HEAD"}:
                assert (path, method) in documented, (path, method)
    inbound = document["paths"]["/api/v1/inbound"]["post"]
    schema = document["components"]["schemas"]["InboundMessage"]
    assert inbound["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/InboundMessage"
    )
    assert {"channel", "external_id", "from"} <= set(schema["required"])


async def test_healthz(client):
    answer = await client.get("/healthz")
    assert answer.json() == {"status": "ok", "database": "ok"}


async def test_reply_on_a_web_ticket_goes_to_the_customers_email(client, runtime, agent_headers):
    from sqlalchemy import select

    from tickets.models import OutboxMessage

    customer = await client.post(
        "/api/v1/customers",
        headers=agent_headers,
        json={"name": "Web Kunde", "identities": [{"kind": "email", "value": "web@kunde.example"}]},
    )
    ticket = await client.post(
        "/api/v1/tickets",
        headers=agent_headers,
        json={"customer_id": customer.json()["id"], "subject": "Formular", "text": "Frage"},
    )
    assert ticket.json()["channel"] == "web"
    await client.post(
        f"/api/v1/tickets/{ticket.json()['id']}/messages",
        headers=agent_headers,
        json={"text": "Antwort"},
    )
    async with runtime.read() as session:
        row = await session.scalar(select(OutboxMessage))
    # A web form cannot send: the reply goes out by email, to the customer's address.
    assert (row.channel, row.recipient, row.status) == ("email", "web@kunde.example", "queued")
