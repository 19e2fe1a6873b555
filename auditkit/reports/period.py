"""Report periods: "last week", "last month", "yesterday", "2024-06-10..2024-06-16".

A report covers whole calendar days in a time zone. :func:`resolve_period` turns the words
a schedule or a user writes into a :class:`Period` — first and last day, inclusive — relative
to an instant (``now``) in a time zone, so a schedule that runs late still reports the
period it was due for. :meth:`Period.previous` is the period before it, of the same kind,
for comparisons.

Example:
    >>> from datetime import datetime, UTC
    >>> p = resolve_period("last week", now=datetime(2024, 6, 19, 9, tzinfo=UTC))
    >>> p.describe(), p.to_query()
    ('2024-06-10 to 2024-06-16', 'date:2024-06-10..2024-06-16')
    >>> p.previous().describe()
    '2024-06-03 to 2024-06-09'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditkit.errors import AuditkitError

__all__ = ["PERIOD_FORMS", "Period", "PeriodError", "resolve_period", "zone"]

#: The forms :func:`resolve_period` accepts (shown in errors and ``auditkit report list``).
PERIOD_FORMS: tuple[str, ...] = (
    "today",
    "yesterday",
    "this week",
    "last week",
    "this month",
    "last month",
    "this quarter",
    "last quarter",
    "this year",
    "last year",
    "last 7 days",
    "last 4 weeks",
    "last 3 months",
    "2024-06-12",
    "2024-06-10..2024-06-16",
    "2024-06",
    "2024",
)

_UNITS = ("day", "week", "month", "quarter", "year")
_LAST_N = re.compile(r"last (\d+) (day|week|month|quarter|year)s?")
_RELATIVE = re.compile(r"(this|last|previous) (day|week|month|quarter|year)")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_YEAR = re.compile(r"\d{4}")


class PeriodError(AuditkitError, ValueError):
    """A period or time zone is not one auditkit understands.

    Attributes:
        value: the text that was given.
    """

    def __init__(self, message: str, *, value: str) -> None:
        super().__init__(message)
        self.value = value


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        PeriodError: for an unknown zone, with examples of valid names.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(
            f"unknown time zone {name!r}\n"
            "Hint: use an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'.",
            value=name,
        ) from None


@dataclass(frozen=True)
class Period:
    """Whole calendar days ``first``..``last`` (inclusive) in the time zone ``tz``.

    Attributes:
        first: the first day.
        last: the last day (inclusive).
        tz: IANA time zone the days are in.
        unit: ``day``, ``week``, ``month``, ``quarter`` or ``year`` when the period is
            exactly one or more such calendar units, else ``range``; decides what
            :meth:`previous` means.
        count: how many units (1 for "last week", 4 for "last 4 weeks").
        label: the words it was resolved from ("last week"), for display.
    """

    first: date
    last: date
    tz: str = "UTC"
    unit: str = "range"
    count: int = 1
    label: str = ""

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise PeriodError(
                f"period ends ({self.last}) before it starts ({self.first})",
                value=f"{self.first}..{self.last}",
            )
        zone(self.tz)

    @property
    def days(self) -> int:
        """Number of calendar days covered."""
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """Midnight starting ``first`` in ``tz``, as UTC."""
        return datetime.combine(self.first, time(0), tzinfo=zone(self.tz)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """Midnight after ``last`` in ``tz``, as UTC (exclusive end)."""
        nxt = self.last + timedelta(days=1)
        return datetime.combine(nxt, time(0), tzinfo=zone(self.tz)).astimezone(UTC)

    def describe(self) -> str:
        """``2024-06-10 to 2024-06-16``, or one date for a single day."""
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()} to {self.last.isoformat()}"

    def to_query(self) -> str:
        """The search term selecting the period (dates read in the session's time zone)."""
        return f"date:{self.first.isoformat()}..{self.last.isoformat()}"

    def to_text(self) -> str:
        """Canonical text that :func:`resolve_period` reads back to the same days."""
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    def previous(self) -> Period:
        """The period just before, of the same kind: the week before a week, the
        calendar month before a month, the same number of days before a range."""
        if self.unit in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.unit] * self.count
            first = _add_months(self.first, -months)
            return Period(first, self.first - timedelta(days=1), self.tz, self.unit, self.count)
        last = self.first - timedelta(days=1)
        return Period(
            last - timedelta(days=self.days - 1), last, self.tz, self.unit, self.count, ""
        )


