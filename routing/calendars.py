"""Business calendars and business-time arithmetic: pure functions over aware datetimes.

A calendar is weekly opening hours in a timezone, minus public holidays (the
`holidays` package, by country and state, e.g. DE-BY) and custom closures. Times
go in and come out as timezone-aware UTC; opening hours are wall-clock times in
the calendar's zone, so a DST change moves them in UTC, as it does for the people
who work them. Intervals that a DST gap swallows are shortened, never invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

MINUTES_PER_DAY = 24 * 60
MAX_DAYS = 3 * 366  # a search this long finds no opening: the calendar is always closed

Interval = tuple[datetime, datetime]  # [start, end) in UTC


class CalendarError(ValueError):
    """A calendar that cannot be used; the message says which value is wrong."""


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday (0 = Monday) as (start, end) minutes after local midnight."""

    timezone: str = "Europe/Berlin"
    weekly: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    country: str | None = "DE"
    subdivision: str | None = None
    closures: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except Exception:
            raise CalendarError(f"timezone {self.timezone!r} is not known") from None
        for weekday, spans in self.weekly.items():
            if weekday not in range(7):
                raise CalendarError(f"weekday {weekday} is not 0 (Monday) to 6 (Sunday)")
            previous_end = -1
            for start, end in sorted(spans):
                if not 0 <= start < end <= MINUTES_PER_DAY:
                    raise CalendarError(
                        f"opening hours {start}-{end} on weekday {weekday} are not within a day"
                    )
                if start < previous_end:
                    raise CalendarError(f"opening hours on weekday {weekday} overlap")
                previous_end = end
        if self.country:
            try:
                holidays.country_holidays(self.country, subdiv=self.subdivision, years=2026)
            except (NotImplementedError, KeyError) as error:
                raise CalendarError(
                    f"public holidays for {self.country}-{self.subdivision} are not known: {error}"
                ) from None

    @classmethod
    def office_hours(
        cls, start: str = "09:00", end: str = "17:00", days: Iterable[int] = range(5), **kwargs
    ) -> BusinessCalendar:
        """The same hours on the given weekdays (Monday to Friday by default)."""
        span = (_minutes(start), _minutes(end))
        return cls(weekly={day: (span,) for day in days}, **kwargs)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday or closure on that day, if any."""
        if day in self.closures:
            return "closed"
        if not self.country:
            return None
        return _holidays(self.country, self.subdivision, day.year).get(day)

    def openings(self, day: date) -> list[Interval]:
        """That local day's opening intervals, in UTC."""
        if self.holiday(day) is not None:
            return []
        result = []
        for start, end in sorted(self.weekly.get(day.weekday(), ())):
            begin = _utc(day, start, self.zone)
            finish = _utc(day, end, self.zone)
            if finish > begin:
                result.append((begin, finish))
        return result

    def intervals_from(self, moment: datetime) -> Iterator[Interval]:
        """Opening intervals from the one that holds or follows `moment`, in order."""
        day = moment.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(MAX_DAYS):
            for begin, finish in self.openings(day + timedelta(days=offset)):
                if finish > moment:
                    yield max(begin, moment), finish
        raise CalendarError("the calendar has no opening hours in three years")

    def intervals_before(self, moment: datetime) -> Iterator[Interval]:
        """Opening intervals up to `moment`, latest first."""
        day = moment.astimezone(self.zone).date() + timedelta(days=1)
        for offset in range(MAX_DAYS):
            for begin, finish in reversed(self.openings(day - timedelta(days=offset))):
                if begin < moment:
                    yield begin, min(finish, moment)
        raise CalendarError("the calendar has no opening hours in three years")

    def is_open(self, moment: datetime) -> bool:
        day = moment.astimezone(self.zone).date()
        return any(begin <= moment < finish for begin, finish in self.openings(day))


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    try:
        value = int(hours) * 60 + int(minutes or 0)
    except ValueError:
        raise CalendarError(f"time {text!r} is not HH:MM") from None
    if not 0 <= value <= MINUTES_PER_DAY:
        raise CalendarError(f"time {text!r} is not within a day")
    return value


