"""Completeness validation: prove an event log is well-formed and complete before trusting it.

Two suites, one result (:class:`ValidationResult`):

* ``well_formed`` — great-expectations expectations on pandas frames: required fields
  present and not null, values inside the schema's vocabularies, valid IP addresses,
  plausible timestamps, non-negative durations, before/after that parse as JSON; plus a
  global ``event_id`` uniqueness check computed in Polars. A store is read window by
  window (whole partitions, about ``window_rows`` rows at a time, only the columns the
  expectations need), so memory stays flat. What is costly in pandas (IP and JSON
  validity, the partition a row sits in) is computed in Polars first, and
  great-expectations checks the resulting boolean column.
* ``complete`` — computed in Polars, per source and account: volume gaps against a
  trailing same-hour-of-week baseline, missing days, events duplicated under new ids,
  and late arrivals.

This is the one module that imports great-expectations and the one place that converts
Polars frames to pandas. Definitions and thresholds: ``docs/validation.md``.
"""

from __future__ import annotations

import contextlib
import html
import json
import threading
import time
import tomllib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.errors import AuditkitError, MissingDependencyError, QueryError, SchemaError
from auditkit.schema import ACTIONS, ACTOR_TYPES, REQUIRED, SCHEMA, STATUSES, invalid_ips
from auditkit.store import Store

__all__ = [
    "SUITES",
    "Check",
    "ValidationConfig",
    "ValidationConfigError",
    "ValidationResult",
    "find_duplicates",
    "find_gaps",
    "late_arrivals",
    "missing_days",
    "validate",
    "volume_heatmap",
]

#: The suites :func:`validate` runs, in order.
SUITES: tuple[str, ...] = ("well_formed", "complete")

Events = Store | pl.DataFrame | pl.LazyFrame
When = datetime | date | str | None

_UTC = pl.Datetime("us", "UTC")
#: The schema as read for validation: Enum columns as String, so values outside the
#: vocabulary that a foreign writer stored can be seen (and reported) instead of failing.
_RELAXED: dict[str, pl.DataType] = {
    c: pl.String() if isinstance(t, pl.Enum) else t for c, t in SCHEMA.items()
}
_WEEK = timedelta(weeks=1)
_LAG_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("negative (ingested before the timestamp)", 0.0),
    ("< 1 min", 60.0),
    ("1–10 min", 600.0),
    ("10 min – 1 h", 3600.0),
    ("1–6 h", 6 * 3600.0),
    ("6–24 h", 24 * 3600.0),
    ("1–7 d", 7 * 86400.0),
    ("≥ 7 d", None),
)


# ---------------------------------------------------------------------------------------
# Configuration


