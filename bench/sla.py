"""SLA scheduler: lag from due time to fired, and CPU per tick, with many open tickets.

    python -m bench.sla                          # 100,000 open tickets, SQLite
    python -m bench.sla --postgres               # a throwaway PostgreSQL cluster
    python -m bench.sla --open 1000              # compare: the tick should cost the same

The open tickets' clocks are due days from now; during the measured window
`--due` clocks fall due, spread evenly. The real scheduler loop runs with the real
clock; each event's lag is its `fired_at - due_at` as recorded in sla_events.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import timedelta

from sqlalchemy import func, insert, select

from bench.common import database_urls, migrated_runtime
from customers.models import Customer
from routing import scheduler
from routing.models import SlaClock, SlaEvent, SlaPolicyRow, TicketSla
from tickets.models import Ticket
from tresen.runtime import Runtime

CHUNK = 5000


async def populate(runtime: Runtime, open_tickets: int, due: int, window: float) -> float:
    """Open tickets with clocks due in days, then `due` clocks falling due within
    `window` seconds from a moment just after the return (seconds until it)."""
    now = runtime.clock.now()
    rng = random.Random(3)
    async with runtime.engine.begin() as connection:
        customer_id = (
            await connection.execute(
                insert(Customer),
                {
                    "name": "Bench",
                    "tier": "standard",
                    "notes": "",
                    "consent": {},
                    "created_at": now,
                    "updated_at": now,
                },
            )
        ).inserted_primary_key[0]
        policy_id = (
            await connection.execute(
                insert(SlaPolicyRow),
                {
                    "name": "Bench",
                    "targets": {"normal": {"first_response": 60}},
                    "pause_states": [],
                    "warn_before_minutes": None,
                    "escalation": {},
                },
            )
        ).inserted_primary_key[0]

    async def add(first: int, last: int, due_at_of) -> None:
        async with runtime.engine.begin() as connection:
            numbers = range(first, last)
            await connection.execute(
                insert(Ticket),
                [
                    {
                        "id": n + 1,
                        "number": 10000 + n,
                        "subject": f"Bench {n}",
                        "state": "open",
                        "priority": "normal",
                        "channel": "email",
                        "customer_id": customer_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in numbers
                ],
            )
            await connection.execute(
                insert(TicketSla), [{"ticket_id": n + 1, "policy_id": policy_id} for n in numbers]
            )
            await connection.execute(
                insert(SlaClock),
                [
                    {
                        "ticket_id": n + 1,
                        "target": "first_response",
                        "policy_id": policy_id,
                        "started_at": now,
                        "allowed_seconds": 3600,
                        "elapsed_seconds": 0,
                        "due_at": due_at_of(n),
                        "warn_at": None,
                        "paused": False,
                        "met_at": None,
                        "warned_at": None,
                        "breached_at": None,
                        "next_fire_at": due_at_of(n),
                        "computed_at": now,
                    }
                    for n in numbers
                ],
            )

    later = {
        n: now + timedelta(days=1, seconds=rng.randrange(30 * 86400)) for n in range(open_tickets)
    }
    for first in range(0, open_tickets, CHUNK):
        await add(first, min(first + CHUNK, open_tickets), later.__getitem__)
    start = runtime.clock.now() + timedelta(seconds=2)
    for first in range(open_tickets, open_tickets + due, CHUNK):
        await add(
            first,
            min(first + CHUNK, open_tickets + due),
            lambda n: start + timedelta(seconds=window * (n - open_tickets) / due),
        )
    return (start - runtime.clock.now()).total_seconds()


async def run(database_url: str, open_tickets: int, due: int, window: float) -> dict:
    runtime = await migrated_runtime(database_url)
    ticks = []
    real_fire_due, real_next_due = scheduler.fire_due, scheduler.next_due

    async def measured_fire(rt, **kwargs):
        cpu = time.process_time()
        fired = await real_fire_due(rt, **kwargs)
        ticks.append(("fire", time.process_time() - cpu, len(fired)))
        return fired

    async def measured_look(rt):
        cpu = time.process_time()
        soonest = await real_next_due(rt)
        ticks.append(("look", time.process_time() - cpu, 0))
        return soonest

    scheduler.fire_due, scheduler.next_due = measured_fire, measured_look
    try:
        lead = await populate(runtime, open_tickets, due, window)
        await asyncio.sleep(max(0.0, lead - 1))
        cpu_started = time.process_time()
        task = asyncio.create_task(scheduler.run(runtime))
        await asyncio.sleep(1 + window + 2)
        task.cancel()
        cpu = time.process_time() - cpu_started
        async with runtime.read() as session:
            rows = (await session.execute(select(SlaEvent.due_at, SlaEvent.fired_at))).all()
            open_count = await session.scalar(select(func.count()).select_from(SlaClock))
    finally:
        scheduler.fire_due, scheduler.next_due = real_fire_due, real_next_due
        await runtime.close()
    lags = sorted((fired - due_at).total_seconds() * 1000 for due_at, fired in rows)
    looks = [cpu for kind, cpu, _ in ticks if kind == "look"]
    fires = [cpu for kind, cpu, count in ticks if kind == "fire" and count]
    return {
        "open": open_count,
        "fired": len(rows),
        "lag_p50_ms": statistics.median(lags) if lags else float("nan"),
        "lag_p99_ms": lags[int(len(lags) * 0.99) - 1] if lags else float("nan"),
        "lag_max_ms": lags[-1] if lags else float("nan"),
        "looks": len(looks),
        "fires": len(fires),
        "look_cpu_ms": statistics.median(looks) * 1000 if looks else float("nan"),
        "fire_cpu_ms": statistics.median(fires) * 1000 if fires else float("nan"),
        "cpu_per_event_ms": cpu / max(len(rows), 1) * 1000,
        "cpu_share": cpu / (1 + window + 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000, help="open tickets under SLA")
    parser.add_argument("--due", type=int, default=2000, help="clocks falling due in the window")
    parser.add_argument("--window", type=float, default=20.0, help="seconds")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args(argv)
    with database_urls(args.postgres) as (url,):
        figures = asyncio.run(run(url, args.open, args.due, args.window))
    print(
        f"engine={url.split('+', 1)[0]} clocks={figures['open']} "
        f"falling due={args.due} over {args.window:.0f} s"
    )
    print(f"fired: {figures['fired']} (expected {args.due})")
    print(
        f"lag due -> fired: p50 {figures['lag_p50_ms']:.1f} ms, p99 {figures['lag_p99_ms']:.1f} ms,"
        f" max {figures['lag_max_ms']:.1f} ms"
    )
    print(
        f"CPU per tick: a look for due work {figures['look_cpu_ms']:.2f} ms "
        f"({figures['looks']} looks), firing {figures['fire_cpu_ms']:.2f} ms "
        f"({figures['fires']} batches); per event {figures['cpu_per_event_ms']:.2f} ms; "
        f"process CPU share {figures['cpu_share']:.0%}"
    )
    ok = figures["fired"] == args.due
    if not ok:
        print("FAILED: events were missed or doubled", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
