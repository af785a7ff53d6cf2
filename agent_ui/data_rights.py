"""Customers' data rights in the console (administrators): the erasure requests waiting for
a decision, a record's data export, and erasing a record (a confirmed request, or one that
came by letter or phone)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from customers import erasure, export
from customers.models import Customer
from tresen import auth
from tresen.downloads import disposition
from tresen.i18n import _


async def data_requests_page(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    shown = request.query_params.get("status", "pending")
    if shown not in (*erasure.REQUEST_STATES, "all"):
        shown = "pending"
    async with request.app.state.runtime.read() as session:
        rows = await erasure.list_requests(session, None if shown == "all" else shown)
    context = {
        "requests": rows,
        "shown": shown,
        "statuses": (*erasure.REQUEST_STATES, "all"),
        "mode": request.app.state.runtime.settings.erasure_mode,
        "notice": request.session.pop("flash", None),
    }
    return templates.TemplateResponse(request, "data_requests.html", context)


async def _existing(request: Request) -> int:
    customer_id = request.path_params["customer_id"]
    async with request.app.state.runtime.read() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        raise HTTPException(404, "customer not found")
    return customer_id


async def download_export(request: Request) -> Response:
    """The record's data as the customer would get it (a request by letter or phone)."""
    user = await auth.require_staff(request, role="admin")
    customer_id = await _existing(request)
    runtime = request.app.state.runtime
    try:
        content = await export.export_customer(
            runtime, customer_id, source="console", actor_user_id=user.id
        )
    except export.ExportError:
        raise HTTPException(404, "customer not found") from None
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": disposition(
                "attachment", export.export_filename(customer_id, runtime.clock.now())
            ),
            "Cache-Control": "no-store",
        },
    )


async def erase_customer(request: Request) -> Response:
    """Erase the record now: confirms its pending request, if any. The form asks the
    administrator to type the record's number, so a stray click erases nothing."""
    user = await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    customer_id = await _existing(request)
    if str(form.get("confirm") or "").strip() != str(customer_id):
        raise HTTPException(
            422, f"type the customer's number ({customer_id}) into the confirm field to erase"
        )
    await erasure.erase(
        request.app.state.runtime, customer_id, source="console", actor_user_id=user.id
    )
    request.session["flash"] = _("Customer %(id)s was erased.", id=customer_id)
    return RedirectResponse("/admin/data-requests", status_code=303)


async def reject_request(request: Request) -> Response:
    user = await auth.require_staff(request, role="admin")
    await auth.verified_form(request)
    request_id = request.path_params["request_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            await erasure.reject_request(tx, request_id, actor_user_id=user.id)
    except erasure.ErasureError as error:
        raise HTTPException(409 if error.conflict else 404, str(error)) from None
    request.session["flash"] = _("The request was declined.")
    return RedirectResponse("/admin/data-requests", status_code=303)


routes = [
    Route("/admin/data-requests", data_requests_page),
    Route("/admin/data-requests/{request_id:int}/reject", reject_request, methods=["POST"]),
    Route("/customers/{customer_id:int}/export", download_export),
    Route("/customers/{customer_id:int}/erase", erase_customer, methods=["POST"]),
]
