"""SLA clocks: due times, warnings and breaches, in business or calendar hours (pure functions).

A policy sets, per priority, how long the first response, each next response and
the resolution may take. A clock counts from its start, not while the ticket is
in a pausing state (e.g. pending, on hold), and only in the calendar's opening
hours (or round the clock when the policy has no calendar). It is met when its
stop event happens (the reply, the solution), breached when its due time passes
first. The warning comes a set business time before the due time, or at a share
of the target.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routing.calendars import BusinessCalendar, Interval, add, between
from tickets.states import DONE_STATES

TARGETS = ("first_response", "next_response", "resolution")
PRIORITIES = ("low", "normal", "high", "urgent")
# Time with the bot is nobody's to answer: every clock pauses, so they run from the handoff.
BOT_STATES = frozenset({"bot"})


class SlaError(ValueError):
    """A policy that cannot be used; the message names the value."""


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    # priority -> target -> how long it may take
    targets: dict[str, dict[str, timedelta]]
    calendar: BusinessCalendar | None = None  # None: calendar hours, round the clock
    pause_states: frozenset[str] = frozenset({"pending", "on_hold"})
    warn_before: timedelta | None = timedelta(minutes=15)
    warn_share: float | None = None  # e.g. 0.8: warn when 80 % of the target is used

    def __post_init__(self) -> None:
        for priority, targets in self.targets.items():
            if priority not in PRIORITIES:
                raise SlaError(f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
            for target, duration in targets.items():
                if target not in TARGETS:
                    raise SlaError(f"target {target!r} is not one of {', '.join(TARGETS)}")
                if duration <= timedelta(0):
                    raise SlaError(f"{priority} {target} must be longer than zero")
        if self.warn_share is not None and not 0 < self.warn_share < 1:
            raise SlaError(f"warn_share {self.warn_share} is not between 0 and 1")
        if self.warn_before is not None and self.warn_before < timedelta(0):
            raise SlaError("warn_before must not be negative")

    def target(self, priority: str, target: str) -> timedelta | None:
        return self.targets.get(priority, {}).get(target)


@dataclass(frozen=True)
class Pauses:
    """When a clock did not run: closed stretches, and the start of one still going on."""

    closed: list[Interval] = field(default_factory=list)
    open_since: datetime | None = None


def pauses_from(states: list[tuple[datetime, str]], pause_states: frozenset[str]) -> Pauses:
    """The pauses in a ticket's state history: (since, state) pairs in time order."""
    closed: list[Interval] = []
    paused_since = None
    for since, state in states:
        if state in pause_states and paused_since is None:
            paused_since = since
        elif state not in pause_states and paused_since is not None:
            if since > paused_since:
                closed.append((paused_since, since))
            paused_since = None
    return Pauses(closed, paused_since)


@dataclass(frozen=True)
class ClockStatus:
    """Where one SLA clock stands at `now`."""

    target: str
    started_at: datetime
    allowed: timedelta
    elapsed: timedelta  # business time counted so far (until met, or until now)
    due_at: datetime | None  # None while paused: it moves once the clock runs again
    warn_at: datetime | None
    paused: bool
    met_at: datetime | None

    @property
    def remaining(self) -> timedelta:
        """Time left; negative when overdue."""
        return self.allowed - self.elapsed

    @property
    def breached(self) -> bool:
        """Met too late, or (still open) out of time."""
        if self.met_at is not None:
            return self.elapsed > self.allowed
        return self.elapsed >= self.allowed


def clock(
    policy: SlaPolicy,
    target: str,
    *,
    started_at: datetime,
    allowed: timedelta,
    pauses: Pauses,
    now: datetime,
    met_at: datetime | None = None,
) -> ClockStatus:
    """The status of one clock that started at `started_at` and may take `allowed`."""
    calendar = policy.calendar
    if met_at is not None:
        elapsed = between(calendar, started_at, met_at, excluded=_closed(pauses, met_at))
        due = add(calendar, started_at, allowed, excluded=_closed(pauses, met_at))
        return ClockStatus(target, started_at, allowed, elapsed, due, None, False, met_at)
    if pauses.open_since is not None and pauses.open_since <= now:
        elapsed = between(calendar, started_at, pauses.open_since, excluded=pauses.closed)
        return ClockStatus(target, started_at, allowed, elapsed, None, None, True, None)
    due = add(calendar, started_at, allowed, excluded=pauses.closed)
    warn = _warn_at(policy, started_at, allowed, pauses.closed)
    elapsed = between(calendar, started_at, now, excluded=pauses.closed)
    return ClockStatus(target, started_at, allowed, elapsed, due, warn, False, None)


