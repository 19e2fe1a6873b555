"""Shared fixtures: a deterministic event factory and the real third-party samples."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditkit.schema import SCHEMA, conform

MakeEvents = Callable[..., pl.DataFrame]

_ACTORS = ("alice@example.com", "bob@example.com", "ak_7f3a", "svc-etl", "carol@example.com")
_ACTOR_TYPES = ("user", "user", "api_key", "service_account", "user")
_ACTIONS = ("created", "updated", "deleted", "viewed", "executed", "shared", "exported")
_RESOURCES = ("notebook", "experiment", "pipeline", "database", "report")
_STATUSES = ("success", "success", "success", "failed", "in_progress", "pending")

#: Where :func:`make_events` starts by default (timestamps go forward from here).
DEFAULT_START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def build_events(
    n: int = 10,
    *,
    start: datetime = DEFAULT_START,
    step: timedelta = timedelta(minutes=7, seconds=13),
    prefix: str = "evt",
    **overrides: Any,
) -> pl.DataFrame:
    """``n`` canonical events, deterministic: the same arguments give the same frame.

    Event ``i`` happens at ``start + i * step`` and has id ``f"{prefix}_{i:08d}"``. Each
    keyword in ``overrides`` names a schema column and gives either one value for every
    row or a list of ``n`` values.
    """
    unknown = sorted(set(overrides) - set(SCHEMA))
    if unknown:
        raise TypeError(f"make_events: not schema columns: {unknown}")
    k = pl.col("k")

    def cycle(values: tuple[str, ...]) -> pl.Expr:
        return (k % len(values)).replace_strict(dict(enumerate(values)), return_dtype=pl.String)

    frame = pl.select(k=pl.int_range(0, n, dtype=pl.Int64)).select(
        event_id=pl.lit(prefix + "_") + k.cast(pl.String).str.zfill(8),
        timestamp=pl.lit(start).cast(SCHEMA["timestamp"])
        + pl.duration(microseconds=k * (step // timedelta(microseconds=1))),
        actor=cycle(_ACTORS),
        actor_type=cycle(_ACTOR_TYPES),
        action=cycle(_ACTIONS),
        operation=cycle(_RESOURCES) + pl.lit(".") + cycle(_ACTIONS),
        resource_type=cycle(_RESOURCES),
        resource_id=pl.lit("res_") + (k % 13).cast(pl.String).str.zfill(3),
        resource_name=cycle(_RESOURCES) + pl.lit(" ") + (k % 13).cast(pl.String),
        status=cycle(_STATUSES),
        ip_address=pl.format("10.0.{}.{}", k % 7, k % 251 + 1),
        duration_ms=(k % 500).cast(pl.Float64),
        source=pl.lit("native"),
        account=pl.lit("acme"),
    )
    replaced = {}
    for name, value in overrides.items():
        dtype = pl.String() if isinstance(SCHEMA[name], pl.Enum) else SCHEMA[name]
        if isinstance(value, list | tuple | pl.Series):
            if len(value) != n:
                raise ValueError(f"make_events: {name} has {len(value)} values for n={n}")
            replaced[name] = pl.Series(name, list(value), dtype=dtype)
        else:
            replaced[name] = pl.Series(name, [value] * n, dtype=dtype)
    return conform(frame.with_columns(**replaced))


@pytest.fixture
def make_events() -> MakeEvents:
    """Factory: ``make_events(n=10, start=..., step=..., prefix="evt", **column_overrides)``."""
    return build_events


@pytest.fixture
def realdata() -> Path:
    """The real third-party audit-log samples beside the checkout (skip when absent)."""
    path = Path(__file__).resolve().parents[2] / "shared" / "realdata"
    if not path.is_dir():
        pytest.skip(f"real data samples not found at {path}")
    return path
