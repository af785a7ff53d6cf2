"""`tresen inbox quarantined | retry ID`: inbound messages that failed too often to be retried."""

from __future__ import annotations

import asyncio
import sys

from tickets import inbox

COMMAND = "inbox"


def add_commands(commands) -> None:
    parser = commands.add_parser(COMMAND, help="inbound messages that could not be processed")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=parser.__class__)
    actions.add_parser("quarantined", help="list quarantined messages with their errors")
    retry = actions.add_parser("retry", help="process a quarantined message again")
    retry.add_argument("inbox_id", type=int)


def run(args, settings, with_runtime) -> int:
    if args.action == "quarantined":
        for record in asyncio.run(with_runtime(settings, inbox.quarantined)):
            print(
                f"{record.id}\t{record.channel}\t{record.external_id}\t{record.attempts}\t"
                f"{record.error}"
            )
        return 0
    try:
        result = asyncio.run(
            with_runtime(settings, lambda runtime: inbox.retry_quarantined(runtime, args.inbox_id))
        )
    except LookupError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 1
    except inbox.InboxProcessingError as error:
        print(
            f"tresen: error: message {args.inbox_id} still fails: {error.__cause__}",
            file=sys.stderr,
        )
        return 1
    print(f"message {args.inbox_id} processed: ticket {result.ticket_id}")
    return 0
