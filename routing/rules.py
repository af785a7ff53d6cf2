"""Routing rules: an ordered list of conditions and actions, evaluated as a pure function.

Facts about a message (channel, receiving account, customer organization and tier,
language, subject and text, predicted intent and its confidence, business hours)
go in; the decision (queue, priority, tags, SLA policy, assignee, auto-reply
template) comes out, with the names of the rules that made it. Rules apply in
order; a later rule overrides an earlier one's choice, tags add up, and a rule
marked `stop` ends the evaluation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

FIELDS = (
    "channel",
    "account",
    "organization_id",
    "tier",
    "language",
    "subject",
    "text",
    "intent",
    "intent_confidence",
    "business_hours",
)
NUMBER_FIELDS = ("intent_confidence",)
OPERATORS = ("is", "is_not", "in", "contains", "matches", "at_least", "at_most")
ACTIONS = ("queue_id", "priority", "tags", "sla_policy_id", "assignee_id", "auto_reply", "stop")


class RuleError(ValueError):
    """A rule that cannot be used; the message names the field and value."""


@dataclass(frozen=True)
class Facts:
    channel: str
    account: str | None = None
    organization_id: int | None = None
    tier: str = "standard"
    language: str | None = None
    subject: str = ""
    text: str = ""
    intent: str | None = None
    intent_confidence: float = 0.0
    business_hours: bool = True


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: object

    def __post_init__(self) -> None:
        if self.field not in FIELDS:
            raise RuleError(f"condition field {self.field!r} is not one of {', '.join(FIELDS)}")
        if self.operator not in OPERATORS:
            raise RuleError(f"operator {self.operator!r} is not one of {', '.join(OPERATORS)}")
        if self.operator == "matches":
            try:
                re.compile(str(self.value))
            except re.error as error:
                raise RuleError(
                    f"pattern {self.value!r} is not a valid expression: {error}"
                ) from None
        if self.operator == "in" and not isinstance(self.value, list | tuple | set | frozenset):
            raise RuleError(f"'in' needs a list of values, not {self.value!r}")
        if self.operator in ("at_least", "at_most"):
            if self.field not in NUMBER_FIELDS:
                numbers = ", ".join(NUMBER_FIELDS)
                raise RuleError(f"{self.operator} compares numbers: {numbers}, not {self.field}")
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                raise RuleError(f"{self.operator} needs a number, not {self.value!r}")

    @cached_property
    def _pattern(self) -> re.Pattern:
        return re.compile(str(self.value), re.IGNORECASE)

    def holds(self, facts: Facts) -> bool:
        actual = getattr(facts, self.field)
        if self.operator == "is":
            return _same(actual, self.value)
        if self.operator == "is_not":
            return not _same(actual, self.value)
        if self.operator == "in":
            return any(_same(actual, item) for item in self.value)
        if actual is None:
            return False
        if self.operator == "contains":
            words = self.value if isinstance(self.value, list | tuple) else [self.value]
            text = str(actual).casefold()
            return any(str(word).casefold() in text for word in words)
        if self.operator == "matches":
            return self._pattern.search(str(actual)) is not None
        if self.operator == "at_least":
            return float(actual) >= float(self.value)
        return float(actual) <= float(self.value)  # at_most


def _same(actual, expected) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.casefold() == expected.casefold()
    return actual == expected


@dataclass(frozen=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...] = ()  # all must hold (none: always)
    actions: dict = field(default_factory=dict)
    active: bool = True

    def __post_init__(self) -> None:
        for action in self.actions:
            if action not in ACTIONS:
                raise RuleError(f"action {action!r} is not one of {', '.join(ACTIONS)}")

    def matches(self, facts: Facts) -> bool:
        try:
            return self.active and all(condition.holds(facts) for condition in self.conditions)
        except (TypeError, ValueError):
            return False  # a rule that cannot judge these facts does not match them


@dataclass(frozen=True)
class Decision:
    queue_id: int | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    sla_policy_id: int | None = None
    assignee_id: int | None = None
    auto_reply: str | None = None
    matched: tuple[str, ...] = ()  # the rules that applied, in order: the reason shown to agents


def evaluate(rules: list[Rule], facts: Facts) -> Decision:
    """Apply the rules in order to the facts of one message."""
    chosen: dict = {}
    tags: list[str] = []
    matched: list[str] = []
    for rule in rules:
        if not rule.matches(facts):
            continue
        matched.append(rule.name)
        for action, value in rule.actions.items():
            if action == "tags":
                tags.extend(tag for tag in value if tag not in tags)
            elif action != "stop":
                chosen[action] = value
        if rule.actions.get("stop"):
            break
    return Decision(**chosen, tags=tuple(tags), matched=tuple(matched))
