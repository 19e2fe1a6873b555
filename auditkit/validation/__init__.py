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

This package is the one place that imports great-expectations and converts Polars frames
to pandas (both in ``_well_formed``). Definitions and thresholds: ``docs/validation.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from auditkit.errors import QueryError
from auditkit.schema import SCHEMA
from auditkit.store import Store
from auditkit.validation._complete import (
    _complete,
    _duplicate_content,
    _gaps,
    _missing_days,
    _volume_grid,
)
from auditkit.validation._config import ValidationConfig, ValidationConfigError
from auditkit.validation._events import Events, When, _aware, _prepare
from auditkit.validation._result import Check, ValidationResult
from auditkit.validation._well_formed import (
    _Batches,
    _duplicate_ids,
    _polars_well_formed,
    _preload_great_expectations,
    _well_formed,
)

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
