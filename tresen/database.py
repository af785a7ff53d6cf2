"""Async SQLAlchemy engine, the declarative base, and column types shared by the rooms."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


WRITE_OPTION = "tresen_write"


# Tables a migration makes by hand that no model describes (full-text indexes: an FTS5 virtual
# table with its shadow tables on SQLite, a tsvector table on PostgreSQL).
UNMODELLED_PREFIXES = ("kb_fts", "messages_fts")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in, timezone-aware UTC out, on every engine."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        # SQLite keeps no zone; store the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# PostgreSQL connections per server process, sized on purpose. Live sockets hold none: the
# hub (tresen/live.py) loads once per tick for all of them, on one connection. What holds
# connections is HTTP requests (one each, for the request's length) and the background
# workers (inbox, outbox, SLA timers, mail fetch, event handlers: one each while working);
# the event listener has its own connection outside the pool. 10 kept open cover a busy
# process; 10 more for bursts; 4 processes then stay at 80 + 4 listeners, under
# PostgreSQL's default max_connections of 100. A request that finds the pool empty for
# POOL_TIMEOUT seconds fails (HTTP 500, logged) instead of queueing without end.
# SQLite keeps SQLAlchemy's default (5 + 10): its readers share one file, one writer at a time.
POOL_SIZE = 10
POOL_OVERFLOW = 10
POOL_TIMEOUT = 10


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """An engine for the URL; SQLite gets WAL and foreign keys (busy timeout: its driver)."""
    if database_url.startswith("sqlite"):
        from tresen import sqlite_driver

        url = make_url(database_url).set(drivername=f"sqlite+{sqlite_driver.DRIVER}")
        engine = create_async_engine(url, echo=echo)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        # Let SQLAlchemy (not pysqlite) issue BEGIN, so a writing transaction that
        # reads first takes the write lock up front (BEGIN IMMEDIATE) and waits
        # for it instead of failing with "database is locked" on upgrade.
        @event.listens_for(engine.sync_engine, "connect")
        def _no_pysqlite_transactions(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn) -> None:
            writes = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

        return engine
    return create_async_engine(
        database_url,
        echo=echo,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=POOL_TIMEOUT,
    )


def create_sessionmakers(engine: AsyncEngine) -> tuple[async_sessionmaker, async_sessionmaker]:
    """Session factories for reading and for writing (the latter locks early on SQLite)."""
    reader = async_sessionmaker(engine, expire_on_commit=False)
    writer = async_sessionmaker(
        engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
    )
    return reader, writer
