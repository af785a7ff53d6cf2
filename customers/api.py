"""REST API v1: customers, organizations, identities, timeline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from customers import actions, consent, queries
from customers.models import Customer, Organization
from customers.timeline import timeline
from tresen.api import ApiRouter, not_found, query_int, query_limit, query_text
from tresen.ids import Id
from tresen.text import Text

router = ApiRouter("customers")


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Text = Field(max_length=20, examples=["email"])
    value: Text = Field(min_length=1, max_length=320)


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=50)
    organization_id: Id | None = None
    language: Text | None = Field(default=None, max_length=10)
    timezone: Text | None = Field(default=None, max_length=64)
    tier: Text = "standard"
    notes: Text = Field(default="", max_length=100_000)
    consent: dict[Text, bool] = Field(
        default_factory=dict,
        description="answers per purpose: service_mail, sms, marketing (recorded as from the API)",
    )


class CustomerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    organization_id: Id | None = None
    language: Text | None = Field(default=None, max_length=10)
    timezone: Text | None = Field(default=None, max_length=64)
    tier: Text | None = None
    notes: Text | None = Field(default=None, max_length=100_000)
    consent: dict[Text, bool] | None = None


class OrganizationRole(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_role: Text = Field(examples=["manager"], description="member or manager")


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    domain: Text | None = Field(default=None, max_length=255)
    tier: Text = "standard"


def organization_json(organization: Organization | None) -> dict | None:
    if organization is None:
        return None
    return {
        "id": organization.id,
        "name": organization.name,
        "domain": organization.domain,
        "tier": organization.tier,
    }


def customer_json(customer: Customer) -> dict:
    return {
        "id": customer.id,
        "name": customer.name,
        "language": customer.language,
        "timezone": customer.timezone,
        "tier": customer.tier,
        "notes": customer.notes,
        # Every purpose's answer (customers/consent.py: the default where none was given).
        "consent": consent.current(customer),
        "organization": organization_json(customer.organization),
        # member: sees their own tickets in the portal; manager: all the organization's.
        "org_role": customer.org_role,
        "identities": [
            {
                "id": identity.id,
                "kind": identity.kind,
                "value": identity.value,
                # Set when mail to it bounced for good: write another way, or ask for a new one.
                "bounced_at": identity.bounced_at.isoformat() if identity.bounced_at else None,
                "bounce_reason": identity.bounce_reason,
            }
            for identity in customer.identities
        ],
        "created_at": customer.created_at.isoformat(),
        "updated_at": customer.updated_at.isoformat(),
        # Set once the record was anonymized (customers/erasure.py): nothing personal is left.
        "erased_at": customer.erased_at.isoformat() if customer.erased_at else None,
    }


async def _load(session, customer_id: int) -> Customer:
    customer = await queries.get_customer(session, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    return customer


@router.route(
    "GET",
    "/customers",
    summary="List or search customers",
    query={
        "q": "name, email or phone",
        "cursor": "from the previous page's next",
        "limit": "1-200, default 50",
    },
)
async def list_customers(request: Request, user):
    limit = query_limit(request)
    cursor = query_int(request, "cursor")
    async with request.app.state.runtime.read() as session:
        customers = await queries.list_customers(
            session, q=query_text(request, "q"), after_id=cursor, limit=limit + 1
        )
    more = len(customers) > limit
    customers = customers[:limit]
    return {
        "items": [customer_json(c) for c in customers],
        "next": str(customers[-1].id) if more else None,
    }


@router.route("POST", "/customers", summary="Create a customer", body=CustomerCreate, status=201)
async def create_customer(request: Request, user, body: CustomerCreate):
    async with request.app.state.runtime.transaction() as tx:
        customer = await actions.create_customer(
            tx,
            name=body.name,
            identities=[(item.kind, item.value) for item in body.identities],
            organization_id=body.organization_id,
            language=body.language,
            timezone=body.timezone,
            tier=body.tier,
            notes=body.notes,
        )
        await consent.set_consent(tx, customer, body.consent, source="api", actor_user_id=user.id)
        await tx.session.refresh(customer, ["organization"])
        return customer_json(customer)


@router.route("GET", "/customers/{customer_id:int}", summary="One customer with identities")
async def get_customer(request: Request, user):
    async with request.app.state.runtime.read() as session:
        return customer_json(await _load(session, request.path_params["customer_id"]))


@router.route(
    "PATCH", "/customers/{customer_id:int}", summary="Change a customer", body=CustomerPatch
)
async def patch_customer(request: Request, user, body: CustomerPatch):
    async with request.app.state.runtime.transaction() as tx:
        customer = await _load(tx.session, request.path_params["customer_id"])
        changes = body.model_dump(exclude_unset=True)
        answers = changes.pop("consent", None)
        await actions.update_customer(tx, customer, changes)
        if answers:
            await consent.set_consent(tx, customer, answers, source="api", actor_user_id=user.id)
        await tx.session.flush()
        await tx.session.refresh(customer, ["organization"])
        return customer_json(customer)


@router.route(
    "PUT",
    "/customers/{customer_id:int}/organization-role",
    summary="Make a customer a member or the manager of their organization",
    body=OrganizationRole,
    role="admin",
)
async def set_organization_role(request: Request, user, body: OrganizationRole):
    async with request.app.state.runtime.transaction() as tx:
        customer = await _load(tx.session, request.path_params["customer_id"])
        await actions.set_organization_role(tx, customer, body.org_role)
        await tx.session.flush()
        await tx.session.refresh(customer, ["organization"])
        return customer_json(customer)


@router.route(
    "POST",
    "/customers/{customer_id:int}/identities",
    summary="Link another identity to a customer",
    body=IdentityIn,
    status=201,
)
async def add_identity(request: Request, user, body: IdentityIn):
    async with request.app.state.runtime.transaction() as tx:
        customer = await _load(tx.session, request.path_params["customer_id"])
        await actions.add_identity(tx, customer, body.kind, body.value)
        return customer_json(customer)


@router.route(
    "GET",
    "/customers/{customer_id:int}/timeline",
    summary="Everything about a customer across channels, newest first",
    query={"limit": "1-200, default 50"},
)
async def customer_timeline(request: Request, user):
    limit = query_limit(request)
    async with request.app.state.runtime.read() as session:
        customer = await _load(session, request.path_params["customer_id"])
        entries = await timeline(session, customer.id, limit)
    return {"items": [entry.to_json() for entry in entries], "next": None}


@router.route("GET", "/organizations", summary="List organizations")
async def list_organizations(request: Request, user):
    async with request.app.state.runtime.read() as session:
        rows = await queries.list_organizations(session)
        return {"items": [organization_json(row) for row in rows], "next": None}


@router.route(
    "POST",
    "/organizations",
    summary="Create an organization",
    body=OrganizationCreate,
    status=201,
    role="supervisor",
)
async def create_organization(request: Request, user, body: OrganizationCreate):
    async with request.app.state.runtime.transaction() as tx:
        organization = await actions.create_organization(
            tx, name=body.name, domain=body.domain, tier=body.tier
        )
        return organization_json(organization)
