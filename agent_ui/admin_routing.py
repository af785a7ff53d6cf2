"""The routing admin's hub and its rules: list, add, edit (conditions and actions), preview.

Queues live in `admin_queues`, SLA policies and business calendars in `admin_sla`. The form
parsing here (`rule_from_form`, `rule_to_form`, the labels) is shared with the trigger pages.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui import admin_forms
from agent_ui.admin_forms import error_text
from agent_ui.templating import templates
from routing import actions, status
from routing import queries as routing_queries
from routing.models import RoutingRule
from routing.rules import FIELDS, OPERATORS
from tickets import queries
from tickets.models import PRIORITIES
from tresen import auth
from tresen.accounts import active_users
from tresen.i18n import _
from tresen.ids import parse_whole_number
from tresen.runtime import ActionError

CONDITION_ROWS = 3  # empty rows offered below a rule's own conditions
MAX_CONDITIONS = 20  # rows a form is read for
LIST_OPERATORS = ("in", "contains")
NUMBER_OPERATORS = ("at_least", "at_most")
RULE_ACTION_FIELDS = ("queue_id", "sla_policy_id", "assignee_id")


def field_labels() -> dict[str, str]:
    """Each condition field's name in the reader's language."""
    return {
        "channel": _("Channel"),
        "account": _("Sent to (mailbox or number)"),
        "organization_id": _("Organization (id)"),
        "tier": _("Customer tier"),
        "language": _("Language"),
        "subject": _("Subject"),
        "text": _("Text"),
        "intent": _("Intent"),
        "intent_confidence": _("Intent confidence"),
        "business_hours": _("Within business hours"),
    }


def operator_labels() -> dict[str, str]:
    """Each operator's name in the reader's language."""
    return {
        "is": _("is"),
        "is_not": _("is not"),
        "in": _("is one of"),
        "contains": _("contains"),
        "matches": _("matches the pattern"),
        "at_least": _("is at least"),
        "at_most": _("is at most"),
    }


def mode_labels() -> dict[str, str]:
    """Each queue assignment mode's name in the reader's language."""
    return {
        "manual": _("by hand"),
        "round_robin": _("round robin"),
        "least_loaded": _("least loaded"),
        "skills": _("by skills"),
    }


def number(form, name: str, what: str) -> int | None:
    """A whole number typed into a form, None when empty; else an ActionError naming it."""
    raw = str(form.get(name) or "").strip()
    if not raw:
        return None
    value = parse_whole_number(raw)
    if value is None:
        raise ActionError(name, _("%(what)s: %(raw)r is not a whole number", what=what, raw=raw))
    return value


def words(raw) -> list[str]:
    """A comma-separated list as typed, without blanks."""
    return [item.strip() for item in str(raw or "").split(",") if item.strip()]


def _value(operator: str, raw: str):
    if operator in LIST_OPERATORS:
        return words(raw)
    if operator in NUMBER_OPERATORS:
        try:
            return float(raw)
        except ValueError:
            raise ActionError("conditions", f"{raw!r} is not a number") from None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw


def _shown(value) -> str:
    """A condition's stored value as it is typed into the form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def conditions_from_form(form) -> list[dict]:
    """The condition rows filled in (field chosen), in order."""
    conditions = []
    for index in range(MAX_CONDITIONS):
        field = str(form.get(f"field_{index}") or "")
        if not field:
            continue
        operator = str(form.get(f"operator_{index}") or "is")
        raw = str(form.get(f"value_{index}") or "").strip()
        conditions.append({"field": field, "operator": operator, "value": _value(operator, raw)})
    return conditions


def rule_from_form(form) -> dict:
    """A rule's name, conditions and actions from the rule form."""
    chosen: dict = {}
    for name in RULE_ACTION_FIELDS:
        value = number(form, name, name)
        if value is not None:
            chosen[name] = value
    if form.get("priority"):
        chosen["priority"] = str(form["priority"])
    tags = words(form.get("tags"))
    if tags:
        chosen["tags"] = tags
    if str(form.get("auto_reply") or "").strip():
        chosen["auto_reply"] = str(form["auto_reply"]).strip()
    if form.get("stop") == "on":
        chosen["stop"] = True
    return {
        "name": str(form.get("name") or ""),
        "conditions": conditions_from_form(form),
        "actions": chosen,
    }


