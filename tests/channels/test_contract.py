"""The channel contract: a channel defined only here, in the test suite, plugs into the whole
desk by registering itself — signed webhook in, ticket, threading, reply out, console."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import func, select

from tests.fixtures import csrf_of, sign_in
from tickets import outbox
from tickets.models import InboundRecord, Message, Ticket
from tresen import channel as channel_registry
from tresen.channel import PHONE, Channel, Threading
from tresen.inbound import InboundMessage
from tresen.webhooks import WebhookPayloadError, hmac_sha256_hex, verify_hmac_sha256, webhook_route

SECRET = "fake-sms-webhook-secret"
SENT = []  # what the fake provider was asked to deliver


def _verify(request, body: bytes, _runtime) -> bool:
    return verify_hmac_sha256(request.headers.get("x-fake-signature"), SECRET, body, "sha256=")


def _parse(_request, body: bytes, _runtime) -> list[InboundMessage]:
    form = dict(parse_qsl(body.decode("utf-8", "replace")))
    if not form.get("MessageSid"):
        raise WebhookPayloadError("MessageSid is required")
    form["From"]  # a provider's body without it: KeyError, answered as a bad payload
    return [
        InboundMessage.model_validate(
            {
                "channel": "fakesms",
                "external_id": form["MessageSid"],
                "from": {"kind": "phone", "value": form["From"]},
                "to": form.get("To"),
                "text": form.get("Body", ""),
            }
        )
    ]


async def _send(_runtime, outbound) -> str:
    SENT.append(outbound)
    return f"FAKE-{len(SENT)}"


FAKE_SMS = Channel(
    name="fakesms",
    labels={"en": "Fake SMS", "de": "Test-SMS"},
    identity_kinds=(PHONE,),
    threading=Threading(sender=True),
    send=_send,
    routes=(webhook_route("/webhooks/fakesms", verify=_verify, parse=_parse),),
)


@pytest.fixture
def fake_sms():
    channel_registry.register(FAKE_SMS)
    SENT.clear()
    yield FAKE_SMS
    channel_registry.unregister(FAKE_SMS.name)


@pytest.fixture
def app(fake_sms, app):  # the channel registers before the app is made, as a shipped one would
    return app


def _signed(fields: dict) -> tuple[bytes, dict]:
    body = urlencode(fields).encode()
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-fake-signature": "sha256=" + hmac_sha256_hex(SECRET, body),
    }


async def _records(runtime) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count(InboundRecord.id)))


async def test_a_channel_defined_in_the_tests_works_end_to_end(client, runtime, agent):
    sms = {"From": "0151 2345678", "To": "+4930999", "Body": "Mein Router blinkt rot"}
    body, headers = _signed({"MessageSid": "SM-1", **sms})

    forged = await client.post(
        "/webhooks/fakesms", content=body, headers={**headers, "x-fake-signature": "sha256=00"}
    )
    assert forged.status_code == 403 and "signature" in forged.json()["error"]
    unsigned = await client.post(
        "/webhooks/fakesms", content=body, headers={"content-type": headers["content-type"]}
    )
    assert unsigned.status_code == 403
    assert await _records(runtime) == 0  # nothing of a forged request is kept

    for fields, reason in (({"Body": "no id"}, "MessageSid"), ({"MessageSid": "x"}, "From")):
        bad_body, bad_headers = _signed(fields)
        bad = await client.post("/webhooks/fakesms", content=bad_body, headers=bad_headers)
        assert bad.status_code == 400 and reason in bad.json()["error"]

    assert (
        await client.post("/webhooks/fakesms", content=body, headers=headers)
    ).status_code == 200
    # The provider retries: stored once.
    assert (
        await client.post("/webhooks/fakesms", content=body, headers=headers)
    ).status_code == 200
    body2, headers2 = _signed({"MessageSid": "SM-2", **sms, "Body": "Auch nach Neustart"})
    assert (
        await client.post("/webhooks/fakesms", content=body2, headers=headers2)
    ).status_code == 200

    async with runtime.read() as session:
        tickets = list(await session.scalars(select(Ticket)))
        messages = list(await session.scalars(select(Message).order_by(Message.id)))
    assert [t.channel for t in tickets] == ["fakesms"]  # the second SMS continued the ticket
    assert [m.text for m in messages] == ["Mein Router blinkt rot", "Auch nach Neustart"]
    assert messages[0].sender == "+491512345678"
    ticket = tickets[0]

    await sign_in(client)
    page = await client.get(f"/tickets/{ticket.id}")
    assert "Fake SMS" in page.text
    assert 'value="fakesms:+491512345678"' in page.text  # the composer offers the channel
    sent = await client.post(
        f"/tickets/{ticket.id}/messages",
        data={
            "text": "Bitte ziehen Sie kurz den Stecker.",
            "send_via": "fakesms:+491512345678",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert sent.status_code == 303
    assert await outbox.deliver_due(runtime) == 1
    assert [(m.channel, m.recipient, m.text) for m in SENT] == [
        ("fakesms", "+491512345678", "Bitte ziehen Sie kurz den Stecker.")
    ]

    listed = await client.get("/?channel=fakesms&state=all")
    assert listed.status_code == 200 and "Mein Router blinkt rot" in listed.text
    assert '<option value="fakesms"' in listed.text  # the channel filter offers it
    assert "Mein Router blinkt rot" not in (await client.get("/?channel=email&state=all")).text
    german = await client.get(f"/tickets/{ticket.id}", headers={"accept-language": "de"})
    assert german.status_code == 200


async def test_an_oversized_webhook_is_refused_before_it_is_read(client, runtime):
    body, headers = _signed({"MessageSid": "SM-9", "From": "+4915100000", "Body": "x" * 2_000_000})
    answer = await client.post("/webhooks/fakesms", content=body, headers=headers)
    assert answer.status_code == 413
    assert await _records(runtime) == 0
