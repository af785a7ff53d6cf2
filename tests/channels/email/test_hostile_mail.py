"""The shared corpus's hostile reproducers through the real receive path: each becomes a
ticket of its real sender within a second, and no mail, however slow to read, stops the
server or is refused (over SMTP a refusal is a 451 the sender retries for days, then
bounces: the customer's mail never arrives).
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from dataclasses import replace

import aiosmtplib
import pytest
from sqlalchemy import select

from channels.email import fetch, receive
from channels.email.accounts import create_account
from channels.email.parse import PARSER, ParserProcess
from customers.models import Identity
from tests.fixtures import MAIL_CORPUS
from tests.support import free_port
from tickets.models import Attachment, InboundRecord, Message, Ticket
from tresen.email_address import normalize_email
from tresen.runtime import Runtime

HOSTILE = sorted((MAIL_CORPUS / "hostile").glob("*.eml"))
ACCOUNT = "support@tresen.test"


def first_sender(raw: bytes) -> str:
    """The address of a mail's first From line, found independently of the parser."""
    line = re.search(rb"^From:(.*)$", raw, re.MULTILINE | re.IGNORECASE).group(1)
    words = re.split(r"[\s<>:,;]+", line.decode("latin-1"))
    return normalize_email(next(word for word in reversed(words) if "@" in word))


@pytest.fixture
async def listener(settings):
    """The app's SMTP receiver on a free port, for the account support@tresen.test."""
    options = {**settings.channel_options, "email.smtp_port": free_port()}
    runtime = Runtime.create(replace(settings, channel_options=options))
    await runtime.start()
    async with runtime.transaction() as tx:
        await create_account(tx, address=ACCOUNT, smtp_url="smtp://127.0.0.1:1")
    task = asyncio.create_task(receive.run(runtime))
    await asyncio.sleep(0.2)
    yield runtime
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await runtime.close()


async def send(runtime, raw: bytes):
    return await aiosmtplib.send(
        raw,
        sender="kim@example.com",
        recipients=[ACCOUNT],
        hostname="127.0.0.1",
        port=runtime.settings.option("email", "smtp_port"),
        start_tls=False,
        timeout=60,
    )


async def stored(runtime) -> tuple[InboundRecord, Ticket, Identity]:
    """The one inbox record, its ticket and the ticket's customer's identity."""
    async with runtime.read() as session:
        record = await session.scalar(select(InboundRecord))
        ticket = await session.get(Ticket, record.ticket_id)
        identity = await session.scalar(
            select(Identity).where(Identity.customer_id == ticket.customer_id)
        )
    return record, ticket, identity


@pytest.mark.parametrize("path", HOSTILE, ids=[path.stem for path in HOSTILE])
async def test_each_hostile_mail_becomes_a_ticket_of_its_sender_within_a_second(listener, path):
    raw = path.read_bytes()  # read from the shared corpus by path, never copied
    await PARSER.parse(b"From: warm@example.test\r\n\r\nx")  # the worker is started once
    started = time.perf_counter()
    refused, answer = await send(listener, raw)
    elapsed = time.perf_counter() - started
    assert not refused and answer.startswith("OK stored")
    record, ticket, identity = await stored(listener)
    assert record.status == "processed" and ticket.subject == "x"
    assert identity.value == first_sender(raw)
    source = base64.b64decode(record.payload["raw"]["rfc822_base64"])
    assert source in (raw, raw + b"\r\n")  # SMTP ends the last line of DATA
    # The bound the issue sets. Parsing the slowest here (10,000 From lines, the HTML of
    # 50,000 "<!--") takes 0.06 s in the worker on a loaded two-core machine, the SMTP
    # transaction and storing it tens of ms more: a wide margin. Before, 6 to 27 s.
    assert elapsed < 1.0, f"{path.name} took {elapsed:.2f} s"


def stall(raw: bytes, account: str | None):
    """A parse that never ends (sent by name to the worker process)."""
    time.sleep(600)


async def test_a_mail_the_parser_cannot_finish_is_accepted_and_kept_with_its_sender(
    listener, monkeypatch
):
    stalling = ParserProcess(seconds=1, parse=stall)
    monkeypatch.setattr(receive, "PARSER", stalling)
    raw = (MAIL_CORPUS / "hostile" / "repro-nested-mp-1000.eml").read_bytes()
    ticks = 0

    async def heartbeat():  # what every other request of the server needs: a free loop
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    try:
        refused, answer = await send(listener, raw)  # raises SMTPDataError on a 451
    finally:
        beating.cancel()
        stalling.stop()
    assert not refused and answer.startswith("OK stored")  # 250
    # The loop ran on while the worker stalled for a second (50 ticks if nothing else ran).
    assert ticks >= 10
    record, ticket, identity = await stored(listener)
    assert (identity.value, ticket.subject) == ("a@example.test", "x")
    async with listener.read() as session:
        message = await session.scalar(select(Message))
    assert "could not be read (TimeoutError)" in message.notices[0]
    assert base64.b64decode(record.payload["raw"]["rfc822_base64"]) == raw


async def test_the_parser_starts_again_after_its_process_died():
    parser = ParserProcess()
    mail = b"From: Kim <kim@example.test>\r\nSubject: Hallo\r\nMessage-ID: <p@x>\r\n\r\nText\r\n"
    try:
        assert (await parser.parse(mail)).sender.value == "kim@example.test"
        parser._process.kill()
        parser._process.join()
        again = await parser.parse(mail)
        assert (again.sender.value, again.subject, again.notices) == (
            "kim@example.test",
            "Hallo",
            [],
        )
    finally:
        parser.stop()


NUL_MAIL = (
    b'From: "Kim\x00 Meyer" <kim@example.test>\r\nTo: support@tresen.test\r\n'
    b"Subject: Drucker\x00 kaputt\r\nMessage-ID: <nul@example.test>\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDer Drucker\x00 druckt nicht.\r\n"
    b"--b\r\nContent-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="Rech\x00nung.pdf"\r\n\r\n%PDF\x00\r\n'
    b"--b--\r\n"
)


async def test_a_mail_with_nul_bytes_becomes_a_ticket(listener):
    refused, answer = await send(listener, NUL_MAIL)
    assert not refused and answer.startswith("OK stored")
    record, ticket, identity = await stored(listener)
    assert record.status == "processed", record.error
    assert (ticket.subject, identity.value) == ("Drucker kaputt", "kim@example.test")
    async with listener.read() as session:
        message = await session.scalar(select(Message))
        attachment = await session.scalar(select(Attachment))
    assert message.text.strip() == "Der Drucker druckt nicht."
    assert attachment.filename == "Rechnung.pdf"
    assert base64.b64decode(record.payload["raw"]["rfc822_base64"]) == NUL_MAIL


async def test_a_mail_the_parser_cannot_finish_keeps_its_sender_over_imap(
    runtime, dovecot, monkeypatch
):
    stalling = ParserProcess(seconds=1, parse=stall)
    monkeypatch.setattr(fetch, "PARSER", stalling)
    raw = (MAIL_CORPUS / "hostile" / "repro-nested-rfc822-400.eml").read_bytes()
    await dovecot.append(raw)
    async with runtime.transaction() as tx:
        mail_account = await create_account(tx, address=ACCOUNT, imap_url=dovecot.url())
    box = fetch.fetcher_for(runtime, mail_account)
    try:
        assert (await box.fetch_once()).stored == 1
    finally:
        await box.close()
        stalling.stop()
    record, ticket, identity = await stored(runtime)
    assert (identity.value, ticket.subject) == ("a@example.test", "x")
