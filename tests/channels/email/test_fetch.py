"""Fetching from a real Dovecot: stored once, flagged after, restarts and renumbering survived."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from channels.email import fetch
from channels.email.accounts import create_account
from channels.email.models import MailAccount, MailFolderState
from tickets.models import InboundRecord, Message, Ticket


def raw_mail(n: int, sender: str = "kunde@example.com") -> bytes:
    return (
        f"From: Kunde {n} <{sender}>\r\nTo: support@tresen.test\r\n"
        f"Subject: Anfrage {n}\r\nMessage-ID: <anfrage-{n}@example.com>\r\n"
        f"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nText der Anfrage {n}\r\n"
    ).encode()


async def account(runtime, dovecot, **fields) -> MailAccount:
    async with runtime.transaction() as tx:
        return await create_account(
            tx, address="support@tresen.test", imap_url=dovecot.url(), **fields
        )


def fetcher(runtime, mail_account) -> fetch.MailboxFetcher:
    return fetch.fetcher_for(runtime, mail_account)


async def stored(runtime) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count(InboundRecord.id)))


async def flags(dovecot) -> dict[int, bool]:
    """UID → whether it is \\Seen."""
    client = await dovecot.client()
    await client.select("INBOX")
    answer = await client.uid("fetch", "1:*", "(UID FLAGS)")
    await client.logout()
    seen = {}
    for line in answer.lines[:-1]:
        text = bytes(line).decode()
        if "UID" in text:
            uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
            seen[uid] = "\\Seen" in text
    return seen


async def test_new_mail_is_stored_then_flagged_and_never_fetched_twice(runtime, dovecot):
    for n in range(3):
        await dovecot.append(raw_mail(n))
    box = fetcher(runtime, await account(runtime, dovecot))
    assert (await box.fetch_once()).stored == 3
    assert await flags(dovecot) == {1: True, 2: True, 3: True}
    assert (await box.fetch_once()).stored == 0
    await dovecot.append(raw_mail(3))
    assert (await box.fetch_once()).stored == 1
    await box.close()
    async with runtime.read() as session:
        tickets = await session.scalar(select(func.count(Ticket.id)))
        state = await session.scalar(select(MailFolderState))
    assert state.last_uid == 4 and await stored(runtime) == 4 and tickets == 4


async def test_first_look_takes_unread_mail_only(runtime, dovecot):
    await dovecot.append(raw_mail(0))
    client = await dovecot.client()
    await client.select("INBOX")
    await client.uid("store", "1", "+FLAGS (\\Seen)")
    await client.logout()
    await dovecot.append(raw_mail(1))
    box = fetcher(runtime, await account(runtime, dovecot))
    assert (await box.fetch_once()).stored == 1
    await box.close()
    async with runtime.read() as session:
        assert await session.scalar(select(Message.subject)) == "Anfrage 1"


async def test_killed_between_storing_and_flagging_each_message_is_stored_once(
    runtime, dovecot, monkeypatch
):
    for n in range(5):
        await dovecot.append(raw_mail(n, sender=f"kunde{n}@example.com"))
    mail_account = await account(runtime, dovecot)
    box = fetcher(runtime, mail_account)

    async def killed(self, uids):
        raise SystemExit("killed after storing, before flagging")

    monkeypatch.setattr(fetch.MailboxFetcher, "_mark_processed", killed)
    with pytest.raises(SystemExit):
        await box.fetch_once()
    monkeypatch.undo()
    assert await stored(runtime) == 5
    assert set((await flags(dovecot)).values()) == {False}  # nothing flagged yet

    restarted = fetcher(runtime, mail_account)  # a new process: nothing but the database
    result = await restarted.fetch_once()
    await restarted.close()
    assert result.stored == 5  # fetched again, recognized by the inbox
    assert await stored(runtime) == 5
    async with runtime.read() as session:
        assert await session.scalar(select(func.count(Message.id))) == 5
    assert set((await flags(dovecot)).values()) == {True}


async def test_changed_uidvalidity_is_read_again_without_loss_or_doubles(runtime, dovecot):
    for n in range(3):
        await dovecot.append(raw_mail(n, sender=f"kunde{n}@example.com"))
    mail_account = await account(runtime, dovecot)
    box = fetcher(runtime, mail_account)
    await box.fetch_once()
    await box.close()
    async with runtime.read() as session:
        before = await session.scalar(select(MailFolderState.uidvalidity))

    # The server renumbers the folder (its index is rebuilt), and mail arrives meanwhile.
    dovecot.process.terminate()
    dovecot.process.wait(10)
    maildir = dovecot.dir / "mail" / "support@tresen.test"
    for path in maildir.rglob("dovecot*"):
        path.unlink()
    time.sleep(1.1)  # Dovecot takes the time as the new UIDVALIDITY
    dovecot.start()
    await dovecot.append(raw_mail(9, sender="neu@example.com"))

    restarted = fetcher(runtime, mail_account)
    await restarted.fetch_once()
    await restarted.close()
    async with runtime.read() as session:
        state = await session.scalar(select(MailFolderState))
        messages = await session.scalar(select(func.count(Message.id)))
    assert state.uidvalidity != before
    assert messages == 4 and await stored(runtime) == 4


async def test_processed_mail_can_be_moved_to_a_folder(runtime, dovecot):
    await dovecot.append(raw_mail(0))
    box = fetcher(runtime, await account(runtime, dovecot, processed_folder="Tresen"))
    assert (await box.fetch_once()).stored == 1
    await box.close()
    assert await flags(dovecot) == {}
    client = await dovecot.client()
    answer = await client.select("Tresen")
    await client.logout()
    assert b"1 EXISTS" in answer.lines


async def test_idle_brings_new_mail_at_once_and_a_dropped_server_is_reconnected(runtime, dovecot):
    box = fetcher(runtime, await account(runtime, dovecot))
    worker = asyncio.create_task(box.run())
    try:
        await dovecot.append(raw_mail(1))
        await until(lambda: stored(runtime), 1)

        dovecot.process.terminate()
        dovecot.process.wait(10)
        await asyncio.sleep(0.5)
        dovecot.start()  # same port, same maildir
        await dovecot.append(raw_mail(2))
        await until(lambda: stored(runtime), 2, seconds=15)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


async def until(count, expected: int, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await count() >= expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {expected} stored, have {await count()}")


async def test_bad_password_is_recorded_on_the_account_without_the_password(runtime, dovecot):
    async with runtime.transaction() as tx:
        mail_account = await create_account(
            tx,
            address="support@tresen.test",
            imap_url=dovecot.url().replace("imap-secret", "wrong-pass"),
        )
    box = fetcher(runtime, mail_account)
    worker = asyncio.create_task(box.run())
    try:
        deadline = time.monotonic() + 5
        error = None
        while error is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            async with runtime.read() as session:
                error = await session.scalar(select(MailAccount.last_error))
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert error and "login refused" in error and "wrong-pass" not in error


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_one_process_at_a_time_fetches_an_account(
    runtime, settings, dovecot, monkeypatch
):
    from tresen.runtime import Runtime

    mail_account = await account(runtime, dovecot)
    other_process = Runtime.create(settings)  # its own engine and connections
    running: list[str] = []

    async def fetching(self):
        running.append(self.name)
        await asyncio.sleep(3600)

    monkeypatch.setattr(fetch.MailboxFetcher, "run", fetching)
    monkeypatch.setattr(fetch, "ACCOUNTS_REFRESH_SECONDS", 0.1)
    first = fetcher(runtime, mail_account)
    second = fetcher(other_process, mail_account)
    first.name, second.name = "first", "second"
    tasks = [
        asyncio.create_task(fetch._exclusively(rt, box))
        for rt, box in ((runtime, first), (other_process, second))
    ]
    try:
        await asyncio.sleep(1.0)
        assert len(running) == 1  # the other waits for the lock
        holder = 0 if running == ["first"] else 1
        tasks[holder].cancel()  # that process stops: its lock goes with its connection
        await asyncio.gather(tasks[holder], return_exceptions=True)
        await asyncio.sleep(1.0)
        assert sorted(running) == ["first", "second"]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await other_process.close()


async def test_mail_arriving_during_the_first_look_is_not_skipped(runtime, dovecot, monkeypatch):
    await dovecot.append(raw_mail(0))
    box = fetcher(runtime, await account(runtime, dovecot))
    search = fetch.MailboxFetcher._search

    async def arriving_meanwhile(self, criteria):
        found = await search(self, criteria)
        if criteria == "UNSEEN" and not getattr(self, "_arrived", False):
            self._arrived = True
            await dovecot.append(raw_mail(1))  # lands after the SELECT, during the look
        return found

    monkeypatch.setattr(fetch.MailboxFetcher, "_search", arriving_meanwhile)
    assert (await box.fetch_once()).stored == 1
    assert (await box.fetch_once()).stored == 1  # the late one, on the next round
    await box.close()
    assert await stored(runtime) == 2


async def test_the_worker_fetches_every_active_account_at_once(runtime, monkeypatch):
    from tests.support import Dovecot

    server = Dovecot({"support@tresen.test": "pw-one", "billing@tresen.test": "pw-two"})
    server.start()
    try:
        async with runtime.transaction() as tx:
            for address in ("support@tresen.test", "billing@tresen.test"):
                await create_account(tx, address=address, imap_url=server.url(address))
        await server.append(raw_mail(1), user="support@tresen.test")
        await server.append(raw_mail(2, sender="andere@example.com"), user="billing@tresen.test")
        worker = asyncio.create_task(fetch.run(runtime))
        try:
            await until(lambda: stored(runtime), 2)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        async with runtime.read() as session:
            recipients = set(await session.scalars(select(Message.recipient)))
        assert recipients == {"support@tresen.test", "billing@tresen.test"}
    finally:
        server.stop()
