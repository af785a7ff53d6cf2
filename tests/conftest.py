"""Fixtures: every database test runs on SQLite and on a real PostgreSQL cluster."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import shutil

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


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request, tmp_path):
    """A fresh, migrated database of each kind for one test."""
    if request.param == "sqlite":
        path = tmp_path / "tresen.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    cluster = request.getfixturevalue("postgres_cluster")
    name = f"test_{next(_database_numbers)}"
    admin = await asyncpg.connect(cluster.url().replace("+asyncpg", ""))
    await admin.execute(f"CREATE DATABASE {name} TEMPLATE tresen_template")
    await admin.close()
    yield cluster.url(name)
    admin = await asyncpg.connect(cluster.url().replace("+asyncpg", ""))
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()


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
    token = await create_token(runtime, agent.email)
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
    token = await create_token(runtime, "admin@example.com")
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
