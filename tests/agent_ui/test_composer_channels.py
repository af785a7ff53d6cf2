"""The composer offers only identities a channel can send to, and says why before writing."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.fixtures import csrf_of, sign_in
from tickets.models import Message, OutboxMessage

WHATSAPP = {
    "channel": "whatsapp",
    "external_id": "wamid.1",
    "from": {"kind": "whatsapp", "value": "+49 151 7654321", "name": "Paula Schneider"},
    "text": "Wo bleibt meine Lieferung?",
}


async def test_whatsapp_only_customer_cannot_be_answered_and_is_told_why(
    client, runtime, agent, agent_headers
):
    created = (await client.post("/api/v1/inbound", json=WHATSAPP, headers=agent_headers)).json()
    await sign_in(client)
    page = await client.get(f"/tickets/{created['ticket_id']}")
    assert "Tresen cannot reply on WhatsApp yet" in page.text
    assert 'name="send_via"' not in page.text  # nothing to choose from
    answer = await client.post(
        f"/tickets/{created['ticket_id']}/messages",
        data={"text": "Wir kümmern uns.", "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code == 422 and "WhatsApp" in answer.text
    async with runtime.read() as session:
        assert list(await session.scalars(select(OutboxMessage))) == []
        texts = [m.text for m in await session.scalars(select(Message))]
    assert "Wir kümmern uns." not in texts  # refused whole, not half written

    german = await client.post(
        "/settings",
        data={"locale": "de", "timezone": "Europe/Berlin", "csrf_token": csrf_of(page.text)},
    )
    assert german.status_code in (200, 303)
    page = await client.get(f"/tickets/{created['ticket_id']}")
    assert "Über WhatsApp kann Tresen noch nicht antworten" in page.text


async def test_customer_with_email_too_is_offered_email_and_warned_of_no_account(
    client, runtime, agent, agent_headers
):
    created = (await client.post("/api/v1/inbound", json=WHATSAPP, headers=agent_headers)).json()
    ticket = (
        await client.get(f"/api/v1/tickets/{created['ticket_id']}", headers=agent_headers)
    ).json()
    linked = await client.post(
        f"/api/v1/customers/{ticket['customer']['id']}/identities",
        headers=agent_headers,
        json={"kind": "email", "value": "paula@example.com"},
    )
    assert linked.status_code in (200, 201), linked.text
    await sign_in(client)
    page = await client.get(f"/tickets/{created['ticket_id']}")
    assert 'value="email:paula@example.com"' in page.text
    assert 'value="whatsapp:' not in page.text
    assert "Tresen cannot reply on WhatsApp yet" in page.text
    assert "no active mail account with an SMTP server" in page.text
    sent = await client.post(
        f"/tickets/{created['ticket_id']}/messages",
        data={
            "text": "Per Mail: wir kümmern uns.",
            "send_via": "email:paula@example.com",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert sent.status_code == 303
    async with runtime.read() as session:
        row = await session.scalar(select(OutboxMessage))
    assert (row.channel, row.recipient) == ("email", "paula@example.com")


async def test_an_address_two_channels_reach_is_chosen_on_the_tickets_own(
    client, agent, agent_headers
):
    """An e-mail address is reached by mail and by the portal (which mails a link): the
    composer selects one option, the ticket's own channel, not the last one listed."""
    mail = {
        "channel": "email",
        "external_id": "<frage-1@example.com>",
        "from": {"kind": "email", "value": "kim@example.com", "name": "Kim Meyer"},
        "subject": "Drucker",
        "text": "Er druckt nicht.",
    }
    created = (await client.post("/api/v1/inbound", json=mail, headers=agent_headers)).json()
    await sign_in(client)
    page = (await client.get(f"/tickets/{created['ticket_id']}")).text
    assert 'value="portal:kim@example.com"' in page  # the portal reaches her too
    send_via = re.search(r'<select name="send_via">(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="([^"]+)" selected', send_via) == ["email:kim@example.com"]
