"""Article actions: write, change (each change a version), restore, and the record form
that export and import share."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime

from markdown_it import MarkdownIt
from sqlalchemy import select

from knowledge_base.events import ArticleChanged
from knowledge_base.index import index_article
from knowledge_base.models import LANGUAGES, VISIBILITIES, Article, ArticleVersion, Category
from tresen.html import sanitize_html
from tresen.runtime import ActionError, Transaction

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
EDITABLE = ("title", "body", "keywords", "category", "visibility", "reviewed_at", "language")


class ArticleError(ActionError):
    """An article value that cannot be used; names the field."""


# Who may publish: change what customers and bots read (public articles) or make one public.
# Agents write and edit drafts and internal articles. None: the system (import, demo, CLI).
PUBLISHERS = ("supervisor", "admin")


def check_publishing(role: str | None, *visibilities: str | None) -> None:
    """ArticleError (forbidden) when an agent would touch a public article."""
    if role is not None and role not in PUBLISHERS and "public" in visibilities:
        raise ArticleError(
            "visibility",
            "public articles are changed and published by supervisors; save it as a draft or "
            "internal and ask one to publish it",
            forbidden=True,
        )


def render(markdown: str) -> str:
    """Markdown to HTML, sanitized (raw HTML in the Markdown is shown as text)."""
    return sanitize_html(_MARKDOWN.render(markdown or ""))


def slugify(title: str) -> str:
    ascii_text = (
        unicodedata.normalize("NFKD", title.replace("ß", "ss")).encode("ascii", "ignore").decode()
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80] or "article"


async def _free_slug(tx: Transaction, wanted: str) -> str:
    slug, number = wanted, 1
    while await tx.session.scalar(select(Article.id).where(Article.slug == slug)):
        number += 1
        slug = f"{wanted}-{number}"
    return slug


async def category_id_for(tx: Transaction, path: str | None) -> int | None:
    """The category at a path like "Billing/Refunds", made as needed."""
    parent_id = None
    for name in [part.strip() for part in (path or "").split("/") if part.strip()]:
        query = select(Category.id).where(
            Category.name == name,
            Category.parent_id.is_(None) if parent_id is None else Category.parent_id == parent_id,
        )
        found = await tx.session.scalar(query)
        if found is None:
            # Its help centre address (/help/category/<slug>); imported here, as that
            # module imports this one.
            from knowledge_base.help_centre import free_category_slug

            category = Category(
                name=name[:200],
                parent_id=parent_id,
                slug=await free_category_slug(tx.session, name[:200]),
            )
            tx.session.add(category)
            await tx.session.flush()
            found = category.id
        parent_id = found
    return parent_id


async def category_path(session, category_id: int | None) -> str | None:
    parts = []
    while category_id is not None:
        category = await session.get(Category, category_id)
        parts.append(category.name)
        category_id = category.parent_id
    return "/".join(reversed(parts)) or None


def _check(values: dict) -> None:
    if "title" in values and not str(values["title"] or "").strip():
        raise ArticleError("title", "an article needs a title")
    if "body" in values and not isinstance(values["body"], str):
        raise ArticleError("body", "body is text (Markdown), not null")
    if "language" in values and values["language"] not in LANGUAGES:
        raise ArticleError(
            "language", f"language {values['language']!r} is not one of {', '.join(LANGUAGES)}"
        )
    if "visibility" in values and values["visibility"] not in VISIBILITIES:
        raise ArticleError(
            "visibility",
            f"visibility {values['visibility']!r} is not one of {', '.join(VISIBILITIES)}",
        )
    reviewed = values.get("reviewed_at")
    if reviewed is not None and (not isinstance(reviewed, datetime) or reviewed.tzinfo is None):
        raise ArticleError("reviewed_at", "reviewed_at is a date and time with its timezone")
    keywords = values.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ArticleError("keywords", "keywords are a list of words")


async def create_article(
    tx: Transaction,
    *,
    title: str,
    body: str = "",
    language: str,
    visibility: str = "draft",
    keywords: list[str] | None = None,
    category: str | None = None,
    slug: str | None = None,
    translation_group: str | None = None,
    reviewed_at: datetime | None = None,
    owner_id: int | None = None,
    editor_role: str | None = None,
) -> Article:
    check_publishing(editor_role, visibility)
    values = {"title": title, "language": language, "visibility": visibility}
    values["reviewed_at"] = reviewed_at
    values["keywords"] = keywords or []
    _check(values)
    if translation_group and await tx.session.scalar(
        select(Article.id).where(
            Article.translation_group == translation_group, Article.language == language
        )
    ):
        raise ArticleError(
            "language", f"the article has a {language} translation already", conflict=True
        )
    now = tx.now()
    article = Article(
        slug=await _free_slug(tx, slugify(slug or title)),
        title=title.strip()[:300],
        body=body or "",
        html=render(body),
        keywords=keywords or [],
        category_id=await category_id_for(tx, category),
        language=language,
        translation_group=translation_group or uuid.uuid4().hex,
        visibility=visibility,
        owner_id=owner_id,
        reviewed_at=reviewed_at,
        version=1,
        created_at=now,
        updated_at=now,
    )
    tx.session.add(article)
    await tx.session.flush()
    _record_version(tx, article, owner_id)
    await index_article(tx.session, article)
    tx.emit(ArticleChanged(article_id=article.id))
    return article


def _record_version(tx: Transaction, article: Article, editor_id: int | None) -> None:
    tx.session.add(
        ArticleVersion(
            article_id=article.id,
            version=article.version,
            title=article.title,
            body=article.body,
            keywords=list(article.keywords),
            visibility=article.visibility,
            category_id=article.category_id,
            editor_id=editor_id,
            at=tx.now(),
        )
    )


async def update_article(
    tx: Transaction,
    article: Article,
    changes: dict,
    *,
    editor_id: int | None = None,
    editor_role: str | None = None,
) -> list[str]:
    """Change fields; a change is a new version (the slug, the public address, stays)."""
    check_publishing(editor_role, article.visibility, changes.get("visibility"))
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ArticleError(sorted(unknown)[0], f"{sorted(unknown)[0]} cannot be changed")
    _check(changes)
    changed = []
    for field, value in changes.items():
        if field == "category":
            value = await category_id_for(tx, value)
            field = "category_id"
        elif field == "title":
            value = value.strip()[:300]
        if getattr(article, field) != value:
            setattr(article, field, value)
            changed.append(field)
    if "body" in changed:
        article.html = render(article.body)
    if changed:
        article.version += 1
        article.updated_at = tx.now()
        await tx.session.flush()
        _record_version(tx, article, editor_id)
        if {"title", "body", "keywords", "language", "visibility"} & set(changed):
            await index_article(tx.session, article)
        tx.emit(ArticleChanged(article_id=article.id))
    return changed


async def restore_version(
    tx: Transaction,
    article: Article,
    version: int,
    *,
    editor_id: int | None = None,
    editor_role: str | None = None,
) -> None:
    """Bring back an earlier version's text, as a new version."""
    old = await tx.session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.article_id == article.id, ArticleVersion.version == version
        )
    )
    if old is None:
        raise ArticleError("version", f"article {article.id} has no version {version}")
    check_publishing(editor_role, article.visibility, old.visibility)
    article.title, article.body = old.title, old.body
    article.keywords, article.visibility = list(old.keywords), old.visibility
    article.category_id, article.html = old.category_id, render(old.body)
    article.version += 1
    article.updated_at = tx.now()
    await tx.session.flush()
    _record_version(tx, article, editor_id)
    await index_article(tx.session, article)
    tx.emit(ArticleChanged(article_id=article.id))


async def article_record(session, article: Article) -> dict:
    """The article as import and export carry it: everything needed to make it again."""
    return {
        "slug": article.slug,
        "title": article.title,
        "body": article.body,
        "language": article.language,
        "translation_group": article.translation_group,
        "visibility": article.visibility,
        "keywords": list(article.keywords),
        "category": await category_path(session, article.category_id),
        "reviewed_at": article.reviewed_at.isoformat() if article.reviewed_at else None,
    }
