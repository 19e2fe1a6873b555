"""The complete suite, in Polars, per source and account: volume gaps, missing days,
events duplicated under new ids, late arrivals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from auditkit.schema import SCHEMA
from auditkit.validation._config import ValidationConfig
from auditkit.validation._events import _RELAXED, _UTC, _WEEK, _Events
from auditkit.validation._html import _fmt
from auditkit.validation._result import Check
from auditkit.validation._well_formed import _duplicates_frame

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
