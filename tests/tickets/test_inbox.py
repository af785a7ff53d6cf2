"""The inbox: stored first, processed once, threaded into the right ticket."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from customers.models import Customer, Identity
from tickets.actions import Actor, update_ticket
from tickets.inbox import InboundRejected, InboxProcessingError, receive, retry_pending
from tickets.models import InboundRecord, Message, Ticket, TicketHistory
from tresen.inbound import InboundMessage


def inbound(external_id: str, **fields) -> InboundMessage:
    body = {
        "channel": "email",
        "external_id": external_id,
        "from": {"kind": "email", "value": "Kim.Meyer@Example.com", "name": "Kim Meyer"},
        "subject": "Drucker druckt nicht",
        "text": "Seit heute druckt unser Drucker nicht mehr.",
    }
    body.update(fields)
    return InboundMessage.model_validate(body)


async def count(runtime, model) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_new_sender_gets_customer_with_identity_and_ticket(runtime):
    result = await receive(runtime, inbound("<a1@example.com>"))
    async with runtime.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        identity = await session.scalar(select(Identity))
        customer = await session.get(Customer, identity.customer_id)
    assert ticket.subject == "Drucker druckt nicht"
    assert ticket.state == "new" and ticket.channel == "email"
    assert result.ticket_number == ticket.number >= 10000
    assert (identity.kind, identity.value) == ("email", "kim.meyer@example.com")
    assert customer.name == "Kim Meyer" and ticket.customer_id == customer.id


async def test_same_delivery_twice_yields_one_message(runtime):
    first = await receive(runtime, inbound("<dup@example.com>"))
    second = await receive(runtime, inbound("<dup@example.com>"))
    assert second.to_json() == first.to_json()
    assert second.duplicate and not first.duplicate
    assert await count(runtime, Message) == 1
    assert await count(runtime, InboundRecord) == 1


async def test_concurrent_duplicate_deliveries_yield_one_message(runtime):
    results = await asyncio.gather(*(receive(runtime, inbound("<race@x>")) for _ in range(6)))
    assert len({result.message_id for result in results}) == 1
    assert await count(runtime, Message) == 1
    assert await count(runtime, Ticket) == 1


async def test_reply_with_ticket_number_in_subject_threads(runtime):
    first = await receive(runtime, inbound("<m1@x>"))
    reply = await receive(
        runtime,
        inbound(
            "<m2@x>",
            subject=f"AW: [#{first.ticket_number}] Drucker druckt nicht",
            text="Danke, jetzt geht es wieder.",
        ),
    )
    assert reply.ticket_id == first.ticket_id
    assert reply.message_id != first.message_id
    assert await count(runtime, Ticket) == 1


async def test_reply_with_known_in_reply_to_threads_even_with_new_subject(runtime):
    first = await receive(runtime, inbound("<orig@x>"))
    reply = await receive(
        runtime, inbound("<reply@x>", subject="Andere Frage", in_reply_to="<orig@x>")
    )
    via_references = await receive(
        runtime, inbound("<third@x>", subject="Noch was", references=["<unknown@x>", "<reply@x>"])
    )
    assert reply.ticket_id == first.ticket_id == via_references.ticket_id


async def test_unknown_reference_and_number_open_a_new_ticket(runtime):
    first = await receive(runtime, inbound("<one@x>"))
    other = await receive(
        runtime, inbound("<two@x>", subject="[#99999] Neues Thema", in_reply_to="<nobody@x>")
    )
    assert other.ticket_id != first.ticket_id


async def test_conversation_id_threads_chat_messages(runtime):
    sender = {"kind": "chat", "value": "visitor-1"}
    first = await receive(
        runtime,
        inbound("c1", channel="chat", conversation_id="conv-9", subject=None, **{"from": sender}),
    )
    second = await receive(
        runtime,
        inbound(
            "c2",
            channel="chat",
            conversation_id="conv-9",
            subject=None,
            text="Hallo?",
            **{"from": sender},
        ),
    )
    assert first.ticket_id == second.ticket_id


async def test_reply_to_solved_ticket_reopens_it_and_closed_opens_follow_up(runtime):
    first = await receive(runtime, inbound("<s1@x>"))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, first.ticket_id)
        await update_ticket(tx, ticket, {"state": "solved"}, Actor())
    reopened = await receive(runtime, inbound("<s2@x>", in_reply_to="<s1@x>"))
    async with runtime.read() as session:
        ticket = await session.get(Ticket, first.ticket_id)
        history = [
            (row.field, row.old_value, row.new_value, row.actor_customer_id)
            for row in await session.scalars(
                select(TicketHistory)
                .where(TicketHistory.ticket_id == ticket.id)
                .order_by(TicketHistory.id)
            )
        ]
    assert reopened.ticket_id == first.ticket_id
    assert ticket.state == "open" and ticket.solved_at is None
    assert history == [
        ("created", None, str(ticket.number), ticket.customer_id),
        ("state", "new", "solved", None),
        ("state", "solved", "open", ticket.customer_id),
    ]

    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, first.ticket_id)
        await update_ticket(tx, ticket, {"state": "closed"}, Actor())
    follow_up = await receive(runtime, inbound("<s3@x>", in_reply_to="<s2@x>"))
    assert follow_up.ticket_id != first.ticket_id


async def test_chat_message_without_subject_names_its_ticket_by_its_first_line(runtime):
    result = await receive(
        runtime,
        inbound(
            "chat-1",
            channel="chat",
            subject=None,
            text="\n  Mein Paket ist nicht angekommen\nBestellung 4711",
            **{"from": {"kind": "chat", "value": "visitor-7"}},
        ),
    )
    async with runtime.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        message = await session.get(Message, result.message_id)
    assert ticket.subject == "Mein Paket ist nicht angekommen"
    assert message.subject is None


async def test_phone_sender_is_normalized_so_spellings_match(runtime):
    sms = {"channel": "sms", "subject": None}
    first = await receive(
        runtime, inbound("SM1", **sms, **{"from": {"kind": "phone", "value": "030 1234567"}})
    )
    second = await receive(
        runtime, inbound("SM2", **sms, **{"from": {"kind": "phone", "value": "+49 30 1234567"}})
    )
    async with runtime.read() as session:
        identities = list(await session.scalars(select(Identity)))
    assert [i.value for i in identities] == ["+49301234567"]
    async with runtime.read() as session:
        first_ticket = await session.get(Ticket, first.ticket_id)
        second_ticket = await session.get(Ticket, second.ticket_id)
    assert first_ticket.customer_id == second_ticket.customer_id


async def test_html_is_sanitized_and_gives_text(runtime):
    result = await receive(
        runtime,
        inbound(
            "<h@x>", text="", html='<p onclick="x()">Hallo <b>Team</b></p><script>alert(1)</script>'
        ),
    )
    async with runtime.read() as session:
        message = await session.get(Message, result.message_id)
    assert "script" not in message.html and "onclick" not in message.html
    assert "<b>Team</b>" in message.html
    assert message.text == "Hallo Team"


async def test_bad_sender_is_rejected_before_anything_is_stored(runtime):
    with pytest.raises(InboundRejected) as error:
        await receive(runtime, inbound("<bad@x>", **{"from": {"kind": "email", "value": "nope"}}))
    assert error.value.field == "from"
    assert await count(runtime, InboundRecord) == 0


async def test_failed_processing_keeps_the_raw_message_and_retry_processes_it(runtime, monkeypatch):
    import tickets.inbox as inbox

    original = inbox.add_inbound_message

    async def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(inbox, "add_inbound_message", broken)
    with pytest.raises(InboxProcessingError):
        await receive(runtime, inbound("<fail@x>"))
    async with runtime.read() as session:
        record = await session.scalar(select(InboundRecord))
    assert record.status == "failed" and "database hiccup" in record.error
    assert await count(runtime, Ticket) == 0

    monkeypatch.setattr(inbox, "add_inbound_message", original)
    assert await retry_pending(runtime) == 1
    again = await receive(runtime, inbound("<fail@x>"))
    assert again.ticket_id is not None
    assert await count(runtime, Message) == 1


async def test_events_are_published_after_commit(runtime):
    async with runtime.bus.subscribe() as events:
        result = await receive(runtime, inbound("<ev@x>"))
        seen = []
        while "message.created" not in [event.type for event in seen]:
            seen.append(await asyncio.wait_for(events.get(), 5))
    types = [event.type for event in seen]
    assert "ticket.created" in types and "message.created" in types
    created = next(event for event in seen if event.type == "ticket.created")
    assert created.data["ticket_id"] == result.ticket_id


async def test_actions_take_time_from_the_runtime_clock(settings):
    """The one clock is injectable, so deadline tests can move time."""
    from datetime import UTC, datetime, timedelta

    from tresen.clock import FrozenClock
    from tresen.runtime import Runtime

    clock = FrozenClock(datetime(2026, 3, 29, 0, 59, tzinfo=UTC))
    runtime = Runtime.create(settings, clock=clock)
    await runtime.start()
    try:
        first = await receive(runtime, inbound("<t1@x>"))
        clock.advance(timedelta(hours=5))
        second = await receive(runtime, inbound("<t2@x>", in_reply_to="<t1@x>"))
        async with runtime.read() as session:
            ticket = await session.get(Ticket, first.ticket_id)
            reply = await session.get(Message, second.message_id)
    finally:
        await runtime.close()
    assert ticket.created_at == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert reply.created_at == ticket.updated_at == datetime(2026, 3, 29, 5, 59, tzinfo=UTC)


async def test_first_tickets_opened_at_once_get_distinct_numbers(runtime):
    """No counter row exists yet: concurrent first tickets must not collide creating it."""
    results = await asyncio.gather(
        *(
            receive(
                runtime,
                inbound(
                    f"<first-{n}@x>", **{"from": {"kind": "email", "value": f"kunde{n}@x.example"}}
                ),
            )
            for n in range(6)
        )
    )
    assert sorted(r.ticket_number for r in results) == list(range(10000, 10006))


async def test_failed_messages_are_retried_on_a_schedule(runtime, monkeypatch):
    import tickets.inbox as inbox

    original = inbox.add_inbound_message

    async def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(inbox, "add_inbound_message", broken)
    with pytest.raises(InboxProcessingError):
        await receive(runtime, inbound("<later@x>"))
    monkeypatch.setattr(inbox, "add_inbound_message", original)
    monkeypatch.setattr(inbox, "RETRY_SECONDS", 0.05)
    worker = asyncio.create_task(inbox.run(runtime))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if await count(runtime, Message):
                break
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert await count(runtime, Message) == 1
    async with runtime.read() as session:
        assert await session.scalar(select(InboundRecord.status)) == "processed"
