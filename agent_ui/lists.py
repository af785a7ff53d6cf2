"""Ticket lists: views with live counts, filters, sorts, saved views and bulk actions."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.filters import (
    FILTER_NAMES,
    View,
    all_views,
    channel_names,
    filter_query,
    parse_filter,
    resolve_names,
    view_params,
)
from agent_ui.templating import templates
from tickets import bulk as bulk_changes
from tickets import queries
from tickets import views as saved_views
from tickets.actions import Actor, TicketError
from tickets.merge import UNDO_WINDOW, may_undo
from tickets.models import PRIORITIES, STATES, TicketView
from tickets.queries import SLA_FILTERS, SORTS, CursorError
from tickets.undo_models import BulkChange
from tresen import auth
from tresen.accounts import active_users, user_names
from tresen.i18n import _, ngettext
from tresen.ids import parse_id
from tresen.models import User

PAGE_SIZE = 50
BULK_LIMIT = 500


async def view_counts(session, views: list[View], user: User, now) -> dict[str, int]:
    filters = [parse_filter(view.params, user) for view in views]
    counts = await queries.count_tickets(session, filters, now)
    return {view.key: count for view, count in zip(views, counts, strict=True)}


async def views_context(session, user: User, now, current: str | None = None) -> dict:
    views = await all_views(session, user)
    return {
        "views": views,
        "counts": await view_counts(session, views, user, now),
        "current_view": current,
    }


async def ticket_list(request: Request) -> Response:
    user = await auth.require_staff(request)
    runtime = request.app.state.runtime
    now = runtime.clock.now()
    view_key = request.query_params.get("view") or None
    async with runtime.read() as session:
        context = await views_context(session, user, now, view_key)
        params = view_params(view_key, context["views"], request.query_params)
        # Customer and organization typed by name: ids from here on (sockets, saved views).
        named = await resolve_names(session, params)
        params = named.params
        filters = parse_filter(params, user)
        try:
            tickets, next_cursor = await queries.list_tickets(
                session,
                filters,
                cursor=request.query_params.get("cursor"),
                limit=PAGE_SIZE,
                now=now,
            )
        except CursorError as error:
            raise HTTPException(400, str(error)) from None
        queues = await queries.list_queues(session)
        agents = await active_users(session)
    view = next((v for v in context["views"] if v.key == view_key), None)
    here = {**({"view": view_key} if view_key else {}), **_own_filters(request)}
    return templates.TemplateResponse(
        request,
        "tickets.html",
        {
            **context,
            "view": view,
            "title": view.name if view else _("Tickets"),
            "tickets": tickets,
            "next_cursor": next_cursor,
            "params": params,
            "named": named,
            "here": here,
            "live_params": {
                **params,
                **({"cursor": c} if (c := request.query_params.get("cursor")) else {}),
            },
            "queues": queues,
            "agents": agents,
            "states": STATES,
            "priorities": PRIORITIES,
            "channels": channel_names(),
            "sla_filters": SLA_FILTERS,
            "sorts": SORTS,
            "now": now,
            "notice": request.session.pop("flash", None),
            "undo_bulk": request.session.pop("undo_bulk", None),
        },
    )


def _own_filters(request: Request) -> dict:
    return {k: v for k, v in request.query_params.items() if k in FILTER_NAMES and v != ""}


def _view_form(form, user: User) -> dict:
    """The filters a view form sent; a bad one is refused now, not when the view is opened."""
    params = {k: str(form.get(k)) for k in FILTER_NAMES if form.get(k)}
    parse_filter(params, user)
    return params


async def _own_view(tx, view_id: int, user: User) -> TicketView:
    row = await tx.session.get(TicketView, view_id)
    if row is None:
        raise HTTPException(404, "view not found")
    if row.user_id != user.id and not (row.shared and user.has_role("supervisor")):
        raise HTTPException(403, "this view is someone else's")
    return row


def _view_status(error: TicketError) -> int:
    """409 for a name the agent uses already (they can pick another), else 400."""
    return 409 if isinstance(error, saved_views.ViewNameTaken) else 400


async def save_view(request: Request) -> Response:
    """Save the list's current filters as a named view (the agent's own, or shared)."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    params = _view_form(form, user)
    shared = form.get("shared") == "on"
    if shared and not user.has_role("supervisor"):
        raise HTTPException(403, "only supervisors share views with everyone")
    try:
        async with request.app.state.runtime.transaction() as tx:
            row = await saved_views.save_view(
                tx,
                user_id=user.id,
                name=str(form.get("name") or ""),
                query=filter_query(params),
                shared=shared,
            )
    except TicketError as error:
        raise HTTPException(_view_status(error), str(error)) from None
    return RedirectResponse(f"/?view=saved-{row.id}", status_code=303)


