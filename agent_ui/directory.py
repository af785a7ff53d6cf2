"""The customer directory: customers and organizations found by name, an organization's page."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from customers import actions as customer_actions
from customers import directory
from customers.actions import CustomerError
from tickets import queries as ticket_queries
from tickets.queries import TicketFilter
from tresen import auth
from tresen.forms import optional_id
from tresen.i18n import _

ORGANIZATION_TICKETS = 25
# A search longer than this is no name anybody typed.
MAX_QUERY = 200


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page") or "1"
    if not raw.isdigit() or not 0 < int(raw) < 1_000_000:
        raise HTTPException(400, f"page {raw!r} is not a page number")
    return int(raw)


def _query(request: Request) -> str:
    return (request.query_params.get("q") or "").strip()[:MAX_QUERY]


def _pager_params(**params) -> dict:
    """The query string a page link keeps (the search), without empty values."""
    return {name: value for name, value in params.items() if value not in (None, "")}


async def customers_page(request: Request) -> Response:
    """Every customer, A to Z; searched by name, e-mail, phone or organization."""
    await auth.require_staff(request)
    q = _query(request)
    organization_id = optional_id(request.query_params.get("organization"), "organization")
    async with request.app.state.runtime.read() as session:
        page = await directory.customers_page(
            session, q=q, organization_id=organization_id, page=_page_number(request)
        )
        organization = (
            await directory.get_organization(session, organization_id)
            if organization_id is not None
            else None
        )
    return templates.TemplateResponse(
        request,
        "customers.html",
        {
            "page": page,
            "q": q,
            "organization": organization,
            "pager_params": _pager_params(q=q, organization=organization_id),
            "title": _("Customers"),
        },
    )


async def organizations_page(request: Request) -> Response:
    """Every organization, A to Z, with its member count; searched by name or domain."""
    await auth.require_staff(request)
    q = _query(request)
    async with request.app.state.runtime.read() as session:
        page = await directory.organizations_page(session, q=q, page=_page_number(request))
    return templates.TemplateResponse(
        request,
        "organizations.html",
        {"page": page, "q": q, "pager_params": _pager_params(q=q), "title": _("Organizations")},
    )


async def organization_page(request: Request) -> Response:
    """One organization: its members, their tickets and the notes kept about it."""
    await auth.require_staff(request)
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        organization = await directory.get_organization(
            session, request.path_params["organization_id"]
        )
        if organization is None:
            raise HTTPException(404, "organization not found")
        members = await directory.customers_page(
            session, organization_id=organization.id, page=_page_number(request)
        )
        tickets, more = await ticket_queries.list_tickets(
            session,
            TicketFilter(organization_id=organization.id),
            limit=ORGANIZATION_TICKETS,
            now=runtime.clock.now(),
        )
    return templates.TemplateResponse(
        request,
        "organization.html",
        {
            "organization": organization,
            "members": members,
            "tickets": tickets,
            "more_tickets": more is not None,
            "now": runtime.clock.now(),
            "notice": request.session.pop("flash", None),
        },
    )


async def organization_notes(request: Request) -> Response:
    """Keep the organization's notes (free text every agent may edit)."""
    await auth.require_staff(request)
    form = await auth.verified_form(request)
    organization_id = request.path_params["organization_id"]
    notes = str(form.get("notes") or "").replace("\r\n", "\n")
    try:
        async with request.app.state.runtime.transaction() as tx:
            organization = await directory.get_organization(tx.session, organization_id)
            if organization is None:
                raise HTTPException(404, "organization not found")
            await customer_actions.update_organization_notes(tx, organization, notes)
    except CustomerError as error:
        raise HTTPException(422, str(error)) from None
    request.session["flash"] = _("Notes saved.")
    return RedirectResponse(f"/organizations/{organization_id}", status_code=303)


routes = [
    Route("/customers", customers_page, name="customers"),
    Route("/organizations", organizations_page, name="organizations"),
    Route("/organizations/{organization_id:int}", organization_page),
    Route("/organizations/{organization_id:int}/notes", organization_notes, methods=["POST"]),
]
