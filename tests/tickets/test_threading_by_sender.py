"""Conversational channels thread by sender: a customer's next SMS or WhatsApp message within
the conversation window continues their ticket, through the API like through any adapter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tickets.actions import Actor, update_ticket
from tickets.models import OutboxMessage, Ticket
from tresen.clock import FrozenClock

ANNA_SMS = {"kind": "phone", "value": "+49 151 2345678", "name": "Anna Berg"}


@pytest.fixture
def clock(runtime):
    """Time moves only when a test says so; messages are stamped by this clock."""
    runtime.clock = FrozenClock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    return runtime.clock


def sms(external_id: str, text: str, at: str, sender=ANNA_SMS, channel="sms") -> dict:
    return {
        "channel": channel,
        "external_id": external_id,
        "from": sender,
        "text": text,
        "received_at": at,
    }


async def _post(client, headers, body) -> dict:
    answer = await client.post("/api/v1/inbound", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()


async def test_two_sms_a_minute_apart_continue_one_ticket(client, agent_headers, clock):
    first = await _post(client, agent_headers, sms("SM1", "Router blinkt", "2026-12-01T10:00:00Z"))
    clock.advance(timedelta(minutes=1))
    second = await _post(client, agent_headers, sms("SM2", "Immer noch", "2026-12-01T10:01:00Z"))
    assert second["ticket_id"] == first["ticket_id"]
    other = {"kind": "phone", "value": "+49 170 1111111"}
    stranger = await _post(
        client, agent_headers, sms("SM3", "Andere Frage", "2026-12-01T10:02:00Z", sender=other)
    )
    assert stranger["ticket_id"] != first["ticket_id"]  # another sender, another ticket
    email = {
        "channel": "email",
        "external_id": "<m1@x>",
        "from": {"kind": "email", "value": "anna@example.com"},
        "subject": "Eine Frage",
        "text": "a",
    }
    mail_a = await _post(client, agent_headers, email)
    mail_b = await _post(
        client, agent_headers, {**email, "external_id": "<m2@x>", "subject": "Andere"}
    )
    assert mail_a["ticket_id"] != mail_b["ticket_id"]  # mail never threads by sender


async def test_after_the_window_a_new_ticket_opens(client, agent_headers, clock):
    first = await _post(client, agent_headers, sms("SM1", "Router blinkt", "2026-12-01T10:00:00Z"))
    clock.advance(timedelta(hours=23))
    inside = await _post(client, agent_headers, sms("SM2", "Noch da?", "2026-12-02T09:00:00Z"))
    assert inside["ticket_id"] == first["ticket_id"]
    clock.advance(timedelta(hours=24, minutes=1))  # a day after the last message
    later = await _post(client, agent_headers, sms("SM3", "Neues Problem", "2026-12-03T09:01:00Z"))
    assert later["ticket_id"] != first["ticket_id"]


async def test_a_whatsapp_follow_up_to_a_pending_ticket_continues_it(
    client, runtime, agent_headers, clock
):
    sender = {"kind": "whatsapp", "value": "+49 151 7654321"}
    body = sms("wamid.1", "Rechnung fehlt", "2026-12-01T09:00:00Z", sender, "whatsapp")
    first = await _post(client, agent_headers, body)
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, first["ticket_id"])
        await update_ticket(tx, ticket, {"state": "pending"}, Actor())
    clock.advance(timedelta(hours=6))
    body = sms("wamid.2", "Hier die Nummer: 4711", "2026-12-01T15:00:00Z", sender, "whatsapp")
    again = await _post(client, agent_headers, body)
    assert again["ticket_id"] == first["ticket_id"]
    async with runtime.read() as session:
        assert (await session.get(Ticket, first["ticket_id"])).state == "open"


async def test_a_closed_conversation_gets_a_follow_up_ticket(client, runtime, agent_headers):
    first = await _post(client, agent_headers, sms("SM1", "Router blinkt", "2026-12-01T10:00:00Z"))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, first["ticket_id"])
        await update_ticket(tx, ticket, {"state": "closed"}, Actor())
    again = await _post(client, agent_headers, sms("SM2", "Nochmal", "2026-12-01T10:05:00Z"))
    assert again["ticket_id"] != first["ticket_id"]
    async with runtime.read() as session:
        follow_up = await session.get(Ticket, again["ticket_id"])
    assert follow_up.follow_up_of_id == first["ticket_id"]


async def test_the_window_is_a_setting(client, runtime, agent_headers, monkeypatch, clock):
    from dataclasses import replace

    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, conversation_hours=0.5))
    first = await _post(client, agent_headers, sms("SM1", "a", "2026-12-01T10:00:00Z"))
    clock.advance(timedelta(minutes=20))
    inside = await _post(client, agent_headers, sms("SM2", "b", "2026-12-01T10:20:00Z"))
    clock.advance(timedelta(minutes=40))
    outside = await _post(client, agent_headers, sms("SM3", "c", "2026-12-01T11:00:00Z"))
    assert inside["ticket_id"] == first["ticket_id"] != outside["ticket_id"]


async def test_a_reply_no_channel_can_deliver_is_refused_at_once(client, runtime, agent_headers):
    sender = {"kind": "whatsapp", "value": "+49 151 7654321"}
    first = await _post(
        client, agent_headers, sms("wamid.1", "Hallo?", "2026-12-01T09:00:00Z", sender, "whatsapp")
    )
    answer = await client.post(
        f"/api/v1/tickets/{first['ticket_id']}/messages",
        headers=agent_headers,
        json={"text": "Wir melden uns."},
    )
    assert answer.status_code in (400, 422), answer.text
    assert "WhatsApp" in answer.text
    note = await client.post(
        f"/api/v1/tickets/{first['ticket_id']}/messages",
        headers=agent_headers,
        json={"text": "intern", "internal": True},
    )
    assert note.status_code == 201, note.text
    async with runtime.read() as session:
        assert list(await session.scalars(select(OutboxMessage))) == []


def test_the_window_setting_is_read_and_checked(tmp_path):
    from tresen.settings import Settings, SettingsError

    env = {"TRESEN_SECRET_KEY": "k", "TRESEN_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).conversation_hours == 24
    assert Settings.from_env({**env, "TRESEN_CONVERSATION_HOURS": "2"}).conversation_hours == 2
    with pytest.raises(SettingsError, match="TRESEN_CONVERSATION_HOURS='soon'"):
        Settings.from_env({**env, "TRESEN_CONVERSATION_HOURS": "soon"})


async def test_messages_from_one_sender_at_once_continue_one_ticket(runtime, clock):
    from tickets.inbox import receive
    from tresen.inbound import InboundMessage

    def message(n: int) -> InboundMessage:
        return InboundMessage.model_validate(
            {
                "channel": "sms",
                "external_id": f"SM-{n}",
                "from": {"kind": "phone", "value": "+49 160 5550000"},
                "text": f"Teil {n} einer langen Nachricht",
            }
        )

    earlier = await receive(runtime, message(0))  # a known customer, an old conversation
    clock.advance(timedelta(days=3))
    results = await asyncio.gather(*(receive(runtime, message(n)) for n in range(1, 6)))
    assert len({result.ticket_id for result in results}) == 1
    async with runtime.read() as session:
        tickets = list(await session.scalars(select(Ticket)))
    assert len(tickets) == 2 and earlier.ticket_id not in {r.ticket_id for r in results}


async def test_a_sender_the_channel_does_not_reach_is_refused(client, runtime, agent_headers):
    body = sms("SM1", "Hallo", "2026-12-01T10:00:00Z", {"kind": "email", "value": "a@b.example"})
    answer = await client.post("/api/v1/inbound", json=body, headers=agent_headers)
    assert answer.status_code == 422 and "phone" in answer.text
    whatsapp_by_number = sms("wamid.9", "Hallo", "2026-12-01T10:00:00Z", ANNA_SMS, "whatsapp")
    assert (await _post(client, agent_headers, whatsapp_by_number))["ticket_id"]


async def test_a_staff_reply_with_nobody_to_go_to_is_refused(client, runtime, agent_headers):
    first = await _post(client, agent_headers, sms("SM1", "Hallo", "2026-12-01T10:00:00Z"))
    answer = await client.post(
        f"/api/v1/tickets/{first['ticket_id']}/messages",
        headers=agent_headers,
        json={"text": "Per Mail?", "channel": "email"},
    )
    assert answer.status_code in (400, 422) and "email" in answer.text.lower(), answer.text
    async with runtime.read() as session:
        assert list(await session.scalars(select(OutboxMessage))) == []
