"""Rating a ticket: "How satisfied were you?" by the signed link, no sign-in needed.

The link comes in the solved mail, at the end of a chat and on the portal's ticket page
(`rating_link`, the include `portal/_rating.html`). Opening it shows the question (a mail
scanner that opens it records nothing); the answer is a form with its CSRF token. A link
that was altered, has expired or names a ticket that is no longer the customer's is refused
with a page that says so.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from customers.models import Customer
from portal.pages import render
from portal.session import LANGUAGE_COOKIE, portal_viewer
from tickets.csat import (
    PATH,
    RatingError,
    RatingLinkError,
    rate,
    rating_target,
    rating_token,
    read_rating_token,
    ticket_rating,
)
from tickets.csat_models import SCORES
from tickets.models import Ticket
from tickets.states import DONE_STATES
from tresen import auth, i18n
from tresen.i18n import _

# Where the customer came from, as the rating records it.
VIAS = ("mail", "chat", "portal")
REFUSALS = {
    "altered": 400,
    "expired": 410,
    "unknown": 404,
}


def rating_link(settings, ticket: Ticket, now, viewer_customer_id: int) -> str | None:
    """The portal ticket page's link to rate the ticket: for a solved or closed ticket of
    the signed-in customer's own record (a manager does not rate a colleague's ticket)."""
    if ticket.state not in DONE_STATES or ticket.customer_id != viewer_customer_id:
        return None
    token = rating_token(
        settings.secret_key, ticket.id, ticket.customer_id, now, number=ticket.number
    )
    return f"{PATH}{token}?via=portal"


def _labels() -> dict[int, str]:
    return {
        5: _("Very satisfied"),
        4: _("Satisfied"),
        3: _("Neutral"),
        2: _("Dissatisfied"),
        1: _("Very dissatisfied"),
    }


async def _refused(request: Request, error: RatingLinkError) -> Response:
    messages = {
        "altered": _(
            "This rating link is not complete or was changed. Please use the link "
            "from our e-mail exactly as it came."
        ),
        "expired": _(
            "This rating link has expired. Thank you for wanting to tell us; you "
            "can still answer us in the customer portal."
        ),
        "unknown": _("This rating link does not belong to a request we know."),
    }
    return await render(
        request,
        "portal/rate_refused.html",
        {"message": messages[error.reason], "reason": error.reason},
        status_code=REFUSALS[error.reason],
    )


async def _speak_their_language(request: Request, session, customer_id: int) -> None:
    """Signed in, or a language picked: that; otherwise the customer's own language (the
    one their mail was in), before the browser's."""
    viewer = await portal_viewer(request)
    if viewer is not None or request.cookies.get(LANGUAGE_COOKIE) in i18n.LANGUAGES:
        return
    language = await session.scalar(select(Customer.language).where(Customer.id == customer_id))
    if language in i18n.LANGUAGES:
        i18n.activate(language)


async def rate_page(request: Request) -> Response:
    """The question (GET, `?score=N` from the mail preselects), and the answer (POST)."""
    runtime = request.app.state.runtime
    token = request.path_params["token"]
    form = await auth.verified_form(request) if request.method == "POST" else None
    try:
        link = read_rating_token(
            runtime.settings.secret_key,
            token,
            runtime.clock.now(),
            runtime.settings.csat_link_days,
        )
    except RatingLinkError as error:
        await portal_viewer(request)
        return await _refused(request, error)
    async with runtime.read() as session:
        ticket = await rating_target(session, link)
        if ticket is not None:
            await _speak_their_language(request, session, ticket.customer_id)
            rating = await ticket_rating(session, ticket.id)
    if ticket is None:
        return await _refused(request, RatingLinkError("unknown", "no such ticket"))
    via = request.query_params.get("via")
    via = via if via in VIAS else "mail"
    problem, chosen, comment = None, None, rating.comment if rating else ""
    if form is not None:
        chosen, comment = form.get("score"), str(form.get("comment") or "")
        try:
            async with runtime.transaction() as tx:
                await rate(tx, ticket.id, link.customer_id, chosen, comment, source=via)
        except RatingError as error:
            problem = (
                _("Please choose how satisfied you were, from 1 to 5.")
                if error.field == "score"
                else _("The comment is too long (at most 2,000 characters).")
            )
        else:
            return RedirectResponse(f"{PATH}{token}?via={via}&thanks=1", status_code=303)
    if chosen is None:
        chosen = request.query_params.get("score") or (rating.score if rating else None)
    try:
        chosen = int(chosen) if chosen is not None else None
    except (TypeError, ValueError):
        chosen = None
    return await render(
        request,
        "portal/rate.html",
        {
            "ticket": ticket,
            "rating": rating,
            "chosen": chosen if chosen in SCORES else None,
            "comment": comment or "",
            "labels": _labels(),
            "scores": sorted(SCORES, reverse=True),
            "action": f"{PATH}{token}?via={via}",
            "thanks": request.query_params.get("thanks") == "1" and rating is not None,
            "problem": problem,
        },
        status_code=422 if problem else 200,
    )


routes = [Route("/portal/rate/{token:str}", rate_page, methods=["GET", "POST"])]
