"""Knowledge base articles: Markdown with a sanitized rendering, in languages linked as
translations, with a visibility and a version history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
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
    # The help centre's address (/help/category/<slug>) and its line under the name.
    slug: Mapped[str | None] = mapped_column(String(200), unique=True, index=True)
    description: Mapped[str | None] = mapped_column(Text)


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
    # Indexed: the search caches ask for the newest change to know whether they are current.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


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


FEEDBACK_KINDS = ("used", "not_relevant", "helpful", "not_helpful")


class ArticleFeedback(Base):
    """An agent's verdict on a suggestion (used, not relevant: on a ticket) or a reader's
    answer to "Was this helpful?"; the suggestions learn from them."""

    __tablename__ = "kb_feedback"
    __table_args__ = (Index("ix_kb_feedback_article_kind", "article_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the tickets room's id
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # An anonymous reader (a keyed hash of their address): one answer per article and day.
    reader: Mapped[str | None] = mapped_column(String(64), index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SearchGap(Base):
    """Searches that found nothing good: what people looked for and did not find, one row per
    words, audience and day with how often (a flood of searches adds to a count, not rows)."""

    __tablename__ = "kb_search_gaps"
    __table_args__ = (UniqueConstraint("day", "audience", "normalized"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)  # UTC
    query: Mapped[str] = mapped_column(String(500))  # the latest wording
    normalized: Mapped[str] = mapped_column(String(500), index=True)  # grouped by this
    language: Mapped[str | None] = mapped_column(String(10))
    audience: Mapped[str] = mapped_column(String(20))  # agent, customer, bot
    searches: Mapped[int] = mapped_column(Integer, default=1)
    results: Mapped[int] = mapped_column(Integer)  # of the latest search
    best_article_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the latest search


class ArticleEmbedding(Base):
    """Sentence embeddings of an article (the `semantic` extra): of its title, and of its
    title with keywords and the start of its body; `digest` tells whether they are current."""

    __tablename__ = "kb_article_embeddings"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64))
    title_vector: Mapped[bytes] = mapped_column(LargeBinary)
    text_vector: Mapped[bytes] = mapped_column(LargeBinary)
    # Changes to the article up to this time are covered (later ones are looked at again).
    # Indexed: the newest tells the search caches whether they are current.
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ArticleFile(Base):
    """An image or attachment of an article, linked from its Markdown by its address
    (/help/<slug>/files/<filename>); as visible as the article."""

    __tablename__ = "kb_article_files"
    __table_args__ = (UniqueConstraint("article_id", "filename"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Deflection(Base):
    """A request the portal's suggestions answered: the customer said an article solved
    their problem and sent no ticket. Counted per article in the knowledge base's figures."""

    __tablename__ = "kb_deflections"
    __table_args__ = (Index("ix_kb_deflections_article_at", "article_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    # The customers room's id (no foreign key across rooms); erasing a customer clears it.
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # The request form's nonce: the same form answered twice counts once.
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str | None] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ArticleViews(Base):
    """How often a public article was read in the help centre (its "popular" list)."""

    __tablename__ = "kb_article_views"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    views: Mapped[int] = mapped_column(Integer, default=0)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
