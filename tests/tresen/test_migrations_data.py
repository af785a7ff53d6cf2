"""Migrations that carry data over: 0008 moves notification mail still waiting under the old
worker into the outbox, written as the new path writes it; 0010 keeps old tokens working."""

from __future__ import annotations

from sqlalchemy import text

from tests.fixtures import alembic
from tresen.database import create_engine


async def _execute(url: str, statement: str, **values):
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(statement), values)
            return result.all() if result.returns_rows else None
    finally:
        await engine.dispose()


async def test_pending_notification_mail_is_queued_in_the_outbox(empty_database_url):
    url = empty_database_url
    await alembic(url, "upgrade", "0007")
    await _execute(
        url,
        "INSERT INTO users (email, name, role, password_hash, active, locale, timezone, "
        "created_at) VALUES ('lena@example.com', 'Lena', 'agent', 'x', :yes, 'de', "
        "'Europe/Berlin', CURRENT_TIMESTAMP)",
        yes=True,
    )
    await _execute(
        url,
        "INSERT INTO notifications (user_id, link, kind, text, created_at, email_status) "
        "SELECT id, '/tickets/7', 'mention', 'Anna mentioned you on #10007', "
        "CURRENT_TIMESTAMP, 'pending' FROM users",
    )
    await alembic(url, "upgrade", "0008", base_url="https://desk.example")
    rows = await _execute(url, "SELECT channel, recipient, subject, text, status FROM outbox")
    assert rows == [
        (
            "email",
            "lena@example.com",
            "Anna mentioned you on #10007",
            "Anna mentioned you on #10007\n\nhttps://desk.example/tickets/7\n\n"
            "(Tresen sent this automatically.)\n",
            "queued",
        )
    ]
    status = await _execute(url, "SELECT email_status FROM notifications")
    assert status == [("queued",)]


async def test_0010_lets_tokens_issued_before_keep_the_inbound_door(empty_database_url):
    """POST /api/v1/inbound needs the integration scope now; a token issued before keeps
    what it could do (an integration must not stop on upgrade), a new one must ask for it."""
    url = empty_database_url
    await alembic(url, "upgrade", "0009")
    await _execute(
        url,
        "INSERT INTO users (email, name, role, password_hash, active, locale, timezone, "
        "created_at) VALUES ('bot@example.com', 'Bot', 'agent', 'x', :yes, 'de', "
        "'Europe/Berlin', CURRENT_TIMESTAMP)",
        yes=True,
    )
    await _execute(
        url,
        "INSERT INTO api_tokens (user_id, token_hash, name, created_at, revoked) "
        "SELECT id, :hash, 'shop', CURRENT_TIMESTAMP, :no FROM users",
        hash="a" * 64,
        no=False,
    )
    await alembic(url, "upgrade", "0010")
    assert await _execute(url, "SELECT scopes, expires_at FROM api_tokens") == [
        ("integration", None)
    ]
    await alembic(url, "downgrade", "0009")
    await alembic(url, "upgrade", "head")
