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
    view_params,
)
from agent_ui.templating import templates
from tickets import actions, queries
from tickets import views as saved_views
from tickets.actions import Actor, TicketError
from tickets.merge import merge_into_oldest
from tickets.models import PRIORITIES, STATES, TicketView
from tickets.queries import SLA_FILTERS, SORTS, CursorError
from tresen import auth
from tresen.accounts import active_users
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
        raise HTTPException(400, str(error)) from None
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
        raise HTTPException(400, str(error)) from None
    return RedirectResponse(f"/?view=saved-{row.id}", status_code=303)


async def delete_view(request: Request) -> Response:
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    async with request.app.state.runtime.transaction() as tx:
        await saved_views.delete_view(tx, await _own_view(tx, request.path_params["view_id"], user))
    return RedirectResponse("/", status_code=303)


async def bulk(request: Request) -> Response:
    """One change to many tickets: assign, state, priority, queue, a tag, or merge."""
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
    try:
        async with request.app.state.runtime.transaction() as tx:
            tickets = await queries.tickets_by_ids(tx.session, ids)
            if len(tickets) != len(ids):
                missing = set(ids) - {t.id for t in tickets}
                raise HTTPException(404, f"tickets {sorted(missing)} do not exist")
            if merge:
                target = await merge_into_oldest(tx, tickets, actor)
                done = ngettext(
                    "%(num)d ticket merged into #%(number)s",
                    "%(num)d tickets merged into #%(number)s",
                    len(tickets) - 1,
                    number=target.number,
                )
            else:
                await actions.update_tickets(tx, tickets, changes, actor, add_tag=tag)
                done = ngettext("%(num)d ticket changed", "%(num)d tickets changed", len(tickets))
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    request.session["flash"] = done
    return RedirectResponse(back, status_code=303)


routes = [
    Route("/", ticket_list, name="tickets"),
    Route("/views/save", save_view, methods=["POST"]),
    Route("/views/{view_id:int}/update", update_view, methods=["POST"]),
    Route("/views/{view_id:int}/delete", delete_view, methods=["POST"]),
    Route("/tickets/bulk", bulk, methods=["POST"]),
]