def resolve_period(text: str, *, now: datetime | None = None, tz: str = "UTC") -> Period:
    """Resolve period words against ``now`` in the time zone ``tz``.

    "last week" is the ISO week (Monday–Sunday) before the one ``now`` falls in; "last
    month" the calendar month before; "last 7 days" the seven whole days before today
    (today excluded, so the period is complete); "this week" runs from Monday to today.

    Args:
        text: one of :data:`PERIOD_FORMS` (case and extra spaces ignored).
        now: the instant to resolve against (default: the wall clock); timezone-aware.
        tz: IANA time zone the days are counted in.

    Raises:
        PeriodError: naming the text and listing the valid forms.
    """
    tzinfo = zone(tz)
    when = now or datetime.now(UTC)
    if when.tzinfo is None:
        raise PeriodError(
            f"naive datetime {when.isoformat()}: pass a timezone-aware 'now'", value=str(when)
        )
    today = when.astimezone(tzinfo).date()
    words = " ".join(text.lower().split())
    label = " ".join(text.split())
    try:
        if words in ("today", "yesterday"):
            day = today - timedelta(days=0 if words == "today" else 1)
            return Period(day, day, tz, "day", 1, label)
        match = _RELATIVE.fullmatch(words)
        if match:
            back = 0 if match.group(1) == "this" else 1
            first, last = _unit_span(today, match.group(2), back)
            if back == 0:
                last = today
            return Period(first, last, tz, match.group(2), 1, label)
        match = _LAST_N.fullmatch(words)
        if match:
            count, unit = int(match.group(1)), match.group(2)
            if not 1 <= count <= 3660:
                raise ValueError(f"the number must be 1–3660, got {count}")
            first, _ = _unit_span(today, unit, count)
            _, last = _unit_span(today, unit, 1)
            return Period(first, last, tz, unit, count, label)
        if ".." in words:
            left, right = (part.strip() for part in words.split("..", 1))
            return Period(_date(left), _date(right), tz, "range", 1, label)
        if _DAY.fullmatch(words):
            day = _date(words)
            return Period(day, day, tz, "day", 1, label)
        match = _MONTH.fullmatch(words)
        if match:
            first = date(int(match.group(1)), int(match.group(2)), 1)
            return Period(first, _add_months(first, 1) - timedelta(days=1), tz, "month", 1, label)
        if _YEAR.fullmatch(words):
            year = int(words)
            return Period(date(year, 1, 1), date(year, 12, 31), tz, "year", 1, label)
    except ValueError as exc:
        raise PeriodError(
            f"bad period {text!r}: {exc}\nvalid forms: {', '.join(PERIOD_FORMS)}", value=text
        ) from None
    raise PeriodError(
        f"unknown period {text!r}\nvalid forms: {', '.join(PERIOD_FORMS)}", value=text
    )


def _date(text: str) -> date:
    if not _DAY.fullmatch(text):
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD")
    return date.fromisoformat(text)


def _unit_span(today: date, unit: str, back: int) -> tuple[date, date]:
    """First day of the unit ``back`` units before today's, and the last day of the unit
    just before today's (for back=0: today's unit)."""
    if unit == "day":
        first = today - timedelta(days=back)
        return first, today - timedelta(days=1) if back else today
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        first = monday - timedelta(weeks=back)
        return first, first + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    if unit == "month":
        current = today.replace(day=1)
    elif unit == "quarter":
        current = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    else:
        current = date(today.year, 1, 1)
    first = _add_months(current, -months * back)
    return first, _add_months(first, months) - timedelta(days=1)


def _add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month (``day`` is a 1st)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
