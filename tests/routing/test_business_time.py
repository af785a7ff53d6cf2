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


# More hand-checked cases, one line each: calendar | start (local) | duration | due (local).
# BY: 09-17 Mon-Fri, Bavarian holidays. NW: 08-12 and 13-17 Mon-Fri, 10-14 Saturday,
# holidays of North Rhine-Westphalia. NY: 09-17 Mon-Fri in New York, no holidays.
# Each was worked out by hand from a wall calendar; the comment says how.
SPLIT_NW = BusinessCalendar(
    weekly={
        **{day: ((8 * 60, 12 * 60), (13 * 60, 17 * 60)) for day in range(5)},
        5: ((10 * 60, 14 * 60),),
    },
    country="DE",
    subdivision="NW",
)
NEW_YORK = BusinessCalendar.office_hours(
    "09:00", "17:00", timezone="America/New_York", country=None
)
CALENDARS = {"BY": BAVARIA, "NW": SPLIT_NW, "NY": NEW_YORK}
ADD_CASES = """
BY | 2026-02-02 09:00 | 0:01  | 2026-02-02 09:01 | a minute
BY | 2026-02-02 09:00 | 8:00  | 2026-02-02 17:00 | a day is due at closing
BY | 2026-02-02 09:00 | 8:01  | 2026-02-03 09:01 | one minute more: next morning
BY | 2026-02-02 08:00 | 0:30  | 2026-02-02 09:30 | before opening
BY | 2026-02-02 17:30 | 0:30  | 2026-02-03 09:30 | after closing
BY | 2026-02-02 12:34 | 4:26  | 2026-02-02 17:00 | odd minutes to closing
BY | 2026-02-02 12:34 | 4:27  | 2026-02-03 09:01 | one past
BY | 2026-02-06 16:00 | 1:00  | 2026-02-06 17:00 | Friday to closing
BY | 2026-02-06 16:00 | 1:01  | 2026-02-09 09:01 | over the weekend
BY | 2026-02-07 10:00 | 8:00  | 2026-02-09 17:00 | from a Saturday
BY | 2026-02-08 23:59 | 0:01  | 2026-02-09 09:01 | Sunday night
BY | 2026-02-02 09:00 | 40:00 | 2026-02-06 17:00 | a working week
BY | 2026-02-02 09:00 | 40:01 | 2026-02-09 09:01 | a week and a minute
BY | 2026-02-04 13:00 | 20:00 | 2026-02-06 17:00 | 4 + 8 + 8
BY | 2026-02-04 13:00 | 24:00 | 2026-02-09 13:00 | 4 + 8 + 8, then 4 on Monday
BY | 2026-02-02 09:00 | 80:00 | 2026-02-13 17:00 | two weeks
BY | 2026-02-02 00:00 | 1:00  | 2026-02-02 10:00 | from midnight
BY | 2026-02-02 16:59 | 0:02  | 2026-02-03 09:01 | one minute each side of the night
BY | 2026-01-05 10:00 | 8:00  | 2026-01-07 10:00 | 7 on Monday, Epiphany, 1 on Wednesday
BY | 2026-01-01 10:00 | 1:00  | 2026-01-02 10:00 | New Year's Day
BY | 2026-12-31 16:00 | 1:00  | 2026-12-31 17:00 | New Year's Eve is a working day
BY | 2026-04-02 09:00 | 9:00  | 2026-04-07 10:00 | Good Friday, Easter, Easter Monday
BY | 2026-04-30 17:00 | 1:00  | 2026-05-04 10:00 | May Day on a Friday
BY | 2026-05-13 09:00 | 16:00 | 2026-05-15 17:00 | Ascension between two days
BY | 2026-05-22 15:00 | 3:00  | 2026-05-26 10:00 | Whit Monday
BY | 2026-06-03 12:00 | 6:00  | 2026-06-05 10:00 | Corpus Christi
BY | 2026-12-23 09:00 | 16:00 | 2026-12-24 17:00 | Christmas Eve counts
BY | 2026-12-23 09:00 | 17:00 | 2026-12-28 10:00 | Christmas Day, Boxing Day, weekend
BY | 2026-12-24 09:00 | 8:00  | 2026-12-24 17:00 | all of Christmas Eve
BY | 2027-01-05 16:00 | 2:00  | 2027-01-07 10:00 | Epiphany on a Wednesday
BY | 2027-03-25 16:00 | 2:00  | 2027-03-30 10:00 | Easter 2027, summer time the same Sunday
BY | 2027-11-01 10:00 | 1:00  | 2027-11-02 10:00 | All Saints on a Monday
BY | 2027-05-05 16:30 | 1:00  | 2027-05-07 09:30 | Ascension 2027
BY | 2025-10-02 16:00 | 2:00  | 2025-10-06 10:00 | German Unity Day on a Friday
BY | 2025-12-24 16:00 | 2:00  | 2025-12-29 10:00 | Christmas on Thursday and Friday
BY | 2026-03-27 09:00 | 16:00 | 2026-03-30 17:00 | over the change to summer time
BY | 2026-10-23 09:00 | 9:00  | 2026-10-26 10:00 | over the change to winter time
BY | 2026-03-02 09:15 | 7:45  | 2026-03-02 17:00 | quarter past to closing
BY | 2026-03-02 09:15 | 7:46  | 2026-03-03 09:01 | and one past
BY | 2026-03-02 14:20 | 3:00  | 2026-03-03 09:20 | 2:40 today, 0:20 tomorrow
BY | 2026-03-02 14:20 | 10:40 | 2026-03-03 17:00 | 2:40 and a whole day
BY | 2026-03-06 17:00 | 0:01  | 2026-03-09 09:01 | Friday closing
BY | 2026-03-27 16:30 | 1:00  | 2026-03-30 09:30 | summer-time weekend
BY | 2026-10-23 16:30 | 1:00  | 2026-10-26 09:30 | winter-time weekend
BY | 2026-10-02 16:00 | 2:00  | 2026-10-05 10:00 | Unity Day 2026 is a Saturday
BY | 2026-10-30 16:00 | 2:00  | 2026-11-02 10:00 | All Saints 2026 is a Sunday
BY | 2027-10-01 16:00 | 2:00  | 2027-10-04 10:00 | Unity Day 2027 is a Sunday
BY | 2026-08-14 16:00 | 2:00  | 2026-08-17 10:00 | 15 August is a Saturday
BY | 2026-12-30 09:00 | 24:00 | 2027-01-04 17:00 | over New Year
BY | 2026-12-28 09:00 | 40:00 | 2027-01-04 17:00 | the week between the years
BY | 2027-01-04 09:00 | 24:00 | 2027-01-07 17:00 | Epiphany in the middle
BY | 2026-05-29 09:00 | 8:00  | 2026-05-29 17:00 | an ordinary Friday
BY | 2026-06-01 09:00 | 32:00 | 2026-06-05 17:00 | a week with Corpus Christi
BY | 2026-05-25 12:00 | 1:00  | 2026-05-26 10:00 | starts on Whit Monday
NW | 2026-02-02 08:00 | 4:00  | 2026-02-02 12:00 | the morning
NW | 2026-02-02 08:00 | 4:01  | 2026-02-02 13:01 | over lunch
NW | 2026-02-02 11:30 | 1:00  | 2026-02-02 13:30 | half before, half after lunch
NW | 2026-02-02 12:15 | 0:15  | 2026-02-02 13:15 | starts in the lunch break
NW | 2026-02-02 12:00 | 8:00  | 2026-02-03 12:00 | afternoon and next morning
NW | 2026-02-06 16:00 | 2:00  | 2026-02-07 11:00 | Friday into Saturday
NW | 2026-02-07 13:00 | 2:00  | 2026-02-09 09:00 | Saturday closes at 14
NW | 2026-02-07 15:00 | 1:00  | 2026-02-09 09:00 | after Saturday closing
NW | 2026-02-08 12:00 | 5:00  | 2026-02-09 14:00 | from a Sunday
NW | 2026-02-02 08:00 | 44:00 | 2026-02-07 14:00 | a whole week with Saturday
NW | 2026-02-02 08:00 | 44:01 | 2026-02-09 08:01 | and a minute
NW | 2026-01-05 16:00 | 2:00  | 2026-01-06 09:00 | Epiphany is no holiday here
NW | 2026-04-02 16:00 | 2:00  | 2026-04-04 11:00 | Good Friday, open on Easter Saturday
NW | 2026-06-03 16:00 | 2:00  | 2026-06-05 09:00 | Corpus Christi is a holiday here too
NW | 2026-10-31 10:00 | 5:00  | 2026-11-02 09:00 | Saturday, then All Saints on Sunday
NW | 2027-11-01 08:00 | 1:00  | 2027-11-02 09:00 | All Saints on a Monday
NW | 2026-05-01 09:00 | 1:00  | 2026-05-02 11:00 | May Day, then Saturday
NW | 2026-12-24 16:00 | 2:00  | 2026-12-28 09:00 | Boxing Day takes the Saturday
NW | 2026-03-28 13:30 | 1:00  | 2026-03-30 08:30 | Saturday before summer time
NW | 2026-10-24 13:00 | 2:00  | 2026-10-26 09:00 | Saturday before winter time
NW | 2026-05-14 09:00 | 1:00  | 2026-05-15 09:00 | Ascension
NW | 2026-05-22 16:00 | 6:00  | 2026-05-26 09:00 | Friday, Saturday, Whit Monday
NW | 2026-02-02 07:00 | 4:00  | 2026-02-02 12:00 | from before opening
NW | 2026-02-02 07:00 | 4:01  | 2026-02-02 13:01 | and over lunch
NY | 2026-03-06 16:00 | 2:00  | 2026-03-09 10:00 | American summer time starts 8 March
NY | 2026-10-30 16:30 | 1:00  | 2026-11-02 09:30 | and ends 1 November
NY | 2026-03-09 09:00 | 8:00  | 2026-03-09 17:00 | the first summer-time day
NY | 2026-07-03 16:00 | 2:00  | 2026-07-06 10:00 | no holiday list: 3 July counts
"""


