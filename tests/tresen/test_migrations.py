"""The schema exists only through migrations: they must build exactly what the models say."""

from __future__ import annotations

import json

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from customers.actions import create_customer
from tests.fixtures import inbound_mail
from tickets.actions import open_ticket
from tickets.inbox import receive
from tresen.database import UNMODELLED_PREFIXES, Base, create_engine
from tresen.migrate import alembic_config


def _modelled(name, type_, parent_names) -> bool:
    return not (type_ in ("table", "index") and (name or "").startswith(UNMODELLED_PREFIXES))


async def test_migrations_match_the_models(database_url):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "include_name": _modelled}
                    ),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


def _downgrade(sync_connection, revision: str) -> None:
    command.downgrade(_config(sync_connection), revision)


async def test_downgrading_keeps_the_customers_and_what_hangs_on_them(runtime, database_url):
    """A downgrade that rebuilt `customers` on SQLite (a batch copy: the old table dropped
    with foreign keys on) deleted every identity and ticket with it."""
    async with runtime.transaction() as tx:
        kim = await create_customer(tx, name="Kim", identities=[("email", "kim@example.com")])
        await open_ticket(tx, customer_id=kim.id, subject="Hallo", channel="web")
    await runtime.engine.dispose()
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _downgrade(sync, "0013"))
        async with engine.connect() as connection:
            counts = [
                await connection.scalar(text(f"SELECT count(*) FROM {table}"))
                for table in ("customers", "identities", "tickets")
            ]
        assert counts == [1, 1, 1]
        async with engine.begin() as connection:  # and up again, with the data still there
            await connection.run_sync(lambda sync: command.upgrade(_config(sync), "head"))
        async with engine.connect() as connection:
            role = await connection.scalar(text("SELECT org_role FROM customers"))
        assert role == "member"
    finally:
        await engine.dispose()


def _config(sync_connection):
    config = alembic_config()
    config.attributes["connection"] = sync_connection
    return config


async def test_old_consent_keys_are_kept_under_todays_purposes(runtime, database_url):
    """Before consent by purpose, the console and the demo data stored "email_marketing";
    0017 keeps that answer as "marketing" (an answer under "marketing" itself wins)."""
    async with runtime.transaction() as tx:
        kim = await create_customer(tx, name="Kim")
        olga = await create_customer(tx, name="Olga")
    await runtime.engine.dispose()
    engine = create_engine(database_url)
    old = {
        kim.id: {"email_marketing": True, "sms": False, "phone_calls": True},
        olga.id: {"email_marketing": True, "marketing": False},
    }
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _downgrade(sync, "0016"))
            for customer_id, stored in old.items():
                await connection.execute(
                    text("UPDATE customers SET consent = :consent WHERE id = :id"),
                    {"consent": json.dumps(stored), "id": customer_id},
                )
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_config(sync), "head"))
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT id, consent FROM customers"))
            now = {row.id: _json(row.consent) for row in rows}
            changes = (
                await connection.execute(
                    text("SELECT customer_id, purpose, granted, source FROM consent_changes")
                )
            ).all()
    finally:
        await engine.dispose()
    assert now[kim.id] == {"marketing": True, "sms": False, "phone_calls": True}
    assert now[olga.id] == {"marketing": False}
    assert [(c.customer_id, c.purpose, bool(c.granted), c.source) for c in changes] == [
        (kim.id, "marketing", True, "import")
    ]


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


async def test_downgrading_past_the_merges_keeps_customers_tickets_and_messages(
    runtime, database_url
):
    """0007's downgrade rebuilds `tickets` and `customers` on SQLite (their dropped columns
    are foreign keys): with foreign keys off, so nothing hanging on them goes."""
    await receive(runtime, inbound_mail("<downgrade@example.com>"))
    await runtime.engine.dispose()
    engine = create_engine(database_url)
    tables = ("customers", "identities", "tickets", "messages")
    try:
        async with engine.connect() as connection:
            before = [
                await connection.scalar(text(f"SELECT count(*) FROM {table}")) for table in tables
            ]
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _downgrade(sync, "0006"))
        async with engine.connect() as connection:
            after = [
                await connection.scalar(text(f"SELECT count(*) FROM {table}")) for table in tables
            ]
            sqlite = connection.dialect.name == "sqlite"
            pragma = text("PRAGMA foreign_keys") if sqlite else text("SELECT 1")
            foreign_keys = await connection.scalar(pragma)
        assert before[0] == 1 and after == before
        assert foreign_keys == 1
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_config(sync), "head"))
    finally:
        await engine.dispose()
