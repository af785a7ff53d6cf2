"""Inbound throughput: N generated messages from K customers through the inbox, in one process.

    python -m bench.ingest                       # SQLite in a temporary directory
    python -m bench.ingest --postgres            # a throwaway PostgreSQL cluster
    python -m bench.ingest --database-url postgresql://user@host:5432/db

A share of the messages are replies (half by ticket number in the subject, half by
In-Reply-To) that must land in their customer's existing ticket; the run checks it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time

from sqlalchemy import func, select

from bench.common import database_urls, migrated_runtime
from tickets.inbox import receive
from tickets.models import Message, Ticket
from tresen.inbound import InboundMessage
from tresen.settings import normalize_database_url

WORDS = (
    "Rechnung Lieferung Passwort Konto Zahlung Bestellung Rücksendung Drucker Zugang "
    "invoice delivery password account refund order broken login please help urgent "
    "heute morgen seit gestern funktioniert nicht mehr bitte prüfen"
).split()


def generate(count: int, customers: int, reply_share: float, seed: int = 7):
    """Messages in arrival order, each with the key of the thread it must land in."""
    rng = random.Random(seed)
    last_by_customer: dict[int, tuple[str, int]] = {}  # customer -> (message id, thread key)
    threads = 0
    for index in range(count):
        customer = rng.randrange(customers)
        external_id = f"<bench-{index}@customer{customer}.example>"
        body = {
            "channel": "email",
            "external_id": external_id,
            "from": {
                "kind": "email",
                "value": f"customer{customer}@bench.example",
                "name": f"Customer {customer}",
            },
            "text": " ".join(rng.choices(WORDS, k=40)),
        }
        previous = last_by_customer.get(customer)
        if previous and rng.random() < reply_share:
            previous_id, thread = previous
            if index % 2:
                body["in_reply_to"] = previous_id
                body["subject"] = "Re: Nachfrage"
            else:
                body["subject"] = f"AW: [#THREAD{thread}] Nachfrage"
        else:
            threads += 1
            thread = threads
            body["subject"] = " ".join(rng.choices(WORDS, k=5))
        last_by_customer[customer] = (external_id, thread)
        yield thread, body


async def run(database_url: str, count: int, customers: int, reply_share: float) -> dict:
    runtime = await migrated_runtime(database_url)
    number_of_thread: dict[int, int] = {}
    ticket_of_thread: dict[int, int] = {}
    latencies, misthreaded = [], 0
    messages = list(generate(count, customers, reply_share))
    started = time.perf_counter()
    cpu_started = time.process_time()
    for thread, body in messages:
        if thread in number_of_thread:
            body["subject"] = body["subject"].replace(
                f"THREAD{thread}", str(number_of_thread[thread])
            )
        inbound = InboundMessage.model_validate(body)
        began = time.perf_counter()
        result = await receive(runtime, inbound)
        latencies.append(time.perf_counter() - began)
        expected = ticket_of_thread.setdefault(thread, result.ticket_id)
        number_of_thread.setdefault(thread, result.ticket_number)
        misthreaded += expected != result.ticket_id
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    async with runtime.read() as session:
        stored = await session.scalar(select(func.count(Message.id)))
        tickets = await session.scalar(select(func.count(Ticket.id)))
    await runtime.close()
    latencies.sort()
    return {
        "messages": count,
        "seconds": elapsed,
        "cpu_ms_per_message": cpu / count * 1000,
        "per_second": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "replies": count - len(ticket_of_thread),
        "tickets": tickets,
        "stored": stored,
        "misthreaded": misthreaded,
        "expected_tickets": len(ticket_of_thread),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--reply-share", type=float, default=0.3)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--database-url")
    group.add_argument(
        "--postgres", action="store_true", help="start a throwaway PostgreSQL cluster for the run"
    )
    args = parser.parse_args(argv)

    with database_urls(args.postgres) as (url,):
        url = normalize_database_url(args.database_url) if args.database_url else url
        figures = asyncio.run(run(url, args.messages, args.customers, args.reply_share))
    engine = url.split("+", 1)[0]
    print(
        f"engine={engine} messages={figures['messages']} customers={args.customers} "
        f"replies={figures['replies']}"
    )
    print(f"throughput: {figures['per_second']:.0f} messages/s ({figures['seconds']:.2f} s)")
    print(f"latency per message: p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms")
    # CPU time is steadier than wall time on a shared machine: compare changes by it.
    print(f"CPU per message: {figures['cpu_ms_per_message']:.2f} ms")
    print(
        f"tickets: {figures['tickets']} (expected {figures['expected_tickets']}), "
        f"messages stored: {figures['stored']}, misthreaded: {figures['misthreaded']}"
    )
    ok = (
        figures["misthreaded"] == 0
        and figures["stored"] == figures["messages"]
        and figures["tickets"] == figures["expected_tickets"]
    )
    if not ok:
        print("FAILED: messages were lost, doubled or misthreaded", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
