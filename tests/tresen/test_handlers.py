"""Durable event handlers: jobs written with the event, run after commit, at least once,
in effect once; typed event payloads; staff notification mail through the outbox."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from tickets.events import MessageCreated, TicketUpdated
from tickets.models import OutboxMessage
from tickets.outbox import deliver_due
from tresen import handlers
from tresen.accounts import create_user
from tresen.clock import FrozenClock
from tresen.events import Event, EventError, Payload
from tresen.handlers import handler, run_due
from tresen.models import EventJob, Notification
from tresen.notifications import notify
from tresen.runtime import Runtime, Transaction

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ParcelArrived(Payload, type="test.parcel_arrived"):
    parcel: str


@dataclass(frozen=True)
class InvoicePaid(Payload, type="test.invoice_paid"):
    invoice_id: int

    def key(self) -> str:
        return f"test.invoice_paid:{self.invoice_id}"


@pytest.fixture
def registered():
    """Register handlers for one test; they are forgotten afterwards."""
    names = []

    def register(event, name, **options):
        names.append(name)
        return handler(event, name=name, **options)

    yield register
    for name in names:
        handlers.unregister(name)


@pytest.fixture
async def clocked(settings):
    runtime = Runtime.create(settings, clock=FrozenClock(datetime(2026, 12, 1, 9, tzinfo=UTC)))
    await runtime.start()
    yield runtime
    await runtime.close()


async def create_log_table(runtime: Runtime, name: str) -> None:
    async with runtime.transaction() as tx:
        await tx.session.execute(text(f"CREATE TABLE {name} (item VARCHAR(50), job_key TEXT)"))


async def count(runtime: Runtime, query) -> int:
    async with runtime.read() as session:
        return await session.scalar(query)


async def jobs(runtime: Runtime) -> list[EventJob]:
    async with runtime.read() as session:
        return list(await session.scalars(select(EventJob).order_by(EventJob.id)))


# --- typed payloads ---------------------------------------------------------------


def test_an_event_emitted_by_name_is_checked_against_its_class():
    tx = Transaction(session=None, runtime=None)
    with pytest.raises(EventError, match="feilds"):
        tx.emit("ticket.updated", ticket_id=7, feilds=["state"])
    with pytest.raises(EventError, match="fields"):
        tx.emit("ticket.updated", ticket_id=7)
    assert tx.events == []

    tx.emit("ticket.updated", ticket_id=7, fields=["state"])
    tx.emit(MessageCreated(ticket_id=7, message_id=9, direction="inbound", internal=False))
    named, typed = tx.events
    assert named == Event(
        "ticket.updated", {"ticket_id": 7, "fields": ["state"], "message_ids": None}
    )
    assert named.payload == TicketUpdated(ticket_id=7, fields=["state"])
    # Subscribers keep reading .type and .data; defaults are filled in.
    assert typed.type == "message.created"
    assert typed.data == {
        "ticket_id": 7,
        "message_id": 9,
        "direction": "inbound",
        "internal": False,
        "automatic": False,
        "channel": None,
    }
    assert isinstance(typed.payload, MessageCreated)


# --- jobs written with the event ----------------------------------------------------


async def test_a_handler_runs_after_commit_with_the_typed_event_and_its_key(runtime, registered):
    seen = []

    @registered(ParcelArrived, "test.sign_for_parcel")
    async def sign(tx: Transaction, event: ParcelArrived, *, key: str) -> None:
        seen.append((event, key))

    async with runtime.transaction() as tx:
        tx.emit(ParcelArrived(parcel="p-1"))
        # No handler wants it (triggers watch field changes, not SLA ones): no job.
        tx.emit("ticket.updated", ticket_id=1, fields=["sla"])
    [job] = await jobs(runtime)
    assert (job.handler, job.event_type, job.status) == (
        "test.sign_for_parcel",
        ParcelArrived.type,
        "pending",
    )
    assert seen == []  # not inside the transaction: after it

    assert await run_due(runtime) == 1
    assert seen == [(ParcelArrived(parcel="p-1"), job.key)]
    assert job.key.startswith("test.sign_for_parcel/test.parcel_arrived:")
    [job] = await jobs(runtime)
    assert (job.status, job.attempts) == ("done", 1) and job.done_at is not None
    assert await run_due(runtime) == 0
    assert len(seen) == 1


async def test_prepare_runs_outside_the_transaction_and_hands_its_result_to_the_handler(
    clocked, registered
):
    """A handler that waits on something slow first (the bot asking an assistant) does it
    with no transaction open: on SQLite another writer gets through meanwhile."""
    runtime = clocked
    await create_log_table(runtime, "parcel_log")
    failures = [RuntimeError("courier unreachable")]
    seen = []

    async def ask_courier(runtime_: Runtime, event: ParcelArrived) -> str:
        if failures:
            raise failures.pop(0)
        # A write of its own: it would wait for ever if the job's transaction held the lock.
        async with runtime_.transaction() as tx:
            await tx.session.execute(
                text("INSERT INTO parcel_log (item, job_key) VALUES (:item, 'courier')"),
                {"item": event.parcel},
            )
        return f"signed for {event.parcel}"

    @registered(ParcelArrived, "test.sign_later", prepare=ask_courier)
    async def sign(tx: Transaction, event: ParcelArrived, *, prepared: str) -> None:
        seen.append(prepared)

    async with runtime.transaction() as tx:
        tx.emit(ParcelArrived(parcel="p-9"))
    assert await asyncio.wait_for(run_due(runtime), 10) == 1
    [job] = await jobs(runtime)  # the failed preparation is retried like a failed run
    assert (job.status, job.attempts, job.last_error) == (
        "pending",
        1,
        "RuntimeError: courier unreachable",
    )
    assert seen == []

    runtime.clock.advance(handlers.BACKOFF_BASE)
    assert await asyncio.wait_for(run_due(runtime), 10) == 1
    assert seen == ["signed for p-9"]
    [job] = await jobs(runtime)
    assert (job.status, job.attempts) == ("done", 2)
    assert await count(runtime, text("SELECT count(*) FROM parcel_log")) == 1


async def test_a_slow_preparation_holds_up_only_the_jobs_of_its_group(runtime, registered):
    """The worker goes on with other jobs while one prepares (a Rasa call of seconds);
    jobs of one group (one conversation's messages) prepare one after the other, in order."""
    release = asyncio.Event()
    started, signed, paid = [], [], []

    async def slow(runtime_: Runtime, event: ParcelArrived) -> str:
        started.append(event.parcel)
        await release.wait()
        return event.parcel

    @registered(ParcelArrived, "test.sign_slowly", prepare=slow, group=lambda e: e.parcel[:3])
    async def sign(tx: Transaction, event: ParcelArrived, *, prepared: str) -> None:
        signed.append(prepared)

    @registered(InvoicePaid, "test.book_payment")
    async def book(tx: Transaction, event: InvoicePaid) -> None:
        paid.append(event.invoice_id)

    async with runtime.transaction() as tx:
        tx.emit(ParcelArrived(parcel="p-1/first"))
        tx.emit(ParcelArrived(parcel="q-1"))
        tx.emit(InvoicePaid(invoice_id=7))
    preparing: dict = {}
    worker = asyncio.ensure_future(run_due(runtime, preparing=preparing))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if paid:
            break
    assert paid == [7]  # not held up by the two preparing
    assert sorted(started) == ["p-1/first", "q-1"] and signed == []
    await asyncio.wait_for(worker, 10)  # nothing else due: the two still prepare
    async with runtime.transaction() as tx:  # a second message of the first one's group
        tx.emit(ParcelArrived(parcel="p-1/second"))
    worker = asyncio.ensure_future(run_due(runtime, preparing=preparing))
    await asyncio.sleep(0.3)
    assert "p-1/second" not in started  # waits for the first of its group
    release.set()
    await asyncio.wait_for(worker, 10)
    await asyncio.wait_for(asyncio.gather(*preparing.values()), 10)
    assert started.index("p-1/first") < started.index("p-1/second")
    assert signed.index("p-1/first") < signed.index("p-1/second")
    assert sorted(signed) == ["p-1/first", "p-1/second", "q-1"]
    assert {job.status for job in await jobs(runtime)} == {"done"}


async def test_no_job_without_a_handler_nor_from_a_transaction_that_rolls_back(runtime, registered):
    async with runtime.transaction() as tx:
        tx.emit(ParcelArrived(parcel="before any handler"))
    assert await jobs(runtime) == []

    @registered(ParcelArrived, "test.sign_for_parcel")
    async def sign(tx: Transaction, event: ParcelArrived) -> None:
        pass

    with pytest.raises(RuntimeError):
        async with runtime.transaction() as tx:
            tx.emit(ParcelArrived(parcel="never happened"))
            raise RuntimeError("the action failed")
    assert await jobs(runtime) == []


async def test_the_idempotency_key_is_unique(runtime, registered):
    keys = []

    @registered(InvoicePaid, "test.thank_payer")
    async def thank(tx: Transaction, event: InvoicePaid, *, key: str) -> None:
        keys.append(key)

    # An event with a key of its own, emitted twice (once in a retried import): one job.
    for _ in range(2):
        async with runtime.transaction() as tx:
            tx.emit(InvoicePaid(invoice_id=12))
    # Events without a key of their own are separate events.
    for _ in range(2):
        async with runtime.transaction() as tx:
            tx.emit(ParcelArrived(parcel="p-1"))

    @registered(ParcelArrived, "test.sign_for_parcel")
    async def sign(tx: Transaction, event: ParcelArrived, *, key: str) -> None:
        keys.append(key)

    async with runtime.transaction() as tx:
        tx.emit(ParcelArrived(parcel="p-2"))
        tx.emit(ParcelArrived(parcel="p-2"))
    assert await run_due(runtime) == 3
    assert len(keys) == len(set(keys)) == 3
    assert "test.thank_payer/test.invoice_paid:12" in keys

    [paid] = [job for job in await jobs(runtime) if job.handler == "test.thank_payer"]
    with pytest.raises(IntegrityError):
        async with runtime.transaction() as tx:
            connection = await tx.session.connection()
            await connection.execute(
                insert(EventJob).values(
                    handler=paid.handler,
                    event_type=paid.event_type,
                    payload=paid.payload,
                    key=paid.key,
                    status="pending",
                    attempts=0,
                    created_at=tx.now(),
                )
            )


async def test_a_failing_handler_is_retried_with_backoff_and_its_work_undone(clocked, registered):
    runtime = clocked
    await create_log_table(runtime, "parcel_log")
    failures = [RuntimeError("depot closed"), RuntimeError("depot still closed")]

    @registered(ParcelArrived, "test.log_parcel")
    async def log_parcel(tx: Transaction, event: ParcelArrived, *, key: str) -> None:
        await tx.session.execute(
            text("INSERT INTO parcel_log (item, job_key) VALUES (:item, :key)"),
            {"item": event.parcel, "key": key},
        )
        tx.emit(InvoicePaid(invoice_id=1))  # what a failed run emitted is not published
        if failures:
            raise failures.pop(0)

    async with runtime.transaction() as tx:
        tx.emit(ParcelArrived(parcel="p-1"))
    start = runtime.clock.now()

    async with runtime.bus.subscribe() as events:
        assert await run_due(runtime) == 1
        await asyncio.sleep(0.3)  # PostgreSQL delivers through NOTIFY
        published = [events.get_nowait().type for _ in range(events.qsize())]
    assert InvoicePaid.type not in published
    [job] = await jobs(runtime)
    assert (job.status, job.attempts, job.last_error) == (
        "pending",
        1,
        "RuntimeError: depot closed",
    )
    assert job.next_attempt_at == start + handlers.BACKOFF_BASE
    assert await run_due(runtime) == 0  # not before it falls due

    runtime.clock.advance(handlers.BACKOFF_BASE)
    assert await run_due(runtime) == 1
    [job] = await jobs(runtime)
    assert job.attempts == 2
    assert job.next_attempt_at == runtime.clock.now() + 2 * handlers.BACKOFF_BASE  # doubled

    runtime.clock.advance(2 * handlers.BACKOFF_BASE)
    assert await run_due(runtime) == 1
    [job] = await jobs(runtime)
    assert (job.status, job.attempts, job.last_error) == ("done", 3, None)
    # Only the run that succeeded left its row.
    assert await count(runtime, text("SELECT count(*) FROM parcel_log")) == 1


async def test_a_job_is_failed_after_its_last_attempt_and_kept(clocked, registered, caplog):
    runtime = clocked

    @registered(ParcelArrived, "test.broken", attempts=2)
    async def broken(tx: Transaction, event: ParcelArrived) -> None:
        raise ValueError("no such parcel")

    async with runtime.transaction() as tx:
        tx.emit(ParcelArrived(parcel="p-404"))
    assert await run_due(runtime) == 1
    runtime.clock.advance(timedelta(hours=1))
    assert await run_due(runtime) == 1
    runtime.clock.advance(timedelta(days=1))
    assert await run_due(runtime) == 0
    [job] = await jobs(runtime)
    assert (job.status, job.attempts, job.next_attempt_at) == ("failed", 2, None)
    assert job.last_error == "ValueError: no such parcel"
    assert "failed for good" in caplog.text
    async with runtime.read() as session:
        assert [item.id for item in await handlers.failed_jobs(session)] == [job.id]

    async with runtime.transaction() as tx:
        await handlers.retry(tx, job.id)
    [job] = await jobs(runtime)
    assert (job.status, job.attempts) == ("pending", 0)


async def test_the_worker_is_woken_by_the_commit(runtime, registered):
    ran = asyncio.Event()

    @registered(ParcelArrived, "test.sign_for_parcel")
    async def sign(tx: Transaction, event: ParcelArrived) -> None:
        ran.set()

    worker = asyncio.create_task(handlers.run(runtime))
    try:
        await asyncio.sleep(0.2)  # the worker is idle, waiting
        async with runtime.transaction() as tx:
            tx.emit(ParcelArrived(parcel="p-1"))
        # Well before the worker's poll would find it.
        await asyncio.wait_for(ran.wait(), handlers.POLL_SECONDS / 2)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_worker_hears_of_another_processs_jobs_on_postgresql(settings, registered):
    emitter, working = Runtime.create(settings), Runtime.create(settings)
    await emitter.start()
    await working.start()
    ran = asyncio.Event()

    @registered(ParcelArrived, "test.sign_for_parcel")
    async def sign(tx: Transaction, event: ParcelArrived) -> None:
        ran.set()

    worker = asyncio.create_task(handlers.run(working))
    try:
        await asyncio.sleep(0.2)
        async with emitter.transaction() as tx:
            tx.emit(ParcelArrived(parcel="p-1"))
        assert not working.jobs_due.is_set()  # not this runtime's commit: NOTIFY tells it
        await asyncio.wait_for(ran.wait(), handlers.POLL_SECONDS / 2)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await emitter.close()
        await working.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_workers_on_postgresql_never_run_one_job_twice(settings, registered):
    first, second = Runtime.create(settings), Runtime.create(settings)
    await first.start()
    await second.start()
    try:
        await create_log_table(first, "parcel_log")

        @registered(ParcelArrived, "test.log_parcel")
        async def log_parcel(tx: Transaction, event: ParcelArrived, *, key: str) -> None:
            await asyncio.sleep(0.01)  # long enough for the other worker to try this job
            await tx.session.execute(
                text("INSERT INTO parcel_log (item, job_key) VALUES (:item, :key)"),
                {"item": event.parcel, "key": key},
            )

        async with first.transaction() as tx:
            for number in range(40):
                tx.emit(ParcelArrived(parcel=f"p-{number}"))
        ran = await asyncio.gather(run_due(first), run_due(second))
        assert sum(ran) == 40 and min(ran) > 0  # shared, each job once
        assert await count(first, text("SELECT count(*) FROM parcel_log")) == 40
        assert await count(first, text("SELECT count(DISTINCT job_key) FROM parcel_log")) == 40
        assert {job.status for job in await jobs(first)} == {"done"}
    finally:
        await first.close()
        await second.close()


# --- the kill test ---------------------------------------------------------------------


def handler_process(mode: str, database_url: str, data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.tresen.handler_process", mode, database_url, str(data_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_a_process_killed_between_commit_and_handling_runs_the_handler_once_after(
    runtime, settings, database_url, tmp_path
):
    async with runtime.transaction() as tx:
        await tx.session.execute(text("CREATE TABLE door_log (door VARCHAR(50), job_key TEXT)"))

    emitter = handler_process("emit", database_url, tmp_path / "emitter")
    try:
        line = await asyncio.to_thread(emitter.stdout.readline)
        assert line.strip() == "committed"
        emitter.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(emitter.wait, 30) == -signal.SIGKILL
    finally:
        if emitter.poll() is None:
            emitter.kill()
        emitter.stdout.close()

    [job] = await jobs(runtime)
    assert (job.handler, job.status) == ("test.log_door", "pending")
    assert await count(runtime, text("SELECT count(*) FROM door_log")) == 0

    worker = handler_process("work", database_url, tmp_path / "worker")
    output, _ = await asyncio.to_thread(worker.communicate, timeout=60)
    assert worker.returncode == 0
    assert output.split() == ["1", "0"]  # ran once, and the second drain found nothing
    async with runtime.read() as session:
        rows = (await session.execute(text("SELECT door, job_key FROM door_log"))).all()
    assert [tuple(row) for row in rows] == [("front", job.key)]
    [job] = await jobs(runtime)
    assert job.status == "done"


# --- staff notification mail through the outbox -------------------------------------------


async def test_notification_mail_goes_through_the_outbox_once(runtime, smtp_server):
    from channels.email.accounts import create_account

    anna = await create_user(runtime, email="anna@example.com", name="Anna", role="agent")
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
    async with runtime.transaction() as tx:
        await notify(tx, [anna.id], kind="test.notice", link="/tickets/7", data={}, email=True)
        await notify(tx, [anna.id], kind="test.quiet", link=None, data={})  # no mail wanted
    async with runtime.read() as session:
        notices = list(await session.scalars(select(Notification).order_by(Notification.id)))
    assert [item.email_status for item in notices] == ["pending", None]
    [job] = await jobs(runtime)  # only for the one that wants mail
    assert job.handler == "routing.notify_mail"

    assert await run_due(runtime) == 1
    assert await run_due(runtime) == 0
    async with runtime.read() as session:
        [queued] = list(await session.scalars(select(OutboxMessage)))
        notice = await session.get(Notification, notices[0].id)
    assert (queued.message_id, queued.notification_id) == (None, notice.id)
    assert (queued.channel, queued.recipient, queued.status) == (
        "email",
        "anna@example.com",
        "queued",
    )
    assert notice.email_status == "queued"

    assert await deliver_due(runtime) == 1
    assert await deliver_due(runtime) == 0
    [sent] = smtp_server.messages()
    assert sent["To"] == "anna@example.com"
    assert sent["Subject"] == "test.notice"
    assert sent["Auto-Submitted"]
    assert "/tickets/7" in sent.get_body(("plain",)).get_content()
    async with runtime.read() as session:
        queued = await session.get(OutboxMessage, queued.id)
        notice = await session.get(Notification, notice.id)
    assert (queued.status, queued.attempts) == ("sent", 1)
    assert (notice.email_status, notice.email_error) == ("sent", None)


async def test_notification_mail_is_retried_by_the_outbox(clocked, smtp_server):
    from channels.email.accounts import create_account

    runtime = clocked
    anna = await create_user(runtime, email="anna@example.com", name="Anna", role="agent")
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
    smtp_server.refuse["anna@example.com"] = (451, "mailbox busy, try later")
    async with runtime.transaction() as tx:
        await notify(tx, [anna.id], kind="test.notice", link=None, data={}, email=True)
    assert await run_due(runtime) == 1
    assert await deliver_due(runtime) == 0
    async with runtime.read() as session:
        [queued] = list(await session.scalars(select(OutboxMessage)))
        [notice] = list(await session.scalars(select(Notification)))
    assert (queued.status, queued.attempts) == ("queued", 1)
    assert queued.next_attempt_at > runtime.clock.now()  # the outbox's backoff
    assert notice.email_status == "queued" and notice.email_error

    del smtp_server.refuse["anna@example.com"]
    runtime.clock.advance(timedelta(hours=1))
    assert await deliver_due(runtime) == 1
    assert len(smtp_server.messages()) == 1
    async with runtime.read() as session:
        notice = await session.get(Notification, notice.id)
    assert notice.email_status == "sent"
    assert await count(runtime, select(func.count()).select_from(EventJob)) == 1
