"""A process for the kill test: emits an event with a durable handler, or runs the jobs.

python -m tests.tresen.handler_process emit DATABASE_URL DATA_DIR
    commits an event, prints "committed" and sleeps before it would handle it
python -m tests.tresen.handler_process work DATABASE_URL DATA_DIR
    runs the due jobs twice and prints how many ran each time
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from tresen import rooms
from tresen.events import Payload
from tresen.handlers import handler, run_due
from tresen.runtime import Runtime, Transaction
from tresen.settings import Settings


@dataclass(frozen=True)
class DoorOpened(Payload, type="test.door_opened"):
    door: str


@handler(DoorOpened, name="test.log_door")
async def log_door(tx: Transaction, event: DoorOpened, *, key: str) -> None:
    """Its effect: a row in door_log (a table the test creates)."""
    await tx.session.execute(
        text("INSERT INTO door_log (door, job_key) VALUES (:door, :key)"),
        {"door": event.door, "key": key},
    )


async def main(mode: str, database_url: str, data_dir: str) -> None:
    rooms.load_models()
    settings = Settings(
        data_dir=Path(data_dir), database_url=database_url, secret_key="test-secret-key"
    )
    runtime = Runtime.create(settings)
    await runtime.start()
    try:
        if mode == "emit":
            async with runtime.transaction() as tx:
                tx.emit(DoorOpened(door="front"))
            print("committed", flush=True)
            await asyncio.sleep(60)  # the test kills the process here
            await run_due(runtime)
        else:
            first = await run_due(runtime)
            second = await run_due(runtime)
            print(first, second, flush=True)
    finally:
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
