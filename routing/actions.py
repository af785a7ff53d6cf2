"""Routing's configuration actions: rules, calendars, SLA policies, queue modes, agents.

Each checks what it is given (RoutingConfigError names the field and value),
writes in the caller's transaction and marks the configuration changed, so
every process routes with the new one.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update

from routing.assignment import MODES
from routing.config import (
    RoutingConfigError,
    build_calendar,
    build_policy,
    build_rule,
    changed,
)
from routing.models import (
    AgentProfile,
    BusinessCalendarRow,
    QueueMember,
    QueueRouting,
    RoutingRule,
    SlaPolicyRow,
)
from routing.queries import rules_in_order
from routing.rules import Rule
from tickets.models import PRIORITIES, STATES, Queue
from tresen.models import User
from tresen.runtime import Transaction

ESCALATION_ACTIONS = ("notify", "raise_priority", "reassign")
# An argument left out (as opposed to None, which clears the value).
UNCHANGED: object = object()


async def _exists(tx: Transaction, model, ident, field: str, what: str) -> None:
    if ident is None:
        return
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise RoutingConfigError(field, f"{what} id {ident!r} is not a whole number")
    found = await tx.session.scalar(
        select(func.count())
        .select_from(model)
        .where(model.__table__.primary_key.columns.values()[0] == ident)
    )
    if not found:
        raise RoutingConfigError(field, f"{what} {ident} does not exist")


async def check_rule(tx: Transaction, name: str, conditions, actions) -> Rule:
    """The rule, once its conditions parse and the records its actions name exist."""
    if not (name or "").strip():
        raise RoutingConfigError("name", "a rule needs a name")
    rule = build_rule(name.strip(), conditions, actions)
    acts = rule.actions
    await _exists(tx, Queue, acts.get("queue_id"), "actions.queue_id", "queue")
    await _exists(tx, SlaPolicyRow, acts.get("sla_policy_id"), "actions.sla_policy_id", "policy")
    await _exists(tx, User, acts.get("assignee_id"), "actions.assignee_id", "user")
    if "priority" in acts and acts["priority"] not in PRIORITIES:
        raise RoutingConfigError(
            "actions.priority",
            f"priority {acts['priority']!r} is not one of {', '.join(PRIORITIES)}",
        )
    tags = acts.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise RoutingConfigError("actions.tags", "tags must be a list of words")
    if "stop" in acts and not isinstance(acts["stop"], bool):
        raise RoutingConfigError("actions.stop", "stop is true or false")
    if "auto_reply" in acts and not (isinstance(acts["auto_reply"], str) and acts["auto_reply"]):
        raise RoutingConfigError("actions.auto_reply", "auto_reply must be the reply's text")
    return rule


async def create_rule(
    tx: Transaction,
    *,
    name: str,
    conditions: list,
    actions: dict,
    active: bool = True,
    position: int | None = None,
) -> RoutingRule:
    await check_rule(tx, name, conditions, actions)
    if position is None:
        position = (await tx.session.scalar(select(func.max(RoutingRule.position))) or 0) + 1
    now = tx.now()
    row = RoutingRule(
        name=name.strip(),
        conditions=conditions,
        actions=actions,
        active=active,
        position=position,
        created_at=now,
        updated_at=now,
    )
    tx.session.add(row)
    await tx.session.flush()
    changed(tx)
    return row


async def update_rule(tx: Transaction, row: RoutingRule, changes: dict) -> RoutingRule:
    merged = {
        "name": changes.get("name", row.name),
        "conditions": changes.get("conditions", row.conditions),
        "actions": changes.get("actions", row.actions),
    }
    await check_rule(tx, **merged)
    for field, value in changes.items():
        setattr(row, field, value.strip() if field == "name" else value)
    row.updated_at = tx.now()
    await tx.session.flush()
    changed(tx)
    return row


async def move_rule(tx: Transaction, row: RoutingRule, step: int) -> None:
    """Move a rule one place earlier (step -1) or later (+1); the rules are renumbered."""
    ordered = await rules_in_order(tx.session)
    index = ordered.index(row)
    other = index + step
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
        for position, rule in enumerate(ordered, start=1):
            if rule.position != position:
                await update_rule(tx, rule, {"position": position})


async def delete_rule(tx: Transaction, row: RoutingRule) -> None:
    await tx.session.delete(row)
    changed(tx)


def rule_json(row: RoutingRule) -> dict:
    return {
        "id": row.id,
        "position": row.position,
        "name": row.name,
        "active": row.active,
        "conditions": row.conditions,
        "actions": row.actions,
        "updated_at": row.updated_at.isoformat(),
    }


MAX_NAME = 100  # calendars and SLA policies


def _name(name, what: str) -> str:
    """A record's name without surrounding spaces; empty is refused (it would show as nothing)."""
    if not isinstance(name, str) or not name.strip():
        raise RoutingConfigError("name", f"{what} needs a name, not {name!r}")
    if len(name.strip()) > MAX_NAME:  # the column's width (PostgreSQL refused it: a 500)
        raise RoutingConfigError("name", f"{what}'s name is longer than {MAX_NAME} characters")
    return name.strip()