def _utc(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time; 24:00 is the next midnight; a DST gap moves on."""
    if minutes == MINUTES_PER_DAY:
        return _utc(day + timedelta(days=1), 0, zone)
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    as_utc = local.astimezone(UTC)
    wall = local.replace(tzinfo=None)
    if as_utc.astimezone(zone).replace(tzinfo=None) == wall:
        return as_utc
    # A time the clocks skip (02:30 on the spring change): the first instant after it,
    # which is the change itself. It lies between the two readings of the wall time.
    earliest = local.replace(fold=1).astimezone(UTC)
    while earliest.astimezone(zone).replace(tzinfo=None) < wall:
        earliest += timedelta(minutes=1)
    return earliest


_HOLIDAY_CACHE: dict[tuple[str, str | None, int], dict] = {}


def _holidays(country: str, subdivision: str | None, year: int) -> dict:
    key = (country, subdivision, year)
    if key not in _HOLIDAY_CACHE:
        _HOLIDAY_CACHE[key] = dict(
            holidays.country_holidays(country, subdiv=subdivision, years=year)
        )
    return _HOLIDAY_CACHE[key]


def _check_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None:
            raise ValueError("business time needs timezone-aware datetimes")


def _without(intervals: Iterable[Interval], excluded: list[Interval]) -> Iterator[Interval]:
    """The intervals with the excluded stretches cut out (both sorted by start)."""
    for begin, finish in intervals:
        cursor = begin
        for ex_begin, ex_finish in excluded:
            if ex_finish <= cursor or ex_begin >= finish:
                continue
            if ex_begin > cursor:
                yield cursor, ex_begin
            cursor = max(cursor, ex_finish)
            if cursor >= finish:
                break
        if cursor < finish:
            yield cursor, finish


def add(
    calendar: BusinessCalendar | None,
    start: datetime,
    duration: timedelta,
    *,
    excluded: list[Interval] = (),
) -> datetime:
    """The moment `duration` of business time after `start` (calendar None: round the clock).

    `excluded` are stretches that do not count (the clock was paused); they must be
    closed intervals sorted by start. The result always lies in counted time: at its
    end at the latest, never in a closed hour.
    """
    _check_aware(start)
    if duration < timedelta(0):
        raise ValueError("a duration to add must not be negative")
    start = start.astimezone(UTC)
    excluded = sorted(excluded)
    if calendar is None:
        intervals: Iterable[Interval] = _round_the_clock(start)
    else:
        intervals = calendar.intervals_from(start)
    remaining = duration
    for begin, finish in _without(intervals, excluded):
        available = finish - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise CalendarError("no business time left")  # pragma: no cover - the generators raise first


def subtract(calendar: BusinessCalendar | None, end: datetime, duration: timedelta) -> datetime:
    """The moment `duration` of business time before `end`."""
    _check_aware(end)
    if duration < timedelta(0):
        raise ValueError("a duration to subtract must not be negative")
    end = end.astimezone(UTC)
    if calendar is None:
        return end - duration
    remaining = duration
    for begin, finish in calendar.intervals_before(end):
        available = finish - begin
        if remaining <= available:
            return finish - remaining
        remaining -= available
    raise CalendarError("no business time left")  # pragma: no cover


def between(
    calendar: BusinessCalendar | None,
    start: datetime,
    end: datetime,
    *,
    excluded: list[Interval] = (),
) -> timedelta:
    """Business time from `start` to `end` (zero when end is not after start)."""
    _check_aware(start, end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return timedelta(0)
    intervals = _round_the_clock(start) if calendar is None else calendar.intervals_from(start)
    total = timedelta(0)
    for begin, finish in _without(intervals, sorted(excluded)):
        if begin >= end:
            break
        total += min(finish, end) - begin
    return total


def _round_the_clock(start: datetime) -> Iterator[Interval]:
    # One endless interval, cut in years so excluded stretches can be taken out.
    cursor = start
    while True:
        yield cursor, cursor + timedelta(days=365)
        cursor += timedelta(days=365)
