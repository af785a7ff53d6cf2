"""Routing rules: an ordered list of conditions and actions, evaluated as a pure function.

Facts about a message (channel, receiving account, customer organization and tier,
language, subject and text, predicted intent and its confidence, business hours)
go in; the decision (queue, priority, tags, SLA policy, assignee, auto-reply
template) comes out, with the names of the rules that made it. Rules apply in
order; a later rule overrides an earlier one's choice, tags add up, and a rule
marked `stop` ends the evaluation.

A `matches` pattern runs on RE2, which takes time linear in the text whatever the
pattern (Python's `re` backtracks: `^(\\w+\\s?)*$` on 27 characters froze the server for
seconds). RE2 has no backreferences or lookarounds: such patterns are refused when the
rule is made, as are patterns whose program is too big to run quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import re2

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

MAX_PATTERN_LENGTH = 1000
# RE2's time is linear in the text times the size of the pattern's program; these caps keep
# the worst case for one condition around 20 ms on this machine (measured: ~22 ms for a
# 20,000-instruction pattern that defeats RE2's DFA, on 10,000 characters).
MAX_PROGRAM_SIZE = 20_000
MAX_MATCHED_TEXT = 10_000  # characters of a field a pattern sees (the start of a message)
# RE2's \w, \d and \s are ASCII; Python's (what rules were written for) know every
# script, so "Grüße" is one word. Each is spelt out as the Unicode classes, outside a
# character class and (where it can be) inside one. \b stays ASCII: RE2 has no other.
_CLASSES = {
    "w": (r"[\pL\pN_]", r"\pL\pN_"),
    "W": (r"[^\pL\pN_]", None),
    "d": (r"\p{Nd}", r"\p{Nd}"),
    "D": (r"\P{Nd}", r"\P{Nd}"),
    "s": (r"[\s\x0B\pZ]", r"\s\x0B\pZ"),
    "S": (r"[^\s\x0B\pZ]", None),
}


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
            self._pattern  # noqa: B018 - compiled now, so a bad pattern is refused when saved
        if self.operator == "in" and not isinstance(self.value, list | tuple | set | frozenset):
            raise RuleError(f"'in' needs a list of values, not {self.value!r}")
        if self.operator in ("at_least", "at_most"):
            if self.field not in NUMBER_FIELDS:
                numbers = ", ".join(NUMBER_FIELDS)
                raise RuleError(f"{self.operator} compares numbers: {numbers}, not {self.field}")
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                raise RuleError(f"{self.operator} needs a number, not {self.value!r}")

    @cached_property
    def _pattern(self) -> re2._Regexp:
        return compile_pattern(str(self.value))

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
            return self._pattern.search(_utf8(str(actual)[:MAX_MATCHED_TEXT])) is not None
        if self.operator == "at_least":
            return float(actual) >= float(self.value)
        return float(actual) <= float(self.value)  # at_most


def compile_pattern(pattern: str) -> re2._Regexp:
    """A `matches` pattern, case-insensitive, on RE2; RuleError says why it cannot be used."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RuleError(
            f"pattern {pattern[:40]!r}... is {len(pattern)} characters long;"
            f" at most {MAX_PATTERN_LENGTH} are allowed"
        )
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a refused pattern is the admin's mistake, not a server error
    try:
        compiled = re2.compile(_with_unicode_classes(pattern), options)
    except re2.error as error:
        reason = error.args[0].decode() if isinstance(error.args[0], bytes) else str(error)
        raise RuleError(
            f"pattern {pattern!r} is not a valid expression: {reason}"
            " (RE2 syntax: no backreferences or lookarounds)"
        ) from None
    if compiled.programsize > MAX_PROGRAM_SIZE:
        raise RuleError(
            f"pattern {pattern!r} is too big to match quickly; use fewer or shorter repetitions"
        )
    return compiled


def _with_unicode_classes(pattern: str) -> str:
    """`pattern` with \\w, \\d, \\s (and their negations) matching every script, as in `re`."""
    out: list[str] = []
    index, in_class, class_start = 0, False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            if escaped == "Q":  # \Q...\E is literal text: copied as it is
                end = pattern.find("\\E", index + 2)
                end = len(pattern) if end < 0 else end + 2
                out.append(pattern[index:end])
                index = end
                continue
            spelt = _CLASSES.get(escaped, (None, None))[in_class]
            out.append(spelt or pattern[index : index + 2])
            index += 2
            continue
        if not in_class and char == "[":
            in_class = True
            class_start = index + 2 if pattern.startswith("^", index + 1) else index + 1
        elif in_class and char == "[" and pattern.startswith(":", index + 1):
            end = pattern.find(":]", index + 2)  # [:alpha:] inside a class
            if end >= 0:
                out.append(pattern[index : end + 2])
                index = end + 2
                continue
        elif in_class and char == "]" and index > class_start:
            in_class = False  # a "]" first in a class is a literal one
        out.append(char)
        index += 1
    return "".join(out)


def _utf8(text: str) -> str:
    """`text` as RE2 can read it: a lone surrogate (from an undecodable mail) becomes "?"."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode(errors="replace").decode()
    return text


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
