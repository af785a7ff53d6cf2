"""Email ingest: real mail from ../shared/data/mail, from a Dovecot mailbox to stored tickets.

    python -m bench.email_ingest                      # 2000 messages, SQLite
    python -m bench.email_ingest --messages 5000 --postgres

Fills a fresh Dovecot mailbox with N messages taken from the shared corpus in turn
(repeated as needed, each with a unique Message-ID), then times the fetcher from the
first IMAP command until every message is stored and flagged, and checks that each
was stored exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time

from sqlalchemy import func, select

from bench.common import database_urls, migrated_runtime
from channels.email import fetch
from channels.email.accounts import create_account
from tests.support import SHARED, Dovecot
from tickets.models import InboundRecord, Ticket

MAIL = SHARED / "data" / "mail"
_MESSAGE_ID = re.compile(rb"^Message-ID:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n", re.I | re.M)


def corpus() -> list[bytes]:
    files = sorted(
        p
        for p in MAIL.rglob("*")
        if p.is_file() and p.name != "LICENSE" and "mailbox" not in p.parts
    )
    return [path.read_bytes() for path in files]


def with_message_id(raw: bytes, number: int) -> bytes:
    """The message with its own Message-ID (the first header replaced, or one added)."""
    header = f"Message-ID: <bench-{number}@email-ingest.example>\r\n".encode()
    head_end = raw.find(b"\n\n")
    head_end = raw.find(b"\r\n\r\n") if head_end == -1 else head_end
    head = raw[: head_end if head_end != -1 else len(raw)]
    if _MESSAGE_ID.search(head):
        return _MESSAGE_ID.sub(header.replace(b"\\", b"\\\\"), raw, count=1)
    return header + raw


async def fill(dovecot: Dovecot, count: int) -> int:
    messages = corpus()
    client = await dovecot.client()
    size = 0
    try:
        for number in range(count):
            raw = with_message_id(messages[number % len(messages)], number)
            size += len(raw)
            answer = await client.append(raw, mailbox="INBOX")
            if answer.result != "OK":
                raise RuntimeError(f"APPEND failed: {answer}")
    finally:
        await client.logout()
    return size


async def run(database_url: str, count: int) -> dict:
    dovecot = Dovecot()
    dovecot.start()
    try:
        size = await fill(dovecot, count)
        runtime = await migrated_runtime(database_url)
        async with runtime.transaction() as tx:
            account = await create_account(
                tx, address="support@tresen.test", imap_url=dovecot.url()
            )
        fetcher = fetch.fetcher_for(runtime, account)
        started = time.perf_counter()
        cpu_started = time.process_time()
        result = await fetcher.fetch_once()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        await fetcher.close()
        async with runtime.read() as session:
            stored = await session.scalar(select(func.count(InboundRecord.id)))
            tickets = await session.scalar(select(func.count(Ticket.id)))
            statuses = dict(
                (
                    await session.execute(
                        select(InboundRecord.status, func.count()).group_by(InboundRecord.status)
                    )
                ).all()
            )
        await runtime.close()
    finally:
        dovecot.stop()
    return {
        "messages": count,
        "megabytes": size / 1e6,
        "fetched": result.stored,
        "stored": stored,
        "tickets": tickets,
        "statuses": statuses,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "cpu_ms_per_message": cpu / count * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster")
    args = parser.parse_args(argv)
    with database_urls(args.postgres) as (url,):
        figures = asyncio.run(run(url, args.messages))
    print(
        f"engine={url.split('+', 1)[0]} messages={figures['messages']} "
        f"({figures['megabytes']:.1f} MB of real mail from {MAIL})"
    )
    print(f"throughput: {figures['per_second']:.0f} messages/s ({figures['seconds']:.2f} s)")
    print(f"CPU per message (this process; Dovecot apart): {figures['cpu_ms_per_message']:.2f} ms")
    print(
        f"stored: {figures['stored']} {figures['statuses']}, tickets: {figures['tickets']}, "
        f"fetched: {figures['fetched']}"
    )
    ok = figures["stored"] == figures["messages"] == figures["fetched"]
    if not ok:
        print("FAILED: messages were lost or doubled", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
