"""What the public help centre reads and counts: categories with their public articles,
popular and recent ones, page views, the sitemap's entries; and categories' own fields."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, update

from knowledge_base.articles import ArticleError, slugify
from knowledge_base.models import Article, ArticleFeedback, ArticleViews, Category
from tresen.ids import parse_id
from tresen.runtime import Transaction

PUBLIC = Article.visibility == "public"
# Search engines' and link previews' fetches are no readers (their user agents say so).
CRAWLER = re.compile(r"bot|crawl|spider|slurp|preview", re.IGNORECASE)
READINGS_KEPT = 50_000  # the (reader, article, day) a process remembers, newest kept
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass
class Shelf:
    """A category as the help centre shows it: its public articles in one language."""

    category: Category
    articles: list[Article]

    @property
    def key(self) -> str:
        return self.category.slug or str(self.category.id)

    @property
    def updated_at(self) -> datetime:
        return max(article.updated_at for article in self.articles)


async def free_category_slug(session, name: str, *, keep: int | None = None) -> str:
    """A category's address from its name, unique (a number added) and never all digits
    (those are ids)."""
    wanted = slugify(name)
    slug, number = wanted, 1
    while slug.isdigit() or await session.scalar(
        select(Category.id).where(Category.slug == slug, Category.id != (keep or 0))
    ):
        number += 1
        slug = f"{wanted}-{number}"
    return slug


async def shelves(session, language: str) -> list[Shelf]:
    """Every category with public articles in this language, by name; articles by title."""
    articles = (
        await session.scalars(
            select(Article)
            .where(PUBLIC, Article.language == language, Article.category_id.is_not(None))
            .order_by(Article.title)
        )
    ).all()
    by_category: dict[int, list[Article]] = {}
    for article in articles:
        by_category.setdefault(article.category_id, []).append(article)
    if not by_category:
        return []
    categories = (
        await session.scalars(select(Category).where(Category.id.in_(list(by_category))))
    ).all()
    return sorted(
        (Shelf(category, by_category[category.id]) for category in categories),
        key=lambda shelf: shelf.category.name.casefold(),
    )


async def find_category(session, key: str) -> Category | None:
    """A category by its address: the slug, or the id for one without a slug."""
    if key.isdigit():
        number = parse_id(key)  # digits past what an id holds name no category
        category = await session.get(Category, number) if number is not None else None
        return category if category is not None and not category.slug else None
    return await session.scalar(select(Category).where(Category.slug == key))


async def shelf(session, category: Category, language: str) -> Shelf:
    articles = (
        await session.scalars(
            select(Article)
            .where(PUBLIC, Article.language == language, Article.category_id == category.id)
            .order_by(Article.title)
        )
    ).all()
    return Shelf(category, list(articles))


async def popular(session, language: str, limit: int = 5) -> list[Article]:
    """The most read public articles of a language (views, then "helpful" answers); only
    ones read or found helpful at all."""
    helpful = (
        select(func.count(ArticleFeedback.id))
        .where(ArticleFeedback.article_id == Article.id, ArticleFeedback.kind == "helpful")
        .scalar_subquery()
    )
    views = func.coalesce(ArticleViews.views, 0)
    return list(
        await session.scalars(
            select(Article)
            .outerjoin(ArticleViews, ArticleViews.article_id == Article.id)
            .where(PUBLIC, Article.language == language, (views + helpful) > 0)
            .order_by(views.desc(), helpful.desc(), Article.title)
            .limit(limit)
        )
    )


async def recent(session, language: str, limit: int = 5) -> list[Article]:
    """The newest changed public articles of a language."""
    return list(
        await session.scalars(
            select(Article)
            .where(PUBLIC, Article.language == language)
            .order_by(Article.updated_at.desc(), Article.id.desc())
            .limit(limit)
        )
    )


def first_reading(runtime, reader: str, article_id: int, user_agent: str) -> bool:
    """Whether this view counts: a reader's first of the article today, not a crawler's.

    Remembered in this process (bounded): a reload or a reader's return the same day does not
    make an article "popular"; with several processes a reader may count once in each."""
    if CRAWLER.search(user_agent or ""):
        return False
    seen = runtime.caches.setdefault("help.readings", OrderedDict())
    key = (reader, article_id, runtime.clock.now().date())
    if key in seen:
        seen.move_to_end(key)
        return False
    seen[key] = None
    while len(seen) > READINGS_KEPT:
        seen.popitem(last=False)
    return True


async def count_view(tx: Transaction, article_id: int) -> None:
    """One more reading of a public article."""
    result = await tx.session.execute(
        update(ArticleViews)
        .where(ArticleViews.article_id == article_id)
        .values(views=ArticleViews.views + 1, viewed_at=tx.now())
    )
    if result.rowcount == 0:
        tx.session.add(ArticleViews(article_id=article_id, views=1, viewed_at=tx.now()))


async def public_translations(session, article: Article) -> list[Article]:
    return list(
        await session.scalars(
            select(Article).where(
                PUBLIC,
                Article.translation_group == article.translation_group,
                Article.id != article.id,
            )
        )
    )


async def sitemap(session) -> tuple[list[Article], list[tuple[Category, str, datetime]]]:
    """Every public article, and each category with public articles in a language: the
    category, the language and its newest article's change."""
    articles = list(await session.scalars(select(Article).where(PUBLIC).order_by(Article.id)))
    rows = await session.execute(
        select(Category, Article.language, func.max(Article.updated_at))
        .join(Article, Article.category_id == Category.id)
        .where(PUBLIC)
        .group_by(Category.id, Article.language)
        .order_by(Category.id, Article.language)
    )
    return articles, [(category, language, at) for category, language, at in rows.all()]


async def all_categories(session) -> list[tuple[Category, int, int]]:
    """Every category with its number of articles and of public ones (the console's list)."""
    public = func.sum(case((PUBLIC, 1), else_=0))
    rows = await session.execute(
        select(Category, func.count(Article.id), public)
        .outerjoin(Article, Article.category_id == Category.id)
        .group_by(Category.id)
        .order_by(Category.name)
    )
    return [(category, total, int(shown or 0)) for category, total, shown in rows.all()]


async def update_category(
    tx: Transaction, category_id: int, *, name: str, slug: str, description: str
) -> Category:
    """Rename a category, change its address or its description (ArticleError: why not)."""
    category = await tx.session.get(Category, category_id)
    if category is None:
        raise LookupError(f"no category {category_id}")
    name = name.strip()
    if not name or "/" in name:
        raise ArticleError("name", "a category needs a name without '/'")
    if len(name) > 200:
        raise ArticleError("name", "a category's name has at most 200 characters")
    taken = await tx.session.scalar(
        select(Category.id).where(
            Category.name == name,
            Category.id != category.id,
            Category.parent_id.is_(None)
            if category.parent_id is None
            else Category.parent_id == category.parent_id,
        )
    )
    if taken:
        raise ArticleError("name", f"there is a category {name!r} already", conflict=True)
    slug = slug.strip().lower()
    if not slug:
        slug = await free_category_slug(tx.session, name, keep=category.id)
    elif len(slug) > 80 or not SLUG.fullmatch(slug) or slug.isdigit():
        raise ArticleError(
            "slug", "an address is lowercase letters, digits and dashes (not only digits)"
        )
    elif await tx.session.scalar(
        select(Category.id).where(Category.slug == slug, Category.id != category.id)
    ):
        raise ArticleError("slug", f"the address {slug!r} is taken", conflict=True)
    category.name, category.slug = name, slug
    category.description = description.strip()[:1000] or None
    return category
