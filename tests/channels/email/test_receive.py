"""Mail forwarded to Tresen by SMTP: accepted for our addresses only, 250 only once stored."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiosmtplib
import pytest
from sqlalchemy import func, select

from channels.email import receive
from channels.email.accounts import create_account
from tests.support import free_port
from tickets.models import InboundRecord, Message
from tresen import rooms
from tresen.runtime import Runtime


@pytest.fixture
async def listener(settings):
    options = {**settings.channel_options, "email.smtp_port": free_port()}
    runtime = Runtime.create(replace(settings, channel_options=options))
    await runtime.start()
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url="smtp://127.0.0.1:1")
    task = asyncio.create_task(receive.run(runtime))
    await asyncio.sleep(0.2)
    yield runtime
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await runtime.close()


def mail(n: int, line: str = "Hallo") -> bytes:
    return (
        f"From: Kim <kim@example.com>\r\nTo: support@tresen.test\r\nSubject: Frage {n}\r\n"
        f"Message-ID: <smtp-{n}@example.com>\r\n\r\n{line}\r\n"
    ).encode()


async def send(runtime, raw: bytes, to: str = "support@tresen.test"):
    return await aiosmtplib.send(
        raw,
        sender="kim@example.com",
        recipients=[to],
        hostname="127.0.0.1",
        port=runtime.settings.option("email", "smtp_port"),
        start_tls=False,
        timeout=10,
    )


async def count(runtime, model) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_mail_for_our_address_is_stored_before_it_is_accepted(listener):
    await send(listener, mail(1, line="x" * 5000))  # a line past RFC 5321's 1000 octets
    async with listener.read() as session:
        message = await session.scalar(select(Message))
    assert message.subject == "Frage 1" and message.recipient == "support@tresen.test"
    assert len(message.text.strip()) == 5000


async def test_mail_for_other_addresses_is_refused(listener):
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(listener, mail(2), to="someone@elsewhere.example")
    assert refused.value.recipients[0].code == 550
    assert await count(listener, InboundRecord) == 0


async def test_when_it_cannot_be_stored_the_sender_is_told_to_try_again(listener, monkeypatch):
    async def database_away(runtime, inbound):
        raise ConnectionError("database is away")

    monkeypatch.setattr(rooms, "deliver", database_away)
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(listener, mail(3))
    assert refused.value.code == 451
    monkeypatch.undo()
    await send(listener, mail(3))  # the sending server's retry
    await send(listener, mail(3))  # and a second one: still one message
    assert await count(listener, Message) == 1
