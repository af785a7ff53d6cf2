"""Business time and SLA clocks: hand-checked cases and properties (pure, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.calendars import BusinessCalendar, CalendarError, add, between, subtract
from routing.sla import Pauses, SlaError, SlaPolicy, clock, pauses_from

BERLIN = ZoneInfo("Europe/Berlin")
BAVARIA = BusinessCalendar.office_hours("09:00", "17:00", country="DE", subdivision="BY")
RHINELAND = BusinessCalendar.office_hours("09:00", "17:00", country="DE", subdivision="NW")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def berlin(year, month, day, hour=0, minute=0) -> datetime:
    """A wall-clock time in Berlin, as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "duration", "due", "why"),
    [
        (berlin(2026, 1, 12, 10), H, berlin(2026, 1, 12, 11), "within a day"),
        (berlin(2026, 1, 12, 16, 30), H, berlin(2026, 1, 13, 9, 30), "over the night"),
        (berlin(2026, 1, 16, 16), 2 * H, berlin(2026, 1, 19, 10), "over the weekend"),
        (berlin(2026, 1, 17, 12), H, berlin(2026, 1, 19, 10), "starts on a Saturday"),
        (berlin(2026, 1, 12, 7), H, berlin(2026, 1, 12, 10), "starts before opening"),
        (berlin(2026, 1, 12, 9), 8 * H, berlin(2026, 1, 12, 17), "exactly one day"),
        (berlin(2026, 1, 12, 17), 8 * H, berlin(2026, 1, 13, 17), "from closing time"),
        (berlin(2026, 1, 12, 9), 40 * H, berlin(2026, 1, 16, 17), "a whole week"),
        (berlin(2026, 1, 5, 16), 2 * H, berlin(2026, 1, 7, 10), "Epiphany is a holiday in Bavaria"),
        (berlin(2026, 4, 2, 16), 2 * H, berlin(2026, 4, 7, 10), "Good Friday to Easter Monday"),
        (berlin(2026, 5, 13, 16), 2 * H, berlin(2026, 5, 15, 10), "Ascension Day"),
        (berlin(2026, 6, 3, 16), 2 * H, berlin(2026, 6, 5, 10), "Corpus Christi in Bavaria"),
        (berlin(2026, 3, 27, 16), 2 * H, berlin(2026, 3, 30, 10), "over the change to summer time"),
        (
            berlin(2026, 10, 23, 16),
            2 * H,
            berlin(2026, 10, 26, 10),
            "over the change to winter time",
        ),
        (
            berlin(2026, 12, 23, 16),
            3 * H,
            berlin(2026, 12, 24, 11),
            "Christmas Eve is a working day",
        ),
        (berlin(2026, 12, 24, 16), 2 * H, berlin(2026, 12, 28, 10), "Christmas and the weekend"),
        (berlin(2026, 12, 31, 16), 2 * H, berlin(2027, 1, 4, 10), "New Year across the year"),
    ],
)
def test_due_times_in_bavarian_office_hours(start, duration, due, why):
    assert add(BAVARIA, start, duration) == due, why
    assert between(BAVARIA, start, due) == duration, why
    if BAVARIA.is_open(start):
        assert subtract(BAVARIA, due, duration) == start, why


def test_the_state_decides_which_holidays_count():
    start = berlin(2026, 1, 5, 16)
    assert add(BAVARIA, start, 2 * H) == berlin(2026, 1, 7, 10)
    assert add(RHINELAND, start, 2 * H) == berlin(2026, 1, 6, 10)  # no Epiphany there
    assert (
        BAVARIA.holiday(date(2026, 1, 6)) == "Epiphany"
        and RHINELAND.holiday(date(2026, 1, 6)) is None
    )


def test_custom_closures_count_like_holidays():
    closed = BusinessCalendar.office_hours(
        country="DE", subdivision="BY", closures=frozenset({date(2026, 12, 24), date(2026, 12, 31)})
    )
    assert add(closed, berlin(2026, 12, 23, 16), 3 * H) == berlin(2026, 12, 28, 11)
    assert closed.holiday(date(2026, 12, 24)) == "closed"


