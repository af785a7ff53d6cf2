"""The public help centre: categories with their articles, popular and recent ones, search,
an article and whether it helped; one language at a time; a sitemap and robots.txt.

Only public articles exist here: internal and draft ones answer 404, as if they did not."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode
from xml.etree import ElementTree

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from knowledge_base import help_centre
from knowledge_base.feedback import reader_key, record_feedback
from knowledge_base.files import file_content
from knowledge_base.models import LANGUAGES, Article, Category
from knowledge_base.search import search
from portal.pages import templates
from portal.session import LANGUAGE_COOKIE, remember_language
from tresen import channel as channel_registry
from tresen import i18n
from tresen.addresses import client_address
from tresen.auth import session_user, verified_form
from tresen.downloads import file_response
from tresen.help_brand import brand, logo_file, logo_type

log = logging.getLogger(__name__)

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"
SENTENCE_END = re.compile(r"(?<=[.!?])\s")


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


def _chosen(request: Request) -> tuple[str, bool]:
    """The page's language: ?lang=, else the cookie of an earlier choice, else the browser's;
    and whether the address chose it (then it is remembered)."""
    wanted = request.query_params.get("lang")
    if wanted in LANGUAGES:
        return wanted, True
    return i18n.pick_language(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    ), False


def _absolute(request: Request, path: str, **query: str) -> str:
    base = request.app.state.runtime.settings.base_url.rstrip("/")
    return base + path + (f"?{urlencode(query)}" if query else "")


def description_of(article: Article) -> str:
    """The article's first sentence, as plain text (at most 160 characters)."""
    text = " ".join(Markup(article.html).striptags().split())
    first = SENTENCE_END.split(text, maxsplit=1)[0] if text else article.title
    return first if len(first) <= 160 else first[:157].rsplit(" ", 1)[0] + "…"


async def _page(
    request: Request, name: str, language: str, remember: bool, context: dict
) -> Response:
    """A help centre page in one language, with the desk's name, logo and colour."""
    i18n.activate(language)
    async with request.app.state.runtime.read() as session:
        shown = await brand(session, request.app.state.runtime.settings)
    request.state.portal_brand = shown
    response = templates.TemplateResponse(
        request,
        name,
        {
            "brand": shown,
            "lang": language,
            "language_names": i18n.LANGUAGES,
            "snippets": await _snippets(request),
            **context,
        },
    )
    # The same address answers in the browser's or the remembered language.
    response.headers["Vary"] = "Accept-Language, Cookie"
    if remember:
        remember_language(request, response, language)
    return response


async def help_home(request: Request) -> Response:
    language, remember = _chosen(request)
    q = request.query_params.get("q", "").strip()[:300]
    hits = []
    if q:
        runtime = request.app.state.runtime
        hits = await search(runtime, q, language=language, audience="customer", limit=10)
        if not hits:
            # Words of the other language (a German question on the English page): its
            # articles rather than nothing; only this search reports a gap.
            hits = await search(runtime, q, audience="customer", limit=10, report_gap=True)
    async with request.app.state.runtime.read() as session:
        shelves = await help_centre.shelves(session, language)
        popular = await help_centre.popular(session, language)
        recent = await help_centre.recent(session, language)
    alternates = {code: _absolute(request, "/help", lang=code) for code in LANGUAGES}
    return await _page(
        request,
        "help.html",
        language,
        remember,
        {
            "q": q,
            "hits": hits,
            "shelves": shelves,
            "popular": popular,
            "recent": recent,
            "canonical": alternates[language],
            # x-default: the address that answers in the reader's own language.
            "alternates": {**alternates, "x-default": _absolute(request, "/help")},
            "switch": {code: f"/help?lang={code}" for code in LANGUAGES},
            "noindex": bool(q),
            "home_description": True,
        },
    )


async def help_category(request: Request) -> Response:
    language, remember = _chosen(request)
    key = request.path_params["key"]
    async with request.app.state.runtime.read() as session:
        category = await help_centre.find_category(session, key)
        if category is None:
            raise HTTPException(404, "no such category")
        shelves = {code: await help_centre.shelf(session, category, code) for code in LANGUAGES}
    present = [code for code, found in shelves.items() if found.articles]
    if not present:
        raise HTTPException(404, "no such category")
    if language not in present:
        # A category's articles are in one language (its name is): shown in that one.
        language, remember = present[0], False
    path = f"/help/category/{shelves[language].key}"
    alternates = {code: _absolute(request, path, lang=code) for code in present}
    return await _page(
        request,
        "help_category.html",
        language,
        remember,
        {
            "shelf": shelves[language],
            "description": shelves[language].category.description,
            "canonical": alternates[language],
            "alternates": alternates if len(alternates) > 1 else {},
            "switch": {
                code: f"{path}?lang={code}" if code in present else f"/help?lang={code}"
                for code in LANGUAGES
            },
        },
    )


