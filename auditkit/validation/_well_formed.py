"""The well_formed suite: great-expectations on pandas, window by window."""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.errors import AuditkitError, MissingDependencyError
from auditkit.schema import ACTIONS, ACTOR_TYPES, REQUIRED, STATUSES, invalid_ips
from auditkit.validation._config import ValidationConfig
from auditkit.validation._events import _UTC, _Events
from auditkit.validation._html import _fmt, _rows_summary
from auditkit.validation._result import Check


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
