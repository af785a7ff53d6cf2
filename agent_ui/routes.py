"""Console pages: login, the ticket list, the ticket page with reply box."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from agent_ui import live
from agent_ui.filters import list_filter
from agent_ui.templating import HERE, templates
from routing import status as routing_status
from tickets import actions, queries
from tickets.actions import Actor, TicketError
from tickets.models import PRIORITIES, STATES
from tickets.outbox import requeue_delivery
from tickets.queries import CursorError
from tresen import auth
from tresen.accounts import authenticate
from tresen.downloads import disposition, file_response
from tresen.runtime import ActionError


# Attachments shown in the page; everything else is only downloaded (no HTML, no SVG).
async def login_page(request: Request) -> Response:
    if request.method == "GET":
        return templates.TemplateResponse(
            request, "login.html", {"next": auth.safe_next(request.query_params.get("next"))}
        )
    form = await auth.verified_form(request)
    email = str(form.get("email") or "")
    next_url = auth.safe_next(str(form.get("next") or "/"))
    throttle: auth.LoginThrottle = request.app.state.login_throttle
    account = email.strip().lower()
    address = request.client.host if request.client else "unknown"
    wait = throttle.wait_seconds(account, address)
    if wait:
        minutes = (wait + 59) // 60
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "next": next_url,
                "email": email,
                "error": f"Too many failed sign-ins. Try again in {minutes} minutes.",
            },
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    user = await authenticate(request.app.state.runtime, email, str(form.get("password") or ""))
    if user is None:
        throttle.failed(account, address)
        return templates.TemplateResponse(
            request,
            "login.html",
            {"next": next_url, "email": email, "error": "Email or password is wrong."},
            status_code=401,
        )
    throttle.succeeded(account)
    auth.login(request, user)
    return RedirectResponse(next_url, status_code=303)


async def logout(request: Request) -> Response:
    await auth.verified_form(request)
    auth.logout(request)
    return RedirectResponse("/login", status_code=303)


async def ticket_list(request: Request) -> Response:
    user = await auth.require_staff(request)
    filters = list_filter(request, user)
    runtime = request.app.state.runtime
    try:
        async with runtime.read() as session:
            tickets, next_cursor = await queries.list_tickets(
                session, filters, cursor=request.query_params.get("cursor"), limit=50
            )
            queues = await queries.list_queues(session)
    except CursorError as error:
        raise HTTPException(400, str(error)) from None
    params = {k: v for k, v in request.query_params.items() if k != "cursor"}
    return templates.TemplateResponse(
        request,
        "tickets.html",
        {
            "tickets": tickets,
            "next_cursor": next_cursor,
            "queues": queues,
            "params": params,
            "states": STATES,
            "live_params": dict(request.query_params),
        },
    )


async def ticket_page(request: Request) -> Response:
    await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        ticket = await queries.get_ticket(
            session, request.path_params["ticket_id"], with_messages=True
        )
        if ticket is None:
            raise HTTPException(404, "ticket not found")
        queues = await queries.list_queues(session)
        now = request.app.state.runtime.clock.now()
        sla = await routing_status.sla_status(session, ticket.id, now)
        routing = await routing_status.decisions(session, ticket.id)
    return templates.TemplateResponse(
        request,
        "ticket.html",
        {
            "ticket": ticket,
            "sla": sla,
            "routing": routing,
            "messages": ticket.messages,
            "queues": queues,
            "states": STATES,
            "priorities": PRIORITIES,
        },
    )


async def post_message(request: Request) -> Response:
    """Reply or note; works as a plain form post and, with htmx, returns a fresh composer."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    ticket_id = request.path_params["ticket_id"]
    error = None
    try:
        async with request.app.state.runtime.transaction() as tx:
            ticket = await queries.get_ticket(tx.session, ticket_id)
            if ticket is None:
                raise HTTPException(404, "ticket not found")
            await actions.add_message(
                tx,
                ticket,
                direction="outbound",
                text=str(form.get("text") or ""),
                internal=form.get("internal") == "on",
                actor=Actor(user_id=user.id),
            )
    except TicketError as exc:
        error = str(exc)
    if request.headers.get("hx-request"):
        return templates.TemplateResponse(
            request,
            "_composer.html",
            {
                "ticket_id": ticket_id,
                "error": error,
                "sent": error is None,
                "text": "" if error is None else str(form.get("text") or ""),
            },
            # 200 either way: htmx swaps no 4xx answer, and the error is in the fragment.
        )
    if error:
        raise HTTPException(422, error)
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


