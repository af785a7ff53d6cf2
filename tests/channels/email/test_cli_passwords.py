"""`tresen channels add-email` takes mail passwords from a file, the environment or a prompt,
so they need not stand on the command line (where `ps` shows them to every user)."""

from __future__ import annotations

import os
import pty
import select as selectors
import sys
import time

import pytest
from sqlalchemy import select

from channels.email.accounts import imap_url, smtp_url
from channels.email.cli import PasswordError, with_password
from channels.email.models import MailAccount
from channels.email.urls import parse_imap_url, parse_smtp_url
from tests.support import ServerProcess
from tresen.cli import build_parser
from tresen.runtime import Runtime
from tresen.settings import Settings

IMAP = "imaps://support@imap.example.com/INBOX"
SMTP = "smtp+starttls://support@smtp.example.com:587"
# Characters a URL would have to escape, to show they arrive whole.
IMAP_PASSWORD = "gé:heim/imap@1 %"
SMTP_PASSWORD = "geheim-smtp#2"
SMTP_WITH_PASSWORD = "smtp+starttls://support:geheim@smtp.example.com:587"
ENV = {"TRESEN_SMTP_PASSWORD": SMTP_PASSWORD}


def tresen_cli(database_url, tmp_path) -> ServerProcess:
    cli = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "cli")
    (tmp_path / "cli").mkdir()
    assert cli.cli("migrate").returncode == 0
    return cli


async def stored_urls(cli: ServerProcess, database_url: str, tmp_path) -> tuple[str, str]:
    """The account's URLs as the fetcher and sender open them, with the CLI's secret key."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=cli.env["TRESEN_SECRET_KEY"],
    )
    runtime = Runtime.create(settings)
    await runtime.start()
    try:
        async with runtime.read() as session:
            account = await session.scalar(select(MailAccount))
        return imap_url(settings, account), smtp_url(settings, account)
    finally:
        await runtime.close()


async def test_passwords_from_a_file_and_the_environment(database_url, tmp_path):
    cli = tresen_cli(database_url, tmp_path)
    secret = tmp_path / "imap-password"
    secret.write_text(IMAP_PASSWORD + "\n", encoding="utf-8")
    cli.env["TRESEN_SMTP_PASSWORD"] = SMTP_PASSWORD
    args = ("--address", "support@example.com", "--imap-url", IMAP, "--smtp-url", SMTP)
    added = cli.cli("channels", "add-email", *args, "--imap-password-file", str(secret))
    assert added.returncode == 0, added.stderr

    imap, smtp = await stored_urls(cli, database_url, tmp_path)
    assert parse_imap_url(imap).password == IMAP_PASSWORD
    assert parse_smtp_url(smtp).password == SMTP_PASSWORD
    assert parse_imap_url(imap).username == "support" and parse_imap_url(imap).folder == "INBOX"
    listed = cli.cli("channels", "list").stdout
    assert "imaps://support:***@imap.example.com/INBOX" in listed
    assert "geheim" not in listed and "gé" not in listed


def test_bad_password_sources_are_named(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    latin = tmp_path / "latin-1"
    latin.write_bytes("gé".encode("latin-1"))
    cases = [
        ("imap", IMAP, str(tmp_path / "nope"), {}, f"{tmp_path / 'nope'}: No such file"),
        ("imap", IMAP, str(empty), {}, "is empty"),
        ("imap", IMAP, str(latin), {}, "is not UTF-8 text"),
        ("imap", None, str(empty), {}, "--imap-password-file without --imap-url"),
        ("smtp", "smtp://smtp.example.com", None, ENV, "needs a user name in --smtp-url"),
    ]
    for kind, url, file, environ, reason in cases:
        with pytest.raises(PasswordError, match=reason):
            with_password(kind, url, file, environ)
    # Without a user, the SMTP server takes mail unauthenticated: nothing to ask for.
    assert with_password("smtp", "smtp://smtp.example.com", None, {}) == "smtp://smtp.example.com"
    # The password in the URL is still taken (scripts that have it nowhere else).
    assert with_password("smtp", SMTP_WITH_PASSWORD, None, {}) == SMTP_WITH_PASSWORD
    with pytest.raises(SystemExit):
        build_parser().parse_args(["channels", "add-email", "--help"])
    helped = " ".join(capsys.readouterr().out.split())
    assert "visible to every user of this machine (ps" in helped
    assert "--imap-password-file FILE" in helped and "TRESEN_SMTP_PASSWORD" in helped


async def test_the_password_is_asked_for_at_a_terminal(database_url, tmp_path):
    cli = tresen_cli(database_url, tmp_path)
    args = ["--address", "support@example.com", "--imap-url", IMAP]
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the CLI, with the pseudo-terminal as its controlling terminal
        os.execve(
            sys.executable,
            [sys.executable, "-m", "tresen", "channels", "add-email", *args],
            cli.env,
        )
    output = _read_until(terminal, b"password for support@imap.example.com: ")
    os.write(terminal, IMAP_PASSWORD.encode() + b"\n")
    output += _read_until(terminal, b"added mail account")
    _pid, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert IMAP_PASSWORD.encode() not in output  # not echoed
    imap, _smtp = await stored_urls(cli, database_url, tmp_path)
    assert parse_imap_url(imap).password == IMAP_PASSWORD


def _read_until(fd: int, wanted: bytes, seconds: float = 60.0) -> bytes:
    """What the terminal shows until `wanted` (a generous bound: the CLI starts Python)."""
    seen, end = b"", time.monotonic() + seconds
    while wanted not in seen and time.monotonic() < end:
        ready, _, _ = selectors.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    assert wanted in seen, seen
    return seen
