"""Tickets opened by hand in the console: a phone call noted, an outbound message sent."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from customers.actions import create_customer
from customers.models import Customer
from tests.fixtures import csrf_of, sign_in
from tickets.actions import Actor, TicketError
from tickets.manual import OPENED_FIELD, OUTBOUND, open_by_hand
from tickets.models import Message, OutboxMessage, Ticket, TicketHistory
from tickets.queues import create_queue
from tresen.accounts import create_user
from tresen.desk_settings import put_setting
from tresen.models import Notification


async def _form(client) -> str:
    page = await client.get("/tickets/new")
    assert page.status_code == 200
    return csrf_of(page.text)


async def _count(runtime, model) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_a_call_for_a_new_customer(client, runtime, agent):
    await sign_in(client)
    csrf = await _form(client)
    answer = await client.post(
        "/tickets/new",
        data={
            "csrf_token": csrf,
            "kind": "call",
            "customer_id": "",
            "new_name": "Clara Anruf",
            "new_email": "clara@example.org",
            "new_phone": "+49 30 1234567",
            "subject": "Rechnung doppelt abgebucht",
            "priority": "high",
            "assignee": "me",
            "text": "Kundin ruft an: die Rechnung 4711 wurde zweimal abgebucht.",
        },
    )
    assert answer.status_code == 303
    ticket_path = answer.headers["location"]
    page = await client.get(ticket_path)
    assert "Clara Anruf" in page.text
    assert "die Rechnung 4711 wurde zweimal abgebucht" in page.text
    assert "opened this ticket for a phone call" in page.text
    async with runtime.read() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket.channel == "voice" and ticket.priority == "high"
        assert ticket.assignee_id == agent.id
        assert sorted(i.kind for i in ticket.customer.identities) == ["email", "phone"]
        note = await session.scalar(select(Message).where(Message.ticket_id == ticket.id))
        assert note.internal and note.author_user_id == agent.id
        opened = await session.scalar(
            select(TicketHistory).where(TicketHistory.field == OPENED_FIELD)
        )
        assert (opened.actor_user_id, opened.new_value) == (agent.id, "call")
    # A call's notes go nowhere.
    assert await _count(runtime, OutboxMessage) == 0


async def test_an_outbound_message_to_a_customer_found_by_phone(client, runtime, agent):
    async with runtime.transaction() as tx:
        customer = await create_customer(
            tx,
            name="Otto Ausgang",
            identities=[("email", "otto@example.org"), ("phone", "+49 40 555123")],
        )
        queue = await create_queue(tx, name="Billing")
        # "Nobody" holds only where a reply does not make the ticket the replier's.
        await put_setting(tx, "assign_on_reply", False)
    await sign_in(client)
    csrf = await _form(client)
    found = await client.get("/tickets/new/customers", params={"customer_q": "040 555123"})
    assert found.status_code == 200
    assert "Otto Ausgang" in found.text and f'value="{customer.id}"' in found.text
    none = await client.get("/tickets/new/customers", params={"customer_q": "nobody-like-this"})
    assert "Otto" not in none.text and "No customer matches" in none.text
    answer = await client.post(
        "/tickets/new",
        data={
            "csrf_token": csrf,
            "kind": "outbound",
            "customer_id": str(customer.id),
            "subject": "Your new contract",
            "queue_id": str(queue.id),
            "priority": "normal",
            "assignee": "none",
            "channel": "email",
            "text": "Hello Otto, your new contract is ready.",
        },
    )
    assert answer.status_code == 303
    async with runtime.read() as session:
        ticket = await session.scalar(select(Ticket))
        assert (ticket.channel, ticket.queue_id, ticket.assignee_id) == ("email", queue.id, None)
        message = await session.scalar(select(Message))
        assert not message.internal and message.direction == "outbound"
        outbox = await session.scalar(select(OutboxMessage))
        assert (outbox.recipient, outbox.status) == ("otto@example.org", "queued")
        opened = await session.scalar(
            select(TicketHistory.new_value).where(TicketHistory.field == OPENED_FIELD)
        )
        assert opened == "outbound"


async def test_a_bad_form_keeps_what_was_typed_and_writes_nothing(client, runtime, agent):
    await sign_in(client)
    csrf = await _form(client)
    # No customer chosen and none entered.
    answer = await client.post(
        "/tickets/new",
        data={"csrf_token": csrf, "kind": "call", "subject": "Typed subject", "text": "Notes"},
    )
    assert answer.status_code == 422
    assert "Choose a customer" in answer.text and 'value="Typed subject"' in answer.text
    # A call without its notes, a message without its text: said in the agent's words.
    answer = await client.post(
        "/tickets/new",
        data={"csrf_token": csrf, "kind": "call", "new_name": "Nora", "subject": "S", "text": " "},
    )
    assert answer.status_code == 422 and "Note what the call was about." in answer.text
    assert 'value="Nora"' in answer.text
    # A message to a new customer without an e-mail address cannot go out: the customer is
    # not kept either.
    answer = await client.post(
        "/tickets/new",
        data={
            "csrf_token": csrf,
            "kind": "outbound",
            "new_name": "Paul Ohnemail",
            "new_phone": "+49 30 7654321",
            "subject": "Hello",
            "channel": "email",
            "text": "A message nobody can receive",
        },
    )
    assert answer.status_code == 422
    assert "A message nobody can receive" in answer.text
    assert await _count(runtime, Ticket) == 0
    assert await _count(runtime, Customer) == 0
    # Bad values are refused with a reason, not a traceback.
    for bad in (
        {"kind": "fax"},
        {"kind": "call", "new_name": "X", "priority": "whenever"},
        {"kind": "outbound", "new_name": "X", "new_email": "x@example.org", "channel": "pigeon"},
        {"kind": "call", "new_name": "X", "new_email": "not an address"},
    ):
        data = {"csrf_token": csrf, "subject": "S", "text": "T", **bad}
        answer = await client.post("/tickets/new", data=data)
        assert answer.status_code == 422, bad
    assert (await client.post("/tickets/new", data={"customer_id": "x"})).status_code == 403
    bad_id = {"csrf_token": csrf, "customer_id": "abc", "kind": "call"}
    assert (await client.post("/tickets/new", data=bad_id)).status_code == 400
    assert await _count(runtime, Ticket) == 0


async def test_an_address_another_customer_has_is_refused(client, runtime, agent):
    async with runtime.transaction() as tx:
        await create_customer(tx, name="Erste", identities=[("email", "taken@example.org")])
    await sign_in(client)
    answer = await client.post(
        "/tickets/new",
        data={
            "csrf_token": await _form(client),
            "kind": "call",
            "new_name": "Zweite",
            "new_email": "Taken@Example.org",
            "subject": "S",
            "text": "T",
        },
    )
    assert answer.status_code == 422 and "belongs to customer" in answer.text
    assert await _count(runtime, Ticket) == 0


async def test_the_form_starts_with_a_customer_from_their_page(client, runtime, agent):
    async with runtime.transaction() as tx:
        customer = await create_customer(tx, name="Vera Vorauswahl")
    await sign_in(client)
    page = await client.get(f"/tickets/new?customer={customer.id}&kind=outbound")
    assert "Vera Vorauswahl" in page.text
    assert f'name="customer_id" value="{customer.id}" checked' in page.text
    assert (await client.get("/tickets/new?kind=fax")).status_code == 400
    assert (await client.get("/tickets/new?customer=abc")).status_code == 400


async def test_a_colleague_given_the_ticket_is_told(client, runtime, agent):
    colleague = await create_user(
        runtime, email="ben@example.com", name="Ben Kollege", role="agent", password="ben-password"
    )
    async with runtime.transaction() as tx:
        customer = await create_customer(tx, name="Rita Rückruf")
    await sign_in(client)
    answer = await client.post(
        "/tickets/new",
        data={
            "csrf_token": await _form(client),
            "kind": "call",
            "customer_id": str(customer.id),
            "assignee": str(colleague.id),
            "subject": "Rückruf erbeten",
            "text": "Bitte morgen zurückrufen.",
        },
    )
    assert answer.status_code == 303
    async with runtime.read() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket.assignee_id == colleague.id
        told = await session.scalar(select(Notification))
        assert (told.user_id, told.kind, told.link) == (
            colleague.id,
            "assigned",
            f"/tickets/{ticket.id}",
        )


async def test_a_live_chat_is_not_started_by_hand(runtime, agent):
    async with runtime.transaction() as tx:
        customer = await create_customer(tx, name="Chat Kunde")
    with pytest.raises(TicketError) as refused:
        async with runtime.transaction() as tx:
            await open_by_hand(
                tx,
                kind=OUTBOUND,
                customer_id=customer.id,
                subject="Hi",
                text="Hello",
                actor=Actor(user_id=agent.id),
                channel="chat",
            )
    assert refused.value.field == "channel"
    assert await _count(runtime, Ticket) == 0