async def update_view(request: Request) -> Response:
    """Rename a saved view, or give it the list's current filters."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    params = _view_form(form, user)
    try:
        async with request.app.state.runtime.transaction() as tx:
            row = await _own_view(tx, request.path_params["view_id"], user)
            await saved_views.update_view(
                tx, row, name=str(form.get("name") or ""), query=filter_query(params)
            )
    except TicketError as error:
        raise HTTPException(_view_status(error), str(error)) from None
    return RedirectResponse(f"/?view=saved-{row.id}", status_code=303)


async def delete_view(request: Request) -> Response:
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    async with request.app.state.runtime.transaction() as tx:
        await saved_views.delete_view(tx, await _own_view(tx, request.path_params["view_id"], user))
    return RedirectResponse("/", status_code=303)


async def bulk(request: Request) -> Response:
    """One change to many tickets: assign, state, priority, queue, a tag, or merge; shown
    first as a preview, applied on "Confirm", then undoable for a while."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    ids = sorted({parse_id(value) for value in form.getlist("ids")}, key=lambda i: i or 0)
    if None in ids:
        raise HTTPException(400, "ids must be ticket ids")
    if not ids:
        raise HTTPException(400, "select at least one ticket")
    if len(ids) > BULK_LIMIT:
        raise HTTPException(400, f"at most {BULK_LIMIT} tickets at once")
    changes: dict = {}
    for name in ("state", "priority"):
        if form.get(name):
            changes[name] = str(form[name])
    for name in ("assignee_id", "queue_id"):
        raw = str(form.get(name) or "")
        if raw == "me" and name == "assignee_id":
            changes[name] = user.id
        elif raw == "none":
            changes[name] = None
        elif parse_id(raw) is not None:
            changes[name] = parse_id(raw)
        elif raw:
            raise HTTPException(400, f"{name} {raw!r} is not an id")
    tag = str(form.get("tag") or "").strip()
    merge = form.get("action") == "merge"
    if not changes and not tag and not merge:
        raise HTTPException(400, "choose what to change")
    back = str(form.get("back") or "/")
    back = auth.safe_next(back)
    actor = Actor(user_id=user.id)
    runtime = request.app.state.runtime
    if form.get("confirm") != "yes":
        # First what would change (n tickets, field old → new); the change on "Confirm".
        return await _bulk_preview(request, ids, changes, tag, merge, back)
    try:
        async with runtime.transaction() as tx:
            tickets = await _bulk_tickets(tx.session, ids)
            record, target = await bulk_changes.apply(
                tx, tickets, changes, actor, add_tag=tag, merge=merge
            )
            if merge:
                done = ngettext(
                    "%(num)d ticket merged into #%(number)s",
                    "%(num)d tickets merged into #%(number)s",
                    len(tickets) - 1,
                    number=target.number,
                )
            else:
                done = ngettext("%(num)d ticket changed", "%(num)d tickets changed", len(tickets))
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    request.session["flash"] = done
    request.session["undo_bulk"] = record.id
    return RedirectResponse(back, status_code=303)


async def _bulk_tickets(session, ids: list[int]):
    tickets = await queries.tickets_by_ids(session, ids)
    if len(tickets) != len(ids):
        missing = set(ids) - {t.id for t in tickets}
        raise HTTPException(404, f"tickets {sorted(missing)} do not exist")
    return tickets


async def _bulk_preview(request: Request, ids, changes: dict, tag: str, merge: bool, back: str):
    """The confirmation page of a bulk change: each ticket's field old → new, and totals."""
    async with request.app.state.runtime.read() as session:
        tickets = await _bulk_tickets(session, ids)
        queues = {q.id: q.name for q in await queries.list_queues(session)}
        names = await user_names(session)
    try:
        planned = bulk_changes.plan(tickets, changes, tag)
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    target = min(tickets, key=lambda t: t.number) if merge else None
    if merge and len(tickets) < 2:
        raise HTTPException(422, "select two or more tickets to merge")
    return templates.TemplateResponse(
        request,
        "bulk_preview.html",
        {
            "planned": planned,
            "summary": bulk_changes.summary(planned),
            "unchanged": sum(1 for row in planned if not row.changes),
            "merge": merge,
            "target": target,
            "tickets": tickets,
            "queue_names": queues,
            "user_names": names,
            "hidden": {
                **{k: ("none" if v is None else v) for k, v in changes.items()},
                **({"tag": tag} if tag else {}),
                **({"action": "merge"} if merge else {}),
            },
            "ids": ids,
            "back": back,
            "minutes": int(UNDO_WINDOW.total_seconds() // 60),
        },
    )


async def undo_bulk(request: Request) -> Response:
    """Undo a whole bulk change (or bulk merge) within the undo window."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    back = auth.safe_next(str(form.get("back") or "/"))
    try:
        async with request.app.state.runtime.transaction() as tx:
            # Locked: two clicks on "Undo" must not both put things back.
            record = await tx.session.get(
                BulkChange, request.path_params["change_id"], with_for_update=True
            )
            if record is None:
                raise HTTPException(404, "bulk change not found")
            if not may_undo(record, user):
                raise HTTPException(403, "only who made the change, or a supervisor, can undo it")
            result = await bulk_changes.undo(tx, record, Actor(user_id=user.id))
    except TicketError as error:
        raise HTTPException(409, str(error)) from None
    done = ngettext(
        "Undone: %(num)d ticket put back.", "Undone: %(num)d tickets put back.", result.tickets
    )
    if result.kept:
        kept = ", ".join(f"#{number} ({field_label(name)})" for number, name in result.kept)
        done += " " + _("Left as they are, changed since: %(kept)s", kept=kept)
    request.session["flash"] = done
    return RedirectResponse(back, status_code=303)


def field_label(name: str) -> str:
    """A bulk change's field in the reader's language."""
    labels = {
        "state": _("State"),
        "priority": _("Priority"),
        "queue_id": _("Queue"),
        "assignee_id": _("Assignee"),
        "tags": _("Tag added"),
    }
    return labels.get(name, name)


routes = [
    Route("/", ticket_list, name="tickets"),
    Route("/views/save", save_view, methods=["POST"]),
    Route("/views/{view_id:int}/update", update_view, methods=["POST"]),
    Route("/views/{view_id:int}/delete", delete_view, methods=["POST"]),
    Route("/tickets/bulk", bulk, methods=["POST"]),
    Route("/tickets/bulk/{change_id:int}/undo", undo_bulk, methods=["POST"]),
]
