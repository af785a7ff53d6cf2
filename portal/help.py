"""The public help centre: search the public articles, read one, say whether it helped.

Only public articles exist here: internal and draft ones answer 404, as if they did not."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup
from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from knowledge_base.feedback import reader_key, record_feedback
from knowledge_base.files import file_content
from knowledge_base.models import LANGUAGES, Article
from knowledge_base.search import search
from tresen import channel as channel_registry
from tresen.addresses import client_address
from tresen.auth import CSRF_FIELD, csrf_token, session_user, verified_form
from tresen.downloads import file_response

templates = Jinja2Templates(
    directory=Path(__file__).parent / "templates",
    context_processors=[
        lambda request: {"csrf_token": csrf_token(request), "csrf_field": CSRF_FIELD}
    ],
)


async def _snippets(request: Request) -> Markup:
    """What channels add to the public pages here (the chat widget, when a chat channel
    allows the desk's own origin)."""
    runtime = request.app.state.runtime
    origin = f"{request.url.scheme}://{request.url.netloc}"
    found = []
    for channel in channel_registry.channels():
        if channel.page_snippet is not None:
            snippet = await channel.page_snippet(runtime, origin)
            if snippet:
                found.append(snippet)
    return Markup("\n".join(found))


def _language(request: Request) -> str | None:
    language = request.query_params.get("lang") or None
    return language if language in LANGUAGES else None


async def help_home(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()[:300]
    language = _language(request)
    hits = []
    if q:
        hits = await search(
            request.app.state.runtime,
            q,
            language=language,
            audience="customer",
            limit=10,
            report_gap=True,
        )
    return templates.TemplateResponse(
        request,
        "help.html",
        {"q": q, "lang": language or "", "hits": hits, "snippets": await _snippets(request)},
    )


async def help_article(request: Request) -> Response:
    async with request.app.state.runtime.read() as session:
        article = await session.scalar(
            select(Article).where(
                Article.slug == request.path_params["slug"], Article.visibility == "public"
            )
        )
        if article is None:
            raise HTTPException(404, "no such article")
        translations = list(
            await session.scalars(
                select(Article).where(
                    Article.translation_group == article.translation_group,
                    Article.id != article.id,
                    Article.visibility == "public",
                )
            )
        )
    if request.method == "POST":
        form = await verified_form(request)
        address = client_address(request.scope)
        answer = str(form.get("helpful") or "")
        if answer not in ("yes", "no"):
            raise HTTPException(400, f"helpful={answer!r} is not yes or no")
        async with request.app.state.runtime.transaction() as tx:
            await record_feedback(
                tx,
                article.id,
                "helpful" if answer == "yes" else "not_helpful",
                # One answer per address, article and day (as through the API): a session
                # would name a fresh reader with every new cookie.
                reader=reader_key(request.app.state.runtime.settings.secret_key, f"ip:{address}"),
                comment=str(form.get("comment") or "") or None,
            )
        return RedirectResponse(f"/help/{article.slug}?thanks=1", status_code=303)
    return templates.TemplateResponse(
        request,
        "help_article.html",
        {
            "article": article,
            "translations": translations,
            "thanks": request.query_params.get("thanks") == "1",
            "snippets": await _snippets(request),
        },
    )


async def help_file(request: Request) -> Response:
    """An article's image or attachment: anyone's for a public article, otherwise staff's."""
    async with request.app.state.runtime.read() as session:
        found = await file_content(
            session, request.path_params["slug"], request.path_params["filename"]
        )
    if found is None:
        raise HTTPException(404, "no such file")
    article, file = found
    public = article.visibility == "public"
    if not public and await session_user(request) is None:
        raise HTTPException(404, "no such file")
    return file_response(file.content, file.content_type, file.filename, public=public)


routes = [
    Route("/help", help_home),
    Route("/help/{slug:str}/files/{filename:str}", help_file),
    Route("/help/{slug:str}", help_article, methods=["GET", "POST"]),
]