def _closed(pauses: Pauses, until: datetime) -> list[Interval]:
    if pauses.open_since is None or pauses.open_since >= until:
        return pauses.closed
    return [*pauses.closed, (pauses.open_since, until)]


def _warn_at(
    policy: SlaPolicy, started_at: datetime, allowed: timedelta, closed: list[Interval]
) -> datetime | None:
    if policy.warn_share is not None:
        before_warning = allowed * policy.warn_share
    elif policy.warn_before is not None:
        before_warning = max(allowed - policy.warn_before, timedelta(0))
    else:
        return None
    return add(policy.calendar, started_at, before_warning, excluded=closed)


@dataclass(frozen=True)
class Post:
    """One message on a ticket, as the SLA clocks see it."""

    at: datetime
    from_customer: bool  # a person's inbound message (not an auto-reply, not a note)
    agent_reply: bool  # a person's public outbound reply (not an automatic one)


def ticket_clocks(
    policy: SlaPolicy,
    priority: str,
    *,
    created_at: datetime,
    states: list[tuple[datetime, str]],
    posts: list[Post],
    now: datetime,
) -> list[ClockStatus]:
    """Every clock a ticket has under a policy, from its history (a pure function).

    `states` are (since, state) pairs in time order, starting with the first state;
    `posts` the ticket's messages in time order. First response runs from the
    creation of a ticket a customer opened until the first agent reply; next
    response from the first customer message after an agent reply until the next
    one; resolution from creation until solved (time spent solved is a pause, so a
    reopened ticket continues where it stopped). Solving a ticket meets the
    response clocks still running.
    """
    clocks: list[ClockStatus] = []
    current_state = states[-1][1] if states else "new"
    solved_at = _last_entry(states, DONE_STATES) if current_state in DONE_STATES else None
    response_pauses = pauses_from(states, policy.pause_states | BOT_STATES)
    replies = [post.at for post in posts if post.agent_reply]
    opened_by_customer = bool(posts) and posts[0].from_customer
    # A conversation the bot had (perhaps solved, then took back when the customer wrote
    # again) is the desk's to answer from its handoff: what came before is nobody's wait.
    handoff = _last_exit(states, BOT_STATES)

    def response_start(started_at: datetime, met_at: datetime | None) -> datetime:
        if handoff is None or started_at >= handoff or (met_at is not None and met_at < handoff):
            return started_at
        return handoff

    def add_clock(target: str, started_at: datetime, met_at: datetime | None, pauses: Pauses):
        allowed = policy.target(priority, target)
        if allowed is None:
            return
        clocks.append(
            clock(
                policy,
                target,
                started_at=started_at,
                allowed=allowed,
                pauses=pauses,
                now=now,
                met_at=met_at,
            )
        )

    if opened_by_customer:
        first_met = replies[0] if replies else solved_at
        add_clock(
            "first_response", response_start(created_at, first_met), first_met, response_pauses
        )
    if replies:
        last_reply = replies[-1]
        waiting = [p.at for p in posts if p.from_customer and p.at >= last_reply]
        if waiting:
            add_clock(
                "next_response", response_start(waiting[0], solved_at), solved_at, response_pauses
            )
        elif len(replies) > 1 or not opened_by_customer:
            # The last cycle, met by the last reply: the customer's first message after
            # the reply before it.
            before = replies[-2] if len(replies) > 1 else None
            asked = [
                p.at
                for p in posts
                if p.from_customer and (before is None or p.at >= before) and p.at <= last_reply
            ]
            if asked and (before is not None or not opened_by_customer):
                add_clock("next_response", asked[0], last_reply, response_pauses)
    resolution_pauses = pauses_from(states, policy.pause_states.union(DONE_STATES, BOT_STATES))
    if solved_at is not None:
        resolution_pauses = Pauses(resolution_pauses.closed, None)
    add_clock("resolution", created_at, solved_at, resolution_pauses)
    return clocks


def _last_exit(states: list[tuple[datetime, str]], left: Collection[str]) -> datetime | None:
    """When the ticket last left one of the states (None: never, or it is in one now)."""
    exited = None
    previous = None
    for since, state in states:
        if previous in left and state not in left:
            exited = since
        previous = state
    return None if previous in left else exited


def _last_entry(states: list[tuple[datetime, str]], wanted: Collection[str]) -> datetime | None:
    """When the ticket last went into one of the wanted states (from another)."""
    entered = None
    previous = None
    for since, state in states:
        if state in wanted and previous not in wanted:
            entered = since
        previous = state
    return entered
