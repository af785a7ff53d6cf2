"""A database that cannot take writes for a while (another process holds SQLite's lock, the
disk is full, the server is unreachable): the server keeps answering, says 503 with
Retry-After to what it cannot store, and loses nothing once the database is back."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from tests.support import ServerProcess, free_port
from tresen import sqlite_driver
from tresen.app import create_app
from tresen.database import DatabaseUnreachable, unavailable
from tresen.runtime import Runtime
from tresen.settings import Settings
from tresen.sqlite_driver import DatabaseBusy

LOCK_SECONDS = 8.0  # longer than the server waits for a lock (sqlite_driver.BUSY_WAIT_SECONDS)

HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


def inbound(number: int, text: str = "Meine Bestellung ist nicht angekommen.") -> dict:
    return {
        "channel": "email",
        "external_id": f"<trouble-{number}@kunde.example>",
        "from": {"kind": "email", "value": f"kunde{number}@kunde.example", "name": "Kim"},
        "to": "support@desk.example",
        "subject": f"Bestellung {number}",
        "text": text,
    }


def integration_headers(server: ServerProcess) -> dict:
    """An integration's token (it may deliver inbound messages), made with the CLI."""
    server.add_user("agent@example.com", "agent-password")
    token = server.cli("tokens", "create", "agent@example.com", "--scope", "integration")
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    # Used once now: its first use is written down (then at most once a minute), so what
    # follows exercises the inbox, not the token's bookkeeping.
    assert httpx.get(server.url + "/api/v1/queues", headers=headers).status_code == 200
    return headers


def hold_write_lock(path: str, seconds: float) -> subprocess.Popen:
    """Another process holding SQLite's write lock, as the CLI or a backup would."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, path, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def stored(path: str, external_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(inbox records, messages) per external id, read straight from the file."""
    with sqlite3.connect(path) as connection:
        return {
            external_id: (
                connection.execute(
                    "SELECT count(*) FROM inbox WHERE external_id = ? AND status = 'processed'",
                    (external_id,),
                ).fetchone()[0],
                connection.execute(
                    "SELECT count(*) FROM messages WHERE external_id = ?", (external_id,)
                ).fetchone()[0],
            )
            for external_id in external_ids
        }


async def post_until_stored(client: httpx.AsyncClient, body: dict, headers: dict) -> int:
    """What a client does after a 503: deliver the same message again until it is taken."""
    for _ in range(40):
        answer = await client.post("/api/v1/inbound", json=body, headers=headers)
        if answer.status_code == 202:
            return 202
        assert answer.status_code == 503, answer.text
        await asyncio.sleep(0.5)
    return answer.status_code


