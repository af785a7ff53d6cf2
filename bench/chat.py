"""Live chat under load: idle visitor sockets on one server process, and conversations at once.

    python -m bench.chat                                  # SQLite: 10,000 idle, 500 conversations
    python -m bench.chat --engine postgres                # PostgreSQL, two server processes
    python -m bench.chat --idle 100 --conversations 20    # a quick look
    python -m bench.chat --idle 0 --think 0               # conversations only, back to back
    python -m bench.chat --idle 0 --conversations 0 --costs 100   # server CPU per step

Starts `tresen serve` as a person would (a fresh database, migrations, a secret key), adds a
supervisor with an API token, a queue "Chat" with that agent online as its member (nobody
online: the chat is unavailable and asks for an e-mail address), and a chat channel on it
(no pre-chat form), then:

1. **Idle visitors.** Opens N sockets to `/chat/{key}/socket` on ONE server process (from
   separate client processes, in batches, from spread loopback addresses as visitors come
   from many), each sending `hello` and waiting for `welcome`, then holds them idle (a `ping`
   every 25 s, as the widget does) and reports the server process's resident memory
   (VmRSS, VmHWM) before, with the sockets open and after they closed, per socket, and the
   time to open them all.
2. **Conversations.** C visitors each open a conversation (a first message: a new ticket),
   then exchange M rounds: the visitor sends a message (stored when `ack`ed; seen by the
   agent when the ticket's console socket `/ws/tickets/{id}` shows it), then the agent
   replies through the REST API (`POST /api/v1/tickets/{id}/messages`) and the visitor's
   socket receives it as a `message` frame; between rounds each conversation waits
   `--think` seconds (±50 %). On PostgreSQL the visitors are on server process A, the agent
   (API and console sockets) on process B, so every delivery crosses processes.
   Reports p50/p95/p99/max of each delivery and the messages/s (and how late the bench's
   own event loop ran, which inflates every figure when the machine is busy).
3. **Costs** (`--costs N`). Each step N times, one after the other with nothing else going
   on: the server processes' CPU time per step (from /proc, less their idle use), which
   says how many of each a core can take.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import resource
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import websockets

from bench.common import database_urls

SECRET_KEY = "bench-chat-secret-key-" + "k" * 24
ORIGIN = "https://shop.bench.example"
AGENT_EMAIL, AGENT_PASSWORD = "bench@example.com", "bench-password"
MESSAGE_ID = re.compile(r'id="message-(\d+)"')
CONNECT = {
    "origin": ORIGIN,
    "compression": None,  # the server turns it off anyway (ws_per_message_deflate=False)
    "proxy": None,
    "ping_interval": None,  # the widget pings with frames of its own
    "open_timeout": 60,
    "max_size": 2**20,
}


# --- the machine and the server process -----------------------------------------------------


def raise_fd_limit() -> int:
    """Open files up to the hard limit (children inherit it): a socket is a file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def process_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) and the open file limit of a process, from /proc."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            status[name] = int(value.split()[0])
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            status["nofile"] = int(line.split()[3])
    return status


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> str:
    """p50 / p95 / p99 / max in ms."""
    if not values:
        return "–"
    return (
        f"p50 {statistics.median(values):7.1f}  p95 {pct(values, 0.95):7.1f}  "
        f"p99 {pct(values, 0.99):7.1f}  max {max(values):7.1f} ms  (n={len(values)})"
    )


# --- the desk: database, servers, an agent, a chat channel ------------------------------------


async def create_channel(database_url: str, data_dir: Path, mode: str = "manual") -> str:
    """A chat channel open to ORIGIN with no pre-chat questions, into a queue "Chat" whose
    one member (the bench agent) is online with room for every chat; its public key.

    With nobody online the chat is unavailable and a message needs an e-mail address (it
    is left as a message); a desk under this load has agents on it."""
    from sqlalchemy import select

    from channels.chat.actions import create_chat_channel
    from routing.actions import set_agent_profile, set_queue_routing
    from routing.assign import set_presence
    from tickets.queues import create_queue
    from tresen import rooms
    from tresen.models import User
    from tresen.runtime import Runtime
    from tresen.settings import Settings

    rooms.load_models()
    settings = Settings(data_dir=data_dir, database_url=database_url, secret_key=SECRET_KEY)
    runtime = Runtime.create(settings)
    try:
        async with runtime.transaction() as tx:
            agent_id = await tx.session.scalar(select(User.id).where(User.email == AGENT_EMAIL))
            queue = await create_queue(tx, name="Chat")
            # manual: chats wait in the queue (no offers passed on meanwhile); the agent
            # answers them all through the API.
            await set_queue_routing(
                tx, queue.id, mode=mode, members=[{"user_id": agent_id, "role": "agent"}]
            )
            await set_agent_profile(tx, agent_id, chat_capacity=100_000)
            await set_presence(tx, agent_id, "online")
            channel, _secret = await create_chat_channel(
                tx,
                name="Bench shop",
                allowed_origins=[ORIGIN],
                queue_id=queue.id,
                prechat={"name": "off", "email": "off"},
            )
            return channel.public_key
    finally:
        await runtime.engine.dispose()


