"""The admin part of the console for routing: rules (with a preview), queues' modes and
members, agents' capacity and skills, SLA policies and business calendars."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from routing import actions, status
from routing import queries as routing_queries
from routing.assignment import MODES
from routing.models import RoutingRule
from routing.rules import FIELDS, OPERATORS
from tickets import queries
from tickets.models import PRIORITIES
from tresen import auth
from tresen.accounts import active_users
from tresen.forms import optional_int
from tresen.ids import parse_whole_number
from tresen.runtime import ActionError

CONDITION_ROWS = 3
LIST_OPERATORS = ("in", "contains")
NUMBER_OPERATORS = ("at_least", "at_most")


async def _page(request: Request, *, error=None, preview=None, form=None, status_code=200):
    async with request.app.state.runtime.read() as session:
        found = await routing_queries.routing_settings(session)
        queues = await queries.list_queues(session)
        users = await active_users(session)
    return templates.TemplateResponse(
        request,
        "admin_routing.html",
        {
            "rules": found.rules,
            "queues": queues,
            "queue_names": {queue.id: queue.name for queue in queues},
            "routing": found.routing,
            "members": found.members,
            "users": users,
            "user_names": {user.id: user.name for user in users},
            "profiles": found.profiles,
            "policies": found.policies,
            "policy_names": {policy.id: policy.name for policy in found.policies},
            "calendars": found.calendars,
            "fields": FIELDS,
            "operators": OPERATORS,
            "modes": MODES,
            "priorities": PRIORITIES,
            "condition_rows": range(CONDITION_ROWS),
            "error": error,
            "preview": preview,
            "form": form or {},
            "saved": request.query_params.get("saved"),
        },
        status_code=status_code,
    )


def _value(operator: str, raw: str):
    if operator in LIST_OPERATORS:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if operator in NUMBER_OPERATORS:
        try:
            return float(raw)
        except ValueError:
            raise ActionError("conditions", f"{raw!r} is not a number") from None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw


def rule_from_form(form) -> dict:
    conditions = []
    for index in range(CONDITION_ROWS):
        field = str(form.get(f"field_{index}") or "")
        if not field:
            continue
        operator = str(form.get(f"operator_{index}") or "is")
        conditions.append(
            {
                "field": field,
                "operator": operator,
                "value": _value(operator, str(form.get(f"value_{index}") or "").strip()),
            }
        )
    chosen: dict = {}
    for name in ("queue_id", "sla_policy_id", "assignee_id"):
        value = optional_int(form.get(name), name)
        if value is not None:
            chosen[name] = value
    if form.get("priority"):
        chosen["priority"] = str(form["priority"])
    tags = [tag.strip() for tag in str(form.get("tags") or "").split(",") if tag.strip()]
    if tags:
        chosen["tags"] = tags
    if str(form.get("auto_reply") or "").strip():
        chosen["auto_reply"] = str(form["auto_reply"]).strip()
    if form.get("stop") == "on":
        chosen["stop"] = True
    return {"name": str(form.get("name") or ""), "conditions": conditions, "actions": chosen}


async def routing_settings(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _page(request)


async def add_rule(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    try:
        values = rule_from_form(form)
        async with request.app.state.runtime.transaction() as tx:
            await actions.create_rule(tx, **values)
    except ActionError as error:
        return await _page(
            request, error=f"{error.field}: {error}", form=dict(form), status_code=422
        )
    return RedirectResponse("/admin/routing?saved=rule", status_code=303)


async def change_rule(request: Request) -> Response:
    """Switch a rule on or off, move it up or down, or delete it."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    what = str(form.get("do") or "")
    async with request.app.state.runtime.transaction() as tx:
        rule = await tx.session.get(RoutingRule, request.path_params["rule_id"])
        if rule is None:
            raise HTTPException(404, "rule not found")
        if what == "delete":
            await actions.delete_rule(tx, rule)
        elif what in ("on", "off"):
            await actions.update_rule(tx, rule, {"active": what == "on"})
        elif what in ("up", "down"):
            await actions.move_rule(tx, rule, -1 if what == "up" else 1)
        else:
            raise HTTPException(400, f"{what!r} is not on, off, up, down or delete")
    return RedirectResponse("/admin/routing?saved=rule", status_code=303)


