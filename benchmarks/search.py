"""Search speed: representative queries on 1M and 10M generated events, next to DuckDB.

auditkit is measured two ways: ``Session(cache=True)`` (the store in memory, sorted by
time, with the dictionary index the explorer uses) and ``Session()`` straight from the
Parquet store. DuckDB runs the equivalent SQL on a table loaded in memory and on the same
Parquet files, in the same run. Every query's row count is checked to agree across all
four before its time is recorded. Usage::

    python benchmarks/search.py [--sizes 1000000 10000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
from common import generated_store, machine, table, timed, write_section

from auditkit import Context, Session, Store
from auditkit.search import free_text_columns

FREE_TEXT = free_text_columns()  # what a free word is matched against


def cases(store: Store, now_sql: str) -> list[tuple[str, str, str]]:
    """(name, auditkit query, DuckDB WHERE) — picked from the data so each finds rows."""
    frame = store.scan()
    busy = (
        frame.filter(
            (pl.col("action") == "updated") & (pl.col("resource_type") == "database")
        )
        .group_by("actor").agg(pl.len()).sort("len", "actor", descending=[True, False])
        .head(1).collect().item(0, "actor")
    )  # fmt: skip
    resource_id = (
        frame.group_by("resource_id").agg(pl.len()).filter(pl.col("resource_id").is_not_null())
        .sort("len", "resource_id", descending=[True, False])
        .slice(50, 1).collect().item(0, "resource_id")
    )  # fmt: skip
    ip = frame.select(pl.col("ip_address").drop_nulls().mode().first()).collect().item()
    prefix = ip.rsplit(".", 1)[0]
    ft = " OR ".join(f"coalesce({c} ILIKE '%timeout%', false)" for c in FREE_TEXT)
    return [
        (
            "selective filter (the seed's example)",
            f"user:{busy} action:updated resource:database status:success date:7d",
            f"lower(actor) = lower('{busy}') AND (lower(action) = 'updated' OR "
            "lower(operation) = 'updated') AND (lower(resource_type) = 'database' OR "
            "lower(resource_name) = 'database') AND status = 'success' AND "
            f"timestamp >= {now_sql} - INTERVAL 7 DAY",
        ),
        ("free text `timeout`", "timeout", ft),
        (f"IP prefix `ip:{prefix}`", f"ip:{prefix}", f"ip_address LIKE '{prefix}.%'"),
        ("resource history", f"resource_id:{resource_id}", f"resource_id = '{resource_id}'"),
    ]


@dataclass
class Measure:
    """What one store's measurements share."""

    queries: list[tuple[str, str, str]]
    extra: list[str]
    since: datetime
    repeat: int
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def forget(session: Session) -> None:
    """Drop the value tests the in-memory index remembers (its dictionaries stay)."""
    if session._index is not None:
        for dictionary in session._index._dictionaries.values():
            dictionary._remembered.clear()


