"""`tresen channels add-email`, and the mail accounts in `tresen channels list`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy import select

from channels.email.accounts import AccountError, account_json, create_account, queue_id_named
from channels.email.models import MailAccount
from channels.email.urls import MailUrlError, parse_imap_url, parse_smtp_url
from tresen.runtime import Runtime

ACTIONS = ("add-email",)


def _url(parse):
    def check(raw: str) -> str:
        try:
            parse(raw)
        except MailUrlError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return raw

    return check


def add_actions(actions) -> None:
    """Declare `tresen channels add-email`."""
    add = actions.add_parser("add-email", help="add a support address fetched by IMAP")
    add.add_argument(
        "--address", required=True, help="the support address, e.g. support@example.com"
    )
    add.add_argument(
        "--imap-url",
        type=_url(parse_imap_url),
        help="imap://USER:PASS@HOST:PORT/FOLDER (imaps:// for TLS)",
    )
    add.add_argument(
        "--smtp-url",
        type=_url(parse_smtp_url),
        help="smtp://USER:PASS@HOST:PORT (smtp+starttls:// or smtps:// to encrypt)",
    )
    add.add_argument("--queue", help="the queue its new tickets go to (by name)")
    add.add_argument("--display-name", default="", help="the name replies are sent under")
    add.add_argument("--processed-folder", help="move fetched mail there instead of flagging it")


async def _add(runtime: Runtime, args) -> MailAccount:
    async with runtime.transaction() as tx:
        queue_id = await queue_id_named(tx, args.queue) if args.queue else None
        return await create_account(
            tx,
            address=args.address,
            imap_url=args.imap_url,
            smtp_url=args.smtp_url,
            display_name=args.display_name,
            queue_id=queue_id,
            processed_folder=args.processed_folder,
        )


async def _list(runtime: Runtime) -> list[dict]:
    async with runtime.read() as session:
        accounts = await session.scalars(select(MailAccount).order_by(MailAccount.id))
        return [account_json(account, runtime.settings) for account in accounts]


def run(args, settings, with_runtime) -> int:
    """Carry out `tresen channels add-email`; the exit status."""
    if not args.imap_url and not args.smtp_url:
        print("tresen: error: give --imap-url, --smtp-url or both", file=sys.stderr)
        return 2
    try:
        account = asyncio.run(with_runtime(settings, lambda runtime: _add(runtime, args)))
    except AccountError as error:
        print(f"tresen: error: {error.field}: {error}", file=sys.stderr)
        return 1
    print(f"added mail account {account.address} (id {account.id})")
    return 0


def account_lines(settings, with_runtime) -> list[str]:
    """The mail accounts for `tresen channels list`, passwords hidden."""
    lines = []
    for item in asyncio.run(with_runtime(settings, _list)):
        state = "active" if item["active"] else "inactive"
        lines.append(
            f"email\t{item['id']}\t{item['address']}\t{state}\tIMAP {item['imap_url'] or '-'}"
            f"\tSMTP {item['smtp_url'] or '-'}\t{item['last_error'] or ''}".rstrip()
        )
    return lines