async def help_article(request: Request) -> Response:
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        article = await session.scalar(
            select(Article).where(
                Article.slug == request.path_params["slug"], Article.visibility == "public"
            )
        )
        if article is None:
            raise HTTPException(404, "no such article")
        translations = await help_centre.public_translations(session, article)
        category = None
        if article.category_id is not None:
            category = await session.get(Category, article.category_id)
    # Who reads, for one "helpful" answer and one counted view a day: the address, keyed (a
    # session would name a fresh reader with every new cookie).
    reader = reader_key(runtime.settings.secret_key, f"ip:{client_address(request.scope)}")
    if request.method == "POST":
        form = await verified_form(request)
        answer = str(form.get("helpful") or "")
        if answer not in ("yes", "no"):
            raise HTTPException(400, f"helpful={answer!r} is not yes or no")
        async with runtime.transaction() as tx:
            await record_feedback(
                tx,
                article.id,
                "helpful" if answer == "yes" else "not_helpful",
                reader=reader,  # one answer per address, article and day (as the API's)
                comment=str(form.get("comment") or "") or None,
            )
        return RedirectResponse(f"/help/{article.slug}?thanks=1", status_code=303)
    if (
        request.method == "GET"
        and request.query_params.get("thanks") != "1"
        and help_centre.first_reading(
            runtime, reader, article.id, request.headers.get("user-agent", "")
        )
    ):
        try:
            async with runtime.transaction() as tx:
                await help_centre.count_view(tx, article.id)
        except SQLAlchemyError as error:
            # A busy or full database loses one count, not the reader's page.
            log.warning(
                "help centre: the view of article %s was not counted: %s", article.id, error
            )
    by_language = {t.language: t for t in translations}
    alternates = {article.language: _absolute(request, f"/help/{article.slug}")}
    alternates |= {t.language: _absolute(request, f"/help/{t.slug}") for t in translations}
    return await _page(
        request,
        "help_article.html",
        article.language,
        False,
        {
            "article": article,
            "category": category,
            "translations": translations,
            "description": description_of(article),
            "canonical": alternates[article.language],
            "alternates": alternates if len(alternates) > 1 else {},
            "switch": {
                code: f"/help/{by_language[code].slug}"
                if code in by_language
                else f"/help?lang={code}"
                for code in LANGUAGES
            },
            "thanks": request.query_params.get("thanks") == "1",
            "noindex": request.query_params.get("thanks") == "1",
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


async def help_logo(request: Request) -> Response:
    """The logo an administrator uploaded (checked when it was: PNG, JPEG or GIF)."""
    path = logo_file(request.app.state.runtime.settings.data_dir)
    content = path.read_bytes() if path.is_file() else b""
    kind = logo_type(content)
    if kind is None:
        raise HTTPException(404, "no logo uploaded")
    return Response(
        content,
        media_type=kind,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def _lastmod(moment) -> str:
    return moment.strftime("%Y-%m-%d")


async def sitemap(request: Request) -> Response:
    """Public articles and categories in both languages, absolute addresses, last change."""
    async with request.app.state.runtime.read() as session:
        articles, categories = await help_centre.sitemap(session)
    newest: dict[str, object] = {}  # each language's newest public change: its home's lastmod
    for article in articles:
        if article.language not in newest or article.updated_at > newest[article.language]:
            newest[article.language] = article.updated_at
    ElementTree.register_namespace("", SITEMAP_NS)
    ElementTree.register_namespace("xhtml", XHTML_NS)
    root = ElementTree.Element(f"{{{SITEMAP_NS}}}urlset")

    def entry(location: str, lastmod=None, alternates: dict | None = None) -> None:
        url = ElementTree.SubElement(root, f"{{{SITEMAP_NS}}}url")
        ElementTree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = location
        if lastmod is not None:
            ElementTree.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = _lastmod(lastmod)
        for code, href in (alternates or {}).items():
            ElementTree.SubElement(
                url, f"{{{XHTML_NS}}}link", rel="alternate", hreflang=code, href=href
            )

    homes = {code: _absolute(request, "/help", lang=code) for code in LANGUAGES}
    for code in LANGUAGES:
        entry(homes[code], newest.get(code), homes)
    groups: dict[str, dict[str, str]] = {}
    for article in articles:
        groups.setdefault(article.translation_group, {})[article.language] = _absolute(
            request, f"/help/{article.slug}"
        )
    for article in articles:
        group = groups[article.translation_group]
        entry(group[article.language], article.updated_at, group if len(group) > 1 else None)
    by_category: dict[int, dict[str, str]] = {}
    for category, code, _at in categories:
        key = category.slug or str(category.id)
        by_category.setdefault(category.id, {})[code] = _absolute(
            request, f"/help/category/{key}", lang=code
        )
    for category, code, at in categories:
        group = by_category[category.id]
        entry(group[code], at, group if len(group) > 1 else None)
    body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/xml")


async def robots(request: Request) -> Response:
    """Only the help centre is for search engines: not the portal, the API or the console."""
    lines = [
        "User-agent: *",
        "Allow: /help",
        # The pages' stylesheet and icon: a search engine sees them as people do.
        "Allow: /static/",
        "Disallow: /",
        f"Sitemap: {_absolute(request, '/sitemap.xml')}",
        "",
    ]
    return PlainTextResponse("\n".join(lines))


routes = [
    Route("/help", help_home),
    Route("/help/assets/logo", help_logo),
    Route("/help/category/{key:str}", help_category),
    Route("/help/{slug:str}/files/{filename:str}", help_file),
    Route("/help/{slug:str}", help_article, methods=["GET", "POST"]),
    Route("/sitemap.xml", sitemap),
    Route("/robots.txt", robots),
]
