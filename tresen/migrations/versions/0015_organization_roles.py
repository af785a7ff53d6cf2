"""organization roles: a customer is a member of their organization or its manager

A manager sees and answers all the organization's tickets in the customer portal; a member
(the default) only their own.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A manager's view (all the organization's tickets) reads ix_customers_organization_id.
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("org_role", sa.String(length=20), nullable=False, server_default="member")
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Not a batch copy: dropping the old `customers` table (foreign keys on) would
        # delete every identity, ticket and more with it. SQLite >= 3.35 drops a column.
        op.execute("ALTER TABLE customers DROP COLUMN org_role")
    else:
        op.drop_column("customers", "org_role")
