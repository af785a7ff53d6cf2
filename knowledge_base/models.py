"""Knowledge base articles: Markdown with a sanitized rendering, in languages linked as
translations, with a visibility and a version history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime

VISIBILITIES = ("draft", "internal", "public")  # internal: agents only; public: portal, bots
LANGUAGES = ("de", "en")


class Category(Base):
    __tablename__ = "kb_categories"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_categories.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))


class Article(Base):
    __tablename__ = "kb_articles"
    __table_args__ = (
        Index("ix_kb_articles_language_visibility", "language", "visibility"),
        UniqueConstraint("translation_group", "language"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The public address's last part: kept when the title changes.
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown, as written
    html: Mapped[str] = mapped_column(Text, default="")  # rendered and sanitized
    keywords: Mapped[list] = mapped_column(JSON, default=list)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_categories.id", ondelete="SET NULL"), index=True
    )
    language: Mapped[str] = mapped_column(String(10))
    # Articles with the same group are one article's translations.
    translation_group: Mapped[str] = mapped_column(String(64), index=True)
    visibility: Mapped[str] = mapped_column(String(20), default="draft")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ArticleVersion(Base):
    """An article as it was after each change: who changed it, and when."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list] = mapped_column(JSON, default=list)
    visibility: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int | None] = mapped_column(Integer)
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
