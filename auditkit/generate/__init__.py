"""Seeded, deterministic generator of realistic platform activity.

:func:`generate` makes ``n`` events of the data platform's Activity Logs (notebooks,
experiments, pipelines, databases, collections, queries, reports, users, teams,
permissions) in the canonical schema; :func:`iter_generate` makes the same events in
batches so ten million of them fit in flat memory; :func:`write` writes events as the
platform's exports (JSON Lines, JSON, CSV, short CSV), Parquet, or AWS CloudTrail records.

Everything is vectorized: small pools (people, resources, before/after templates, detail
texts, error messages) are built once per call, then every event picks from them by
random index. The same arguments always give the same frame. See ``docs/generate.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.errors import GenerateError
from auditkit.generate._cloudtrail import _write_cloudtrail
from auditkit.generate._columns import _batches, _chunks
from auditkit.generate._plan import DEFAULT_END, _plan
from auditkit.generate._writers import (
    FORMATS,
    _write_csv,
    _write_csv_short,
    _write_json,
    _write_jsonl,
    _write_parquet,
)
from auditkit.schema import SCHEMA, conform, empty

__all__ = ["DEFAULT_END", "FORMATS", "GenerateError", "generate", "iter_generate", "write"]


def generate(
    n: int,
    *,
    seed: int = 0,
    end: datetime | None = None,
    days: int = 90,
    users: int | None = None,
) -> pl.DataFrame:
    """Make ``n`` realistic platform activity events.

    Args:
        n: number of events.
        seed: any int; the same arguments always give the same frame.
        end: timezone-aware end of the window (exclusive); defaults to :data:`DEFAULT_END`
            (2026-11-01T00:00Z), never the wall clock.
        days: length of the window in days.
        users: number of people; defaults to ``min(5000, max(50, n // 200))``.

    Returns:
        A frame in the canonical schema (:data:`auditkit.schema.SCHEMA`), sorted by
        timestamp; ``ingested_at`` is when a log pipeline would have delivered each event
        (a few seconds to minutes later, median 20 s, never more than an hour), so a
        generated store passes ``auditkit validate``'s late-arrival check.

    Raises:
        GenerateError: an argument is out of range.

    Example:
        >>> events = generate(1_000, seed=7)
        >>> events.height, events["timestamp"].is_sorted()
        (1000, True)
    """
    plan = _plan(n, seed, end, days, users)
    if n == 0:
        return empty()
    frames = list(_chunks(plan))
    return (pl.concat(frames) if len(frames) > 1 else frames[0]).rechunk()


def iter_generate(
    n: int,
    *,
    seed: int = 0,
    end: datetime | None = None,
    days: int = 90,
    users: int | None = None,
    batch_size: int = 1_000_000,
) -> Iterator[pl.DataFrame]:
    """Make the same events as :func:`generate`, ``batch_size`` rows at a time.

    Memory stays flat however large ``n`` is. The batches are in timestamp order and,
    put together, equal ``generate(n, ...)`` with the same arguments, whatever the
    batch size.

    Args:
        n: number of events.
        seed: see :func:`generate`.
        end: see :func:`generate`.
        days: see :func:`generate`.
        users: see :func:`generate`.
        batch_size: rows per batch (the last one may be shorter).

    Returns:
        An iterator of frames in the canonical schema.

    Raises:
        GenerateError: an argument is out of range (raised at the call, not at the first
            batch).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise GenerateError(f"batch_size must be a positive int, got {batch_size!r}")
    plan = _plan(n, seed, end, days, users)
    return _batches(plan, batch_size)


def write(frame_or_batches: pl.DataFrame | Iterable[pl.DataFrame], path: Path, format: str) -> Path:
    """Write events to ``path`` in one of :data:`FORMATS`, streaming batch by batch.

    Formats:
        ``jsonl``: the platform's JSON Lines export, one flat object per line, canonical
        column names, timestamps as ``2026-10-31T23:59:59.123456Z``, nulls as null.
        ``json``: the same objects as one JSON array. ``csv``: every canonical column with
        a header. ``csv-short``: the platform's short CSV export, header
        ``timestamp,user,action,resource,status,ip_address`` with ``resource`` as
        ``{resource_type}:{resource_name}``. ``parquet``: the canonical schema.
        ``cloudtrail``: one AWS CloudTrail record per line, derived from each event.
        ``ingested_at`` is written null: the store sets it when the file is ingested.

    Args:
        frame_or_batches: a frame, or an iterable of frames (e.g. :func:`iter_generate`),
            in the canonical schema. An iterator is consumed once and never held whole.
        path: the file to write; its folder must exist. It is replaced atomically.
        format: one of :data:`FORMATS`.

    Returns:
        ``path``.

    Raises:
        GenerateError: unknown format.
        SchemaError: a batch does not match the canonical schema.
    """
    if format not in FORMATS:
        raise GenerateError(
            f"unknown format {format!r}; valid formats: {', '.join(FORMATS)}",
        )
    path = Path(path)
    batches: Iterable[pl.DataFrame] = (
        [frame_or_batches] if isinstance(frame_or_batches, pl.DataFrame) else frame_or_batches
    )
    # An export is what a platform hands over: when auditkit stores it is not in it.
    stored_at = pl.lit(None, SCHEMA["ingested_at"]).alias("ingested_at")
    conformed = (conform(b).with_columns(stored_at) for b in batches)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        if format == "parquet":
            _write_parquet(conformed, tmp)
        else:
            with open(tmp, "wb") as fh:
                _WRITERS[format](conformed, fh)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


_WRITERS: dict[str, Callable[[Iterable[pl.DataFrame], Any], None]] = {
    "jsonl": _write_jsonl,
    "json": _write_json,
    "csv": _write_csv,
    "csv-short": _write_csv_short,
    "cloudtrail": _write_cloudtrail,
}