async def create_calendar(
    tx: Transaction,
    *,
    name: str,
    timezone: str = "Europe/Berlin",
    weekly: dict,
    country: str | None = "DE",
    subdivision: str | None = None,
    closures: list | None = None,
    is_default: bool = False,
) -> BusinessCalendarRow:
    name = _name(name, "a calendar")
    build_calendar(timezone, weekly, country, subdivision, closures or [])
    if await tx.session.scalar(
        select(BusinessCalendarRow.id).where(BusinessCalendarRow.name == name)
    ):
        raise RoutingConfigError("name", f"calendar {name!r} exists already", conflict=True)
    if is_default:
        await tx.session.execute(update(BusinessCalendarRow).values(is_default=False))
    row = BusinessCalendarRow(
        name=name,
        timezone=timezone,
        weekly=weekly,
        country=country,
        subdivision=subdivision,
        closures=closures or [],
        is_default=is_default,
    )
    tx.session.add(row)
    await tx.session.flush()
    changed(tx)
    return row


def calendar_json(row: BusinessCalendarRow) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "timezone": row.timezone,
        "weekly": row.weekly,
        "country": row.country,
        "subdivision": row.subdivision,
        "closures": row.closures,
        "is_default": row.is_default,
    }


async def _check_escalation_targets(tx: Transaction, escalation: dict) -> None:
    for level, steps in escalation.items():
        for step in steps:
            if step.get("action") == "reassign":
                if not step.get("queue_id") and "user_id" not in step:
                    raise RoutingConfigError(
                        f"escalation.{level}", "reassign needs a queue_id, a user_id or both"
                    )
                await _exists(tx, Queue, step.get("queue_id"), f"escalation.{level}", "queue")
                await _exists(tx, User, step.get("user_id"), f"escalation.{level}", "user")


def _check_escalation(escalation: dict) -> None:
    if not isinstance(escalation, dict) or set(escalation) - {"warning", "breach"}:
        raise RoutingConfigError("escalation", "escalation has the levels warning and breach")
    for level, steps in escalation.items():
        if not isinstance(steps, list):
            raise RoutingConfigError(f"escalation.{level}", "a level is a list of actions")
        for step in steps:
            if not isinstance(step, dict) or step.get("action") not in ESCALATION_ACTIONS:
                raise RoutingConfigError(
                    f"escalation.{level}",
                    f"{step!r} is not one of the actions {', '.join(ESCALATION_ACTIONS)}",
                )


