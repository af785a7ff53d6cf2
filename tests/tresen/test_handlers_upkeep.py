"""Looking after the durable handlers' jobs: old done jobs are forgotten, failed ones are
listed and run again by a person."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from tests.support import ServerProcess
from tresen import handlers
from tresen.models import EventJob


async def _job(runtime, key: str, status: str, age: timedelta) -> None:
    at = runtime.clock.now() - age
    async with runtime.transaction() as tx:
        await tx.session.execute(
            insert(EventJob).values(
                handler="test.upkeep",
                event_type="ticket.updated",
                payload={},
                key=key,
                status=status,
                attempts=8 if status == "failed" else 1,
                last_error="ValueError: no" if status == "failed" else None,
                created_at=at,
                next_attempt_at=None,
                done_at=at if status == "done" else None,
            )
        )


async def test_old_done_jobs_are_pruned_failed_ones_kept(runtime):
    await _job(runtime, "old", "done", timedelta(days=8))
    await _job(runtime, "new", "done", timedelta(days=1))
    await _job(runtime, "broken", "failed", timedelta(days=30))
    assert await handlers.prune_done(runtime) == 1
    async with runtime.read() as session:
        keys = set(await session.scalars(select(EventJob.key)))
    assert keys == {"new", "broken"}


async def test_a_failed_job_is_retried_once_by_a_person(runtime):
    await _job(runtime, "broken", "failed", timedelta(days=1))
    async with runtime.read() as session:
        failed = await handlers.failed_jobs(session)
    assert [job.key for job in failed] == ["broken"]
    async with runtime.transaction() as tx:
        assert await handlers.retry(tx, failed[0].id)
    async with runtime.transaction() as tx:
        assert not await handlers.retry(tx, failed[0].id)  # pending now, not failed


def test_the_cli_lists_and_retries_failed_jobs(database_url, tmp_path):
    from tests.conftest import run_in_thread
    from tresen.runtime import Runtime
    from tresen.settings import Settings

    cli = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "cli")
    (tmp_path / "cli").mkdir()
    assert cli.cli("migrate").returncode == 0

    async def seed():
        runtime = Runtime.create(Settings(data_dir=tmp_path, database_url=database_url))
        try:
            await _job(runtime, "broken", "failed", timedelta(days=1))
        finally:
            await runtime.close()

    run_in_thread(seed())
    listed = cli.cli("handlers", "failed")
    assert listed.returncode == 0 and "test.upkeep" in listed.stdout
    assert "ValueError: no" in listed.stdout
    job_id = listed.stdout.split("\t", 1)[0]
    assert cli.cli("handlers", "retry", job_id).returncode == 0
    again = cli.cli("handlers", "retry", job_id)
    assert again.returncode == 1 and "not a failed job" in again.stderr
    assert cli.cli("handlers", "retry", "many").returncode == 2
