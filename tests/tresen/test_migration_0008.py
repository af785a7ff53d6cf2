"""Migration 0008 moves notification mail still waiting under the old worker into the
outbox, written as the new path writes it."""

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
