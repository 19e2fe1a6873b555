"""The session read path: the in-memory index answers exactly as the Parquet scan does."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from auditkit import Context, Cursor, QueryError, Session, Store
from auditkit.errors import NotFoundError
from auditkit.generate import generate
from auditkit.search import Query, parse

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CTX = Context(now=NOW, me="maria.lopez@company.com")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    events = generate(40_000, seed=11, end=NOW, days=30)
    # Ties on timestamp make the event_id tie-break matter for paging.
    tied = events.head(300).with_columns(pl.lit(NOW - timedelta(hours=5)).alias("timestamp"))
    tied = tied.with_columns(pl.format("tie_{}", pl.col("event_id")).alias("event_id"))
    store = Store(tmp_path_factory.mktemp("query") / "store", create=True)
    store.append(pl.concat([events, tied]))
    return store


@pytest.fixture(scope="module")
def sessions(store: Store) -> tuple[Session, Session]:
    return Session(store, ctx=CTX), Session(store, ctx=CTX, cache=True)


QUERIES = [
    None,
    "",
    "status:failed",
    "action:updated resource:notebook",
    "-status:success date:7d",
    "timeout OR status:pending",
    "date:2026-10-31",
    "(action:shared OR action:revoked) -actor_type:user",
    "ip:10.20",
    "date:>=2026-10-20 date:<2026-10-25 action:exported",
    "nothing-matches-this-word",
]


@pytest.mark.parametrize("query", QUERIES)
def test_index_counts_and_rows_equal_the_scan(
    sessions: tuple[Session, Session], query: str | None
) -> None:
    scan, memory = sessions
    expected = set(scan.events(query).select("event_id").collect().to_series().to_list())
    assert memory.count(query) == scan.count(query) == len(expected)
    got = set(memory.events(query).select("event_id").collect().to_series().to_list())
    assert got == expected


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("limit", [1, 7, 250])
def test_index_pages_equal_the_scan_pages(
    sessions: tuple[Session, Session], query: str | None, limit: int
) -> None:
    scan, memory = sessions
    seen: list[str] = []
    cursors: tuple[Cursor | None, Cursor | None] = (None, None)
    for _ in range(4):
        a = scan.page(query, limit=limit, older=cursors[0])
        b = memory.page(query, limit=limit, older=cursors[1])
        assert a.rows.get_column("event_id").to_list() == b.rows.get_column("event_id").to_list()
        assert a.older == b.older
        seen += b.rows.get_column("event_id").to_list()
        if b.older is None:
            break
        cursors = (a.older, b.older)
    assert len(seen) == len(set(seen)), "pages overlap"
    newest = (
        scan.events(query).sort("timestamp", "event_id", descending=True).head(len(seen)).collect()
    )
    assert newest.get_column("event_id").to_list() == seen, "a gap or a wrong order"


def test_paging_is_stable_when_newer_events_arrive(tmp_path: Path) -> None:
    store = Store(tmp_path / "s", create=True)
    store.append(generate(2_000, seed=3, end=NOW, days=2))
    first = Session(store, ctx=CTX).page(limit=10)
    store.append(generate(500, seed=4, end=NOW + timedelta(days=1), days=1))
    second = Session(store, ctx=CTX).page(limit=10, older=first.older)
    before = (
        Session(store, ctx=CTX)
        .events()
        .filter(pl.col("timestamp") <= first.rows.get_column("timestamp").min())
    )
    expected = before.sort("timestamp", "event_id", descending=True).collect()
    expected = expected.filter(pl.col("event_id") != first.rows.item(-1, "event_id"))
    expected = expected.filter(
        ~pl.col("event_id").is_in(first.rows.get_column("event_id").implode())
    )
    assert second.rows.get_column("event_id").to_list() == expected.head(10)["event_id"].to_list()


def test_cursor_text_round_trips_and_rejects_garbage() -> None:
    cursor = Cursor(datetime(2026, 10, 31, 23, 59, 59, 123456, tzinfo=UTC), "evt_1")
    assert Cursor.parse(str(cursor)) == cursor
    with pytest.raises(QueryError, match="TIMESTAMP~EVENT_ID"):
        Cursor.parse("yesterday")


def test_get_and_describe(sessions: tuple[Session, Session]) -> None:
    scan, memory = sessions
    some = scan.page(limit=1).rows.row(0, named=True)
    assert memory.get(some["event_id"]) == scan.get(some["event_id"]) == some
    with pytest.raises(NotFoundError, match="no event with id 'nope'"):
        memory.get("nope")
    assert scan.describe("user:me status:failed date:7d") == (
        "user is the current user (maria.lopez@company.com), and status is failed, "
        "in the last 7 days"
    )


def test_export_has_exactly_the_query_rows_newest_first(
    sessions: tuple[Session, Session], tmp_path: Path
) -> None:
    scan = sessions[0]
    for session in sessions:
        manifest = session.export("status:failed date:7d", tmp_path / "f.csv", "csv")
        rows = pl.read_csv(tmp_path / "f.csv", infer_schema=False)
        assert rows.columns == ["timestamp", "user", "action", "resource", "status", "ip_address"]
        assert manifest.rows == rows.height == scan.count("status:failed date:7d") > 0
        assert set(rows.get_column("status").to_list()) == {"failed"}
        stamps = rows.get_column("timestamp").to_list()
        assert stamps == sorted(stamps, reverse=True)
        assert manifest.description == "status is failed, in the last 7 days"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("query", ["", "status:failed date:7d", "(action:shared OR timeout)"])
def test_exports_from_memory_and_from_the_store_are_byte_identical(
    sessions: tuple[Session, Session], tmp_path: Path, fmt: str, query: str
) -> None:
    """The in-memory session exports in slices, the store a day at a time: same bytes."""
    scan, memory = sessions
    a = scan.export(query, tmp_path / f"scan.{fmt}", fmt)
    b = memory.export(query, tmp_path / f"memory.{fmt}", fmt)
    assert a.rows == b.rows == scan.count(query) > 0
    if fmt == "parquet":  # row groups may differ; the rows and their order may not
        assert pl.read_parquet(tmp_path / "scan.parquet").equals(
            pl.read_parquet(tmp_path / "memory.parquet")
        )
    else:
        assert a.sha256 == b.sha256


def test_index_skips_only_date_terms_the_time_slice_already_satisfies() -> None:
    from auditkit.query import _beyond_the_slice

    def rest(text: str) -> str | None:
        query = parse(text)
        start, end = query.time_bounds(CTX)
        left = _beyond_the_slice(query.root, CTX, start, end)
        return None if left is None else Query(left).to_text()

    assert rest("date:7d") is None  # a slice: nothing to test row by row
    assert rest("date:7d status:failed") == "status:failed"
    assert rest("date:>=2026-10-01 date:<2026-10-15 timeout") == "timeout"
    # a date inside OR or NOT, or two ranges in one term, must still be tested
    assert rest("date:7d OR status:failed") == "date:7d OR status:failed"
    assert rest("-date:7d") == "-date:7d"
    assert rest("date:2026-10-01,2026-10-03") == "date:2026-10-01,2026-10-03"


@pytest.mark.parametrize(
    "query", ["date:7d", "date:2026-10-01,2026-10-03 action:viewed", "date:7d OR status:failed"]
)
def test_index_date_slices_equal_the_scan(sessions: tuple[Session, Session], query: str) -> None:
    scan, memory = sessions
    assert memory.count(query) == scan.count(query) > 0
    assert memory.page(query, limit=30).rows.equals(scan.page(query, limit=30).rows)


@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("all_columns", [False, True])
def test_csv_export_neutralizes_cells_a_spreadsheet_would_run(
    tmp_path: Path, cache: bool, all_columns: bool
) -> None:
    """Every text cell starting with = + - @, tab or CR gets a leading quote; nothing else
    changes, and timestamps are written in UTC with microseconds."""
    import csv

    events = generate(6, seed=3, end=NOW, days=1)
    risky = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
    events = events.with_columns(
        actor=pl.Series(risky),
        resource_type=pl.Series(["=1", "notebook", "notebook", "-x", "report", "report"]),
        resource_name=pl.Series(["a", "b", "c", "d", "e", "f"]),
        details=pl.Series(["=cmd", "plain", None, "+x", "-", "ok"]),
    )
    store = Store(tmp_path / "store", create=True)
    store.append(events)
    out = tmp_path / "out.csv"
    manifest = Session(store, ctx=CTX, cache=cache).export(
        None, out, "csv", all_columns=all_columns
    )
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert manifest.rows == len(rows) == 6
    user = "actor" if all_columns else "user"
    assert sorted(r[user] for r in rows) == sorted("'" + v for v in risky)
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", row
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row["timestamp"])
    if all_columns:
        assert sorted(r["details"] for r in rows) == sorted(
            ["'=cmd", "plain", "", "'+x", "'-", "ok"]
        )
        assert {r["status"] for r in rows} <= {"success", "failed", "in_progress", "pending"}
    else:
        assert sorted(r["resource"] for r in rows) == sorted(
            ["'=1:a", "notebook:b", "notebook:c", "'-x:d", "report:e", "report:f"]
        )


def test_warm_up_builds_the_index_in_the_background_and_changes_no_answer(
    store: Store, sessions: tuple[Session, Session]
) -> None:
    from auditkit.search import free_text_columns

    warm = Session(store, ctx=CTX, cache=True, warm_up=True)
    assert warm.warming is not None
    # Searches may run while the warm-up builds: they build what they need first.
    early = {q: warm.count(q) for q in QUERIES}
    warm.warming.join(timeout=120)
    assert not warm.warming.is_alive()
    index = warm._index
    assert index is not None
    assert set(free_text_columns()) <= set(index._dictionaries)
    assert index._dictionaries["actor"]._order is not None  # postings of a facet column
    scan, _ = sessions
    for query in QUERIES:
        assert early[query] == warm.count(query) == scan.count(query), query


def test_in_memory_exports_come_in_bounded_chunks_newest_first(
    sessions: tuple[Session, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-memory read path hands exports their rows a chunk at a time (memory stays
    flat however many rows match), with only the asked-for columns, newest first."""
    import auditkit.query as query_module

    monkeypatch.setattr(query_module, "_EXPORT_SLICE", 1000)
    scan, memory = sessions
    for query in ("", "status:failed", "-status:success date:7d"):
        chunks = list(memory.iter_days(query, columns=["actor"]))
        assert chunks and all(0 < c.height <= 1000 for c in chunks)
        assert set(chunks[0].columns) == {"actor", "timestamp", "event_id"}
        whole = pl.concat(chunks)
        assert whole.height == scan.count(query)
        keys = list(zip(whole["timestamp"], whole["event_id"], strict=True))
        assert keys == sorted(keys, reverse=True)
