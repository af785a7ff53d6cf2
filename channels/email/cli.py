"""`tresen channels add-email`, and the mail accounts in `tresen channels list`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

from sqlalchemy import select

from channels.email.accounts import AccountError, account_json, create_account, queue_id_named
from channels.email.models import MailAccount
from channels.email.urls import MailUrlError, parse_imap_url, parse_smtp_url
from tresen.runtime import Runtime

ACTIONS = ("add-email",)
# Where the passwords come from when the URLs do not hold them (they would show in `ps`).
PASSWORD_ENV = {"imap": "TRESEN_IMAP_PASSWORD", "smtp": "TRESEN_SMTP_PASSWORD"}
_IN_PS = (
    "A password written in the URL is visible to every user of this machine (ps, the shell's "
    "history): leave it out and give it with --{kind}-password-file, {env} or at the prompt."
)


class PasswordError(ValueError):
    """A password that was asked for elsewhere than the URL could not be had."""


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
        help="imap://USER@HOST:PORT/FOLDER (imaps:// for TLS). "
        + _IN_PS.format(kind="imap", env=PASSWORD_ENV["imap"]),
    )
    add.add_argument(
        "--smtp-url",
        type=_url(parse_smtp_url),
        help="smtp://USER@HOST:PORT (smtp+starttls:// or smtps:// to encrypt). "
        + _IN_PS.format(kind="smtp", env=PASSWORD_ENV["smtp"]),
    )
    for kind in ("imap", "smtp"):
        add.add_argument(
            f"--{kind}-password-file",
            metavar="FILE",
            help=f"read the {kind.upper()} password from FILE (its first line; - for standard "
            f"input); before {PASSWORD_ENV[kind]} and a password in the URL",
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
        for kind in ("imap", "smtp"):
            url = getattr(args, f"{kind}_url")
            file = getattr(args, f"{kind}_password_file")
            setattr(args, f"{kind}_url", with_password(kind, url, file, os.environ))
    except PasswordError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2
    try:
        account = asyncio.run(with_runtime(settings, lambda runtime: _add(runtime, args)))
    except AccountError as error:
        print(f"tresen: error: {error.field}: {error}", file=sys.stderr)
        return 1
    print(f"added mail account {account.address} (id {account.id})")
    return 0


def with_password(kind: str, url: str | None, file: str | None, environ) -> str | None:
    """The server URL with its password: from `file`, else the environment, else the URL
    itself, else asked for at the terminal (when there is one and the URL names a user)."""
    if url is None:
        if file:
            raise PasswordError(f"--{kind}-password-file without --{kind}-url")
        return None
    parts = urlsplit(url)
    password = _read_password(kind, file) if file else environ.get(PASSWORD_ENV[kind])
    interactive = sys.stdin is not None and sys.stdin.isatty()
    if not password and parts.password is None and parts.username and interactive:
        password = getpass.getpass(
            f"{kind.upper()} password for {parts.username}@{parts.hostname}: "
        )
    if not password:
        return url
    if not parts.username:
        raise PasswordError(
            f"a {kind.upper()} password needs a user name in --{kind}-url ({kind}://USER@HOST)"
        )
    user = parts.netloc.rpartition("@")[0].split(":", 1)[0]
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return parts._replace(netloc=netloc).geturl()


def _read_password(kind: str, file: str) -> str:
    try:
        content = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as error:
        raise PasswordError(f"--{kind}-password-file {file}: {error.strerror}") from None
    except UnicodeDecodeError:  # its message would quote the password's bytes
        raise PasswordError(f"--{kind}-password-file {file} is not UTF-8 text") from None
    password = content.splitlines()[0] if content else ""
    if not password:
        raise PasswordError(f"--{kind}-password-file {file} is empty")
    return password


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