async def create_sla_policy(
    tx: Transaction,
    *,
    name: str,
    targets: dict,
    calendar_id: int | None = None,
    pause_states: list | None = None,
    warn_before_minutes: int | None = 15,
    warn_share: float | None = None,
    escalation: dict | None = None,
) -> SlaPolicyRow:
    name = _name(name, "an SLA policy")
    pause_states = ["pending", "on_hold"] if pause_states is None else pause_states
    for state in pause_states:
        if state not in STATES or state in ("new", "open", "bot"):
            raise RoutingConfigError("pause_states", f"{state!r} is not a state a clock pauses in")
    escalation = (
        escalation
        if escalation is not None
        else {"warning": [{"action": "notify"}], "breach": [{"action": "notify"}]}
    )
    _check_escalation(escalation)
    await _check_escalation_targets(tx, escalation)
    calendar = None
    if calendar_id is not None:
        calendar_row = await tx.session.get(BusinessCalendarRow, calendar_id)
        if calendar_row is None:
            raise RoutingConfigError("calendar_id", f"calendar {calendar_id} does not exist")
        from routing.config import calendar_from_row

        calendar = calendar_from_row(calendar_row)
    if await tx.session.scalar(select(SlaPolicyRow.id).where(SlaPolicyRow.name == name)):
        raise RoutingConfigError("name", f"SLA policy {name!r} exists already", conflict=True)
    row = SlaPolicyRow(
        name=name,
        targets=targets,
        calendar_id=calendar_id,
        pause_states=pause_states,
        warn_before_minutes=warn_before_minutes,
        warn_share=warn_share,
        escalation=escalation,
    )
    build_policy(row, calendar)
    tx.session.add(row)
    await tx.session.flush()
    changed(tx)
    return row


def policy_json(row: SlaPolicyRow) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "calendar_id": row.calendar_id,
        "targets": row.targets,
        "pause_states": row.pause_states,
        "warn_before_minutes": row.warn_before_minutes,
        "warn_share": row.warn_share,
        "escalation": row.escalation,
    }


async def set_queue_routing(
    tx: Transaction,
    queue_id: int,
    *,
    mode: str | None = None,
    prefer_previous_agent: bool | None = None,
    sla_policy_id: int | None | object = UNCHANGED,
    required_skills: list | None = None,
    members: list[dict] | None = None,
) -> QueueRouting:
    """A queue's mode, default SLA policy (None: none; left out: unchanged), skills and
    members ({user_id, role})."""
    await _exists(tx, Queue, queue_id, "queue_id", "queue")
    row = await tx.session.get(QueueRouting, queue_id)
    if row is None:
        row = QueueRouting(queue_id=queue_id, mode="manual", required_skills=[])
        tx.session.add(row)
    if mode is not None:
        if mode not in MODES:
            raise RoutingConfigError("mode", f"mode {mode!r} is not one of {', '.join(MODES)}")
        row.mode = mode
    if prefer_previous_agent is not None:
        row.prefer_previous_agent = prefer_previous_agent
    if sla_policy_id is not UNCHANGED:
        await _exists(tx, SlaPolicyRow, sla_policy_id, "sla_policy_id", "SLA policy")
        row.sla_policy_id = sla_policy_id
    if required_skills is not None:
        row.required_skills = sorted({str(skill).strip() for skill in required_skills})
    if members is not None:
        if len({member.get("user_id") for member in members}) != len(members):
            raise RoutingConfigError(
                "members", "each person is a member once (agent or supervisor)"
            )
        for member in members:
            await _exists(tx, User, member.get("user_id"), "members.user_id", "user")
            if member.get("role", "agent") not in ("agent", "supervisor"):
                raise RoutingConfigError("members.role", "a member is an agent or a supervisor")
        await tx.session.execute(delete(QueueMember).where(QueueMember.queue_id == queue_id))
        if members:
            await tx.session.execute(
                insert(QueueMember),
                [
                    {"queue_id": queue_id, "user_id": m["user_id"], "role": m.get("role", "agent")}
                    for m in members
                ],
            )
    await tx.session.flush()
    changed(tx)
    return row


