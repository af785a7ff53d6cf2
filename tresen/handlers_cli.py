"""`tresen handlers failed | retry ID`: the durable event handlers' jobs that gave up."""

from __future__ import annotations

import asyncio
import sys

from tresen import handlers

COMMAND = "handlers"


def add_commands(commands) -> None:
    parser = commands.add_parser(COMMAND, help="reactions to events that failed for good")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=parser.__class__)
    actions.add_parser("failed", help="list jobs whose handler gave up, newest first")
    retry = actions.add_parser("retry", help="run a failed job again")
    retry.add_argument("job_id", type=int)


async def _failed(runtime) -> list:
    async with runtime.read() as session:
        return await handlers.failed_jobs(session)


async def _retry(runtime, job_id: int) -> bool:
    async with runtime.transaction() as tx:
        return await handlers.retry(tx, job_id)


def run(args, settings, with_runtime) -> int:
    if args.action == "failed":
        for job in asyncio.run(with_runtime(settings, _failed)):
            print(f"{job.id}\t{job.handler}\t{job.event_type}\t{job.attempts}\t{job.last_error}")
        return 0
    if not asyncio.run(with_runtime(settings, lambda runtime: _retry(runtime, args.job_id))):
        print(f"tresen: error: job {args.job_id} is not a failed job", file=sys.stderr)
        return 1
    print(f"job {args.job_id} will run again")
    return 0
