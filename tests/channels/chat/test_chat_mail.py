"""A chat's mail: codes that verify a visitor's address (and link it to the customer record,
merging records of one person), and the transcript; through the outbox and a real SMTP
server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from channels.chat import mail
from channels.chat.mail import ChatMailError, check_code, send_code, send_transcript
from channels.chat.models import ChatSession
from customers.actions import create_customer, link_identity
from customers.models import Customer, Identity
from tests.channels.chat.conftest import chat_session, visitor_writes
from tests.fixtures import inbound_mail
from tickets import outbox
from tickets.history import Actor
from tickets.inbox import receive
from tickets.messages import add_message
from tickets.models import OutboxMessage, Ticket
from tresen.email_address import EmailAddressError


async def mailed(runtime, smtp_server) -> list:
    """Deliver the outbox; the mails the SMTP server received meanwhile."""
    before = len(smtp_server.received)
    await outbox.deliver_due(runtime)
    return smtp_server.messages()[before:]


async def code_for(runtime, smtp_server, session_id: int, email: str) -> str:
    await send_code(runtime, session_id, email)
    [sent] = await mailed(runtime, smtp_server)
    return sent["Subject"].rpartition(" ")[2]


async def customer_of(runtime, identity: str) -> Customer:
    async with runtime.read() as session:
        customer_id = await session.scalar(
            select(Identity.customer_id).where(Identity.kind == "chat", Identity.value == identity)
        )
        return await session.get(Customer, customer_id)


async def session_row(runtime, session_id: int) -> ChatSession:
    async with runtime.read() as session:
        return await session.get(ChatSession, session_id)


async def test_a_mailed_code_verifies_the_address_and_links_it_to_the_customer(desk, smtp_server):
    session_id = await chat_session(desk, language="de", text="Wo ist mein Paket?")
    with pytest.raises(EmailAddressError):
        await send_code(desk, session_id, "not an address")
    await send_code(desk, session_id, " Kim.Meyer@Example.COM ")
    [sent] = await mailed(desk, smtp_server)
    assert smtp_server.received[-1][1] == ["kim.meyer@example.com"]
    subject = sent["Subject"]
    assert subject.startswith("Ihr Code: ") and len(code := subject[-6:]) == 6 and code.isdigit()
    body = sent.get_body(("plain",)).get_content()
    assert code in body and "Chat mit Shop" in body
    # A mail of ours, not a person's: auto-responders must not answer it.
    assert sent["Auto-Submitted"] is not None
    row = await session_row(desk, session_id)
    assert row.email == "kim.meyer@example.com" and not row.email_verified
    assert code not in row.code_hash  # only its hash is stored

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(ChatMailError) as refused:
        await check_code(desk, session_id, wrong)
    assert refused.value.code == "code_wrong"
    assert (await session_row(desk, session_id)).code_attempts == 1

    answer = await check_code(desk, session_id, code)
    assert answer == {"name": "Kim", "email": "kim.meyer@example.com", "email_verified": True}
    customer = await customer_of(desk, row.identity)
    assert ("email", "kim.meyer@example.com") in {(i.kind, i.value) for i in customer.identities}
    # A used code is gone.
    with pytest.raises(ChatMailError) as refused:
        await check_code(desk, session_id, code)
    assert refused.value.code == "code_expired"


async def test_a_code_confirms_only_the_address_it_was_mailed_to(desk, smtp_server):
    session_id = await chat_session(desk, text="Hallo")
    code = await code_for(desk, smtp_server, session_id, "mine@example.com")
    # The visitor then claims someone else's address and types the code they got.
    async with desk.transaction() as tx:
        row = await tx.session.get(ChatSession, session_id)
        row.email = "victim@example.com"
    with pytest.raises(ChatMailError) as refused:
        await check_code(desk, session_id, code)
    assert refused.value.code == "code_wrong"
    assert (await session_row(desk, session_id)).email_verified is False


async def test_a_code_expires_after_ten_minutes_and_after_five_wrong_guesses(desk, smtp_server):
    session_id = await chat_session(desk, text="Hello")
    code = await code_for(desk, smtp_server, session_id, "kim@example.com")
    assert (await mailed(desk, smtp_server)) == []
    desk.clock.advance(timedelta(minutes=10, seconds=1))
    with pytest.raises(ChatMailError) as refused:
        await check_code(desk, session_id, code)
    assert refused.value.code == "code_expired"

    code = await code_for(desk, smtp_server, session_id, "kim@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(ChatMailError) as refused:
            await check_code(desk, session_id, wrong)
        assert refused.value.code == "code_wrong"
    # Five wrong guesses: the code is void, the right one comes too late.
    with pytest.raises(ChatMailError) as refused:
        await check_code(desk, session_id, code)
    assert refused.value.code == "code_expired"
    assert not (await session_row(desk, session_id)).email_verified


async def test_codes_are_rate_limited_per_session_and_per_address(desk, smtp_server):
    session_id = await chat_session(desk, text="Hello")
    await send_code(desk, session_id, "kim@example.com")
    with pytest.raises(ChatMailError) as refused:  # one per 30 seconds
        await send_code(desk, session_id, "kim@example.com")
    assert refused.value.code == "rate_limited"
    desk.clock.advance(timedelta(seconds=31))
    await send_code(desk, session_id, "kim@example.com")
    desk.clock.advance(timedelta(seconds=31))
    await send_code(desk, session_id, "kim@example.com")
    desk.clock.advance(timedelta(seconds=31))
    with pytest.raises(ChatMailError) as refused:  # three an hour
        await send_code(desk, session_id, "kim@example.com")
    assert refused.value.code == "rate_limited"
    # Another session cannot flood the same mailbox either.
    other = await chat_session(desk, text="Hi")
    with pytest.raises(ChatMailError) as refused:
        await send_code(desk, other, "kim@example.com")
    assert refused.value.code == "rate_limited"
    await send_code(desk, other, "other@example.com")
    assert len(await mailed(desk, smtp_server)) == 4


async def test_verifying_before_the_first_message_links_once_it_makes_the_customer(
    desk, smtp_server
):
    session_id = await chat_session(desk)  # no message yet: no customer record
    code = await code_for(desk, smtp_server, session_id, "kim@example.com")
    answer = await check_code(desk, session_id, code)
    assert answer["email_verified"] is True
    await visitor_writes(desk, session_id, "Hello, anyone there?")
    row = await session_row(desk, session_id)
    customer = await customer_of(desk, row.identity)
    async with desk.transaction() as tx:
        linked = await mail.link_verified_email(tx, row, customer.id)
    assert linked == customer.id
    customer = await customer_of(desk, row.identity)
    assert {(i.kind, i.value) for i in customer.identities} == {
        ("chat", row.identity),
        ("email", "kim@example.com"),
    }


async def test_a_verified_address_of_a_known_customer_merges_the_visitor_into_them(
    desk, smtp_server
):
    # Kim wrote by mail before: a customer with her address and a ticket.
    by_mail = await receive(desk, inbound_mail("<kim-1@example.com>"))
    async with desk.read() as session:
        kim_id = (await session.get(Ticket, by_mail.ticket_id)).customer_id
    session_id = await chat_session(desk, text="Mein Drucker druckt immer noch nicht")
    row = await session_row(desk, session_id)
    visitor_id = (await customer_of(desk, row.identity)).id
    assert visitor_id != kim_id

    code = await code_for(desk, smtp_server, session_id, "KIM@example.com")
    await check_code(desk, session_id, code)

    async with desk.read() as session:
        merged = await session.get(Customer, visitor_id)
        kim = await session.get(Customer, kim_id)
        tickets = await session.scalars(select(Ticket.id).where(Ticket.customer_id == kim_id))
        assert set(tickets) == {by_mail.ticket_id, row.ticket_id}
    assert merged.merged_into_id == kim_id
    assert ("chat", row.identity) in {(i.kind, i.value) for i in kim.identities}


async def test_link_identity_adds_keeps_or_merges(runtime):
    async with runtime.transaction() as tx:
        lea = await create_customer(tx, name="Lea", identities=[("email", "lea@example.com")])
        visitor_record = await create_customer(tx, name="Visitor")
        fresh = await create_customer(tx, name="Fresh")
        ids = lea.id, visitor_record.id, fresh.id
    async with runtime.transaction() as tx:
        # Nobody has it: added. Has it already: kept. Another has it: merged into them.
        assert await link_identity(tx, ids[2], "email", "New@Example.com") == ids[2]
        assert await link_identity(tx, ids[2], "email", "new@example.com") == ids[2]
        assert await link_identity(tx, ids[1], "email", "LEA@example.com") == ids[0]
    async with runtime.read() as session:
        owners = dict((await session.execute(select(Identity.value, Identity.customer_id))).all())
        assert owners == {"lea@example.com": ids[0], "new@example.com": ids[2]}
        assert (await session.get(Customer, ids[1])).merged_into_id == ids[0]


async def test_the_transcript_holds_the_public_conversation(desk, smtp_server, agent):
    session_id = await chat_session(
        desk, email="kim@example.com", text="Where is my parcel?", verified=True
    )
    ticket_id = (await session_row(desk, session_id)).ticket_id
    async with desk.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        await add_message(
            tx,
            ticket,
            direction="outbound",
            text="Internal: customer is on the naughty list",
            internal=True,
            actor=Actor(user_id=agent.id),
        )
        await add_message(
            tx,
            ticket,
            direction="outbound",
            text="It left our warehouse today.\nTracking follows.",
            actor=Actor(user_id=agent.id),
        )
    await outbox.deliver_due(desk)  # the reply: shown in the chat (the visitor is here)

    assert await send_transcript(desk, session_id) == "kim@example.com"
    [sent] = await mailed(desk, smtp_server)
    assert sent["Subject"] == "Chat transcript — Shop"
    body = sent.get_body(("plain",)).get_content()
    assert "Kim:" in body and "Where is my parcel?" in body
    assert "Anna Agent:" in body and "It left our warehouse today." in body
    assert "Tracking follows." in body
    assert body.index("Where is my parcel?") < body.index("It left our warehouse")
    assert "naughty" not in body
    assert (await session_row(desk, session_id)).transcript_sent_at == desk.clock.now()

    await send_transcript(desk, session_id)
    await send_transcript(desk, session_id)
    with pytest.raises(ChatMailError) as refused:
        await send_transcript(desk, session_id)
    assert refused.value.code == "rate_limited"
    assert len(await mailed(desk, smtp_server)) == 2


async def test_a_transcript_needs_an_address_and_speaks_german(desk, smtp_server):
    nobody = await chat_session(desk, text="Hallo")
    with pytest.raises(ChatMailError) as refused:
        await send_transcript(desk, nobody)
    assert refused.value.code == "invalid"
    # An address typed in but not confirmed: the visitor's words do not go there.
    typed = await chat_session(desk, email="someone@example.com", text="Buy cheap pills")
    with pytest.raises(ChatMailError) as refused:
        await send_transcript(desk, typed)
    assert refused.value.code == "verify_required"
    assert await mailed(desk, smtp_server) == []

    session_id = await chat_session(
        desk, language="de", email="kim@example.com", text="Hallo", verified=True
    )
    await send_transcript(desk, session_id)
    [sent] = await mailed(desk, smtp_server)
    assert sent["Subject"] == "Chat-Verlauf — Shop"
    assert "Ihr Chat mit Shop" in sent.get_body(("plain",)).get_content()
    async with desk.read() as session:
        row = await session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
    assert row.status == "sent" and row.message_id is None and row.notification_id is None
