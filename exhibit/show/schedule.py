"""Opening hours: when the show is on, by weekday, and an optional daily restart.

The config's `[schedule]` names each weekday's opening hours in local wall-clock time:

    monday = "10:00-18:00"                 one range
    friday = "10:00-13:00, 14:00-22:00"    several, in order, not overlapping
    sunday = "closed"                      closed all day
    tuesday = "open"                       open all day (the default for every day)
    restart = "04:00"                      optional: end the show once a day at this time, for a fresh start

A range ends after it starts; "24:00" is the end of the day, so a night past midnight is written as
"20:00-24:00" on one day and "00:00-02:00" on the next, and the show runs through without a break. Everything here
is a pure function of a local `datetime`, so it is tested with any date and time and never waits.
"""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY = 24 * 60                 # minutes in a day
WEEK = 7 * DAY
RESTART_EXIT_CODE = 75        # EX_TEMPFAIL (sysexits.h): "try again"; a service manager starts the show again


class ScheduleError(ValueError):
    """A schedule entry that cannot be used; the message says what is wrong and what would be allowed."""


def parse_time(text, end=False):
    """'10:00' -> minutes since midnight (600). '24:00' is allowed only as the end of a range. Raises ScheduleError."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise ScheduleError(f"{text.strip()!r} is not a time; write HH:MM, e.g. 09:30")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or hours == 24 and (minutes or not end):
        last = "24:00 (the end of the day)" if end else "23:59"
        raise ScheduleError(f"{text.strip()} is not a time of day; allowed: 00:00 to {last}")
    return hours * 60 + minutes


def parse_day(value):
    """One weekday's entry -> ((start, end), ...) in minutes since midnight, sorted. Raises ScheduleError.

    value: "open", "closed", "HH:MM-HH:MM" or several of those separated by commas (or a list of them).
    """
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ", ".join(value)
    if not isinstance(value, str):
        raise ScheduleError('allowed: "open", "closed" or hours like "10:00-18:00" (several: "10:00-13:00, 14:00-18:00")')
    text = value.strip().lower()
    if text == "open":
        return ((0, DAY),)
    if text == "closed":
        return ()
    if not text:
        raise ScheduleError('empty; write "open", "closed" or hours like "10:00-18:00"')
    ranges = []
    for part in text.split(","):
        start, dash, end = part.partition("-")
        if not dash:
            raise ScheduleError(f"{part.strip()!r} is not \"open\", \"closed\" or a range START-END like 10:00-18:00")
        a, b = parse_time(start), parse_time(end, end=True)
        if b <= a:
            raise ScheduleError(f"{part.strip()} ends before it starts; for a night past midnight write "
                                f"\"{start.strip()}-24:00\" here and \"00:00-{end.strip()}\" on the next day")
        ranges.append((a, b))
    ranges.sort()
    for (a0, b0), (a1, b1) in zip(ranges, ranges[1:]):
        if a1 < b0:
            raise ScheduleError(f"{_hm(a0)}-{_hm(b0)} and {_hm(a1)}-{_hm(b1)} overlap")
    return tuple(ranges)


def parse_restart(value):
    """'' -> None (no daily restart); 'HH:MM' -> minutes since midnight. Raises ScheduleError."""
    if not isinstance(value, str):
        raise ScheduleError('allowed: "" (no daily restart) or a time like "04:00"')
    return parse_time(value) if value.strip() else None


def _hm(minutes):
    return f"{int(minutes) // 60:02d}:{int(minutes) % 60:02d}"


@dataclass(frozen=True)
class Schedule:
    """A week of opening hours. days: seven tuples of (start, end) minutes, Monday first. restart: minutes or None."""
    days: tuple = ((0, DAY),) * 7
    restart: int | None = None

    @classmethod
    def from_config(cls, section):
        """From the config's `[schedule]` namespace (raw strings). Raises ScheduleError naming the day."""
        days = []
        for name in DAYS:
            try:
                days.append(parse_day(getattr(section, name)))
            except ScheduleError as error:
                raise ScheduleError(f"{name} = {getattr(section, name)!r}: {error}") from None
        try:
            restart = parse_restart(section.restart)
        except ScheduleError as error:
            raise ScheduleError(f"restart = {section.restart!r}: {error}") from None
        if not any(days):
            raise ScheduleError("every day is \"closed\": the show would never open; give at least one day hours")
        return cls(tuple(days), restart)

    @property
    def always_open(self):
        return all(day == ((0, DAY),) for day in self.days)

    def _open_intervals(self):
        """The week's open time as merged [start, end) minutes since Monday 00:00 (a range may run past Sunday)."""
        spans = sorted((d * DAY + a, d * DAY + b) for d, day in enumerate(self.days) for a, b in day)
        merged = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        if len(merged) > 1 and merged[0][0] == 0 and merged[-1][1] == WEEK:    # Sunday night into Monday morning
            merged[0][0] = merged[-1][0] - WEEK
            merged.pop()
        return merged

    def is_open(self, now):
        """True if the show is on at local time `now` (a naive datetime)."""
        m = _minute_of_week(now)
        return any(a <= m < b or a <= m - WEEK < b or a <= m + WEEK < b for a, b in self._open_intervals())

    def next_change(self, now):
        """The local datetime of the next opening or closing after `now`; None if the show is always open."""
        if self.always_open:
            return None
        m = _minute_of_week(now)
        edges = sorted({edge % WEEK for span in self._open_intervals() for edge in span})
        ahead = min((e - m) % WEEK or WEEK for e in edges)
        return _at(now, m + ahead)

    def describe(self, now):
        """'always open', 'open until 18:00', 'closed until 10:00' or 'closed until Mon 10:00' (not today)."""
        change = self.next_change(now)
        if change is None:
            return "always open"
        when = change.strftime("%H:%M")
        if change.date() != now.date():
            when = change.strftime("%a ") + when
        return f"{'open' if self.is_open(now) else 'closed'} until {when}"

    def next_restart(self, now):
        """The first daily restart time strictly after `now` (a naive local datetime); None if there is none."""
        if self.restart is None:
            return None
        at = now.replace(hour=self.restart // 60, minute=self.restart % 60, second=0, microsecond=0)
        return at if at > now else at + timedelta(days=1)


def _minute_of_week(now):
    return now.weekday() * DAY + now.hour * 60 + now.minute + (now.second + now.microsecond / 1e6) / 60


def _at(now, minute_of_week):
    """The local datetime `minute_of_week` minutes after the Monday 00:00 that begins `now`'s week."""
    monday = datetime.combine(now.date() - timedelta(days=now.weekday()), datetime.min.time(), now.tzinfo)
    return monday + timedelta(minutes=round(minute_of_week))