def _local(text: str, calendar: BusinessCalendar) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=calendar.zone).astimezone(UTC)


def _duration(text: str) -> timedelta:
    hours, minutes = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def _add_cases():
    for line in ADD_CASES.strip().splitlines():
        name, start, duration, due, why = (part.strip() for part in line.split("|"))
        yield pytest.param(name, start, duration, due, id=f"{name} {start} +{duration}: {why}")


@pytest.mark.parametrize(("name", "start", "duration", "due"), list(_add_cases()))
def test_hand_checked_due_times(name, start, duration, due):
    calendar = CALENDARS[name]
    assert add(calendar, _local(start, calendar), _duration(duration)) == _local(due, calendar)


@pytest.mark.parametrize(("name", "start", "duration", "due"), list(_add_cases()))
def test_hand_checked_business_time_between_start_and_due(name, start, duration, due):
    calendar = CALENDARS[name]
    assert between(calendar, _local(start, calendar), _local(due, calendar)) == _duration(duration)


@pytest.mark.parametrize(
    ("name", "end", "duration", "start", "why"),
    [
        ("BY", "2026-02-02 10:00", "1:00", "2026-02-02 09:00", "within the morning"),
        ("BY", "2026-02-02 10:00", "2:00", "2026-01-30 16:00", "back over the weekend"),
        ("BY", "2026-04-07 10:00", "2:00", "2026-04-02 16:00", "back over Easter"),
        ("BY", "2026-01-07 09:30", "1:00", "2026-01-05 16:30", "back over Epiphany"),
        ("BY", "2026-02-09 09:01", "0:02", "2026-02-06 16:59", "a minute each side"),
        ("NW", "2026-02-02 13:30", "1:00", "2026-02-02 11:30", "back over lunch"),
        ("NW", "2026-02-09 09:00", "2:00", "2026-02-07 13:00", "back to Saturday"),
        ("NW", "2026-12-28 09:00", "2:00", "2026-12-24 16:00", "back over Christmas"),
    ],
)
def test_hand_checked_subtraction(name, end, duration, start, why):
    calendar = CALENDARS[name]
    assert subtract(calendar, _local(end, calendar), _duration(duration)) == _local(
        start, calendar
    ), why


@pytest.mark.parametrize(
    ("start", "hours", "due", "why"),
    [
        (berlin(2026, 3, 28, 12), 24, berlin(2026, 3, 29, 13), "a wall-clock hour is skipped"),
        (berlin(2026, 10, 24, 12), 24, berlin(2026, 10, 25, 11), "a wall-clock hour repeats"),
        (berlin(2026, 1, 1, 0), 72, berlin(2026, 1, 4, 0), "holidays do not matter"),
        (berlin(2026, 12, 24, 18), 1.5, berlin(2026, 12, 24, 19, 30), "Christmas Eve evening"),
    ],
)
def test_round_the_clock_is_elapsed_time(start, hours, due, why):
    assert add(None, start, timedelta(hours=hours)) == due, why
