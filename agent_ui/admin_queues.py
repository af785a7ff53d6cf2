"""Queues in the routing admin: create them, edit name, description, mode and members;
agents' capacity and skills."""

from __future__ import annotations

from sqlalchemy import text
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.admin_routing import error_text, mode_labels, number, words
from agent_ui.templating import templates
from routing import actions
from routing import queries as routing_queries
from routing.assignment import MODES
from tickets import queries
from tickets.models import Queue
from tickets.queues import create_queue, update_queue
from tresen import auth
from tresen.accounts import active_users
from tresen.forms import optional_int
from tresen.runtime import ActionError

# The mail addresses delivering into a queue: the e-mail channel's table read as plain rows
# (the console imports no channel; the channel's own page changes them).
_ADDRESSES = text("SELECT address FROM mail_accounts WHERE queue_id = :queue_id ORDER BY address")


def queue_to_form(queue: Queue, routing, members: dict[int, str]) -> dict:
    """A queue and its routing as the values of its edit form."""
    return {
        "name": queue.name,
        "description": queue.description or "",
        "acknowledge": "on" if queue.acknowledge else "",
        "mode": routing.mode if routing else "manual",
        "prefer_previous_agent": "on" if routing and routing.prefer_previous_agent else "",
        "sla_policy_id": str(routing.sla_policy_id) if routing and routing.sla_policy_id else "",
        "required_skills": ", ".join(routing.required_skills if routing else []),
        "agents": [str(uid) for uid, role in members.items() if role == "agent"],
        "supervisors": [str(uid) for uid, role in members.items() if role == "supervisor"],
    }


def _posted(form) -> dict:
    """The edit form as typed, lists kept as lists (to show it again after an error)."""
    values = {key: str(form.get(key) or "") for key in form.keys()}
    values["agents"] = [str(v) for v in form.getlist("agents")]
    values["supervisors"] = [str(v) for v in form.getlist("supervisors")]
    return values


async def _context(session) -> dict:
    found = await routing_queries.routing_settings(session)
    return {
        "found": found,
        "queues": await queries.list_queues(session),
        "users": await active_users(session),
        "policies": found.policies,
        "modes": MODES,
        "mode_labels": mode_labels(),
        "section": "queues",
    }


async def _list_page(request: Request, *, error=None, form=None, status_code=200) -> Response:
    async with request.app.state.runtime.read() as session:
        context = await _context(session)
    return templates.TemplateResponse(
        request,
        "admin_queues.html",
        {
            **context,
            "error": error,
            "form": form or {"mode": "manual"},
            "saved": request.query_params.get("saved"),
        },
        status_code=status_code,
    )


async def queue_list(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _list_page(request)


async def add_queue(request: Request) -> Response:
    """A new queue made in the console, with its assignment mode."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            queue = await create_queue(
                tx,
                name=str(form.get("name") or "")[:100],
                description=str(form.get("description") or "").strip(),
                acknowledge=form.get("acknowledge") == "on",
            )
            await actions.set_queue_routing(tx, queue.id, mode=str(form.get("mode") or "manual"))
    except ActionError as error:
        return await _list_page(request, error=error_text(error), form=dict(form), status_code=422)
    return RedirectResponse(f"/admin/routing/queues/{queue.id}?saved=queue", status_code=303)


async def _queue_page(request: Request, queue_id: int, *, form=None, error=None, status_code=200):
    async with request.app.state.runtime.read() as session:
        queue = await session.get(Queue, queue_id)
        if queue is None:
            raise HTTPException(404, "queue not found")
        context = await _context(session)
        addresses = list(await session.scalars(_ADDRESSES, {"queue_id": queue_id}))
    found = context["found"]
    members = found.members.get(queue_id, {})
    if form is None:
        form = queue_to_form(queue, found.routing.get(queue_id), members)
    return templates.TemplateResponse(
        request,
        "admin_queue.html",
        {
            **context,
            "queue": queue,
            "addresses": addresses,
            "form": form,
            "error": error,
            "saved": request.query_params.get("saved"),
        },
        status_code=status_code,
    )


async def edit_queue(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _queue_page(request, request.path_params["queue_id"])


async def change_queue(request: Request) -> Response:
    """Save a queue: its name and description (when the form has them), mode and members."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    queue_id = request.path_params["queue_id"]
    roles = {optional_int(raw, "agent"): "agent" for raw in form.getlist("agents")}
    # Both boxes ticked: a supervisor is told of escalations and gets no new work.
    roles.update(
        {optional_int(raw, "supervisor"): "supervisor" for raw in form.getlist("supervisors")}
    )
    members = [{"user_id": user_id, "role": role} for user_id, role in roles.items()]
    try:
        async with request.app.state.runtime.transaction() as tx:
            queue = await tx.session.get(Queue, queue_id)
            if queue is None:
                raise HTTPException(404, "queue not found")
            if "name" in form:  # the edit page; the older per-queue form had routing only
                await update_queue(
                    tx,
                    queue,
                    {
                        "name": str(form.get("name") or "")[:100],
                        "description": str(form.get("description") or "").strip(),
                        "acknowledge": form.get("acknowledge") == "on",
                    },
                )
            await actions.set_queue_routing(
                tx,
                queue_id,
                mode=str(form.get("mode") or "manual"),
                prefer_previous_agent=form.get("prefer_previous_agent") == "on",
                sla_policy_id=number(form, "sla_policy_id", "SLA policy"),
                required_skills=words(form.get("required_skills")),
                members=members,
            )
    except ActionError as error:
        return await _queue_page(
            request, queue_id, form=_posted(form), error=error_text(error), status_code=422
        )
    return RedirectResponse(f"/admin/routing/queues/{queue_id}?saved=queue", status_code=303)


async def change_agent(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            await actions.set_agent_profile(
                tx,
                request.path_params["user_id"],
                capacity=number(form, "capacity", "capacity"),
                skills=words(form.get("skills")),
            )
    except ActionError as error:
        return await _list_page(request, error=error_text(error), status_code=422)
    return RedirectResponse("/admin/routing/queues?saved=agent", status_code=303)


routes = [
    Route("/admin/routing/queues", queue_list, methods=["GET"]),
    Route("/admin/routing/queues", add_queue, methods=["POST"]),
    Route("/admin/routing/queues/{queue_id:int}", edit_queue, methods=["GET"]),
    Route("/admin/routing/queues/{queue_id:int}", change_queue, methods=["POST"]),
    Route("/admin/routing/agents/{user_id:int}", change_agent, methods=["POST"]),
]
