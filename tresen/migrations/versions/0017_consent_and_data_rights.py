"""consent and data rights: consent history, erasure requests, the data audit

Carries its own SQL: imports nothing of today's code but the column type.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 17:30:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Moment = tresen.database.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", Moment(timezone=True), nullable=True))
    op.create_table(
        "consent_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("at", Moment(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_consent_changes_customer_id"), "consent_changes", ["customer_id"])
    op.create_table(
        "data_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("requested_at", Moment(timezone=True), nullable=False),
        sa.Column("decided_at", Moment(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_data_requests_customer_id"), "data_requests", ["customer_id"])
    op.create_index(op.f("ix_data_requests_status"), "data_requests", ["status"])
    pending = sa.text("status = 'pending'")
    op.create_index(
        "uq_data_requests_pending",
        "data_requests",
        ["customer_id", "kind"],
        unique=True,
        sqlite_where=pending,
        postgresql_where=pending,
    )
    op.create_table(
        "data_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", Moment(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_data_audit_customer_id"), "data_audit", ["customer_id"])
    _rename_old_consent_keys()


# The consent keys of before (the console's check boxes, the demo data) that mean one of
# today's purposes; "phone_calls" and "data_processing" mean none and are left as they are.
OLD_KEYS = {"email_marketing": "marketing"}


def _rename_old_consent_keys() -> None:
    """An answer under an old key is kept under its purpose (an answer under the purpose's
    own name wins), and written down as taken over ("import")."""
    customers = sa.table(
        "customers", sa.column("id", sa.Integer()), sa.column("consent", sa.JSON())
    )
    changes = sa.table(
        "consent_changes",
        sa.column("customer_id", sa.Integer()),
        sa.column("purpose", sa.String()),
        sa.column("granted", sa.Boolean()),
        sa.column("source", sa.String()),
        sa.column("at", Moment(timezone=True)),
    )
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(sa.select(customers.c.id, customers.c.consent)).all()
    for customer_id, stored in rows:
        if not isinstance(stored, dict) or not set(stored) & set(OLD_KEYS):
            continue
        renamed = {OLD_KEYS.get(key, key): value for key, value in stored.items()}
        for old, purpose in OLD_KEYS.items():
            if old in stored and purpose in stored:
                renamed[purpose] = stored[purpose]
        bind.execute(
            customers.update().where(customers.c.id == customer_id).values(consent=renamed)
        )
        for old, purpose in OLD_KEYS.items():
            if old in stored and purpose not in stored:
                bind.execute(
                    changes.insert().values(
                        customer_id=customer_id,
                        purpose=purpose,
                        granted=bool(stored[old]),
                        source="import",
                        at=now,
                    )
                )


def downgrade() -> None:
    op.drop_index(op.f("ix_data_audit_customer_id"), table_name="data_audit")
    op.drop_table("data_audit")
    op.drop_index("uq_data_requests_pending", table_name="data_requests")
    op.drop_index(op.f("ix_data_requests_status"), table_name="data_requests")
    op.drop_index(op.f("ix_data_requests_customer_id"), table_name="data_requests")
    op.drop_table("data_requests")
    op.drop_index(op.f("ix_consent_changes_customer_id"), table_name="consent_changes")
    op.drop_table("consent_changes")
    if op.get_bind().dialect.name == "sqlite":
        # Not a batch copy: dropping the old `customers` table (foreign keys on) would
        # delete every identity, ticket and more with it. SQLite >= 3.35 drops a column.
        op.execute("ALTER TABLE customers DROP COLUMN erased_at")
    else:
        op.drop_column("customers", "erased_at")
