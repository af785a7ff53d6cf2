"""Mail accounts through the REST API: administrators only, passwords never returned."""

from __future__ import annotations

IMAP = "imaps://support:geheim-123@imap.example.com/INBOX"
SMTP = "smtp+starttls://support:geheim-123@smtp.example.com"


async def test_admin_adds_lists_and_changes_a_mail_account(client, admin_headers):
    created = await client.post(
        "/api/v1/channels/email",
        headers=admin_headers,
        json={"address": "Support@Example.com", "imap_url": IMAP, "smtp_url": SMTP},
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["address"] == "support@example.com"
    assert account["imap_url"] == "imaps://support:***@imap.example.com/INBOX"
    assert "geheim" not in created.text

    listed = await client.get("/api/v1/channels/email", headers=admin_headers)
    assert [item["address"] for item in listed.json()["items"]] == ["support@example.com"]
    assert "geheim" not in listed.text

    changed = await client.patch(
        f"/api/v1/channels/email/{account['id']}",
        headers=admin_headers,
        json={"active": False, "processed_folder": "Tresen"},
    )
    assert changed.status_code == 200
    assert changed.json()["active"] is False and changed.json()["processed_folder"] == "Tresen"


async def test_bad_values_are_named(client, admin_headers):
    bad_url = await client.post(
        "/api/v1/channels/email",
        headers=admin_headers,
        json={"address": "s@example.com", "imap_url": "pop3://h/"},
    )
    assert bad_url.status_code == 422 and bad_url.json()["field"] == "imap_url"
    assert "pop3" in bad_url.json()["error"]
    bad_address = await client.post(
        "/api/v1/channels/email",
        headers=admin_headers,
        json={"address": "kein-at", "smtp_url": SMTP},
    )
    assert bad_address.status_code == 422 and bad_address.json()["field"] == "address"
    bad_queue = await client.post(
        "/api/v1/channels/email",
        headers=admin_headers,
        json={"address": "s@example.com", "smtp_url": SMTP, "queue_id": 999},
    )
    assert bad_queue.status_code == 422 and bad_queue.json()["field"] == "queue_id"
    await client.post(
        "/api/v1/channels/email",
        headers=admin_headers,
        json={"address": "d@example.com", "smtp_url": SMTP},
    )
    duplicate = await client.post(
        "/api/v1/channels/email",
        headers=admin_headers,
        json={"address": "D@example.com", "smtp_url": SMTP},
    )
    assert duplicate.status_code == 409
    missing = await client.patch("/api/v1/channels/email/999", headers=admin_headers, json={})
    assert missing.status_code == 404


async def test_agents_may_not_see_or_change_mail_accounts(client, agent_headers):
    assert (await client.get("/api/v1/channels/email", headers=agent_headers)).status_code == 403
    answer = await client.post(
        "/api/v1/channels/email",
        headers=agent_headers,
        json={"address": "x@example.com", "smtp_url": SMTP},
    )
    assert answer.status_code == 403


async def test_openapi_lists_the_mail_account_routes(client):
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/channels/email"])
    assert {"get", "patch"} <= set(paths["/api/v1/channels/email/{account_id}"])


async def test_admin_turns_on_acknowledgements_for_a_queue(client, admin_headers):
    queue = (
        await client.post("/api/v1/queues", headers=admin_headers, json={"name": "Support"})
    ).json()
    assert queue["acknowledge"] is False
    changed = await client.patch(
        f"/api/v1/queues/{queue['id']}", headers=admin_headers, json={"acknowledge": True}
    )
    assert changed.status_code == 200 and changed.json()["acknowledge"] is True
    clash = await client.post("/api/v1/queues", headers=admin_headers, json={"name": "Billing"})
    renamed = await client.patch(
        f"/api/v1/queues/{clash.json()['id']}", headers=admin_headers, json={"name": "Support"}
    )
    assert renamed.status_code == 409 and renamed.json()["field"] == "name"

    arrived = await client.post(
        "/api/v1/inbound",
        headers=admin_headers,
        json={
            "channel": "email",
            "external_id": "<ack-api@x>",
            "from": {"kind": "email", "value": "kunde@example.com"},
            "to": "support@example.com",
            "subject": "Hilfe",
            "text": "Bitte melden.",
            "queue_id": queue["id"],
        },
    )
    assert arrived.status_code == 202
    ticket = (
        await client.get(f"/api/v1/tickets/{arrived.json()['ticket_id']}", headers=admin_headers)
    ).json()
    assert [m["direction"] for m in ticket["messages"]] == ["inbound", "outbound"]
    assert "Ihre Anfrage ist eingegangen" in ticket["messages"][1]["subject"]
