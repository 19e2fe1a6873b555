"""Exports of exactly the rows of a query: CSV, JSON, JSON Lines, Parquet, with a manifest.

Writers take the rows as an iterable of frames (the query layer yields them a day at a
time, newest first), so memory stays flat however many rows match. CSV cells that a
spreadsheet would run as a formula are neutralized. Each export writes
``FILE.manifest.json`` beside the file: the query, its English description, the time
range, the row count and the SHA-256 of the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import polars as pl

from auditkit.errors import QueryError
from auditkit.schema import SCHEMA

Format = Literal["csv", "json", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "json", "jsonl", "parquet")

#: The platform's CSV export columns, in order.
DEFAULT_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "user",
    "action",
    "resource",
    "status",
    "ip_address",
)

#: How CSV exports write timestamps (UTC, microseconds).
_CSV_DATETIME = "%Y-%m-%dT%H:%M:%S%.6fZ"

#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Manifest:
    """What an export contains, written as JSON beside it."""

    file: str
    format: str
    query: str
    description: str
    start: str | None
    end: str | None
    rows: int
    sha256: str
    columns: list[str]
    created_at: str


#: The event columns :func:`default_view` reads.
DEFAULT_VIEW_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "actor",
    "action",
    "resource_type",
    "resource_name",
    "resource_id",
    "status",
    "ip_address",
)


def default_view() -> list[pl.Expr]:
    """The default export columns as expressions over canonical events."""
    return [
        pl.col("timestamp"),
        pl.col("actor").alias("user"),
        pl.col("action"),
        pl.concat_str(
            pl.col("resource_type").fill_null(""),
            pl.coalesce("resource_name", "resource_id").fill_null(""),
            separator=":",
        ).alias("resource"),
        pl.col("status").cast(pl.String),
        pl.col("ip_address"),
    ]


def neutralize_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix string cells starting with ``= + - @``, tab or CR with ``'`` so they stay text."""
    return frame.with_columns(_neutralized([c for c, t in frame.schema.items() if t == pl.String]))


def _neutralized(columns: Iterable[str]) -> list[pl.Expr]:
    risky = "^[" + "".join(p.replace("-", "\\-") for p in FORMULA_PREFIXES) + "]"
    return [
        pl.when(pl.col(c).str.contains(risky)).then("'" + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in columns
    ]


def _default_csv(chunk: pl.DataFrame) -> pl.DataFrame:
    """A chunk of events as the default CSV columns, neutralized. ``status`` comes from
    its fixed vocabulary, so it is the one text column that needs no check."""
    texts = [c for c in DEFAULT_COLUMNS if c not in ("timestamp", "status")]
    return chunk.lazy().select(default_view()).with_columns(_neutralized(texts)).collect()


def write(
    chunks: Iterable[pl.DataFrame],
    path: str | Path,
    format: str,
    *,
    all_columns: bool = False,
    query: str = "",
    description: str = "all events",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Manifest:
    """Write rows to ``path`` and its manifest; returns the manifest.

    Args:
        chunks: canonical event frames, in the order the rows should appear.
        path: output file; written to a temporary name and renamed when complete, so a
            failed export never leaves a file that looks finished.
        format: one of ``csv``, ``json``, ``jsonl``, ``parquet``.
        all_columns: every canonical column instead of the default CSV columns
            (JSON, JSON Lines and Parquet always carry every column).
        query, description, start, end: recorded in the manifest.

    Raises:
        QueryError: for an unknown format.
    """
    if format not in FORMATS:
        raise QueryError(f"unknown export format {format!r}; valid formats: {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    rows = 0
    columns: list[str] = []
    with open(tmp, "wb") as raw:
        digesting = _Digesting(raw)  # hashed as written: the file is not read back
        fh = cast(BinaryIO, digesting)
        writer = None
        first = True
        if format == "json":
            fh.write(b"[")
        for chunk in chunks:
            if format == "csv" and not all_columns:
                chunk = _default_csv(chunk)
            elif format == "csv":
                chunk = neutralize_formulas(chunk.with_columns(pl.col(pl.Enum).cast(pl.String)))
            elif format != "parquet":
                chunk = chunk.with_columns(pl.col(pl.Enum).cast(pl.String))
            if not columns:
                columns = chunk.columns
            if chunk.is_empty():
                continue
            rows += chunk.height
            if format == "csv":
                chunk.write_csv(fh, include_header=first, datetime_format=_CSV_DATETIME)
            elif format == "jsonl":
                chunk.write_ndjson(fh)
            elif format == "json":
                body = chunk.write_ndjson().rstrip("\n").replace("\n", ",\n")
                fh.write((("" if first else ",\n") + body).encode())
            else:
                import pyarrow.parquet as pq

                table = chunk.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(fh, table.schema, compression="zstd")
                writer.write_table(table)
            first = False
        if format == "json":
            fh.write(b"]\n")
        if format == "csv" and first:
            header = ",".join([c for c in SCHEMA] if all_columns else list(DEFAULT_COLUMNS))
            fh.write((header + "\n").encode())
        if format == "parquet":
            if writer is None:
                import pyarrow.parquet as pq

                empty = pl.DataFrame(schema=SCHEMA).to_arrow()
                writer = pq.ParquetWriter(fh, empty.schema, compression="zstd")
            writer.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    manifest = Manifest(
        file=path.name,
        format=format,
        query=query,
        description=description,
        start=_iso(start),
        end=_iso(end),
        rows=rows,
        sha256=digesting.digest.hexdigest(),
        columns=columns
        or (list(SCHEMA) if all_columns or format != "csv" else list(DEFAULT_COLUMNS)),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    manifest_path = manifest_path_for(path)
    manifest_path.write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


class _Digesting(io.RawIOBase):
    """A binary file that hashes (SHA-256) what is written through it."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self.raw = raw
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.raw.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.raw.tell()

    def flush(self) -> None:
        if not self.raw.closed:  # also called when this object is collected
            self.raw.flush()


def manifest_path_for(path: Path) -> Path:
    """Where the manifest of an export file is written."""
    return path.with_name(path.name + ".manifest.json")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None