@dataclass
class Desk:
    """Server processes on one fresh database, an agent with a token, a chat channel."""

    postgres: bool
    servers: list = field(default_factory=list)
    database_url: str = ""
    key: str = ""
    token: str = ""
    cookie: str = ""

    def __enter__(self) -> Desk:
        from tests.support import ServerProcess

        self.stack = ExitStack()
        (self.database_url,) = self.stack.enter_context(database_urls(self.postgres, ("chat",)))
        for _ in range(2 if self.postgres else 1):
            self.servers.append(
                ServerProcess(self.database_url, Path(tempfile.mkdtemp()), secret_key=SECRET_KEY)
            )
        first = self.servers[0]
        for step in (
            ("migrate",),
            (
                "users",
                "create",
                AGENT_EMAIL,
                "--name",
                "Bench Agent",
                "--role",
                "supervisor",
                "--password",
                AGENT_PASSWORD,
            ),
        ):
            result = first.cli(*step)
            assert result.returncode == 0, result.stderr
        created = first.cli("tokens", "create", AGENT_EMAIL, "--name", "bench")
        assert created.returncode == 0, created.stderr
        self.token = created.stdout.strip()
        self.key = asyncio.run(
            create_channel(self.database_url, Path(first.env["TRESEN_DATA_DIR"]))
        )
        for server in self.servers:
            server.start()
            self.stack.callback(server.stop)
        self.cookie = sign_in(self.agent_url)
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    @property
    def visitor_url(self) -> str:
        """Process A: the widget's socket."""
        return self.servers[0].url

    @property
    def agent_url(self) -> str:
        """Process B on PostgreSQL (A on SQLite): the agent's console and API."""
        return self.servers[-1].url

    def socket_url(self, base: str | None = None) -> str:
        base = base or self.visitor_url
        return base.replace("http://", "ws://") + f"/chat/{self.key}/socket"


def sign_in(base_url: str) -> str:
    from bench import common

    with httpx.Client(base_url=base_url, timeout=30) as client:
        common.sign_in(client)
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def hello(last_id: int = 0) -> str:
    import json

    return json.dumps(
        {
            "type": "hello",
            "token": None,
            "last_id": last_id,
            "lang": "en",
            "page": ORIGIN + "/products/42",
            "new": False,
            "identity": None,
        }
    )


async def open_visitor(url: str, number: int, addresses: int):
    """A socket that said hello and got its welcome: (socket, connect s, welcome s)."""
    import json

    local = (f"127.0.0.{2 + number % addresses}", 0) if addresses > 1 else None
    started = time.perf_counter()
    socket = await websockets.connect(url, local_addr=local, **CONNECT)
    connected = time.perf_counter()
    await socket.send(hello())
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 60))
        if frame.get("type") == "welcome":
            break
        if frame.get("type") == "error":
            raise RuntimeError(f"refused: {frame}")
    return socket, connected - started, time.perf_counter() - connected


# --- 1. idle visitors -------------------------------------------------------------------------