async def set_agent_profile(
    tx: Transaction,
    user_id: int,
    *,
    capacity: int | None = None,
    skills: list | None = None,
    chat_capacity: int | None | object = UNCHANGED,
) -> AgentProfile:
    """An agent's ticket capacity, skills and chat capacity (chats at once; None: the
    desk's default `chat_default_capacity`, 0: no chats; left out: unchanged)."""
    await _exists(tx, User, user_id, "user_id", "user")
    if capacity is not None and capacity < 0:
        raise RoutingConfigError("capacity", f"capacity {capacity} must not be negative")
    if chat_capacity is not UNCHANGED and chat_capacity is not None and chat_capacity < 0:
        raise RoutingConfigError(
            "chat_capacity", f"chat capacity {chat_capacity} must not be negative"
        )
    row = await tx.session.get(AgentProfile, user_id)
    if row is None:
        row = AgentProfile(user_id=user_id, presence="offline", skills=[])
        tx.session.add(row)
    row.capacity = capacity
    if chat_capacity is not UNCHANGED:
        row.chat_capacity = chat_capacity
    if skills is not None:
        row.skills = sorted({str(skill).strip() for skill in skills if str(skill).strip()})
    await tx.session.flush()
    return row


async def update_sla_policy(
    tx: Transaction,
    row: SlaPolicyRow,
    *,
    name: str,
    targets: dict,
    calendar_id: int | None,
    warn_before_minutes: int | None,
    escalation: dict,
    pause_states: list | None = None,
) -> SlaPolicyRow:
    """Change every field of a policy; the same checks as `create_sla_policy`."""
    name = _name(name, "an SLA policy")
    pause_states = row.pause_states if pause_states is None else pause_states
    for state in pause_states:
        if state not in STATES or state in ("new", "open", "bot"):
            raise RoutingConfigError("pause_states", f"{state!r} is not a state a clock pauses in")
    _check_escalation(escalation)
    await _check_escalation_targets(tx, escalation)
    calendar = None
    if calendar_id is not None:
        calendar_row = await tx.session.get(BusinessCalendarRow, calendar_id)
        if calendar_row is None:
            raise RoutingConfigError("calendar_id", f"calendar {calendar_id} does not exist")
        from routing.config import calendar_from_row

        calendar = calendar_from_row(calendar_row)
    clash = select(SlaPolicyRow.id).where(SlaPolicyRow.name == name, SlaPolicyRow.id != row.id)
    if await tx.session.scalar(clash):
        raise RoutingConfigError("name", f"SLA policy {name!r} exists already", conflict=True)
    # Checked on a detached copy first, so a refused change leaves the row as it was.
    build_policy(
        SlaPolicyRow(
            name=name,
            targets=targets,
            pause_states=pause_states,
            warn_before_minutes=warn_before_minutes,
            warn_share=row.warn_share,
        ),
        calendar,
    )
    row.name, row.targets, row.calendar_id = name, targets, calendar_id
    row.pause_states, row.warn_before_minutes, row.escalation = (
        pause_states,
        warn_before_minutes,
        escalation,
    )
    await tx.session.flush()
    changed(tx)
    return row


async def update_calendar(
    tx: Transaction,
    row: BusinessCalendarRow,
    *,
    name: str,
    timezone: str,
    weekly: dict,
    country: str | None,
    subdivision: str | None,
    closures: list,
    is_default: bool,
) -> BusinessCalendarRow:
    """Change every field of a business calendar; the same checks as `create_calendar`."""
    name = _name(name, "a calendar")
    build_calendar(timezone, weekly, country, subdivision, closures)
    clash = select(BusinessCalendarRow.id).where(
        BusinessCalendarRow.name == name, BusinessCalendarRow.id != row.id
    )
    if await tx.session.scalar(clash):
        raise RoutingConfigError("name", f"calendar {name!r} exists already", conflict=True)
    if is_default and not row.is_default:
        await tx.session.execute(update(BusinessCalendarRow).values(is_default=False))
    row.name, row.timezone, row.weekly = name, timezone, weekly
    row.country, row.subdivision, row.closures = country, subdivision, closures
    row.is_default = is_default
    await tx.session.flush()
    changed(tx)
    return row
