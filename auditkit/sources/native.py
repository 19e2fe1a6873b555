"""The platform's own exports: JSON Lines, JSON arrays, CSV (short and full), Parquet.

Column names are the canonical ones (see :mod:`auditkit.schema`), with a few aliases the
platform's UI export uses (``user`` for ``actor``, ``id`` for ``event_id``, ``resource``
for ``resource_type:resource_name``). Columns the schema has no place for are kept in
``attributes``. Large files are read in blocks with a vectorized path; a block that the
fast path cannot take whole (a bad line, an unknown key) is read record by record so one
bad record is rejected without losing its neighbours.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from auditkit.errors import SourceError
from auditkit.schema import ACTOR_TYPES, SCHEMA, STATUSES, conform
from auditkit.sources import (
    Batch,
    RecordError,
    Rejects,
    iter_json_records,
    open_binary,
    parse_timestamp,
    stable_id,
    to_json,
)

NAME = "native"
SHORT_CSV_HEADER = ("timestamp", "user", "action", "resource", "status", "ip_address")
ALIASES = {"user": "actor", "id": "event_id", "time": "timestamp", "ip": "ip_address"}
STATUS_ALIASES = {
    "success": "success",
    "succeeded": "success",
    "successful": "success",
    "ok": "success",
    "failed": "failed",
    "failure": "failed",
    "error": "failed",
    "in_progress": "in_progress",
    "in progress": "in_progress",
    "in-progress": "in_progress",
    "running": "in_progress",
    "pending": "pending",
    "queued": "pending",
}
BLOCK_BYTES = 64 << 20
_INPUT_COLUMNS = [c for c in SCHEMA if c != "ingested_at"]
_POLARS_SCHEMA = {c: pl.Float64 if c == "duration_ms" else pl.String for c in _INPUT_COLUMNS}
_IPV4 = r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
_ISO_FAST = "%Y-%m-%dT%H:%M:%S%.fZ"


class NativeSource:
    """Adapter for the platform's own exports."""

    name = NAME
    description = "the platform's exports: JSON Lines, JSON array, CSV (short or full), Parquet"

    def sniff(self, path: Path, head: bytes) -> bool:
        if head.startswith(b"PAR1"):
            return True
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if text[:1] in (b"{", b"["):
            first = text.split(b"\n", 1)[0]
            keys = set(re.findall(rb'"([A-Za-z_@]+)"\s*:', first))
            return b"timestamp" in keys and bool(keys & {b"action", b"event_id", b"actor"})
        header = text.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        columns = {c.strip().strip('"') for c in header.split(",")}
        return (
            "timestamp" in columns
            and "action" in columns
            and bool(columns & {"actor", "user", "event_id"})
        )

    def read(self, path: Path, *, strict: bool = False) -> Iterator[Batch]:
        rejects = Rejects(path, strict=strict)
        head = open_binary(path).read(8).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"PAR1"):
            yield from _read_parquet(path, rejects)
        elif head[:1] == b"[":
            records = iter_json_records(path)
            while chunk := list(itertools.islice(records, 200_000)):
                yield _records_to_batch(chunk, rejects)
        elif head[:1] == b"{":
            yield from _read_jsonl(path, rejects)
        elif not head:
            yield Batch(conform(pl.DataFrame(schema={})), notes=[f"{path}: empty file, no events"])
        else:
            yield from _read_csv(path, rejects)


SOURCE = NativeSource()


# -- JSON Lines -------------------------------------------------------------------------


def _read_jsonl(path: Path, rejects: Rejects) -> Iterator[Batch]:
    line = 1
    with open_binary(path) as fh:
        carry = b""
        while True:
            chunk = fh.read(BLOCK_BYTES)
            block = carry + chunk
            if not chunk:
                carry = b""
            else:
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    carry = block
                    continue
                block, carry = block[:cut], block[cut:]
            if block.strip():
                yield _jsonl_block(block, line, path, rejects)
            line += block.count(b"\n")
            if not chunk:
                break