def test_summer_time_is_wall_clock_time_in_utc():
    # Opening at 09:00 is 08:00 UTC in winter and 07:00 UTC in summer.
    assert add(BAVARIA, berlin(2026, 3, 27, 16), 2 * H) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert berlin(2026, 3, 27, 16) == datetime(2026, 3, 27, 15, tzinfo=UTC)
    # A round-the-clock desk loses the skipped hour: 02:00-03:00 on 29 March does not exist.
    night = BusinessCalendar(weekly={6: ((0, 24 * 60),)}, country=None)
    assert between(night, berlin(2026, 3, 29, 0), berlin(2026, 3, 30, 0)) == 23 * H
    assert between(night, berlin(2026, 10, 25, 0), berlin(2026, 10, 26, 0)) == 25 * H


def test_round_the_clock_and_overnight_shifts():
    assert add(None, berlin(2026, 1, 16, 16), 2 * H) == berlin(2026, 1, 16, 18)
    assert between(None, berlin(2026, 1, 16, 16), berlin(2026, 1, 19, 10)) == 66 * H
    # Monday 00:00 to Friday 24:00 without a break.
    weekdays = BusinessCalendar(weekly={day: ((0, 24 * 60),) for day in range(5)}, country=None)
    assert add(weekdays, berlin(2026, 1, 16, 23), 2 * H) == berlin(2026, 1, 19, 1)
    split = BusinessCalendar(weekly={0: ((8 * 60, 12 * 60), (13 * 60, 17 * 60))}, country=None)
    assert add(split, berlin(2026, 1, 12, 11), 2 * H) == berlin(2026, 1, 12, 14)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BusinessCalendar(timezone="Mars/Olympus"), "Mars/Olympus"),
        (lambda: BusinessCalendar(weekly={7: ((0, 60),)}), "weekday 7"),
        (lambda: BusinessCalendar(weekly={0: ((600, 500),)}), "600-500"),
        (lambda: BusinessCalendar(weekly={0: ((0, 600), (500, 700))}), "overlap"),
        (lambda: BusinessCalendar(country="DE", subdivision="XX"), "DE-XX"),
        (lambda: BusinessCalendar.office_hours("9 Uhr", "17:00"), "9 Uhr"),
    ],
)
def test_bad_calendars_are_named(make, message):
    with pytest.raises(CalendarError, match=message):
        make()


def test_a_calendar_that_never_opens_says_so():
    with pytest.raises(CalendarError, match="no opening hours"):
        add(BusinessCalendar(country=None), berlin(2026, 1, 12), H)


POLICY = SlaPolicy(
    "Standard",
    targets={
        "normal": {"first_response": 4 * H, "resolution": 16 * H},
        "urgent": {"first_response": 20 * M},
    },
    calendar=BAVARIA,
)


def test_a_pause_across_days_moves_the_due_time_by_the_business_time_it_took():
    created = berlin(2026, 1, 12, 10)
    states = [
        (created, "new"),
        (berlin(2026, 1, 12, 15), "pending"),
        (berlin(2026, 1, 14, 11), "open"),
    ]
    pauses = pauses_from(states, POLICY.pause_states)
    assert pauses.closed == [(berlin(2026, 1, 12, 15), berlin(2026, 1, 14, 11))]
    status = clock(
        POLICY,
        "resolution",
        started_at=created,
        allowed=16 * H,
        pauses=pauses,
        now=berlin(2026, 1, 14, 12),
    )
    # Monday 10-15 counted (5 h); Wednesday from 11: 6 h; Thursday 9-14: the last 5 h.
    assert status.due_at == berlin(2026, 1, 15, 14)
    assert status.elapsed == 6 * H and status.remaining == 10 * H
    assert not status.paused and not status.breached


def test_a_running_pause_stops_the_clock():
    created = berlin(2026, 1, 12, 10)
    pauses = pauses_from(
        [(created, "new"), (berlin(2026, 1, 12, 12), "on_hold")], POLICY.pause_states
    )
    status = clock(
        POLICY,
        "resolution",
        started_at=created,
        allowed=16 * H,
        pauses=pauses,
        now=berlin(2026, 1, 20, 9),
    )
    assert status.paused and status.due_at is None and status.elapsed == 2 * H
    assert not status.breached