async def preview(request: Request) -> Response:
    """Which rules would match a message like this one (nothing is changed)."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    runtime = request.app.state.runtime
    values = {
        "channel": str(form.get("channel") or "email"),
        "account": str(form.get("account") or "").strip() or None,
        "subject": str(form.get("subject") or ""),
        "text": str(form.get("text") or ""),
        "tier": str(form.get("tier") or "standard"),
    }
    async with runtime.read() as session:
        result = await status.preview(session, runtime.settings, now=runtime.clock.now(), **values)
    return await _page(request, preview=result, form=values)


async def change_queue(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    queue_id = request.path_params["queue_id"]
    roles = {optional_int(raw, "agent"): "agent" for raw in form.getlist("agents")}
    # Both boxes ticked: a supervisor is told of escalations and gets no new work.
    roles.update(
        {optional_int(raw, "supervisor"): "supervisor" for raw in form.getlist("supervisors")}
    )
    members = [{"user_id": user_id, "role": role} for user_id, role in roles.items()]
    try:
        async with request.app.state.runtime.transaction() as tx:
            await actions.set_queue_routing(
                tx,
                queue_id,
                mode=str(form.get("mode") or "manual"),
                prefer_previous_agent=form.get("prefer_previous_agent") == "on",
                sla_policy_id=optional_int(form.get("sla_policy_id"), "SLA policy"),
                required_skills=[
                    skill.strip()
                    for skill in str(form.get("required_skills") or "").split(",")
                    if skill.strip()
                ],
                members=members,
            )
    except ActionError as error:
        return await _page(request, error=f"{error.field}: {error}", status_code=422)
    return RedirectResponse("/admin/routing?saved=queue", status_code=303)


async def change_agent(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            await actions.set_agent_profile(
                tx,
                request.path_params["user_id"],
                capacity=optional_int(form.get("capacity"), "capacity"),
                skills=[s.strip() for s in str(form.get("skills") or "").split(",") if s.strip()],
            )
    except ActionError as error:
        return await _page(request, error=f"{error.field}: {error}", status_code=422)
    return RedirectResponse("/admin/routing?saved=agent", status_code=303)


async def add_policy(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    targets: dict = {}
    for priority in PRIORITIES:
        for target in ("first_response", "next_response", "resolution"):
            minutes = optional_int(form.get(f"{priority}_{target}"), f"{priority} {target}")
            if minutes is not None:
                targets.setdefault(priority, {})[target] = minutes
    escalation = {
        level: [{"action": step} for step in form.getlist(f"{level}_actions")]
        for level in ("warning", "breach")
    }
    try:
        async with request.app.state.runtime.transaction() as tx:
            await actions.create_sla_policy(
                tx,
                name=str(form.get("name") or "").strip(),
                targets=targets,
                calendar_id=optional_int(form.get("calendar_id"), "calendar"),
                warn_before_minutes=optional_int(form.get("warn_before_minutes"), "warning"),
                escalation=escalation,
            )
    except ActionError as error:
        return await _page(request, error=f"{error.field}: {error}", status_code=422)
    return RedirectResponse("/admin/routing?saved=policy", status_code=303)


def _weekdays(form) -> list[int]:
    """The ticked weekdays (0 = Monday); a value the form cannot have sent is named."""
    days = []
    for raw in form.getlist("days"):
        day = parse_whole_number(str(raw))
        if day is None or day not in range(7):
            raise ActionError("days", f"weekday {str(raw)[:40]!r} is not 0 (Monday) to 6 (Sunday)")
        days.append(day)
    return days


async def add_calendar(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    opens, closes = str(form.get("opens") or "09:00"), str(form.get("closes") or "17:00")
    try:
        weekly = {str(day): [[opens, closes]] for day in _weekdays(form)}
        async with request.app.state.runtime.transaction() as tx:
            await actions.create_calendar(
                tx,
                name=str(form.get("name") or "").strip(),
                timezone=str(form.get("timezone") or "Europe/Berlin"),
                weekly=weekly,
                country=str(form.get("country") or "").strip() or None,
                subdivision=str(form.get("subdivision") or "").strip() or None,
                is_default=form.get("is_default") == "on",
            )
    except ActionError as error:
        return await _page(request, error=f"{error.field}: {error}", status_code=422)
    return RedirectResponse("/admin/routing?saved=calendar", status_code=303)


routes = [
    Route("/admin/routing", routing_settings, name="admin_routing"),
    Route("/admin/routing/rules", add_rule, methods=["POST"]),
    Route("/admin/routing/rules/{rule_id:int}", change_rule, methods=["POST"]),
    Route("/admin/routing/preview", preview, methods=["POST"]),
    Route("/admin/routing/queues/{queue_id:int}", change_queue, methods=["POST"]),
    Route("/admin/routing/agents/{user_id:int}", change_agent, methods=["POST"]),
    Route("/admin/routing/policies", add_policy, methods=["POST"]),
    Route("/admin/routing/calendars", add_calendar, methods=["POST"]),
]
