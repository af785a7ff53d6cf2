"""Rotating the secret key: `tresen secrets rotate` seals the channels' stored passwords
under the new key, read with the old one from a file (never the command line)."""

from __future__ import annotations

from tests.support import ServerProcess

IMAP = "imaps://support:geheim-imap@imap.example.com/INBOX"
SMTP = "smtps://support:geheim-smtp@smtp.example.com:465"
OLD = "old-secret-key-" + "o" * 32
NEW = "new-secret-key-" + "n" * 32
SHOWN = "imaps://support:***@imap.example.com/INBOX"


def test_rotate_reseals_the_stored_passwords_under_the_new_key(database_url, tmp_path):
    cli = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "cli", secret_key=OLD)
    (tmp_path / "cli").mkdir()
    assert cli.cli("migrate").returncode == 0
    for n, smtp in ((1, SMTP), (2, None)):
        args = ["--address", f"support{n}@example.com", "--imap-url", IMAP]
        added = cli.cli("channels", "add-email", *args, *(["--smtp-url", smtp] if smtp else []))
        assert added.returncode == 0, added.stderr
    old_file = tmp_path / "old.key"
    old_file.write_text(OLD + "\n")

    cli.env["TRESEN_SECRET_KEY"] = NEW
    assert SHOWN not in cli.cli("channels", "list").stdout  # the new key cannot read them yet

    wrong = tmp_path / "wrong.key"
    wrong.write_text("not-the-old-key")
    refused = cli.cli("secrets", "rotate", "--old-key-file", str(wrong))
    assert refused.returncode == 2 and "mail_accounts.imap_url" in refused.stderr
    assert "geheim" not in refused.stdout + refused.stderr
    missing = cli.cli("secrets", "rotate", "--old-key-file", str(tmp_path / "nothing.key"))
    assert missing.returncode == 2 and "nothing.key" in missing.stderr

    rotated = cli.cli("secrets", "rotate", "--old-key-file", str(old_file))
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("3 stored secret(s)")
    listed = cli.cli("channels", "list").stdout
    assert listed.count(SHOWN) == 2 and "geheim" not in listed
    # A second run (say after an interruption) finds nothing left to do.
    again = cli.cli("secrets", "rotate", "--old-key-file", str(old_file))
    assert again.returncode == 0 and again.stdout.startswith("0 stored secret(s)")

    cli.env["TRESEN_SECRET_KEY"] = OLD
    assert SHOWN not in cli.cli("channels", "list").stdout  # the old key opens nothing now


def test_rotate_refuses_a_short_new_key(database_url, tmp_path):
    cli = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "cli", secret_key="short")
    (tmp_path / "cli").mkdir()
    old_file = tmp_path / "old.key"
    old_file.write_text(OLD)
    refused = cli.cli("secrets", "rotate", "--old-key-file", str(old_file))
    assert refused.returncode == 2 and "TRESEN_SECRET_KEY has 5 characters" in refused.stderr