def _jsonl_block(block: bytes, first_line: int, path: Path, rejects: Rejects) -> Batch:
    frame = _parse_flat_block(block)
    newlines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    if frame is not None and frame.height == newlines:
        # One record per line, no blank lines: line numbers follow from row numbers and
        # raw lines are only split out if some row needs one.
        numbers = range(first_line, first_line + newlines)
        return _finish(frame, numbers, _LazyLines(block, first_line), rejects)
    records = (
        (first_line + i, raw.strip(), _loads(raw))
        for i, raw in enumerate(block.split(b"\n"))
        if raw.strip()
    )
    return _records_to_batch(records, rejects)


def _parse_flat_block(block: bytes) -> pl.DataFrame | None:
    """Parse a block of flat JSON Lines with known keys, or None if it is anything else.

    Polars' reader is fast but, given a schema, ignores unknown keys and turns numbers
    into strings. So the block is accepted only if counting key separators in the raw
    bytes proves every key was a known column holding a string, a null, or (for
    ``duration_ms``) a number. Escaped quotes inside strings appear as ``\\"`` and are
    subtracted. Anything unusual falls back to the record-by-record path.
    """
    try:
        frame = pl.read_ndjson(block, schema=_POLARS_SCHEMA)
    except pl.exceptions.ComputeError:
        return None

    escapes = b"\\" in block

    def occurrences(token: bytes) -> int:
        return block.count(token) - (block.count(b"\\" + token) if escapes else 0)

    keys = occurrences(b'":')
    strings = occurrences(b'":"')
    nulls = occurrences(b'":null')
    numbers = frame.height - frame.get_column("duration_ms").null_count()
    values = sum(frame.height - n for n in frame.null_count().row(0))
    if keys == strings + nulls + numbers and values == strings + numbers:
        return frame
    return None


class _LazyLines:
    """Raw lines of a block by line number, split only when first asked for."""

    def __init__(self, block: bytes, first_line: int) -> None:
        self.block = block
        self.first_line = first_line
        self._lines: list[bytes] | None = None

    def get(self, line: int) -> bytes | None:
        if self._lines is None:
            self._lines = self.block.split(b"\n")
        index = line - self.first_line
        return self._lines[index] if 0 <= index < len(self._lines) else None


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return ValueError(f"not valid UTF-8 at byte {exc.start}")
    except ValueError as exc:
        return ValueError(f"not valid JSON: {exc}")


# -- CSV --------------------------------------------------------------------------------


