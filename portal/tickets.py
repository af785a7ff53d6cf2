"""My tickets: the signed-in customer's tickets from every channel (a manager's: the
organization's), one ticket's public conversation and files, a reply with files, close and
reopen.

What the viewer may see is decided by `portal.access` alone; anything else is a 404, never
a 403. A reply goes through the inbox like every channel's message (channel "portal").
"""

from __future__ import annotations

import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from channels.portal.inbound import PortalMessageError, Upload, sender_of, ticket_reply
from portal import access, uploads
from portal.pages import render
from portal.rating import rating_link
from portal.session import PortalViewer, require_viewer
from tickets import queries as ticket_queries
from tickets.actions import Actor, update_ticket
from tickets.csat import ticket_rating
from tickets.models import InboundRecord
from tickets.states import customer_label as state_label
from tresen import channel as channel_registry
from tresen import i18n, rooms
from tresen.auth import verified_form
from tresen.downloads import file_response
from tresen.i18n import _

SHOWS = ("all", "open", "closed")
MAX_TEXT = 100_000


def channel_label(channel: str) -> str:
    """The channel's name in the reader's language, as the channel gives it."""
    return channel_registry.describe(channel).label(i18n.language())


LABELS = {"state_label": state_label, "channel_label": channel_label}


def _not_found() -> HTTPException:
    return HTTPException(404, _("There is no such request."))


async def _ticket(request: Request, viewer: PortalViewer) -> access.PortalTicket:
    async with request.app.state.runtime.read() as session:
        ticket = await access.find_ticket(session, viewer, request.path_params["number"])
    if ticket is None:
        raise _not_found()
    return ticket


async def ticket_list(request: Request) -> Response:
    viewer = await require_viewer(request)
    show = request.query_params.get("show", "all")
    if show not in SHOWS:
        raise HTTPException(400, f"show={show[:20]!r} is not one of {', '.join(SHOWS)}")
    async with request.app.state.runtime.read() as session:
        tickets = await access.list_tickets(session, viewer, show=show)
    return await render(
        request,
        "portal/tickets.html",
        {"tickets": tickets, "show": show, "manager": access.is_manager(viewer), **LABELS},
    )


async def _ticket_page(
    request: Request,
    viewer: PortalViewer,
    ticket: access.PortalTicket,
    *,
    status_code: int = 200,
    problem: str | None = None,
    text: str = "",
) -> Response:
    runtime = request.app.state.runtime
    days = runtime.settings.portal_reopen_days
    now = runtime.clock.now()
    async with runtime.read() as session:
        messages = await access.public_conversation(session, viewer, ticket)
        # The rating box (portal/_rating.html): the customer's own solved or closed ticket.
        link = rating_link(runtime.settings, ticket, now, viewer.customer_id)
        rating = await ticket_rating(session, ticket.id) if link else None
    notice = {
        "sent": _("Your message was sent."),
        "received": _("Your message was received and will show here in a moment."),
        "closed": _("Your request is closed."),
        "reopened": _("Your request is open again."),
    }.get(request.query_params.get("done", ""))
    return await render(
        request,
        "portal/ticket.html",
        {
            "ticket": ticket,
            "messages": messages,
            "may_reply": access.may_reply(ticket),
            "may_close": access.may_close(ticket),
            "may_reopen": access.may_reopen(ticket, now, days),
            "reopen_until": access.reopen_until(ticket, days),
            "nonce": secrets.token_urlsafe(18),
            "accept": uploads.ACCEPT,
            "max_files": uploads.MAX_FILES,
            "text": text,
            "notice": notice,
            "problem": problem,
            "manager": access.is_manager(viewer),
            "rating_link": link,
            "rating": rating,
            **LABELS,
        },
        status_code=status_code,
    )


async def ticket_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    ticket = await _ticket(request, viewer)
    if ticket.number != request.path_params["number"]:
        # Merged into another request: its conversation is there now.
        return RedirectResponse(f"/portal/tickets/{ticket.number}", status_code=303)
    return await _ticket_page(request, viewer, ticket)


