"""`tresen channels add-chat` and `rotate-chat-secret`, and the chat channels in
`tresen channels list`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy import select

from channels.chat.actions import (
    channel_named,
    chat_channel_json,
    create_chat_channel,
    normalize_origin,
    queue_id_named,
    rotate_identity_secret,
    snippet,
)
from channels.chat.models import ChatChannel
from tresen.runtime import ActionError, Runtime

ACTIONS = ("add-chat", "rotate-chat-secret")
_SECRET_NOTE = (
    "identity secret (shown this once; your site signs its signed-in users' ids with it, "
    "HMAC-SHA256; keep it on the server)"
)


class Refused(Exception):
    """A value the command cannot use: one line on standard error, exit 2."""


def _origin(raw: str) -> str:
    try:
        return normalize_origin(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_actions(actions) -> None:
    """Declare `tresen channels add-chat` and `tresen channels rotate-chat-secret`."""
    add = actions.add_parser("add-chat", help="add a chat channel (a website's chat widget)")
    add.add_argument("--name", required=True, help="the channel's name, e.g. the website's")
    add.add_argument(
        "--allowed-origin",
        required=True,
        action="append",
        type=_origin,
        metavar="ORIGIN",
        help="a site the widget may be embedded on, as https://HOST[:PORT] (repeat for more)",
    )
    add.add_argument("--queue", help="the queue its chats go to (by name)")
    rotate = actions.add_parser(
        "rotate-chat-secret", help="a new identity secret for a chat channel (shown once)"
    )
    rotate.add_argument("--name", required=True, help="the chat channel's name")


async def _add(runtime: Runtime, args) -> tuple[dict, str, str, str | None]:
    async with runtime.transaction() as tx:
        queue_id = None
        if args.queue:
            try:
                queue_id = await queue_id_named(tx, args.queue)
            except ActionError as error:
                raise Refused(f"--queue {args.queue}: {error}") from None
        row, secret = await create_chat_channel(
            tx, name=args.name, allowed_origins=args.allowed_origin, queue_id=queue_id
        )
        return chat_channel_json(row), snippet(runtime.settings.base_url, row), secret, args.queue


async def _rotate(runtime: Runtime, name: str) -> tuple[dict, str]:
    async with runtime.transaction() as tx:
        row = await channel_named(tx.session, name)
        if row is None:
            raise Refused(f"no chat channel named {name!r} (tresen channels list shows them)")
        secret = await rotate_identity_secret(tx, row)
        return chat_channel_json(row), secret


async def _list(runtime: Runtime) -> list[dict]:
    async with runtime.read() as session:
        rows = await session.scalars(select(ChatChannel).order_by(ChatChannel.id))
        return [chat_channel_json(row) for row in rows]


def run(args, settings, with_runtime) -> int:
    """Carry out `tresen channels add-chat` or `rotate-chat-secret`; the exit status."""
    try:
        if args.action == "add-chat":
            item, embed, secret, queue = asyncio.run(
                with_runtime(settings, lambda runtime: _add(runtime, args))
            )
            print(f"added chat channel {item['name']} (id {item['id']})")
            print(f"allowed origins: {' '.join(item['allowed_origins'])}")
            print(f"queue: {queue or '-'}")
            print(f"embed on your pages: {embed}")
            print(f"{_SECRET_NOTE}: {secret}")
            print("public key:")
            print(item["public_key"])  # alone on the last line, for scripts
            return 0
        item, secret = asyncio.run(
            with_runtime(settings, lambda runtime: _rotate(runtime, args.name))
        )
        print(f"new identity secret for chat channel {item['name']} (id {item['id']}); the old")
        print("one no longer vouches for users. Shown this once:")
        print(secret)
        return 0
    except Refused as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2
    except ActionError as error:
        print(f"tresen: error: {error.field}: {error}", file=sys.stderr)
        return 1 if error.conflict else 2


def account_lines(settings, with_runtime) -> list[str]:
    """The chat channels for `tresen channels list`: name, key, origins, state."""
    lines = []
    for item in asyncio.run(with_runtime(settings, _list)):
        state = "active" if item["active"] else "inactive"
        origins = ",".join(item["allowed_origins"])
        lines.append(
            f"chat\t{item['id']}\t{item['name']}\t{item['public_key']}\t{origins}\t{state}"
        )
    return lines
