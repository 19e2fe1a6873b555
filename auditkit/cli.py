"""The ``auditkit`` command.

Each sub-command is a thin shell over a library function; errors are auditkit's own
exceptions, printed without a traceback, with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from auditkit.console import print_events
from auditkit.errors import AuditkitError

EXIT_ERROR = 2
INGEST_BUFFER_ROWS = 1_000_000


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args.func(args) or 0)
    except AuditkitError as exc:
        print(f"auditkit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("auditkit: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditkit",
        description="Activity logs (audit trails): load, search, investigate, report, validate.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command("ingest", _ingest, "load log files into an event store")
    p.add_argument("paths", nargs="+", type=Path, help="files or directories to load")
    p.add_argument(
        "--store", "-s", type=Path, required=True, help="event store directory (created if new)"
    )
    p.add_argument(
        "--format", "-f", help="source format (default: detect per file); see `auditkit sources`"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad record instead of keeping it aside",
    )
    p.add_argument(
        "--rejects", type=Path, help="also write rejected records to this JSON Lines file"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")

    p = command("generate", _generate, "generate realistic demo activity")
    p.add_argument(
        "--events", "-n", type=int, default=100_000, help="how many events (default 100000)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--days", type=int, default=90, help="span of days ending at --end (default 90)")
    p.add_argument("--end", help="end of the span, ISO date/time UTC (default 2026-11-01)")
    p.add_argument(
        "--out", "-o", type=Path, required=True, help="output: a store directory, or a file"
    )
    p.add_argument(
        "--format",
        default="store",
        choices=["store", "jsonl", "json", "csv", "csv-short", "parquet", "cloudtrail"],
        help="'store' ingests into an event store at --out (default); others write a file",
    )

    p = command("tail", _tail, "show the newest events, newest first, paging to older")
    p.add_argument("--store", "-s", type=Path, required=True)
    p.add_argument("--limit", "-n", type=int, default=20, help="events per page (default 20)")
    p.add_argument("--older-than", help="cursor printed at the end of the previous page")
    p.add_argument("--output", choices=["table", "json", "csv"], default="table")

    p = command("stats", _stats, "counts by action, status and source, time span, and store layout")
    p.add_argument("--store", "-s", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("compact", _compact, "merge each partition's small files into one sorted file")
    p.add_argument("--store", "-s", type=Path, required=True)

    p = command("rejects", _rejects, "show records that were rejected at ingest, with reasons")
    p.add_argument("--store", "-s", type=Path, required=True)
    p.add_argument("--limit", "-n", type=int, default=20)

    p = command("validate", _validate, "check the store is well-formed and complete")
    p.add_argument("--store", "-s", type=Path, required=True)
    p.add_argument("--since", help="start, inclusive: YYYY-MM-DD or ISO date-time (UTC)")
    p.add_argument("--until", help="end, exclusive; a date YYYY-MM-DD includes that whole day")
    p.add_argument("--source", help="validate only the events of this source")
    p.add_argument(
        "--suite",
        action="append",
        choices=["well_formed", "complete"],
        help="suite to run (repeatable; default: both)",
    )
    p.add_argument("--config", type=Path, help="TOML file of thresholds (see docs/validation.md)")
    p.add_argument(
        "--out", "-o", type=Path, help="report directory (default ./validation-<timestamp>/)"
    )

    command("sources", _sources, "list the source formats (built-in and plugins)")
    command("schema", _schema, "print the canonical event schema")
    return parser


# -- commands ---------------------------------------------------------------------------


def _ingest(args: argparse.Namespace) -> int:
    from auditkit import sources
    from auditkit.store import Store

    store = Store(args.store, create=True)
    progress = _Progress(enabled=not args.quiet and sys.stderr.isatty())
    totals = {"read": 0, "added": 0, "duplicates": 0, "rejected": 0}
    notes: list[str] = []
    buffer: list[pl.DataFrame] = []
    buffered = 0
    rejects_out = open(args.rejects, "w") if args.rejects else None  # noqa: SIM115
    started = time.perf_counter()

    def flush() -> None:
        nonlocal buffer, buffered
        if buffer:
            result = store.append(pl.concat(buffer))
            totals["added"] += result.added
            totals["duplicates"] += result.duplicates
        buffer, buffered = [], 0

    try:
        for path in args.paths:
            for batch in sources.read(path, format=args.format, strict=args.strict):
                totals["read"] += batch.events.height
                totals["rejected"] += batch.rejects.height
                notes.extend(batch.notes)
                if batch.rejects.height:
                    store.add_rejects(batch.rejects)
                    if rejects_out:
                        for row in batch.rejects.iter_rows(named=True):
                            rejects_out.write(json.dumps(row, ensure_ascii=False) + "\n")
                if batch.events.height:
                    buffer.append(batch.events)
                    buffered += batch.events.height
                    if buffered >= INGEST_BUFFER_ROWS:
                        flush()
                progress.show(f"{totals['read']:,} events read, {totals['rejected']:,} rejected")
        flush()
    finally:
        progress.done()
        if rejects_out:
            rejects_out.close()
    if store.small_partitions():
        store.compact()
    seconds = time.perf_counter() - started
    print(
        f"loaded {totals['read']:,} events: {totals['added']:,} added, "
        f"{totals['duplicates']:,} already stored; {totals['rejected']:,} rejected "
        f"({seconds:.1f} s) into {store.root}"
    )
    for note in notes:
        print(f"note: {note}")
    if totals["rejected"]:
        where = f" and {args.rejects}" if args.rejects else ""
        print(
            f"rejected records are kept with file, line and reason: "
            f"`auditkit rejects --store {store.root}`{where}"
        )
    return 0


def _generate(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from auditkit import generate

    end = None
    if args.end:
        end = datetime.fromisoformat(args.end.replace("Z", "+00:00"))
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
    batches = generate.iter_generate(args.events, seed=args.seed, end=end, days=args.days)
    started = time.perf_counter()
    if args.format != "store":
        path = generate.write(batches, args.out, args.format)
        print(f"wrote {args.events:,} events to {path} ({time.perf_counter() - started:.1f} s)")
        return 0
    from auditkit.store import Store

    store = Store(args.out, create=True)
    added = 0
    for batch in batches:
        added += store.append(batch).added
    if store.small_partitions():
        store.compact()
    print(
        f"generated {added:,} events into store {store.root} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    return 0


def _tail(args: argparse.Namespace) -> int:
    from auditkit.query import Cursor, page
    from auditkit.store import Store

    store = Store(args.store)
    cursor = Cursor.parse(args.older_than) if args.older_than else None
    result = page(store.scan(), limit=args.limit, older=cursor)
    print_events(result.rows, args.output)
    # With --output json/csv stdout holds only the rows; the cursor goes to stderr.
    hint = sys.stdout if args.output == "table" else sys.stderr
    if result.older:
        print(
            f"\nolder: auditkit tail --store {store.root} --older-than '{result.older}'", file=hint
        )
    else:
        print("\n(no older events)", file=hint)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from auditkit.store import Store

    store = Store(args.store)
    summary = store.summary()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(f"store: {store.root.resolve()}")
    print(
        f"events: {summary['events']:,}  from {summary['first']}  to {summary['last']}\n"
        f"partitions: {summary['partitions']:,} days, {summary['files']:,} files, "
        f"{summary['bytes'] / 1e6:,.1f} MB; rejected records kept: {summary['rejects']:,}"
    )
    for key in ("action", "status", "source", "actor_type"):
        counts = summary["by_" + key]
        print(f"\nby {key}:")
        for name, count in counts.items():
            print(f"  {name!s:<16} {count:>12,}")
    return 0


def _compact(args: argparse.Namespace) -> int:
    from auditkit.store import Store

    result = Store(args.store).compact()
    print(
        f"compacted {result.partitions} partitions: {result.files_before} files → "
        f"{result.files_after}"
    )
    return 0


def _rejects(args: argparse.Namespace) -> int:
    from auditkit.store import Store

    frame = Store(args.store).rejects().sort("ingested_at", descending=True).collect()
    print(f"{frame.height:,} rejected records")
    for row in frame.head(args.limit).iter_rows(named=True):
        where = f"{row['file']}:{row['line']}" if row["line"] is not None else row["file"]
        print(f"\n{where}\n  reason: {row['reason']}\n  record: {row['raw'][:200]}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from auditkit.store import Store
    from auditkit.validation import SUITES, ValidationConfig, validate

    config = ValidationConfig.from_toml(args.config) if args.config else None
    result = validate(
        Store(args.store),
        since=args.since,
        until=args.until,
        source=args.source,
        suites=tuple(args.suite or SUITES),
        config=config,
    )
    out = args.out or Path(f"validation-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "validation.json").write_text(result.to_json(), encoding="utf-8")
        (out / "validation.html").write_text(result.to_html(), encoding="utf-8")
    except OSError as exc:
        print(f"auditkit: error: cannot write the report to {out}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(result.summary_table())
    print(f"report: {out / 'validation.html'} and {out / 'validation.json'}")
    return 0 if result.passed else 1


def _sources(args: argparse.Namespace) -> int:
    from auditkit import sources

    for name, source in sorted(sources.available().items()):
        print(f"{name:<12} {source.description}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from auditkit.schema import DESCRIPTIONS, REQUIRED, SCHEMA

    for name, dtype in SCHEMA.items():
        flag = "required" if name in REQUIRED else ""
        print(f"{name:<14} {dtype!s:<28} {flag:<9} {DESCRIPTIONS[name]}")
    return 0


# -- output -----------------------------------------------------------------------------


class _Progress:
    """A one-line progress display on stderr (only on a terminal)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0

    def show(self, text: str) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last > 0.2:
            print(f"\r{text}", end="", file=sys.stderr, flush=True)
            self.last = now

    def done(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