def conditions_to_form(conditions) -> dict:
    """Stored conditions as the form's rows (`field_0`, `operator_0`, `value_0`, ...)."""
    form = {}
    for index, condition in enumerate(conditions or []):
        form[f"field_{index}"] = str(condition.get("field") or "")
        form[f"operator_{index}"] = str(condition.get("operator") or "")
        form[f"value_{index}"] = _shown(condition.get("value"))
    return form


def rule_to_form(row: RoutingRule) -> dict:
    """A stored rule as the values of its edit form."""
    acts = row.actions or {}
    form = {"name": row.name, **conditions_to_form(row.conditions)}
    for name in RULE_ACTION_FIELDS:
        form[name] = str(acts[name]) if acts.get(name) is not None else ""
    form["priority"] = acts.get("priority") or ""
    form["tags"] = ", ".join(acts.get("tags") or [])
    form["auto_reply"] = acts.get("auto_reply") or ""
    form["stop"] = "on" if acts.get("stop") else ""
    form["active"] = "on" if row.active else ""
    return form


def condition_rows(form: dict) -> range:
    """As many rows as the form's filled ones, plus empty ones to add more."""
    used = [i for i in range(MAX_CONDITIONS) if form.get(f"field_{i}")]
    return range(min(MAX_CONDITIONS, (max(used) + 1 if used else 0) + CONDITION_ROWS))


async def _choices(session) -> dict:
    """What the rule forms offer: queues, SLA policies, agents, fields and operators."""
    found = await routing_queries.routing_settings(session)
    queues = await queries.list_queues(session)
    users = await active_users(session)
    return {
        "found": found,
        "queues": queues,
        "queue_names": {queue.id: queue.name for queue in queues},
        "users": users,
        "user_names": {user.id: user.name for user in users},
        "policies": found.policies,
        "policy_names": {policy.id: policy.name for policy in found.policies},
        "fields": FIELDS,
        "operators": OPERATORS,
        "field_labels": field_labels(),
        "operator_labels": operator_labels(),
        "priorities": PRIORITIES,
    }


async def hub(request: Request) -> Response:
    """A small page leading to the routing admin's parts, with what each holds."""
    await auth.require_staff(request, role="admin")
    async with request.app.state.runtime.read() as session:
        found = await routing_queries.routing_settings(session)
        queues = await queries.list_queues(session)
    return templates.TemplateResponse(
        request,
        "admin_routing.html",
        {"found": found, "queues": queues, "section": "hub"},
    )


async def _rules_page(request: Request, *, error=None, preview=None, form=None, status_code=200):
    async with request.app.state.runtime.read() as session:
        context = await _choices(session)
    form = form or {}
    context.update(
        rules=context["found"].rules,
        section="rules",
        error=error,
        preview=preview,
        form=form,
        condition_rows=condition_rows(form),
    )
    return admin_forms.render(request, "admin_rules.html", context, status_code)


