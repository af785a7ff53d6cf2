"""Queues in the routing admin: create them, edit name, description, mode and members;
agents' capacity and skills."""

from __future__ import annotations

from sqlalchemy import text
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent_ui import admin_forms
from agent_ui.admin_routing import mode_labels, number, words
from routing import actions
from routing import queries as routing_queries
from routing.assignment import MODES
from tickets import queries
from tickets.models import Queue
from tickets.queues import create_queue, update_queue
from tresen import auth
from tresen.accounts import active_users
from tresen.forms import optional_int

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


# The queue form's multi-valued fields.
MEMBER_LISTS = ("agents", "supervisors")


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
    context.update(error=error, form=form or {"mode": "manual"})
    return admin_forms.render(request, "admin_queues.html", context, status_code)


async def queue_list(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _list_page(request)


async def add_queue(request: Request) -> Response:
    """A new queue made in the console, with its assignment mode."""

    async def save(tx, form) -> str:
        queue = await create_queue(
            tx,
            name=str(form.get("name") or "")[:100],
            description=str(form.get("description") or "").strip(),
            acknowledge=form.get("acknowledge") == "on",
        )
        await actions.set_queue_routing(tx, queue.id, mode=str(form.get("mode") or "manual"))
        return f"/admin/routing/queues/{queue.id}?saved=queue"

    async def again(typed: dict, error: str) -> Response:
        return await _list_page(request, error=error, form=typed, status_code=422)

    return await admin_forms.submit(request, save, again)


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
    context.update(queue=queue, addresses=addresses, form=form, error=error)
    return admin_forms.render(request, "admin_queue.html", context, status_code)


async def edit_queue(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _queue_page(request, request.path_params["queue_id"])


def _members(form) -> list[dict]:
    """The ticked agents and supervisors; both boxes ticked: a supervisor is told of
    escalations and gets no new work."""
    roles = {optional_int(raw, "agent"): "agent" for raw in form.getlist("agents")}
    roles.update(
        {optional_int(raw, "supervisor"): "supervisor" for raw in form.getlist("supervisors")}
    )
    return [{"user_id": user_id, "role": role} for user_id, role in roles.items()]


async def change_queue(request: Request) -> Response:
    """Save a queue: its name and description (when the form has them), mode and members."""
    queue_id = request.path_params["queue_id"]

    async def save(tx, form) -> str:
        members = _members(form)
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
        return f"/admin/routing/queues/{queue_id}?saved=queue"

    async def again(typed: dict, error: str) -> Response:
        return await _queue_page(request, queue_id, form=typed, error=error, status_code=422)

    return await admin_forms.submit(request, save, again, MEMBER_LISTS)


async def change_agent(request: Request) -> Response:
    async def save(tx, form) -> str:
        await actions.set_agent_profile(
            tx,
            request.path_params["user_id"],
            capacity=number(form, "capacity", "capacity"),
            skills=words(form.get("skills")),
        )
        return "/admin/routing/queues?saved=agent"

    async def again(_typed: dict, error: str) -> Response:
        return await _list_page(request, error=error, status_code=422)

    return await admin_forms.submit(request, save, again)


routes = [
    Route("/admin/routing/queues", queue_list, methods=["GET"]),
    Route("/admin/routing/queues", add_queue, methods=["POST"]),
    Route("/admin/routing/queues/{queue_id:int}", edit_queue, methods=["GET"]),
    Route("/admin/routing/queues/{queue_id:int}", change_queue, methods=["POST"]),
    Route("/admin/routing/agents/{user_id:int}", change_agent, methods=["POST"]),
]
