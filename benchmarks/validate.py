"""Validation: `auditkit validate` on 1M and 10M generated stores, against DuckDB and pandas.

Each store holds generated activity over 90 days (ingested 1–300 s after it happened) plus
one file of 100 defective rows written directly into a partition, as an external writer
would (null actors, unknown statuses, malformed IPs, negative durations, bad JSON), so the
checks have something to find and the engines' counts can be compared.

Every measurement is a fresh process (so its peak RSS is its own):

* ``auditkit validate`` with both suites, and with ``--suite well_formed`` only;
* the same well-formed checks as one DuckDB SQL query over the store's Parquet files;
* the same well-formed checks written directly in pandas (the needed columns loaded at once).

The bad-row counts of every well-formed check must agree across the three engines.
Usage::

    python benchmarks/validate.py [--sizes 1000000 10000000] [--repeat 3] [--pandas-max 1000000]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from common import BIN, DATA, machine, run_measured, table, write_section

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
IPV4 = (
    r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"
)
# The usual IPv6 regex (RE2 has no look-arounds); good enough for a reference on this data.
_H = "[0-9a-fA-F]{1,4}"
_V4 = r"((25[0-5]|(2[0-4]|1?[0-9])?[0-9])\.){3}(25[0-5]|(2[0-4]|1?[0-9])?[0-9])"
IPV6 = (
    f"^(({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}|({_H}:){{1,5}}(:{_H}){{1,2}}|"
    f"({_H}:){{1,4}}(:{_H}){{1,3}}|({_H}:){{1,3}}(:{_H}){{1,4}}|({_H}:){{1,2}}(:{_H}){{1,5}}|"
    f"{_H}:((:{_H}){{1,6}})|:((:{_H}){{1,7}}|:)|fe80:(:[0-9a-fA-F]{{0,4}}){{0,4}}%[0-9a-zA-Z]+|"
    f"::(ffff(:0{{1,4}})?:)?{_V4}|({_H}:){{1,4}}:{_V4})$"
)
CHECKS = (
    "event_id_not_null",
    "event_id_unique",
    "timestamp_not_null",
    "actor_not_null",
    "action_not_null",
    "status_not_null",
    "action_in_vocabulary",
    "status_in_vocabulary",
    "actor_type_in_vocabulary",
    "ip_address_valid",
    "timestamp_not_in_future",
    "timestamp_in_range",
    "timestamp_in_partition",
    "duration_ms_non_negative",
    "before_is_json",
    "after_is_json",
)


# -- data -------------------------------------------------------------------------------


def ensure_store(n: int) -> Path:
    """A generated store of ``n`` events plus 100 defective rows (built once, reused).

    Built in a child process: this process stays small, so the children it starts for
    the measurements do not inherit its memory in their peak RSS.
    """
    path = DATA / f"validate-store-{n}"
    if not (path / "store.json").exists():
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--build", str(n)], check=True
        )
    return path


def build_store(n: int) -> None:
    path = DATA / f"validate-store-{n}"
    import polars as pl

    from auditkit.generate import iter_generate
    from auditkit.store import Store

    tmp = DATA / f"validate-store-{n}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    store = Store(tmp, create=True)
    started = time.perf_counter()
    for batch in iter_generate(n, seed=1, days=90):
        store.append(batch)  # generated events carry a realistic ingested_at
    store.compact()
    day = store.partitions()[len(store.partitions()) // 2]
    rows = (
        store.scan(
            datetime(day.year, day.month, day.day, tzinfo=UTC),
            datetime(day.year, day.month, day.day, 23, tzinfo=UTC),
        )
        .sort("timestamp", "event_id")
        .head(100)
        .collect()
    )
    assert rows.height == 100
    k = pl.int_range(pl.len())
    defects = rows.with_columns(
        (pl.lit("bench-defect-") + k.cast(pl.String)).alias("event_id"),
        pl.when(k < 20).then(None).otherwise(pl.col("actor")).alias("actor"),
        pl.when((k >= 20) & (k < 40))
        .then(pl.lit("archived"))
        .otherwise(pl.col("status").cast(pl.String))
        .alias("status"),
        pl.when((k >= 40) & (k < 60))
        .then(pl.lit(["300.1.2.3", "211.9.016.253", "2001:db8::g", "1.2.3"]).list.get(k % 4))
        .otherwise(pl.col("ip_address"))
        .alias("ip_address"),
        pl.when((k >= 60) & (k < 80))
        .then(-5.0)
        .otherwise(pl.col("duration_ms"))
        .alias("duration_ms"),
        pl.when(k >= 80).then(pl.lit("{bad json")).otherwise(pl.col("before")).alias("before"),
    )
    defects.write_parquet(tmp / "events" / f"date={day}" / "external-writer.parquet")
    tmp.rename(path)
    print(f"built {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


# -- references (run as child processes: `validate.py --reference ENGINE --store S --json OUT`)


def duckdb_counts(store: Path, now: datetime) -> dict[str, int]:
    import duckdb

    from auditkit.schema import ACTIONS, ACTOR_TYPES, STATUSES

    def within(column: str, values: tuple[str, ...]) -> str:
        listed = ", ".join(f"'{v}'" for v in values)
        return f"{column} IS NOT NULL AND CAST({column} AS VARCHAR) NOT IN ({listed})"

    con = duckdb.connect()
    sql = f"""
    WITH e AS (
      SELECT *, CAST(regexp_extract(filename, 'date=([0-9-]+)', 1) AS DATE) AS part
      FROM read_parquet('{store}/events/*/*.parquet', filename=true, union_by_name=true,
                        hive_partitioning=false)
    )
    SELECT
      count(*) FILTER (WHERE event_id IS NULL) AS event_id_not_null,
      count(event_id) - count(DISTINCT event_id) AS event_id_unique,
      count(*) FILTER (WHERE timestamp IS NULL) AS timestamp_not_null,
      count(*) FILTER (WHERE actor IS NULL) AS actor_not_null,
      count(*) FILTER (WHERE action IS NULL) AS action_not_null,
      count(*) FILTER (WHERE status IS NULL) AS status_not_null,
      count(*) FILTER (WHERE {within("action", ACTIONS)}) AS action_in_vocabulary,
      count(*) FILTER (WHERE {within("status", STATUSES)}) AS status_in_vocabulary,
      count(*) FILTER (WHERE {within("actor_type", ACTOR_TYPES)}) AS actor_type_in_vocabulary,
      count(*) FILTER (WHERE ip_address IS NOT NULL AND NOT regexp_full_match(ip_address, '{IPV4}')
                         AND NOT regexp_full_match(ip_address, '{IPV6}')) AS ip_address_valid,
      count(*) FILTER (WHERE timestamp > TIMESTAMPTZ '{now.isoformat()}' + INTERVAL 300 SECOND)
        AS timestamp_not_in_future,
      count(*) FILTER (WHERE timestamp < TIMESTAMPTZ '{EARLIEST.isoformat()}')
        AS timestamp_in_range,
      count(*) FILTER (WHERE CAST(timezone('UTC', timestamp) AS DATE) <> part)
        AS timestamp_in_partition,
      count(*) FILTER (WHERE duration_ms < 0) AS duration_ms_non_negative,
      count(*) FILTER (WHERE before IS NOT NULL AND NOT json_valid(before)) AS before_is_json,
      count(*) FILTER (WHERE after IS NOT NULL AND NOT json_valid(after)) AS after_is_json
    FROM e
    """
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    assert row is not None
    con.close()
    return {k: int(v) for k, v in zip(names, row, strict=True)}


def pandas_counts(store: Path, now: datetime) -> dict[str, int]:
    import pandas as pd

    from auditkit.schema import ACTIONS, ACTOR_TYPES, STATUSES

    columns = [
        "event_id",
        "timestamp",
        "actor",
        "action",
        "status",
        "actor_type",
        "ip_address",
        "duration_ms",
        "before",
        "after",
    ]
    frames = []
    for path in sorted((store / "events").glob("date=*/*.parquet")):
        frame = pd.read_parquet(path, columns=columns)
        frame["part"] = pd.Timestamp(path.parent.name[len("date=") :]).date()
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)

    def outside(column: str, values: tuple[str, ...]) -> int:
        s = df[column].astype("string")
        return int((s.notna() & ~s.isin(values)).sum())

    def ip_ok(text: str) -> bool:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return False
        return True

    def json_ok(text: str) -> bool:
        try:
            json.loads(text)
        except ValueError:
            return False
        return True

    ips = df["ip_address"].dropna()
    rest = ips[~ips.str.fullmatch(IPV4)]
    bad_ips = {v for v in rest.unique() if not ip_ok(v)}
    ts = df["timestamp"]
    return {
        "event_id_not_null": int(df["event_id"].isna().sum()),
        "event_id_unique": int(df["event_id"].dropna().duplicated().sum()),
        "timestamp_not_null": int(ts.isna().sum()),
        "actor_not_null": int(df["actor"].isna().sum()),
        "action_not_null": int(df["action"].isna().sum()),
        "status_not_null": int(df["status"].isna().sum()),
        "action_in_vocabulary": outside("action", ACTIONS),
        "status_in_vocabulary": outside("status", STATUSES),
        "actor_type_in_vocabulary": outside("actor_type", ACTOR_TYPES),
        "ip_address_valid": int(rest.isin(bad_ips).sum()),
        "timestamp_not_in_future": int((ts > pd.Timestamp(now) + pd.Timedelta(seconds=300)).sum()),
        "timestamp_in_range": int((ts < pd.Timestamp(EARLIEST)).sum()),
        "timestamp_in_partition": int((ts.dt.date != df["part"]).sum()),
        "duration_ms_non_negative": int((df["duration_ms"] < 0).sum()),
        "before_is_json": int((~df["before"].dropna().map(json_ok)).sum()),
        "after_is_json": int((~df["after"].dropna().map(json_ok)).sum()),
    }


def reference_main(engine: str, store: Path, out: Path) -> None:
    now = datetime.now(UTC)
    counts = duckdb_counts(store, now) if engine == "duckdb" else pandas_counts(store, now)
    out.write_text(json.dumps(counts))


# -- the benchmark ----------------------------------------------------------------------


def auditkit_counts(report: Path) -> dict[str, int]:
    data = json.loads((report / "validation.json").read_text())
    return {c["name"]: c["bad_count"] for c in data["checks"] if c["name"] in CHECKS}


Measured = tuple[float, float, int]  # median wall s, median CPU s, max peak RSS bytes


def measure(cmd: list[str], repeat: int) -> Measured:
    runs = [run_measured(cmd) for _ in range(repeat)]
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        max(r[2] for r in runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pandas-max", type=int, default=10_000_000)
    parser.add_argument("--reference", choices=["duckdb", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build_store(args.build)
        return
    if args.reference:
        reference_main(args.reference, args.store, args.json)
        return

    rows = []
    notes = []
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    for n in args.sizes:
        repeat = args.repeat if n <= 1_000_000 else 1
        store = ensure_store(n)
        report = DATA / "validate-report"
        # validate exits 1 because the store holds defects on purpose: accept 0 or 1
        cli = [str(BIN / "auditkit"), "validate", "--store", str(store), "--out", str(report)]
        full = measure(["sh", "-c", '"$@"; [ $? -le 1 ]', "sh", *cli], repeat)
        ours = auditkit_counts(report)
        well = measure(
            ["sh", "-c", '"$@"; [ $? -le 1 ]', "sh", *cli, "--suite", "well_formed"], repeat
        )
        here = str(Path(__file__).resolve())
        results: dict[str, Measured | None] = {}
        for engine in ("duckdb", "pandas"):
            if engine == "pandas" and n > args.pandas_max:
                results[engine] = None
                continue
            out = DATA / f"validate-{engine}.json"
            cmd = [
                sys.executable,
                here,
                "--reference",
                engine,
                "--store",
                str(store),
                "--json",
                str(out),
            ]
            results[engine] = measure(cmd, repeat)
            theirs = json.loads(out.read_text())
            differ = {k: (ours[k], theirs[k]) for k in CHECKS if ours[k] != theirs[k]}
            if differ:
                raise SystemExit(f"{engine} disagrees with auditkit at {n:,}: {differ}")
        found = ", ".join(f"{k} {v}" for k, v in ours.items() if v)
        notes.append(f"{n:,} events: all engines found the same bad rows ({found}).")

        def cell(value: Measured | None) -> str:
            if value is None:
                return "—"
            wall, cpu, peak = value
            return f"{wall:.1f} s / {cpu:.1f} s / {peak / 2**20:,.0f} MiB"

        duck, pand = results["duckdb"], results["pandas"]
        rows.append(
            [
                f"{n:,}",
                cell(full),
                cell(well),
                cell(duck),
                cell(pand),
                f"{duck[1] / well[1]:.2f}" if duck else "—",
                f"{pand[1] / well[1]:.2f}" if pand else "—",
            ]
        )
        print(rows[-1], file=sys.stderr)
    md = (
        "## Validate (issue 6)\n\n"
        f"Machine: {machine()}; load average when the runs started: {load} (other jobs\n"
        "shared the 2 cores, so times vary by ±50 % between runs).\n"
        f"Median of {args.repeat} runs at 1M, one run at 10M. Every run is a fresh process:\n"
        "times include interpreter start and, for auditkit, importing great-expectations\n"
        "(7–8 s on this machine, overlapped with the Polars checks). Stores: generated\n"
        "activity over 90 days, one file per day, plus one file of 100 defective rows from an\n"
        '"external writer". The references compute the same well-formed checks on the same\n'
        "files: DuckDB as one SQL query (`json_valid`, regexes), pandas with the needed\n"
        "columns loaded at once (`isin`, regexes and `ipaddress` on distinct non-IPv4 values,\n"
        "`json.loads` per value). Cells: wall time / CPU time (user + system, all threads) /\n"
        "peak RSS. Ratios compare CPU times (less sensitive to other jobs); below 1: the\n"
        "reference is cheaper.\n"
        "Targets: 1M under 15 s, 10M under 2 minutes (full `auditkit validate`).\n\n"
        + table(
            [
                "events",
                "auditkit validate (both suites)",
                "auditkit --suite well_formed",
                "DuckDB well-formed SQL",
                "pandas well-formed",
                "DuckDB ÷ auditkit well_formed (CPU)",
                "pandas ÷ auditkit well_formed (CPU)",
            ],
            rows,
        )
        + "\n\n"
        + "\n".join(f"- {note}" for note in notes)
    )
    write_section("validate", md)


if __name__ == "__main__":
    main()
