"""Open consoles against the inbox: inbound messages/s with many live ticket lists open.

    python -m bench.live                          # SQLite, 17,000 tickets, 0/20/100/500 lists
    python -m bench.live --sockets 0,100 --seconds 10
    python -m bench.live --postgres               # two server processes on one PostgreSQL

Fills a database like bench.console (15 % of the tickets open), starts `tresen serve` on it
as a person would (two processes with --postgres), signs in, opens N console list sockets
(/ws/console, the default view: all open, newest first; spread over the processes), then
posts new tickets to POST /api/v1/inbound from several clients at once for a while and
reports inbound messages/s and how long each new ticket took from its POST's answer (it is
committed then) to each open list (p50/p99 over every socket and ticket).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from bench import common
from bench.common import database_urls
from bench.console import percentile, prepare

ROW = re.compile(r'id="ticket-(\d+)"')


def sign_in(base_url: str) -> str:
    """The session cookie of the bench supervisor, signed in through the login form."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        common.sign_in(client)
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


async def listen(url: str, cookie: str, seen: dict[int, list[float]], ready: asyncio.Event):
    """One open list: note when each ticket first shows up in it."""
    ws_url = url.replace("http", "ws") + "/ws/console"
    async with websockets.connect(
        ws_url, additional_headers={"Cookie": cookie, "Origin": url}, max_size=None
    ) as socket:
        ready.set()
        shown: set[int] = set()
        async for frame in socket:
            at = time.perf_counter()
            for match in ROW.finditer(frame):
                ticket_id = int(match.group(1))
                if ticket_id not in shown:
                    shown.add(ticket_id)
                    seen.setdefault(ticket_id, []).append(at)


async def post(urls: list[str], token: str, seconds: float, clients: int, run: int):
    """New tickets from `clients` concurrent posters for `seconds`: (ticket id, answered at)."""
    sent: list[tuple[int, float]] = []
    deadline = time.perf_counter() + seconds

    async def poster(number: int) -> None:
        base = urls[number % len(urls)]
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                answer = await client.post(
                    "/api/v1/inbound",
                    json={
                        "channel": "email",
                        "external_id": f"<live-{run}-{number}-{n}@bench.example>",
                        "from": {"kind": "email", "value": f"live{run}-{number}-{n}@bench.example"},
                        "subject": f"Live bench {run} {number} {n}",
                        "text": "Hallo, bitte um Rückruf.",
                    },
                )
                assert answer.status_code == 202, answer.text
                # Committed (and published) before the answer: delivery counts from here.
                sent.append((answer.json()["ticket_id"], time.perf_counter()))

    began = time.perf_counter()
    await asyncio.gather(*(poster(i) for i in range(clients)))
    return sent, time.perf_counter() - began


def listeners(urls: list[str], cookies: list[str], count: int, pipe) -> None:
    """In a process of its own (reading 500 sockets costs CPU the posters must not lose):
    open `count` lists, say so, and at the word send back when each ticket showed up."""

    async def run() -> dict[int, list[float]]:
        seen: dict[int, list[float]] = {}
        readies = [asyncio.Event() for _ in range(count)]
        tasks = []
        for index, ready in enumerate(readies):
            which = index % len(urls)
            tasks.append(asyncio.create_task(listen(urls[which], cookies[which], seen, ready)))
            await asyncio.sleep(0.005)  # as people open their consoles, not all at once
        await asyncio.gather(*(ready.wait() for ready in readies))
        pipe.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return seen

    pipe.send(asyncio.run(run()))


async def measure(urls: list[str], token: str, counts: list[int], seconds: float, clients: int):
    cookies = [sign_in(url) for url in urls]
    print(f"{'open lists':>10} {'messages/s':>11} {'vs none':>8} {'p50 ms':>8} {'p99 ms':>8}")
    base_rate = None
    context = multiprocessing.get_context("spawn")
    for run, count in enumerate(counts):
        ours, theirs = context.Pipe()
        reader = context.Process(target=listeners, args=(urls, cookies, count, theirs))
        reader.start()
        assert await asyncio.to_thread(ours.recv) == "ready"
        await asyncio.sleep(2 + count * 0.02)  # every socket has loaded its page's rows
        sent, took = await post(urls, token, seconds, clients, run)
        await asyncio.sleep(2)  # the last ticks reach the sockets
        ours.send("stop")
        seen = await asyncio.to_thread(ours.recv)
        reader.join()
        rate = len(sent) / took
        base_rate = base_rate or rate
        delays = [
            (at - answered) * 1000 for ticket_id, answered in sent for at in seen.get(ticket_id, ())
        ]
        missing = count * len(sent) - len(delays)
        p50 = f"{statistics.median(delays):8.0f}" if delays else f"{'-':>8}"
        p99 = f"{percentile(delays, 0.99):8.0f}" if delays else f"{'-':>8}"
        print(f"{count:>10} {rate:11.1f} {rate / base_rate:8.0%} {p50} {p99}", end="")
        print(f"   ({missing} deliveries missing)" if missing else "")


async def advance_sequences(url: str) -> None:
    """bench.console fills with explicit ids; PostgreSQL's id sequences must follow them."""
    import asyncpg

    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        for table in ("customers", "identities", "tickets", "messages", "queues"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=17_000, help="tickets filled first")
    parser.add_argument("--sockets", default="0,20,100,500", help="open lists per run")
    parser.add_argument("--seconds", type=float, default=15, help="posting time per run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent posters")
    parser.add_argument(
        "--postgres", action="store_true", help="a throwaway PostgreSQL, two server processes"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.sockets.split(",")]
    from tests.support import ServerProcess

    with database_urls(args.postgres) as (url,):
        asyncio.run(prepare(url, args.tickets, 1))
        if args.postgres:
            asyncio.run(advance_sequences(url))
        servers = [
            ServerProcess(url, Path(tempfile.mkdtemp())) for _ in range(2 if args.postgres else 1)
        ]
        token = (
            servers[0]
            .cli("tokens", "create", "bench@example.com", "--scope", "integration")
            .stdout.strip()
        )
        for server in servers:
            server.start()
        try:
            asyncio.run(
                measure([s.url for s in servers], token, counts, args.seconds, args.clients)
            )
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
