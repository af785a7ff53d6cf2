"""Routing's stored configuration as the pure functions' objects, cached per process.

Rules, calendars, SLA policies and queue modes change rarely and are read for
every inbound message, so each process keeps them and reloads them after a change:
made here (`changed`), announced by another process (`run` listens on the event
bus), or at the latest after a few seconds.
"""

from __future__ import annotations

import time as monotonic
import weakref
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.calendars import BusinessCalendar, CalendarError, _minutes
from routing.models import BusinessCalendarRow, QueueRouting, RoutingRule, SlaPolicyRow
from routing.rules import Condition, Rule, RuleError
from routing.sla import SlaError, SlaPolicy
from tresen.ids import parse_whole_number
from tresen.runtime import ActionError, Transaction

RELOAD_AFTER = 5.0  # seconds: how stale another process's change may be seen here


class RoutingConfigError(ActionError):
    """Routing configuration that cannot be used; names the field and the value."""


def rule_from_row(row: RoutingRule) -> Rule:
    return build_rule(row.name, row.conditions, row.actions, row.active)


def build_rule(name: str, conditions, actions, active: bool = True) -> Rule:
    """A rule from its stored (JSON) form; RoutingConfigError names what is wrong."""
    if not isinstance(conditions, list):
        raise RoutingConfigError("conditions", "conditions must be a list")
    if not isinstance(actions, dict):
        raise RoutingConfigError("actions", "actions must be an object")
    try:
        built = []
        for index, item in enumerate(conditions):
            if not isinstance(item, dict) or set(item) - {"field", "operator", "value"}:
                raise RuleError(
                    f"condition {index + 1} must have field, operator and value, not {item!r}"
                )
            built.append(Condition(item.get("field"), item.get("operator"), item.get("value")))
        return Rule(name, tuple(built), dict(actions), active)
    except RuleError as error:
        raise RoutingConfigError("rule", str(error)) from None


def calendar_from_row(row: BusinessCalendarRow) -> BusinessCalendar:
    return build_calendar(row.timezone, row.weekly, row.country, row.subdivision, row.closures)


def build_calendar(timezone, weekly, country, subdivision, closures) -> BusinessCalendar:
    try:
        spans = {}
        for day, ranges in (weekly or {}).items():
            weekday = parse_whole_number(str(day))
            if weekday is None:
                raise CalendarError(f"weekday {str(day)[:40]!r} is not 0 (Monday) to 6 (Sunday)")
            spans[weekday] = tuple((_minutes(start), _minutes(end)) for start, end in ranges)
        return BusinessCalendar(
            timezone=timezone,
            weekly=spans,
            country=country or None,
            subdivision=subdivision or None,
            closures=frozenset(date.fromisoformat(day) for day in closures or ()),
        )
    except (CalendarError, ValueError, TypeError, OverflowError) as error:
        raise RoutingConfigError("calendar", str(error)) from None


def build_policy(row: SlaPolicyRow, calendar: BusinessCalendar | None) -> SlaPolicy:
    try:
        targets = {
            priority: {target: timedelta(minutes=float(m)) for target, m in values.items()}
            for priority, values in (row.targets or {}).items()
        }
        return SlaPolicy(
            name=row.name,
            targets=targets,
            calendar=calendar,
            pause_states=frozenset(row.pause_states or ()),
            warn_before=(
                timedelta(minutes=row.warn_before_minutes)
                if row.warn_before_minutes is not None
                else None
            ),
            warn_share=row.warn_share,
        )
    except (SlaError, ValueError, TypeError, AttributeError, OverflowError) as error:
        raise RoutingConfigError("sla_policy", str(error)) from None


@dataclass
class Config:
    rules: list[Rule] = field(default_factory=list)
    policies: dict[int, SlaPolicy] = field(default_factory=dict)
    escalations: dict[int, dict] = field(default_factory=dict)
    queues: dict[int, QueueRouting] = field(default_factory=dict)
    default_calendar: BusinessCalendar | None = None
    loaded_at: float = 0.0
    runtime: weakref.ref | None = None


_cache: dict[int, Config] = {}


def changed(tx: Transaction) -> None:
    """Routing configuration changed in this transaction: reload it here, tell the others."""
    _cache.pop(id(tx.runtime), None)
    tx.emit("routing.changed")


async def current(tx: Transaction) -> Config:
    config = _cache.get(id(tx.runtime))
    if (
        config is not None
        and config.runtime() is tx.runtime
        and monotonic.monotonic() - config.loaded_at < RELOAD_AFTER
    ):
        return config
    config = await load(tx.session)
    config.runtime = weakref.ref(tx.runtime)
    _cache[id(tx.runtime)] = config
    return config


async def load(session: AsyncSession) -> Config:
    """The stored configuration as read now (uncached: `current` is the cached copy)."""
    rule_rows = await session.scalars(
        select(RoutingRule).where(RoutingRule.active).order_by(RoutingRule.position, RoutingRule.id)
    )
    calendars = {row.id: row for row in await session.scalars(select(BusinessCalendarRow))}
    built_calendars = {}
    for row in calendars.values():
        try:
            built_calendars[row.id] = calendar_from_row(row)
        except RoutingConfigError:
            built_calendars[row.id] = None
    policies, escalations = {}, {}
    for row in await session.scalars(select(SlaPolicyRow)):
        try:
            policies[row.id] = build_policy(row, built_calendars.get(row.calendar_id))
            escalations[row.id] = row.escalation or {}
        except RoutingConfigError:
            continue
    rules = []
    for row in rule_rows:
        try:
            rules.append(rule_from_row(row))
        except RoutingConfigError:
            continue  # stored before a check existed: skipped, not fatal to the inbox
    queues = {row.queue_id: row for row in await session.scalars(select(QueueRouting))}
    for row in queues.values():
        session.expunge(row)
    default = next((row for row in calendars.values() if row.is_default), None)
    return Config(
        rules=rules,
        policies=policies,
        escalations=escalations,
        queues=queues,
        default_calendar=built_calendars.get(default.id) if default else None,
        loaded_at=monotonic.monotonic(),
    )


async def run(runtime) -> None:
    """Forget this process's copy when any process changes routing (a background worker)."""
    async with runtime.bus.subscribe() as queue:
        while True:
            event = await queue.get()
            if event.type in ("routing.changed", "bus.overflow"):
                _cache.pop(id(runtime), None)
