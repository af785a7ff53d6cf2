"""My data: the customer's consent per purpose, "Download my data" and "Delete my account"
(GDPR Art. 7, 15, 17, 20, 21). Only ever the signed-in customer's own record: no page here
takes a record's number, so there is nothing of anyone else to ask for."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from customers import consent, erasure, export
from customers.models import Customer
from portal.pages import render
from portal.session import require_viewer
from tresen.auth import verified_form
from tresen.downloads import disposition
from tresen.i18n import _

HISTORY_SHOWN = 20
EXPORTS_PER_HOUR = 5


async def my_data_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    async with request.app.state.runtime.read() as session:
        customer = await session.get(Customer, viewer.customer_id)
        context = {
            "purposes": consent.PURPOSES,
            "answers": consent.current(customer),
            "answered": set(customer.consent or {}),
            "history": await consent.history(session, customer.id, HISTORY_SHOWN),
            "erasure_request": await erasure.pending_request(session, customer.id),
            "notice": request.session.pop("portal_notice", None),
        }
    return await render(request, "portal/my_data.html", context)


async def change_consent(request: Request) -> Response:
    viewer = await require_viewer(request)
    form = await verified_form(request)
    answers = {purpose: form.get(purpose) == "yes" for purpose in consent.PURPOSES}
    async with request.app.state.runtime.transaction() as tx:
        customer = await tx.session.get(Customer, viewer.customer_id)
        changed = await consent.set_consent(tx, customer, answers, source="portal")
    request.session["portal_notice"] = (
        _("Your choices were saved.") if changed else _("Nothing was changed.")
    )
    return RedirectResponse("/portal/data", status_code=303)


async def download_my_data(request: Request) -> Response:
    viewer = await require_viewer(request)
    runtime = request.app.state.runtime
    # Each export reads every message and file of the record: a few an hour are plenty
    # (counted when it starts, one at a time, so requests sent at once count too).
    try:
        content = await export.export_customer(
            runtime, viewer.customer_id, source="portal", per_hour=EXPORTS_PER_HOUR
        )
    except export.TooManyExports:
        problem = _("You downloaded your data several times this hour. Please try again later.")
        return await render(
            request,
            "portal/my_data_wait.html",
            {"problem": problem},
            status_code=429,
            headers={"Retry-After": "3600"},
        )
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": disposition(
                "attachment", export.export_filename(viewer.customer_id, runtime.clock.now())
            ),
            "Cache-Control": "no-store",
        },
    )


async def ask_for_erasure(request: Request) -> Response:
    viewer = await require_viewer(request)
    form = await verified_form(request)
    if form.get("confirm") != "yes":
        request.session["portal_notice"] = _(
            "Please tick the box to confirm that you want your account deleted."
        )
        return RedirectResponse("/portal/data#delete", status_code=303)
    async with request.app.state.runtime.transaction() as tx:
        await erasure.request_erasure(tx, viewer.customer_id, source="portal")
    request.session["portal_notice"] = _(
        "We received your request. Our team will delete your account shortly."
    )
    return RedirectResponse("/portal/data#delete", status_code=303)


async def withdraw_erasure(request: Request) -> Response:
    viewer = await require_viewer(request)
    await verified_form(request)
    async with request.app.state.runtime.transaction() as tx:
        withdrawn = await erasure.withdraw_request(tx, viewer.customer_id)
    request.session["portal_notice"] = (
        _("Your request was withdrawn: your account stays.")
        if withdrawn
        else _("There was no request to withdraw.")
    )
    return RedirectResponse("/portal/data#delete", status_code=303)


routes = [
    Route("/portal/data", my_data_page),
    Route("/portal/data/consent", change_consent, methods=["POST"]),
    Route("/portal/data/export", download_my_data),
    Route("/portal/data/erasure", ask_for_erasure, methods=["POST"]),
    Route("/portal/data/erasure/withdraw", withdraw_erasure, methods=["POST"]),
]
