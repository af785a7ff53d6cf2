"""What every benchmark sets up: a database of the chosen engine, and a migrated runtime."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tresen import rooms
from tresen.migrate import upgrade
from tresen.runtime import Runtime
from tresen.settings import Settings


@contextmanager
def database_urls(postgres: bool, names: tuple[str, ...] = ("bench",)) -> Iterator[list[str]]:
    """One fresh database per name: SQLite files in a temporary directory, or databases
    on a throwaway PostgreSQL cluster (started and stopped here)."""
    if not postgres:
        directory = tempfile.mkdtemp()
        yield [f"sqlite+aiosqlite:///{directory}/{name}.sqlite3" for name in names]
        return
    import asyncio

    import asyncpg

    from tests.support import PostgresCluster

    async def create(url: str) -> None:
        connection = await asyncpg.connect(url.replace("+asyncpg", ""))
        for name in names:
            await connection.execute(f"CREATE DATABASE {name}")
        await connection.close()

    cluster = PostgresCluster()
    cluster.start()
    try:
        asyncio.run(create(cluster.url()))
        yield [cluster.url(name) for name in names]
    finally:
        cluster.stop()


async def migrated_runtime(database_url: str) -> Runtime:
    """A started runtime on a database brought to the newest schema."""
    rooms.load_models()
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()), database_url=database_url, secret_key="bench"
    )
    runtime = Runtime.create(settings)
    await upgrade(runtime.engine)
    await runtime.start()
    return runtime


def sign_in(client) -> None:
    """Sign the bench supervisor in through the login form (an httpx.Client on the server)."""
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/login",
        data={
            "email": "bench@example.com",
            "password": "bench-password",
            "csrf_token": token,
            "next": "/",
        },
    )
    assert answer.status_code == 303, answer.text
