"""`tresen secrets rotate`: seal the channels' stored secrets under a new secret key.

Set the new TRESEN_SECRET_KEY, run this with the old key (from a file, or typed at the
prompt: never on the command line, where `ps` shows it), then restart the servers.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

from tresen import secrets
from tresen.settings import MIN_SECRET_KEY_LENGTH

COMMAND = "secrets"


def add_commands(commands) -> None:
    parser = commands.add_parser(COMMAND, help="the channels' stored secrets")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=parser.__class__)
    rotate = actions.add_parser(
        "rotate",
        help="seal the stored channel secrets under the current TRESEN_SECRET_KEY, "
        "reading them with the old key",
    )
    rotate.add_argument(
        "--old-key-file", type=Path, help="a file holding the old key (else a prompt asks)"
    )


def _old_key(args) -> str:
    if args.old_key_file is not None:
        try:
            return args.old_key_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ValueError(f"--old-key-file {args.old_key_file}: {error.strerror}") from None
    if not sys.stdin.isatty():
        raise ValueError("give the old key with --old-key-file (no terminal to ask on)")
    return getpass.getpass("Old secret key: ").strip()


async def _rotate(runtime, old_key: str) -> int:
    async with runtime.transaction() as tx:
        return await secrets.reseal(tx.session, old_key, runtime.settings.secret_key)


def run(args, settings, with_runtime) -> int:
    try:
        old_key = _old_key(args)
        if len(old_key) == 0:
            raise ValueError("the old key is empty")
        if len(settings.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"the new TRESEN_SECRET_KEY has {len(settings.secret_key)} characters; "
                f"it needs at least {MIN_SECRET_KEY_LENGTH}"
            )
        changed = asyncio.run(with_runtime(settings, lambda runtime: _rotate(runtime, old_key)))
    except (ValueError, secrets.SecretUnreadable) as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2
    print(f"{changed} stored secret(s) sealed under the new key; restart every server with it")
    return 0
