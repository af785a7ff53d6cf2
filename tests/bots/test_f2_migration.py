"""Migration 0019's downgrade leaves no ticket in the state "bot" (unknown before it)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from tests.bots.bot_world import desk, say, ticket
from tresen.database import create_engine
from tresen.migrate import alembic_config


def _downgrade(sync_connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_connection
    command.downgrade(config, revision)


async def test_downgrading_past_0019_gives_the_bots_tickets_to_people(runtime, database_url):
    world = await desk(runtime)
    ticket_id = await say(runtime, "mig", "Hallo, wie geht das?", world["queue_id"], turn=False)
    assert (await ticket(runtime, ticket_id)).state == "bot"
    await runtime.engine.dispose()
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _downgrade(sync, "0018"))
        async with engine.connect() as connection:
            state = await connection.scalar(
                text("SELECT state FROM tickets WHERE id = :id"), {"id": ticket_id}
            )
    finally:
        await engine.dispose()
    assert state == "new"