def test_met_in_time_late_and_breached_while_open():
    created = berlin(2026, 1, 12, 16, 50)
    urgent = dict(started_at=created, allowed=20 * M, pauses=Pauses())
    on_time = clock(
        POLICY,
        "first_response",
        **urgent,
        now=berlin(2026, 1, 13, 9),
        met_at=berlin(2026, 1, 13, 9, 5),
    )
    assert on_time.elapsed == 15 * M and not on_time.breached
    late = clock(
        POLICY,
        "first_response",
        **urgent,
        now=berlin(2026, 1, 13, 10),
        met_at=berlin(2026, 1, 13, 9, 30),
    )
    assert late.elapsed == 40 * M and late.breached
    open_ = clock(POLICY, "first_response", **urgent, now=berlin(2026, 1, 13, 9, 10))
    assert (
        open_.due_at == berlin(2026, 1, 13, 9, 10)
        and open_.breached
        and open_.remaining == timedelta(0)
    )


def test_warnings_come_a_business_time_before_the_due_time_or_at_a_share():
    created = berlin(2026, 1, 12, 16)
    status = clock(
        POLICY, "first_response", started_at=created, allowed=4 * H, pauses=Pauses(), now=created
    )
    assert status.due_at == berlin(2026, 1, 13, 12)
    assert status.warn_at == berlin(2026, 1, 13, 11, 45)
    share = SlaPolicy("80 %", POLICY.targets, calendar=BAVARIA, warn_share=0.8)
    assert clock(
        share, "first_response", started_at=created, allowed=4 * H, pauses=Pauses(), now=created
    ).warn_at == berlin(2026, 1, 13, 11, 12)
    # Warned before the night, when the warning falls in the first minutes.
    short = clock(
        POLICY,
        "first_response",
        started_at=berlin(2026, 1, 12, 16, 50),
        allowed=20 * M,
        pauses=Pauses(),
        now=created,
    )
    assert short.warn_at == berlin(2026, 1, 12, 16, 55) and short.due_at == berlin(
        2026, 1, 13, 9, 10
    )


def test_policy_values_are_checked():
    with pytest.raises(SlaError, match="priority 'asap'"):
        SlaPolicy("x", targets={"asap": {"first_response": H}})
    with pytest.raises(SlaError, match="target 'answer'"):
        SlaPolicy("x", targets={"normal": {"answer": H}})
    with pytest.raises(SlaError, match="longer than zero"):
        SlaPolicy("x", targets={"normal": {"resolution": timedelta(0)}})
    with pytest.raises(SlaError, match="warn_share"):
        SlaPolicy("x", targets={}, warn_share=1.5)


# Properties, over random moments of 2026 and 2027 and durations up to a month of work.
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
durations = st.integers(min_value=1, max_value=160 * 60).map(
    lambda minutes: timedelta(minutes=minutes)
)
calendars = st.sampled_from(
    [
        BAVARIA,
        RHINELAND,
        None,
        BusinessCalendar.office_hours(
            "07:30", "20:00", days=range(6), country="DE", subdivision="BE"
        ),
    ]
)


@settings(max_examples=300, deadline=None)
@given(calendars, moments, durations)
def test_the_business_time_between_start_and_due_is_the_duration(calendar, start, duration):
    due = add(calendar, start, duration)
    assert between(calendar, start, due) == duration


@settings(max_examples=300, deadline=None)
@given(calendars, moments, durations)
def test_a_due_time_never_falls_outside_business_hours(calendar, start, duration):
    due = add(calendar, start, duration)
    if calendar is not None:
        # Within opening hours, or exactly at closing time.
        assert calendar.is_open(due - timedelta(microseconds=1))


@settings(max_examples=300, deadline=None)
@given(calendars, moments, durations)
def test_adding_then_subtracting_returns_to_a_start_in_business_hours(calendar, start, duration):
    if calendar is not None and not calendar.is_open(start):
        start = next(calendar.intervals_from(start))[0]  # the next opening
    assert subtract(calendar, add(calendar, start, duration), duration) == start


@settings(max_examples=200, deadline=None)
@given(calendars, moments, durations, durations)
def test_longer_targets_are_never_due_earlier(calendar, start, first, second):
    shorter, longer = sorted((first, second))
    assert add(calendar, start, shorter) <= add(calendar, start, longer)


@settings(max_examples=200, deadline=None)
@given(calendars, moments, durations, st.lists(st.tuples(durations, durations), max_size=4))
def test_paused_time_never_counts(calendar, start, duration, gaps):
    pauses, cursor = [], start
    for wait, length in gaps:
        cursor += wait
        pauses.append((cursor, cursor + length))
        cursor += length
    due = add(calendar, start, duration, excluded=pauses)
    assert between(calendar, start, due, excluded=pauses) == duration
    assert due >= add(calendar, start, duration)