class ValidationConfigError(AuditkitError, ValueError):
    """A validation config value or file is invalid.

    Attributes:
        key: the offending key, when there is one.
        valid: the valid keys (for an unknown key) or values.
    """

    def __init__(self, message: str, *, key: str | None = None, valid: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.key = key
        self.valid = list(valid)


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds of the checks. Every field has a default; see ``docs/validation.md``.

    Attributes:
        granularity: ``"hour"`` or ``"day"``: the bucket of the volume-gap check.
        baseline_weeks: how many previous weeks the baseline looks at (same hour of the
            week, or same weekday with ``granularity="day"``).
        baseline_min_weeks: fewest previous weeks with data needed to judge a bucket.
        min_baseline: buckets whose baseline is lower are never flagged (quiet hours).
        gap_ratio: a bucket is a gap when observed < ``gap_ratio`` × baseline.
        late_after_hours: an event is late when ``ingested_at - timestamp`` exceeds this.
        future_tolerance_seconds: clock skew allowed before a timestamp counts as future.
        earliest: the earliest plausible timestamp (catches epoch-zero parsing bugs).
        group_by: columns whose values split the completeness checks (source, account).
        duplicate_ignore: columns left out when comparing events for duplicate content.
        window_rows: about how many rows each great-expectations batch holds.
        examples: examples kept per check.
        max_details: gap windows, days, batches listed per check (the count is exact).
    """

    granularity: str = "hour"
    baseline_weeks: int = 4
    baseline_min_weeks: int = 2
    min_baseline: float = 20.0
    gap_ratio: float = 0.2
    late_after_hours: float = 24.0
    future_tolerance_seconds: float = 300.0
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    group_by: tuple[str, ...] = ("source", "account")
    duplicate_ignore: tuple[str, ...] = ("event_id", "ingested_at", "attributes")
    window_rows: int = 2_000_000
    examples: int = 5
    max_details: int = 200

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.granularity not in ("hour", "day"):
            problems.append(f"granularity={self.granularity!r}: valid values are 'hour', 'day'")
        if self.baseline_weeks < 1:
            problems.append(f"baseline_weeks={self.baseline_weeks}: must be at least 1")
        if not 1 <= self.baseline_min_weeks <= max(1, self.baseline_weeks):
            problems.append(
                f"baseline_min_weeks={self.baseline_min_weeks}: must be between 1 and "
                f"baseline_weeks ({self.baseline_weeks})"
            )
        if self.min_baseline < 0:
            problems.append(f"min_baseline={self.min_baseline}: must be 0 or more")
        if not 0 < self.gap_ratio <= 1:
            problems.append(f"gap_ratio={self.gap_ratio}: must be in (0, 1]")
        if self.late_after_hours <= 0:
            problems.append(f"late_after_hours={self.late_after_hours}: must be positive")
        if self.future_tolerance_seconds < 0:
            problems.append(
                f"future_tolerance_seconds={self.future_tolerance_seconds}: must be 0 or more"
            )
        if self.earliest.tzinfo is None:
            problems.append(f"earliest={self.earliest}: must carry a timezone (add Z for UTC)")
        else:
            object.__setattr__(self, "earliest", self.earliest.astimezone(UTC))
        for key in ("group_by", "duplicate_ignore"):
            unknown = [c for c in getattr(self, key) if c not in SCHEMA]
            if unknown:
                problems.append(
                    f"{key}: not schema columns: {', '.join(unknown)} (valid: {', '.join(SCHEMA)})"
                )
        for key in ("window_rows", "max_details"):
            if getattr(self, key) < 1:
                problems.append(f"{key}={getattr(self, key)}: must be at least 1")
        if self.examples < 0:
            problems.append(f"examples={self.examples}: must be 0 or more")
        if problems:
            raise ValidationConfigError("invalid validation config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "config") -> ValidationConfig:
        """Build a config from plain values (TOML types); unknown keys raise.

        Raises:
            ValidationConfigError: naming an unknown key and the valid ones, or a value
                of the wrong type.
        """
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValidationConfigError(
                f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; valid keys: {', '.join(valid)}",
                key=unknown[0],
                valid=valid,
            )
        defaults = cls()
        kwargs = {
            k: _coerce(k, values[k], getattr(defaults, k), where) for k in valid if k in values
        }
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> ValidationConfig:
        """Read a config from a TOML file: keys at the top level or in a ``[validation]`` table.

        Raises:
            ValidationConfigError: the file is unreadable, not TOML, has an unknown key
                (the message lists the valid keys) or a bad value.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValidationConfigError(f"{path}: cannot read the config file ({exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValidationConfigError(f"{path}: not valid TOML ({exc})") from exc
        if set(data) == {"validation"} and isinstance(data["validation"], dict):
            data = data["validation"]
        return cls.from_dict(data, where=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-ready values."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _coerce(key: str, value: Any, default: Any, where: str) -> Any:
    def bad(expected: str) -> ValidationConfigError:
        return ValidationConfigError(
            f"{where}: {key} = {value!r} is not {expected}", key=key, valid=[expected]
        )

    if isinstance(default, bool):  # pragma: no cover - no boolean keys yet
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if isinstance(default, datetime):
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise bad("an ISO date-time such as 2000-01-01T00:00:00Z") from None
        elif isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day, tzinfo=UTC)
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise bad("a date-time with a timezone (e.g. 2000-01-01T00:00:00Z)")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of column names")
        return tuple(value)
    if not isinstance(value, str):
        raise bad("a string")
    return value


# ---------------------------------------------------------------------------------------
# Results


@dataclass
class Check:
    """The outcome of one check.

    Attributes:
        name: stable identifier (``actor_not_null``, ``volume_gaps`` …).
        suite: ``well_formed`` or ``complete``.
        passed: whether nothing bad was found.
        bad_count: how many bad things, in ``unit`` (rows, gaps, days, files).
        unit: what ``bad_count`` counts.
        checked: how many of those were examined.
        description: what is expected, in plain English.
        engine: ``great_expectations`` or ``polars``.
        group: the source/account group of a completeness check, else None.
        examples: a few bad items (rows, windows, batches).
        details: everything else (gap windows, lag distribution …).
        summary: one line naming the first examples.
    """

    name: str
    suite: str
    passed: bool
    bad_count: int
    unit: str
    checked: int
    description: str
    engine: str
    group: dict[str, str | None] | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    @property
    def group_label(self) -> str:
        """The group as ``source=… account=…``, or an empty string."""
        if not self.group:
            return ""
        return " ".join(f"{k}={v if v is not None else '(none)'}" for k, v in self.group.items())

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready values."""
        return {
            "name": self.name,
            "suite": self.suite,
            "group": self.group,
            "passed": self.passed,
            "bad_count": self.bad_count,
            "unit": self.unit,
            "checked": self.checked,
            "description": self.description,
            "engine": self.engine,
            "summary": self.summary,
            "examples": _jsonable(self.examples),
            "details": _jsonable(self.details),
        }


@dataclass
class ValidationResult:
    """Every check of a validation run, with the range and settings it ran with."""

    checks: list[Check]
    target: str
    since: datetime | None
    until: datetime | None
    now: datetime
    source: str | None
    suites: tuple[str, ...]
    rows: int
    first_event: datetime | None
    last_event: datetime | None
    seconds: float
    config: ValidationConfig

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that found something."""
        return [c for c in self.checks if not c.passed]

    def get(self, name: str) -> list[Check]:
        """The checks called ``name`` (one per group for completeness checks).

        Raises:
            QueryError: naming the valid check names when there is none by that name.
        """
        found = [c for c in self.checks if c.name == name]
        if not found:
            names = list(dict.fromkeys(c.name for c in self.checks))
            raise QueryError(f"no check named {name!r}; checks run: {', '.join(names)}")
        return found

    def to_dict(self) -> dict[str, Any]:
        """The whole result as JSON-ready values."""
        return {
            "passed": self.passed,
            "target": self.target,
            "since": _jsonable(self.since),
            "until": _jsonable(self.until),
            "now": _jsonable(self.now),
            "source": self.source,
            "suites": list(self.suites),
            "rows": self.rows,
            "first_event": _jsonable(self.first_event),
            "last_event": _jsonable(self.last_event),
            "seconds": round(self.seconds, 3),
            "failed": [c.name for c in self.failed],
            "config": self.config.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def summary_table(self, width: int = 60) -> str:
        """A plain-text table: check, group, result, bad count and the first examples."""
        header = ("suite", "check", "group", "result", "bad", "examples")
        rows = [
            (
                c.suite,
                c.name,
                c.group_label or "-",
                "pass" if c.passed else "FAIL",
                f"{c.bad_count:,} {c.unit}" if c.bad_count else "0",
                _clip(c.summary, width) if not c.passed else "",
            )
            for c in self.checks
        ]
        widths = [
            max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
            for i, h in enumerate(header)
        ]
        right = {4}
        lines = [
            "  ".join(
                h.rjust(w) if i in right else h.ljust(w)
                for i, (h, w) in enumerate(zip(header, widths, strict=True))
            ).rstrip()
        ]
        for row in rows:
            lines.append(
                "  ".join(
                    v.rjust(w) if i in right else v.ljust(w)
                    for i, (v, w) in enumerate(zip(row, widths, strict=True))
                ).rstrip()
            )
        verdict = (
            "PASSED" if self.passed else f"FAILED ({len(self.failed)} of {len(self.checks)} checks)"
        )
        lines.append("")
        lines.append(
            f"{verdict}: {self.rows:,} events in {self._range_text()} validated in "
            f"{self.seconds:.1f} s"
        )
        return "\n".join(lines)

    def to_html(self) -> str:
        """A self-contained HTML page (inline CSS, no scripts, no external resources)."""
        return _render_html(self)

    def _range_text(self) -> str:
        if self.since or self.until:
            since = _fmt(self.since) if self.since else "the first event"
            until = _fmt(self.until) if self.until else "the last event"
            text = f"[{since}, {until})"
        else:
            text = "the frame" if self.target.startswith("<") else "the whole store"
        if self.first_event is not None:
            text += f" (events from {_fmt(self.first_event)} to {_fmt(self.last_event)})"
        return text + (f" from source {self.source!r}" if self.source else "")


# ---------------------------------------------------------------------------------------
# The API


def validate(
    store: Events | str | Path,
    *,
    since: When = None,
    until: When = None,
    source: str | None = None,
    suites: Sequence[str] = SUITES,
    config: ValidationConfig | None = None,
    now: datetime | None = None,
) -> ValidationResult:
    """Check that the events are well-formed and complete.

    Args:
        store: a :class:`~auditkit.store.Store`, its directory, or a frame of events.
        since: start of the range (inclusive): a timezone-aware datetime, a date
            (midnight UTC) or an ISO string (UTC unless it has an offset).
        until: end of the range (exclusive); a date (or ``YYYY-MM-DD``) means the end of
            that day.
        source: validate only the events of this source.
        suites: any of ``"well_formed"``, ``"complete"``.
        config: thresholds; :class:`ValidationConfig` defaults when omitted.
        now: the time "future" is relative to (default: the current time).

    Returns:
        A :class:`ValidationResult`; ``result.passed`` says whether every check passed.

    Raises:
        QueryError: a bad range, suite or source name.
        MissingDependencyError: great-expectations or pandas is not installed.
    """
    started = time.perf_counter()
    config = config or ValidationConfig()
    suites = tuple(dict.fromkeys(suites))
    unknown = [s for s in suites if s not in SUITES]
    if unknown or not suites:
        raise QueryError(
            f"unknown suite {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid suites: {', '.join(SUITES)}"
        )
    now = _aware(now, "now") if now is not None else datetime.now(UTC)
    target = Store(store) if isinstance(store, str | Path) else store
    events, start, end = _prepare(target, since, until, source)
    if "complete" in suites:  # one hashing pass serves both duplicate checks
        events.content = tuple(c for c in SCHEMA if c not in config.duplicate_ignore)
    # Importing great-expectations takes seconds: do it in a thread while Polars works
    # (Polars releases the GIL), then run the expectations last.
    # A worker thread prepares the pandas batches one ahead, starting now.
    loading = _preload_great_expectations() if "well_formed" in suites else None
    checks: list[Check] = []
    with _Batches(events, start, end, config, enabled=loading is not None) as batches:
        early = _polars_well_formed(events, start, end, config) if loading else []
        complete = _complete(events, start, end, now, config) if "complete" in suites else []
        if loading:
            loading.join()
            checks += _well_formed(events, start, end, now, config, early, batches)
    checks += complete
    span = (
        events.scan(["timestamp"], start, end, misfiled=True)
        .select(
            pl.len(),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .collect()
        .row(0, named=True)
    )
    return ValidationResult(
        checks=checks,
        target=str(target.root) if isinstance(target, Store) else f"<{type(target).__name__}>",
        since=start,
        until=end,
        now=now,
        source=source,
        suites=suites,
        rows=int(span["len"]),
        first_event=span["first"],
        last_event=span["last"],
        seconds=time.perf_counter() - started,
        config=config,
    )


def volume_heatmap(
    events: Events, since: When = None, until: When = None, *, source: str | None = None
) -> pl.DataFrame:
    """Event counts per day and hour of day, zero-filled (long format, ready for a chart).

    Returns:
        Columns ``date`` (Date), ``weekday`` (Mon…Sun), ``hour`` (0–23), ``events``;
        one row per day of the range and hour, oldest first.
    """
    ev, start, end = _prepare(events, since, until, source)
    ts = pl.col("timestamp")
    counts = (
        ev.scan(["timestamp"], start, end)
        .filter(ts.is_not_null())
        .group_by(ts.dt.date().alias("date"), ts.dt.hour().cast(pl.Int8).alias("hour"))
        .agg(pl.len().cast(pl.Int64).alias("events"))
        .collect()
    )
    schema = {"date": pl.Date(), "weekday": pl.String(), "hour": pl.Int8(), "events": pl.Int64()}
    first = start.date() if start else counts.get_column("date").min()
    last = (end - timedelta(microseconds=1)).date() if end else counts.get_column("date").max()
    if not isinstance(first, date) or not isinstance(last, date) or first > last:
        return pl.DataFrame(schema=schema)
    days = pl.DataFrame({"date": pl.date_range(first, last, "1d", eager=True)})
    hours = pl.DataFrame({"hour": pl.Series(range(24), dtype=pl.Int8)})
    return (
        days.join(hours, how="cross")
        .join(counts, on=["date", "hour"], how="left")
        .with_columns(
            pl.col("events").fill_null(0),
            pl.col("date").dt.strftime("%a").alias("weekday"),
        )
        .select(list(schema))
        .sort("date", "hour")
    )


def find_gaps(
    events: Events,
    since: When = None,
    until: When = None,
    *,
    source: str | None = None,
    config: ValidationConfig | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Windows whose volume fell far below the trailing same-hour-of-week baseline.

    Returns:
        One row per gap (consecutive flagged buckets merged): the ``group_by`` columns,
        ``start``, ``end`` (exclusive), ``expected`` (sum of the buckets' baselines),
        ``observed``, ``buckets``.
    """
    config = config or ValidationConfig()
    ev, start, end = _prepare(events, since, until, source)
    now = _aware(now, "now") if now is not None else datetime.now(UTC)
    grid, _ = _volume_grid(ev, start, end, now, config)
    return _gaps(grid, config)


def missing_days(
    events: Events,
    since: When = None,
    until: When = None,
    *,
    source: str | None = None,
    config: ValidationConfig | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Days inside the range with no events at all, per source and account.

    A group is judged from its first day inside the range (or the range's first day)
    to the range's last full day, never including today.

    Returns:
        The ``group_by`` columns and ``date``, oldest first.
    """
    config = config or ValidationConfig()
    ev, start, end = _prepare(events, since, until, source)
    now = _aware(now, "now") if now is not None else datetime.now(UTC)
    missing, _ = _missing_days(ev, start, end, now, config)
    return missing


def find_duplicates(
    events: Events,
    since: When = None,
    until: When = None,
    *,
    source: str | None = None,
    config: ValidationConfig | None = None,
) -> pl.DataFrame:
    """Events stored more than once: under the same ``event_id``, or with new ids but
    the same content (every column except ``config.duplicate_ignore``).

    Returns:
        One row per duplicated event: ``kind`` (``event_id`` or ``content``),
        ``event_ids`` (the ids involved), ``copies``, ``timestamp``, ``source``,
        ``account``, ``actor``, ``action``, ``files`` (store files holding them).
    """
    config = config or ValidationConfig()
    ev, start, end = _prepare(events, since, until, source)
    ev.content = tuple(c for c in SCHEMA if c not in config.duplicate_ignore)
    by_id, _ = _duplicate_ids(ev, start, end)
    by_content, _ = _duplicate_content(ev, start, end, config)
    return pl.concat([by_id, by_content], how="vertical")


def late_arrivals(
    events: Events,
    since: When = None,
    until: When = None,
    *,
    source: str | None = None,
    config: ValidationConfig | None = None,
) -> pl.DataFrame:
    """Events stored more than ``config.late_after_hours`` after they happened.

    Returns:
        ``event_id``, the ``group_by`` columns, ``timestamp``, ``ingested_at``, ``lag``
        (a Duration), ordered by timestamp.
    """
    config = config or ValidationConfig()
    ev, start, end = _prepare(events, since, until, source)
    keys = list(config.group_by)
    lag = pl.col("ingested_at") - pl.col("timestamp")
    return (
        ev.scan(["event_id", "timestamp", "ingested_at", *keys], start, end)
        .filter(lag > timedelta(hours=config.late_after_hours))
        .select("event_id", *keys, "timestamp", "ingested_at", lag.alias("lag"))
        .sort("timestamp", "event_id")
        .collect()
    )


# ---------------------------------------------------------------------------------------
# Reading the events tolerantly


@dataclass(frozen=True)
class _FileProblem:
    file: Path
    missing: tuple[str, ...] = ()
    mistyped: tuple[tuple[str, str, str], ...] = ()
    error: str | None = None

    def text(self) -> str:
        parts = [f"missing {', '.join(self.missing)}"] if self.missing else []
        parts += [f"{c} is {found}, expected {want}" for c, found, want in self.mistyped]
        parts += [f"unreadable ({self.error})"] if self.error else []
        return ", ".join(parts)


def _cast(expr: pl.Expr, found: pl.DataType, want: pl.DataType) -> pl.Expr | None:
    """``expr`` cast from ``found`` to ``want`` when that loses nothing, else None."""
    if found == want:
        return expr
    if isinstance(found, pl.Null):
        return expr.cast(want)
    if isinstance(want, pl.String) and isinstance(found, pl.Categorical | pl.Enum):
        return expr.cast(pl.String)
    if isinstance(want, pl.Datetime) and isinstance(found, pl.Datetime):
        if found.time_zone is None:
            expr = expr.dt.replace_time_zone("UTC")
        return expr.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if isinstance(want, pl.Float64) and found.is_numeric():
        return expr.cast(pl.Float64)
    return None


def _column(name: str, found: Mapping[str, pl.DataType]) -> pl.Expr:
    want = _RELAXED[name]
    expr = _cast(pl.col(name), found[name], want) if name in found else None
    return (expr if expr is not None else pl.lit(None, dtype=want)).alias(name)


class _Events:
    """The events under validation: a store's partitions (read tolerantly) or a frame.

    Files written by another tool may lack columns, carry other dtypes, or hold values
    outside the vocabularies; they are read anyway (what cannot be cast becomes null and
    is reported by ``columns_present``) so the checks can say what is wrong.
    """

    def __init__(self, target: Events, source: str | None) -> None:
        self.store = target if isinstance(target, Store) else None
        self.frame: pl.LazyFrame | None = None
        if isinstance(target, pl.DataFrame):
            self.frame = target.lazy()
        elif isinstance(target, pl.LazyFrame):
            self.frame = target
        elif self.store is None:
            raise QueryError(
                f"cannot validate a {type(target).__name__}: pass a Store, a store "
                "directory, or a Polars DataFrame/LazyFrame of events"
            )
        self.source = source
        #: content columns to hash along with the ids (set when duplicates will be sought)
        self.content: tuple[str, ...] | None = None
        self._schemas: dict[Path, dict[str, pl.DataType] | str] = {}
        self._rows: dict[Path, int] = {}
        self._cache: dict[tuple[Any, ...], pl.DataFrame] = {}  # cached passes

    # -- files ---------------------------------------------------------------------------

    def files(self, start: datetime | None, end: datetime | None) -> list[Path]:
        """Readable Parquet files of the partitions overlapping the range."""
        if self.store is None:
            return []
        return [f for f in self.store.files(start, end) if isinstance(self._schema(f), dict)]

    def _schema(self, path: Path) -> dict[str, pl.DataType] | str:
        if path not in self._schemas:
            try:
                self._schemas[path] = dict(pl.read_parquet_schema(path))
            except Exception as exc:  # a damaged file is a finding, not a crash
                self._schemas[path] = f"{type(exc).__name__}: {exc}"
        return self._schemas[path]

    def problems(
        self, start: datetime | None, end: datetime | None
    ) -> tuple[list[_FileProblem], int]:
        """Files lacking a required column, with an uncastable dtype, or unreadable."""
        assert self.store is not None
        out: list[_FileProblem] = []
        files = self.store.files(start, end)
        for path in files:
            schema = self._schema(path)
            if isinstance(schema, str):
                out.append(_FileProblem(path, error=schema))
                continue
            missing = tuple(c for c in REQUIRED if c not in schema)
            mistyped = tuple(
                (c, str(schema[c]), str(SCHEMA[c]))
                for c in SCHEMA
                if c in schema and _cast(pl.col(c), schema[c], _RELAXED[c]) is None
            )
            if missing or mistyped:
                out.append(_FileProblem(path, missing, mistyped))
        return out, len(files)

    def relative(self, path: Path) -> str:
        """A store file's path relative to the store root."""
        assert self.store is not None
        return str(path.relative_to(self.store.root))

    def rows(self, path: Path) -> int:
        if path not in self._rows:
            import pyarrow.parquet as pq

            self._rows[path] = int(pq.read_metadata(path).num_rows)
        return self._rows[path]

    # -- scanning ------------------------------------------------------------------------

    def scan(
        self,
        columns: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        *,
        misfiled: bool = False,
        files: Sequence[Path] | None = None,
        filter_source: bool = True,
        with_file: bool = False,
    ) -> pl.LazyFrame:
        """The rows in ``[start, end)`` with ``columns`` (relaxed dtypes) and
        ``_partition`` (plus ``_file``, the path inside the store, with ``with_file``);
        with ``misfiled`` also rows whose timestamp is null or outside the day of the
        partition holding them."""
        wanted = list(dict.fromkeys([*columns, "timestamp", "source"]))
        if self.frame is not None:
            found = self.frame.collect_schema()
            mistyped = [
                f"{c} is {found[c]}, expected {SCHEMA[c]}"
                for c in wanted
                if c in found and _cast(pl.col(c), found[c], _RELAXED[c]) is None
            ]
            if mistyped:
                raise SchemaError("cannot validate this frame: " + "; ".join(mistyped))
            lf = self.frame.select(
                *[_column(c, found) for c in wanted],
                pl.lit(None, dtype=pl.Date).alias("_partition"),
                *([pl.lit(None, dtype=pl.String).alias("_file")] if with_file else []),
            )
        else:
            paths = list(files) if files is not None else self.files(start, end)
            lf = self._scan_files(paths, wanted, with_file)
        ts = pl.col("timestamp")
        inside = pl.lit(True)
        if start is not None:
            inside = inside & (ts >= start)
        if end is not None:
            inside = inside & (ts < end)
        keep = inside
        if misfiled:
            keep = ts.is_null() | inside | (ts.dt.date() != pl.col("_partition")).fill_null(False)
        lf = lf.filter(keep)
        if self.source is not None and filter_source:
            lf = lf.filter(pl.col("source") == self.source)
        return lf

    def _scan_files(
        self, paths: Sequence[Path], wanted: Sequence[str], with_file: bool
    ) -> pl.LazyFrame:
        # One scan per partition day and file schema: the partition is a literal (cheap),
        # and files written by other tools are cast to the relaxed schema on their own.
        assert self.store is not None
        groups: dict[tuple[str, str], tuple[dict[str, pl.DataType], list[str]]] = {}
        for path in paths:
            schema = self._schema(path)
            if isinstance(schema, str):
                continue
            key = (path.parent.name, repr(sorted((k, str(v)) for k, v in schema.items())))
            groups.setdefault(key, (schema, []))[1].append(str(path))
        extra: dict[str, pl.DataType] = {"_partition": pl.Date()}
        if with_file:
            extra["_file"] = pl.String()
        if not groups:
            return pl.LazyFrame(schema={**{c: _RELAXED[c] for c in wanted}, **extra})
        root = str(self.store.root).rstrip("/") + "/"
        parts = []
        for (folder, _), (schema, group) in groups.items():
            day = _partition_day(folder)
            lf = pl.scan_parquet(
                group, include_file_paths="_file" if with_file else None, hive_partitioning=False
            )
            columns = [
                *[_column(c, schema) for c in wanted],
                pl.lit(day, dtype=pl.Date).alias("_partition"),
            ]
            if with_file:
                columns.append(pl.col("_file").str.strip_prefix(root))
            parts.append(lf.select(columns))
        return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")

    def hashes(self, start: datetime | None, end: datetime | None) -> pl.DataFrame:
        """One streaming pass: a 64-bit hash of every non-null id (``i``), whether the row
        is inside the range rather than only misfiled (``inside``), and with
        :attr:`content` set a hash of those columns (``c``). Cached per range."""
        key = (start, end, self.content)
        if key not in self._cache:
            ts = pl.col("timestamp")
            inside = ts.is_not_null()
            if start is not None:
                inside = inside & (ts >= start)
            if end is not None:
                inside = inside & (ts < end)
            columns = [pl.col("event_id").hash().alias("i"), inside.alias("inside")]
            if self.content:
                columns.append(pl.struct(self.content).hash().alias("c"))
            self._cache[key] = (
                self.scan(["event_id", *(self.content or ())], start, end, misfiled=True)
                .filter(pl.col("event_id").is_not_null())
                .select(columns)
                .collect(engine="streaming")
            )
        return self._cache[key]

    def counts(
        self, start: datetime | None, end: datetime | None, config: ValidationConfig
    ) -> pl.DataFrame:
        """Events per group and hour (or day), from ``baseline_weeks`` before ``start``
        (the baseline's history) to ``end``. Cached per range and settings."""
        keys = list(config.group_by)
        every = "1h" if config.granularity == "hour" else "1d"
        history = start - config.baseline_weeks * _WEEK if start else None
        key = ("counts", history, end, every, tuple(keys))
        if key not in self._cache:
            ts = pl.col("timestamp")
            self._cache[key] = (
                self.scan(["timestamp", *keys], history, end)
                .filter(ts.is_not_null())
                .group_by(*keys, ts.dt.truncate(every).alias("bucket"))
                .agg(pl.len().cast(pl.Int64).alias("events"))
                .collect()
            )
        return self._cache[key]

    def windows(
        self, start: datetime | None, end: datetime | None, rows: int
    ) -> Iterator[list[Path] | tuple[int, int]]:
        """Whole partitions grouped into windows of about ``rows`` rows (a store), or row
        slices (a frame)."""
        if self.frame is not None:
            total = int(self.frame.select(pl.len()).collect().item())
            for offset in range(0, total, rows):
                yield (offset, min(rows, total - offset))
            return
        window: list[Path] = []
        size = 0
        by_day: dict[str, list[Path]] = {}
        for path in self.files(start, end):
            by_day.setdefault(path.parent.name, []).append(path)
        for day in sorted(by_day):
            day_rows = sum(self.rows(p) for p in by_day[day])
            if window and size + day_rows > rows:
                yield window
                window, size = [], 0
            window.extend(by_day[day])
            size += day_rows
        if window:
            yield window

    def scan_window(
        self,
        window: list[Path] | tuple[int, int],
        columns: Sequence[str],
        start: datetime | None,
        end: datetime | None,
    ) -> pl.LazyFrame:
        if isinstance(window, tuple):
            assert self.frame is not None
            offset, length = window
            sliced = _Events(self.frame.slice(offset, length), self.source)
            return sliced.scan(columns, start, end, misfiled=True)
        return self.scan(columns, start, end, misfiled=True, files=window)

    def sources(self, start: datetime | None, end: datetime | None) -> list[str | None]:
        frame = (
            self.scan(["source"], start, end, filter_source=False)
            .select(pl.col("source").unique())
            .collect()
        )
        return sorted(frame.get_column("source").to_list(), key=lambda s: (s is None, s or ""))


def _partition_day(folder: str) -> date | None:
    try:
        return date.fromisoformat(folder.removeprefix("date="))
    except ValueError:
        return None


def _prepare(
    target: Events | str | Path, since: When, until: When, source: str | None
) -> tuple[_Events, datetime | None, datetime | None]:
    if isinstance(target, str | Path):
        target = Store(target)
    start = _parse_when(since, "since", end=False)
    end = _parse_when(until, "until", end=True)
    if start is not None and end is not None and start >= end:
        raise QueryError(f"since ({_fmt(start)}) must be before until ({_fmt(end)})")
    events = _Events(target, source)
    if source is not None:
        present = events.sources(start, end)
        if source not in present:
            shown = ", ".join(repr(s) for s in present if s is not None) or "(none)"
            raise QueryError(
                f"no events from source {source!r} in this range; sources present: {shown}"
            )
    return events, start, end


def _parse_when(value: When, name: str, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _aware(value, name)
    if isinstance(value, date):
        day = value + timedelta(days=1) if end else value
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return _parse_when(date.fromisoformat(text), name, end=end)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise QueryError(
                f"{name}: {value!r} is not a date (2026-10-01) or an ISO date-time "
                "(2026-10-01T09:00:00Z)"
            ) from None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise QueryError(f"{name}: expected a datetime, a date or an ISO string, got {value!r}")


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise QueryError(
            f"{name}={value.isoformat()} is a naive datetime; pass a timezone-aware one "
            "(e.g. datetime(..., tzinfo=UTC))"
        )
    return value.astimezone(UTC)


# ---------------------------------------------------------------------------------------
# well_formed: great-expectations on pandas, window by window


@dataclass(frozen=True)
class _Expectation:
    name: str
    description: str
    column: str  # the pandas column great-expectations checks
    shows: str  # the column an example shows as its value
    kind: str  # the great-expectations expectation class
    kwargs: dict[str, Any] = field(default_factory=dict)
    judges: str | None = None  # rows judged: non-null values of this column (None: all)


@dataclass
class _Tally:
    checked: int = 0
    bad: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


def _expectations(
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    config: ValidationConfig,
    *,
    partitions: bool,
) -> list[_Expectation]:
    in_set, between = "ExpectColumnValuesToBeInSet", "ExpectColumnValuesToBeBetween"
    out = [
        _Expectation(
            f"{c}_not_null",
            f"{c} is present (not null)",
            "_event_id_bytes" if c == "event_id" else c,
            c,
            "ExpectColumnValuesToNotBeNull",
        )
        for c in REQUIRED
    ]
    for column, vocabulary in (
        ("action", ACTIONS),
        ("status", STATUSES),
        ("actor_type", ACTOR_TYPES),
    ):
        out.append(
            _Expectation(
                f"{column}_in_vocabulary",
                f"{column}, when present, is one of: {', '.join(vocabulary)}",
                column,
                column,
                in_set,
                {"value_set": list(vocabulary)},
                judges=column,
            )
        )
    out.append(
        _Expectation(
            "ip_address_valid",
            "ip_address, when present, is a valid IPv4 or IPv6 address",
            "_ip_address_ok",
            "ip_address",
            in_set,
            {"value_set": [True]},
            judges="ip_address",
        )
    )
    limit = now + timedelta(seconds=config.future_tolerance_seconds)
    out.append(
        _Expectation(
            "timestamp_not_in_future",
            f"timestamp is not after now ({_fmt(now)}, {config.future_tolerance_seconds:g} s "
            "of clock skew allowed)",
            "timestamp",
            "timestamp",
            between,
            {"max_value": _naive(limit)},
            judges="timestamp",
        )
    )
    low = max(start, config.earliest) if start else config.earliest
    bounds: dict[str, Any] = {"min_value": _naive(low)}
    text = f"timestamp is on or after {_fmt(low)}"
    if end is not None:
        bounds.update(max_value=_naive(end), strict_max=True)
        text += f" and before {_fmt(end)}"
    out.append(
        _Expectation(
            "timestamp_in_range", text, "timestamp", "timestamp", between, bounds, "timestamp"
        )
    )
    if partitions:
        out.append(
            _Expectation(
                "timestamp_in_partition",
                "each event is stored in the date=YYYY-MM-DD partition of its timestamp's day",
                "_in_partition",
                "timestamp",
                in_set,
                {"value_set": [True]},
                judges="timestamp",
            )
        )
    out.append(
        _Expectation(
            "duration_ms_non_negative",
            "duration_ms, when present, is 0 or more",
            "duration_ms",
            "duration_ms",
            between,
            {"min_value": 0},
            judges="duration_ms",
        )
    )
    for column in ("before", "after"):
        out.append(
            _Expectation(
                f"{column}_is_json",
                f"{column}, when present, is valid JSON text",
                f"_{column}_ok",
                column,
                in_set,
                {"value_set": [True]},
                judges=column,
            )
        )
    return out


_GX_COLUMNS = (
    "event_id",
    "timestamp",
    "actor",
    "action",
    "status",
    "actor_type",
    "duration_ms",
    "ip_address",
    "before",
    "after",
    "source",
)


def _polars_well_formed(
    events: _Events, start: datetime | None, end: datetime | None, config: ValidationConfig
) -> list[Check]:
    """The well-formed checks computed in Polars: file schemas and global id uniqueness."""
    checks = [_unique_check(events, start, end, config)]
    if events.store is not None:
        checks.insert(0, _columns_check(events, start, end, config))
    return checks


def _well_formed(
    events: _Events,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    config: ValidationConfig,
    early: list[Check],
    batches: _Batches,
) -> list[Check]:
    """The great-expectations checks, merged in order with the Polars ones (``early``)."""
    checks = [c for c in early if c.name == "columns_present"]
    specs = _expectations(start, end, now, config, partitions=events.store is not None)
    tallies = _run_great_expectations(events, specs, batches, config)
    for spec in specs:
        tally = tallies[spec.name]
        checks.append(
            Check(
                name=spec.name,
                suite="well_formed",
                passed=tally.bad == 0,
                bad_count=tally.bad,
                unit="rows",
                checked=tally.checked,
                description=spec.description,
                engine="great_expectations",
                examples=tally.examples,
                summary=_rows_summary(tally.examples),
            )
        )
        if spec.name == "event_id_not_null":
            checks += [c for c in early if c.name == "event_id_unique"]
    return checks


def _columns_check(
    events: _Events, start: datetime | None, end: datetime | None, config: ValidationConfig
) -> Check:
    problems, total = events.problems(start, end)
    examples = []
    for p in problems[: config.examples]:
        example: dict[str, Any] = {"file": events.relative(p.file)}
        if p.error:
            example["error"] = p.error
        if p.missing:
            example["missing"] = list(p.missing)
        if p.mistyped:
            example["mistyped"] = [f"{c} is {f}, expected {w}" for c, f, w in p.mistyped]
        examples.append(example)
    return Check(
        name="columns_present",
        suite="well_formed",
        passed=not problems,
        bad_count=len(problems),
        unit="files",
        checked=total,
        description=(
            "every Parquet file is readable, has the required columns "
            f"({', '.join(REQUIRED)}) and dtypes castable to the schema"
        ),
        engine="polars",
        examples=examples,
        summary="; ".join(f"{p.file.name}: {p.text()}" for p in problems[:3]),
    )


def _import_great_expectations() -> Any:
    try:
        with warnings.catch_warnings():
            # great-expectations imports deprecated stdlib modules (sre_constants); its
            # warnings are not the caller's to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            import great_expectations as gx
            import pandas  # noqa: F401 - to_pandas needs it
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "great-expectations", "validation") from exc
    return gx


def _preload_great_expectations() -> threading.Thread:
    """Start importing great-expectations in a daemon thread; join it before use.

    A failed import is left for :func:`_import_great_expectations` to raise properly.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            _import_great_expectations()

    thread = threading.Thread(target=load, name="auditkit-import-gx", daemon=True)
    thread.start()
    return thread


class _Batches:
    """The windows as (Polars frame, pandas frame) pairs, prepared one ahead in a worker
    thread so that reading and converting the next window overlaps with validating this
    one (and the first one with importing great-expectations)."""

    def __init__(
        self,
        events: _Events,
        start: datetime | None,
        end: datetime | None,
        config: ValidationConfig,
        *,
        enabled: bool = True,
    ) -> None:
        self.events, self.start, self.end = events, start, end
        self.windows = list(events.windows(start, end, config.window_rows)) if enabled else []
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditkit-window")
        self.pending = self._submit(0)

    def _submit(self, k: int) -> Future[tuple[pl.DataFrame, Any]] | None:
        if k >= len(self.windows):
            return None
        return self.pool.submit(self._prepare, self.windows[k])

    def _prepare(self, window: list[Path] | tuple[int, int]) -> tuple[pl.DataFrame, Any]:
        frame = _window_frame(self.events, window, self.start, self.end)
        return frame, (_to_pandas(frame) if frame.height else None)

    def __iter__(self) -> Iterator[tuple[pl.DataFrame, Any]]:
        for k in range(len(self.windows)):
            assert self.pending is not None
            prepared = self.pending.result()
            self.pending = self._submit(k + 1)
            yield prepared

    def __enter__(self) -> _Batches:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _run_great_expectations(
    events: _Events,
    specs: list[_Expectation],
    batches: _Batches,
    config: ValidationConfig,
) -> dict[str, _Tally]:
    gx = _import_great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    tallies = {s.name: _Tally() for s in specs}
    by_name = {s.name: s for s in specs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        batch_definition = (
            context.data_sources.add_pandas("auditkit")
            .add_dataframe_asset("events")
            .add_batch_definition_whole_dataframe("window")
        )
        suite = context.suites.add(
            gx.ExpectationSuite(
                name="auditkit_well_formed",
                expectations=[
                    getattr(gx.expectations, s.kind)(
                        column=s.column, meta={"auditkit_check": s.name}, **s.kwargs
                    )
                    for s in specs
                ],
            )
        )
        result_format = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": max(config.examples, 1),
        }
        for frame, pandas_frame in batches:
            if frame.is_empty():
                continue
            judged = frame.select(
                [(pl.col(s.judges).count() if s.judges else pl.len()).alias(s.name) for s in specs]
            ).row(0, named=True)
            batch = batch_definition.get_batch(batch_parameters={"dataframe": pandas_frame})
            outcome = batch.validate(suite, result_format=result_format)
            for r in outcome.results:
                name = r.expectation_config.meta["auditkit_check"]
                if r.success is None or "unexpected_count" not in r.result:
                    info = r.exception_info or {}
                    raise AuditkitError(
                        f"great-expectations could not evaluate {name}: "
                        f"{info.get('exception_message') or info}"
                    )
                tally = tallies[name]
                spec = by_name[name]
                tally.checked += judged[name]
                tally.bad += int(r.result["unexpected_count"] or 0)
                for i in r.result.get("partial_unexpected_index_list") or []:
                    if len(tally.examples) >= config.examples:
                        break
                    tally.examples.append(_row_example(frame, int(i), spec.shows))
    if events.store is not None:
        _locate(events, [e for t in tallies.values() for e in t.examples])
    return tallies


def _locate(events: _Events, examples: list[dict[str, Any]]) -> None:
    """Add the store file holding each example row (looked up by id in its partition)."""
    by_day: dict[date, set[str]] = {}
    for example in examples:
        if example["event_id"] is not None and example["partition"] is not None:
            by_day.setdefault(example["partition"], set()).add(example["event_id"])
    where: dict[tuple[date, str], str] = {}
    files = events.files(None, None) if by_day else []
    for day, ids in by_day.items():
        paths = [p for p in files if p.parent.name == f"date={day}"]
        found = (
            events.scan(["event_id"], None, None, files=paths, misfiled=True, with_file=True)
            .filter(pl.col("event_id").is_in(sorted(ids)))
            .select("event_id", "_file")
            .collect()
        )
        for event_id, file in found.iter_rows():
            where.setdefault((day, event_id), file)
    for example in examples:
        example["file"] = where.get((example["partition"], example["event_id"]))


def _window_frame(
    events: _Events,
    window: list[Path] | tuple[int, int],
    start: datetime | None,
    end: datetime | None,
) -> pl.DataFrame:
    """One window's rows with the columns the expectations need.

    What is slow in pandas is computed here, on distinct values: IP validity
    (:func:`~auditkit.schema.invalid_ips`) and JSON validity (Polars' parser, then
    :mod:`json` for what it refuses). The id reaches pandas as its length in bytes,
    null exactly when the id is null: hashing a million id strings costs
    great-expectations seconds per window, and uniqueness is checked globally in Polars.
    """
    frame = events.scan_window(window, _GX_COLUMNS, start, end).collect()
    ts = pl.col("timestamp")
    return frame.with_columns(
        pl.col("event_id").str.len_bytes().alias("_event_id_bytes"),
        _none_of("ip_address", invalid_ips(frame.get_column("ip_address"))),
        *[_none_of(c, _invalid_json(frame.get_column(c))) for c in ("before", "after")],
        (ts.dt.date() == pl.col("_partition")).fill_null(True).alias("_in_partition"),
    )


def _none_of(column: str, bad: list[str]) -> pl.Expr:
    """``_{column}_ok``: true unless the value is one of ``bad`` (nothing to do if none)."""
    ok = ~pl.col(column).is_in(bad).fill_null(False) if bad else pl.lit(True)
    return ok.alias(f"_{column}_ok")


def _invalid_json(values: pl.Series) -> list[str]:
    """The distinct values that are not JSON text: Polars' parser first, then :mod:`json`
    for what it refuses (it also refuses a bare ``null``, huge numbers, lone surrogates)."""
    distinct = values.drop_nulls().unique()
    refused = distinct.filter(distinct.str.json_path_match("$").is_null())
    return [v for v in refused if not _is_json(v)]


_PANDAS_COLUMNS = (
    "_event_id_bytes",
    "timestamp",
    "actor",
    "action",
    "status",
    "actor_type",
    "duration_ms",
    "_ip_address_ok",
    "_in_partition",
    "_before_ok",
    "_after_ok",
)


#: What datetime64[ns] can hold; timestamps are clipped into it (still out of range).
_NS_RANGE = (datetime(1678, 1, 1), datetime(2261, 12, 31))


def _to_pandas(frame: pl.DataFrame) -> Any:
    """The one Polars → pandas conversion: text as categories, validity as plain bools.

    Timestamps go as naive UTC nanoseconds: a timezone-aware column costs pandas about a
    second per million rows, and great-expectations compares anything but
    datetime64[ns] value by value in Python. The expectations' bounds are naive UTC too.
    """
    text = ("actor", "action", "status", "actor_type")
    naive = pl.col("timestamp").dt.replace_time_zone(None).clip(*_NS_RANGE).dt.cast_time_unit("ns")
    return frame.select(
        [
            pl.col(c).cast(pl.Categorical)
            if c in text
            else naive
            if c == "timestamp"
            else pl.col(c)
            for c in _PANDAS_COLUMNS
        ]
    ).to_pandas()


def _naive(value: datetime) -> datetime:
    """A UTC datetime without its timezone, to compare with :func:`_to_pandas` columns."""
    return value.astimezone(UTC).replace(tzinfo=None)


def _row_example(frame: pl.DataFrame, index: int, shows: str) -> dict[str, Any]:
    row = frame.row(index, named=True)
    value = row.get(shows)
    if isinstance(value, str) and len(value) > 200:
        value = value[:200] + "…"
    return {
        "event_id": row["event_id"],
        "timestamp": row["timestamp"],
        "source": row["source"],
        "value": value,
        "partition": row["_partition"],
    }


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_json(text: str) -> bool:
    """Whether ``text`` is JSON per RFC 8259 (NaN and Infinity refused)."""
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return False
    return True


def _unique_check(
    events: _Events, start: datetime | None, end: datetime | None, config: ValidationConfig
) -> Check:
    duplicates, total = _duplicate_ids(events, start, end)
    extra = int((duplicates.get_column("copies") - 1).sum()) if duplicates.height else 0
    examples = [
        {
            "event_id": r["event_ids"][0],
            "copies": r["copies"],
            "timestamp": r["timestamp"],
            "source": r["source"],
            "files": r["files"],
        }
        for r in duplicates.head(config.examples).iter_rows(named=True)
    ]
    return Check(
        name="event_id_unique",
        suite="well_formed",
        passed=extra == 0,
        bad_count=extra,
        unit="rows",
        checked=total,
        description="event_id is unique across the whole range (every file and source)",
        engine="polars",
        examples=examples,
        details={"duplicated_ids": duplicates.height},
        summary="; ".join(f"{e['event_id']} ×{e['copies']}" for e in examples),
    )


def _duplicate_ids(
    events: _Events, start: datetime | None, end: datetime | None
) -> tuple[pl.DataFrame, int]:
    """Ids stored more than once: hash every id (cheap, global), then compare the ids of
    colliding hashes exactly."""
    hashes = events.hashes(start, end)
    candidates = hashes.group_by("i").len().filter(pl.col("len") > 1).get_column("i")
    frame = _duplicates_frame()
    if candidates.is_empty():
        return frame, hashes.height
    rows = (
        events.scan(
            ["event_id", "account", "actor", "action"], start, end, misfiled=True, with_file=True
        )
        .filter(pl.col("event_id").hash().is_in(candidates.implode()))
        .collect()
    )
    found = (
        rows.group_by("event_id")
        .agg(
            pl.len().alias("copies"),
            pl.col("timestamp").min(),
            pl.col("source").first(),
            pl.col("account").first(),
            pl.col("actor").first(),
            pl.col("action").first(),
            pl.col("_file").unique().sort().alias("files"),
        )
        .filter(pl.col("copies") > 1)
        .select(
            pl.lit("event_id").alias("kind"),
            pl.concat_list("event_id").alias("event_ids"),
            pl.col("copies").cast(pl.UInt32),
            "timestamp",
            "source",
            "account",
            "actor",
            "action",
            "files",
        )
        .sort("timestamp", "event_ids")
    )
    return pl.concat([frame, found], how="vertical_relaxed"), hashes.height


def _duplicates_frame() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "kind": pl.String(),
            "event_ids": pl.List(pl.String()),
            "copies": pl.UInt32(),
            "timestamp": _UTC,
            "source": pl.String(),
            "account": pl.String(),
            "actor": pl.String(),
            "action": pl.String(),
            "files": pl.List(pl.String()),
        }
    )


# ---------------------------------------------------------------------------------------
# complete: Polars, per group


def _complete(
    events: _Events,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    config: ValidationConfig,
) -> list[Check]:
    keys = list(config.group_by)
    grid, checked = _volume_grid(events, start, end, now, config)
    gaps = _gaps(grid, config)
    missing, days = _missing_days(events, start, end, now, config)
    late = _late_stats(events, start, end, config)
    groups = sorted(
        set(checked) | set(days) | set(late),
        key=lambda g: tuple((v is None, v or "") for v in g),
    )
    checks: list[Check] = []
    step = "hour" if config.granularity == "hour" else "day"
    for group in groups:
        label = dict(zip(keys, group, strict=True))
        mine = _in_group(gaps, keys, group).sort("start")
        windows = [
            {
                "start": r["start"],
                "end": r["end"],
                "expected": round(r["expected"], 1),
                "observed": r["observed"],
                "buckets": r["buckets"],
            }
            for r in mine.iter_rows(named=True)
        ]
        evaluated, unjudged = checked.get(group, (0, 0))
        checks.append(
            Check(
                name="volume_gaps",
                suite="complete",
                group=label,
                passed=not windows,
                bad_count=len(windows),
                unit="gaps",
                checked=evaluated,
                description=(
                    f"no {step} has fewer than {config.gap_ratio:g} × its baseline events, where "
                    f"the baseline is the lower median of the same {step} of the week over the "
                    "previous "
                    f"{config.baseline_weeks} weeks (at least {config.baseline_min_weeks} with "
                    f"data) and is at least {config.min_baseline:g}"
                ),
                engine="polars",
                examples=windows[: config.examples],
                details={
                    "granularity": config.granularity,
                    "buckets_judged": evaluated,
                    "buckets_without_baseline": unjudged,
                    "missing_events": round(sum(w["expected"] - w["observed"] for w in windows), 1),
                    "gaps": windows[: config.max_details],
                    "truncated": len(windows) > config.max_details,
                },
                summary="; ".join(
                    f"{_fmt(w['start'])} → {_fmt(w['end'])}: expected {w['expected']:g}, "
                    f"observed {w['observed']}"
                    for w in windows[:3]
                ),
            )
        )
        gone = _in_group(missing, keys, group).get_column("date").sort().to_list()
        ranges = _day_ranges(gone)
        checks.append(
            Check(
                name="missing_days",
                suite="complete",
                group=label,
                passed=not gone,
                bad_count=len(gone),
                unit="days",
                checked=days.get(group, 0),
                description=(
                    "every day from the group's first day in the range to the last full day "
                    "has at least one event"
                ),
                engine="polars",
                examples=ranges[: config.examples],
                details={
                    "ranges": ranges[: config.max_details],
                    "truncated": len(ranges) > config.max_details,
                },
                summary="; ".join(
                    f"{r['first']}"
                    + (f" → {r['last']} ({r['days']} days)" if r["days"] > 1 else "")
                    for r in ranges[:3]
                ),
            )
        )
        stats = late.get(group)
        if stats is not None:
            checks.append(stats.check(label, config))
    checks.append(_content_check(events, start, end, config))
    return checks


def _in_group(frame: pl.DataFrame, keys: list[str], group: tuple[Any, ...]) -> pl.DataFrame:
    condition = pl.lit(True)
    for key, value in zip(keys, group, strict=True):
        condition = condition & (pl.col(key).is_null() if value is None else pl.col(key) == value)
    return frame.filter(condition)


def _floor(value: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((value - epoch) // step) * step


def _ceil(value: datetime, step: timedelta) -> datetime:
    floor = _floor(value, step)
    return floor if floor == value else floor + step


def _volume_grid(
    events: _Events,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    config: ValidationConfig,
) -> tuple[pl.DataFrame, dict[tuple[Any, ...], tuple[int, int]]]:
    """Every bucket of every group with its observed count, baseline and flag.

    The history the baseline needs (``baseline_weeks`` before ``start``) is read too; a
    group's buckets start at its first event, so a group that began later is never
    judged before it existed.
    """
    keys = list(config.group_by)
    step = timedelta(hours=1) if config.granularity == "hour" else timedelta(days=1)
    every = "1h" if config.granularity == "hour" else "1d"
    counts = events.counts(start, end, config)
    schema = {
        **{k: _RELAXED[k] for k in keys},
        "bucket": _UTC,
        "events": pl.Int64(),
        "baseline": pl.Float64(),
        "history": pl.UInt32(),
        "judged": pl.Boolean(),
        "gap": pl.Boolean(),
    }
    if counts.is_empty():
        return pl.DataFrame(schema=schema), {}
    check_start = _ceil(start, step) if start else counts.get_column("bucket").min()
    last = counts.get_column("bucket").max()
    assert isinstance(check_start, datetime) and isinstance(last, datetime)
    check_end = min(_floor(end, step) if end else last + step, _floor(now, step))
    firsts = counts.group_by(keys).agg(pl.col("bucket").min().alias("first"))
    if check_end <= check_start:
        return pl.DataFrame(schema=schema), {}
    grid = (
        firsts.with_columns(
            pl.datetime_ranges(
                pl.col("first"),
                pl.lit(check_end - step).cast(_UTC),
                interval=every,
                closed="both",
                time_unit="us",
                time_zone="UTC",
            ).alias("bucket")
        )
        .explode("bucket")
        .drop_nulls("bucket")
        .drop("first")
        .join(counts, on=[*keys, "bucket"], how="left", nulls_equal=True)
        .with_columns(pl.col("events").fill_null(0))
    )
    lags = []
    for k in range(1, config.baseline_weeks + 1):
        shifted = grid.select(
            *keys, (pl.col("bucket") + k * _WEEK).alias("bucket"), pl.col("events").alias(f"_w{k}")
        )
        grid = grid.join(shifted, on=[*keys, "bucket"], how="left", nulls_equal=True)
        lags.append(f"_w{k}")
    # The baseline is the *lower* median of the weeks with data: with an even count it
    # takes the smaller middle value, so one burst among quiet weeks never sets it.
    past = pl.concat_list(lags).list.drop_nulls().list.sort()
    lower_median = past.list.get((past.list.len().cast(pl.Int64) - 1) // 2, null_on_oob=True)
    grid = (
        grid.with_columns(
            lower_median.cast(pl.Float64).alias("baseline"), past.list.len().alias("history")
        )
        .drop(lags)
        .filter(pl.col("bucket") >= check_start)
        .with_columns((pl.col("history") >= config.baseline_min_weeks).alias("judged"))
        .with_columns(
            (
                pl.col("judged")
                & (pl.col("baseline") >= config.min_baseline)
                & (pl.col("events") < config.gap_ratio * pl.col("baseline"))
            ).alias("gap")
        )
        .select(list(schema))
        .sort(*keys, "bucket")
    )
    summary = grid.group_by(keys).agg(
        pl.col("judged").sum().alias("judged"), (~pl.col("judged")).sum().alias("unjudged")
    )
    checked = {
        tuple(r[k] for k in keys): (int(r["judged"]), int(r["unjudged"]))
        for r in summary.iter_rows(named=True)
    }
    return grid, checked


def _gaps(grid: pl.DataFrame, config: ValidationConfig) -> pl.DataFrame:
    keys = list(config.group_by)
    step = timedelta(hours=1) if config.granularity == "hour" else timedelta(days=1)
    flagged = grid.filter(pl.col("gap")).sort(*keys, "bucket")
    run = (pl.col("bucket").diff() != step).fill_null(True).cum_sum()
    return (
        flagged.with_columns(run.over(keys).alias("_run"))
        .group_by(*keys, "_run")
        .agg(
            pl.col("bucket").min().alias("start"),
            (pl.col("bucket").max() + step).alias("end"),
            pl.col("baseline").sum().alias("expected"),
            pl.col("events").sum().alias("observed"),
            pl.len().cast(pl.UInt32).alias("buckets"),
        )
        .drop("_run")
        .sort(*keys, "start")
    )


def _missing_days(
    events: _Events,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    config: ValidationConfig,
) -> tuple[pl.DataFrame, dict[tuple[Any, ...], int]]:
    keys = list(config.group_by)
    counts = (
        events.counts(start, end, config)
        .group_by(*keys, pl.col("bucket").dt.date().alias("date"))
        .agg(pl.col("events").sum())
    )
    schema = {**{k: _RELAXED[k] for k in keys}, "date": pl.Date()}
    if counts.is_empty():
        return pl.DataFrame(schema=schema), {}
    day = timedelta(days=1)
    first = _ceil(start, day).date() if start else counts.get_column("date").min()
    last_day = counts.get_column("date").max()
    assert isinstance(first, date) and isinstance(last_day, date)
    stop = _floor(end, day).date() if end else last_day + day  # exclusive
    stop = min(stop, now.date())  # today is not over
    if stop <= first:
        return pl.DataFrame(schema=schema), {}
    grid = (
        counts.group_by(keys)
        .agg(pl.col("date").min().alias("first"))
        .with_columns(
            pl.date_ranges(
                pl.max_horizontal(pl.col("first"), pl.lit(first)), pl.lit(stop - day), "1d"
            ).alias("date")
        )
        .explode("date")
        .drop_nulls("date")
        .drop("first")
    )
    judged = grid.group_by(keys).len()
    days = {tuple(r[k] for k in keys): int(r["len"]) for r in judged.iter_rows(named=True)}
    missing = (
        grid.join(counts, on=[*keys, "date"], how="anti", nulls_equal=True)
        .select(list(schema))
        .sort(*keys, "date")
    )
    return missing, days


def _day_ranges(days: list[date]) -> list[dict[str, Any]]:
    ranges: list[dict[str, Any]] = []
    for day in days:
        if ranges and ranges[-1]["last"] + timedelta(days=1) == day:
            ranges[-1]["last"] = day
            ranges[-1]["days"] += 1
        else:
            ranges.append({"first": day, "last": day, "days": 1})
    return ranges


@dataclass
class _LateStats:
    rows: int
    not_ingested: int
    late: int
    percentiles: dict[str, float | None]
    histogram: list[dict[str, Any]]
    batches: list[dict[str, Any]]
    batch_count: int
    examples: list[dict[str, Any]]

    def check(self, group: dict[str, str | None], config: ValidationConfig) -> Check:
        return Check(
            name="late_arrivals",
            suite="complete",
            group=group,
            passed=self.late == 0,
            bad_count=self.late,
            unit="rows",
            checked=self.rows - self.not_ingested,
            description=(
                f"every event is stored within {config.late_after_hours:g} h of its timestamp "
                "(ingested_at − timestamp)"
            ),
            engine="polars",
            examples=self.examples,
            details={
                "threshold_hours": config.late_after_hours,
                "rows_without_ingested_at": self.not_ingested,
                "lag_seconds": self.percentiles,
                "histogram": self.histogram,
                "late_batches": self.batches,
                "late_batch_count": self.batch_count,
                "truncated": self.batch_count > len(self.batches),
            },
            summary="; ".join(
                f"{b['rows']:,} rows ingested {_fmt(b['ingested_at'])} "
                f"(timestamps {_fmt(b['first_timestamp'])} → {_fmt(b['last_timestamp'])})"
                for b in self.batches[:2]
            ),
        )


def _late_stats(
    events: _Events, start: datetime | None, end: datetime | None, config: ValidationConfig
) -> dict[tuple[Any, ...], _LateStats]:
    keys = list(config.group_by)
    threshold = config.late_after_hours * 3600.0
    seconds = (pl.col("ingested_at") - pl.col("timestamp")).dt.total_microseconds() / 1e6
    lf = (
        events.scan(["event_id", "timestamp", "ingested_at", *keys], start, end)
        .filter(pl.col("timestamp").is_not_null())
        .with_columns(seconds.alias("lag"))
    )
    label = pl.lit(_LAG_BUCKETS[-1][0])
    for name, upper in reversed(_LAG_BUCKETS[:-1]):
        assert upper is not None
        label = pl.when(pl.col("lag") < upper).then(pl.lit(name)).otherwise(label)
    late = lf.filter(pl.col("lag") > threshold)
    # one collect_all: the four queries share a single scan of the store
    overview, histogram, batches, examples = pl.collect_all(
        [
            lf.group_by(keys).agg(
                pl.len().alias("rows"),
                pl.col("ingested_at").is_null().sum().alias("not_ingested"),
                (pl.col("lag") > threshold).sum().alias("late"),
                *[
                    pl.col("lag").quantile(q, "nearest").alias(f"p{int(q * 100)}")
                    for q in (0.5, 0.9, 0.99)
                ],
                pl.col("lag").max().alias("max"),
            ),
            lf.filter(pl.col("lag").is_not_null())
            .group_by(*keys, label.alias("bucket"))
            .agg(pl.len().alias("rows")),
            late.group_by(*keys, "ingested_at")
            .agg(
                pl.len().alias("rows"),
                pl.col("timestamp").min().alias("first_timestamp"),
                pl.col("timestamp").max().alias("last_timestamp"),
                pl.col("lag").max().alias("max_lag_seconds"),
            )
            .sort(*keys, "ingested_at"),
            late.sort("timestamp", "event_id")
            .group_by(keys, maintain_order=True)
            .head(config.examples)
            .select(
                *keys, "event_id", "timestamp", "ingested_at", pl.col("lag").alias("lag_seconds")
            ),
        ]
    )
    order = [name for name, _ in _LAG_BUCKETS]
    out: dict[tuple[Any, ...], _LateStats] = {}
    for row in overview.iter_rows(named=True):
        group = tuple(row[k] for k in keys)
        counts = {
            r["bucket"]: r["rows"] for r in _in_group(histogram, keys, group).iter_rows(named=True)
        }
        mine = _in_group(batches, keys, group)
        out[group] = _LateStats(
            rows=int(row["rows"]),
            not_ingested=int(row["not_ingested"]),
            late=int(row["late"]),
            percentiles={
                "p50": row["p50"],
                "p90": row["p90"],
                "p99": row["p99"],
                "max": row["max"],
            },
            histogram=[{"lag": name, "rows": int(counts.get(name, 0))} for name in order],
            batches=mine.head(config.max_details).drop(keys).to_dicts(),
            batch_count=mine.height,
            examples=_in_group(examples, keys, group).drop(keys).to_dicts(),
        )
    return out


def _content_check(
    events: _Events, start: datetime | None, end: datetime | None, config: ValidationConfig
) -> Check:
    duplicates, total = _duplicate_content(events, start, end, config)
    extra = int((duplicates.get_column("copies") - 1).sum()) if duplicates.height else 0
    examples = [
        {
            "event_ids": r["event_ids"][:10],
            "copies": r["copies"],
            "timestamp": r["timestamp"],
            "source": r["source"],
            "actor": r["actor"],
            "action": r["action"],
        }
        for r in duplicates.head(config.examples).iter_rows(named=True)
    ]
    compared = [c for c in SCHEMA if c not in config.duplicate_ignore]
    return Check(
        name="duplicate_content",
        suite="complete",
        passed=extra == 0,
        bad_count=extra,
        unit="rows",
        checked=total,
        description=(
            "no event is stored twice under different ids (same " + ", ".join(compared) + ")"
        ),
        engine="polars",
        examples=examples,
        details={"duplicated_events": duplicates.height, "compared_columns": compared},
        summary="; ".join(
            f"{e['copies']} copies: {', '.join(e['event_ids'][:3])}" for e in examples[:3]
        ),
    )


def _duplicate_content(
    events: _Events, start: datetime | None, end: datetime | None, config: ValidationConfig
) -> tuple[pl.DataFrame, int]:
    """Events with distinct ids and identical content: hash each row's content (one
    streaming pass), then compare the rows of colliding hashes exactly."""
    content = [c for c in SCHEMA if c not in config.duplicate_ignore]
    events.content = tuple(content)
    hashes = events.hashes(start, end).filter(pl.col("inside")).unique("i")
    candidates = hashes.group_by("c").len().filter(pl.col("len") > 1).get_column("c")
    frame = _duplicates_frame()
    if candidates.is_empty():
        return frame, hashes.height
    rows = (
        events.scan([*content, "event_id"], start, end, with_file=True)
        .filter(
            pl.col("event_id").is_not_null(),
            pl.struct(content).hash().is_in(candidates.implode()),
        )
        .select(*content, "event_id", "_file")
        .collect()
        .unique("event_id", keep="first")
    )
    found = (
        rows.group_by(content)
        .agg(
            pl.len().alias("copies"),
            pl.col("event_id").sort().alias("event_ids"),
            pl.col("_file").drop_nulls().unique().sort().alias("files"),
        )
        .filter(pl.col("copies") > 1)
        .select(
            pl.lit("content").alias("kind"),
            "event_ids",
            pl.col("copies").cast(pl.UInt32),
            "timestamp",
            *[
                pl.col(c) if c in content else pl.lit(None, dtype=pl.String).alias(c)
                for c in ("source", "account", "actor", "action")
            ],
            "files",
        )
        .sort("timestamp", "event_ids")
    )
    return pl.concat([frame, found], how="vertical_relaxed"), hashes.height


# ---------------------------------------------------------------------------------------
# Rendering


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        if value.second == 0 and value.microsecond == 0:
            return value.strftime("%Y-%m-%d %H:%M")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _rows_summary(examples: list[dict[str, Any]]) -> str:
    parts = []
    for e in examples[:3]:
        value = e.get("value")
        shown = (
            "null" if value is None else repr(_fmt(value) if isinstance(value, datetime) else value)
        )
        parts.append(f"{e.get('event_id') or '(no id)'}: {shown}")
    return "; ".join(parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#1f2328}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em;width:100%}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.meta{color:#57606a}code{font-size:.95em}details{margin:.4em 0}details div{margin:.3em 0}
summary{cursor:pointer}.bar{background:#8c959f;height:.8em;display:inline-block}
"""


def _render_html(result: ValidationResult) -> str:
    e = html.escape
    verdict = (
        '<span class="pass">PASSED</span>'
        if result.passed
        else f'<span class="fail">FAILED</span> ({len(result.failed)} of '
        f"{len(result.checks)} checks)"
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>auditkit validation — {'passed' if result.passed else 'failed'}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Validation of {e(result.target)}: {verdict}</h1>",
        '<p class="meta">'
        f"{result.rows:,} events in {e(result._range_text())}; "
        f"suites: {e(', '.join(result.suites))}; "
        f"now = {e(_fmt(result.now))} UTC; took {result.seconds:.1f} s.</p>",
        "<h2>Checks</h2>",
        "<table><tr><th>suite</th><th>check</th><th>group</th><th>result</th>"
        "<th>bad</th><th>checked</th><th>what is expected</th></tr>",
    ]
    for i, c in enumerate(result.checks):
        mark = '<span class="pass">pass</span>' if c.passed else '<span class="fail">FAIL</span>'
        parts.append(
            f'<tr><td>{e(c.suite)}</td><td><a href="#c{i}"><code>{e(c.name)}</code></a></td>'
            f"<td>{e(c.group_label)}</td><td>{mark}</td>"
            f'<td class="n">{c.bad_count:,} {e(c.unit) if c.bad_count else ""}</td>'
            f'<td class="n">{c.checked:,}</td><td>{e(c.description)}</td></tr>'
        )
    parts.append("</table>")
    for title, wanted in (("Failed checks", False), ("Passed checks", True)):
        chosen = [(i, c) for i, c in enumerate(result.checks) if c.passed == wanted]
        if not chosen:
            continue
        parts.append(f"<h2>{title}</h2>")
        for i, c in chosen:
            group = f" — {e(c.group_label)}" if c.group else ""
            parts.append(
                f'<details id="c{i}"{"" if c.passed else " open"}><summary><code>{e(c.name)}</code>'
                f"{group}: {c.bad_count:,} {e(c.unit)} of {c.checked:,} checked "
                f"({e(c.engine)})</summary><p>{e(c.description)}</p>"
            )
            if c.examples:
                parts.append("<div><b>examples</b>:" + _html_table(c.examples) + "</div>")
            for key, value in c.details.items():
                parts.append(f"<div><b>{e(key)}</b>: {_html_value(key, value)}</div>")
            parts.append("</details>")
    parts.append(
        "<h2>Settings</h2><table>"
        + "".join(
            f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>"
            for k, v in result.config.to_dict().items()
        )
        + "</table>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_value(key: str, value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if key == "histogram":
            top = max(int(v["rows"]) for v in value) or 1
            rows = "".join(
                f'<tr><td>{html.escape(str(v["lag"]))}</td><td class="n">{v["rows"]:,}</td>'
                f'<td><span class="bar" style="width:{300 * int(v["rows"]) // top}px">'
                "</span></td></tr>"
                for v in value
            )
            return f"<table><tr><th>lag</th><th>rows</th><th></th></tr>{rows}</table>"
        return _html_table(value)
    if isinstance(value, dict):
        return ", ".join(
            f"{html.escape(str(k))} = {html.escape(_cell(v))}" for k, v in value.items()
        )
    if isinstance(value, list):
        return html.escape(", ".join(_cell(v) for v in value)) or "(none)"
    return html.escape(_cell(value))


def _html_table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, datetime | date):
        return _fmt(value)
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)