def idle_client(url: str, first: int, count: int, batch: int, addresses: int, ping: float, pipe):
    """In a process of its own: open `count` visitors in batches, hold them, report."""
    import json

    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def run() -> dict:
        sockets, connects, welcomes, failures = [], [], [], []
        pongs, lost = [], 0
        stopping = asyncio.Event()

        async def keep(socket) -> None:
            nonlocal lost
            try:
                while not stopping.is_set():
                    try:
                        await asyncio.wait_for(stopping.wait(), ping * random.uniform(0.5, 1.5))
                        return
                    except TimeoutError:
                        pass
                    sent = time.perf_counter()
                    await socket.send('{"type":"ping"}')
                    while json.loads(await socket.recv()).get("type") != "pong":
                        pass
                    pongs.append(time.perf_counter() - sent)
            except websockets.ConnectionClosed:
                lost += 1

        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # go
        started = time.perf_counter()
        for offset in range(0, count, batch):
            results = await asyncio.gather(
                *(
                    open_visitor(url, first + n, addresses)
                    for n in range(offset, min(count, offset + batch))
                ),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    failures.append(repr(result)[:200])
                else:
                    sockets.append(result[0])
                    connects.append(result[1])
                    welcomes.append(result[2])
        opened = time.perf_counter() - started
        keepers = [asyncio.create_task(keep(s)) for s in sockets]
        pipe.send(
            {
                "opened": len(sockets),
                "seconds": opened,
                "connects": connects,
                "welcomes": welcomes,
                "failures": failures,
            }
        )
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # stop
        stopping.set()
        await asyncio.gather(*keepers, return_exceptions=True)
        still_open = sum(1 for s in sockets if s.state is websockets.State.OPEN)
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        return {"pongs": pongs, "lost": lost, "still_open": still_open}

    pipe.send(asyncio.run(run()))


def idle(desk: Desk, count: int, processes: int, batch: int, addresses: int, hold: float):
    """Open `count` idle visitors on server A and report its memory."""
    server = desk.servers[0]
    pid = server.process.pid

    async def warm_up() -> None:  # imports and caches every first socket pays
        for n in range(5):
            socket, _c, _w = await open_visitor(desk.socket_url(), n, 1)
            await socket.close()

    asyncio.run(warm_up())
    time.sleep(2)
    before = process_status(pid)
    cpu_before = cpu_seconds(pid)
    print(
        f"\n== {count:,} idle visitors on one server process (pid {pid}, "
        f"open file limit {before['nofile']:,}); load {load_average()}"
    )
    context = multiprocessing.get_context("spawn")
    shares = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    pipes, clients, first = [], [], 0
    for share in shares:
        ours, theirs = context.Pipe()
        client = context.Process(
            target=idle_client,
            args=(
                desk.socket_url(),
                first,
                share,
                max(1, batch // processes),
                addresses,
                25.0,
                theirs,
            ),
        )
        client.start()
        pipes.append(ours)
        clients.append(client)
        first += share
    time.sleep(3)  # the clients have imported what they need
    started = time.perf_counter()
    for pipe in pipes:
        pipe.send("go")
    reports = [pipe.recv() for pipe in pipes]
    took = time.perf_counter() - started
    opened = sum(r["opened"] for r in reports)
    cpu_open = cpu_seconds(pid) - cpu_before
    time.sleep(3)
    with_sockets = process_status(pid)
    samples = [with_sockets["VmRSS"]]
    cpu_hold = cpu_seconds(pid)
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        time.sleep(min(5, max(0.1, deadline - time.monotonic())))
        samples.append(process_status(pid)["VmRSS"])
    cpu_hold = cpu_seconds(pid) - cpu_hold
    held = process_status(pid)
    for pipe in pipes:
        pipe.send("stop")
    ends = [pipe.recv() for pipe in pipes]
    for client in clients:
        client.join()
    time.sleep(3)
    after = process_status(pid)
    connects = [s * 1000 for r in reports for s in r["connects"]]
    welcomes = [s * 1000 for r in reports for s in r["welcomes"]]
    failures = [f for r in reports for f in r["failures"]]
    pongs = [s * 1000 for r in ends for s in r["pongs"]]
    per_socket = (with_sockets["VmRSS"] - before["VmRSS"]) / max(1, opened)
    mb = 1024
    print(
        f"opened {opened:,} of {count:,} in {took:.1f} s ({opened / took:.0f}/s; "
        f"{processes} client processes, batches of {batch}); server CPU {cpu_open:.1f} s"
    )
    if failures:
        print(f"  {len(failures)} failed, e.g. {failures[0]}")
    print(f"  handshake  {summary(connects)}")
    print(f"  welcome    {summary(welcomes)}")
    print(f"server RSS before  {before['VmRSS'] / mb:8.1f} MB  (HWM {before['VmHWM'] / mb:.1f})")
    print(
        f"server RSS open    {with_sockets['VmRSS'] / mb:8.1f} MB  "
        f"(HWM {with_sockets['VmHWM'] / mb:.1f}); {per_socket:.1f} KB a socket"
    )
    print(
        f"server RSS held    {held['VmRSS'] / mb:8.1f} MB after {hold:.0f} s "
        f"(max {max(samples) / mb:.1f}; HWM {held['VmHWM'] / mb:.1f}); "
        f"server CPU {cpu_hold:.1f} s over the hold"
    )
    print(f"  ping→pong  {summary(pongs)}")
    still = sum(r["still_open"] for r in ends)
    lost = sum(r["lost"] for r in ends)
    print(f"  still open at the end {still:,} of {opened:,}" + (f", {lost} closed" if lost else ""))
    print(f"server RSS closed  {after['VmRSS'] / mb:8.1f} MB  (HWM {after['VmHWM'] / mb:.1f})")
    return {
        "opened": opened,
        "seconds": took,
        "before": before,
        "open": with_sockets,
        "held": held,
        "after": after,
        "per_socket_kb": per_socket,
    }


# --- 2. conversations -------------------------------------------------------------------------


class Visitor:
    """One widget: its socket, and futures its reader resolves."""

    def __init__(self, number: int, socket) -> None:
        self.number = number
        self.socket = socket
        self.acks: dict[str, asyncio.Future] = {}
        self.replies: dict[str, asyncio.Future] = {}  # agent text -> when it arrived
        self.errors: list[dict] = []
        self.closed: int | None = None
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        import json

        try:
            async for raw in self.socket:
                at = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "ack":
                    future = self.acks.get(frame.get("client_id"))
                    if future and not future.done():
                        future.set_result((at, frame["id"]))
                elif kind == "message" and frame.get("from") == "agent":
                    future = self.replies.get(frame.get("text"))
                    if future and not future.done():
                        future.set_result(at)
                elif kind == "error":
                    self.errors.append(frame)
                    future = self.acks.get(frame.get("client_id"))
                    if future and not future.done():
                        future.set_exception(RuntimeError(f"error frame: {frame}"))
        except websockets.ConnectionClosed:
            pass
        # Closed by the server while the bench still talks on it (1013: behind, try again).
        self.closed = self.socket.close_code

    async def send(self, client_id: str, text: str, timeout: float = 30) -> tuple[float, int]:
        """Send a message; (acked at, message id)."""
        import json

        future = self.acks[client_id] = asyncio.get_running_loop().create_future()
        await self.socket.send(
            json.dumps({"type": "message", "client_id": client_id, "text": text})
        )
        return await asyncio.wait_for(future, timeout)

    def expect(self, text: str) -> asyncio.Future:
        future = self.replies[text] = asyncio.get_running_loop().create_future()
        return future


class AgentConsole:
    """The agent's ticket pages (one console socket a ticket): when each message shows."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.waiting: dict[int, asyncio.Future] = {}
        self.tasks: list[asyncio.Task] = []
        self.closed: list[int | None] = []  # close codes of pages the server closed

    async def open(self, base: str, cookie: str, ticket_id: int, ready: asyncio.Event) -> None:
        url = base.replace("http://", "ws://") + f"/ws/tickets/{ticket_id}"
        from urllib.parse import quote

        opened = quote(datetime.now(UTC).isoformat())
        async with websockets.connect(
            f"{url}?opened={opened}",
            additional_headers={"Cookie": cookie},
            origin=base,
            compression=None,
            proxy=None,
            max_size=None,
            open_timeout=60,
        ) as socket:
            ready.set()
            async for frame in socket:
                at = time.perf_counter()
                for match in MESSAGE_ID.finditer(frame):
                    message_id = int(match.group(1))
                    self.seen.setdefault(message_id, at)
                    future = self.waiting.pop(message_id, None)
                    if future and not future.done():
                        future.set_result(at)
            self.closed.append(socket.close_code)

    def shown(self, message_id: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if message_id in self.seen:
            future.set_result(self.seen[message_id])
        else:
            self.waiting[message_id] = future
        return future


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late the bench's own event loop wakes (its delays inflate every figure)."""
    while not stop.is_set():
        planned = time.perf_counter() + 0.05
        await asyncio.sleep(0.05)
        lags.append((time.perf_counter() - planned) * 1000)


async def ticket_ids(database_url: str, message_ids: list[int]) -> dict[int, int]:
    from sqlalchemy import bindparam, text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT id, ticket_id FROM messages WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": message_ids},
            )
            return {row.id: row.ticket_id for row in rows}
    finally:
        await engine.dispose()


async def conversations(
    desk: Desk,
    count: int,
    rounds: int,
    think: float,
    agent_sockets: bool,
    addresses: int,
    batch: int,
) -> dict:
    print(
        f"\n== {count} conversations, {rounds} rounds each, think {think:g} s (±50 %); "
        f"visitors on {desk.visitor_url}, agent on {desk.agent_url}; load {load_average()}"
    )
    visitors: list[Visitor] = []
    for offset in range(0, count, batch):
        for number, (socket, _c, _w) in enumerate(
            await asyncio.gather(
                *(
                    open_visitor(desk.socket_url(), n, addresses)
                    for n in range(offset, min(count, offset + batch))
                )
            ),
            start=offset,
        ):
            visitors.append(Visitor(number, socket))

    # A first message each: the conversation's ticket (created, routed), all at once.
    async def open_conversation(visitor: Visitor) -> tuple[float, int]:
        started = time.perf_counter()
        at, message_id = await visitor.send(
            f"v{visitor.number}-0", f"Hello, I have a question ({visitor.number})"
        )
        return (at - started) * 1000, message_id

    started = time.perf_counter()
    results = await asyncio.gather(
        *(open_conversation(v) for v in visitors), return_exceptions=True
    )
    took = time.perf_counter() - started
    refused = [r for r in results if isinstance(r, BaseException)]
    if refused:
        print(f"  {len(refused)} first messages failed, e.g. {refused[0]!r}"[:300])
    kept = [not isinstance(r, BaseException) for r in results]
    visitors = [v for v, ok in zip(visitors, kept, strict=True) if ok]
    firsts = [r for r, ok in zip(results, kept, strict=True) if ok]
    print(f"first messages (a new ticket each, all at once): {len(firsts) / took:.1f}/s")
    print(f"  ack        {summary([ms for ms, _id in firsts])}")
    tickets = await ticket_ids(desk.database_url, [message_id for _ms, message_id in firsts])
    ticket_of = [tickets[message_id] for _ms, message_id in firsts]

    console = AgentConsole()
    if agent_sockets:
        readies = []
        for ticket_id in ticket_of:
            ready = asyncio.Event()
            readies.append(ready)
            console.tasks.append(
                asyncio.create_task(console.open(desk.agent_url, desk.cookie, ticket_id, ready))
            )
            await asyncio.sleep(0.002)
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        await asyncio.sleep(2)

    acks, shown, replies, answered, delivered = [], [], [], [], []
    missing = {"shown": 0, "delivered": 0}
    failures: list[str] = []
    pid_cpu = {s.process.pid: cpu_seconds(s.process.pid) for s in desk.servers}
    headers = {"Authorization": f"Bearer {desk.token}"}
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(
        base_url=desk.agent_url, headers=headers, timeout=60, limits=limits
    ) as api:

        async def converse(visitor: Visitor, ticket_id: int) -> None:
            await asyncio.sleep(random.uniform(0, think))
            for n in range(1, rounds + 1):
                try:
                    await one_round(visitor, ticket_id, n)
                except Exception as error:  # noqa: BLE001 - counted and shown; the rest go on
                    failures.append(f"conversation {visitor.number} round {n}: {error!r}"[:300])
                    return
                await asyncio.sleep(think * random.uniform(0.5, 1.5))

        async def one_round(visitor: Visitor, ticket_id: int, n: int) -> None:
            sent = time.perf_counter()
            acked, message_id = await visitor.send(
                f"v{visitor.number}-{n}", f"Where is my order {visitor.number}-{n}?"
            )
            acks.append((acked - sent) * 1000)
            if agent_sockets:
                try:
                    at = await asyncio.wait_for(console.shown(message_id), 10)
                    shown.append((at - sent) * 1000)
                except TimeoutError:
                    missing["shown"] += 1
            text = f"Reply {visitor.number}-{n}: it ships today."
            arrived = visitor.expect(text)
            asked = time.perf_counter()
            answer = await api.post(f"/api/v1/tickets/{ticket_id}/messages", json={"text": text})
            answered.append((time.perf_counter() - asked) * 1000)
            if answer.status_code != 201:
                raise RuntimeError(f"reply refused: {answer.status_code} {answer.text[:200]}")
            replies.append(asked)
            try:
                at = await asyncio.wait_for(arrived, 10)
                delivered.append((at - asked) * 1000)
            except TimeoutError:
                missing["delivered"] += 1

        stop, lags = asyncio.Event(), []
        lagging = asyncio.create_task(loop_lag(stop, lags))
        started = time.perf_counter()
        await asyncio.gather(*(converse(v, t) for v, t in zip(visitors, ticket_of, strict=True)))
        took = time.perf_counter() - started
        stop.set()
        await lagging
    cpu = {pid: cpu_seconds(pid) - before for pid, before in pid_cpu.items()}
    messages = len(acks) + len(replies)
    print(
        f"{messages} messages in {took:.1f} s: {messages / took:.1f}/s "
        f"({len(acks) / took:.1f} visitor + {len(replies) / took:.1f} agent); server CPU "
        + ", ".join(f"{c:.1f} s ({c / took:.0%})" for c in cpu.values())
    )
    print(f"  visitor→stored (ack)         {summary(acks)}")
    if agent_sockets:
        print(
            f"  visitor→agent console        {summary(shown)}"
            + (f"  {missing['shown']} not shown in 10 s" if missing["shown"] else "")
        )
    print(f"  agent API answer             {summary(answered)}")
    print(
        f"  agent→visitor (API→frame)    {summary(delivered)}"
        + (f"  {missing['delivered']} not delivered in 10 s" if missing["delivered"] else "")
    )
    print(f"  bench loop lag               {summary(lags)}")
    if failures:
        print(f"  {len(failures)} conversations stopped early, e.g. {failures[0]}")
    closed = [v.closed for v in visitors if v.reader.done()]
    if closed or console.closed:
        print(
            f"  closed by the server during the run: {len(closed)} visitor sockets "
            f"(codes {sorted(set(closed), key=str)}), {len(console.closed)} ticket pages "
            f"(codes {sorted(set(console.closed), key=str)})"
        )
    errors = [e for v in visitors for e in v.errors]
    if errors:
        print(f"  {len(errors)} error frames, e.g. {errors[0]}")
    for task in console.tasks:
        task.cancel()
    await asyncio.gather(*console.tasks, return_exceptions=True)
    await asyncio.gather(*(v.socket.close() for v in visitors), return_exceptions=True)
    for visitor in visitors:
        visitor.reader.cancel()
    return {"acks": acks, "shown": shown, "delivered": delivered, "rate": messages / took}


# --- 3. what each step costs the server ------------------------------------------------------


async def costs(desk: Desk, count: int, addresses: int) -> None:
    """Each step done `count` times one after the other (nothing else running): the server
    processes' CPU time per step, from /proc, less what they use idle meanwhile."""
    pids = [server.process.pid for server in desk.servers]
    names = ["A", "B"][: len(pids)]

    def cpu() -> list[float]:
        return [cpu_seconds(pid) for pid in pids]

    async def idle_rate(seconds: float = 5) -> list[float]:
        before = cpu()
        await asyncio.sleep(seconds)
        return [(after - b) / seconds for after, b in zip(cpu(), before, strict=True)]

    rows: list[tuple[str, list[float], list[float]]] = []

    async def measure(name: str, step, rate: list[float]) -> list:
        results, walls = [], []
        before, started = cpu(), time.perf_counter()
        for n in range(count):
            began = time.perf_counter()
            results.append(await step(n))
            walls.append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(1.5)  # what the step left to workers (the outbox) is done
        took = time.perf_counter() - started
        used = [
            (after - b - r * took) * 1000 / count
            for after, b, r in zip(cpu(), before, rate, strict=True)
        ]
        rows.append((name, used, walls))
        return results

    print(
        f"\n== what each step costs the server: {count} of each, one at a time; "
        f"load {load_average()}"
    )
    quiet = await idle_rate()
    visitors = await measure(
        "hello → welcome (a new visitor)",
        lambda n: open_visitor(desk.socket_url(), 100_000 + n, addresses),
        quiet,
    )
    visitors = [Visitor(n, socket) for n, (socket, _c, _w) in enumerate(visitors)]
    firsts = await measure(
        "first message → ack (a new ticket)",
        lambda n: visitors[n].send(f"c{n}-0", f"Hello, a question ({n})"),
        quiet,
    )
    await asyncio.sleep(2)
    waiting = await idle_rate()
    tickets = await ticket_ids(desk.database_url, [message_id for _at, message_id in firsts])
    ticket_of = [tickets[message_id] for _at, message_id in firsts]
    headers = {"Authorization": f"Bearer {desk.token}"}
    async with httpx.AsyncClient(base_url=desk.agent_url, headers=headers, timeout=60) as api:

        async def reply(n: int, tag: str) -> None:
            text = f"Reply {n} {tag}"
            arrived = visitors[n].expect(text)
            answer = await api.post(f"/api/v1/tickets/{ticket_of[n]}/messages", json={"text": text})
            assert answer.status_code == 201, answer.text
            await asyncio.wait_for(arrived, 30)

        async def message(n: int, tag: str) -> None:
            await visitors[n].send(f"c{n}-{tag}", f"Another question {n} {tag}")

        await measure("visitor message → ack", lambda n: message(n, "a"), waiting)
        await measure("agent reply (API) → visitor frame", lambda n: reply(n, "a"), waiting)
        console = AgentConsole()
        readies = [asyncio.Event() for _ in ticket_of]
        console.tasks = [
            asyncio.create_task(console.open(desk.agent_url, desk.cookie, ticket_id, ready))
            for ticket_id, ready in zip(ticket_of, readies, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        await asyncio.sleep(2)
        watched = await idle_rate()

        async def shown(n: int) -> None:
            _at, message_id = await visitors[n].send(f"c{n}-b", f"And one more {n}")
            await asyncio.wait_for(console.shown(message_id), 30)

        await measure("visitor message → agent's ticket page", shown, watched)
        await measure(
            "agent reply (API) → visitor, ticket page open", lambda n: reply(n, "b"), watched
        )
        for task in console.tasks:
            task.cancel()
        await asyncio.gather(*console.tasks, return_exceptions=True)
    await asyncio.gather(*(v.socket.close() for v in visitors), return_exceptions=True)
    for visitor in visitors:
        visitor.reader.cancel()
    header = "".join(f"{'CPU ' + name + ' ms':>10}" for name in names)
    print(f"{'step':<48}{header}{'wall p50 ms':>13}")
    for name, used, walls in rows:
        print(
            f"{name:<48}"
            + "".join(f"{u:10.1f}" for u in used)
            + f"{statistics.median(walls):13.1f}"
        )
    print(
        "idle CPU (% of a core): "
        + "; ".join(
            f"{label} " + ", ".join(f"{name} {r:.1%}" for name, r in zip(names, rate, strict=True))
            for label, rate in (
                ("at start", quiet),
                (f"{count} chats waiting", waiting),
                (f"+ {count} ticket pages open", watched),
            )
        )
    )


# --- the command ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--idle", type=int, default=10_000, help="idle visitor sockets (0: skip)")
    parser.add_argument("--hold", type=float, default=30, help="seconds to hold them open")
    parser.add_argument("--clients", type=int, default=2, help="client processes for --idle")
    parser.add_argument("--batch", type=int, default=200, help="sockets opened at once")
    parser.add_argument(
        "--addresses",
        type=int,
        default=250,
        help="loopback source addresses the visitors come from (127.0.0.2-)",
    )
    parser.add_argument("--conversations", type=int, default=500, help="0: skip")
    parser.add_argument("--rounds", type=int, default=5, help="visitor message + reply each")
    parser.add_argument(
        "--think", type=float, default=10, help="seconds between a conversation's rounds (±50 %%)"
    )
    parser.add_argument(
        "--costs", type=int, default=0, help="each step N times alone: server CPU per step"
    )
    parser.add_argument(
        "--no-agent-sockets",
        dest="agent_sockets",
        action="store_false",
        help="only the ack for visitor→agent (no console socket per ticket)",
    )
    args = parser.parse_args()
    limit = raise_fd_limit()
    if args.idle + 100 > limit:
        print(f"warning: open file limit {limit} < {args.idle} sockets")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(
        f"bench.chat on {args.engine}: {os.cpu_count()} cores, load {load_average()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    with Desk(args.engine == "postgres") as desk:
        if args.idle:
            idle(desk, args.idle, args.clients, args.batch, args.addresses, args.hold)
        if args.conversations:
            asyncio.run(
                conversations(
                    desk,
                    args.conversations,
                    args.rounds,
                    args.think,
                    args.agent_sockets,
                    args.addresses,
                    args.batch,
                )
            )
        if args.costs:
            asyncio.run(costs(desk, args.costs, args.addresses))


if __name__ == "__main__":
    main()