async def rules(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _rules_page(request)


async def add_rule(request: Request) -> Response:
    async def save(tx, form) -> str:
        await actions.create_rule(tx, **rule_from_form(form))
        return "/admin/routing/rules?saved=rule"

    async def again(typed: dict, error: str) -> Response:
        return await _rules_page(request, error=error, form=typed, status_code=422)

    return await admin_forms.submit(request, save, again)


async def _rule_page(
    request: Request, row: RoutingRule, *, form=None, error=None, preview=None, status_code=200
):
    async with request.app.state.runtime.read() as session:
        context = await _choices(session)
    form = form if form is not None else rule_to_form(row)
    context.update(
        rule=row,
        section="rules",
        form=form,
        condition_rows=condition_rows(form),
        error=error,
        preview=preview,
    )
    return admin_forms.render(request, "admin_rule.html", context, status_code)


async def _rule(session, rule_id: int) -> RoutingRule:
    row = await session.get(RoutingRule, rule_id)
    if row is None:
        raise HTTPException(404, "rule not found")
    return row


async def edit_rule(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    async with request.app.state.runtime.read() as session:
        row = await _rule(session, request.path_params["rule_id"])
    return await _rule_page(request, row)


async def change_rule(request: Request) -> Response:
    """Save a rule's edit form, or switch it on or off, move it up or down, delete it."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    what = str(form.get("do") or "save")
    rule_id = request.path_params["rule_id"]
    if what == "save":
        try:
            values = rule_from_form(form)
            async with request.app.state.runtime.transaction() as tx:
                row = await _rule(tx.session, rule_id)
                await actions.update_rule(tx, row, {**values, "active": form.get("active") == "on"})
        except ActionError as error:
            async with request.app.state.runtime.read() as session:
                row = await _rule(session, rule_id)
            return await _rule_page(
                request, row, form=dict(form), error=error_text(error), status_code=422
            )
        return RedirectResponse(f"/admin/routing/rules/{rule_id}?saved=rule", status_code=303)
    async with request.app.state.runtime.transaction() as tx:
        rule = await _rule(tx.session, rule_id)
        if what == "delete":
            await actions.delete_rule(tx, rule)
        elif what in ("on", "off"):
            await actions.update_rule(tx, rule, {"active": what == "on"})
        elif what in ("up", "down"):
            await actions.move_rule(tx, rule, -1 if what == "up" else 1)
        else:
            raise HTTPException(400, f"{what!r} is not save, on, off, up, down or delete")
    return RedirectResponse("/admin/routing/rules?saved=rule", status_code=303)


def _message(form) -> dict:
    """The sample message a preview routes."""
    return {
        "channel": str(form.get("channel") or "email"),
        "account": str(form.get("account") or "").strip() or None,
        "subject": str(form.get("subject") or ""),
        "text": str(form.get("text") or ""),
        "tier": str(form.get("tier") or "standard"),
    }


async def preview(request: Request) -> Response:
    """Which rules would match a message like this one (nothing is changed)."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    runtime = request.app.state.runtime
    values = _message(form)
    async with runtime.read() as session:
        result = await status.preview(session, runtime.settings, now=runtime.clock.now(), **values)
    return await _rules_page(request, preview=result, form=values)


async def preview_rule(request: Request) -> Response:
    """Would the rule as edited (saved or not) match this message, and what would it do."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        row = await _rule(session, request.path_params["rule_id"])
    try:
        result = await rule_preview(runtime, rule_from_form(form), _message(form))
    except ActionError as error:
        return await _rule_page(
            request, row, form=dict(form), error=error_text(error), status_code=422
        )
    return await _rule_page(request, row, form=dict(form), preview=result)


async def rule_preview(runtime, values: dict, message: dict) -> dict:
    """Whether one rule (as a form gave it) matches a sample message; its facts are the engine's."""
    from routing.config import RoutingConfigError, build_rule, load
    from routing.facts import facts_for

    if not values["name"].strip():
        raise RoutingConfigError("name", "a rule needs a name")
    rule = build_rule(values["name"].strip(), values["conditions"], values["actions"])
    async with runtime.read() as session:
        config = await load(session)
    facts = facts_for(
        runtime.settings,
        channel=message["channel"],
        account=message["account"],
        subject=message["subject"],
        text=message["text"],
        customer={"organization_id": None, "tier": message["tier"]},
        calendar=config.default_calendar,
        now=runtime.clock.now(),
    )
    results = [
        {"condition": condition, "holds": _holds(condition, facts)} for condition in rule.conditions
    ]
    return {
        "matches": rule.matches(facts),
        "conditions": results,
        "language": facts.language,
        "intent": facts.intent,
        "actions": rule.actions,
    }


def _holds(condition, facts) -> bool:
    try:
        return condition.holds(facts)
    except (TypeError, ValueError):
        return False


routes = [
    Route("/admin/routing", hub, name="admin_routing"),
    Route("/admin/routing/rules", rules, methods=["GET"]),
    Route("/admin/routing/rules", add_rule, methods=["POST"]),
    Route("/admin/routing/rules/{rule_id:int}", edit_rule, methods=["GET"]),
    Route("/admin/routing/rules/{rule_id:int}", change_rule, methods=["POST"]),
    Route("/admin/routing/rules/{rule_id:int}/preview", preview_rule, methods=["POST"]),
    Route("/admin/routing/preview", preview, methods=["POST"]),
]
