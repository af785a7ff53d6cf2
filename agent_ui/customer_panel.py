"""The customer 360 beside every ticket: the central record, edited in place, identities
linked, duplicates merged; and the customer's own page."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from customers import actions as customer_actions
from customers import consent, erasure
from customers import queries as customer_queries
from customers.actions import CustomerError
from customers.identities import IdentityError, kind_names, normalize_identity
from customers.merge import merge_customers
from customers.models import TIERS, Customer
from customers.portal_access import mail_link
from customers.timeline import timeline
from tickets import csat
from tickets import queries as ticket_queries
from tresen import auth
from tresen.email_address import EmailAddressError
from tresen.forms import optional_id
from tresen.i18n import LANGUAGES, _
from tresen.ids import parse_id

CONSENT_KEYS = consent.PURPOSES
CONSENT_HISTORY_SHOWN = 5
OTHER_TICKETS = 10


async def panel_context(session, customer: Customer, ticket_id: int | None = None) -> dict:
    others = await ticket_queries.customer_tickets(
        session, customer.id, other_than=ticket_id, limit=OTHER_TICKETS
    )
    total = await ticket_queries.count_customer_tickets(session, customer.id)
    return {
        "customer": customer,
        "other_tickets": others,
        "ticket_count": total,
        "recent": await recent_contacts(session, customer.id, limit=8),
        "organizations": await customer_queries.list_organizations(session),
        "identity_kinds": kind_names(),
        "tiers": TIERS,
        "consent_keys": CONSENT_KEYS,
        "consent_now": consent.current(customer),
        "consent_history": await consent.history(session, customer.id, CONSENT_HISTORY_SHOWN),
        "languages": LANGUAGES,
    }


async def recent_contacts(session, customer_id: int, limit: int) -> list:
    """The customer's timeline with each contact once: a ticket opened by a message is
    that message (both sources list it), not two lines."""
    entries = await timeline(session, customer_id, limit=limit * 2)
    # By the moment alone: after a merge the message sits on another ticket than its first.
    opened_by = {entry.at for entry in entries if entry.kind == "message"}
    once = [entry for entry in entries if not (entry.kind == "ticket" and entry.at in opened_by)]
    return once[:limit]


async def _customer(session, customer_id: int) -> Customer:
    customer = await customer_queries.get_customer(session, customer_id)
    if customer is None:
        raise HTTPException(404, "customer not found")
    return customer


def _back(form, customer_id: int) -> str:
    return auth.safe_next(str(form.get("back") or f"/customers/{customer_id}"))


async def customer_page(request: Request) -> Response:
    await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        customer = await _customer(session, request.path_params["customer_id"])
        if customer.merged_into_id:
            return RedirectResponse(f"/customers/{customer.merged_into_id}", status_code=303)
        context = await panel_context(session, customer)
        context["recent"] = await recent_contacts(session, customer.id, limit=50)
        context["ratings"] = await csat.customer_ratings(session, customer.id)
        context["erasure_request"] = await erasure.pending_request(session, customer.id)
    context["back"] = f"/customers/{customer.id}"
    context["notice"] = request.session.pop("flash", None)
    return templates.TemplateResponse(request, "customer.html", context)


async def edit_customer(request: Request) -> Response:
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    customer_id = request.path_params["customer_id"]
    changes: dict = {}
    for name in ("name", "notes", "tier", "language"):
        if name in form:
            changes[name] = str(form[name]).strip() if name != "notes" else str(form[name])
    if "language" in changes and not changes["language"]:
        changes["language"] = None
    if "organization_id" in form:
        changes["organization_id"] = optional_id(form["organization_id"], "organization_id")
    answers = None
    if form.get("consent_shown"):
        answers = {key: form.get(f"consent_{key}") == "on" for key in CONSENT_KEYS}
    try:
        async with request.app.state.runtime.transaction() as tx:
            customer = await _customer(tx.session, customer_id)
            await customer_actions.update_customer(tx, customer, changes)
            if answers is not None:
                # Only what the agent changed is recorded (as said by the customer to them).
                now = consent.current(customer)
                answers = {key: value for key, value in answers.items() if now[key] != value}
                await consent.set_consent(
                    tx, customer, answers, source="agent", actor_user_id=user.id
                )
    except CustomerError as error:
        raise HTTPException(422, str(error)) from None
    return RedirectResponse(_back(form, customer_id), status_code=303)


async def link_identity(request: Request) -> Response:
    """Add an email, phone or handle to the record; when another record has it, offer to
    merge that record into this one."""
    await auth.require_staff(request)
    form = await auth.verified_form(request)
    customer_id = request.path_params["customer_id"]
    kind = str(form.get("kind") or "")
    value = str(form.get("value") or "").strip()
    if kind not in kind_names():
        raise HTTPException(400, f"kind {kind!r} is not one of {', '.join(kind_names())}")
    back = _back(form, customer_id)
    try:
        async with request.app.state.runtime.transaction() as tx:
            customer = await _customer(tx.session, customer_id)
            await customer_actions.add_identity(tx, customer, kind, value)
    except CustomerError as error:
        if not error.conflict:
            raise HTTPException(422, str(error)) from None
        runtime = request.app.state.runtime
        normalized = normalize_identity(
            kind, value, default_region=runtime.settings.default_phone_region
        )
        async with runtime.read() as session:
            owner = await customer_queries.identity_owner(session, kind, normalized)
        request.session["duplicate"] = {
            "customer_id": int(customer_id),
            "other_id": owner.id if owner else None,
            "other_name": owner.name if owner else "",
            "identity": f"{kind}: {value}",
        }
    return RedirectResponse(back + "#customer", status_code=303)


async def merge_into(request: Request) -> Response:
    """Merge another record into this one (`other`: its id, or one of its e-mail addresses or
    phone numbers): one person, one record."""
    await auth.require_staff(request)
    form = await auth.verified_form(request)
    customer_id = request.path_params["customer_id"]
    raw = str(form.get("other") or "").strip()
    runtime = request.app.state.runtime
    try:
        async with runtime.transaction() as tx:
            target = await _customer(tx.session, customer_id)
            other_id = parse_id(raw) or await _owner(runtime, tx.session, raw)
            source = await _customer(tx.session, other_id)
            await merge_customers(tx, source, target)
    except CustomerError as error:
        raise HTTPException(422, str(error)) from None
    request.session.pop("duplicate", None)
    return RedirectResponse(_back(form, customer_id) + "#customer", status_code=303)


async def _owner(runtime, session, value: str) -> int:
    """The record that has this e-mail address or phone number."""
    kind = "email" if "@" in value else "phone"
    try:
        normalized = normalize_identity(
            kind, value, default_region=runtime.settings.default_phone_region
        )
    except IdentityError:
        message = f"{value!r} is not a customer id, e-mail address or phone number"
        raise HTTPException(400, message) from None
    owner = await customer_queries.identity_owner(session, kind, normalized)
    if owner is None:
        raise HTTPException(404, f"no customer has {kind} {normalized}")
    return owner.id


async def send_portal_link(request: Request) -> Response:
    """Mail the customer a sign-in link to the portal, to the e-mail address chosen."""
    await auth.require_staff(request)
    form = await auth.verified_form(request)
    customer_id = request.path_params["customer_id"]
    email = str(form.get("email") or "").strip()
    try:
        async with request.app.state.runtime.transaction() as tx:
            await _customer(tx.session, customer_id)
            link = await mail_link(tx, email, source="staff", customer_id=customer_id)
    except (CustomerError, EmailAddressError) as error:
        raise HTTPException(422, str(error)) from None
    request.session["flash"] = _("A portal sign-in link was sent to %(email)s.", email=link.email)
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)


async def set_organization_role(request: Request) -> Response:
    """An administrator makes the customer a member or the manager of their organization (a
    manager sees and answers all the organization's tickets in the portal)."""
    await auth.require_staff(request, "admin")
    form = await auth.verified_form(request)
    customer_id = request.path_params["customer_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            customer = await _customer(tx.session, customer_id)
            await customer_actions.set_organization_role(tx, customer, str(form.get("org_role")))
    except CustomerError as error:
        raise HTTPException(422, str(error)) from None
    return RedirectResponse(_back(form, customer_id) + "#customer", status_code=303)


routes = [
    Route("/customers/{customer_id:int}", customer_page),
    Route(
        "/customers/{customer_id:int}/organization-role", set_organization_role, methods=["POST"]
    ),
    Route("/customers/{customer_id:int}/portal-link", send_portal_link, methods=["POST"]),
    Route("/customers/{customer_id:int}/edit", edit_customer, methods=["POST"]),
    Route("/customers/{customer_id:int}/identities", link_identity, methods=["POST"]),
    Route("/customers/{customer_id:int}/merge", merge_into, methods=["POST"]),
]
