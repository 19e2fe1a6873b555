"""Altair chart builders for the explorer and the reports.

Each chart has two halves: a Polars aggregation (``*_data``) that reduces any number of
events to a few hundred rows, tested on its own, and a builder that returns an
``alt.Chart`` and never displays it. No chart ships raw events (Altair refuses more than
5,000 rows anyway).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from auditkit.errors import MissingDependencyError, QueryError
from auditkit.schema import STATUSES

if TYPE_CHECKING:
    import altair as alt

#: Status colours used everywhere a status is shown.
STATUS_COLORS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "in_progress": "#1565c0",
    "pending": "#9e9e9e",
}
_MAX_BUCKETS = 400


def _altair() -> Any:
    try:
        import altair as alt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("altair", "explorer") from exc
    return alt


def pick_interval(frame: pl.LazyFrame | pl.DataFrame, max_buckets: int = _MAX_BUCKETS) -> str:
    """A bucket size giving at most ``max_buckets`` buckets over the frame's time span."""
    span = (
        frame.lazy()
        .select((pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span"))
        .collect()
        .item()
    )
    if span is None:
        return "1h"
    for interval, size in (
        ("1m", timedelta(minutes=1)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("6h", timedelta(hours=6)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
    ):
        if span / size <= max_buckets:
            return interval
    return "1mo"


# -- aggregations (plain Polars; what the charts show) ------------------------------------


def volume_data(frame: pl.LazyFrame | pl.DataFrame, interval: str | None = None) -> pl.DataFrame:
    """Event counts per time bucket and status: columns ``bucket, status, events``."""
    interval = interval or pick_interval(frame)
    return (
        frame.lazy()
        .group_by(
            pl.col("timestamp").dt.truncate(interval).alias("bucket"),
            pl.col("status").cast(pl.String),
        )
        .agg(pl.len().alias("events"))
        .sort("bucket", "status")
        .collect()
    )


def failures_data(frame: pl.LazyFrame | pl.DataFrame, interval: str | None = None) -> pl.DataFrame:
    """Failed events per time bucket: columns ``bucket, failures``."""
    interval = interval or pick_interval(frame)
    return (
        frame.lazy()
        .filter(pl.col("status") == "failed")
        .group_by(pl.col("timestamp").dt.truncate(interval).alias("bucket"))
        .agg(pl.len().alias("failures"))
        .sort("bucket")
        .collect()
    )


def top_data(frame: pl.LazyFrame | pl.DataFrame, column: str, n: int = 10) -> pl.DataFrame:
    """The ``n`` most frequent values of a column with their counts (ties broken by value).

    ``resource`` is ``type:name`` (the id where there is no name); it is counted per
    (type, name) first and labelled after, so a million rows build a few thousand labels.
    """
    if column == "resource":
        name = pl.coalesce("resource_name", "resource_id")
        counts = (
            frame.lazy()
            .group_by(pl.col("resource_type").cast(pl.String), name.alias("_name"))
            .agg(pl.len().alias("events"))
            .select(
                pl.concat_str(
                    pl.col("resource_type").fill_null("?"),
                    pl.col("_name").fill_null(""),
                    separator=":",
                ).alias(column),
                "events",
            )
            .group_by(column)  # two (type, name) pairs may print alike
            .agg(pl.col("events").sum())
        )
    else:
        counts = (
            frame.lazy()
            .filter(pl.col(column).is_not_null())
            .group_by(column)
            .agg(pl.len().alias("events"))
        )
    return (
        counts.filter(pl.col(column).is_not_null())
        .sort(["events", column], descending=[True, False])
        .head(n)
        .collect()
    )


def heatmap_data(frame: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Counts per day and hour of day (UTC): columns ``day, hour, events``."""
    return (
        frame.lazy()
        .group_by(
            pl.col("timestamp").dt.date().alias("day"),
            pl.col("timestamp").dt.hour().alias("hour"),
        )
        .agg(pl.len().alias("events"))
        .sort("day", "hour")
        .collect()
    )


# -- charts ----------------------------------------------------------------------------


def volume_chart(
    frame: pl.LazyFrame | pl.DataFrame, interval: str | None = None, *, width: int = 640
) -> alt.Chart:
    """Stacked bars of events over time, coloured by status."""
    alt = _altair()
    data = volume_data(frame, interval)
    return (
        alt.Chart(data, title="Events over time by status")
        .mark_bar()
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y("sum(events):Q", title="events"),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=list(STATUSES), range=[STATUS_COLORS[s] for s in STATUSES]),
            ),
            tooltip=["bucket:T", "status:N", "events:Q"],
        )
        .properties(width=width, height=180)
    )


def failures_chart(
    frame: pl.LazyFrame | pl.DataFrame, interval: str | None = None, *, width: int = 640
) -> alt.Chart:
    """Failures over time."""
    alt = _altair()
    data = failures_data(frame, interval)
    return (
        alt.Chart(data, title="Failures over time")
        .mark_area(color=STATUS_COLORS["failed"], opacity=0.7, interpolate="step-after")
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y("failures:Q"),
            tooltip=["bucket:T", "failures:Q"],
        )
        .properties(width=width, height=140)
    )


def top_chart(
    frame: pl.LazyFrame | pl.DataFrame, column: str, n: int = 10, *, title: str | None = None
) -> alt.Chart:
    """Horizontal bars of the most frequent values of ``column`` (e.g. actor, resource)."""
    if column not in (
        "actor",
        "resource",
        "resource_name",
        "action",
        "operation",
        "ip_address",
        "error_message",
    ):
        raise QueryError(f"cannot chart top values of {column!r}")
    alt = _altair()
    data = top_data(frame, column, n)
    return (
        alt.Chart(data, title=title or f"Top {column.replace('_', ' ')}s")
        .mark_bar(color="#455a64")
        .encode(
            y=alt.Y(f"{column}:N", sort="-x", title=None),
            x=alt.X("events:Q"),
            tooltip=[f"{column}:N", "events:Q"],
        )
        .properties(width=300, height=alt.Step(16))
    )


def heatmap_chart(frame: pl.LazyFrame | pl.DataFrame) -> alt.Chart:
    """Volume heat map: day × hour of day."""
    return grid_chart(heatmap_data(frame))


def grid_chart(
    data: pl.DataFrame, *, title: str = "Events per day and hour (UTC)", row: str = "day"
) -> alt.Chart:
    """A heat map of counts already aggregated per ``row`` (a date) and ``hour``.

    ``data`` has columns ``row``, ``hour`` and ``events``; hours with no events are
    drawn in grey when they are present as zero rows. A boolean ``gap`` column, when
    present, outlines those cells in red (the windows a completeness check flagged).
    """
    alt = _altair()
    day = alt.Y(f"utcyearmonthdate({row}):O", title=None, axis=alt.Axis(format="%a %d %b"))
    base = alt.Chart(data, title=title).encode(x=alt.X("hour:O", title="hour"), y=day)
    rows = data.get_column(row).n_unique() if row in data.columns else 0
    empty = alt.datum.events == 0
    cells = base.mark_rect().encode(
        color=alt.condition(
            empty,
            alt.value("#e0e0e0"),
            alt.Color("events:Q", scale=alt.Scale(scheme="blues"), title="events"),
        ),
        tooltip=[alt.Tooltip(f"{row}:T", format="%Y-%m-%d"), "hour:O", "events:Q"],
    )
    layers = [cells]
    if "gap" in data.columns:
        layers.append(
            base.transform_filter(alt.datum.gap).mark_rect(
                fill=None, stroke=STATUS_COLORS["failed"], strokeWidth=2
            )
        )
    chart = alt.layer(*layers) if len(layers) > 1 else cells
    return chart.properties(width=480, height=alt.Step(12 if rows > 40 else 16))


def lag_chart(data: pl.DataFrame) -> alt.Chart:
    """Bars of how long events took to be stored: columns ``lag`` (labels in order) and
    ``rows``."""
    alt = _altair()
    order = data.get_column("lag").to_list()
    return (
        alt.Chart(data, title="Delay between an event and its storage (ingested_at − timestamp)")
        .mark_bar(color="#455a64")
        .encode(
            x=alt.X("lag:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("rows:Q", title="events"),
            tooltip=["lag:N", "rows:Q"],
        )
        .properties(width=480, height=160)
    )