def check_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    assert answer.json()["reason"] in ("busy", "full", "unavailable")
    assert "sqlite" not in answer.text.lower() and "locked" not in answer.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_locked_sqlite_database_freezes_nothing_and_loses_nothing(server, database_url):
    headers = integration_headers(server)
    path = database_url.removeprefix("sqlite+aiosqlite:///")
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        holder = hold_write_lock(path, LOCK_SECONDS)
        started = time.monotonic()

        async def post(number: int) -> httpx.Response:
            await asyncio.sleep(number * 0.4)  # spread over the time the lock is held
            return await client.post("/api/v1/inbound", json=inbound(number), headers=headers)

        posts = [asyncio.create_task(post(number)) for number in range(16)]
        health = []
        while holder.poll() is None:
            asked = time.monotonic()
            answer = await client.get("/healthz")
            health.append((answer.status_code, time.monotonic() - asked))
            await asyncio.sleep(0.1)
        held = time.monotonic() - started
        answers = await asyncio.gather(*posts)
        readyz_after = await client.get("/readyz")

    # Not frozen: before, each write waited inside SQLite's busy handler on the event loop
    # (5 s at a time), and no /healthz was answered while the lock was held. One second is
    # far above a loaded machine's answer (a read in WAL mode does not wait for the writer)
    # and far below the old freeze.
    assert all(status == 200 for status, _ in health)
    assert len(health) >= held / 1.2, health
    assert max(seconds for _, seconds in health) < 1.0, health
    statuses = [answer.status_code for answer in answers]
    # The first posts waited for the lock longer than the server waits: 503 with Retry-After;
    # the last ones waited less and were stored when the lock was released.
    assert set(statuses) <= {202, 503}, [answer.text for answer in answers]
    assert statuses[0] == 503 and statuses[-1] == 202, statuses
    for answer in answers:
        if answer.status_code == 503:
            check_unavailable(answer)
    assert readyz_after.status_code == 200, readyz_after.text

    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        for number, status in enumerate(statuses):
            if status == 503:
                assert await post_until_stored(client, inbound(number), headers) == 202
            # Delivered again although answered 202: still one message (counted below).
            again = await client.post("/api/v1/inbound", json=inbound(number), headers=headers)
            assert again.status_code == 202
    counts = stored(path, [inbound(number)["external_id"] for number in range(16)])
    assert set(counts.values()) == {(1, 1)}, counts


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_readyz_says_busy_while_another_process_holds_the_lock(server, database_url):
    path = database_url.removeprefix("sqlite+aiosqlite:///")
    holder = hold_write_lock(path, 4)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        busy = await client.get("/readyz")
        health = await client.get("/healthz")
        holder.wait()
        await asyncio.sleep(2.5)  # readiness is remembered 2 s (runtime.READY_CACHE)
        ready = await client.get("/readyz")
    assert busy.status_code == 503 and busy.json() == {
        "status": "not ready",
        "reason": "database busy",
    }
    assert busy.headers["retry-after"]
    assert health.status_code == 200
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def fill(directory: Path) -> Path:
    """Take every free byte of the file system: what is left when the disk is full."""
    filler = directory / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12):
            try:
                while os.write(handle, b"\0" * size):
                    pass
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(handle)
    return filler


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB file system of its own (tmpfs), filled at will; needs root, as in CI."""
    if os.geteuid() != 0:
        pytest.fail("the full-disk test mounts a tmpfs: run it as root (CI does)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def send_mail(port: int, number: int) -> int:
    """One mail over SMTP; the server's reply code (250 taken, 451 try again later)."""
    mail = EmailMessage()
    mail["From"] = f"kunde{number}@kunde.example"
    mail["To"] = "support@tresen.test"
    mail["Subject"] = f"Per Post {number}"
    mail["Message-ID"] = f"<smtp-{number}@kunde.example>"
    mail.set_content("Hallo, bitte melden Sie sich.")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        try:
            smtp.send_message(mail)
        except smtplib.SMTPResponseException as error:
            return error.smtp_code
        except smtplib.SMTPRecipientsRefused as error:
            return next(iter(error.recipients.values()))[0]
    return 250


async def test_a_full_disk_answers_503_and_loses_nothing(small_disk, sqlite_template, tmp_path):
    path = small_disk / "tresen.sqlite3"
    shutil.copy(sqlite_template, path)
    server = ServerProcess(f"sqlite:///{path}", tmp_path / "server")
    smtp_port = free_port()
    server.start("--smtp-port", str(smtp_port))
    try:
        headers = integration_headers(server)
        added = server.cli(
            "channels",
            "add-email",
            "--address",
            "support@tresen.test",
            "--smtp-url",
            "smtp://127.0.0.1:2",
        )
        assert added.returncode == 0, added.stderr
        body = "Eine lange Beschreibung des Problems. " * 2500  # ~100 KB: the WAL must grow
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            assert (await client.get("/readyz")).status_code == 200
            filler = fill(small_disk)
            await asyncio.sleep(2.5)  # readiness is remembered 2 s (runtime.READY_CACHE)
            readyz = await client.get("/readyz")
            answers = [
                await client.post("/api/v1/inbound", json=inbound(n, body), headers=headers)
                for n in range(20)
            ]
            health = await client.get("/healthz")
            mail_codes = [send_mail(smtp_port, n) for n in range(3)]

            assert readyz.status_code == 503, readyz.text
            assert readyz.json() == {"status": "not ready", "reason": "low disk space"}
            assert health.status_code == 200  # alive, and reading works
            statuses = [answer.status_code for answer in answers]
            # Never a 500 or a closed connection: 503 (a message or two may still fit in the
            # space SQLite's files already hold: then 202, and they are kept).
            assert set(statuses) <= {202, 503}, [answer.text for answer in answers]
            assert statuses.count(503) >= 15, statuses
            for answer in answers:
                if answer.status_code == 503:
                    check_unavailable(answer)
            assert set(mail_codes) <= {250, 451} and 451 in mail_codes, mail_codes

            filler.unlink()
            await asyncio.sleep(2.5)
            assert (await client.get("/readyz")).status_code == 200
            for number in range(20):
                assert await post_until_stored(client, inbound(number, body), headers) == 202
            assert [send_mail(smtp_port, n) for n in range(3)] == [250, 250, 250]
    finally:
        server.stop()
    counts = stored(str(path), [inbound(number)["external_id"] for number in range(20)])
    assert set(counts.values()) == {(1, 1)}, counts
    mails = stored(str(path), [f"<smtp-{number}@kunde.example>" for number in range(3)])
    assert set(mails.values()) == {(1, 1)}, mails


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_unreachable_postgresql_server_is_a_503_without_its_error(tmp_path, database_url):
    closed = f"postgresql+asyncpg://tresen:secret-password@127.0.0.1:{free_port()}/tresen"
    runtime = Runtime.create(
        Settings(data_dir=tmp_path, database_url=closed, secret_key="test-secret-key")
    )
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
            api = await client.get("/api/v1/kb/search", params={"q": "Rechnung"})
            page = await client.get(
                "/help", params={"q": "Rechnung"}, headers={"Accept-Language": "de"}
            )
    finally:
        await runtime.engine.dispose()
    for answer in (health, ready, api, page):
        assert answer.status_code == 503, (answer.request.url, answer.text)
        assert answer.headers["retry-after"]
        assert "127.0.0.1" not in answer.text and "refused" not in answer.text.lower()
    assert health.json() == {"status": "error", "database": "unavailable"}
    assert ready.json() == {"status": "not ready", "reason": "database unavailable"}
    assert api.json()["reason"] == "unavailable"
    assert page.headers["content-type"].startswith("text/plain")
    assert page.text.startswith("Tresen kann gerade nichts speichern")


