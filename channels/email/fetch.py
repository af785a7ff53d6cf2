"""Fetching mail by IMAP (aioimaplib): every message stored once, none skipped.

Per folder, the last stored UID is kept with the folder's UIDVALIDITY. A message is
fetched without setting \\Seen (BODY.PEEK), handed to the inbox, and only once it is
stored is it flagged \\Seen (or moved to the processed folder). A crash in between
means it is fetched again, and the inbox recognizes it by its Message-ID. When the
server renumbers the folder (UIDVALIDITY changed) the whole folder is read again,
for the same reason without doubles. IDLE where the server offers it (re-issued
within 29 minutes, RFC 2177), polling otherwise; reconnects with backoff.
On PostgreSQL each account is fetched by exactly one server process at a time,
through an advisory lock held on its own connection. Mail is parsed in a worker
process with a time limit (`parse.PARSER`): no mail stops the server, and one that
cannot be read is kept unparsed with its real sender.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from dataclasses import dataclass

import aioimaplib
from sqlalchemy import select, update

from channels.email import accounts as mail_accounts
from channels.email.models import MailAccount, MailFolderState
from channels.email.parse import PARSER
from channels.email.urls import MailUrlError, Server, parse_imap_url
from tresen import rooms
from tresen.inbound import InboundMessage
from tresen.runtime import Runtime
from tresen.secrets import SecretUnreadable

log = logging.getLogger(__name__)

BATCH = 50  # messages per UID FETCH
IDLE_SECONDS = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
POLL_SECONDS = 60.0
TIMEOUT_SECONDS = 60.0
BACKOFF_SECONDS = (1, 2, 5, 15, 30, 60, 120, 300)
ACCOUNTS_REFRESH_SECONDS = 30.0
LOCK_NAMESPACE = 727275  # advisory lock key space for mail accounts (tresen.migrate uses 727274)

_FETCH_LINE = re.compile(rb"^\d+ FETCH \(.*?UID (\d+).*\{(\d+)\}$")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")


class ImapError(RuntimeError):
    """The IMAP server refused or broke off; the fetcher reconnects later."""


@dataclass
class Fetched:
    stored: int = 0


class MailboxFetcher:
    """Fetches one account's folder into the inbox."""

    def __init__(self, runtime: Runtime, account: MailAccount, server: Server) -> None:
        self.runtime = runtime
        self.account_id = account.id
        self.address = account.address
        self.queue_id = account.queue_id
        self.processed_folder = account.processed_folder
        self.server = server
        self.client: aioimaplib.IMAP4 | None = None

    async def connect(self) -> None:
        if self.server.tls:
            client = aioimaplib.IMAP4_SSL(
                host=self.server.host,
                port=self.server.port,
                timeout=TIMEOUT_SECONDS,
                ssl_context=ssl.create_default_context(),
            )
        else:
            client = aioimaplib.IMAP4(
                host=self.server.host, port=self.server.port, timeout=TIMEOUT_SECONDS
            )
        await client.wait_hello_from_server()
        answer = await client.login(self.server.username, self.server.password or "")
        if answer.result != "OK":
            raise ImapError(f"IMAP login refused for {self.server.username}")
        self.client = client

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            await asyncio.wait_for(client.logout(), 5)
        except Exception:  # closing a broken connection: nothing more to do
            pass

    async def _command(self, coroutine) -> aioimaplib.Response:
        answer = await coroutine
        if answer.result != "OK":
            raise ImapError(
                b" ".join(bytes(line) for line in answer.lines).decode(errors="replace")
            )
        return answer

    async def fetch_once(self) -> Fetched:
        """Store every message not stored yet; returns how many were stored."""
        if self.client is None:
            await self.connect()
        folder = self.server.folder
        selected = await self._command(self.client.select(folder))
        uidvalidity = _uidvalidity(selected.lines)
        # Everything that arrives after this SELECT gets a UID from here on.
        boundary = _uidnext(selected.lines)
        if boundary is None:
            boundary = max(await self._search("ALL"), default=0) + 1
        state = await self._state(folder)
        if state is None:
            # First look at this folder: what nobody has read yet.
            uids = [uid for uid in await self._search("UNSEEN") if uid < boundary]
            last_uid = 0
        elif state.uidvalidity != uidvalidity:
            # The server renumbered the folder: read it all again; the inbox drops doubles.
            log.warning(
                "%s/%s: UIDVALIDITY changed (%s -> %s); reading the folder again",
                self.address,
                folder,
                state.uidvalidity,
                uidvalidity,
            )
            uids = [uid for uid in await self._search("ALL") if uid < boundary]
            last_uid = 0
        else:
            last_uid = state.last_uid
            found = await self._search(f"UID {last_uid + 1}:*")
            uids = [uid for uid in found if uid > last_uid]
        fetched = Fetched()
        for start in range(0, len(uids), BATCH):
            batch = uids[start : start + BATCH]
            stored = await self._fetch_batch(batch)
            await self._mark_processed(stored)
            last_uid = max([last_uid, *stored])
            await self._save_state(folder, uidvalidity, last_uid)
            fetched.stored += len(stored)
        if state is None or state.uidvalidity != uidvalidity:
            # The whole snapshot is dealt with: unread mail stored, read mail left alone.
            await self._save_state(folder, uidvalidity, max(last_uid, boundary - 1))
        await self._touch(None)
        return fetched

    async def _search(self, criteria: str) -> list[int]:
        answer = await self._command(self.client.uid_search(criteria))
        uids: list[int] = []
        for line in answer.lines[:-1]:
            uids += [int(item) for item in bytes(line).split() if item.isdigit()]
        return sorted(set(uids))

    async def _fetch_batch(self, uids: list[int]) -> list[int]:
        """Fetch and store; the UIDs that are now durably stored."""
        answer = await self._command(
            self.client.uid("fetch", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
        )
        lines = answer.lines
        messages = []
        for index, line in enumerate(lines):
            match = _FETCH_LINE.match(bytes(line)) if isinstance(line, bytes) else None
            if match is not None and index + 1 < len(lines):
                messages.append((int(match.group(1)), bytes(lines[index + 1])))
        # All parsed one after another in the worker while the first are being stored.
        parsing = [asyncio.ensure_future(self._inbound(raw)) for _uid, raw in messages]
        stored = []
        try:
            for (uid, _raw), inbound in zip(messages, parsing, strict=True):
                await rooms.deliver(self.runtime, await inbound)  # raises if not stored
                stored.append(uid)
        finally:
            for pending in parsing:
                pending.cancel()
        return stored

    async def _inbound(self, raw: bytes) -> InboundMessage:
        inbound = await PARSER.parse(raw, account=self.address)
        if self.queue_id is not None:
            inbound = inbound.model_copy(update={"queue_id": self.queue_id})
        return inbound

    async def _mark_processed(self, uids: list[int]) -> None:
        if not uids:
            return
        uid_set = ",".join(map(str, uids))
        if self.processed_folder:
            answer = await self.client.uid("move", uid_set, self.processed_folder)
            if answer.result != "OK" and b"TRYCREATE" in b" ".join(map(bytes, answer.lines)):
                await self.client.create(self.processed_folder)
                answer = await self.client.uid("move", uid_set, self.processed_folder)
            if answer.result == "OK":
                return
            log.warning(
                "%s: moving to %s failed; flagging instead", self.address, self.processed_folder
            )
        await self._command(self.client.uid("store", uid_set, "+FLAGS.SILENT (\\Seen)"))

    async def _state(self, folder: str) -> MailFolderState | None:
        async with self.runtime.read() as session:
            return await session.scalar(
                select(MailFolderState).where(
                    MailFolderState.account_id == self.account_id, MailFolderState.folder == folder
                )
            )

    async def _save_state(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        async with self.runtime.transaction() as tx:
            state = await tx.session.scalar(
                select(MailFolderState).where(
                    MailFolderState.account_id == self.account_id, MailFolderState.folder == folder
                )
            )
            if state is None:
                tx.session.add(
                    MailFolderState(
                        account_id=self.account_id,
                        folder=folder,
                        uidvalidity=uidvalidity,
                        last_uid=last_uid,
                        updated_at=tx.now(),
                    )
                )
            else:
                state.uidvalidity, state.last_uid, state.updated_at = (
                    uidvalidity,
                    last_uid,
                    tx.now(),
                )

    async def _touch(self, error: str | None) -> None:
        async with self.runtime.transaction() as tx:
            await tx.session.execute(
                update(MailAccount)
                .where(MailAccount.id == self.account_id)
                .values(last_fetch_at=tx.now(), last_error=error)
            )

    async def wait_for_mail(self) -> None:
        """Until the server says something arrived (IDLE), or the poll interval passed."""
        if not self.client.has_capability("IDLE"):
            await asyncio.sleep(POLL_SECONDS)
            return
        idle = await self.client.idle_start(timeout=IDLE_SECONDS)
        try:
            await self.client.wait_server_push(timeout=IDLE_SECONDS)
        except TimeoutError:
            pass
        finally:
            if self.client.has_pending_idle():
                self.client.idle_done()
            await asyncio.wait_for(idle, TIMEOUT_SECONDS)

    async def run(self) -> None:
        """Fetch, wait for mail, fetch again; reconnect with backoff when the server drops."""
        failures = 0
        while True:
            try:
                await self.fetch_once()
                failures = 0
                await self.wait_for_mail()
            except asyncio.CancelledError:
                await self.close()
                raise
            except Exception as error:  # the server or network: reconnect after a pause
                delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                log.warning("fetching %s failed (%s); again in %ss", self.address, error, delay)
                await self.close()
                try:
                    await self._touch(f"{type(error).__name__}: {error}"[:2000])
                except Exception:
                    pass
                await asyncio.sleep(delay)


def _uidnext(lines) -> int | None:
    for line in lines:
        match = _UIDNEXT.search(bytes(line))
        if match:
            return int(match.group(1))
    return None


def _uidvalidity(lines) -> int:
    for line in lines:
        match = _UIDVALIDITY.search(bytes(line))
        if match:
            return int(match.group(1))
    raise ImapError("the server did not say the folder's UIDVALIDITY")


def fetcher_for(runtime: Runtime, account: MailAccount) -> MailboxFetcher | None:
    if not account.imap_url:
        return None
    try:
        server = parse_imap_url(mail_accounts.imap_url(runtime.settings, account))
    except (MailUrlError, SecretUnreadable) as error:
        log.error("mail account %s: %s", account.address, error)
        return None
    return MailboxFetcher(runtime, account, server)


async def run(runtime: Runtime) -> None:
    """The fetching worker: one task per active IMAP account, kept in step with the accounts."""
    tasks: dict[tuple[int, str], asyncio.Task] = {}
    try:
        while True:
            try:
                async with runtime.read() as session:
                    accounts = list(
                        await session.scalars(
                            select(MailAccount).where(
                                MailAccount.active.is_(True), MailAccount.imap_url.is_not(None)
                            )
                        )
                    )
            except Exception:
                log.exception("could not read the mail accounts")
                accounts = None
            if accounts is not None:
                wanted = {(account.id, account.imap_url): account for account in accounts}
                for key in list(tasks):
                    if key not in wanted or tasks[key].done():
                        tasks.pop(key).cancel()
                for key, account in wanted.items():
                    if key not in tasks:
                        fetcher = fetcher_for(runtime, account)
                        if fetcher is not None:
                            tasks[key] = asyncio.create_task(
                                _exclusively(runtime, fetcher), name=f"imap-{account.address}"
                            )
            await asyncio.sleep(ACCOUNTS_REFRESH_SECONDS)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        PARSER.stop()  # a parse in flight must not hold the process's exit


async def _exclusively(runtime: Runtime, fetcher: MailboxFetcher) -> None:
    """Run the fetcher while holding the account's lock (PostgreSQL); wait while another has it."""
    if not runtime.settings.is_postgres:
        await fetcher.run()  # one server process on SQLite
        return
    import asyncpg

    dsn = runtime.settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    while True:
        connection = await asyncpg.connect(dsn)
        try:
            if await connection.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", LOCK_NAMESPACE, fetcher.account_id
            ):
                await fetcher.run()
        finally:
            await connection.close()  # releases the lock; another process may take over
        await asyncio.sleep(ACCOUNTS_REFRESH_SECONDS)
