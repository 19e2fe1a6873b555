"""Reading the events tolerantly: a store, or a frame, in windows, whatever its dtypes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.errors import QueryError, SchemaError
from auditkit.schema import REQUIRED, SCHEMA
from auditkit.store import Store
from auditkit.validation._config import ValidationConfig
from auditkit.validation._html import _fmt

Events = Store | pl.DataFrame | pl.LazyFrame
When = datetime | date | str | None

_UTC = pl.Datetime("us", "UTC")
#: The schema as read for validation: Enum columns as String, so values outside the
#: vocabulary that a foreign writer stored can be seen (and reported) instead of failing.
_RELAXED: dict[str, pl.DataType] = {
    c: pl.String() if isinstance(t, pl.Enum) else t for c, t in SCHEMA.items()
}
_WEEK = timedelta(weeks=1)


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
