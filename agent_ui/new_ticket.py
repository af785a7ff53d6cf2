"""A ticket opened by hand in the console: a phone call noted, or a message sent first."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from customers import actions as customer_actions
from customers import directory
from customers.actions import CustomerError
from customers.models import Customer
from tickets import manual
from tickets import queries as ticket_queries
from tickets.actions import Actor, TicketError
from tickets.models import PRIORITIES
from tresen import auth, desk_settings
from tresen import channel as channel_registry
from tresen.accounts import active_users
from tresen.forms import optional_id
from tresen.i18n import _
from tresen.models import User

# How many customers the search as you type offers.
LOOKUP_LIMIT = 8
MAX_QUERY = 200


@dataclass
class FormError(Exception):
    """What is wrong with the form, in the reader's language, and the field it concerns."""

    field: str
    message: str


def sending_channels() -> list[str]:
    """The channels a first message can go out on: those that send, but a live chat."""
    # A chat conversation is the customer's to start.
    return [c.name for c in channel_registry.channels() if c.send is not None and not c.live]


async def _form_context(session, user: User, values: dict) -> dict:
    customer = None
    customer_id = optional_id(values.get("customer_id"), "customer_id")
    if customer_id is not None:
        customer = await session.get(Customer, customer_id)
    lookup = str(values.get("customer_q") or "").strip()[:MAX_QUERY]
    return {
        "values": values,
        "customer": customer,
        "matches": await _lookup(session, lookup) if lookup and customer is None else [],
        "queues": await ticket_queries.list_queues(session),
        "agents": await active_users(session),
        "priorities": PRIORITIES,
        "channels": sending_channels(),
        "kinds": manual.KINDS,
        # A reply makes an unassigned ticket the replier's: "Nobody" does not hold for a message.
        "assign_on_reply": await desk_settings.get_setting(session, "assign_on_reply"),
        "title": _("New ticket"),
    }


async def _lookup(session, q: str) -> list[Customer]:
    page = await directory.customers_page(session, q=q, size=LOOKUP_LIMIT)
    return page.rows


async def _render(request: Request, user: User, values: dict, error=None, status=200):
    async with request.app.state.runtime.read() as session:
        context = await _form_context(session, user, values)
    context["error"] = error
    return templates.TemplateResponse(request, "ticket_new.html", context, status_code=status)


async def new_ticket_page(request: Request) -> Response:
    """The form: a call or an outbound message, for a customer found or made here."""
    user = await auth.require_staff(request)
    if request.method == "POST":
        return await _create(request, user)
    values = {
        "kind": request.query_params.get("kind") or manual.CALL,
        "customer_id": request.query_params.get("customer") or "",
        "priority": "normal",
        "assignee": "me",
        "channel": "email",
    }
    if values["kind"] not in manual.KINDS:
        raise HTTPException(400, f"kind {values['kind']!r} is not one of {', '.join(manual.KINDS)}")
    return await _render(request, user, values)


async def customer_lookup(request: Request) -> Response:
    """Customers whose name, e-mail, phone or organization has what was typed (htmx)."""
    await auth.require_staff(request)
    q = (request.query_params.get("customer_q") or "").strip()[:MAX_QUERY]
    async with request.app.state.runtime.read() as session:
        matches = await _lookup(session, q) if q else []
    return templates.TemplateResponse(
        request, "_customer_matches.html", {"matches": matches, "q": q, "values": {}}
    )


def _assignee(raw: str, user: User):
    if raw in ("", "me"):
        return user.id
    if raw == "none":
        return None
    return optional_id(raw, "assignee")


async def _create(request: Request, user: User) -> Response:
    form = await auth.verified_form(request)
    values = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    values.pop(auth.CSRF_FIELD, None)
    try:
        ticket_id = await _open(request, user, form)
    except FormError as error:
        return await _render(request, user, values, error, status=422)
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


def _text(form: FormData, name: str, limit: int | None = None) -> str:
    value = str(form.get(name) or "")
    return value[:limit] if limit else value


async def _open(request: Request, user: User, form: FormData) -> int:
    """Open the ticket (and the customer when made here) in one transaction; its id."""
    kind = _text(form, "kind")
    if kind not in manual.KINDS:
        raise FormError("kind", _("Choose a phone call or an outbound message."))
    customer_id = optional_id(form.get("customer_id"), "customer_id")
    new_name = _text(form, "new_name").strip()
    new_email = _text(form, "new_email").strip()
    new_phone = _text(form, "new_phone").strip()
    if customer_id is None and not new_name:
        if new_email or new_phone:
            raise FormError("new_name", _("Give the new customer a name."))
        raise FormError("customer", _("Choose a customer or enter a new one."))
    priority = _text(form, "priority") or "normal"
    if priority not in PRIORITIES:
        raise FormError("priority", _("Choose a priority."))
    if not _text(form, "subject").strip():
        raise FormError("subject", _("Give the ticket a subject."))
    if not _text(form, "text").strip():
        if kind == manual.CALL:
            raise FormError("text", _("Note what the call was about."))
        raise FormError("text", _("Write the message to the customer."))
    queue_id = optional_id(form.get("queue_id"), "queue_id")
    assignee_id = _assignee(_text(form, "assignee"), user)
    try:
        async with request.app.state.runtime.transaction() as tx:
            if customer_id is None:
                identities = [("email", new_email)] if new_email else []
                identities += [("phone", new_phone)] if new_phone else []
                customer = await customer_actions.create_customer(
                    tx, name=new_name, identities=identities
                )
                customer_id = customer.id
            ticket = await manual.open_by_hand(
                tx,
                kind=kind,
                customer_id=customer_id,
                subject=_text(form, "subject", 500),
                text=_text(form, "text"),
                actor=Actor(user_id=user.id),
                queue_id=queue_id,
                priority=priority,
                assignee_id=assignee_id,
                channel=_text(form, "channel") or None,
            )
            return ticket.id
    except CustomerError as error:
        raise FormError(
            error.field, _("The customer could not be saved: %(reason)s", reason=str(error))
        ) from None
    except TicketError as error:
        raise FormError(
            error.field, _("The ticket could not be opened: %(reason)s", reason=str(error))
        ) from None


routes = [
    Route("/tickets/new", new_ticket_page, methods=["GET", "POST"], name="new_ticket"),
    Route("/tickets/new/customers", customer_lookup),
]
