"""Async SQLAlchemy engine, the declarative base, and column types shared by the rooms."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy import exc as sa_exc
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


class DatabaseUnreachable(ConnectionError):
    """No connection to the database server could be made (refused, unknown host, timed out)."""


# Why the database cannot serve a request now, by kind: each answered 503 with Retry-After
# (the request may well succeed a little later), never a 500. The public text says no more.
BUSY = "busy"  # locked by another process, our writers' queue too long, no pooled connection
FULL = "full"  # the disk (or a quota) is full
READ_ONLY = "read-only"  # a read-only file or a standby server
UNAVAILABLE = "unavailable"  # disk I/O errors, the server unreachable or shutting down

_SQLITE_REASONS = {5: BUSY, 6: BUSY, 8: READ_ONLY, 10: UNAVAILABLE, 13: FULL, 14: UNAVAILABLE}
_SQLSTATE_REASONS = {
    "53100": FULL,  # disk_full
    "53": BUSY,  # insufficient resources: out of memory, too many connections
    "08": UNAVAILABLE,  # connection exception
    "57P": UNAVAILABLE,  # shutting down, crashed, cannot connect now
    "25006": READ_ONLY,  # read_only_sql_transaction (a standby)
    "55P03": BUSY,  # lock_not_available
}


def unavailable(error: BaseException) -> str | None:
    """Why the database cannot serve now (BUSY, FULL, READ_ONLY, UNAVAILABLE), or None when the
    error is of another kind (a bug, a constraint): looks through SQLAlchemy's wrapping."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        reason = _reason(current)
        if reason is not None:
            return reason
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return None


def _reason(error: BaseException) -> str | None:
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time
        return BUSY
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return UNAVAILABLE
    if isinstance(error, sqlite3.Error):
        return _SQLITE_REASONS.get((getattr(error, "sqlite_errorcode", None) or 0) & 0xFF)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        for prefix in (sqlstate, sqlstate[:3], sqlstate[:2]):
            if prefix in _SQLSTATE_REASONS:
                return _SQLSTATE_REASONS[prefix]
        return None
    if isinstance(error, DatabaseUnreachable) or (
        type(error).__name__ == "ConnectionDoesNotExistError"  # asyncpg: the server went away
    ):
        return UNAVAILABLE
    return None


# PostgreSQL connections per server process, sized on purpose. Live sockets hold none: the
# hub (tresen/live.py) loads once per tick for all of them, on one connection. What holds
# connections is HTTP requests (one each, for the request's length) and the background
# workers (inbox, outbox, SLA timers, mail fetch, event handlers: one each while working);
# the event listener has its own connection outside the pool. 10 kept open cover a busy
# process; 10 more for bursts; 4 processes then stay at 80 + 4 listeners, under
# PostgreSQL's default max_connections of 100. A request that finds the pool empty for
# POOL_TIMEOUT seconds fails (HTTP 503, logged) instead of queueing without end.
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
    engine = create_async_engine(
        database_url,
        echo=echo,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=POOL_TIMEOUT,
    )

    # asyncpg raises a plain OSError when it cannot reach the server, which SQLAlchemy passes
    # on unwrapped: named here, so it is told apart from any other OSError (answered 503).
    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams):
        try:
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        except OSError as error:
            raise DatabaseUnreachable(f"cannot connect to the database server: {error}") from error

    return engine


def create_sessionmakers(engine: AsyncEngine) -> tuple[async_sessionmaker, async_sessionmaker]:
    """Session factories for reading and for writing (the latter locks early on SQLite)."""
    reader = async_sessionmaker(engine, expire_on_commit=False)
    writer = async_sessionmaker(
        engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
    )
    return reader, writer