async def post_ticket(request: Request) -> Response:
    """Change state, priority, queue or assignee from the ticket page."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    changes: dict = {}
    for name in ("state", "priority", "queue_id", "assignee_id"):
        if name not in form or form.get(f"{name}_was") == form[name]:
            continue  # untouched: never overwrite what someone else changed meanwhile
        raw = str(form[name])
        if name in ("state", "priority"):
            changes[name] = raw
        elif raw == "me":
            changes[name] = user.id
        elif raw == "":
            changes[name] = None
        elif raw.isdigit():
            changes[name] = int(raw)
        else:
            raise HTTPException(400, f"{name} {raw!r} is not an id")
    ticket_id = request.path_params["ticket_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            ticket = await queries.get_ticket(tx.session, ticket_id)
            if ticket is None:
                raise HTTPException(404, "ticket not found")
            await actions.update_ticket(tx, ticket, changes, Actor(user_id=user.id))
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


async def message_attachment(request: Request) -> Response:
    """An attachment, downloaded; only images that cannot carry script are shown inline."""
    await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        attachment = await queries.get_attachment(
            session, request.path_params["message_id"], request.path_params["attachment_id"]
        )
    if attachment is None:
        raise HTTPException(404, "attachment not found")
    return file_response(
        attachment.content, attachment.content_type, attachment.filename, public=False
    )


async def message_source(request: Request) -> Response:
    """The message exactly as received (an email's .eml), for agents to inspect."""
    await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        message = await queries.get_message(session, request.path_params["message_id"])
        source = await queries.raw_source(session, message) if message else None
    if source is None:
        raise HTTPException(404, "no original source is kept for this message")
    return Response(
        source,
        media_type="application/octet-stream",
        headers={"Content-Disposition": disposition("attachment", f"message-{message.id}.eml")},
    )


async def resend_message(request: Request) -> Response:
    """Send a failed, bounced or uncertain reply again (the agent decided so)."""
    await auth.require_staff(request)
    await auth.verified_form(request)
    message_id = request.path_params["message_id"]
    async with request.app.state.runtime.read() as session:
        message = await queries.get_message(session, message_id)
    if message is None:
        raise HTTPException(404, "message not found")
    try:
        async with request.app.state.runtime.transaction() as tx:
            await requeue_delivery(tx, message_id)
    except ActionError as error:
        raise HTTPException(409, str(error)) from None
    return RedirectResponse(f"/tickets/{message.ticket_id}#message-{message_id}", status_code=303)


routes = [
    Route("/login", login_page, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/", ticket_list, name="tickets"),
    Route("/tickets/{ticket_id:int}", ticket_page, name="ticket"),
    Route("/tickets/{ticket_id:int}/update", post_ticket, methods=["POST"]),
    Route("/tickets/{ticket_id:int}/messages", post_message, methods=["POST"]),
    Route("/messages/{message_id:int}/attachments/{attachment_id:int}", message_attachment),
    Route("/messages/{message_id:int}/source", message_source),
    Route("/messages/{message_id:int}/resend", resend_message, methods=["POST"]),
    WebSocketRoute("/ws/console", live.console_socket),
    WebSocketRoute("/ws/tickets/{ticket_id:int}", live.ticket_socket),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]
