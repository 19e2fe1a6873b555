"""The aggregations report sections show, as plain Polars (tested without a kernel).

Each function takes canonical events (a DataFrame or LazyFrame, any number of rows) and
returns a small DataFrame, sorted explicitly.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl
from polars.lazyframe.group_by import LazyGroupBy

__all__ = [
    "COLUMNS",
    "daily_status",
    "failure_groups",
    "failures_by",
    "large_exports",
    "local_time",
    "permission_changes",
    "summary",
    "top_with_previous",
]

#: The columns most sections need: everything but the large text (details, before/after
#: state, attributes, user agent), so a report holds a year of events in memory cheaply.
COLUMNS: tuple[str, ...] = (
    "event_id",
    "timestamp",
    "actor",
    "actor_type",
    "action",
    "operation",
    "resource_type",
    "resource_id",
    "resource_name",
    "status",
    "ip_address",
    "error_message",
    "source",
)

Frame = pl.DataFrame | pl.LazyFrame
F = TypeVar("F", pl.DataFrame, pl.LazyFrame)

_PUBLIC_FIELDS = ("visibility", "classification", "access", "privacy")
_MEMBER_OPS = r"add_member|remove_member|member\.add|member\.remove"
_PUBLIC_OPS = r"make_public|publicize|set_public|visibility"
_MEMBERSHIP = f"(?i)({_MEMBER_OPS})"
_PUBLIC_OPERATIONS = f"(?i)({_PUBLIC_OPS})"
_OPERATIONS = f"(?i)({_MEMBER_OPS}|{_PUBLIC_OPS})"


def resource_label() -> pl.Expr:
    """``type:name`` (or ``type:id``), the way exports and charts show a resource."""
    return pl.concat_str(
        pl.col("resource_type").fill_null("?"),
        pl.coalesce("resource_name", "resource_id").fill_null(""),
        separator=":",
    )


def local_time(frame: F, tz: str) -> F:
    """``timestamp`` as naive wall time in ``tz`` (day buckets and charts in local days)."""
    return frame.with_columns(
        pl.col("timestamp").dt.convert_time_zone(tz).dt.replace_time_zone(None)
    )


def _json_field(column: str, name: str) -> pl.Expr:
    return pl.col(column).str.json_path_match(f"$.{name}")


def _made_public() -> pl.Expr:
    became = [
        (_json_field("after", f).str.to_lowercase() == "public")
        & (_json_field("before", f).fill_null("").str.to_lowercase() != "public")
        & pl.col("before").is_not_null()
        for f in _PUBLIC_FIELDS
    ]
    grantee = pl.col("attributes").str.json_path_match("$.grantee").fill_null("")
    to_public = (pl.col("action") == "shared") & grantee.str.contains(
        "(?i)^(public|anyone|allusers|all users|everyone)$"
    )
    operation = pl.col("operation").fill_null("").str.contains(_PUBLIC_OPERATIONS) & (
        pl.col("action") != "viewed"
    )
    return pl.any_horizontal([*became, to_public, operation]).fill_null(False)


def _role_changed() -> pl.Expr:
    before, after = _json_field("before", "role"), _json_field("after", "role")
    return (
        (pl.col("action") == "updated")
        & pl.col("before").is_not_null()
        & pl.col("after").is_not_null()
        & (before.fill_null("") != after.fill_null(""))
    ).fill_null(False)


def _maybe_permission_change() -> pl.Expr:
    """A cheap test every permission change passes (the JSON is parsed only for these)."""
    operation = pl.col("operation").fill_null("")
    after = pl.col("after").fill_null("")
    return (
        pl.col("action").is_in(["shared", "revoked"])
        | (
            (pl.col("resource_type") == "permission")
            & pl.col("action").is_in(["updated", "created", "deleted"])
        )
        | operation.str.contains(_OPERATIONS)
        | (
            pl.col("before").is_not_null()
            & (after.str.contains("role", literal=True) | after.str.contains("(?i)public"))
        )
    ).fill_null(False)


def permission_change_kind() -> pl.Expr:
    """``made public``, ``grant``, ``revocation``, ``role change`` or ``membership``;
    null for events that change no access."""
    operation = pl.col("operation").fill_null("")
    membership = operation.str.contains(_MEMBERSHIP)
    return (
        pl.when(_made_public())
        .then(pl.lit("made public"))
        .when(pl.col("action") == "shared")
        .then(pl.lit("grant"))
        .when(pl.col("action") == "revoked")
        .then(pl.lit("revocation"))
        .when(membership)
        .then(pl.lit("membership"))
        .when(
            (
                (pl.col("resource_type") == "permission")
                & pl.col("action").is_in(["updated", "created", "deleted"])
            )
            | _role_changed()
        )
        .then(pl.lit("role change"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def permission_changes(frame: Frame) -> pl.DataFrame:
    """Grants, revocations, role and membership changes and resources made public, newest
    first: ``timestamp, kind, actor, operation, resource, details, status``."""
    return (
        frame.lazy()
        .filter(_maybe_permission_change())
        .with_columns(permission_change_kind().alias("kind"))
        .filter(pl.col("kind").is_not_null())
        .select(
            "timestamp",
            "kind",
            "actor",
            "operation",
            resource_label().alias("resource"),
            "details",
            pl.col("status").cast(pl.String),
            "event_id",
        )
        .sort(["timestamp", "event_id"], descending=True)
        .collect()
    )


def large_exports(frame: Frame, min_rows: int) -> pl.DataFrame:
    """Exports of at least ``min_rows`` rows (``attributes.rows``), largest first."""
    rows = pl.col("attributes").str.json_path_match("$.rows").cast(pl.Int64, strict=False)
    size = pl.col("attributes").str.json_path_match("$.bytes").cast(pl.Int64, strict=False)
    return (
        frame.lazy()
        .filter(pl.col("action") == "exported")
        .filter(rows >= min_rows)
        .select(
            "timestamp",
            "actor",
            resource_label().alias("resource"),
            rows.alias("rows"),
            size.alias("bytes"),
            pl.col("attributes").str.json_path_match("$.format").alias("format"),
            pl.col("status").cast(pl.String),
            "event_id",
        )
        .sort(["rows", "timestamp", "event_id"], descending=[True, True, True])
        .collect()
    )


def summary(frame: Frame, *, min_export_rows: int = 10_000) -> dict[str, int | float | None]:
    """Headline numbers: events, failed, failure rate (%), users, resources, permission
    changes, exports, large exports."""
    lazy = frame.lazy()
    rows = pl.col("attributes").str.json_path_match("$.rows").cast(pl.Int64, strict=False)
    counts = lazy.select(
        pl.len().alias("events"),
        (pl.col("status") == "failed").sum().alias("failed"),
        pl.col("actor").drop_nulls().n_unique().alias("users"),
        resource_label().n_unique().alias("resources"),
    )
    changes = lazy.filter(_maybe_permission_change()).select(
        permission_change_kind().is_not_null().sum().alias("permission changes")
    )
    exports = lazy.filter(pl.col("action") == "exported").select(
        pl.len().alias("exports"),
        (rows >= min_export_rows).fill_null(False).sum().alias("large exports"),
    )
    out = pl.concat(pl.collect_all([counts, changes, exports]), how="horizontal").row(0, named=True)
    events = out["events"]
    result: dict[str, int | float | None] = {k: int(v or 0) for k, v in out.items()}
    result["failure rate (%)"] = round(100 * out["failed"] / events, 2) if events else None
    return result


def daily_status(frame: Frame) -> pl.DataFrame:
    """Events per day and status, one row per day (``day, success, failed, in_progress,
    pending, total``), oldest first; ``timestamp`` should already be local time."""
    from auditkit.schema import STATUSES

    counts = (
        frame.lazy()
        .group_by(pl.col("timestamp").dt.date().alias("day"))
        .agg(
            *[(pl.col("status") == s).sum().alias(s) for s in STATUSES],
            pl.len().alias("total"),
        )
        .sort("day")
        .collect()
    )
    return counts.with_columns(pl.col(s).cast(pl.Int64) for s in (*STATUSES, "total"))


def top_with_previous(frame: Frame, previous: Frame, column: str, n: int = 10) -> pl.DataFrame:
    """The ``n`` most active values of ``column`` (``actor`` or ``resource``) with their
    events, failures, and events in the period before."""
    key = resource_label() if column == "resource" else pl.col(column)

    def counts(f: Frame) -> LazyGroupBy:
        return f.lazy().filter(key.is_not_null()).group_by(key.alias(column))

    now = counts(frame).agg(
        pl.len().alias("events"), (pl.col("status") == "failed").sum().alias("failed")
    )
    before = counts(previous).agg(pl.len().alias("before"))
    return (
        now.sort(["events", column], descending=[True, False])
        .head(n)
        .join(before, on=column, how="left")
        .with_columns(pl.col("before").fill_null(0), pl.col("failed").cast(pl.Int64))
        .sort(["events", column], descending=[True, False])
        .collect()
    )


def failure_groups(frame: Frame) -> pl.DataFrame:
    """Failures grouped by error message: ``error, failures, resources, users, operations,
    first seen, last seen``, most frequent first."""
    return (
        frame.lazy()
        .filter(pl.col("status") == "failed")
        .group_by(pl.col("error_message").fill_null("(no error message)").alias("error"))
        .agg(
            pl.len().alias("failures"),
            resource_label().n_unique().alias("resources"),
            pl.col("actor").n_unique().alias("users"),
            pl.col("operation").unique().sort().head(3).str.join(", ").alias("operations"),
            pl.col("timestamp").min().alias("first seen"),
            pl.col("timestamp").max().alias("last seen"),
        )
        .sort(["failures", "error"], descending=[True, False])
        .collect()
    )


def failures_by(frame: Frame, by: str) -> pl.DataFrame:
    """Failures grouped by ``resource``, ``operation`` or ``actor``: ``failures, errors``
    (distinct messages), the most common error, first and last seen."""
    key = resource_label() if by == "resource" else pl.col(by)
    return (
        frame.lazy()
        .filter(pl.col("status") == "failed")
        .group_by(key.fill_null("?").alias(by))
        .agg(
            pl.len().alias("failures"),
            pl.col("error_message").n_unique().alias("errors"),
            pl.col("error_message").drop_nulls().mode().sort().first().alias("most common error"),
            pl.col("timestamp").min().alias("first seen"),
            pl.col("timestamp").max().alias("last seen"),
        )
        .sort(["failures", by], descending=[True, False])
        .collect()
    )
