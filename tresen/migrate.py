"""Schema changes only through Alembic: upgrade to head, on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(engine: AsyncEngine, *, secret_key: str = "", base_url: str = "") -> None:
    """Bring the schema to the newest revision; several processes may call it at once.

    The secret key is for migrations that seal stored secrets (0009); a database
    without channel accounts migrates without it. The base URL makes links in mail a
    migration queues absolute (0008).
    """

    def run(connection) -> None:
        if connection.dialect.name == "postgresql":
            # One process migrates; the others wait, then find nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        config = alembic_config()
        config.attributes["connection"] = connection
        config.attributes["secret_key"] = secret_key
        config.attributes["base_url"] = base_url
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database is at the newest revision."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    def current(connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(current) == head
