"""Ingest throughput: JSONL, CSV and CloudTrail at 1M and 10M events, with DuckDB as reference.

Each measurement is a fresh ``auditkit ingest`` process into an empty store (so peak
memory is that process's own). DuckDB reads the same file with an explicit schema and
writes Parquet in the same run. Usage::

    python benchmarks/ingest.py [--sizes 1000000 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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
    import duckdb

    from auditkit.schema import SCHEMA

    con = duckdb.connect()
    columns = {c: _DUCK_TYPES.get(c, "VARCHAR") for c in SCHEMA}
    columns["ingested_at"] = "TIMESTAMPTZ"
    if fmt == "jsonl":
        source = f"read_json('{path}', format='newline_delimited', columns={columns!r})"
    elif fmt == "csv":
        source = f"read_csv('{path}', header=true, columns={columns!r})"
    else:  # CloudTrail records are nested: DuckDB infers their shape
        source = f"read_json('{path}', format='newline_delimited')"
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM {source}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        repeat = args.repeat if n <= 1_000_000 else 1
        for fmt in FORMATS:
            path = ensure_file(n, fmt)
            ours, peaks, sizes, duck = [], [], [], []
            for _ in range(repeat):
                store = DATA / "bench-store"
                shutil.rmtree(store, ignore_errors=True)
                seconds, peak = run_child(
                    [str(BIN / "auditkit"), "ingest", str(path), "--store", str(store), "-q"]
                )
                ours.append(seconds)
                peaks.append(peak)
                sizes.append(sum(f.stat().st_size for f in (store / "events").rglob("*.parquet")))
                out = DATA / "duck.parquet"
                duck.append(duckdb_seconds(path, fmt, out))
                out.unlink(missing_ok=True)
            ours_s, duck_s = statistics.median(ours), statistics.median(duck)
            rows.append(
                [
                    fmt,
                    f"{n:,}",
                    f"{n / ours_s / 1e6:.2f}M/s ({ours_s:.1f} s)",
                    f"{max(peaks) / 2**20:,.0f} MiB",
                    f"{n / duck_s / 1e6:.2f}M/s ({duck_s:.1f} s)",
                    f"{duck_s / ours_s:.2f}",
                    f"{path.stat().st_size / 2**20:,.0f} MiB → "
                    f"{statistics.median(sizes) / 2**20:,.0f} MiB",
                ]
            )
            print(rows[-1], file=sys.stderr)
    md = (
        "## Ingest (issue 2)\n\n"
        f"Machine: {machine()}. Median of {args.repeat} runs at 1M, one run at 10M; each run is a\n"
        "fresh `auditkit ingest` process into an empty store (parse, validate, dedupe, write\n"
        "partitioned Parquet, compact). DuckDB: `COPY (SELECT * FROM read_json/read_csv(...,\n"
        "explicit columns)) TO parquet` on the same file in the same run.\n\n"
        + table(
            [
                "format",
                "events",
                "auditkit ingest",
                "auditkit peak RSS",
                "DuckDB → Parquet",
                "auditkit speed ÷ DuckDB",
                "input → store size",
            ],
            rows,
        )
    )
    write_section("ingest", md)


if __name__ == "__main__":
    main()
