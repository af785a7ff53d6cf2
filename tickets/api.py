"""REST API v1: tickets, messages, queues and the inbound endpoint."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from customers.queries import get_customer
from tickets import actions, inbox, queries, queues
from tickets.actions import Actor
from tickets.csat import rating_json, ticket_rating
from tickets.inbox import InboundRejected, InboxProcessingError, receive
from tickets.models import PRIORITIES, STATES, Message, Queue, Ticket
from tickets.queries import SLA_FILTERS, SORTS, CursorError, TicketFilter
from tickets.states import SETTABLE_STATES
from tresen.api import ApiError, ApiRouter, not_found, query_int, query_limit, query_text
from tresen.ids import Id
from tresen.inbound import InboundMessage
from tresen.text import Text

router = ApiRouter("tickets")


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: Id
    subject: Text = Field(min_length=1, max_length=500)
    text: Text = Field(default="", max_length=2_000_000, description="the customer's request")
    html: Text | None = Field(default=None, max_length=10_000_000)
    channel: Text = Field(default="web", pattern=r"^[a-z][a-z0-9_]*$", max_length=30)
    priority: Text = "normal"
    queue_id: Id | None = None
    assignee_id: Id | None = None
    tags: list[Text] = Field(default_factory=list, max_length=50)


class TicketPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: Text | None = Field(default=None, min_length=1, max_length=500)
    state: Text | None = Field(default=None, json_schema_extra={"enum": list(SETTABLE_STATES)})
    priority: Text | None = Field(default=None, json_schema_extra={"enum": list(PRIORITIES)})
    queue_id: Id | None = None
    assignee_id: Id | None = None
    tags: list[Text] | None = Field(default=None, max_length=50)


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(default="", max_length=2_000_000)
    html: Text | None = Field(default=None, max_length=10_000_000)
    internal: bool = False
    channel: Text | None = Field(
        default=None,
        max_length=30,
        description="the channel a reply goes out on (default: the ticket's, or one that "
        "reaches the same customer when the ticket's cannot send)",
        examples=["email"],
    )
    recipient: Text | None = Field(
        default=None,
        max_length=320,
        description="one of the customer's identities on that channel (default: where they "
        "last wrote from)",
    )


class QueueCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=100)
    description: Text = Field(default="", max_length=10_000)
    acknowledge: bool = Field(
        default=False, description="confirm each new mail ticket to the customer (de/en)"
    )


class QueuePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, min_length=1, max_length=100)
    description: Text | None = Field(default=None, max_length=10_000)
    acknowledge: bool | None = None


def queue_json(queue) -> dict:
    return {
        "id": queue.id,
        "name": queue.name,
        "description": queue.description,
        "acknowledge": queue.acknowledge,
    }


def message_json(message: Message) -> dict:
    return {
        "id": message.id,
        "direction": message.direction,
        "channel": message.channel,
        "internal": message.internal,
        "author_user_id": message.author_user_id,
        "author_customer_id": message.author_customer_id,
        "sender": message.sender,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "external_id": message.external_id,
        "attachments": [
            {
                "id": item.id,
                "filename": item.filename,
                "content_type": item.content_type,
                "size": item.size,
            }
            for item in message.attachments
        ],
        "created_at": message.created_at.isoformat(),
    }


def ticket_json(ticket: Ticket, *, messages: list[Message] | None = None) -> dict:
    body = {
        "id": ticket.id,
        "number": ticket.number,
        "display_number": ticket.display_number,
        "subject": ticket.subject,
        "state": ticket.state,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "customer": {"id": ticket.customer.id, "name": ticket.customer.name},
        "queue": {"id": ticket.queue.id, "name": ticket.queue.name} if ticket.queue else None,
        "assignee": (
            {"id": ticket.assignee.id, "name": ticket.assignee.name} if ticket.assignee else None
        ),
        "tags": ticket.tags,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "solved_at": ticket.solved_at.isoformat() if ticket.solved_at else None,
    }
    if messages is not None:
        body["messages"] = [message_json(message) for message in messages]
    return body


def ticket_filter(request: Request, user) -> TicketFilter:
    """Filters from the query string; assignee may be an id, 'me' or 'none'."""
    params = request.query_params
    states = [s for s in (params.get("state") or "").split(",") if s]
    for state in states:
        if state not in STATES:
            raise ApiError(400, f"state {state!r} is not one of {', '.join(STATES)}", "state")
    assignee = params.get("assignee")
    assignee_id, unassigned = None, False
    if assignee == "me":
        assignee_id = user.id
    elif assignee == "none":
        unassigned = True
    elif assignee:
        assignee_id = query_int(request, "assignee")
    return TicketFilter(
        state=states or None,
        queue_id=query_int(request, "queue"),
        assignee_id=assignee_id,
        unassigned=unassigned,
        customer_id=query_int(request, "customer"),
        channel=params.get("channel") or None,
        tag=(params.get("tag") or "").strip().lower() or None,
        organization_id=query_int(request, "organization"),
        priority=_choices(params, "priority", PRIORITIES),
        sla=_choice(params, "sla", SLA_FILTERS),
        text=query_text(request, "q"),
        sort=_choice(params, "sort", SORTS) or "updated",
    )


def _choices(params, name: str, allowed) -> list[str] | None:
    values = [v for v in (params.get(name) or "").split(",") if v]
    for value in values:
        if value not in allowed:
            raise ApiError(400, f"{name} {value!r} is not one of {', '.join(allowed)}", name)
    return values or None


def _choice(params, name: str, allowed) -> str | None:
    values = _choices(params, name, allowed)
    if values and len(values) > 1:
        raise ApiError(400, f"{name} takes one value", name)
    return values[0] if values else None


async def _load(session, ticket_id: int, *, with_messages: bool = False) -> Ticket:
    ticket = await queries.get_ticket(session, ticket_id, with_messages=with_messages)
    if ticket is None:
        raise not_found("ticket", ticket_id)
    return ticket


@router.route(
    "GET",
    "/tickets",
    summary="List tickets, most recently updated first (or by another sort)",
    query={
        "state": "comma-separated states",
        "queue": "queue id",
        "assignee": "user id, me or none",
        "customer": "customer id",
        "channel": "channel of origin",
        "tag": "a tag",
        "organization": "organization id",
        "priority": "comma-separated priorities",
        "sla": "at_risk, breached, running or none",
        "q": "ticket number, subject or message text",
        "sort": "updated (default), created, priority or sla (due first)",
        "cursor": "from the previous page's next",
        "limit": "1-200, default 50",
    },
)
async def list_tickets(request: Request, user):
    filters = ticket_filter(request, user)
    limit = query_limit(request)
    try:
        async with request.app.state.runtime.read() as session:
            tickets, next_cursor = await queries.list_tickets(
                session,
                filters,
                cursor=request.query_params.get("cursor"),
                limit=limit,
                now=request.app.state.runtime.clock.now(),
            )
    except CursorError as error:
        raise ApiError(422, str(error), "cursor") from None
    return {"items": [ticket_json(ticket) for ticket in tickets], "next": next_cursor}


@router.route(
    "POST", "/tickets", summary="Open a ticket for a customer", body=TicketCreate, status=201
)
async def create_ticket(request: Request, user, body: TicketCreate):
    async with request.app.state.runtime.transaction() as tx:
        customer = await get_customer(tx.session, body.customer_id)
        if customer is None:
            raise ApiError(422, f"customer {body.customer_id} does not exist", "customer_id")
        ticket = await actions.open_ticket(
            tx,
            customer_id=customer.id,
            subject=body.subject,
            channel=body.channel,
            actor=Actor(user_id=user.id),
            priority=body.priority,
            queue_id=body.queue_id,
            assignee_id=body.assignee_id,
            tags=body.tags,
        )
        messages = []
        if body.text.strip() or body.html:
            messages.append(
                await actions.add_message(
                    tx,
                    ticket,
                    direction="inbound",
                    text=body.text,
                    html=body.html,
                    actor=Actor(customer_id=customer.id),
                )
            )
        await tx.session.refresh(ticket, ["customer", "queue", "assignee"])
        return ticket_json(ticket, messages=messages)


@router.route("GET", "/tickets/{ticket_id:int}", summary="One ticket with its messages")
async def get_ticket(request: Request, user):
    async with request.app.state.runtime.read() as session:
        ticket = await _load(session, request.path_params["ticket_id"], with_messages=True)
        body = ticket_json(ticket, messages=ticket.messages)
        body["rating"] = rating_json(await ticket_rating(session, ticket.id))
        return body


@router.route(
    "PATCH",
    "/tickets/{ticket_id:int}",
    summary="Change state, priority, queue, assignee, subject or tags",
    body=TicketPatch,
)
async def patch_ticket(request: Request, user, body: TicketPatch):
    async with request.app.state.runtime.transaction() as tx:
        ticket = await _load(tx.session, request.path_params["ticket_id"])
        await actions.update_ticket(
            tx, ticket, body.model_dump(exclude_unset=True), Actor(user_id=user.id)
        )
        return ticket_json(ticket)


@router.route(
    "POST",
    "/tickets/{ticket_id:int}/messages",
    summary="Reply to the customer or add an internal note",
    body=MessageCreate,
    status=201,
)
async def create_message(request: Request, user, body: MessageCreate):
    async with request.app.state.runtime.transaction() as tx:
        ticket = await _load(tx.session, request.path_params["ticket_id"])
        done = await actions.reply(
            tx,
            ticket,
            Actor(user_id=user.id),
            text=body.text,
            html=body.html,
            internal=body.internal,
            channel=body.channel,
            recipient=body.recipient,
        )
        return message_json(done.message)


@router.route("GET", "/tickets/{ticket_id:int}/history", summary="Who changed what, and when")
async def get_history(request: Request, user):
    async with request.app.state.runtime.read() as session:
        ticket = await _load(session, request.path_params["ticket_id"])
        rows = await queries.ticket_history(session, ticket.id)
    return {
        "items": [
            {
                "field": row.field,
                "old": row.old_value,
                "new": row.new_value,
                "actor_user_id": row.actor_user_id,
                "actor_customer_id": row.actor_customer_id,
                "at": row.at.isoformat(),
            }
            for row in rows
        ],
        "next": None,
    }


@router.route(
    "POST",
    "/inbound",
    summary="Deliver one inbound message (idempotent)",
    body=InboundMessage,
    status=202,
    # It speaks for any customer on any channel: only integrations, not every agent's token.
    scope="integration",
)
async def post_inbound(request: Request, user, body: InboundMessage):
    try:
        result = await receive(request.app.state.runtime, body)
    except InboundRejected as error:
        raise ApiError(422, str(error), error.field) from None
    except InboxProcessingError as error:
        return JSONResponse(
            {"error": "stored but not processed; it will be retried", "inbox_id": error.inbox_id},
            status_code=500,
        )
    return JSONResponse(result.to_json(), status_code=202)


def inbox_record_json(record) -> dict:
    return {
        "id": record.id,
        "channel": record.channel,
        "external_id": record.external_id,
        "status": record.status,
        "error": record.error,
        "attempts": record.attempts,
        "received_at": record.received_at.isoformat(),
        "last_attempt_at": record.last_attempt_at and record.last_attempt_at.isoformat(),
    }


@router.route(
    "GET",
    "/inbox/quarantined",
    summary="Inbound messages that failed too often to be tried again, with their errors",
    role="admin",
)
async def list_quarantined(request: Request, user):
    records = await inbox.quarantined(request.app.state.runtime)
    return {"items": [inbox_record_json(record) for record in records], "next": None}


@router.route(
    "POST",
    "/inbox/{inbox_id:int}/retry",
    summary="Process a quarantined inbound message again (after the cause was fixed)",
    role="admin",
)
async def retry_quarantined(request: Request, user):
    inbox_id = request.path_params["inbox_id"]
    try:
        result = await inbox.retry_quarantined(request.app.state.runtime, inbox_id)
    except LookupError as error:
        raise ApiError(404, str(error)) from None
    except InboxProcessingError as error:
        raise ApiError(409, f"still fails: {error.__cause__}") from None
    return result.to_json()


@router.route("GET", "/queues", summary="List queues")
async def list_queues(request: Request, user):
    async with request.app.state.runtime.read() as session:
        rows = await queries.list_queues(session)
    return {"items": [queue_json(queue) for queue in rows], "next": None}


@router.route(
    "POST", "/queues", summary="Create a queue", body=QueueCreate, status=201, role="admin"
)
async def create_queue(request: Request, user, body: QueueCreate):
    async with request.app.state.runtime.transaction() as tx:
        queue = await queues.create_queue(
            tx, name=body.name, description=body.description, acknowledge=body.acknowledge
        )
        return queue_json(queue)


@router.route(
    "PATCH",
    "/queues/{queue_id:int}",
    summary="Rename a queue, or turn its acknowledgements on or off",
    body=QueuePatch,
    role="admin",
)
async def patch_queue(request: Request, user, body: QueuePatch):
    async with request.app.state.runtime.transaction() as tx:
        queue = await tx.session.get(Queue, request.path_params["queue_id"])
        if queue is None:
            raise not_found("queue", request.path_params["queue_id"])
        await queues.update_queue(tx, queue, body.model_dump(exclude_unset=True))
        return queue_json(queue)