def run_auditkit(mode: str, session: Session, m: Measure) -> None:
    for name, query, _ in m.queries:
        m.counts[name][mode] = session.count(query)
        if session._index is not None:  # a query not asked before (dictionaries built)
            forget(session)
            started = time.perf_counter()
            session.count(query)
            m.results[name]["first"] = time.perf_counter() - started
        m.results[name][mode] = timed(lambda q=query: session.count(q), m.repeat)
    timeline = lambda: session.events("date:30d").group_by(  # noqa: E731
        pl.col("timestamp").dt.date()).agg(pl.len()).collect()  # fmt: skip
    m.counts[m.extra[0]][mode] = timeline().get_column("len").sum()
    m.results[m.extra[0]][mode] = timed(timeline, m.repeat)
    out = Path(tempfile.mkdtemp()) / "export.csv"
    export = lambda: session.export("date:30d", out, "csv")  # noqa: E731
    m.counts[m.extra[1]][mode] = export().rows
    m.results[m.extra[1]][mode] = timed(export, max(1, m.repeat // 2), warmup=0)
    shutil.rmtree(out.parent)


def run_duck(mode: str, con: duckdb.DuckDBPyConnection, source: str, m: Measure) -> None:
    for name, _, where in m.queries:
        sql = f"SELECT count(*) FROM {source} WHERE {where}"
        m.counts[name][mode] = con.execute(sql).fetchone()[0]  # type: ignore[index]
        m.results[name][mode] = timed(lambda s=sql: con.execute(s).fetchone(), m.repeat)
    tl = (
        f"SELECT date_trunc('day', timestamp) d, count(*) FROM {source} "
        f"WHERE timestamp >= TIMESTAMPTZ '{m.since.isoformat()}' GROUP BY d"
    )
    m.counts[m.extra[0]][mode] = sum(r[1] for r in con.execute(tl).fetchall())
    m.results[m.extra[0]][mode] = timed(lambda: con.execute(tl).fetchall(), m.repeat)
    out = Path(tempfile.mkdtemp()) / "export.csv"
    cols = (
        "timestamp, actor AS user, action, resource_type || ':' || "
        "coalesce(resource_name, resource_id, '') AS resource, status, ip_address"
    )
    copy = (
        f"COPY (SELECT {cols} FROM {source} WHERE timestamp >= "
        f"TIMESTAMPTZ '{m.since.isoformat()}' ORDER BY timestamp DESC) TO '{out}' (HEADER)"
    )
    m.counts[m.extra[1]][mode] = con.execute(
        f"SELECT count(*) FROM {source} WHERE timestamp >= TIMESTAMPTZ '{m.since.isoformat()}'"
    ).fetchone()[0]  # type: ignore[index]
    m.results[m.extra[1]][mode] = timed(lambda: con.execute(copy), max(1, m.repeat // 2), 0)
    shutil.rmtree(out.parent)


def index_size(session: Session) -> int:
    """Bytes the in-memory index holds beside the events: codes, distinct values and
    postings of every column it has a dictionary for."""
    assert session._index is not None
    total = 0
    for dictionary in session._index._dictionaries.values():
        total += dictionary.codes.estimated_size() + dictionary.values.estimated_size()
        total += dictionary.value_codes.estimated_size()
        if dictionary._order is not None:
            total += dictionary._order.estimated_size() + 8 * len(dictionary._starts)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows: list[list[str]] = []
    notes: list[str] = []
    for n in args.sizes:
        path = generated_store(n)
        store = Store(path)
        now = store.scan().select(pl.col("timestamp").max()).collect().item()
        ctx = Context(now=now)
        now_sql = f"TIMESTAMPTZ '{now.isoformat()}'"
        glob = f"{path}/events/*/*.parquet"
        extra = ["30-day timeline (events per day)", "30-day CSV export"]
        m = Measure(cases(store, now_sql), extra, now - timedelta(days=30), args.repeat)
        for name in [q for q, _, _ in m.queries] + extra:
            m.results[name], m.counts[name] = {}, {}

        # auditkit straight from Parquet
        run_auditkit("auditkit Parquet", Session(store, ctx=ctx), m)
        # auditkit in memory (what the explorer uses)
        started = time.perf_counter()
        session = Session(store, ctx=ctx, cache=True, warm_up=True)
        load = time.perf_counter() - started
        assert session.warming is not None and session._index is not None
        session.warming.join()
        warm = time.perf_counter() - started - load
        run_auditkit("auditkit memory", session, m)
        frame_mib = session._index.frame.estimated_size() / 2**20
        index_mib = index_size(session) / 2**20
        notes.append(
            f"{n:,} events: loading the store into memory took {load:.1f} s ({frame_mib:,.0f} "
            f"MiB); the index's warm-up (the search columns' dictionaries, the facet "
            f"columns' postings; in the background in the explorer) took {warm:.1f} s more. "
            f"After the queries the index held {index_mib:,.0f} MiB beside the events. "
            "Nothing is built at ingest and nothing is added on disk."
        )
        del session
        gc.collect()

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        run_duck("DuckDB Parquet", con, f"read_parquet('{glob}')", m)
        con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{glob}')")
        run_duck("DuckDB memory", con, "events", m)
        con.close()
        gc.collect()

        for name, by_mode in m.results.items():
            distinct = set(m.counts[name].values())
            if len(distinct) != 1:
                raise SystemExit(f"engines disagree on {name!r} at {n}: {m.counts[name]}")
            best_duck = min(by_mode["DuckDB memory"], by_mode["DuckDB Parquet"])
            ours = by_mode["auditkit memory"]
            first = by_mode.get("first")
            rows.append([
                f"{n:,}", name, f"{distinct.pop():,}",
                f"{ours * 1e3:,.1f}", f"{first * 1e3:,.1f}" if first else "",
                f"{by_mode['auditkit Parquet'] * 1e3:,.0f}",
                f"{by_mode['DuckDB memory'] * 1e3:,.1f}", f"{by_mode['DuckDB Parquet'] * 1e3:,.0f}",
                f"{best_duck / ours:.2f}",
            ])  # fmt: skip
            print(rows[-1], file=sys.stderr)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    md = (
        "## Search (issue 3)\n\n"
        f"Machine: {machine()}. Median of {args.repeat} warm runs (exports: fewer), in ms.\n"
        "auditkit memory = `Session(store, cache=True)` (time-sorted frame + dictionary\n"
        "index; what the explorer uses); auditkit Parquet = `Session(store)` reading only\n"
        "the day partitions a query needs. DuckDB runs the equivalent SQL on a table in\n"
        "memory and on the same Parquet files. Row counts agree across all four for every\n"
        "query. Ratio = the better DuckDB time ÷ auditkit memory time (> 1: auditkit faster).\n"
        "Warm runs repeat a query, as an analyst refining a search does: the index remembers\n"
        "each column's last 64 value tests, so they skip testing the distinct values again.\n"
        "*auditkit memory, first run*: the same query asked for the first time (the column\n"
        "dictionaries already built, no value test remembered).\n\n"
        + table(
            [
                "events",
                "query",
                "rows",
                "auditkit memory",
                "auditkit memory, first run",
                "auditkit Parquet",
                "DuckDB memory",
                "DuckDB Parquet",
                "best DuckDB ÷ auditkit",
            ],
            rows,
        )
        + "\n\n"
        + "\n".join(f"- {note}" for note in notes)
        + f"\n- Peak RSS of the benchmark process: {peak:,.1f} GiB.\n"
    )
    write_section("search", md)


if __name__ == "__main__":
    main()
