"""REST API v1: routing rules (with a preview), calendars, SLA policies, queue modes,
agents' profiles and presence, and each ticket's SLA status and routing decisions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from routing import actions, status, suggestions
from routing.assign import set_presence
from routing.models import BusinessCalendarRow, QueueRouting, RoutingRule, SlaPolicyRow
from tickets.models import Ticket
from tresen.api import ApiRouter, not_found, query_limit
from tresen.ids import Id, Int32
from tresen.text import JsonValue, Text

router = ApiRouter("routing")


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: Text = Field(examples=["subject"])
    operator: Text = Field(examples=["contains"])
    value: JsonValue = Field(examples=[["invoice", "Rechnung"]])


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    conditions: list[Condition] = Field(default_factory=list, max_length=50)
    actions: dict[Text, JsonValue] = Field(
        default_factory=dict,
        examples=[{"queue_id": 2, "priority": "high", "tags": ["billing"], "stop": True}],
    )
    active: bool = True
    position: Int32 | None = None


class RulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    conditions: list[Condition] | None = Field(default=None, max_length=50)
    actions: dict[Text, JsonValue] | None = None
    active: bool | None = None
    position: Int32 | None = None


class Preview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Text = "email"
    account: Text | None = Field(default=None, examples=["support@example.com"])
    subject: Text = Field(default="", max_length=500)
    text: Text = Field(default="", max_length=20000)
    tier: Text = "standard"
    organization_id: Id | None = None


class CalendarCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=100)
    timezone: Text = "Europe/Berlin"
    weekly: dict[Text, list[tuple[Text, Text]]] = Field(
        examples=[{"0": [["09:00", "17:00"]], "1": [["09:00", "17:00"]]}]
    )
    country: Text | None = "DE"
    subdivision: Text | None = Field(default=None, examples=["BY"])
    closures: list[Text] = Field(default_factory=list, examples=[["2026-12-31"]])
    is_default: bool = False


class PolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=100)
    calendar_id: Id | None = None
    targets: dict[Text, dict[Text, float]] = Field(
        examples=[{"urgent": {"first_response": 30, "resolution": 240}}],
        description="minutes per priority and target (first_response, next_response, resolution)",
    )
    pause_states: list[Text] | None = None
    warn_before_minutes: Int32 | None = 15
    warn_share: float | None = None
    escalation: dict[Text, list[dict[Text, JsonValue]]] | None = Field(
        default=None,
        examples=[{"warning": [{"action": "notify"}], "breach": [{"action": "raise_priority"}]}],
    )


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Id
    role: Literal["agent", "supervisor"] = "agent"


class QueueRoutingPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["manual", "round_robin", "least_loaded", "skills"] | None = None
    prefer_previous_agent: bool | None = None
    sla_policy_id: Id | None = None
    required_skills: list[Text] | None = None
    members: list[Member] | None = None


class AgentProfilePut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: Int32 | None = Field(default=None, ge=0)
    # Live chats at once; null: the desk's default (TRESEN_CHAT_DEFAULT_CAPACITY); left out:
    # unchanged.
    chat_capacity: Int32 | None = Field(default=None, ge=0)
    skills: list[Text] | None = Field(default=None, examples=[["lang:de", "billing"]])


class PresencePut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presence: Literal["online", "away", "offline"]


async def _rule(session, rule_id: int) -> RoutingRule:
    row = await session.get(RoutingRule, rule_id)
    if row is None:
        raise not_found("rule", rule_id)
    return row


@router.route("GET", "/routing/rules", summary="Routing rules, in the order they apply")
async def list_rules(request: Request, user):
    async with request.app.state.runtime.read() as session:
        rows = await session.scalars(
            select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)
        )
        return {"items": [actions.rule_json(row) for row in rows], "next": None}


@router.route(
    "POST", "/routing/rules", summary="Add a rule", role="admin", body=RuleCreate, status=201
)
async def add_rule(request: Request, user, body: RuleCreate):
    async with request.app.state.runtime.transaction() as tx:
        data = body.model_dump()
        row = await actions.create_rule(tx, **data)
        return actions.rule_json(row)


@router.route("GET", "/routing/rules/{rule_id:int}", summary="One rule")
async def get_rule(request: Request, user):
    async with request.app.state.runtime.read() as session:
        return actions.rule_json(await _rule(session, request.path_params["rule_id"]))


@router.route(
    "PATCH", "/routing/rules/{rule_id:int}", summary="Change a rule", role="admin", body=RulePatch
)
async def patch_rule(request: Request, user, body: RulePatch):
    async with request.app.state.runtime.transaction() as tx:
        row = await _rule(tx.session, request.path_params["rule_id"])
        await actions.update_rule(tx, row, body.model_dump(exclude_unset=True))
        return actions.rule_json(row)


@router.route(
    "DELETE", "/routing/rules/{rule_id:int}", summary="Delete a rule", role="admin", status=204
)
async def remove_rule(request: Request, user):
    async with request.app.state.runtime.transaction() as tx:
        await actions.delete_rule(tx, await _rule(tx.session, request.path_params["rule_id"]))
    return Response(status_code=204)


@router.route(
    "POST",
    "/routing/preview",
    summary="Which rules would match this message, and what they would decide",
    body=Preview,
)
async def preview(request: Request, user, body: Preview):
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        return await status.preview(
            session, runtime.settings, now=runtime.clock.now(), **body.model_dump()
        )


@router.route("GET", "/routing/calendars", summary="Business calendars")
async def list_calendars(request: Request, user):
    async with request.app.state.runtime.read() as session:
        rows = await session.scalars(select(BusinessCalendarRow).order_by(BusinessCalendarRow.id))
        return {"items": [actions.calendar_json(row) for row in rows], "next": None}


@router.route(
    "POST",
    "/routing/calendars",
    summary="Add a business calendar (weekly hours, holidays by region, closures)",
    role="admin",
    body=CalendarCreate,
    status=201,
)
async def add_calendar(request: Request, user, body: CalendarCreate):
    async with request.app.state.runtime.transaction() as tx:
        data = body.model_dump()
        data["weekly"] = {
            day: [list(span) for span in spans] for day, spans in data["weekly"].items()
        }
        return actions.calendar_json(await actions.create_calendar(tx, **data))


@router.route("GET", "/routing/sla-policies", summary="SLA policies")
async def list_policies(request: Request, user):
    async with request.app.state.runtime.read() as session:
        rows = await session.scalars(select(SlaPolicyRow).order_by(SlaPolicyRow.id))
        return {"items": [actions.policy_json(row) for row in rows], "next": None}


@router.route(
    "POST",
    "/routing/sla-policies",
    summary="Add an SLA policy",
    role="admin",
    body=PolicyCreate,
    status=201,
)
async def add_policy(request: Request, user, body: PolicyCreate):
    async with request.app.state.runtime.transaction() as tx:
        return actions.policy_json(await actions.create_sla_policy(tx, **body.model_dump()))


@router.route(
    "PUT",
    "/routing/queues/{queue_id:int}",
    summary="A queue's assignment mode, SLA policy, skills and members",
    role="admin",
    body=QueueRoutingPut,
)
async def put_queue_routing(request: Request, user, body: QueueRoutingPut):
    async with request.app.state.runtime.transaction() as tx:
        data = body.model_dump(exclude_unset=True)
        if data.get("members") is not None:
            data["members"] = [dict(member) for member in data["members"]]
        row = await actions.set_queue_routing(tx, request.path_params["queue_id"], **data)
        return _queue_json(row)


@router.route("GET", "/routing/queues/{queue_id:int}", summary="A queue's routing")
async def get_queue_routing(request: Request, user):
    async with request.app.state.runtime.read() as session:
        row = await session.get(QueueRouting, request.path_params["queue_id"])
        if row is None:
            raise not_found("queue routing", request.path_params["queue_id"])
        return _queue_json(row)


def _queue_json(row: QueueRouting) -> dict:
    return {
        "queue_id": row.queue_id,
        "mode": row.mode,
        "prefer_previous_agent": row.prefer_previous_agent,
        "sla_policy_id": row.sla_policy_id,
        "required_skills": row.required_skills,
    }


@router.route(
    "PUT",
    "/routing/agents/{user_id:int}",
    summary="An agent's capacity, chat capacity and skills (languages as lang:de)",
    role="admin",
    body=AgentProfilePut,
)
async def put_agent(request: Request, user, body: AgentProfilePut):
    async with request.app.state.runtime.transaction() as tx:
        row = await actions.set_agent_profile(
            tx, request.path_params["user_id"], **body.model_dump(exclude_unset=True)
        )
        return {
            "user_id": row.user_id,
            "capacity": row.capacity,
            "chat_capacity": row.chat_capacity,
            "skills": row.skills,
        }


@router.route(
    "PUT",
    "/routing/presence",
    summary="Go online (get new work), away or offline",
    body=PresencePut,
)
async def put_presence(request: Request, user, body: PresencePut):
    async with request.app.state.runtime.transaction() as tx:
        await set_presence(tx, user.id, body.presence)
    return {"user_id": user.id, "presence": body.presence}


@router.route(
    "GET",
    "/tickets/{ticket_id:int}/routing",
    summary="A ticket's SLA status and routing decisions (why it is where it is)",
)
async def ticket_routing(request: Request, user):
    runtime = request.app.state.runtime
    ticket_id = request.path_params["ticket_id"]
    async with runtime.read() as session:
        if await session.get(Ticket, ticket_id) is None:
            raise not_found("ticket", ticket_id)
        sla = await status.sla_status(session, ticket_id, runtime.clock.now())
        return {
            "sla": sla and {**sla, "clocks": [clock.to_json() for clock in sla["clocks"]]},
            "decisions": await status.decisions(session, ticket_id),
        }


class VerdictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["used", "not_relevant"]


@router.route(
    "GET",
    "/tickets/{ticket_id:int}/suggestions",
    summary="Knowledge base articles that answer the ticket's conversation, best first",
    query={"limit": "1-20"},
)
async def ticket_suggestions(request: Request, user):
    ticket_id = request.path_params["ticket_id"]
    try:
        hits, verdicts = await suggestions.for_ticket(
            request.app.state.runtime, ticket_id, limit=query_limit(request, 5, 20)
        )
    except LookupError:
        raise not_found("ticket", ticket_id) from None
    return {
        "suggestions": [{**hit.as_json(), "verdict": verdicts.get(hit.article_id)} for hit in hits]
    }


@router.route(
    "POST",
    "/tickets/{ticket_id:int}/suggestions/{article_id:int}",
    summary="An agent's verdict on a suggestion: used or not_relevant (feeds the ranking)",
    body=VerdictBody,
    status=201,
)
async def judge_suggestion(request: Request, user, body: VerdictBody):
    ticket_id = request.path_params["ticket_id"]
    try:
        await suggestions.judge(
            request.app.state.runtime,
            ticket_id,
            request.path_params["article_id"],
            body.verdict,
            user_id=user.id,
        )
    except LookupError:
        raise not_found("ticket", ticket_id) from None
    return {"verdict": body.verdict}
