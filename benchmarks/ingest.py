"""Ingest throughput: JSONL, CSV and CloudTrail at 1M and 10M events, with DuckDB as reference.

Each measurement is a fresh ``auditkit ingest`` process into an empty store (so peak
memory is that process's own). In the same run, on the same file:

- DuckDB reads it with an explicit schema and writes Parquet (``COPY``);
- DuckDB only reads it (every column, streamed to Arrow and dropped): the issue's
  literal reference, and a ceiling for any ingest that must also write a store;
- Polars alone parses it and writes one Parquet file, with no checks at all
  (``scan_ndjson``/``scan_csv`` → ``sink_parquet``): the floor under auditkit's own
  reader, which is built on the same Polars parser and writer.

Usage::

    python benchmarks/ingest.py [--sizes 1000000 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import BIN, DATA, machine, run_child, table, write_section

FORMATS = {"jsonl": "jsonl", "csv": "csv", "cloudtrail": "cloudtrail"}
_DUCK_TYPES = {"duration_ms": "DOUBLE", "timestamp": "TIMESTAMPTZ"}


def ensure_file(n: int, fmt: str) -> Path:
    path = DATA / f"events-{n}.{fmt}" if fmt != "cloudtrail" else DATA / f"cloudtrail-{n}.jsonl"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        subprocess_args = [
            str(BIN / "auditkit"),
            "generate",
            "--events",
            str(n),
            "--seed",
            "1",
            "--format",
            fmt,
            "--out",
            str(tmp),
        ]
        run_child(subprocess_args)
        tmp.rename(path)
    return path


def duckdb_seconds(path: Path, fmt: str, out: Path) -> float:
    """DuckDB's ``COPY`` of the file to one Parquet file (zstd)."""
    import duckdb

    con = duckdb.connect()
    source = _duckdb_source(path, fmt)
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM {source}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def _duckdb_source(path: Path, fmt: str) -> str:
    from auditkit.schema import SCHEMA

    columns = {c: _DUCK_TYPES.get(c, "VARCHAR") for c in SCHEMA}
    columns["ingested_at"] = "TIMESTAMPTZ"
    if fmt == "jsonl":
        return f"read_json('{path}', format='newline_delimited', columns={columns!r})"
    if fmt == "csv":
        return f"read_csv('{path}', header=true, columns={columns!r})"
    return f"read_json('{path}', format='newline_delimited')"  # nested: DuckDB infers


def duckdb_read_seconds(path: Path, fmt: str, out: Path) -> float:
    """DuckDB reading every column of the file into Arrow batches, writing nothing
    (``out`` is unused)."""
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    rows = 0
    for batch in con.sql(f"SELECT * FROM {_duckdb_source(path, fmt)}").to_arrow_reader(100_000):
        rows += batch.num_rows
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def polars_floor_seconds(path: Path, fmt: str, out: Path) -> float | None:
    """Polars parsing the file (timestamps left as text) and writing one Parquet file
    (zstd level 1, as auditkit's appends), with no validation, dedupe or partitioning.
    None for CloudTrail, whose nested records Polars cannot read into flat columns."""
    import polars as pl

    from auditkit.sources.native import _POLARS_SCHEMA

    if fmt == "jsonl":
        frame = pl.scan_ndjson(path, schema=_POLARS_SCHEMA)
    elif fmt == "csv":
        frame = pl.scan_csv(path, schema_overrides=_POLARS_SCHEMA)
    else:
        return None
    started = time.perf_counter()
    frame.sink_parquet(out, compression="zstd", compression_level=1)
    return time.perf_counter() - started


_REFERENCES = {
    "copy": duckdb_seconds,
    "read": duckdb_read_seconds,
    "polars": polars_floor_seconds,
}


