"""Writing events as the platform's exports and as Parquet."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.schema import empty

#: Formats :func:`write` knows.
FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "csv-short", "parquet", "cloudtrail")
_WRITE_SLICE = 200_000  # rows serialized at a time by the text writers
_ISO = "%Y-%m-%dT%H:%M:%S.%6fZ"


def _slices(batches: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    for batch in batches:
        yield from batch.iter_slices(_WRITE_SLICE)


def _iso(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Datetime).dt.strftime(_ISO))


def _write_jsonl(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    for part in _slices(batches):
        _iso(part).write_ndjson(fh)


def _write_json(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    fh.write(b"[")
    sep = b"\n"
    for part in _slices(batches):
        lines = _iso(part).write_ndjson()
        if lines:  # JSON strings escape newlines, so every newline ends an object
            fh.write(sep + lines.rstrip("\n").replace("\n", ",\n").encode())
            sep = b",\n"
    fh.write(b"\n]\n")


def _write_csv(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    header = True
    for part in _slices(batches):
        _iso(part).write_csv(fh, include_header=header)
        header = False
    if header:
        empty().write_csv(fh)


def _write_csv_short(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    header = True
    for part in _slices(batches):
        short = part.select(
            pl.col("timestamp").dt.strftime(_ISO),
            pl.col("actor").alias("user"),
            "action",
            pl.concat_str(
                [
                    pl.col("resource_type"),
                    pl.lit(":"),
                    pl.coalesce("resource_name", "resource_id", pl.lit("")),
                ]
            ).alias("resource"),
            pl.col("status").cast(pl.String),
            "ip_address",
        )
        short.write_csv(fh, include_header=header)
        header = False
    if header:
        fh.write(b"timestamp,user,action,resource,status,ip_address\n")


def _write_parquet(batches: Iterable[pl.DataFrame], path: Path) -> None:
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    try:
        for batch in batches:
            table = batch.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
        if writer is None:
            empty().write_parquet(path)
    finally:
        if writer is not None:
            writer.close()
