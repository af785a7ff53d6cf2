"""The admin pages of automations after creation: triggers and time-based automations
(list, create, edit, switch on and off, reorder, delete; a preview of what they would do)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui import admin_forms
from agent_ui.admin_routing import (
    condition_rows,
    conditions_from_form,
    conditions_to_form,
    number,
    operator_labels,
    words,
)
from agent_ui.templating import templates
from routing import automations, triggers
from routing.automation_models import Automation, Trigger
from routing.rules import OPERATORS
from tickets import queries
from tickets.models import PRIORITIES, Macro
from tickets.states import SETTABLE_STATES
from tresen import auth
from tresen.accounts import active_users
from tresen.i18n import _
from tresen.runtime import ActionError

PREVIEW_TICKETS = 50  # tickets an automation's preview lists at most


@dataclass(frozen=True)
class Kind:
    """Triggers or automations: what differs between the two sets of pages."""

    name: str  # "triggers" | "automations"
    model: type
    fields: tuple[str, ...]
    numbers: tuple[str, ...]


TRIGGERS = Kind("triggers", Trigger, triggers.TRIGGER_FIELDS, ())
AUTOMATIONS = Kind(
    "automations", Automation, automations.AUTOMATION_FIELDS, automations.TIME_FIELDS
)
KINDS = {"triggers": TRIGGERS, "automations": AUTOMATIONS}


def field_labels() -> dict[str, str]:
    """Each condition field's name in the reader's language."""
    return {
        "state": _("State"),
        "priority": _("Priority"),
        "queue": _("Queue (name)"),
        "assigned": _("Assigned (true/false)"),
        "assignee": _("Assignee (e-mail)"),
        "tags": _("Tags"),
        "channel": _("Channel"),
        "language": _("Language"),
        "subject": _("Subject"),
        "text": _("Message text"),
        "changed": _("Changed fields"),
        "hours_since_created": _("Hours since created"),
        "hours_since_updated": _("Hours since the last change"),
        "hours_in_state": _("Hours in this state"),
        "hours_since_customer": _("Hours since the customer wrote"),
        "hours_since_agent": _("Hours since an agent replied"),
    }


def event_labels() -> dict[str, str]:
    return {
        "inbound": _("a customer writes"),
        "reply": _("an agent replies"),
        "note": _("an internal note is added"),
        "update": _("the ticket is changed"),
    }


def notify_labels() -> dict[str, str]:
    return {
        "assignee": _("the assignee"),
        "supervisors": _("the queue's supervisors"),
        "both": _("the assignee and the queue's supervisors"),
    }


def values_from_form(kind: Kind, form) -> dict:
    """A trigger's or automation's name, conditions and actions as the form has them."""
    acts: dict = {}
    for name in ("state", "priority", "notify"):
        if form.get(name):
            acts[name] = str(form[name])
    for name in ("queue_id", "assignee_id", "macro_id"):
        value = number(form, name, name)
        if value is not None:
            acts[name] = value
    for name in ("add_tags", "remove_tags"):
        if words(form.get(name)):
            acts[name] = words(form.get(name))
    message = {lang: str(form.get(f"message_{lang}") or "") for lang in ("en", "de")}
    if any(text.strip() for text in message.values()):
        acts["message"] = message
    values = {
        "name": str(form.get("name") or ""),
        "conditions": conditions_from_form(form),
        "actions": acts,
        "active": form.get("active") == "on",
    }
    if kind is TRIGGERS:
        values["events"] = [event for event in triggers.EVENTS if form.get(f"on_{event}") == "on"]
    return values


def to_form(row) -> dict:
    """A stored trigger or automation as the values of its edit form."""
    acts = row.actions or {}
    form = {
        "name": row.name,
        "active": "on" if row.active else "",
        **conditions_to_form(row.conditions),
    }
    for name in ("state", "priority", "notify", "queue_id", "assignee_id", "macro_id"):
        form[name] = str(acts[name]) if acts.get(name) is not None else ""
    for name in ("add_tags", "remove_tags"):
        form[name] = ", ".join(acts.get(name) or [])
    for lang, text in (acts.get("message") or {}).items():
        form[f"message_{lang}"] = text
    for event in getattr(row, "events", None) or ():
        form[f"on_{event}"] = "on"
    return form


async def _choices(session) -> dict:
    macros = (
        await session.scalars(
            select(Macro)
            .where(Macro.owner_id.is_(None), Macro.active.is_(True))
            .order_by(Macro.name)
        )
    ).all()
    queues = await queries.list_queues(session)
    users = await active_users(session)
    return {
        "queues": queues,
        "users": users,
        "macros": macros,
        "queue_names": {queue.id: queue.name for queue in queues},
        "user_names": {user.id: user.name for user in users},
        "macro_names": {macro.id: macro.name for macro in macros},
        "states": SETTABLE_STATES,
        "priorities": PRIORITIES,
        "operators": OPERATORS,
        "operator_labels": operator_labels(),
        "field_labels": field_labels(),
        "event_labels": event_labels(),
        "notify_labels": notify_labels(),
        "events": triggers.EVENTS,
        "notify_choices": triggers.NOTIFY,
    }


def _kind(request: Request) -> Kind:
    return KINDS[request.url.path.split("/")[2]]


async def _list_page(
    request: Request, kind: Kind, *, preview=None, form=None, error=None, status_code=200
):
    async with request.app.state.runtime.read() as session:
        rows = (await session.scalars(select(kind.model).order_by(kind.model.position))).all()
        context = await _choices(session)
    context.update(
        kind=kind.name, rows=rows, fields=kind.fields, preview=preview, form=form or {}, error=error
    )
    return admin_forms.render(request, "automations.html", context, status_code)


async def _edit_page(request: Request, kind: Kind, row, *, form=None, error=None, status_code=200):
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        context = await _choices(session)
        due = None
        if kind is AUTOMATIONS and row is not None:
            pairs = await automations.due(session, row, runtime.clock.now(), limit=PREVIEW_TICKETS)
            due = [ticket for ticket, _episode in pairs]
    form = form if form is not None else (to_form(row) if row else {"active": "on"})
    context.update(
        kind=kind.name,
        row=row,
        form=form,
        fields=kind.fields,
        condition_rows=condition_rows(form),
        due=due,
        error=error,
    )
    return templates.TemplateResponse(
        request, "automation_edit.html", context, status_code=status_code
    )


async def _row(session, kind: Kind, row_id: int):
    row = await session.get(kind.model, row_id)
    if row is None:
        raise HTTPException(404, f"{kind.name[:-1]} not found")
    return row


async def list_page(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _list_page(request, _kind(request))


async def new_page(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _edit_page(request, _kind(request), None)


async def edit_page(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    kind = _kind(request)
    async with request.app.state.runtime.read() as session:
        row = await _row(session, kind, request.path_params["row_id"])
    return await _edit_page(request, kind, row)


async def save(request: Request) -> Response:
    """Create (no id) or change a trigger or automation; the form again with the reason."""
    kind = _kind(request)
    row_id = request.path_params.get("row_id")

    async def store(tx, form) -> str:
        values = values_from_form(kind, form)
        row = await _row(tx.session, kind, row_id) if row_id is not None else None
        await triggers.save(tx, kind.model, row, values, fields=kind.fields, numbers=kind.numbers)
        return f"/admin/{kind.name}?saved=1"

    async def again(typed: dict, error: str) -> Response:
        row = None
        if row_id is not None:
            async with request.app.state.runtime.read() as session:
                row = await _row(session, kind, row_id)
        return await _edit_page(request, kind, row, form=typed, error=error, status_code=422)

    return await admin_forms.submit(request, store, again)


async def change(request: Request) -> Response:
    """Switch one on or off, move it up or down, or delete it."""
    await auth.require_staff(request, role="admin")
    kind = _kind(request)
    form = await auth.verified_form(request)
    what = str(form.get("do") or "")
    if what not in ("on", "off", "up", "down", "delete"):
        raise HTTPException(400, f"{what!r} is not on, off, up, down or delete")
    async with request.app.state.runtime.transaction() as tx:
        row = await _row(tx.session, kind, request.path_params["row_id"])
        if what == "delete":
            await triggers.delete(tx, row)
        elif what in ("on", "off"):
            row.active, row.updated_at = what == "on", tx.now()
        else:
            rows = (
                await tx.session.scalars(select(kind.model).order_by(kind.model.position))
            ).all()
            index = rows.index(row)
            other = index + (-1 if what == "up" else 1)
            if 0 <= other < len(rows):
                rows[index], rows[other] = rows[other], rows[index]
                for position, item in enumerate(rows, start=1):
                    item.position = position
    return RedirectResponse(f"/admin/{kind.name}?saved=1", status_code=303)


async def preview(request: Request) -> Response:
    """Which triggers would act on a ticket for a happening like this (nothing changes)."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    kind = TRIGGERS
    event = str(form.get("event") or "inbound")
    values = {"number": str(form.get("number") or "").strip(), "event": event}
    values["text"] = str(form.get("text") or "")
    if event not in triggers.EVENTS:
        raise HTTPException(400, f"{event!r} is not one of {', '.join(triggers.EVENTS)}")
    try:
        ticket_number = number(form, "number", _("Ticket number"))
    except ActionError:
        ticket_number = None
    async with request.app.state.runtime.read() as session:
        ticket = None
        if ticket_number is not None:
            ticket = await queries.ticket_by_number(session, ticket_number)
        if ticket is None:
            return await _list_page(
                request,
                kind,
                form=values,
                error=_("There is no ticket #%(number)s.", number=values["number"]),
                status_code=422,
            )
        found = await triggers.trigger_preview(session, ticket, event, values["text"])
    return await _list_page(request, kind, preview={"ticket": ticket, "found": found}, form=values)


routes = [
    *(
        route
        for name in KINDS
        for route in (
            Route(f"/admin/{name}", list_page, methods=["GET"]),
            Route(f"/admin/{name}", save, methods=["POST"]),
            Route(f"/admin/{name}/new", new_page, methods=["GET"]),
            Route(f"/admin/{name}/{{row_id:int}}", edit_page, methods=["GET"]),
            Route(f"/admin/{name}/{{row_id:int}}", save, methods=["POST"]),
            Route(f"/admin/{name}/{{row_id:int}}/change", change, methods=["POST"]),
        )
    ),
    Route("/admin/triggers/preview", preview, methods=["POST"]),
]
