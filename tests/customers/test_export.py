"""The data export (GDPR Art. 15, 20): everything of the customer's record, from both
channels, and nothing of anyone else."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import select

from channels.chat.models import ChatChannel, ChatSession
from customers import erasure
from customers.models import DataAudit
from tests.customers.data_rights import KIM_EMAIL, KIM_FILE, KIM_NAME, KIM_SECRET, make_people


async def test_export_holds_all_of_the_record_and_nothing_of_anyone_else(
    client, runtime, admin_headers
):
    people = await make_people(client, runtime, admin_headers)
    consent = await client.put(
        f"/api/v1/customers/{people.kim}/consent",
        headers=admin_headers,
        json={"marketing": True, "sms": False},
    )
    assert consent.status_code == 200, consent.text
    answer = await client.get(f"/api/v1/customers/{people.kim}/export", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert "attachment" in answer.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    data = json.loads(archive.read("data.json"))
    assert data["customer"]["name"] == KIM_NAME
    assert {(i["kind"], i["value"]) for i in data["identities"]} >= {
        ("email", KIM_EMAIL),
        ("phone", "+49301234567"),
    }
    assert data["consent"] == {"service_mail": True, "sms": False, "marketing": True}
    assert {(c["purpose"], c["granted"], c["source"]) for c in data["consent_history"]} == {
        ("marketing", True, "api"),
        ("sms", False, "api"),
    }
    # Both channels' tickets, with the customer's messages and the agent's reply ...
    assert sorted(t["channel"] for t in data["tickets"]) == ["chat", "email"]
    texts = [m["text"] for t in data["tickets"] for m in t["messages"]]
    assert any(KIM_SECRET in t for t in texts)
    assert any("wir korrigieren die Rechnung" in t for t in texts)
    assert any("Kims Lieferung fehlt" in t for t in texts)
    # ... but never the internal note about them.
    assert not any("dreimal angerufen" in t for t in texts)
    assert "dreimal angerufen" not in archive.read("data.json").decode()
    # The attachment is a file beside data.json, named in its message.
    files = [m["attachments"] for t in data["tickets"] for m in t["messages"] if m["attachments"]]
    path = files[0][0]["file"]
    assert files[0][0]["filename"] == KIM_FILE and path.startswith("attachments/")
    assert archive.read(path) == f"%PDF Rechnung an {KIM_NAME}".encode()
    # The chat session (with the address given there) and the timeline.
    assert [s["email"] for s in data["chat_sessions"]] == [KIM_EMAIL]
    assert len([e for e in data["timeline"] if e["kind"] == "ticket"]) == 2
    assert [(r["score"], r["comment"]) for r in data["satisfaction_ratings"]] == [
        (2, f"{KIM_NAME} ist unzufrieden")
    ]
    # Nothing of Olga anywhere in the archive.
    for name in archive.namelist():
        content = archive.read(name).decode("utf-8", "replace").lower()
        assert "olga" not in content, name
    # The export is audited: who, how, never what.
    async with runtime.read() as session:
        audit = (await session.scalars(select(DataAudit))).all()
    assert [(a.action, a.customer_id, a.source) for a in audit] == [("export", people.kim, "api")]
    assert KIM_NAME not in json.dumps(audit[0].details)


async def test_export_of_an_unknown_customer_is_a_404_and_agents_may_not(
    client, runtime, admin_headers, agent_headers
):
    assert (
        await client.get("/api/v1/customers/999999/export", headers=admin_headers)
    ).status_code == 404
    people = await make_people(client, runtime, admin_headers)
    refused = await client.get(f"/api/v1/customers/{people.kim}/export", headers=agent_headers)
    assert refused.status_code == 403


async def test_a_chat_that_only_typed_their_address_is_not_theirs(client, runtime, admin_headers):
    """Anyone may type anyone's address into a chat: unproved, it is not the customer's
    session (not exported to them); erasing them clears the address there, nothing else."""
    people = await make_people(client, runtime, admin_headers)
    async with runtime.transaction() as tx:
        channel_id = await tx.session.scalar(select(ChatChannel.id))
        tx.session.add(
            ChatSession(
                channel_id=channel_id,
                key="mallory-key",
                visitor_id="mallory",
                identity="visitor:mallory",
                name="Mallory",
                email=KIM_EMAIL,
                email_verified=False,
                status="open",
                visitor_read_id=0,
                agent_read_id=0,
                code_attempts=0,
                created_at=tx.now(),
            )
        )
    answer = await client.get(f"/api/v1/customers/{people.kim}/export", headers=admin_headers)
    data = json.loads(zipfile.ZipFile(io.BytesIO(answer.content)).read("data.json"))
    assert "Mallory" not in json.dumps(data) and len(data["chat_sessions"]) == 1
    await erasure.erase(runtime, people.kim, source="api", actor_user_id=None)
    async with runtime.read() as session:
        mallory = await session.scalar(select(ChatSession).where(ChatSession.key == "mallory-key"))
    assert mallory.name == "Mallory" and mallory.email is None


async def test_what_someone_else_wrote_on_their_ticket_is_only_marked(runtime, agent):
    """A manager's reply on a member's ticket is the manager's data: in the member's export
    it is "another person" without text, address or file; the member's own messages and the
    desk's public replies are there in full."""
    from channels.portal.inbound import Sender, Upload, ticket_reply
    from customers.export import build_export
    from tests.fixtures import PNG, portal_world
    from tickets.inbox import receive

    world = await portal_world(runtime, agent)
    member, manager = world["alpha_member"], world["alpha_manager"]
    said = "Mia here: my private number is 0171 555"
    await receive(
        runtime,
        ticket_reply(
            ticket_number=member["number"],
            customer_id=manager["customer_id"],
            nonce="n" * 24,
            sender=Sender(manager["email"], "Mia Manager"),
            text=said,
            uploads=[Upload("mia-contract.png", "image/png", PNG)],
        ),
    )
    async with runtime.read() as session:
        content = await build_export(session, member["customer_id"], runtime.clock.now())
    archive = zipfile.ZipFile(io.BytesIO(content))
    data = json.loads(archive.read("data.json"))
    [ticket] = [t for t in data["tickets"] if t["number"] == member["number"]]
    others = [m for m in ticket["messages"] if m["author"] == "another person"]
    assert [(m["text"], m["note"], m["attachments"]) for m in others] == [
        (None, "written by someone else: not included", [])
    ]
    assert {m["author"] for m in ticket["messages"]} >= {"customer", "staff", "another person"}
    everything = archive.read("data.json").decode() + " ".join(archive.namelist())
    assert said not in everything and manager["email"] not in everything
    assert "mia-contract" not in everything