def _read_csv(path: Path, rejects: Rejects) -> Iterator[Batch]:
    bad: list[tuple[int | None, str, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append(
            (
                row.number,
                f"CSV row has {row.actual_columns} fields, the header has {row.expected_columns}",
                row.text or "",
            )
        )
        return "skip"

    with open_binary(path) as fh:
        header = fh.readline().decode("utf-8", "replace").lstrip("\ufeff")
    names = [c.strip() for c in next(iter(__import__("csv").reader([header])), [])]
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=16 << 20, use_threads=True),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read as CSV: {exc}", path=str(path)) from exc
    row_base = 2  # line 1 is the header
    while True:
        try:
            record_batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            rejects.add(None, f"CSV unreadable from here on: {exc}", "")
            break
        frame = pl.from_arrow(record_batch)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.rename({c: c.strip() for c in frame.columns})
        for number, reason, raw in bad:
            rejects.add(number, reason, raw)
        bad.clear()
        numbers = list(range(row_base, row_base + frame.height))
        row_base += frame.height
        raws = None
        yield _finish(_from_csv_columns(frame), numbers, raws, rejects)
    for number, reason, raw in bad:
        rejects.add(number, reason, raw)
    if len(rejects):
        yield Batch(
            conform(
                pl.DataFrame(
                    schema={
                        c: SCHEMA[c] for c in ("event_id", "timestamp", "actor", "action", "status")
                    }
                )
            ),
            rejects.frame(),
        )


def _from_csv_columns(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.rename(
        {a: c for a, c in ALIASES.items() if a in frame.columns and c not in frame.columns}
    )
    if "resource" in frame.columns:
        parts = pl.col("resource").str.splitn(":", 2)
        has_type = pl.col("resource").str.contains(r"^[A-Za-z_][\w.\-]*:")
        frame = frame.with_columns(
            pl.when(has_type).then(parts.struct.field("field_0")).alias("resource_type")
            if "resource_type" not in frame.columns
            else pl.col("resource_type"),
            pl.when(has_type)
            .then(parts.struct.field("field_1"))
            .otherwise(pl.col("resource"))
            .alias("resource_name")
            if "resource_name" not in frame.columns
            else pl.col("resource_name"),
        ).drop("resource")
    if "duration_ms" in frame.columns:
        frame = frame.with_columns(pl.col("duration_ms").str.strip_chars())
    return frame


# -- Parquet ----------------------------------------------------------------------------


def _read_parquet(path: Path, rejects: Rejects) -> Iterator[Batch]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file: {exc}", path=str(path)) from exc
    index = 0
    for record_batch in parquet.iter_batches(batch_size=500_000):
        frame = pl.from_arrow(record_batch)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.rename(
            {a: c for a, c in ALIASES.items() if a in frame.columns and c not in frame.columns}
        )
        frame = frame.drop("ingested_at", strict=False)
        casts = []
        for name in frame.columns:
            dtype = frame.schema[name]
            if name == "timestamp" and isinstance(dtype, pl.Datetime):
                casts.append(
                    pl.col(name).dt.convert_time_zone("UTC")
                    if dtype.time_zone
                    else pl.col(name).dt.replace_time_zone("UTC")
                )
            elif name == "duration_ms":
                casts.append(pl.col(name).cast(pl.Float64, strict=False))
            else:
                casts.append(pl.col(name).cast(pl.String))
        frame = frame.with_columns(casts)
        if isinstance(frame.schema.get("timestamp"), pl.Datetime):
            frame = frame.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        numbers = list(range(index, index + frame.height))
        index += frame.height
        yield _finish(frame, numbers, None, rejects)


# -- shared: one vectorized pass from string columns to canonical events -----------------


def _finish(
    frame: pl.DataFrame,
    numbers: Sequence[int],
    raws: _LazyLines | dict[int, bytes | str] | None,
    rejects: Rejects,
) -> Batch:
    """Validate and cast a frame of (mostly string) columns; bad rows become rejects."""
    extra = [c for c in frame.columns if c not in SCHEMA]
    for column in _INPUT_COLUMNS:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    if extra:
        attrs = pl.struct(extra).struct.json_encode()
        if frame.schema["attributes"] != pl.Null:
            attrs = pl.coalesce(pl.col("attributes"), attrs)
        frame = frame.with_columns(attributes=attrs).drop(extra)
    frame = frame.with_columns(
        pl.int_range(numbers.start, numbers.stop, dtype=pl.Int64).alias("_line")
        if isinstance(numbers, range)
        else pl.Series("_line", numbers, dtype=pl.Int64)
    )
    status = pl.col("status").str.strip_chars().str.to_lowercase()
    actor_type = pl.col("actor_type").str.strip_chars().str.to_lowercase()
    frame = frame.with_columns(
        _ts=pl.col("timestamp").str.to_datetime(_ISO_FAST, time_zone="UTC", strict=False),
        status=status.replace_strict(STATUS_ALIASES, default=None),
        _status_raw=pl.col("status"),
        actor_type=pl.when(actor_type.is_null()).then(_infer_actor_type()).otherwise(actor_type),
        action=pl.col("action").str.strip_chars().str.to_lowercase(),
        _dur=pl.col("duration_ms").cast(pl.Float64, strict=False),
        ip_address=pl.col("ip_address").str.strip_chars(),
    )
    # Timestamps that are not in the common export format get the full parser.
    odd = frame.filter(pl.col("_ts").is_null() & pl.col("timestamp").is_not_null())
    if odd.height:
        parsed = {}
        for line, value in odd.select("_line", "timestamp").iter_rows():
            with contextlib.suppress(ValueError):
                parsed[line] = parse_timestamp(value)
        if parsed:
            fix = pl.DataFrame(
                {"_line": list(parsed), "_ts2": list(parsed.values())},
                schema={"_line": pl.Int64, "_ts2": SCHEMA["timestamp"]},
            )
            frame = (
                frame.join(fix, on="_line", how="left", maintain_order="left")
                .with_columns(_ts=pl.coalesce("_ts", "_ts2"))
                .drop("_ts2")
            )
    reason = (
        pl.when(pl.col("timestamp").is_null())
        .then(pl.lit("missing timestamp"))
        .when(pl.col("_ts").is_null())
        .then(pl.format("timestamp {} is not ISO-8601 or epoch", pl.col("timestamp")))
        .when(pl.col("actor").is_null() | (pl.col("actor").str.strip_chars() == ""))
        .then(pl.lit("missing actor (user): who did it is required"))
        .when(pl.col("action").is_null() | (pl.col("action") == ""))
        .then(pl.lit("missing action"))
        .when(pl.col("_status_raw").is_null())
        .then(pl.lit("missing status (valid: " + ", ".join(STATUSES) + ")"))
        .when(pl.col("status").is_null())
        .then(
            pl.format(
                "unknown status {} (valid: " + ", ".join(STATUSES) + ")", pl.col("_status_raw")
            )
        )
        .when(~pl.col("actor_type").is_in(list(ACTOR_TYPES)))
        .then(
            pl.format(
                "unknown actor_type {} (valid: " + ", ".join(ACTOR_TYPES) + ")",
                pl.col("actor_type"),
            )
        )
        .when(pl.col("duration_ms").is_not_null() & pl.col("_dur").is_null())
        .then(pl.format("duration_ms {} is not a number", pl.col("duration_ms")))
        .when(pl.col("_dur") < 0)
        .then(pl.format("duration_ms {} is negative", pl.col("duration_ms")))
    )
    frame = frame.with_columns(_reason=reason)
    bad = frame.filter(pl.col("_reason").is_not_null())
    if bad.height:
        by_line = raws if raws is not None else {}
        for row in bad.iter_rows(named=True):
            raw: bytes | str = (
                by_line.get(row["_line"])
                or to_json(
                    {k: v for k, v in row.items() if not k.startswith("_") and v is not None}
                )
                or ""
            )
            rejects.add(row["_line"], row["_reason"], raw)
        frame = frame.filter(pl.col("_reason").is_null())
    notes: list[str] = []
    frame = _check_ips(frame, notes)
    if frame.get_column("event_id").null_count():
        by_line = raws if raws is not None else {}
        ids = [
            eid
            if eid is not None
            else stable_id(
                NAME,
                by_line.get(line)
                or to_json(
                    {k: v for k, v in zip(frame.columns, row, strict=True) if not k.startswith("_")}
                )
                or "",
            )
            for eid, line, row in zip(
                frame.get_column("event_id"),
                frame.get_column("_line"),
                frame.iter_rows(),
                strict=True,
            )
        ]
        frame = frame.with_columns(event_id=pl.Series(ids, dtype=pl.String))
    frame = frame.with_columns(
        timestamp=pl.col("_ts"),
        duration_ms=pl.col("_dur"),
        source=pl.col("source").fill_null(NAME),
    ).select([c for c in _INPUT_COLUMNS])
    return Batch(conform(frame), rejects.frame(), notes)


def _infer_actor_type() -> pl.Expr:
    actor = pl.col("actor").str.to_lowercase()
    return (
        pl.when(actor.str.starts_with("ak_") | actor.str.starts_with("key_"))
        .then(pl.lit("api_key"))
        .when(actor.str.starts_with("svc-") | actor.str.contains(r"\.iam$|serviceaccount"))
        .then(pl.lit("service_account"))
        .when(actor.str.contains("@"))
        .then(pl.lit("user"))
        .when(actor == "system")
        .then(pl.lit("system"))
        .otherwise(pl.lit("unknown"))
    )


def _check_ips(frame: pl.DataFrame, notes: list[str]) -> pl.DataFrame:
    """Null out values of ``ip_address`` that are not IP addresses, keeping them in attributes."""
    import ipaddress

    ip = pl.col("ip_address")
    candidates = (
        frame.filter(ip.is_not_null() & ~ip.str.contains(_IPV4)).get_column("ip_address").unique()
    )
    invalid = []
    for value in candidates.to_list():
        try:
            ipaddress.ip_address(value)
        except ValueError:
            invalid.append(value)
    if not invalid:
        return frame
    is_bad = ip.is_in(invalid)
    bad = frame.filter(is_bad).select("_line", "ip_address", "attributes")
    fixed = []
    for line, value, attributes in bad.iter_rows():
        attrs = json.loads(attributes) if attributes else {}
        attrs = attrs if isinstance(attrs, dict) else {"attributes": attrs}
        fixed.append((line, to_json({**attrs, "ip_address_raw": value})))
    patch = pl.DataFrame(fixed, schema={"_line": pl.Int64, "_attrs": pl.String}, orient="row")
    notes.append(
        f"{bad.height} record(s) had an ip_address that is not an IP address "
        f"(e.g. {invalid[0]!r}); ip_address set to null, the value kept in "
        "attributes.ip_address_raw"
    )
    return (
        frame.join(patch, on="_line", how="left", maintain_order="left")
        .with_columns(
            attributes=pl.coalesce("_attrs", "attributes"),
            ip_address=pl.when(is_bad).then(None).otherwise(ip),
        )
        .drop("_attrs")
    )


# -- per-record path (JSON arrays, and JSON Lines blocks with a bad line) -----------------


def _records_to_batch(
    records: Iterable[tuple[int | None, bytes | str, Any]], rejects: Rejects
) -> Batch:
    """Flatten parsed records to string columns, then validate them like the fast path."""
    rows: list[dict[str, str | None]] = []
    numbers: list[int] = []
    raws: list[bytes | str] = []
    for number, raw, obj in records:
        if isinstance(obj, Exception):
            rejects.add(number, str(obj), raw)
            continue
        try:
            rows.append(_flatten(obj))
        except RecordError as exc:
            rejects.add(number, str(exc), raw)
            continue
        numbers.append(number if number is not None else len(numbers))
        raws.append(raw)
    columns = {c: [row.get(c) for row in rows] for c in _FLAT_COLUMNS}
    frame = pl.DataFrame(columns, schema={c: pl.String for c in _FLAT_COLUMNS})
    return _finish(frame, numbers, dict(zip(numbers, raws, strict=True)), rejects)


_FLAT_COLUMNS = [*_INPUT_COLUMNS]


def _flatten(obj: Any) -> dict[str, str | None]:
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    row: dict[str, str | None] = {}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        name = ALIASES.get(key, key)
        if name == "resource" and isinstance(value, dict):
            for part in ("type", "id", "name"):
                if value.get(part) is not None:
                    row[f"resource_{part}"] = str(value[part])
        elif name == "resource" and isinstance(value, str):
            kind, sep, rest = value.partition(":")
            row["resource_type"], row["resource_name"] = (kind, rest) if sep else (None, value)
        elif name in ("before", "after", "attributes"):
            row[name] = value if value is None or isinstance(value, str) else to_json(value)
        elif name in SCHEMA and name != "ingested_at":
            if value is None:
                row[name] = None
            elif isinstance(value, str):
                row[name] = value
            elif name in ("timestamp", "duration_ms") and isinstance(value, int | float):
                row[name] = str(value)
            else:
                raise RecordError(
                    f"field {key!r} should be a string, got {type(value).__name__} "
                    f"{to_json(value)!s:.60}"
                )
        else:
            extra[key] = value
    if extra:
        attrs: Any = json.loads(row.get("attributes") or "{}")
        row["attributes"] = to_json(
            {**attrs, **extra} if isinstance(attrs, dict) else {"attributes": attrs, **extra}
        )
    return row
