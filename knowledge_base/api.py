"""REST API v1: knowledge base articles (staff), their versions, and import."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from knowledge_base.articles import article_record, create_article, restore_version, update_article
from knowledge_base.deflection import deflection_report
from knowledge_base.feedback import gaps, reader_key, record_feedback
from knowledge_base.files import MAX_FILE_BYTES, file_json, files_of, put_file, remove_file
from knowledge_base.models import LANGUAGES, VISIBILITIES, Article, ArticleVersion
from knowledge_base.search import search
from knowledge_base.transfer import import_articles
from tresen.addresses import client_address
from tresen.api import PUBLIC, ApiError, ApiRouter, not_found, query_int, query_limit
from tresen.ids import Id
from tresen.runtime import ActionError
from tresen.text import JsonValue, Moment, Text

router = ApiRouter("knowledge base")


class ArticleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text = Field(min_length=1, max_length=300)
    body: Text = Field(default="", max_length=200_000, description="Markdown")
    language: Literal["de", "en"]
    visibility: Literal["draft", "internal", "public"] = "draft"
    keywords: list[Text] = Field(default_factory=list, max_length=50)
    category: Text | None = Field(default=None, max_length=500, examples=["Billing/Refunds"])
    translation_of: Id | None = Field(default=None, description="an article in another language")
    reviewed_at: Moment | None = None


class ArticlePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text | None = Field(default=None, min_length=1, max_length=300)
    body: Text | None = Field(default=None, max_length=200_000)
    visibility: Literal["draft", "internal", "public"] | None = None
    keywords: list[Text] | None = Field(default=None, max_length=50)
    category: Text | None = Field(default=None, max_length=500)
    reviewed_at: Moment | None = None


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    articles: list[dict[Text, JsonValue]] = Field(
        max_length=10_000, description="records as `tresen kb export` writes them"
    )


async def _json(session, article: Article) -> dict:
    return {
        "id": article.id,
        **await article_record(session, article),
        "html": article.html,
        "version": article.version,
        "updated_at": article.updated_at.isoformat(),
        "files": [file_json(article, f) for f in await files_of(session, article.id)],
    }


async def _load(session, article_id: int) -> Article:
    article = await session.get(Article, article_id)
    if article is None:
        raise not_found("article", article_id)
    return article


@router.route(
    "GET",
    "/kb/articles",
    summary="Articles, newest first",
    query={
        "lang": "de or en",
        "visibility": "draft, internal or public",
        "cursor": "id",
        "limit": "1-200",
    },
)
async def list_articles(request: Request, user):
    query = select(Article).order_by(Article.id.desc())
    for name, column, choices in (
        ("lang", Article.language, LANGUAGES),
        ("visibility", Article.visibility, VISIBILITIES),
    ):
        value = request.query_params.get(name)
        if value:
            if value not in choices:
                raise ApiError(400, f"{name} {value!r} is not one of {', '.join(choices)}", name)
            query = query.where(column == value)
    cursor = query_int(request, "cursor")
    if cursor is not None:
        query = query.where(Article.id < cursor)
    limit = query_limit(request)
    async with request.app.state.runtime.read() as session:
        articles = list(await session.scalars(query.limit(limit + 1)))
        items = [await _json(session, article) for article in articles[:limit]]
    return {"items": items, "next": str(articles[limit - 1].id) if len(articles) > limit else None}


@router.route(
    "POST", "/kb/articles", summary="Write an article", role="agent", body=ArticleCreate, status=201
)
async def add_article(request: Request, user, body: ArticleCreate):
    async with request.app.state.runtime.transaction() as tx:
        values = body.model_dump(exclude={"translation_of"})
        if body.translation_of is not None:
            original = await _load(tx.session, body.translation_of)
            values["translation_group"] = original.translation_group
        article = await create_article(tx, **values, owner_id=user.id, editor_role=user.role)
        return await _json(tx.session, article)


@router.route("GET", "/kb/articles/{article_id:int}", summary="One article")
async def get_article(request: Request, user):
    async with request.app.state.runtime.read() as session:
        return await _json(session, await _load(session, request.path_params["article_id"]))


@router.route(
    "PATCH",
    "/kb/articles/{article_id:int}",
    summary="Change an article (a new version; its address stays)",
    body=ArticlePatch,
)
async def patch_article(request: Request, user, body: ArticlePatch):
    async with request.app.state.runtime.transaction() as tx:
        article = await _load(tx.session, request.path_params["article_id"])
        await update_article(
            tx,
            article,
            body.model_dump(exclude_unset=True),
            editor_id=user.id,
            editor_role=user.role,
        )
        return await _json(tx.session, article)


@router.route("GET", "/kb/articles/{article_id:int}/versions", summary="An article's versions")
async def list_versions(request: Request, user):
    async with request.app.state.runtime.read() as session:
        article = await _load(session, request.path_params["article_id"])
        rows = await session.scalars(
            select(ArticleVersion)
            .where(ArticleVersion.article_id == article.id)
            .order_by(ArticleVersion.version)
        )
        return {
            "items": [
                {
                    "version": row.version,
                    "title": row.title,
                    "body": row.body,
                    "visibility": row.visibility,
                    "editor_id": row.editor_id,
                    "at": row.at.isoformat(),
                }
                for row in rows
            ],
            "next": None,
        }


@router.route(
    "POST",
    "/kb/articles/{article_id:int}/versions/{version:int}/restore",
    summary="Bring an earlier version back (as a new version)",
)
async def restore(request: Request, user):
    async with request.app.state.runtime.transaction() as tx:
        article = await _load(tx.session, request.path_params["article_id"])
        await restore_version(
            tx,
            article,
            request.path_params["version"],
            editor_id=user.id,
            editor_role=user.role,
        )
        return await _json(tx.session, article)


@router.route(
    "POST",
    "/kb/import",
    summary="Import articles (created, or updated by slug); rejected ones are named",
    role="supervisor",
    body=ImportBody,
)
async def import_many(request: Request, user, body: ImportBody):
    if not body.articles:
        raise ApiError(422, "no articles to import", "articles")
    rows = [(f"article {n + 1}", item) for n, item in enumerate(body.articles)]
    report = await import_articles(request.app.state.runtime, rows, owner_id=user.id)
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": [{"where": where, "reason": why} for where, why in report.rejected],
    }


class SuggestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=10_000, description="a question or a message")
    lang: Literal["de", "en"] | None = Field(default=None, description="only articles in it")
    limit: int = Field(default=5, ge=1, le=20)
    audience: Literal["customer", "bot", "agent"] | None = Field(
        default=None, description="whose results: anyone without a token gets customer or bot"
    )


class HelpfulBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    helpful: bool
    comment: Text | None = Field(default=None, max_length=2000)


def audience_for(user, asked: str | None) -> str:
    """Customers and bots (no token) see public articles only, whatever they ask for."""
    if user is None:
        if asked == "agent":
            raise ApiError(403, "internal articles need an agent's token", "audience")
        return asked or "customer"
    return asked or "agent"


@router.route(
    "GET",
    "/kb/search",
    summary="Search articles: ranked, with highlighted snippets (public ones without a token)",
    role=PUBLIC,
    query={
        "q": 'words, "a phrase", a prefix*',
        "lang": "de or en",
        "limit": "1-50",
        "audience": "customer, bot or agent",
    },
)
async def search_articles(request: Request, user):
    q = request.query_params.get("q", "").strip()
    if not q:
        raise ApiError(400, "query parameter q is missing", "q")
    if len(q) > 1000:
        raise ApiError(400, "query parameter q is longer than 1000 characters", "q")
    language = request.query_params.get("lang") or None
    if language is not None and language not in LANGUAGES:
        raise ApiError(400, f"lang {language!r} is not one of {', '.join(LANGUAGES)}", "lang")
    asked = request.query_params.get("audience") or None
    if asked is not None and asked not in ("customer", "bot", "agent"):
        raise ApiError(400, f"audience {asked!r} is not customer, bot or agent", "audience")
    hits = await search(
        request.app.state.runtime,
        q,
        language=language,
        audience=audience_for(user, asked),
        limit=query_limit(request, default=10, maximum=50),
        report_gap=True,
    )
    return {"results": [hit.as_json() for hit in hits]}


@router.route(
    "POST",
    "/kb/suggest",
    summary="Articles that answer a free text, best first (portal and bots)",
    role=PUBLIC,
    body=SuggestBody,
)
async def suggest(request: Request, user, body: SuggestBody):
    hits = await search(
        request.app.state.runtime,
        body.text,
        language=body.lang,
        audience=audience_for(user, body.audience),
        limit=body.limit,
        report_gap=True,
    )
    return {"suggestions": [hit.as_json() for hit in hits]}


@router.route(
    "POST",
    "/kb/articles/{article_id:int}/feedback",
    summary='"Was this helpful?": a reader\'s answer (public articles without a token)',
    role=PUBLIC,
    body=HelpfulBody,
    status=201,
)
async def helpful(request: Request, user, body: HelpfulBody):
    async with request.app.state.runtime.transaction() as tx:
        article = await _load(tx.session, request.path_params["article_id"])
        if article.visibility != "public" and user is None:
            raise not_found("article", article.id)
        reader = None
        if user is None:  # one answer per address and article
            address = client_address(request.scope)
            reader = reader_key(request.app.state.runtime.settings.secret_key, f"ip:{address}")
        await record_feedback(
            tx,
            article.id,
            "helpful" if body.helpful else "not_helpful",
            user_id=user.id if user else None,
            reader=reader,
            comment=body.comment,
        )
    return {"recorded": "helpful" if body.helpful else "not_helpful"}


@router.route(
    "GET",
    "/kb/gaps",
    summary="Searches with no good result, most frequent first",
    role="supervisor",
    query={"days": "how far back (default 30)", "audience": "customer, bot or agent"},
)
async def search_gaps(request: Request, user):
    days = query_int(request, "days") or 30
    if not 1 <= days <= 3650:
        raise ApiError(400, "query parameter days must be between 1 and 3650", "days")
    async with request.app.state.runtime.read() as session:
        report = await gaps(
            session,
            since_days=days,
            now=request.app.state.runtime.clock.now(),
            audience=request.query_params.get("audience") or None,
            limit=query_limit(request, default=50, maximum=500),
        )
    return {"gaps": report}


@router.route(
    "GET",
    "/kb/deflections",
    summary="Portal requests that an article answered (no ticket made), per article",
    role="supervisor",
    query={"days": "how far back (default 30)", "limit": "articles, 1-500 (default 50)"},
)
async def deflections(request: Request, user):
    days = query_int(request, "days")
    days = 30 if days is None else days
    if not 1 <= days <= 3650:
        raise ApiError(400, "query parameter days must be between 1 and 3650", "days")
    async with request.app.state.runtime.read() as session:
        return await deflection_report(
            session,
            since_days=days,
            now=request.app.state.runtime.clock.now(),
            limit=query_limit(request, default=50, maximum=500),
        )


@router.route(
    "PUT",
    "/kb/articles/{article_id:int}/files/{filename}",
    summary="Upload an image or attachment (the body is the file; Content-Type its type)",
)
async def upload_file(request: Request, user):
    chunks, size = [], 0
    async for chunk in request.stream():  # stops reading at the limit, whatever is declared
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise ApiError(413, f"a file may be at most {MAX_FILE_BYTES // (1024 * 1024)} MB")
        chunks.append(chunk)
    content = b"".join(chunks)
    async with request.app.state.runtime.transaction() as tx:
        article = await _load(tx.session, request.path_params["article_id"])
        existed = {f.filename for f in await files_of(tx.session, article.id)}
        file, _changed = await put_file(
            tx,
            article,
            request.path_params["filename"],
            content,
            request.headers.get("content-type"),
            user_id=user.id,
            editor_role=user.role,
        )
        body = file_json(article, file)
    return JSONResponse(body, status_code=200 if body["filename"] in existed else 201)


@router.route(
    "DELETE",
    "/kb/articles/{article_id:int}/files/{filename}",
    summary="Remove a file of an article",
    status=204,
)
async def delete_file(request: Request, user):
    async with request.app.state.runtime.transaction() as tx:
        article = await _load(tx.session, request.path_params["article_id"])
        try:
            await remove_file(tx, article, request.path_params["filename"], editor_role=user.role)
        except ActionError as error:
            if error.forbidden:
                raise
            raise not_found("file", request.path_params["filename"]) from None
    return Response(status_code=204)
