"""Background work notices what another process wrote (the CLI beside a running server, a
second server): on SQLite no event crosses processes, so every worker also looks again."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from tests.tresen.test_handlers import ParcelArrived
from tresen import handlers
from tresen.events import Event
from tresen.runtime import Runtime, Transaction, woken


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_articles_imported_by_the_cli_are_embedded_by_the_running_server(
    server, database_url, tmp_path, embeddings
):
    source = tmp_path / "faq.csv"
    source.write_text(
        "question,answer\n"
        "Wie beantrage ich eine Rückerstattung?,Im Kundenkonto unter Bestellungen.\n"
        "Wo finde ich meine Rechnung?,Jede Rechnung kommt per Mail und liegt im Konto.\n"
        "Kann ich meine Adresse ändern?,Ja, solange die Bestellung nicht versandt ist.\n",
        encoding="utf-8",
    )
    imported = server.cli("kb", "import", str(source))
    assert imported.returncode == 0, imported.stderr
    path = database_url.removeprefix("sqlite+aiosqlite:///")

    def embedded() -> tuple[int, int]:
        with sqlite3.connect(path) as connection:
            articles = connection.execute("SELECT count(*) FROM kb_articles").fetchone()[0]
            vectors = connection.execute(
                "SELECT count(*) FROM kb_article_embeddings"
                " JOIN kb_articles ON kb_articles.id = article_id"
            ).fetchone()[0]
        return articles, vectors

    # Before, the server's worker waited for an event only the importing process saw: none
    # of them was ever embedded. Now it looks every semantic.POLL_SECONDS (10 s); the bound
    # leaves room for loading the model on a busy machine.
    deadline = time.monotonic() + 120
    while embedded() != (3, 3):
        assert time.monotonic() < deadline, f"(articles, embedded): {embedded()}"
        await asyncio.sleep(0.5)


async def test_a_worker_looks_again_in_time_however_busy_the_bus_is():
    """Other events arriving more often than the poll interval must not put the look off
    for ever (the outbox worker's wait started again with each event it did not want)."""
    events: asyncio.Queue[Event] = asyncio.Queue()

    async def chatter() -> None:
        while True:
            events.put_nowait(Event("ticket.updated", {}))
            await asyncio.sleep(0.02)

    noise = asyncio.create_task(chatter())
    try:
        # Generous bound for a loaded machine; before, this waited as long as the chatter.
        started = time.monotonic()
        assert await asyncio.wait_for(woken(events, ("outbox.queued",), 0.3), 10) is False
        assert time.monotonic() - started >= 0.3
        events.put_nowait(Event("outbox.queued", {}))
        assert await woken(events, ("outbox.queued",), 10) is True
    finally:
        noise.cancel()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_job_another_runtime_wrote_on_sqlite_is_run_by_this_ones_worker(settings):
    """Two runtimes on one SQLite file share no bus (as two processes would not): the worker
    finds the other's job by looking at the table, not because it was told."""
    emitter, working = Runtime.create(settings), Runtime.create(settings)
    await emitter.start()
    await working.start()
    ran = asyncio.Event()

    async def sign(tx: Transaction, event: ParcelArrived) -> None:
        ran.set()

    handlers.handler(ParcelArrived, name="test.sign_elsewhere")(sign)
    worker = asyncio.create_task(handlers.run(working))
    try:
        await asyncio.sleep(0.2)  # the worker has looked once and waits
        async with emitter.transaction() as tx:
            tx.emit(ParcelArrived(parcel="p-2"))
        assert not working.jobs_due.is_set()  # nobody told this runtime
        await asyncio.wait_for(ran.wait(), handlers.POLL_SECONDS * 3)
    finally:
        handlers.unregister("test.sign_elsewhere")
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await emitter.close()
        await working.close()
