"""REST API v1: a customer's consent and data rights (export, erasure, erasure requests),
for requests that came by letter or phone and for other systems' consent answers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from customers import consent, erasure, export
from customers.models import Customer
from tresen.api import ApiError, ApiRouter, not_found
from tresen.downloads import disposition

router = ApiRouter("customers")


class ConsentAnswers(BaseModel):
    """The customer's answers; a purpose not given stays as it is."""

    model_config = ConfigDict(extra="forbid")
    service_mail: bool | None = None
    sms: bool | None = None
    marketing: bool | None = None
    # The old name of marketing (customers.consent.ALIASES), still accepted.
    email_marketing: bool | None = Field(
        default=None, description="the old name of marketing (still accepted)"
    )
    # "api" (default) or "import" (answers taken over from another system).
    source: str = "api"


def consent_json(customer: Customer, changes) -> dict:
    return {
        "consent": consent.current(customer),
        "history": [
            {
                "purpose": change.purpose,
                "granted": change.granted,
                "source": change.source,
                "actor_user_id": change.actor_user_id,
                "at": change.at.isoformat(),
            }
            for change in changes
        ],
    }


async def _customer(session, request: Request) -> Customer:
    customer_id = request.path_params["customer_id"]
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        raise not_found("customer", customer_id)
    return customer


@router.route(
    "GET",
    "/customers/{customer_id:int}/consent",
    summary="A customer's consent per purpose, with every change (source, time)",
)
async def get_consent(request: Request, user):
    async with request.app.state.runtime.read() as session:
        customer = await _customer(session, request)
        return consent_json(customer, await consent.history(session, customer.id))


@router.route(
    "PUT",
    "/customers/{customer_id:int}/consent",
    summary="Record a customer's consent answers (service_mail, sms, marketing)",
    body=ConsentAnswers,
)
async def put_consent(request: Request, user, body: ConsentAnswers):
    if body.source not in ("api", "import"):
        raise ApiError(422, f"source {body.source!r} is not api or import", "source")
    answers = body.model_dump(exclude_none=True, exclude={"source"})
    async with request.app.state.runtime.transaction() as tx:
        customer = await _customer(tx.session, request)
        await consent.set_consent(tx, customer, answers, source=body.source, actor_user_id=user.id)
        return consent_json(customer, await consent.history(tx.session, customer.id))


@router.route(
    "GET",
    "/customers/{customer_id:int}/export",
    summary="Everything about a customer: data.json and attachments in a ZIP (GDPR Art. 15, 20)",
    role="admin",
)
async def export_data(request: Request, user):
    runtime = request.app.state.runtime
    customer_id = request.path_params["customer_id"]
    try:
        content = await export.export_customer(
            runtime, customer_id, source="api", actor_user_id=user.id
        )
    except export.ExportError:
        raise not_found("customer", customer_id) from None
    name = export.export_filename(customer_id, runtime.clock.now())
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": disposition("attachment", name),
            "Cache-Control": "no-store",
        },
    )


@router.route(
    "POST",
    "/customers/{customer_id:int}/erasure",
    summary="Erase a customer now (anonymized or deleted as TRESEN_ERASURE says)",
    role="admin",
)
async def erase_customer(request: Request, user):
    runtime = request.app.state.runtime
    customer_id = request.path_params["customer_id"]
    async with runtime.read() as session:
        await _customer(session, request)
    counts = await erasure.erase(runtime, customer_id, source="api", actor_user_id=user.id)
    return {"customer_id": customer_id, **counts}


@router.route(
    "POST",
    "/customers/{customer_id:int}/erasure-requests",
    summary="Record a customer's request to be erased (an administrator confirms it)",
    status=201,
)
async def request_erasure(request: Request, user):
    async with request.app.state.runtime.transaction() as tx:
        customer = await _customer(tx.session, request)
        row = await erasure.request_erasure(tx, customer.id, source="api")
        return request_json(row, customer.name)


def request_json(row, name: str | None) -> dict:
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "customer_name": name,
        "kind": row.kind,
        "status": row.status,
        "source": row.source,
        "requested_at": row.requested_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
    }


@router.route(
    "GET",
    "/data-requests",
    summary="Customers' erasure requests (pending unless another status is asked for)",
    role="admin",
    query={"status": "pending, done, rejected, withdrawn or all"},
)
async def list_requests(request: Request, user):
    status = request.query_params.get("status", "pending")
    if status not in (*erasure.REQUEST_STATES, "all"):
        choices = ", ".join((*erasure.REQUEST_STATES, "all"))
        raise ApiError(400, f"status {status!r} is not one of {choices}", "status")
    async with request.app.state.runtime.read() as session:
        rows = await erasure.list_requests(session, None if status == "all" else status)
    return {"items": [request_json(row, name) for row, name in rows], "next": None}


@router.route(
    "POST",
    "/data-requests/{request_id:int}/reject",
    summary="Decline an erasure request (e.g. records the law says to keep)",
    role="admin",
)
async def reject_request(request: Request, user):
    request_id = request.path_params["request_id"]
    async with request.app.state.runtime.transaction() as tx:
        try:
            row = await erasure.reject_request(tx, request_id, actor_user_id=user.id)
        except erasure.ErasureError as error:
            if not error.conflict:
                raise not_found("request", request_id) from None
            raise
        return request_json(row, None)
