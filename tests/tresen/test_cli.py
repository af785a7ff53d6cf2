"""The tresen command as a person runs it: a real process on a real database."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.support import ServerProcess, sign_in


@pytest.fixture
def cli(database_url, tmp_path):
    process = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "cli")
    (tmp_path / "cli").mkdir()
    assert process.cli("migrate").returncode == 0
    return process


def test_users_and_tokens_create(cli, tmp_path):
    created = cli.cli(
        "users",
        "create",
        "Eva@Example.com",
        "--name",
        "Eva Lang",
        "--role",
        "supervisor",
        "--password",
        "long-enough-pw",
    )
    assert created.returncode == 0, created.stderr
    assert "supervisor eva@example.com" in created.stdout
    generated = cli.cli("users", "create", "tom@example.com", "--name", "Tom", "--role", "agent")
    assert generated.returncode == 0 and "password: " in generated.stdout

    token = cli.cli("tokens", "create", "eva@example.com")
    assert token.returncode == 0, token.stderr
    lines = token.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("trs_")

    cli.start()
    try:
        answer = httpx.get(
            cli.url + "/api/v1/tickets", headers={"Authorization": f"Bearer {lines[0]}"}
        )
        assert answer.status_code == 200 and answer.json() == {"items": [], "next": None}
    finally:
        cli.stop()


@pytest.mark.parametrize(
    "args, named",
    [
        (["users", "create", "x@example.com", "--name", "X", "--role", "boss"], "boss"),
        (["users", "create", "not-an-email", "--name", "X", "--role", "agent"], "not-an-email"),
        (
            [
                "users",
                "create",
                "x@example.com",
                "--name",
                "X",
                "--role",
                "agent",
                "--password",
                "short",
            ],
            "password",
        ),
        (["users", "create", "x@example.com", "--role", "agent"], "--name"),
        (["tokens", "create", "ghost@example.com"], "ghost@example.com"),
        (["serve", "--port", "99999"], "99999"),
        (["serve", "--workers", "0"], "--workers 0"),
        (["frobnicate"], "frobnicate"),
        (["channels", "add-email", "--address", "s@x.test", "--imap-url", "http://h/"], "http"),
        (["channels", "add-email", "--address", "s@x.test", "--smtp-url", "smtp://"], "no host"),
        (["channels", "add-email", "--address", "s@x.test"], "--imap-url"),
        (["channels", "add-email", "--address", "nope", "--smtp-url", "smtp://h"], "nope"),
        (
            [
                "channels",
                "add-email",
                "--address",
                "s@x.test",
                "--smtp-url",
                "smtp://h",
                "--queue",
                "Nix",
            ],
            "Nix",
        ),
    ],
)
def test_bad_arguments_print_one_line_naming_them(cli, args, named):
    result = cli.cli(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]


def test_duplicate_user_is_refused(cli):
    args = ("users", "create", "dup@example.com", "--name", "D", "--role", "agent")
    assert cli.cli(*args).returncode == 0
    again = cli.cli(*args)
    assert again.returncode == 1 and "exists already" in again.stderr


def test_bad_database_url_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tresen", "migrate"],
        capture_output=True,
        text=True,
        env={"TRESEN_DATABASE_URL": "mysql://x", "PATH": ""},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "mysql://x" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_several_workers_need_postgresql(cli):
    result = cli.cli("serve", "--workers", "2")
    assert result.returncode == 1
    assert "--workers 2 needs PostgreSQL" in result.stderr


def test_mail_account_from_the_cli_never_shows_its_password(cli):
    added = cli.cli(
        "channels",
        "add-email",
        "--address",
        "Support@Example.com",
        "--imap-url",
        "imaps://support%40example.com:geheim-123@imap.example.com/INBOX",
        "--smtp-url",
        "smtp+starttls://support:geheim-123@smtp.example.com:587",
    )
    assert added.returncode == 0, added.stderr
    assert "support@example.com" in added.stdout and "geheim" not in added.stdout
    listed = cli.cli("channels", "list")
    assert listed.returncode == 0
    assert "imaps://support%40example.com:***@imap.example.com/INBOX" in listed.stdout
    assert "geheim" not in listed.stdout + listed.stderr
    again = cli.cli(
        "channels", "add-email", "--address", "support@example.com", "--smtp-url", "smtp://h"
    )
    assert again.returncode == 1 and "exists already" in again.stderr


def test_users_and_tokens_are_managed_from_the_cli(cli, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("ida-first-password\n")
    created = cli.cli(
        "users", "create", "ida@example.com", "--name", "Ida", "--role", "agent",
        "--password-file", str(password_file),
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "password" not in created.stdout  # none generated, none shown
    listed = cli.cli("users", "list")
    assert listed.returncode == 0 and "ida@example.com\tagent\tactive\tIda" in listed.stdout
    password_file.write_text("a-brand-new-password\n")
    changed = cli.cli(
        "users", "set-password", "ida@example.com", "--password-file", str(password_file)
    )
    assert changed.returncode == 0, changed.stderr
    assert "a-brand-new-password" not in changed.stdout + changed.stderr
    assert cli.cli("users", "sign-out", "ida@example.com").returncode == 0
    assert cli.cli("users", "deactivate", "ida@example.com").returncode == 0
    assert "ida@example.com\tagent\tdeactivated" in cli.cli("users", "list").stdout
    assert cli.cli("users", "reactivate", "ida@example.com").returncode == 0

    made = cli.cli(
        "tokens", "create", "ida@example.com", "--name", "shop", "--expires-days", "7",
        "--scope", "integration",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    tokens = cli.cli("tokens", "list", "ida@example.com")
    assert tokens.returncode == 0 and token not in tokens.stdout
    [line] = tokens.stdout.splitlines()
    token_id, email, name, scopes, state = line.split("\t")[:5]
    assert (email, name, scopes, state) == ("ida@example.com", "shop", "integration", "active")
    assert "expires 20" in line
    assert cli.cli("tokens", "revoke", token_id).returncode == 0
    assert "\trevoked\t" in cli.cli("tokens", "list").stdout

    cli.start()
    try:
        answer = httpx.get(
            cli.url + "/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401 and answer.json()["error"] == "token has been revoked"
        sign_in(cli.url, "ida@example.com", "a-brand-new-password").close()  # raises if refused
    finally:
        cli.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "args, named",
    [
        (["users", "deactivate", "ghost@example.com"], "ghost@example.com"),
        (["users", "reactivate", "ghost@example.com"], "ghost@example.com"),
        (["users", "sign-out", "not-an-email"], "not-an-email"),
        (["users", "set-password", "ghost@example.com", "--password-file", "/nope"], "/nope"),
        (["tokens", "list", "ghost@example.com"], "ghost@example.com"),
        (["tokens", "create", "ghost@example.com", "--scope", "integration"], "ghost@example"),
        (["tokens", "create", "x@example.com", "--scope", "root"], "root"),
        (["tokens", "create", "x@example.com", "--expires-days", "soon"], "soon"),
        (["tokens", "create", "x@example.com", "--expires-days", "0"], "--expires-days 0"),
        (["tokens", "revoke", "12x"], "12x"),
        (["tokens", "revoke", "4711"], "4711"),
    ],
)
def test_bad_account_values_exit_2_naming_them(cli, args, named):
    result = cli.cli(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_short_secret_key_is_refused_at_start(cli):
    cli.env["TRESEN_SECRET_KEY"] = "short-secret"
    result = cli.cli("serve", "--port", str(cli.port))
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "TRESEN_SECRET_KEY has 12 characters; it needs at least 32" in line
