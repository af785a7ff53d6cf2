"""A new request in the portal: the customer describes their problem, sees the public
articles that may answer it while they type, and either says "This solved my problem" (a
deflected request, counted for the article; no ticket) or sends the request (a ticket,
through the inbox like every channel's message, channel "portal").

The form carries a nonce made when it is drawn: the request sent twice (a double click, a
reload) is stored once by the inbox, and an answered request counts once.

Queues: tickets have no queue-defined fields yet, so the form asks for a queue only when
the desk offers some (`TRESEN_PORTAL_QUEUES`, by name); otherwise routing decides.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.portal.inbound import NONCE, PortalMessageError, Upload, new_request, sender_of
from knowledge_base.deflection import record_deflection, withdraw_deflection
from knowledge_base.search import search
from portal import uploads
from portal.pages import render
from portal.session import PortalViewer, require_viewer
from tickets.models import Queue
from tresen import i18n, rooms
from tresen.auth import verified_form
from tresen.i18n import _
from tresen.ids import parse_id
from tresen.runtime import ActionError

MAX_SUBJECT = 200
MAX_TEXT = 100_000
# What the suggestions read of the text while the customer types (the start says most).
SUGGEST_CHARS = 1000
SUGGESTIONS = 3
# Suggestions below this score are left out: a weak match helps nobody.
SUGGESTION_SCORE = 0.2


async def _queues(request: Request) -> list[tuple[int, str]]:
    """The queues offered in the portal (id, name), in the order the setting names them.
    A small read of the tickets room's queues, here where the form needs it."""
    names = request.app.state.runtime.settings.portal_queues
    if not names:
        return []
    async with request.app.state.runtime.read() as session:
        found = await session.execute(select(Queue.name, Queue.id).where(Queue.name.in_(names)))
        rows = {name: queue_id for name, queue_id in found}
    return [(rows[name], name) for name in names if name in rows]


async def _form(
    request: Request,
    *,
    values: dict | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    values = {"subject": "", "text": "", "queue": "", **(values or {})}
    return await render(
        request,
        "portal/request_new.html",
        {
            "values": values,
            "nonce": values.get("nonce") or secrets.token_urlsafe(18),
            "queues": await _queues(request),
            "accept": uploads.ACCEPT,
            "max_files": uploads.MAX_FILES,
            "problem": problem,
        },
        status_code=status_code,
    )


async def new_request_page(request: Request) -> Response:
    """GET: the form; POST: the request sent (a ticket, then its page)."""
    viewer = await require_viewer(request)
    if request.method == "GET":
        return await _form(request)
    form = await verified_form(request, max_files=uploads.MAX_FILES + 1)
    values = {
        "subject": str(form.get("subject") or ""),
        "text": str(form.get("text") or ""),
        "queue": str(form.get("queue") or ""),
        "nonce": str(form.get("nonce") or ""),
    }
    if not NONCE.match(values["nonce"]):
        raise HTTPException(400, "the form's nonce is missing or malformed; reload the page")

    def again(problem: str, status_code: int = 422) -> Response:
        return _form(request, values=values, problem=problem, status_code=status_code)

    subject = " ".join(values["subject"].split())
    if not subject:
        return await again(_("Please give your request a subject."))
    if len(subject) > MAX_SUBJECT:
        return await again(
            _("The subject is too long (at most %(count)s characters).", count=MAX_SUBJECT)
        )
    if not values["text"].strip():
        return await again(_("Please describe your request."))
    if len(values["text"]) > MAX_TEXT:
        return await again(
            _("The description is too long (at most %(count)s characters).", count=MAX_TEXT), 413
        )
    queue_id = None
    if values["queue"]:
        offered = dict(await _queues(request))
        queue_id = parse_id(values["queue"])
        if queue_id not in offered:
            return await again(_("Please choose one of the topics offered."))
    try:
        files = await uploads.read_files(form)
    except HTTPException as error:
        return await again(error.detail, error.status_code)
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        sender = await sender_of(session, viewer.customer_id)
    if sender is None:
        return await again(_("Your record has no e-mail address to write from; please contact us."))
    try:
        inbound = new_request(
            customer_id=viewer.customer_id,
            nonce=values["nonce"],
            sender=sender,
            subject=subject,
            text=values["text"],
            uploads=[Upload(f.filename, f.content_type, f.content) for f in files],
            queue_id=queue_id,
        )
    except PortalMessageError as error:
        raise HTTPException(400, f"{error.field}: {error}") from None
    received = await rooms.deliver(runtime, inbound)
    async with runtime.transaction() as tx:  # "this solved it" earlier on this form: it did not
        await withdraw_deflection(tx, request_key(viewer, values["nonce"]))
    # Without a number the inbox kept the request to process it again shortly: not lost.
    return await render(request, "portal/request_received.html", {"number": received.ticket_number})


async def suggestions(request: Request) -> Response:
    """The public articles that may answer what the customer has typed so far (the form's
    live region, asked by htmx while they type). A POST, so their words stay out of
    addresses and logs."""
    await require_viewer(request)
    form = await verified_form(request)
    subject = str(form.get("subject") or "")[:MAX_SUBJECT]
    text = str(form.get("text") or "")[:SUGGEST_CHARS]
    nonce = str(form.get("nonce") or "")
    question = f"{subject}\n{text}".strip()
    hits = []
    if len(question) >= 3:
        found = await search(
            request.app.state.runtime,
            question,
            audience="customer",
            limit=SUGGESTIONS,
            report_gap=False,  # half-typed words are no gap
        )
        hits = [hit for hit in found if hit.score >= SUGGESTION_SCORE]
    return await render(
        request,
        "portal/_request_suggestions.html",
        {"hits": hits, "nonce": nonce if NONCE.match(nonce) else "", "asked": bool(question)},
    )


def request_key(viewer: PortalViewer, nonce: str) -> str:
    """One request form of one customer: its deflection counts once."""
    return hashlib.sha256(f"{viewer.customer_id}:{nonce}".encode()).hexdigest()


async def solved(request: Request) -> Response:
    """The customer says "This solved my problem": the article answered the request, and
    no ticket is made."""
    viewer = await require_viewer(request)
    form = await verified_form(request)
    nonce = str(form.get("nonce") or "")
    if not NONCE.match(nonce):
        raise HTTPException(400, "the form's nonce is missing or malformed; reload the page")
    article_id = parse_id(str(form.get("article_id") or ""))
    if article_id is None:
        raise HTTPException(400, "article_id is not an article's id")
    try:
        async with request.app.state.runtime.transaction() as tx:
            await record_deflection(
                tx,
                article_id,
                customer_id=viewer.customer_id,
                request_key=request_key(viewer, nonce),
                language=i18n.language(),
            )
    except ActionError:
        raise HTTPException(404, _("There is no such article.")) from None
    except IntegrityError:
        pass  # the same form's other click counted it a moment ago
    return await render(request, "portal/request_solved.html", {})


routes = [
    Route("/portal/requests/new", new_request_page, methods=["GET", "POST"]),
    Route("/portal/requests/suggest", suggestions, methods=["POST"]),
    Route("/portal/requests/solved", solved, methods=["POST"]),
]
