"""SQLite for the async engine, executed inline on the event loop.

SQLAlchemy's aiosqlite dialect sends every cursor call to a worker thread; on
these machines each hand-off costs ~250 µs, more than the statement itself, so an
inbound message (18 statements) spent most of its time switching threads. An
SQLite statement on a local file takes microseconds, so here it runs inline.

What makes that safe: the Runtime serializes its own write transactions with an
asyncio lock, so a coroutine never waits inside SQLite's busy handler for
another coroutine of the same process (that would block the loop); WAL readers
never wait for writers. Only another *process* writing at the same moment (the
CLI beside a running server) makes a statement wait, up to the busy timeout.
Several server processes belong on PostgreSQL (see ARCHITECTURE.md).

Everything else (types, pooling, transactions, SQL) is SQLAlchemy's own aiosqlite
dialect, fed a small module with aiosqlite's interface that completes at once.
"""

from __future__ import annotations

import collections
import sqlite3
import types

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_

DRIVER = "tresen_sqlite"
BUSY_TIMEOUT_SECONDS = 5.0


def _run(connection: sqlite3.Connection, operation: str, parameters, many: bool):
    """Run one statement and take everything SQLAlchemy will read from it."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def _done(value=None):
    return value


class _ImmediateQueue:
    """Stands in for aiosqlite's request queue (SQLAlchemy uses it to set isolation_level)."""

    def put_nowait(self, item) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to the awaiting caller
            future.set_exception(error)


class InlineConnection:
    """aiosqlite.Connection's interface over a plain sqlite3 connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._tx = _ImmediateQueue()
        self._open = True

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """As in aiosqlite: the open connection, None once closed."""
        return self._conn if self._open else None

    def cursor(self):
        raise NotImplementedError("statements go through InlineCursor")

    def commit(self):
        self._conn.commit()
        return _done()

    def rollback(self):
        self._conn.rollback()
        return _done()

    def close(self):
        self._open = False
        self._conn.close()
        return _done()

    stop = close  # aiosqlite's forced close; nothing runs in the background here

    def create_function(self, *args, **kwargs):
        self._conn.create_function(*args, **kwargs)
        return _done()


class _Connecting:
    """What aiosqlite.connect returns: awaitable, with a thread SQLAlchemy marks daemon."""

    _thread = types.SimpleNamespace(daemon=True)

    def __init__(self, database, **kwargs) -> None:
        kwargs["timeout"] = BUSY_TIMEOUT_SECONDS  # bounds how long the loop can wait
        kwargs["check_same_thread"] = False  # created, used and closed on the loop's thread
        self._connection = sqlite3.connect(database, **kwargs)

    def __await__(self):
        return _done(InlineConnection(self._connection)).__await__()


inline_module = types.SimpleNamespace(
    connect=_Connecting,
    Connection=InlineConnection,
    **{
        name: getattr(sqlite3, name)
        for name in (
            "DatabaseError",
            "Error",
            "IntegrityError",
            "NotSupportedError",
            "OperationalError",
            "ProgrammingError",
            "sqlite_version",
            "sqlite_version_info",
        )
    },
)


class InlineCursor:
    """A buffered DB-API cursor: each statement runs and is fetched in one step."""

    server_side = False
    arraysize = 1

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._rows: collections.deque = collections.deque()
        self.description = None
        self.rowcount = -1
        self.lastrowid = None

    async def _run_async(self, operation, parameters, many: bool) -> None:
        # A coroutine only because SQLAlchemy requires the async path to await.
        result = _run(self._connection._conn, operation, parameters, many)
        self.description, rows, self.rowcount, self.lastrowid = result
        self._rows = collections.deque(rows)

    def _execute(self, operation, parameters, many: bool) -> None:
        try:
            await_(self._run_async(operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def execute(self, operation, parameters=None) -> None:
        self._execute(operation, parameters, False)

    def executemany(self, operation, seq_of_parameters) -> None:
        self._execute(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor is closed already."""

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes) -> None:
        pass

    def __iter__(self):
        while self._rows:
            yield self._rows.popleft()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fetchone(self):
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None):
        size = size or self.arraysize
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def fetchall(self):
        rows = list(self._rows)
        self._rows.clear()
        return rows


class InlineAdaptedConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = InlineCursor


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *args, **kwargs):
        connection = super().connect(*args, **kwargs)
        connection.__class__ = InlineAdaptedConnection
        return connection


class Dialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True
    supports_server_side_cursors = False

    @classmethod
    def import_dbapi(cls):
        return InlineDBAPI(inline_module, sqlite3)


registry.register(f"sqlite.{DRIVER}", __name__, "Dialect")
