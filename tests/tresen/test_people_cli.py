"""`tresen users invite|set-role` beside list, deactivate and set-password: in process, on
a SQLite database of the test's own."""

from __future__ import annotations

import asyncio

import pytest

from tresen import accounts, invites
from tresen.cli import main
from tresen.runtime import Runtime
from tresen.settings import Settings


def run_cli(capsys, *args) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def env(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TRESEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRESEN_SECRET_KEY", "test-secret-key-" + "k" * 24)
    monkeypatch.setenv("TRESEN_BASE_URL", "https://desk.example")
    monkeypatch.delenv("TRESEN_DATABASE_URL", raising=False)
    assert run_cli(capsys, "migrate")[0] == 0
    return tmp_path


async def _accept(token: str, password: str) -> str:
    runtime = Runtime.create(Settings.from_env())
    try:
        return (await invites.accept_invite(runtime, token, password)).email
    finally:
        await runtime.engine.dispose()


async def _signs_in(email: str, password: str) -> bool:
    runtime = Runtime.create(Settings.from_env())
    try:
        return await accounts.authenticate(runtime, email, password) is not None
    finally:
        await runtime.engine.dispose()


def test_invite_prints_a_link_that_sets_the_password(env, capsys):
    status, out, err = run_cli(
        capsys, "users", "invite", "Nina@Example.com", "--name", "Nina Neu", "--role", "agent"
    )
    assert status == 0, err
    first, link = out.strip().splitlines()
    assert first.startswith("invited agent nina@example.com (id ") and "7 days" in first
    assert link.startswith("https://desk.example/invite/inv_")
    status, out, _ = run_cli(capsys, "users", "list")
    assert "nina@example.com\tagent\tactive\tNina Neu" in out
    assert asyncio.run(_accept(link.rsplit("/", 1)[1], "nina-password")) == "nina@example.com"
    assert asyncio.run(_signs_in("nina@example.com", "nina-password"))
    with pytest.raises(invites.InviteUnusable):
        asyncio.run(_accept(link.rsplit("/", 1)[1], "other-password"))

    again = run_cli(capsys, "users", "invite", "nina@example.com", "--name", "N", "--role", "agent")
    assert again[0] == 1 and "exists already" in again[2]


def test_set_role_changes_it_and_keeps_the_last_admin(env, capsys):
    for email, role in (("ada@example.com", "admin"), ("sam@example.com", "agent")):
        made = run_cli(capsys, "users", "create", email, "--name", "X", "--role", role)
        assert made[0] == 0, made[2]
    status, out, err = run_cli(capsys, "users", "set-role", "sam@example.com", "supervisor")
    assert status == 0 and "sam@example.com is now supervisor" in out, err
    assert "sam@example.com\tsupervisor\tactive" in run_cli(capsys, "users", "list")[1]

    status, _, err = run_cli(capsys, "users", "set-role", "ada@example.com", "agent")
    assert status == 2 and "last active administrator" in err
    assert run_cli(capsys, "users", "set-role", "ghost@example.com", "agent")[0] == 2
    with pytest.raises(SystemExit):
        main(["users", "set-role", "sam@example.com", "boss"])
    # The older commands keep working beside the new ones.
    assert run_cli(capsys, "users", "deactivate", "sam@example.com")[0] == 0
    assert "sam@example.com\tsupervisor\tdeactivated" in run_cli(capsys, "users", "list")[1]
