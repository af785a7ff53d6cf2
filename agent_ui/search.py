"""One search box for the console: tickets (number, subject, text), customers, articles."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from customers.queries import list_customers
from knowledge_base.search import search as search_articles
from tickets import queries
from tickets.queries import TicketFilter
from tresen import auth
from tresen.ids import parse_id

SHOWN = 20


async def search(request: Request) -> Response:
    await auth.require_staff(request)
    runtime = request.app.state.runtime
    q = (request.query_params.get("q") or "").strip()[:200]
    context = {"search_q": q, "tickets": [], "customers": [], "articles": []}
    if q:
        number = parse_id(q.removeprefix("#"))
        async with runtime.read() as session:
            if number is not None:
                exact = await queries.ticket_by_number(session, number)
                if exact is not None:  # a ticket number: straight there
                    return RedirectResponse(f"/tickets/{exact.id}", status_code=303)
            context["tickets"], context["more_tickets"] = await queries.list_tickets(
                session, TicketFilter(text=q), limit=SHOWN, now=runtime.clock.now()
            )
            context["customers"] = await list_customers(session, q=q, limit=SHOWN)
        context["articles"] = await search_articles(runtime, q, audience="agent", limit=5)
    return templates.TemplateResponse(request, "search.html", context)


routes = [Route("/search", search)]