async def post_reply(request: Request) -> Response:
    """The customer's message on the ticket, with files, through the inbox."""
    viewer = await require_viewer(request)
    # The form's token first (the same 403 for every number), then the ticket (404 unless
    # visible). One file part more than allowed, so the page can say how many are.
    form = await verified_form(request, max_files=uploads.MAX_FILES + 1)
    ticket = await _ticket(request, viewer)
    text = str(form.get("text") or "")
    if not access.may_reply(ticket):
        problem = _("This request is closed. Reopen it, or make a new request.")
        return await _ticket_page(request, viewer, ticket, status_code=409, problem=problem)
    try:
        files = await uploads.read_files(form)
    except HTTPException as error:
        return await _ticket_page(
            request, viewer, ticket, status_code=error.status_code, problem=error.detail, text=text
        )
    if not text.strip() and not files:
        problem = _("Write a message or attach a file.")
        return await _ticket_page(request, viewer, ticket, status_code=422, problem=problem)
    if len(text) > MAX_TEXT:
        problem = _("The message is too long (at most %(count)s characters).", count=MAX_TEXT)
        return await _ticket_page(
            request, viewer, ticket, status_code=413, problem=problem, text=text[:MAX_TEXT]
        )
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        sender = await sender_of(session, viewer.customer_id)
    if sender is None:
        problem = _("Your record has no e-mail address to write from; please contact us.")
        return await _ticket_page(request, viewer, ticket, status_code=422, problem=problem)
    try:
        inbound = ticket_reply(
            ticket_number=ticket.number,
            customer_id=viewer.customer_id,
            nonce=str(form.get("nonce") or ""),
            sender=sender,
            text=text,
            uploads=[Upload(f.filename, f.content_type, f.content) for f in files],
        )
    except PortalMessageError as error:
        raise HTTPException(400, f"{error.field}: {error}") from None
    received = await rooms.deliver(runtime, inbound)
    if received.message_id is None:
        async with runtime.read() as session:
            kept = await session.get(InboundRecord, received.inbox_id)
        if kept is not None and kept.status == "rejected":
            # Kept for the desk to look at, but never added to the request: say why, and
            # keep what they typed (files must be chosen again).
            reason = (kept.error or "").split(": ", 1)[-1][:300]
            problem = _(
                "Your message could not be taken: %(reason)s. Please contact us another way.",
                reason=reason,
            )
            return await _ticket_page(
                request, viewer, ticket, status_code=422, problem=problem, text=text
            )
        if kept is not None and kept.status != "processed":
            # Stored, but adding it failed: the inbox retries it (sending it again would
            # only make it twice), so the text is not offered again.
            problem = _(
                "Your message was kept, but it could not be added to your request yet. "
                "We add it as soon as we can: there is no need to send it again."
            )
            return await _ticket_page(request, viewer, ticket, status_code=202, problem=problem)
    done = "sent" if received.message_id is not None else "received"
    return RedirectResponse(f"/portal/tickets/{ticket.number}?done={done}", status_code=303)


async def _change_state(request: Request, viewer: PortalViewer, ticket, state: str) -> None:
    async with request.app.state.runtime.transaction() as tx:
        row = await ticket_queries.get_ticket(tx.session, ticket.id)
        await update_ticket(tx, row, {"state": state}, Actor(customer_id=viewer.customer_id))


async def close_ticket(request: Request) -> Response:
    """The customer closes their request (done already: nothing changes)."""
    viewer = await require_viewer(request)
    await verified_form(request)
    ticket = await _ticket(request, viewer)
    if access.may_close(ticket):
        await _change_state(request, viewer, ticket, "closed")
    return RedirectResponse(f"/portal/tickets/{ticket.number}?done=closed", status_code=303)


async def reopen_ticket(request: Request) -> Response:
    """A solved or closed request open again, within the days the desk allows."""
    viewer = await require_viewer(request)
    await verified_form(request)
    ticket = await _ticket(request, viewer)
    runtime = request.app.state.runtime
    if not ticket.done:
        return RedirectResponse(f"/portal/tickets/{ticket.number}", status_code=303)
    if not access.may_reopen(ticket, runtime.clock.now(), runtime.settings.portal_reopen_days):
        problem = _("This request can no longer be reopened. Please make a new request.")
        return await _ticket_page(request, viewer, ticket, status_code=409, problem=problem)
    await _change_state(request, viewer, ticket, "open")
    return RedirectResponse(f"/portal/tickets/{ticket.number}?done=reopened", status_code=303)


async def attachment(request: Request) -> Response:
    """A file of a public message on a ticket the viewer may see."""
    viewer = await require_viewer(request)
    async with request.app.state.runtime.read() as session:
        found = await access.find_attachment(
            session, viewer, request.path_params["number"], request.path_params["attachment_id"]
        )
    if found is None:
        raise HTTPException(404, _("There is no such file."))
    return file_response(found.content, found.content_type, found.filename, public=False)


routes = [
    Route("/portal/tickets", ticket_list),
    Route("/portal/tickets/{number:int}", ticket_page),
    Route("/portal/tickets/{number:int}/reply", post_reply, methods=["POST"]),
    Route("/portal/tickets/{number:int}/close", close_ticket, methods=["POST"]),
    Route("/portal/tickets/{number:int}/reopen", reopen_ticket, methods=["POST"]),
    Route("/portal/tickets/{number:int}/attachments/{attachment_id:int}", attachment),
]