def reference_seconds(kind: str, path: Path, fmt: str, out: Path) -> float | None:
    """Time a reference in a child process of its own. In this process it would leave the
    memory it used behind, and the next ``auditkit`` child, forked from a large parent,
    would report that memory as its own peak."""
    done = subprocess.run(
        [sys.executable, __file__, "--reference", kind, str(path), fmt, str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    value = done.stdout.strip().splitlines()[-1]
    return None if value == "None" else float(value)


def _always(seconds: float | None, kind: str) -> float:
    """A DuckDB reference's time: these measure every format, so None is a bug, not 0 s."""
    if seconds is None:
        raise RuntimeError(f"the DuckDB {kind} reference returned no time")
    return seconds


def _speed(n: int, seconds: float) -> str:
    return f"{n / seconds / 1e6:.2f}M/s ({seconds:.1f} s)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference", nargs=4, metavar=("KIND", "PATH", "FORMAT", "OUT"))
    args = parser.parse_args()
    if args.reference:  # a child started by reference_seconds
        kind, path, fmt, out = args.reference
        print(_REFERENCES[kind](Path(path), fmt, Path(out)))
        return
    rows = []
    for n in args.sizes:
        repeat = args.repeat if n <= 1_000_000 else 1
        for fmt in FORMATS:
            path = ensure_file(n, fmt)
            ours, peaks, sizes, duck, duck_read, floor = [], [], [], [], [], []
            out = DATA / "reference.parquet"
            for _ in range(repeat):
                store = DATA / "bench-store"
                shutil.rmtree(store, ignore_errors=True)
                seconds, peak = run_child(
                    [str(BIN / "auditkit"), "ingest", str(path), "--store", str(store), "-q"]
                )
                ours.append(seconds)
                peaks.append(peak)
                sizes.append(sum(f.stat().st_size for f in (store / "events").rglob("*.parquet")))
                duck.append(_always(reference_seconds("copy", path, fmt, out), "copy"))
                duck_read.append(_always(reference_seconds("read", path, fmt, out), "read"))
                polars = reference_seconds("polars", path, fmt, out)
                if polars is not None:
                    floor.append(polars)
                out.unlink(missing_ok=True)
            ours_s, duck_s = statistics.median(ours), statistics.median(duck)
            read_s = statistics.median(duck_read)
            rows.append(
                [
                    fmt,
                    f"{n:,}",
                    _speed(n, ours_s),
                    f"{max(peaks) / 2**20:,.0f} MiB",
                    _speed(n, duck_s),
                    f"{duck_s / ours_s:.2f}",
                    _speed(n, read_s),
                    f"{read_s / ours_s:.2f}",
                    _speed(n, statistics.median(floor)) if floor else "n/a",
                    f"{path.stat().st_size / 2**20:,.0f} MiB → "
                    f"{statistics.median(sizes) / 2**20:,.0f} MiB",
                ]
            )
            print(rows[-1], file=sys.stderr)
    md = (
        "## Ingest (issue 2)\n\n"
        f"Machine: {machine()}. Median of {args.repeat} runs at 1M, one run at 10M; each run is a\n"
        "fresh `auditkit ingest` process into an empty store (parse, validate, dedupe, write\n"
        "partitioned Parquet, compact), timed from start to exit. In the same run, on the same\n"
        "file, each in a fresh process of its own and timed inside it: DuckDB `COPY (SELECT *\n"
        "FROM read_json/read_csv(..., explicit columns)) TO parquet`; DuckDB reading every\n"
        "column into Arrow and writing nothing (the issue's reference: a ceiling for any ingest\n"
        "that also writes a store); and Polars alone parsing the file and writing one Parquet\n"
        "file with no checks at all (`scan_ndjson`/`scan_csv` → `sink_parquet`, timestamps left\n"
        "as text): the floor under auditkit's reader, which uses the same Polars parser and\n"
        "writer. Ratios: the reference's time ÷ auditkit's (1.00 = as fast; below 1: auditkit\n"
        "slower).\n\n"
        + table(
            [
                "format",
                "events",
                "auditkit ingest",
                "auditkit peak RSS",
                "DuckDB → Parquet",
                "÷ DuckDB → Parquet",
                "DuckDB read only",
                "÷ DuckDB read only",
                "Polars parse + write, no checks",
                "input → store size",
            ],
            rows,
        )
    )
    write_section("ingest", md)


if __name__ == "__main__":
    main()
