"""Mail account passwords are sealed at rest: fetching and sending open them, nothing shows
them, a changed secret key is named, and migration 0009 seals what was stored before."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select, text

from channels.email import accounts, fetch
from channels.email.accounts import account_json, create_account, update_account
from channels.email.models import MailAccount
from tests.fixtures import alembic, inbound_mail
from tests.support import ServerProcess
from tickets import outbox
from tickets.actions import add_message
from tickets.inbox import receive
from tickets.models import OutboxMessage, Ticket
from tresen.clock import FrozenClock
from tresen.database import UTCDateTime, create_engine
from tresen.migrate import upgrade
from tresen.runtime import Runtime
from tresen.settings import Settings

IMAP = "imaps://support:geheim-imap-123@imap.example.com/INBOX"
SMTP = "smtp+starttls://support:geheim-smtp-456@smtp.example.com:587"
UNREADABLE = "cannot read the password: was TRESEN_SECRET_KEY changed?"


async def raw_urls(runtime) -> tuple[str | None, str | None]:
    """The columns as stored, read with SQL past the model."""
    async with runtime.read() as session:
        row = (await session.execute(text("SELECT imap_url, smtp_url FROM mail_accounts"))).one()
    return row.imap_url, row.smtp_url


async def stored_account(runtime) -> MailAccount:
    async with runtime.read() as session:
        return await session.scalar(select(MailAccount))


async def test_passwords_are_not_stored_as_plaintext(runtime, settings):
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@example.com", imap_url=IMAP, smtp_url=SMTP)

    imap, smtp = await raw_urls(runtime)
    assert imap.startswith("enc1:") and smtp.startswith("enc1:")
    assert "geheim" not in imap + smtp and "imap.example.com" not in imap
    if not settings.is_postgres:
        # Nor anywhere in the database file or its write-ahead log.
        path = Path(settings.database_url.split("///", 1)[1])
        stored = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert b"support@example.com" in stored  # the account is there ...
        assert b"geheim" not in stored  # ... its passwords are not

    account = await stored_account(runtime)
    assert accounts.imap_url(settings, account) == IMAP
    assert accounts.smtp_url(settings, account) == SMTP
    shown = account_json(account, settings)
    assert shown["imap_url"] == "imaps://support:***@imap.example.com/INBOX"
    assert shown["smtp_url"] == "smtp+starttls://support:***@smtp.example.com:587"

    # The same URL again changes nothing (each sealing differs, what is sealed does not);
    # a new one is sealed too.
    new_smtp = SMTP.replace("geheim-smtp-456", "neu-789")
    async with runtime.transaction() as tx:
        account = await tx.session.get(MailAccount, account.id)
        assert await update_account(tx, account, {"imap_url": IMAP}) == []
        assert await update_account(tx, account, {"smtp_url": new_smtp}) == ["smtp_url"]
    assert (await raw_urls(runtime))[0] == imap
    assert "neu-789" not in (await raw_urls(runtime))[1]
    assert accounts.smtp_url(settings, await stored_account(runtime)) == new_smtp


async def reply_to_new_ticket(runtime, number: int) -> int:
    received = await receive(runtime, inbound_mail(f"<kunde-{number}@example.com>"))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, received.ticket_id)
        message = await add_message(tx, ticket, direction="outbound", text="Bitte neu starten.")
    return message.id


async def outbox_row(runtime, message_id: int) -> OutboxMessage:
    async with runtime.read() as session:
        return await session.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == message_id)
        )


async def test_a_reply_goes_out_through_a_sealed_account(runtime, smtp_server):
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
    assert smtp_server.password not in (await raw_urls(runtime))[1]

    reply_id = await reply_to_new_ticket(runtime, 1)
    assert await outbox.deliver_due(runtime) == 1
    [(sender, recipients, _raw)] = smtp_server.received  # logged in with the opened password
    assert sender == "support@tresen.test" and recipients == ["kim@example.com"]
    assert (await outbox_row(runtime, reply_id)).status == "sent"


async def test_mail_is_fetched_through_a_sealed_account(runtime, dovecot):
    await dovecot.append(
        b"From: Kim <kim@example.com>\r\nTo: support@tresen.test\r\nSubject: Hallo\r\n"
        b"Message-ID: <versiegelt@example.com>\r\n\r\nText\r\n"
    )
    async with runtime.transaction() as tx:
        account = await create_account(tx, address="support@tresen.test", imap_url=dovecot.url())
    assert "imap-secret" not in (await raw_urls(runtime))[0]
    assert (await fetch.fetcher_for(runtime, account).fetch_once()).stored == 1


async def test_a_changed_secret_key_is_named_and_breaks_no_worker(runtime, settings, smtp_server):
    async with runtime.transaction() as tx:
        await create_account(
            tx, address="support@tresen.test", imap_url=IMAP, smtp_url=smtp_server.url()
        )
    reply_id = await reply_to_new_ticket(runtime, 1)
    changed = Runtime.create(replace(settings, secret_key="another-secret-key"))
    changed.clock = FrozenClock(runtime.clock.now())
    await changed.start()
    try:
        account = await stored_account(changed)
        shown = account_json(account, changed.settings)
        assert shown["last_error"] == UNREADABLE
        assert shown["imap_url"] is None and shown["smtp_url"] is None
        assert fetch.fetcher_for(changed, account) is None  # logged; the worker goes on

        # The reply stays queued, saying why, until the password is given again.
        assert await outbox.deliver_due(changed) == 0
        row = await outbox_row(changed, reply_id)
        assert row.status == "queued" and UNREADABLE in row.last_error
        assert smtp_server.received == []

        async with changed.transaction() as tx:
            account = await tx.session.get(MailAccount, account.id)
            changes = {"smtp_url": smtp_server.url()}
            assert await update_account(tx, account, changes) == ["smtp_url"]
        changed.clock.advance(timedelta(days=1))
        await outbox.deliver_due(changed)
        assert (await outbox_row(changed, reply_id)).status == "sent"
        assert len(smtp_server.received) == 1
    finally:
        await changed.close()


def test_the_cli_lists_an_unreadable_account_with_the_reason(database_url, tmp_path):
    cli = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "cli")
    (tmp_path / "cli").mkdir()
    assert cli.cli("migrate").returncode == 0
    added = cli.cli("channels", "add-email", "--address", "support@example.com", "--imap-url", IMAP)
    assert added.returncode == 0, added.stderr
    assert "imaps://support:***@imap.example.com/INBOX" in cli.cli("channels", "list").stdout

    cli.env["TRESEN_SECRET_KEY"] = "another-secret-key"
    listed = cli.cli("channels", "list")
    assert listed.returncode == 0, listed.stderr
    assert "support@example.com" in listed.stdout and UNREADABLE in listed.stdout
    assert "geheim" not in listed.stdout + listed.stderr


# --- Migration 0009 ---


async def raw_rows(url: str) -> list:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT address, imap_url, smtp_url FROM mail_accounts ORDER BY address")
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


async def insert_plaintext_accounts(url: str) -> None:
    """Accounts as Tresen stored them at revision 0008, written past the model."""
    table = sa.table(
        "mail_accounts",
        *(sa.column(name) for name in ("address", "display_name", "imap_url", "smtp_url")),
        sa.column("active", sa.Boolean),
        sa.column("created_at", UTCDateTime(timezone=True)),
        sa.column("updated_at", UTCDateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    rows = [("support@example.com", IMAP, SMTP), ("verkauf@example.com", None, SMTP)]
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.insert(table),
                [
                    dict(
                        address=a,
                        display_name="",
                        imap_url=i,
                        smtp_url=s,
                        active=True,
                        created_at=now,
                        updated_at=now,
                    )
                    for a, i, s in rows
                ],
            )
    finally:
        await engine.dispose()


def assert_sealed(rows: list) -> None:
    assert [address for address, _i, _s in rows] == ["support@example.com", "verkauf@example.com"]
    [(_a, imap, smtp), (_b, no_imap, other_smtp)] = rows
    assert no_imap is None
    for sealed in (imap, smtp, other_smtp):
        assert sealed.startswith("enc1:") and "geheim" not in sealed


async def test_migration_0009_seals_the_passwords_stored_before(empty_database_url, tmp_path):
    url, key = empty_database_url, "desk-secret-key"
    await alembic(url, "upgrade", "0008")
    await insert_plaintext_accounts(url)
    plaintext = await raw_rows(url)
    assert plaintext[0] == ("support@example.com", IMAP, SMTP)

    with pytest.raises(RuntimeError, match="TRESEN_SECRET_KEY, which was not given"):
        await alembic(url, "upgrade", "0009")
    assert await raw_rows(url) == plaintext  # nothing half done

    await alembic(url, "upgrade", "0009", secret_key=key)
    assert_sealed(await raw_rows(url))
    # Down again: a wrong key is named, the right one gives back what was stored.
    with pytest.raises(RuntimeError, match="was TRESEN_SECRET_KEY changed"):
        await alembic(url, "downgrade", "0008", secret_key="another-secret-key")
    await alembic(url, "downgrade", "0008", secret_key=key)
    assert await raw_rows(url) == plaintext

    # `tresen migrate` brings it to the newest schema, sealing on the way.
    engine = create_engine(url)
    try:
        await upgrade(engine, secret_key=key)
    finally:
        await engine.dispose()
    assert_sealed(await raw_rows(url))
    runtime = Runtime.create(Settings(data_dir=tmp_path, database_url=url, secret_key=key))
    try:
        async with runtime.read() as session:
            account = await session.scalar(
                select(MailAccount).where(MailAccount.address == "support@example.com")
            )
        assert accounts.imap_url(runtime.settings, account) == IMAP
        assert accounts.smtp_url(runtime.settings, account) == SMTP
        assert account_json(account, runtime.settings)["smtp_url"] == (
            "smtp+starttls://support:***@smtp.example.com:587"
        )
    finally:
        await runtime.engine.dispose()
