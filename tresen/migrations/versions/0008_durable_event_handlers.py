"""durable event handlers: jobs written with the events, run after commit

The outbox also carries mail without a ticket message (a staff notification's copy).
Carries its own SQL: imports nothing of today's code but the column type.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00
"""

import sqlalchemy as sa
from alembic import context, op

import tresen.database

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tresen.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", tresen.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", tresen.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_jobs")),
        sa.UniqueConstraint("key", name=op.f("uq_event_jobs_key")),
    )
    with op.batch_alter_table("event_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_event_jobs_due", ["status", "next_attempt_at"], unique=False)

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("message_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("notification_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("text", sa.Text(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_outbox_notification_id"), ["notification_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_notification_id_notifications"),
            "notifications",
            ["notification_id"],
            ["id"],
            ondelete="CASCADE",
        )

    # Notifications still waiting for their mail under the old worker go through the
    # outbox now: queue them there as the old worker would have sent them (the text as the
    # subject; the body with the link made absolute and the note that it is automatic).
    base_url = (context.config.attributes.get("base_url") or "").rstrip("/")
    op.execute(
        sa.text(
            """
            INSERT INTO outbox (message_id, notification_id, channel, recipient, subject, text,
                                status, attempts, next_attempt_at, details, created_at)
            SELECT NULL, notifications.id, 'email', users.email, notifications.text,
                   notifications.text || :gap
                   || CASE WHEN notifications.link IS NULL THEN ''
                           ELSE :base || notifications.link END
                   || :footer,
                   'queued', 0, notifications.created_at, '{}', notifications.created_at
            FROM notifications JOIN users ON users.id = notifications.user_id
            WHERE notifications.email_status = 'pending' AND users.active
            """
        ).bindparams(gap="\n\n", base=base_url, footer="\n\n(Tresen sent this automatically.)\n")
    )
    op.execute("UPDATE notifications SET email_status = 'queued' WHERE email_status = 'pending'")


def downgrade() -> None:
    op.execute(
        "UPDATE notifications SET email_status = 'pending' "
        "WHERE id IN (SELECT notification_id FROM outbox WHERE status = 'queued')"
    )
    op.execute("DELETE FROM outbox WHERE message_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_notification_id_notifications"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_outbox_notification_id"), type_="unique")
        batch_op.drop_column("text")
        batch_op.drop_column("subject")
        batch_op.drop_column("notification_id")
        batch_op.alter_column("message_id", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("event_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_event_jobs_due")
    op.drop_table("event_jobs")
