"""How fast the console's pages answer with a big desk behind them.

    python -m bench.console                        # 100,000 tickets, 500,000 messages, SQLite
    python -m bench.console --tickets 20000 --requests 50

Fills a database (Core inserts, one transaction per table) with customers, queues, agents,
tickets (15 % open, the rest solved or closed; open ones under an SLA, some at risk or
breached) and five messages a ticket, starts `tresen serve` on it as a person would, signs
in through the login form and times, over HTTP, the first page of every view (built-in,
per queue, sorted by SLA and by priority) and ticket pages of random tickets: p50/p95/p99
of the whole response, read to the end; and the search box.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from bench import common
from bench.common import database_urls, migrated_runtime
from customers.models import Customer, Identity
from tickets.models import Counter, Message, Queue, Ticket, TicketTag
from tickets.states import DONE_STATES, OPEN_STATES
from tresen.accounts import create_user

WORDS = (
    "Rechnung Lieferung Paket Passwort Konto Zahlung Vertrag Drucker Router invoice refund "
    "order delivery password account payment printer please help since yesterday again"
).split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


async def fill(runtime, tickets: int, messages_each: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    customers = max(1, tickets // 5)
    await create_user(
        runtime,
        email="bench@example.com",
        name="Bench Agent",
        role="supervisor",
        password="bench-password",
    )
    agents = [
        (await create_user(runtime, email=f"a{i}@example.com", name=f"Agent {i}", role="agent")).id
        for i in range(20)
    ]
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        await connection.execute(
            insert(Queue),
            [{"name": f"Queue {i}", "description": "", "acknowledge": False} for i in range(5)],
        )
        await connection.execute(
            insert(Customer),
            [
                {
                    "id": i + 1,
                    "name": f"Kunde {i}",
                    "tier": "standard",
                    "notes": "",
                    "consent": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(customers)
            ],
        )
        await connection.execute(
            insert(Identity),
            [
                {
                    "customer_id": i + 1,
                    "kind": "email",
                    "value": f"kunde{i}@x.example",
                    "search_value": f"kunde{i}@x.example",
                    "created_at": now,
                }
                for i in range(customers)
            ],
        )
    rows, tags, open_ids = [], [], []
    for i in range(tickets):
        created = now - timedelta(minutes=(tickets - i) * 3)
        is_open = rng.random() < 0.15
        state = rng.choice(OPEN_STATES) if is_open else rng.choice(DONE_STATES)
        due = warn = None
        if is_open:
            due = now + timedelta(minutes=rng.randint(-600, 2400))
            warn = due - timedelta(minutes=60)
            open_ids.append(i + 1)
        rows.append(
            {
                "id": i + 1,
                "number": 10000 + i,
                "subject": sentence(rng, 6),
                "state": state,
                "priority": rng.choice(("low", "normal", "normal", "normal", "high", "urgent")),
                "channel": "email",
                "customer_id": rng.randint(1, customers),
                "queue_id": rng.randint(1, 5),
                "assignee_id": rng.choice([None, *agents]),
                "created_at": created,
                "updated_at": created + timedelta(minutes=30),
                "solved_at": None if is_open else created + timedelta(hours=2),
                "subject_key": None,
                "sla_due_at": due,
                "sla_warn_at": warn,
            }
        )
        if rng.random() < 0.2:
            tags.append({"ticket_id": i + 1, "tag": rng.choice(("vip", "billing", "bug"))})
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        for start in range(0, len(rows), 20000):
            await connection.execute(insert(Ticket), rows[start : start + 20000])
        if tags:
            await connection.execute(insert(TicketTag), tags)
        await connection.execute(
            insert(Counter), {"name": "ticket_number", "value": 10000 + tickets}
        )
    batch = []
    for ticket in rows:
        for k in range(messages_each):
            inbound = k % 2 == 0
            batch.append(
                {
                    "ticket_id": ticket["id"],
                    "direction": "inbound" if inbound else "outbound",
                    "channel": "email",
                    "internal": False,
                    "author_customer_id": ticket["customer_id"] if inbound else None,
                    "author_user_id": None if inbound else rng.choice(agents),
                    "sender": f"kunde{ticket['customer_id']}@x.example" if inbound else None,
                    "text": f"{sentence(rng, 40)} Bestellnummer {rng.randint(100000, 999999)}",
                    "created_at": ticket["created_at"] + timedelta(minutes=k),
                }
            )
        if len(batch) >= 50000:
            async with runtime.transaction() as tx:
                await (await tx.session.connection()).execute(insert(Message), batch)
            batch = []
    if batch:
        async with runtime.transaction() as tx:
            await (await tx.session.connection()).execute(insert(Message), batch)
    return open_ids


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(client: httpx.Client, url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = client.get(url)
        answer.read()
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return times


def measure(url: str, ticket_ids: list[int], requests: int) -> None:
    from tests.support import ServerProcess

    server = ServerProcess(url, Path(tempfile.mkdtemp()))
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            common.sign_in(client)
            views = {
                "My open tickets": "/?view=mine",
                "Unassigned (by SLA)": "/?view=unassigned",
                "All open": "/?view=open",
                "SLA at risk": "/?view=sla_risk",
                "SLA breached": "/?view=sla_breached",
                "Pending": "/?view=pending",
                "Recently solved": "/?view=solved",
                "Queue 1": "/?view=queue-1",
                "All open by priority": "/?view=open&sort=priority",
                "All tickets by SLA": "/?state=all&sort=sla",
            }
            rng = random.Random(3)
            for url_ in list(views.values()) + ["/tickets/1"]:
                timed(client, url_, 3)  # warm caches and the connection
            everything: list[float] = []
            print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
            for name, path in views.items():
                times = timed(client, path, requests)
                everything += times
                print(
                    f"{name:28} {statistics.median(times):8.1f} {percentile(times, 0.95):8.1f}"
                    f" {percentile(times, 0.99):8.1f}"
                )
            ticket_times = []
            for _ in range(requests * 2):
                ticket_times += timed(client, f"/tickets/{rng.choice(ticket_ids)}", 1)
            print(
                f"{'Ticket page (random)':28} {statistics.median(ticket_times):8.1f}"
                f" {percentile(ticket_times, 0.95):8.1f} {percentile(ticket_times, 0.99):8.1f}"
            )
            print(
                f"{'All views together':28} {statistics.median(everything):8.1f}"
                f" {percentile(everything, 0.95):8.1f} {percentile(everything, 0.99):8.1f}"
            )
            # The search box: an order number (one message or none holds it), and words
            # that most messages hold (the worst case for a full-text index).
            searches = {
                "Search: an order number": [
                    f"Bestellnummer {rng.randint(100000, 999999)}" for _ in range(20)
                ],
                "Search: common words": ["Drucker Rechnung", "password again", "Paket"],
            }
            for name, queries in searches.items():
                times = []
                for _ in range(max(1, requests // len(queries))):
                    for query in queries:
                        times += timed(client, f"/search?q={query}", 1)
                print(
                    f"{name:28} {statistics.median(times):8.1f}"
                    f" {percentile(times, 0.95):8.1f} {percentile(times, 0.99):8.1f}"
                )
    finally:
        server.stop()


async def prepare(url: str, tickets: int, messages_each: int) -> list[int]:
    runtime = await migrated_runtime(url)
    try:
        started = time.perf_counter()
        open_ids = await fill(runtime, tickets, messages_each)
        print(
            f"filled {tickets} tickets, {tickets * messages_each} messages"
            f" in {time.perf_counter() - started:.0f} s"
        )
    finally:
        await runtime.close()
    return open_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages-per-ticket", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="per view")
    args = parser.parse_args()
    with database_urls(False) as (url,):
        asyncio.run(prepare(url, args.tickets, args.messages_per_ticket))
        ids = list(range(1, args.tickets + 1))
        measure(url, ids, args.requests)


if __name__ == "__main__":
    main()
