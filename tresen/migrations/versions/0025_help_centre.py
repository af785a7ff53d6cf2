"""help centre

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 14:00:00
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

Moment = tresen.database.UTCDateTime


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name.replace("ß", "ss")).encode("ascii", "ignore")
    return re.sub(r"[^a-z0-9]+", "-", plain.decode().lower()).strip("-")[:80] or "category"


def upgrade() -> None:
    # ADD COLUMN, not a batch copy of the table (see downgrade).
    op.add_column("kb_categories", sa.Column("slug", sa.String(length=200), nullable=True))
    op.add_column("kb_categories", sa.Column("description", sa.Text(), nullable=True))
    # The categories made before get their address from their name (made unique by a number).
    connection = op.get_bind()
    taken: set[str] = set()
    for category_id, name in connection.execute(
        sa.text("SELECT id, name FROM kb_categories ORDER BY id")
    ).all():
        wanted = slug = _slug(name)
        number = 1
        while slug in taken or slug.isdigit():
            number += 1
            slug = f"{wanted}-{number}"
        taken.add(slug)
        connection.execute(
            sa.text("UPDATE kb_categories SET slug = :slug WHERE id = :id"),
            {"slug": slug, "id": category_id},
        )
    op.create_index(op.f("ix_kb_categories_slug"), "kb_categories", ["slug"], unique=True)
    op.add_column("users", sa.Column("last_sign_in_at", Moment(), nullable=True))
    op.create_table(
        "kb_article_views",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("viewed_at", Moment(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_article_views_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_kb_article_views")),
    )


def downgrade() -> None:
    op.drop_column("users", "last_sign_in_at")
    op.drop_table("kb_article_views")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), not a batch copy: the old table
    # dropped with foreign keys on would take every article's category with it.
    op.drop_index(op.f("ix_kb_categories_slug"), table_name="kb_categories")
    op.drop_column("kb_categories", "description")
    op.drop_column("kb_categories", "slug")
