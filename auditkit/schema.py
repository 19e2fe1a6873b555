"""The canonical event schema: one place that names every column and its Polars dtype.

Every source adapter produces frames in this schema, the store writes it, and every reader
gets it back. :func:`conform` is the one gate: it casts what can be cast and raises a
:class:`~auditkit.errors.SchemaError` listing every missing or mistyped column.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from auditkit.errors import SchemaError

SCHEMA_VERSION = 1

ACTOR_TYPES: tuple[str, ...] = (
    "user",
    "api_key",
    "service_account",
    "system",
    "anonymous",
    "unknown",
)
STATUSES: tuple[str, ...] = ("success", "failed", "in_progress", "pending")
ACTIONS: tuple[str, ...] = (
    "created",
    "updated",
    "deleted",
    "viewed",
    "executed",
    "cancelled",
    "shared",
    "revoked",
    "promoted",
    "exported",
    "imported",
    "login",
    "logout",
    "other",
)
RESOURCE_TYPES: tuple[str, ...] = (
    "notebook",
    "experiment",
    "pipeline",
    "database",
    "collection",
    "query",
    "report",
    "user",
    "team",
    "permission",
)

ActorType = pl.Enum(list(ACTOR_TYPES))
Status = pl.Enum(list(STATUSES))
UTC = pl.Datetime("us", "UTC")

#: Column name → Polars dtype, in the order every frame carries them.
SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "timestamp": UTC,
    "actor": pl.String(),
    "actor_type": ActorType,
    "action": pl.String(),
    "operation": pl.String(),
    "resource_type": pl.String(),
    "resource_id": pl.String(),
    "resource_name": pl.String(),
    "status": Status,
    "ip_address": pl.String(),
    "user_agent": pl.String(),
    "session_id": pl.String(),
    "request_id": pl.String(),
    "duration_ms": pl.Float64(),
    "details": pl.String(),
    "error_message": pl.String(),
    "before": pl.String(),
    "after": pl.String(),
    "source": pl.String(),
    "account": pl.String(),
    "attributes": pl.String(),
    "ingested_at": UTC,
}

#: Columns that must be present and non-null in every stored event.
REQUIRED: tuple[str, ...] = ("event_id", "timestamp", "actor", "action", "status")

#: Plain-English meaning of each column (used by ``auditkit schema`` and the docs).
DESCRIPTIONS: dict[str, str] = {
    "event_id": "unique id (the source's, or a stable hash of the raw record)",
    "timestamp": "when the action happened, UTC, microseconds",
    "actor": "user email, API key id, or service account name",
    "actor_type": "one of " + ", ".join(ACTOR_TYPES),
    "action": "normalized verb: " + ", ".join(ACTIONS),
    "operation": "the source's own name for it (notebook.create, s3:PutObject, repo.create)",
    "resource_type": "notebook, experiment, pipeline, … or a source's own type",
    "resource_id": "id of what was acted on",
    "resource_name": "name of what was acted on",
    "status": "one of " + ", ".join(STATUSES),
    "ip_address": "client IPv4/IPv6 address, null when absent or not an address",
    "user_agent": "client user agent",
    "session_id": "session id",
    "request_id": "request id",
    "duration_ms": "how long it took, milliseconds",
    "details": "one-line human summary",
    "error_message": "why it failed",
    "before": "state before a change (JSON text)",
    "after": "state after a change (JSON text)",
    "source": "which adapter produced the row (native, cloudtrail, github, …)",
    "account": "tenant / org / cloud account",
    "attributes": "source fields with no column of their own (JSON object text)",
    "ingested_at": "when auditkit stored the row (finds late arrivals)",
}

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


def empty() -> pl.DataFrame:
    """Return an empty frame in the canonical schema."""
    return pl.DataFrame(schema=SCHEMA)


def _castable(found: pl.DataType, want: pl.DataType) -> bool:
    if found == want:
        return True
    if want == pl.String():
        return found in (pl.Categorical(), pl.Null()) or isinstance(found, pl.Enum)
    if isinstance(want, pl.Enum):
        return found in (pl.String(), pl.Categorical(), pl.Null()) or isinstance(found, pl.Enum)
    if isinstance(want, pl.Datetime):
        return isinstance(found, pl.Datetime) or found == pl.Null()
    if want == pl.Float64():
        return found.is_numeric() or found == pl.Null()
    return False


def conform(frame: F, *, fill_missing: bool = True) -> F:
    """Cast a frame to the canonical schema, in column order.

    Args:
        frame: a DataFrame or LazyFrame with at least the :data:`REQUIRED` columns.
        fill_missing: add optional columns that are absent as nulls. With ``False``
            every schema column must be present.

    Returns:
        The same kind of frame with exactly the schema's columns and dtypes. Extra
        columns are refused rather than dropped: put them in ``attributes``.

    Raises:
        SchemaError: listing every missing, extra, or mistyped column, and for an
            eager frame every value outside the ``actor_type`` / ``status`` vocabularies.
    """
    found = frame.collect_schema()
    required = set(SCHEMA) if not fill_missing else set(REQUIRED)
    missing = [c for c in SCHEMA if c in required and c not in found]
    extra = [c for c in found if c not in SCHEMA]
    mistyped = {
        c: (str(found[c]), str(want))
        for c, want in SCHEMA.items()
        if c in found and not _castable(found[c], want)
    }
    if missing or extra or mistyped:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if extra:
            parts.append(
                "columns not in the schema: " + ", ".join(extra) + " (move them into 'attributes')"
            )
        if mistyped:
            parts.append(
                "mistyped columns: "
                + ", ".join(f"{c} is {f}, expected {w}" for c, (f, w) in mistyped.items())
            )
        raise SchemaError(
            "frame does not match the auditkit event schema v1: "
            + "; ".join(parts)
            + "\nHint: see auditkit.schema.SCHEMA (or `auditkit schema`) for every column.",
            missing=missing,
            mistyped=mistyped,
        )
    if isinstance(frame, pl.DataFrame):
        _check_vocabularies(frame)
    exprs = [
        (pl.col(c) if c in found else pl.lit(None)).cast(dtype).alias(c)
        for c, dtype in SCHEMA.items()
    ]
    return frame.select(exprs)


def _check_vocabularies(frame: pl.DataFrame) -> None:
    bad: dict[str, list[str]] = {}
    vocabularies = {"actor_type": ACTOR_TYPES, "status": STATUSES}
    for column, allowed in vocabularies.items():
        if column not in frame.columns or isinstance(frame.schema[column], pl.Enum):
            continue
        values = frame.get_column(column).cast(pl.String).drop_nulls().unique()
        unknown = sorted(set(values.to_list()) - set(allowed))
        if unknown:
            bad[column] = unknown[:10]
    if bad:
        raise SchemaError(
            "values outside the schema's vocabularies: "
            + "; ".join(
                f"{c}: {', '.join(map(repr, v))} (valid: {', '.join(vocabularies[c])})"
                for c, v in bad.items()
            ),
            bad_values=bad,
        )


_HEX4 = "[0-9a-fA-F]{1,4}"
#: One IPv4 octet, 0–255 without leading zeros.
IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: An IPv4 address, exactly.
IPV4_PATTERN = rf"^{IPV4_OCTET}(?:\.{IPV4_OCTET}){{3}}$"
#: IPv6 addresses written in hex groups (full, or with one ``::``). Every match is a
#: valid address; forms it leaves out (an IPv4 tail, a ``%zone``) are checked by
#: :mod:`ipaddress` instead.
IPV6_PATTERN = (
    "^(?:"
    + "|".join(
        [
            f"(?:{_HEX4}:){{7}}{_HEX4}",
            f"(?:{_HEX4}:){{1,7}}:",
            f"(?:{_HEX4}:){{1,6}}:{_HEX4}",
            *(f"(?:{_HEX4}:){{1,{6 - k}}}(?::{_HEX4}){{{k + 1}}}" for k in range(1, 6)),
            f":(?::{_HEX4}){{1,7}}",
            "::",
        ]
    )
    + ")$"
)


def invalid_ips(values: pl.Series) -> list[str]:
    """The distinct values of ``values`` that are not IP addresses.

    The common forms are recognised by two exact patterns over the distinct values, in
    Polars; only what neither matches goes through :mod:`ipaddress`.
    """
    import ipaddress

    distinct = values.drop_nulls().unique()
    odd = distinct.filter(
        ~(distinct.str.contains(IPV4_PATTERN) | distinct.str.contains(IPV6_PATTERN))
    )
    invalid = []
    for value in odd.to_list():
        try:
            ipaddress.ip_address(value)
        except ValueError:
            invalid.append(value)
    return invalid
