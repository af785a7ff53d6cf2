"""The knowledge base in the console: a ticket's suggestions (insert, not relevant) and the
articles' list and editor (Markdown, visibility, translations, versions with restore)."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from knowledge_base import help_centre
from knowledge_base import queries as kb_queries
from knowledge_base.articles import (
    PUBLISHERS,
    article_record,
    category_path,
    create_article,
    render,
    restore_version,
    update_article,
)
from knowledge_base.deflection import deflections_of
from knowledge_base.feedback import article_feedback
from knowledge_base.files import MAX_FILE_BYTES, file_json, files_of, put_file, remove_file
from knowledge_base.models import LANGUAGES, VISIBILITIES, Article
from knowledge_base.search import search
from routing import suggestions
from tresen import auth
from tresen.ids import parse_id
from tresen.runtime import ActionError


async def _panel(request: Request, ticket_id: int) -> Response:
    try:
        hits, verdicts = await suggestions.for_ticket(request.app.state.runtime, ticket_id)
    except LookupError:
        raise HTTPException(404, "ticket not found") from None
    return templates.TemplateResponse(
        request,
        "_suggestions.html",
        {
            "ticket_id": ticket_id,
            "hits": hits,
            "verdicts": verdicts,
            "base_url": request.app.state.runtime.settings.base_url,
        },
    )


async def ticket_suggestions(request: Request) -> Response:
    """GET: the panel; POST: an agent's verdict (used, not_relevant), then the panel again."""
    user = await auth.require_staff(request)
    ticket_id = request.path_params["ticket_id"]
    if request.method == "POST":
        form = await auth.verified_form(request)
        try:
            await suggestions.judge(
                request.app.state.runtime,
                ticket_id,
                int(request.path_params["article_id"]),
                str(form.get("verdict") or ""),
                user_id=user.id,
            )
        except LookupError:
            raise HTTPException(404, "ticket not found") from None
        except ActionError as error:
            raise HTTPException(422, str(error)) from None
    return await _panel(request, ticket_id)


async def articles_page(request: Request) -> Response:
    await auth.require_staff(request)
    q = request.query_params.get("q", "").strip()[:300]
    language = request.query_params.get("lang") or None
    language = language if language in LANGUAGES else None
    async with request.app.state.runtime.read() as session:
        total = await kb_queries.count_articles(session)
    if q:
        hits = await search(
            request.app.state.runtime, q, language=language, audience="editor", limit=50
        )
        rows = [
            {"id": h.article_id, "title": h.title, "language": h.language,
             "visibility": h.visibility, "snippet": h.snippet}
            for h in hits
        ]  # fmt: skip
    else:
        async with request.app.state.runtime.read() as session:
            rows = [
                {"id": a.id, "title": a.title, "language": a.language,
                 "visibility": a.visibility, "snippet": ""}
                for a in await kb_queries.recent_articles(session, language=language)
            ]  # fmt: skip
    return templates.TemplateResponse(
        request,
        "kb_articles.html",
        {"rows": rows, "q": q, "lang": language or "", "total": total, "languages": LANGUAGES},
    )


def _form_values(form) -> dict:
    """The article fields the form sent (a field it left out is left as it is)."""
    cleaners = {
        "title": lambda v: v.strip(),
        "body": lambda v: v,
        "visibility": lambda v: v or "draft",
        "keywords": lambda v: [k.strip() for k in v.split(",") if k.strip()],
        "category": lambda v: v.strip() or None,
    }
    return {name: clean(str(form[name])) for name, clean in cleaners.items() if name in form}


async def _editor(
    request: Request, article: Article | None, values: dict, error: ActionError | None = None
):
    """The editor page; with a refused change, its reason (403 for the role, else 422)."""
    status = 200 if error is None else 403 if error.forbidden else 422
    versions, feedback, translations, files, deflections = [], {}, [], [], 0
    if article is not None:
        async with request.app.state.runtime.read() as session:
            versions = await kb_queries.article_versions(session, article.id)
            feedback = await article_feedback(session, article.id)
            deflections = await deflections_of(session, article.id)
            files = [file_json(article, f) for f in await files_of(session, article.id)]
            translations = await kb_queries.translations_of(session, article)
    async with request.app.state.runtime.read() as session:
        # The paths the category field suggests (a new one makes a new category).
        rows = await help_centre.all_categories(session)
        categories = [await category_path(session, category.id) for category, _, _ in rows]
    return templates.TemplateResponse(
        request,
        "kb_article.html",
        {
            "article": article,
            "values": values,
            "preview": render(values.get("body") or ""),
            "versions": versions,
            "feedback": feedback,
            "deflections": deflections,
            "translations": translations,
            "files": files,
            "max_file_mb": MAX_FILE_BYTES // (1024 * 1024),
            "visibilities": VISIBILITIES,
            "publishers": PUBLISHERS,
            "languages": LANGUAGES,
            "error": str(error) if error else None,
            "translation_of": request.query_params.get("translation_of", ""),
            "categories": sorted(categories, key=str.casefold),
        },
        status_code=status,
    )


