"""The portal channel: a customer's new request and reply through the inbox, and an agent's
reply mailed (through a real SMTP server) with a link back to the portal."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from channels.email.accounts import create_account
from channels.email.parse import parse_message
from channels.portal.inbound import (
    PortalMessageError,
    Sender,
    Upload,
    inert_subject,
    new_request,
    sender_of,
    ticket_reply,
)
from customers.actions import create_customer
from tests.fixtures import inbound_mail
from tickets import outbox
from tickets.history import Actor
from tickets.inbox import deliver, receive
from tickets.messages import add_message
from tickets.models import Attachment, Message, OutboxMessage, Ticket
from tickets.threading import ticket_number_in_subject
from tresen import channel as channel_registry


@pytest.fixture
async def desk(runtime, smtp_server):
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
    return runtime


async def customer(runtime, name="Kim Meyer", email="kim@example.com", language=None) -> int:
    async with runtime.transaction() as tx:
        made = await create_customer(
            tx, name=name, identities=[("email", email)], language=language
        )
        return made.id


async def sender(runtime, customer_id: int) -> Sender:
    async with runtime.read() as session:
        return await sender_of(session, customer_id)


def nonce() -> str:
    return secrets.token_urlsafe(18)


async def ticket(runtime, ticket_id: int) -> Ticket:
    async with runtime.read() as session:
        return await session.get(Ticket, ticket_id)


def test_the_portal_channel_is_registered_and_sends_to_email_addresses():
    portal = channel_registry.get("portal")
    assert portal is not None and portal.label("de") == "Kundenportal"
    assert portal.reaches("email") and not portal.reaches("phone")
    assert not portal.threading.references and not portal.threading.conversation


async def test_a_new_request_is_a_ticket_of_the_customers_record_once(runtime):
    kim = await customer(runtime)
    form_nonce = nonce()
    request = new_request(
        customer_id=kim,
        nonce=form_nonce,
        sender=await sender(runtime, kim),
        subject="  Printer   does not print ",
        text="Since this morning.",
        uploads=[Upload("error.png", "image/png", b"\x89PNG...")],
        fields={"Order number": "A-17", "Device": ""},
    )
    first = await deliver(runtime, request)
    again = await deliver(runtime, request)  # the form sent twice
    assert first.ticket_number and again.duplicate and again.ticket_id == first.ticket_id
    made = await ticket(runtime, first.ticket_id)
    assert (made.customer_id, made.channel, made.subject) == (
        kim,
        "portal",
        "Printer does not print",
    )
    async with runtime.read() as session:
        tickets = await session.scalar(select(Ticket.id).where(Ticket.id != made.id))
        message = await session.scalar(select(Message).where(Message.ticket_id == made.id))
        files = list(await session.scalars(select(Attachment.filename)))
    assert tickets is None
    assert message.text == "Since this morning.\n\nOrder number: A-17"
    assert message.sender == "kim@example.com" and files == ["error.png"]


async def test_a_number_in_a_new_requests_subject_does_not_join_that_ticket(runtime):
    other = await receive(runtime, inbound_mail("<other-1@example.com>"))
    kim = await customer(runtime, email="kim.meyer@example.org")
    subject = f"Ticket #{other.ticket_number} and [#{other.ticket_number}]"
    assert ticket_number_in_subject(inert_subject(subject)) is None
    received = await deliver(
        runtime,
        new_request(
            customer_id=kim,
            nonce=nonce(),
            sender=await sender(runtime, kim),
            subject=subject,
            text="Same problem as there.",
        ),
    )
    assert received.ticket_id != other.ticket_id
    assert (await ticket(runtime, received.ticket_id)).customer_id == kim


async def test_a_reply_in_the_portal_lands_on_its_ticket(runtime):
    first = await receive(runtime, inbound_mail("<kim-1@example.com>"))
    kim = (await ticket(runtime, first.ticket_id)).customer_id
    reply = ticket_reply(
        ticket_number=first.ticket_number,
        customer_id=kim,
        nonce=nonce(),
        sender=await sender(runtime, kim),
        text="It works again, thank you.",
    )
    received = await deliver(runtime, reply)
    assert received.ticket_id == first.ticket_id
    async with runtime.read() as session:
        channels = list(
            await session.scalars(
                select(Message.channel)
                .where(Message.ticket_id == first.ticket_id)
                .order_by(Message.id)
            )
        )
    assert channels == ["email", "portal"]


async def test_what_cannot_be_a_message_is_refused_with_its_field(runtime):
    kim = await customer(runtime)
    who = await sender(runtime, kim)
    cases = [
        ({"nonce": "short"}, "nonce"),
        ({"nonce": "x" * 20 + "/../"}, "nonce"),
        ({"subject": "   "}, "subject"),
        ({"text": " \n "}, "text"),
    ]
    for change, field in cases:
        values = {"nonce": nonce(), "subject": "Subject", "text": "Text", **change}
        with pytest.raises(PortalMessageError) as refused:
            new_request(customer_id=kim, sender=who, **values)
        assert refused.value.field == field
    with pytest.raises(PortalMessageError):
        ticket_reply(ticket_number=1, customer_id=kim, nonce=nonce(), sender=who, text=" ")


async def test_the_sender_is_an_address_that_did_not_bounce(runtime):
    async with runtime.transaction() as tx:
        made = await create_customer(
            tx,
            name="Kim Meyer",
            identities=[("email", "old@example.com"), ("email", "new@example.com")],
        )
        phone_only = await create_customer(tx, name="Pat", identities=[("phone", "+4930123456")])
    async with runtime.transaction() as tx:
        from customers.actions import flag_bouncing

        await flag_bouncing(tx, ["old@example.com"], "failed: mailbox gone")
    assert await sender(runtime, made.id) == Sender("new@example.com", "Kim Meyer")
    assert await sender(runtime, phone_only.id) is None


async def agent_reply(runtime, ticket_id: int, agent, text: str) -> int:
    async with runtime.transaction() as tx:
        found = await tx.session.get(Ticket, ticket_id)
        message = await add_message(
            tx, found, direction="outbound", text=text, actor=Actor(user_id=agent.id)
        )
    return message.id


async def test_an_agents_reply_is_mailed_with_the_portal_link(desk, smtp_server, agent):
    kim = await customer(desk, language="de")
    received = await deliver(
        desk,
        new_request(
            customer_id=kim,
            nonce=nonce(),
            sender=await sender(desk, kim),
            subject="Rechnung fehlt",
            text="Wo ist meine Rechnung?",
        ),
    )
    message_id = await agent_reply(desk, received.ticket_id, agent, "Sie ist unterwegs.")
    assert await outbox.deliver_due(desk) == 1
    [(_sender, recipients, _raw)] = smtp_server.received
    [sent] = smtp_server.messages()
    assert recipients == ["kim@example.com"]
    assert f"[#{received.ticket_number}]" in sent["Subject"]
    body = sent.get_body(("plain",)).get_content()
    link = f"{desk.settings.base_url}/portal/tickets/{received.ticket_number}"
    assert body.startswith("Sie ist unterwegs.") and "Kundenportal" in body and link in body
    html_body = sent.get_body(("html",)).get_content()
    assert f'href="{link}"' in html_body
    assert sent["In-Reply-To"] is None  # the portal request has no Message-ID to answer
    async with desk.read() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == message_id)
        )
        message = await session.get(Message, message_id)
    assert row.status == "sent" and message.external_id == sent["Message-ID"]
    assert await outbox.deliver_due(desk) == 0 and len(smtp_server.received) == 1

    # Kim answers the mail instead of the portal: it lands on the same ticket.
    answer = (
        f"From: Kim Meyer <kim@example.com>\r\nTo: support@tresen.test\r\n"
        f"Subject: Re: Rechnung fehlt\r\nMessage-ID: <kim-2@example.com>\r\n"
        f"In-Reply-To: {sent['Message-ID']}\r\n\r\nDanke!\r\n"
    ).encode()
    result = await receive(desk, parse_message(answer, account="support@tresen.test"))
    assert result.ticket_id == received.ticket_id


async def test_an_english_customer_gets_the_english_link_line(desk, smtp_server, agent):
    kim = await customer(desk, language="en")
    received = await deliver(
        desk,
        new_request(
            customer_id=kim,
            nonce=nonce(),
            sender=await sender(desk, kim),
            subject="Invoice missing",
            text="Where is it?",
        ),
    )
    await agent_reply(desk, received.ticket_id, agent, "On its way.")
    assert await outbox.deliver_due(desk) == 1
    [sent] = smtp_server.messages()
    assert "customer portal" in sent.get_body(("plain",)).get_content()


async def test_replies_wait_while_no_mail_account_can_send(runtime, agent):
    kim = await customer(runtime)
    received = await deliver(
        runtime,
        new_request(
            customer_id=kim,
            nonce=nonce(),
            sender=await sender(runtime, kim),
            subject="Hello",
            text="Anyone there?",
        ),
    )
    portal = channel_registry.get("portal")
    async with runtime.read() as session:
        problem = await portal.sending_problem(session)
    assert problem and "SMTP" in problem["en"]
    message_id = await agent_reply(runtime, received.ticket_id, agent, "Yes.")
    assert await outbox.deliver_due(runtime) == 0
    async with runtime.read() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == message_id)
        )
    assert row.status == "queued" and "no mail account" in row.last_error


async def test_a_queue_that_confirms_new_tickets_confirms_a_portal_request_by_mail(
    desk, smtp_server
):
    from tickets.queues import create_queue

    async with desk.transaction() as tx:
        queue = await create_queue(tx, name="Service", acknowledge=True)
    kim = await customer(desk, language="en")
    received = await deliver(
        desk,
        new_request(
            customer_id=kim,
            nonce=nonce(),
            sender=await sender(desk, kim),
            subject="Broken hinge",
            text="The lid fell off.",
            queue_id=queue.id,
        ),
    )
    assert await outbox.deliver_due(desk) == 1
    [sent] = smtp_server.messages()
    assert sent["To"] == "kim@example.com" and sent["Auto-Submitted"] == "auto-replied"
    body = sent.get_body(("plain",)).get_content()
    assert f"ticket #{received.ticket_number}" in body
    assert f"/portal/tickets/{received.ticket_number}" in body
