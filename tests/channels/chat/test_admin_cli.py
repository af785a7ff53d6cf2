"""`tresen channels add-chat`, `rotate-chat-secret` and `list` as a person runs them: a real
process on a real database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from channels.chat.actions import identity_secret
from channels.chat.models import ChatChannel
from tests.support import ServerProcess
from tickets.queues import create_queue
from tresen.runtime import Runtime
from tresen.settings import Settings


@pytest.fixture
def cli(database_url, tmp_path):
    process = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "cli")
    (tmp_path / "cli").mkdir()
    assert process.cli("migrate").returncode == 0
    return process


def in_database(cli, database_url, tmp_path, work):
    """`work(runtime)` on the CLI's database, with the CLI's secret key."""
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, secret_key=cli.env["TRESEN_SECRET_KEY"]
    )

    async def run():
        runtime = Runtime.create(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.engine.dispose()

    return asyncio.run(run())


def stored(cli, database_url, tmp_path) -> list[tuple[ChatChannel, str]]:
    """The chat channels as the database holds them, each with its opened secret."""

    async def read(runtime):
        async with runtime.read() as session:
            rows = (await session.scalars(select(ChatChannel).order_by(ChatChannel.id))).all()
            return [(row, identity_secret(runtime.settings, row)) for row in rows]

    return in_database(cli, database_url, tmp_path, read)


def test_add_chat_ends_with_the_key_and_shows_the_secret_once(cli, database_url, tmp_path):
    added = cli.cli(
        "channels", "add-chat", "--name", "Shop",
        "--allowed-origin", "https://Shop.Example.com",
        "--allowed-origin", "http://localhost:3000",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    lines = added.stdout.strip().splitlines()
    [(row, secret)] = stored(cli, database_url, tmp_path)
    assert lines[-1] == row.public_key  # alone on the last line, for scripts
    assert row.allowed_origins == ["https://shop.example.com", "http://localhost:3000"]
    assert row.queue_id is None
    assert secret in added.stdout
    assert f'data-channel="{row.public_key}"' in added.stdout
    assert f"{cli.env['TRESEN_BASE_URL']}/chat/widget.js" in added.stdout

    listed = cli.cli("channels", "list")
    assert listed.returncode == 0, listed.stderr
    line = (
        f"chat\t{row.id}\tShop\t{row.public_key}\thttps://shop.example.com,http://localhost:3000"
        "\tactive"
    )
    assert line in listed.stdout.splitlines()
    assert secret not in listed.stdout + listed.stderr

    rotated = cli.cli("channels", "rotate-chat-secret", "--name", "Shop")
    assert rotated.returncode == 0, rotated.stderr
    [(row, new)] = stored(cli, database_url, tmp_path)
    assert new != secret and rotated.stdout.strip().splitlines()[-1] == new

    again = cli.cli("channels", "add-chat", "--name", "Shop", "--allowed-origin", "https://x.test")
    assert again.returncode == 1 and "exists already" in again.stderr


def test_a_queue_is_named(cli, database_url, tmp_path):
    async def make_queue(runtime):
        async with runtime.transaction() as tx:
            return (await create_queue(tx, name="Chat Support")).id

    queue_id = in_database(cli, database_url, tmp_path, make_queue)
    added = cli.cli(
        "channels", "add-chat", "--name", "Shop", "--allowed-origin", "https://shop.example.com",
        "--queue", "Chat Support",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    [(row, _)] = stored(cli, database_url, tmp_path)
    assert row.queue_id == queue_id and added.stdout.strip().splitlines()[-1] == row.public_key
    assert "Chat Support" in added.stdout


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "args, named",
    [
        (["--allowed-origin", "ftp://shop.example.com"], "ftp://shop.example.com"),
        (["--allowed-origin", "*"], "'*'"),
        (["--allowed-origin", "https://shop.example.com/chat"], "https://shop.example.com/chat"),
        (["--allowed-origin", "shop.example.com"], "shop.example.com"),
        (["--allowed-origin", "https://shop.example.com", "--queue", "Nix"], "Nix"),
        ([], "--allowed-origin"),
    ],
)
def test_bad_values_exit_2_with_one_line_naming_them(cli, database_url, tmp_path, args, named):
    result = cli.cli("channels", "add-chat", "--name", "Shop", *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert result.stdout == ""
    assert stored(cli, database_url, tmp_path) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rotating_an_unknown_channel_is_named(cli):
    result = cli.cli("channels", "rotate-chat-secret", "--name", "Ghost")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "Ghost" in line