async def new_article(request: Request) -> Response:
    user = await auth.require_staff(request)
    if request.method == "GET":
        language = request.query_params.get("lang")
        values = {"language": language if language in LANGUAGES else "de", "visibility": "draft"}
        return await _editor(request, None, values)
    form = await auth.verified_form(request)
    values = {"title": "", **_form_values(form), "language": str(form.get("language") or "")}
    group = None
    try:
        async with request.app.state.runtime.transaction() as tx:
            source_id = parse_id(str(form.get("translation_of") or ""))
            if source_id is not None:
                source = await tx.session.get(Article, source_id)
                group = source.translation_group if source else None
            article = await create_article(
                tx, **values, translation_group=group, owner_id=user.id, editor_role=user.role
            )
            article_id = article.id
    except ActionError as error:
        return await _editor(request, None, values, error=error)
    return RedirectResponse(f"/kb/{article_id}", status_code=303)


async def edit_article(request: Request) -> Response:
    user = await auth.require_staff(request)
    article_id = request.path_params["article_id"]
    if request.method == "POST":
        form = await auth.verified_form(request)
        values = _form_values(form)
        try:
            async with request.app.state.runtime.transaction() as tx:
                article = await tx.session.get(Article, article_id)
                if article is None:
                    raise HTTPException(404, "article not found")
                restore = str(form.get("restore") or "")
                if restore:
                    if parse_id(restore) is None:
                        raise HTTPException(400, f"restore={restore!r} is not a version number")
                    await restore_version(
                        tx, article, parse_id(restore), editor_id=user.id, editor_role=user.role
                    )
                else:
                    await update_article(
                        tx, article, values, editor_id=user.id, editor_role=user.role
                    )
        except ActionError as error:
            async with request.app.state.runtime.read() as session:
                article = await session.get(Article, article_id)
            return await _editor(request, article, values, error=error)
        return RedirectResponse(f"/kb/{article_id}", status_code=303)
    async with request.app.state.runtime.read() as session:
        article = await session.get(Article, article_id)
        if article is None:
            raise HTTPException(404, "article not found")
        values = await article_record(session, article)
    return await _editor(request, article, values)


async def article_files(request: Request) -> Response:
    """Upload an image or attachment (multipart form), or remove one (field `remove`)."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request, max_files=1)
    article_id = request.path_params["article_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            article = await tx.session.get(Article, article_id)
            if article is None:
                raise HTTPException(404, "article not found")
            remove = str(form.get("remove") or "")
            upload = form.get("file")
            if remove:
                await remove_file(tx, article, remove, editor_role=user.role)
            elif isinstance(upload, UploadFile) and upload.filename:
                content = await upload.read(MAX_FILE_BYTES + 1)
                await put_file(
                    tx,
                    article,
                    upload.filename,
                    content,
                    upload.content_type,
                    user_id=user.id,
                    editor_role=user.role,
                )
            else:
                raise HTTPException(400, "choose a file to upload")
    except ActionError as error:
        async with request.app.state.runtime.read() as session:
            article = await session.get(Article, article_id)
            values = await article_record(session, article)
        return await _editor(request, article, values, error=error)
    return RedirectResponse(f"/kb/{article_id}", status_code=303)


async def categories_page(request: Request, error: ActionError | None = None) -> Response:
    """The categories (made by typing a path in an article's editor): their help centre
    name, address and description; supervisors change them."""
    user = await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        rows = await help_centre.all_categories(session)
    status = 200 if error is None else 409 if error.conflict else 422
    return templates.TemplateResponse(
        request,
        "kb_categories.html",
        {
            "rows": rows,
            "may_edit": user.role in PUBLISHERS,
            "error": str(error) if error else None,
            "saved": request.query_params.get("saved") == "1",
        },
        status_code=status,
    )


async def edit_category(request: Request) -> Response:
    await auth.require_staff(request, "supervisor")
    form = await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            await help_centre.update_category(
                tx,
                request.path_params["category_id"],
                name=str(form.get("name") or ""),
                slug=str(form.get("slug") or ""),
                description=str(form.get("description") or ""),
            )
    except LookupError:
        raise HTTPException(404, "category not found") from None
    except ActionError as error:
        return await categories_page(request, error)
    return RedirectResponse("/kb/categories?saved=1", status_code=303)


routes = [
    Route("/kb/categories", categories_page),
    Route("/kb/categories/{category_id:int}", edit_category, methods=["POST"]),
    Route(
        "/tickets/{ticket_id:int}/suggestions",
        ticket_suggestions,
        methods=["GET"],
    ),
    Route(
        "/tickets/{ticket_id:int}/suggestions/{article_id:int}",
        ticket_suggestions,
        methods=["POST"],
    ),
    Route("/kb", articles_page),
    Route("/kb/new", new_article, methods=["GET", "POST"]),
    Route("/kb/{article_id:int}", edit_article, methods=["GET", "POST"]),
    Route("/kb/{article_id:int}/files", article_files, methods=["POST"]),
]
