"""The ``auditkit`` command.

Each sub-command is a thin shell over a library function; errors are auditkit's own
exceptions, printed without a traceback, with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.console import print_events
from auditkit.errors import AuditkitError

EXIT_ERROR = 2
INGEST_BUFFER_ROWS = 250_000


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
    except BrokenPipeError:  # `auditkit search … | head`: the reader has seen enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the exit flush does not fail again
        return 0


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
        action="extend",
        nargs="+",
        choices=["well_formed", "complete"],
        help="suites to run (default: both)",
    )
    p.add_argument("--config", type=Path, help="TOML file of thresholds (see docs/validation.md)")
    p.add_argument(
        "--out", "-o", type=Path, help="report directory (default ./validation-<timestamp>/)"
    )

    p = command("search", _search, "search events (newest first) with the search-box language")
    p.add_argument("query", help='search text, e.g. "user:alice status:failed date:7d"')
    p.add_argument("--store", "-s", type=Path, required=True)
    p.add_argument("--limit", "-n", type=int, default=20, help="events per page (default 20)")
    p.add_argument("--older-than", help="cursor printed at the end of the previous page")
    p.add_argument("--output", choices=["table", "json", "csv"], default="table")
    p.add_argument("--me", help="who user:me is (an actor id)")

    p = command("show", _show, "show one event: basic info, metadata, changes, attributes")
    p.add_argument("event_id")
    p.add_argument("--store", "-s", type=Path, required=True)

    p = command("history", _history, "every event on one resource, oldest first, or its state")
    p.add_argument("resource", help="resource id, exact name, or type:name")
    p.add_argument("--store", "-s", type=Path, required=True)
    p.add_argument(
        "--at", help="print the state at this time instead (a date means the end of that day)"
    )

    p = command("export", _export, "write the events a search matches to a file, with a manifest")
    p.add_argument("query", help='search text ("" for every event)')
    p.add_argument("--store", "-s", type=Path, required=True)
    p.add_argument("--format", "-f", choices=["csv", "json", "jsonl", "parquet"], required=True)
    p.add_argument("--out", "-o", type=Path, required=True, help="output file")
    p.add_argument(
        "--all-columns", action="store_true", help="CSV: every column, not the default six"
    )
    p.add_argument("--me", help="who user:me is (an actor id)")

    p = command("investigate", _investigate, "run an investigation and print its findings")
    p.add_argument(
        "kind",
        choices=["changes", "user", "leak", "failures"],
        help="changes: who changed a resource; user: one user's activity; leak: a resource's "
        "views, exports and access; failures: failed operations grouped by error",
    )
    p.add_argument("target", nargs="?", help="the resource (or user); optional for failures")
    p.add_argument("--store", "-s", type=Path, required=True)
    p.add_argument(
        "--since", help="start, inclusive: YYYY-MM-DD, ISO date-time (UTC), or 7d/24h/2w"
    )
    p.add_argument("--until", help="end, exclusive; a date YYYY-MM-DD includes that whole day")
    p.add_argument("--field", help="changes: only changes touching this field")
    p.add_argument("--rows", type=int, default=20, help="rows shown per table (default 20)")

    p = command("explore", _explore, "serve the interactive explorer (Voilà) on 127.0.0.1")
    p.add_argument("store", type=Path, help="event store directory")
    p.add_argument("--port", type=int, help="port (default: a free one)")
    p.add_argument("--me", help="who the 'me' user filter is (an actor id)")
    p.add_argument("--now", help="pretend it is this ISO 8601 time (default: the clock)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")

    _report_commands(sub)
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
        batches = (
            batch
            for path in args.paths
            for batch in sources.read(path, format=args.format, strict=args.strict)
        )
        for batch in sources.read_ahead(batches):
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


def _open_session(args: argparse.Namespace) -> Any:
    from datetime import UTC, datetime

    from auditkit.filters import Context
    from auditkit.query import Session
    from auditkit.store import Store

    ctx = Context(now=datetime.now(UTC), me=getattr(args, "me", None))
    return Session(Store(args.store), ctx=ctx)


def _search(args: argparse.Namespace) -> int:
    import shlex

    from auditkit.query import Cursor

    session = _open_session(args)
    query = session.parse(args.query)
    cursor = Cursor.parse(args.older_than) if args.older_than else None
    # With --output json/csv stdout holds only the rows; the rest goes to stderr.
    hint = sys.stdout if args.output == "table" else sys.stderr
    print(f"filters applied: {session.describe(query)}\n", file=hint)
    result = session.page(query, limit=args.limit, older=cursor)
    print_events(result.rows, args.output)
    if result.older is None:
        print("\n(no older events)", file=hint)
        return 0
    again = ["auditkit", "search", args.query, "--store", str(args.store)]
    if args.limit != 20:
        again += ["--limit", str(args.limit)]
    if args.output != "table":
        again += ["--output", args.output]
    if args.me:
        again += ["--me", args.me]
    again += ["--older-than", str(result.older)]
    print("\nolder: " + shlex.join(again), file=hint)
    return 0


def _show(args: argparse.Namespace) -> int:
    from auditkit.diff import details

    print(details(_open_session(args).get(args.event_id)).to_text())
    return 0


def _history(args: argparse.Namespace) -> int:
    from auditkit.history import history, resolve, state_at

    session = _open_session(args)
    resource = resolve(session, args.resource)
    if args.at:
        when = _cli_time(session, "--at", args.at, end=True, inclusive=True)
        state = state_at(session, resource, when)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
        if state is None:
            print(
                f"{resource.label} at {stamp}: no recorded state (not created yet, deleted, "
                "or its state was never logged)"
            )
        else:
            print(f"{resource.label} at {stamp}:")
            print(json.dumps(state, indent=2, ensure_ascii=False, default=str))
        return 0
    frame = history(session, resource)
    print(f"history of {resource.label}: {frame.height:,} events, oldest first\n")
    print_table(
        frame.select("timestamp", "actor", "action", "status", "changes", "event_id"),
        max_rows=None,
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from auditkit.export import manifest_path_for

    session = _open_session(args)
    query = session.parse(args.query)
    manifest = session.export(query, args.out, args.format, all_columns=args.all_columns)
    print(f"filters applied: {manifest.description}")
    print(f"wrote {manifest.rows:,} rows to {args.out}")
    print(f"manifest: {manifest_path_for(args.out)} (sha256 {manifest.sha256})")
    return 0


def _explore(args: argparse.Namespace) -> int:
    from auditkit.widgets import serve

    return serve(
        args.store,
        port=args.port,
        me=args.me,
        now=_now_arg(args.now),
        open_browser=not args.no_browser,
    )


def _investigate(args: argparse.Namespace) -> int:
    import textwrap

    from auditkit import investigate
    from auditkit.errors import QueryError

    session = _open_session(args)
    if args.target is None and args.kind != "failures":
        raise QueryError(f"investigate {args.kind} needs a TARGET (a resource or a user)")
    if args.field and args.kind != "changes":
        raise QueryError("--field applies only to `investigate changes`")
    start = _cli_time(session, "--since", args.since) if args.since else None
    end = _cli_time(session, "--until", args.until, end=True) if args.until else None
    if args.kind == "changes":
        result = investigate.who_changed(
            session, args.target, field=args.field, start=start, end=end
        )
    elif args.kind == "user":
        result = investigate.user_activity(session, args.target, start=start, end=end)
    elif args.kind == "leak":
        result = investigate.leak_timeline(session, args.target, start=start, end=end)
    else:
        result = investigate.failures(session, args.target, start=start, end=end)
    print(result.title)
    print("=" * len(result.title))
    print(textwrap.fill(result.summary, width=100))
    print(f"\nquery: {result.query}")
    for name, frame in result.frames.items():
        print(f"\n{name} ({frame.height:,} rows)")
        print_table(frame, max_rows=args.rows)
    return 0


def _cli_time(
    session: Any, flag: str, text: str, *, end: bool = False, inclusive: bool = False
) -> Any:
    """A --since/--until/--at value as a UTC datetime, read by the search language's dates.

    A start is the first instant of a date; an end is exclusive, except that a bare date
    includes that whole day; ``inclusive`` returns the last instant instead (for --at).
    """
    import re
    from datetime import timedelta

    from auditkit.errors import QueryError, SearchSyntaxError
    from auditkit.search import parse

    relative = re.fullmatch(r"\d+[hdw]|today|yesterday", text.strip().lower())
    if relative and not end:
        spec = text.strip()
    elif end:
        whole_day = inclusive or re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip())
        spec = ("<=" if whole_day else "<") + text.strip()
    else:
        spec = ">=" + text.strip()
    try:
        start, stop = parse(f'date:"{spec}"').time_bounds(session.ctx)
    except SearchSyntaxError as exc:
        raise QueryError(
            f"bad {flag} {text!r}: {exc.reason}\nHint: use YYYY-MM-DD, an ISO date-time such "
            "as 2026-10-05T14:30:00Z" + ("" if end else ", or 7d / 24h / 2w")
        ) from None
    value = stop if end else start
    if value is None:
        raise QueryError(f"bad {flag} {text!r}: not a point in time")
    return value - timedelta(microseconds=1) if inclusive else value


def print_table(frame: pl.DataFrame, *, max_rows: int | None = 20) -> None:
    """Print any frame as plain aligned columns (times in UTC, lists joined by commas)."""
    if frame.is_empty():
        print("  (none)")
        return
    shown = frame if max_rows is None else frame.head(max_rows)
    shown = shown.with_columns(
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.col(pl.List(pl.String)).list.join(", "),
    ).select(pl.all().cast(pl.String).fill_null(""))
    with pl.Config(
        tbl_formatting="NOTHING",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=1000,
        fmt_str_lengths=100,
    ):
        print(shown)
    if shown.height < frame.height:
        print(f"  … {frame.height - shown.height:,} more rows")


# -- reports and schedules ---------------------------------------------------------------


def _report_commands(sub: Any) -> None:
    """The ``report`` and ``schedule`` command groups (auditkit.reports)."""

    def group(name: str, help: str) -> Any:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=lambda args: p.print_help() or EXIT_ERROR)
        return p.add_subparsers(title=f"{name} commands", metavar="COMMAND")

    def command(group: Any, name: str, func: Callable[[argparse.Namespace], int], help: str) -> Any:
        p = group.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    reports = group("report", "compliance reports: list the templates, run one to offline HTML")
    p = command(reports, "list", _report_list, "each report: what it shows and its parameters")
    p.add_argument("--templates", type=Path, help="an extra directory of report templates")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(reports, "run", _report_run, "run a report: executed notebook, HTML, attachments")
    p.add_argument("name", help="report name (see `auditkit report list`) or a template .ipynb")
    p.add_argument(
        "-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="a parameter"
    )
    p.add_argument(
        "--out", "-o", type=Path, default=Path("."), help="output directory (default: .)"
    )
    p.add_argument("--templates", type=Path, help="an extra directory of report templates")
    p.add_argument("--timeout", type=float, help="seconds one cell may run (default: no limit)")

    schedules = group("schedule", "scheduled reports delivered by email (a TOML schedule file)")
    p = command(schedules, "list", _schedule_list, "each entry, when it runs next, its last run")
    p.add_argument("file", type=Path, help="the schedule file (TOML)")
    p.add_argument("--state", type=Path, help="state file, to show each entry's last run")
    p.add_argument("--now", help="pretend it is this ISO 8601 time")
    p = command(
        schedules, "run-due", _schedule_run_due, "run what fell due since the last call (cron)"
    )
    p.add_argument("file", type=Path, help="the schedule file (TOML)")
    p.add_argument("--state", type=Path, required=True, help="state file (JSON, created if new)")
    p.add_argument("--entry", action="append", help="only this entry (repeatable)")
    p.add_argument("--now", help="pretend it is this ISO 8601 time")
    p = command(schedules, "serve", _schedule_serve, "run due reports until SIGTERM/SIGINT")
    p.add_argument("file", type=Path, help="the schedule file (TOML)")
    p.add_argument("--state", type=Path, required=True, help="state file (JSON, created if new)")
    p.add_argument("--poll", type=float, default=60.0, help="longest sleep, seconds (default 60)")
    p.add_argument("--max-iterations", type=int, help="stop after this many rounds")


def _report_list(args: argparse.Namespace) -> int:
    from auditkit.reports.template import list_templates

    templates = list_templates(args.templates)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": t.name,
                        "title": t.title,
                        "description": t.description,
                        "parameters": [
                            {
                                "name": p.name,
                                "type": p.type,
                                "required": p.required,
                                "default": None if p.required else p.default,
                                "help": p.help,
                            }
                            for p in t.parameters
                        ],
                    }
                    for t in templates
                ],
                indent=2,
            )
        )
        return 0
    for t in templates:
        print(f"{t.name} — {t.title}\n  {t.description}")
        for param in t.parameters:
            print(f"    {param.signature()}")
        print()
    print("run one: auditkit report run NAME -p store=DIR -p period='last week' --out DIR")
    return 0


def _report_run(args: argparse.Namespace) -> int:
    from auditkit.reports.runner import run_report

    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            print(f"auditkit: error: -p {item!r}: expected KEY=VALUE", file=sys.stderr)
            return EXIT_ERROR
        params[key.strip()] = value
    result = run_report(args.name, params, args.out, templates=args.templates, timeout=args.timeout)
    print(f"{result.title}\n  html:     {result.html}\n  notebook: {result.notebook}")
    for path in result.attachments:
        print(f"  attached: {path}")
    steps = ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
    print(f"  {result.seconds:.1f} s ({steps})")
    return 0


def _now_arg(text: str | None) -> Any:
    from datetime import UTC, datetime

    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AuditkitError(f"--now {text!r}: expected an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _schedule_list(args: argparse.Namespace) -> int:
    from auditkit.reports.schedule import load_schedule
    from auditkit.reports.scheduler import upcoming

    schedule = load_schedule(args.file)
    for row in upcoming(schedule, args.state, _now_arg(args.now)):
        nxt = row["next_run"]
        when = "disabled" if nxt is None else f"next {_at(nxt, row['timezone'])}"
        print(f"{row['name']}: {row['report']}, {row['when']} ({row['timezone']}); {when}")
        print(
            f"  to: {', '.join(row['recipients']) or '(nobody: rendered only)'}; "
            f"formats: {', '.join(row['formats'])}; owner: {row['owner'] or '(none)'}"
        )
        if row["last"]:
            last = row["last"]
            print(
                f"  last: {last['status']} (due {last['due']}"
                + (f", period {last['period']}" if last.get("period") else "")
                + ")"
            )
    return 0


def _at(moment: Any, tz: str) -> str:
    from auditkit.reports.period import zone

    return str(moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z"))


def _schedule_run_due(args: argparse.Namespace) -> int:
    from auditkit.reports.schedule import load_schedule
    from auditkit.reports.scheduler import run_due

    schedule = load_schedule(args.file)
    records = run_due(schedule, args.state, now=_now_arg(args.now), only=args.entry)
    if not records:
        print("nothing due")
    return 1 if any(r.status == "failed" for r in records) else 0


def _schedule_serve(args: argparse.Namespace) -> int:
    from auditkit.reports.scheduler import serve

    serve(
        args.file,
        args.state,
        poll=args.poll,
        max_iterations=args.max_iterations,
        log=lambda line: print(line, flush=True),
    )
    return 0


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