def test_which_database_errors_mean_try_again_later():
    """A full disk, a lock, a lost server are 503s; a broken constraint or a bug stays a 500."""
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13
    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode = 10 | (3 << 8)  # SQLITE_IOERR_WRITE
    duplicate = sqlite3.IntegrityError("UNIQUE constraint failed")
    duplicate.sqlite_errorcode = 2067
    cases = {
        busy: "busy",
        full: "full",
        io_error: "unavailable",
        DatabaseBusy("database is locked"): "busy",
        asyncpg.exceptions.DiskFullError("could not extend file"): "full",
        asyncpg.exceptions.TooManyConnectionsError("too many clients"): "busy",
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"): (
            "unavailable"
        ),
        asyncpg.exceptions.AdminShutdownError("terminating connection"): "unavailable",
        asyncpg.exceptions.ReadOnlySQLTransactionError("read-only transaction"): "read-only",
        DatabaseUnreachable("cannot connect"): "unavailable",
        sa_exc.OperationalError("INSERT ...", {}, full): "full",
        duplicate: None,
        asyncpg.exceptions.UniqueViolationError("duplicate key"): None,
        sa_exc.IntegrityError("INSERT ...", {}, duplicate): None,
        ValueError("not a database error"): None,
        ConnectionRefusedError("an SMTP server, not the database"): None,
    }
    assert {repr(error): unavailable(error) for error in cases} == {
        repr(error): reason for error, reason in cases.items()
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_write_waits_for_another_connections_lock_asleep(
    runtime, database_url, monkeypatch
):
    """The wait for a lock another process holds lets the event loop run; a lock held longer
    than the server waits ends in DatabaseBusy (then 503), and nothing half-done is left."""
    monkeypatch.setattr(sqlite_driver, "BUSY_WAIT_SECONDS", 1.0)
    other = sqlite3.connect(database_url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write(name: str) -> None:
        async with runtime.transaction() as tx:
            await tx.session.execute(
                text("INSERT INTO counters (name, value) VALUES (:name, 1)"), {"name": name}
            )

    counting = asyncio.create_task(ticker())
    try:
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        await write("after-release")  # waited for the other connection, then wrote
        waited_ticks = ticks
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sa_exc.OperationalError) as raised:
            await write("never")
        other.execute("ROLLBACK")
    finally:
        counting.cancel()
        other.close()
    # Before, SQLite's busy handler slept on the loop: not one tick while waiting.
    assert waited_ticks >= 5, waited_ticks
    assert isinstance(raised.value.orig, DatabaseBusy) and unavailable(raised.value) == "busy"
    async with runtime.read() as session:
        names = (await session.execute(text("SELECT name FROM counters"))).scalars().all()
    assert "after-release" in names and "never" not in names
