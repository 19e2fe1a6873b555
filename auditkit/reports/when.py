"""When a scheduled report runs: weekly on a weekday, monthly on a day, or a cron
expression, at wall-clock time in a time zone, with daylight saving handled.

Example:
    >>> from datetime import datetime, UTC
    >>> when = When.parse({"weekly": "monday", "at": "07:00"})
    >>> when.describe()
    'weekly on Monday at 07:00'
    >>> when.next_after(datetime(2024, 6, 12, tzinfo=UTC), "Europe/Berlin").isoformat()
    '2024-06-17T05:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from auditkit.reports.period import zone

__all__ = ["WEEKDAYS", "When"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class When:
    """When an entry runs: weekly on a weekday, monthly on a day, or a cron expression,
    at wall-clock time in the entry's time zone.

    Attributes:
        kind: ``weekly``, ``monthly`` or ``cron``.
        weekday: 0 = Monday … 6 = Sunday (weekly).
        day: 1–28 or ``"last"`` (monthly).
        at: the time of day (weekly, monthly).
        cron: a five-field cron expression (cron).
    """

    kind: str
    weekday: int | None = None
    day: int | str | None = None
    at: time = time(0)
    cron: str | None = None

    @classmethod
    def parse(cls, value: Any) -> When:
        """Read ``{weekly = "monday", at = "07:00"}``, ``{monthly = 1, at = "06:00"}``
        (``monthly = "last"`` for the last day) or ``{cron = "0 7 * * 1"}``.

        Raises:
            ValueError: naming the three forms.
        """
        forms = (
            'when = { weekly = "monday", at = "07:00" }, '
            'when = { monthly = 1, at = "06:00" } (1–28 or "last"), '
            'or when = { cron = "0 7 * * 1" }'
        )
        if not isinstance(value, dict):
            raise ValueError(f"when must be a table: {forms}")
        kinds = [k for k in ("weekly", "monthly", "cron") if k in value]
        unknown = sorted(set(value) - {"weekly", "monthly", "cron", "at"})
        if len(kinds) != 1 or unknown:
            raise ValueError(f"bad when {value!r}; use {forms}")
        kind = kinds[0]
        if kind == "cron":
            if "at" in value:
                raise ValueError("a cron expression carries its own time; drop 'at'")
            expr = str(value["cron"]).strip()
            from croniter import croniter

            if len(expr.split()) != 5 or not croniter.is_valid(expr):
                raise ValueError(
                    f"bad cron expression {expr!r}; five fields: minute hour day month "
                    "weekday, e.g. '0 7 * * 1' (Mondays 07:00)"
                )
            return cls("cron", cron=expr)
        at = _time_of_day(value.get("at", "00:00"))
        if kind == "weekly":
            name = str(value["weekly"]).strip().lower()
            matches = [i for i, d in enumerate(WEEKDAYS) if d.startswith(name[:3])]
            if len(name) < 3 or not matches or not WEEKDAYS[matches[0]].startswith(name):
                raise ValueError(
                    f"bad weekday {value['weekly']!r}; use one of {', '.join(WEEKDAYS)}"
                )
            return cls("weekly", weekday=matches[0], at=at)
        day = value["monthly"]
        if day != "last" and not (isinstance(day, int) and 1 <= day <= 28):
            raise ValueError(
                f'bad monthly day {day!r}: use 1–28, or "last" for the last day of each '
                "month (29–31 do not exist in every month)"
            )
        return cls("monthly", day=day, at=at)

    def describe(self) -> str:
        """``weekly on Monday at 07:00``, ``monthly on day 1 at 06:00``, ``cron 0 7 * * 1``."""
        if self.kind == "cron":
            return f"cron {self.cron}"
        at = self.at.strftime("%H:%M")
        if self.kind == "weekly":
            assert self.weekday is not None
            return f"weekly on {WEEKDAYS[self.weekday].capitalize()} at {at}"
        day = "the last day" if self.day == "last" else f"day {self.day}"
        return f"monthly on {day} at {at}"

    def next_after(self, moment: datetime, tz: str) -> datetime:
        """The first run strictly after ``moment`` (aware), as a UTC datetime.

        Times are wall-clock times in ``tz``. A time that does not exist on a day (the
        clocks jump forward over it) runs at the first instant after the jump; a time
        that occurs twice (the clocks go back) runs once, at its first occurrence.
        """
        zone_info = zone(tz)
        local = moment.astimezone(zone_info)
        if self.kind == "cron":
            return _next_cron(str(self.cron), local)
        day = local.date()
        for _ in range(800):
            if self._runs_on(day):
                candidate = _wall_clock(day, self.at, zone_info)
                if candidate > moment:
                    return candidate
            day += timedelta(days=1)
        raise AssertionError("no run within 800 days")  # pragma: no cover

    def _runs_on(self, day: date) -> bool:
        if self.kind == "weekly":
            return day.weekday() == self.weekday
        if self.day == "last":
            return (day + timedelta(days=1)).day == 1
        return day.day == self.day

    def between(self, after: datetime, until: datetime, tz: str) -> list[datetime]:
        """Every run in ``(after, until]`` (UTC datetimes, oldest first)."""
        out: list[datetime] = []
        moment = after
        while True:
            moment = self.next_after(moment, tz)
            if moment > until:
                return out
            out.append(moment)
            if len(out) > 10_000:  # a minutely cron missed for weeks
                return out[-10_000:]


def _time_of_day(value: Any) -> time:
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f'bad time {value!r}; use HH:MM, e.g. at = "07:00"') from None


def _wall_clock(day: date, at: time, zone_info: Any) -> datetime:
    """``day`` at ``at`` in the zone, as UTC: a skipped time becomes the jump's instant."""
    local = datetime.combine(day, at, tzinfo=zone_info)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone_info).replace(tzinfo=None) != local.replace(tzinfo=None):
        # Not a real wall-clock time: the clocks jumped over it. Run at the jump.
        before = datetime.combine(day, at, tzinfo=zone_info).replace(fold=0).utcoffset()
        after = datetime.combine(day, at, tzinfo=zone_info).replace(fold=1).utcoffset()
        assert before is not None and after is not None
        naive = datetime.combine(day, at)
        lo = (naive - max(before, after)).replace(tzinfo=UTC)
        hi = (naive - min(before, after)).replace(tzinfo=UTC)
        # The transition is the earliest instant in [lo, hi] whose local time is after ``at``.
        while hi - lo > timedelta(seconds=1):
            mid = lo + (hi - lo) / 2
            if mid.astimezone(zone_info).replace(tzinfo=None) >= naive:
                hi = mid
            else:
                lo = mid
        return hi.replace(microsecond=0) if hi.microsecond else hi
    return utc


def _next_cron(expr: str, local: datetime) -> datetime:
    from croniter import croniter

    it = croniter(expr, local)
    while True:
        nxt: datetime = it.get_next(datetime)
        # croniter repeats a wall-clock time that occurs twice when clocks go back; run
        # it once (the first occurrence), like Vixie cron.
        if nxt.fold == 1 and nxt.replace(fold=0).utcoffset() != nxt.utcoffset():
            continue
        return nxt.astimezone(UTC)
