"""The confirmation of a new ticket is no relay: it repeats nothing the sender wrote, goes to
no address whose mail failed SPF or DMARC, and is limited for all addresses together."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from channels.email.accounts import create_account
from channels.email.loops import unauthenticated_reason
from channels.email.mime import parse_bytes
from channels.email.parse import parse_message
from routing.actions import create_rule
from tickets.inbox import deliver
from tickets.models import Message, OutboxMessage
from tickets.outbox import deliver_due
from tickets.queues import create_queue
from tresen.clock import FrozenClock

LINK = "https://evil.example/verify"


def mail(n: int, *, sender: str = "victim@example.org", headers: str = "") -> bytes:
    """A new request whose display name and subject are a phisher's words."""
    return (
        f'From: "Verify at {LINK} now" <{sender}>\r\n'
        "To: support@tresen.test\r\n"
        f"Subject: Your account is locked, verify at {LINK}\r\n"
        f"Message-ID: <phish-{n}@example.org>\r\n"
        f"{headers}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hallo, bitte helfen Sie mir.\r\n"
    ).encode()


async def confirming_desk(runtime, smtp_url: str | None = None) -> int:
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Support")
        queue.acknowledge = True
        await create_account(
            tx, address="support@tresen.test", smtp_url=smtp_url, queue_id=queue.id
        )
    return queue.id


async def receive_mail(runtime, raw: bytes, queue_id: int):
    parsed = parse_message(raw, account="support@tresen.test")
    return await deliver(runtime, parsed.model_copy(update={"queue_id": queue_id}))


async def confirmations(runtime) -> int:
    async with runtime.read() as session:
        return await session.scalar(
            select(func.count(Message.id)).where(Message.auto_submitted == "auto-replied")
        )


@pytest.mark.parametrize("rule_text", [None, "Hallo {name}, zu {subject}: Ticket {number}."])
async def test_the_confirmation_repeats_no_name_no_subject_and_no_link(
    runtime, smtp_server, rule_text
):
    queue_id = await confirming_desk(runtime, smtp_server.url())
    if rule_text:
        async with runtime.transaction() as tx:
            await create_rule(tx, name="all", conditions=[], actions={"auto_reply": rule_text})
    result = await receive_mail(runtime, mail(1), queue_id)
    while await deliver_due(runtime):
        pass

    [(_sender, recipients, raw)] = smtp_server.received
    assert recipients == ["victim@example.org"]
    sent = raw.decode("utf-8", "replace")
    [confirmation] = smtp_server.messages()
    body = confirmation.get_body(("plain",)).get_content()
    assert f"#{result.ticket_number}" in confirmation["Subject"] + body
    for echoed in ("evil.example", "Verify at", "verify at", "locked", "https://"):
        assert echoed not in sent, echoed
        assert echoed not in confirmation["Subject"] and echoed not in body, echoed
    if rule_text:
        # {name} dropped, {subject} the confirmation's own (in the language detected).
        assert body.startswith("Hallo, zu ") and f"Ticket {result.ticket_number}." in body


@pytest.mark.parametrize(
    "headers",
    [
        "Authentication-Results: mx.tresen.test; spf=fail smtp.mailfrom=example.org\r\n",
        "Authentication-Results: mx.tresen.test; spf=softfail (not permitted) "
        "smtp.mailfrom=example.org; dkim=none; dmarc=none\r\n",
        "Authentication-Results: mx.tresen.test; spf=pass smtp.mailfrom=evil.example;\r\n"
        "  dkim=none; dmarc=fail (p=reject) header.from=example.org\r\n",
        "Received-SPF: fail (mx.tresen.test: domain of example.org does not designate "
        "192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n",
        # A forger's own "pass" below the receiving server's "fail" changes nothing.
        "Authentication-Results: mx.tresen.test; spf=fail smtp.mailfrom=example.org\r\n"
        "Authentication-Results: mx.tresen.test; spf=pass; dmarc=pass\r\n",
    ],
    ids=["spf-fail", "spf-softfail", "dmarc-fail", "received-spf-fail", "forged-pass"],
)
async def test_no_confirmation_to_a_sender_that_failed_spf_or_dmarc(runtime, headers):
    queue_id = await confirming_desk(runtime)
    result = await receive_mail(runtime, mail(1, headers=headers), queue_id)
    assert result.ticket_id is not None  # the request itself is kept as always
    assert await confirmations(runtime) == 0


@pytest.mark.parametrize(
    "headers",
    [
        "",
        "Authentication-Results: mx.tresen.test; spf=pass smtp.mailfrom=example.org; "
        "dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n",
        # Forwarded on: SPF fails at the last hop, but DKIM and so DMARC still pass.
        "Authentication-Results: mx.tresen.test; spf=fail smtp.mailfrom=list.example; "
        "dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n",
        "Authentication-Results: mx.tresen.test; spf=neutral; dmarc=none\r\n",
    ],
    ids=["no-results", "all-pass", "forwarded", "neutral"],
)
async def test_a_sender_that_passed_or_was_not_checked_is_confirmed(runtime, headers):
    queue_id = await confirming_desk(runtime)
    await receive_mail(runtime, mail(1, headers=headers), queue_id)
    assert await confirmations(runtime) == 1


def test_only_the_messages_own_headers_count_not_an_enclosed_mails():
    enclosed = (
        b"From: a@example.org\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Authentication-Results: mx.example; dmarc=fail\r\nFrom: b@example.org\r\n\r\nHi\r\n"
    )
    assert unauthenticated_reason(parse_bytes(enclosed)) is None
    comment = b"Authentication-Results: mx.example; spf=pass (was spf=fail before)\r\n\r\nHi"
    assert unauthenticated_reason(parse_bytes(comment)) is None


async def test_confirmations_to_all_addresses_together_are_limited(runtime):
    runtime.settings = replace(runtime.settings, auto_replies_total_per_hour=3)
    queue_id = await confirming_desk(runtime)
    for n in range(6):  # six forged senders, one mail each: under the per-address limit
        await receive_mail(runtime, mail(n, sender=f"victim{n}@example.org"), queue_id)
    assert await confirmations(runtime) == 3
    runtime.clock = FrozenClock(runtime.clock.now() + timedelta(hours=1, minutes=1))
    await receive_mail(runtime, mail(9, sender="later@example.org"), queue_id)
    assert await confirmations(runtime) == 4
    async with runtime.read() as session:
        tickets = await session.scalar(select(func.count(func.distinct(Message.ticket_id))))
        queued = await session.scalar(select(func.count(OutboxMessage.id)))
    assert tickets == 7 and queued == 4  # every request is a ticket; only four confirmed
