"""My tickets in the portal over HTTP: the list, one ticket's public conversation, a reply
with files through the inbox, close and reopen, file downloads."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from tests.fixtures import PNG, csrf_of, portal_world
from tickets.actions import Actor, update_ticket
from tickets.models import Attachment, InboundRecord, Message, Ticket, TicketHistory


@pytest.fixture
async def world(runtime, agent):
    return await portal_world(runtime, agent)


@pytest.fixture
async def client_for(app, portal_sign_in):
    """`await client_for(email)`: a client of its own, signed in to the portal as them."""
    clients = []

    async def make(email: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        clients.append(client)
        await portal_sign_in(client, email)
        return client

    yield make
    for client in clients:
        await client.aclose()


def nonce_of(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


async def _reply(client, number: int, text: str, files=None, nonce=None):
    page = await client.get(f"/portal/tickets/{number}")
    data = {"csrf_token": csrf_of(page.text), "nonce": nonce or nonce_of(page.text), "text": text}
    return await client.post(f"/portal/tickets/{number}/reply", data=data, files=files or [])


async def _messages(runtime, ticket_id: int) -> list[Message]:
    async with runtime.read() as session:
        return list(
            await session.scalars(
                select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
            )
        )


async def test_nobody_signed_in_is_sent_to_sign_in(client, world):
    number = world["solo"]["number"]
    for path in ("/portal/tickets", f"/portal/tickets/{number}"):
        answer = await client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/portal/sign-in?next=/portal/tickets")


async def test_a_member_lists_their_own_tickets_and_a_manager_the_organizations(client_for, world):
    member = await client_for(world["alpha_member"]["email"])
    page = await member.get("/portal/tickets")
    assert page.status_code == 200
    assert world["alpha_member"]["subject"] in page.text
    for other in ("alpha_manager", "beta_member", "beta_manager", "solo"):
        assert world[other]["subject"] not in page.text
    manager = await client_for(world["alpha_manager"]["email"])
    page = await manager.get("/portal/tickets")
    assert world["alpha_member"]["subject"] in page.text
    assert world["alpha_manager"]["subject"] in page.text
    assert world["beta_member"]["subject"] not in page.text
    assert "Alpha Member" in page.text  # whose request it is
    closed = await manager.get("/portal/tickets?show=closed")  # nothing is solved yet
    assert world["alpha_member"]["subject"] not in closed.text
    assert "You have no solved or closed requests." in closed.text
    assert (await manager.get("/portal/tickets?show=nonsense")).status_code == 400


async def test_the_ticket_page_shows_the_public_conversation_only(client_for, world):
    facts = world["solo"]
    client = await client_for(facts["email"])
    page = await client.get(f"/portal/tickets/{facts['number']}")
    assert page.status_code == 200
    assert "Text of solo" in page.text and "Answer to solo" in page.text
    assert facts["note_text"] not in page.text and "solo-note.txt" not in page.text
    assert f"/attachments/{facts['reply_file']}" in page.text
    assert f"/attachments/{facts['note_file']}" not in page.text
    # Nothing of the desk's own fields: no assignee, no queue, no priority.
    assert "Anna Agent" not in page.text and "priority" not in page.text.lower()
    download = await client.get(
        f"/portal/tickets/{facts['number']}/attachments/{facts['inbound_file']}"
    )
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["x-content-type-options"] == "nosniff"
    note = await client.get(f"/portal/tickets/{facts['number']}/attachments/{facts['note_file']}")
    assert note.status_code == 404
    other = world["beta_member"]
    assert (await client.get(f"/portal/tickets/{other['number']}")).status_code == 404


async def test_a_reply_with_a_file_goes_through_the_inbox_once(client_for, runtime, world):
    facts = world["alpha_member"]
    client = await client_for(facts["email"])
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, facts["ticket_id"])
        await update_ticket(tx, ticket, {"state": "pending"}, Actor())
    page = await client.get(f"/portal/tickets/{facts['number']}")
    nonce = nonce_of(page.text)
    before = len(await _messages(runtime, facts["ticket_id"]))
    async with runtime.bus.subscribe() as events:
        for _twice in range(2):  # a double click sends the form twice: one message
            answer = await _reply(
                client,
                facts["number"],
                "Here is the photo.",
                files=[("files", ("screen.png", PNG, "application/octet-stream"))],
                nonce=nonce,
            )
            assert answer.status_code == 303, answer.text
            assert answer.headers["location"] == f"/portal/tickets/{facts['number']}?done=sent"
        # What the console's live pages hear: the new message on this ticket.
        heard = None
        while heard is None:
            event = await asyncio.wait_for(events.get(), 10)
            if event.type == "message.created" and event.data["ticket_id"] == facts["ticket_id"]:
                heard = event.data["message_id"]
    messages = await _messages(runtime, facts["ticket_id"])
    assert heard == messages[-1].id
    assert len(messages) == before + 1
    reply = messages[-1]
    assert (reply.channel, reply.direction, reply.internal) == ("portal", "inbound", False)
    assert reply.author_customer_id == facts["customer_id"] and reply.text == "Here is the photo."
    async with runtime.read() as session:
        files = list(
            await session.scalars(select(Attachment).where(Attachment.message_id == reply.id))
        )
        assert [(f.filename, f.content_type) for f in files] == [("screen.png", "image/png")]
        assert (
            await session.scalar(
                select(func.count())
                .select_from(InboundRecord)
                .where(InboundRecord.channel == "portal")
            )
            == 1
        )
        ticket = await session.get(Ticket, facts["ticket_id"])
        assert ticket.state == "open"  # the customer answered: back in front of the agents
    page = await client.get(f"/portal/tickets/{facts['number']}?done=sent")
    assert "Here is the photo." in page.text and "screen.png" in page.text


async def test_a_manager_answers_a_colleagues_ticket_as_themselves(client_for, runtime, world):
    colleague, manager = world["alpha_member"], world["alpha_manager"]
    client = await client_for(manager["email"])
    answer = await _reply(client, colleague["number"], "I am on it too.")
    assert answer.status_code == 303
    reply = (await _messages(runtime, colleague["ticket_id"]))[-1]
    assert reply.text == "I am on it too." and reply.author_customer_id == manager["customer_id"]
    async with runtime.read() as session:
        ticket = await session.get(Ticket, colleague["ticket_id"])
        assert ticket.customer_id == colleague["customer_id"]  # still the colleague's request
    # The member cannot answer the manager's.
    member = await client_for(colleague["email"])
    page = await member.get(f"/portal/tickets/{colleague['number']}")
    refused = await member.post(
        f"/portal/tickets/{manager['number']}/reply",
        data={"csrf_token": csrf_of(page.text), "nonce": nonce_of(page.text), "text": "x"},
    )
    assert refused.status_code == 404


async def test_files_are_limited_in_type_number_and_size(client_for, runtime, world):
    facts = world["solo"]
    client = await client_for(facts["email"])
    before = len(await _messages(runtime, facts["ticket_id"]))
    program = await _reply(
        client,
        facts["number"],
        "see file",
        files=[("files", ("run.png", b"MZ\x90\x00\x03", "image/png"))],
    )
    assert program.status_code == 415 and "run.png" in program.text
    assert "see file" in program.text  # the text is kept for the next try
    many = [("files", (f"f{i}.txt", b"hello", "text/plain")) for i in range(6)]
    assert (await _reply(client, facts["number"], "many", files=many)).status_code == 413
    big = [("files", ("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "application/pdf"))]
    assert (await _reply(client, facts["number"], "big", files=big)).status_code == 413
    assert (await _reply(client, facts["number"], "   ")).status_code == 422
    assert len(await _messages(runtime, facts["ticket_id"])) == before


async def test_a_reply_needs_the_csrf_token(client_for, runtime, world):
    facts = world["solo"]
    client = await client_for(facts["email"])
    page = await client.get(f"/portal/tickets/{facts['number']}")
    answer = await client.post(
        f"/portal/tickets/{facts['number']}/reply",
        data={"nonce": nonce_of(page.text), "text": "forged"},
    )
    assert answer.status_code == 403
    assert "forged" not in [m.text for m in await _messages(runtime, facts["ticket_id"])]


async def test_close_and_reopen_within_the_days_allowed(client_for, runtime, world):
    facts = world["beta_member"]
    client = await client_for(facts["email"])
    path = f"/portal/tickets/{facts['number']}"
    page = await client.get(path)
    answer = await client.post(path + "/close", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    async with runtime.read() as session:
        ticket = await session.get(Ticket, facts["ticket_id"])
        assert ticket.state == "closed"
        actor = await session.scalar(
            select(TicketHistory.actor_customer_id).where(
                TicketHistory.ticket_id == ticket.id,
                TicketHistory.field == "state",
                TicketHistory.new_value == "closed",
            )
        )
        assert actor == facts["customer_id"]
    page = await client.get(path + "?done=closed")
    assert 'action="' + path + '/reply"' not in page.text  # closed: no reply form
    assert path + "/reopen" in page.text
    answer = await client.post(path + "/reopen", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    async with runtime.read() as session:
        assert (await session.get(Ticket, facts["ticket_id"])).state == "open"
    # Solved fifteen days ago: too late to reopen (the default allows 14 days).
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(Ticket)
            .where(Ticket.id == facts["ticket_id"])
            .values(state="solved", solved_at=tx.now() - timedelta(days=15))
        )
    page = await client.get(path)
    assert path + "/reopen" not in page.text
    late = await client.post(path + "/reopen", data={"csrf_token": csrf_of(page.text)})
    assert late.status_code == 409 and "new request" in late.text
    async with runtime.read() as session:
        assert (await session.get(Ticket, facts["ticket_id"])).state == "solved"


async def test_the_pages_speak_german(client_for, world):
    facts = world["solo"]
    client = await client_for(facts["email"])
    path = f"/portal/tickets/{facts['number']}"
    page = await client.get(path)
    assert "Your message" in page.text
    chosen = await client.post(
        "/portal/language",
        data={"csrf_token": csrf_of(page.text), "language": "de", "next": path},
    )
    assert chosen.status_code == 303
    page = await client.get(path)
    assert "Ihre Nachricht" in page.text and "Senden" in page.text
    listing = await client.get("/portal/tickets")
    assert "Betreff" in listing.text and "Letzte Änderung" in listing.text


async def test_a_reply_the_inbox_rejects_is_told_with_its_reason_and_the_text_kept(
    client_for, runtime, world
):
    """The inbox keeps an unusable message as rejected for the desk: the customer hears that
    it was not taken, and why, instead of "it will show in a moment"."""
    from customers.models import Identity

    facts = world["alpha_member"]
    client = await client_for(facts["email"])
    async with runtime.transaction() as tx:  # an address the inbox cannot use (old data)
        await tx.session.execute(
            update(Identity)
            .where(Identity.customer_id == facts["customer_id"], Identity.kind == "email")
            .values(value="no address at all")
        )
    before = len(await _messages(runtime, facts["ticket_id"]))
    answer = await _reply(client, facts["number"], "Where is <my> parcel?")
    assert answer.status_code == 422, answer.text
    assert "Your message could not be taken" in answer.text
    assert "will show here in a moment" not in answer.text
    assert "Where is &lt;my&gt; parcel?</textarea>" in answer.text
    assert len(await _messages(runtime, facts["ticket_id"])) == before
    async with runtime.read() as session:
        kept = await session.scalar(select(InboundRecord).where(InboundRecord.channel == "portal"))
    assert kept.status == "rejected"
