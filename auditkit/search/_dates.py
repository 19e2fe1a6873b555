"""Date values: absolute dates and times, relative spans, comparisons and ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

from auditkit.errors import QueryError
from auditkit.filters import (
    CalendarDay,
    Context,
    DateRange,
    Last,
    TimeFilter,
)
from auditkit.search._ast import _BadValue

_RELATIVE = re.compile(r"([0-9]+)([hdw])")
_UNIT_NAMES = {"h": "hours", "d": "days", "w": "weeks"}
_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)
_DATE_FORMS = [
    "today",
    "yesterday",
    "7d",
    "24h",
    "2w",
    "2024-06-12",
    "2024-06-12T10:30",
    ">=2024-06-01",
    ">2024-06-01",
    "<=2024-06-30",
    "<2024-07-01",
    "2024-06-01..2024-06-30",
    "2024-06-01..*",
    "*..2024-06-30",
]


@dataclass(frozen=True)
class _Moment:
    """A date, or a datetime (naive = wall time in ``ctx.tz``) with the span it names."""

    text: str
    value: date | datetime
    span: timedelta  # 1 day for a date; the last written unit for a datetime

    @property
    def is_date(self) -> bool:
        return not isinstance(self.value, datetime)

    def start(self, ctx: Context) -> date | datetime:
        """The day itself for a date (``DateRange`` places it in ``ctx.tz``), else UTC."""
        if isinstance(self.value, datetime):
            return ctx.localize(self.value)
        return self.value

    def after(self, ctx: Context) -> date | datetime:
        """The first instant after: the next day for a date, +1 µs for a datetime."""
        if isinstance(self.value, datetime):
            return ctx.localize(self.value) + timedelta(microseconds=1)
        return self.value + timedelta(days=1)

    @property
    def display(self) -> str:
        return self.text.replace("T", " ").replace("Z", " UTC")


def _moment(text: str, offset: int, shown: str) -> _Moment:
    match = _MOMENT.fullmatch(text)
    if match is None:
        raise _BadValue(
            f"bad date {shown!r}; expected YYYY-MM-DD[THH:MM[:SS]]", offset, _DATE_FORMS
        )
    y, mo, d, h, mi, s, frac, tz = match.groups()
    if not 1000 <= int(y) <= 9998:
        raise _BadValue(f"bad date {shown!r}: the year must be 1000–9998", offset, _DATE_FORMS)
    try:
        if h is None:
            return _Moment(text, date(int(y), int(mo), int(d)), timedelta(days=1))
        micro = int((frac or "").ljust(6, "0")) if frac else 0
        tzinfo = None
        if tz is not None:
            if tz.upper() == "Z":
                tzinfo = UTC
            else:
                sign = 1 if tz[0] == "+" else -1
                tzinfo = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
        value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro, tzinfo)
    except ValueError as exc:
        raise _BadValue(f"bad date {shown!r}: {exc}", offset, _DATE_FORMS) from None
    span = (
        timedelta(microseconds=1) if frac else timedelta(seconds=1) if s else timedelta(minutes=1)
    )
    return _Moment(text, value, span)


@dataclass(frozen=True)
class _DateSpec:
    """One ``date:`` value: a relative preset, a comparison, a range, or a moment."""

    text: str  # canonical text
    preset: TimeFilter | None = None
    op: str = ""  # ">=", ">", "<=", "<", "..", or "" for a bare moment
    lo: _Moment | None = None
    hi: _Moment | None = None

    def to_filter(self, ctx: Context) -> TimeFilter:
        if self.preset is not None:
            return self.preset
        lo, hi = self.lo, self.hi
        if self.op == "..":
            return DateRange(lo.start(ctx) if lo else None, hi.after(ctx) if hi else None)
        assert lo is not None
        if self.op == ">=":
            return DateRange(start=lo.start(ctx))
        if self.op == ">":
            return DateRange(start=lo.after(ctx))
        if self.op == "<=":
            return DateRange(end=lo.after(ctx))
        if self.op == "<":
            return DateRange(end=lo.start(ctx))
        if isinstance(lo.value, datetime):  # a bare datetime: the minute/second it names
            start = ctx.localize(lo.value)
            return DateRange(start, start + lo.span)
        return DateRange(lo.value, lo.value, end_inclusive=True)

    def describe(self) -> str:
        if self.preset is not None:
            return self.preset.describe()
        lo, hi = self.lo, self.hi
        if self.op == "..":
            if lo and hi:
                return f"from {lo.display} to {hi.display}"
            if lo:
                return f"on or after {lo.display}"
            if hi:
                return f"on or before {hi.display}"
            return "at any time"
        assert lo is not None
        words = {">=": "on or after", ">": "after", "<=": "on or before", "<": "before"}
        if self.op:
            return f"{words[self.op]} {lo.display}"
        return f"on {lo.display}" if lo.is_date else f"at {lo.display}"


@lru_cache(maxsize=1024)
def _date_spec(raw: str) -> _DateSpec:
    text = raw.strip()
    lower = text.lower()
    if lower in ("today", "yesterday"):
        return _DateSpec(lower, preset=CalendarDay(0 if lower == "today" else 1))
    relative = _RELATIVE.fullmatch(lower)
    if relative:
        amount = int(relative.group(1))
        if amount < 1:
            raise _BadValue(f"bad relative date {text!r}: the amount must be at least 1")
        unit = relative.group(2)
        try:
            preset = Last(amount, _UNIT_NAMES[unit])
        except QueryError:
            raise _BadValue(
                f"bad relative date {text!r}: more than 100 years back; use a date range", 0
            ) from None
        return _DateSpec(f"{amount}{unit}", preset=preset)
    for op in (">=", "<=", ">", "<"):
        if text.startswith(op):
            moment = _canonical_moment(text[len(op) :], len(op))
            return _DateSpec(op + moment.text, op=op, lo=moment)
    if ".." in text:
        left, right = text.split("..", 1)
        lo = None if left == "*" else _canonical_moment(left, 0)
        hi = None if right == "*" else _canonical_moment(right, len(left) + 2)
        spec = _DateSpec(
            f"{lo.text if lo else '*'}..{hi.text if hi else '*'}", op="..", lo=lo, hi=hi
        )
        if lo and hi:
            probe = Context(now=datetime(2000, 1, 1, tzinfo=UTC))
            start, end = lo.start(probe), hi.after(probe)
            if isinstance(start, datetime) == isinstance(end, datetime) and start >= end:
                raise _BadValue(
                    f"date range {text!r} ends before it starts", len(left) + 2, _DATE_FORMS
                )
        return spec
    if text in ("", "*"):
        raise _BadValue(f"bad date {text!r}", 0, _DATE_FORMS)
    moment = _canonical_moment(text, 0)
    return _DateSpec(moment.text, lo=moment)


def _canonical_moment(text: str, offset: int) -> _Moment:
    if not text:
        raise _BadValue("missing date after the operator", offset, _DATE_FORMS)
    return _moment(text.upper().replace(" ", "T"), offset, shown=text)
