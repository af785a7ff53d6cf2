"""SQLite for the async engine, executed inline on the event loop.

SQLAlchemy's aiosqlite dialect sends every cursor call to a worker thread; on
these machines each hand-off costs ~250 µs, more than the statement itself, so an
inbound message (18 statements) spent most of its time switching threads. An
SQLite statement on a local file takes microseconds, so here it runs inline.

What makes that safe: the Runtime serializes its own write transactions with an
asyncio lock, so a coroutine never waits for another coroutine of the same
process; WAL readers never wait for writers. Only another *process* writing at
the same moment (the CLI beside a running server, a backup, a second server)
holds a lock we need. SQLite's own busy handler would wait for it *on the loop*
(the whole server frozen for as long as the other process holds it), so it gets
only a few milliseconds (BUSY_TIMEOUT_SECONDS); after that the statement is
tried again after an asynchronous sleep with backoff, until a deadline
(BUSY_WAIT_SECONDS, or the one `waiting_until` set), and then fails with
`DatabaseBusy` (answered 503 with Retry-After by the app).

Trying a statement again after SQLITE_BUSY is what SQLite's busy handler does
itself, one level up; it is safe because a statement that got SQLITE_BUSY
changed nothing, and only when the transaction around it is still the same:
- a writing transaction starts with BEGIN IMMEDIATE (tresen/database.py), so the
  write lock is taken at BEGIN, before anything is done: BEGIN is tried again;
  inside it, in WAL mode, no statement needs another lock;
- a reading statement in WAL mode waits only while another connection recovers
  the WAL index (SQLITE_BUSY_RECOVERY): a read has no effect, it is repeated;
- a first write inside a read transaction (BEGIN DEFERRED) waits for the write
  lock like BEGIN IMMEDIATE; if another process committed meanwhile, SQLite
  answers SQLITE_BUSY_SNAPSHOT, which no wait can cure: that error is raised.
If SQLite ended the transaction because of the error (it does not for BUSY in WAL
mode, but a rollback journal might) or an executemany ran outside one (not
atomic), nothing is tried again.
Several server processes belong on PostgreSQL (see ARCHITECTURE.md).

Everything else (types, pooling, transactions, SQL) is SQLAlchemy's own aiosqlite
dialect, fed a small module with aiosqlite's interface that completes at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import sqlite3
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_

DRIVER = "tresen_sqlite"
# How long SQLite's busy handler may wait for a lock inline (it blocks the event loop).
BUSY_TIMEOUT_SECONDS = 0.002
# How long a statement waits for another process's lock, asleep, before DatabaseBusy.
BUSY_WAIT_SECONDS = 5.0
BACKOFF_FIRST = 0.005  # the first sleep after SQLITE_BUSY; doubles up to BACKOFF_MAX
BACKOFF_MAX = 0.1
# SQLITE_BUSY and SQLITE_BUSY_RECOVERY: the lock is held for now; BUSY_SNAPSHOT (517) is not here.
_RETRYABLE = {5, 261}

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "tresen_sqlite_busy_deadline", default=None
)


class DatabaseBusy(sqlite3.OperationalError):
    """Another process held the database's lock longer than we wait: try again later."""

    sqlite_errorcode = 5  # SQLITE_BUSY, as SQLite said before we gave up
    sqlite_errorname = "SQLITE_BUSY"


def deadline() -> float | None:
    """The monotonic time by which the current task's statements give up waiting, if set."""
    return _deadline.get()


@contextmanager
def waiting_until(when: float) -> Iterator[None]:
    """Statements run inside wait for other processes' locks until `when` (time.monotonic)
    at most, e.g. one deadline for a whole transaction, its BEGIN and its turn included."""
    token = _deadline.set(when if _deadline.get() is None else min(when, _deadline.get()))
    try:
        yield
    finally:
        _deadline.reset(token)


def is_busy(error: BaseException) -> bool:
    """SQLite could not take a lock another connection holds (waiting may help)."""
    return isinstance(error, sqlite3.OperationalError) and (
        getattr(error, "sqlite_errorcode", None) in _RETRYABLE
    )


async def _retrying(connection: sqlite3.Connection, attempt: Callable, *, atomic: bool = True):
    """`attempt()`, tried again after asynchronous sleeps while another process holds a lock."""
    give_up = None
    pause = BACKOFF_FIRST
    while True:
        in_transaction = connection.in_transaction
        try:
            return attempt()
        except sqlite3.OperationalError as error:
            if not is_busy(error) or connection.in_transaction != in_transaction:
                raise
            if not (atomic or in_transaction):
                raise  # part of an executemany may have been committed already
            now = time.monotonic()
            if give_up is None:
                give_up = deadline() or now + BUSY_WAIT_SECONDS
            if now >= give_up:
                raise DatabaseBusy(f"{error}: another process holds the lock") from error
            await asyncio.sleep(min(pause, give_up - now))
            pause = min(pause * 2, BACKOFF_MAX)


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
        return _retrying(self._conn, self._conn.commit)

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
        kwargs["timeout"] = BUSY_TIMEOUT_SECONDS  # bounds how long the loop can be held
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
        connection = self._connection._conn
        result = await _retrying(
            connection, lambda: _run(connection, operation, parameters, many), atomic=not many
        )
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
