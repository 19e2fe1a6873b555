"""The event store: exact round trips, de-duplication, partitions, layout, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from auditkit import store as store_module
from auditkit.errors import StoreError
from auditkit.schema import SCHEMA
from auditkit.sources import REJECT_SCHEMA
from auditkit.store import Store

T0 = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def by_id(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    return frame.sort("event_id")


def same_rows(stored: pl.DataFrame | pl.LazyFrame, expected: pl.DataFrame) -> bool:
    """Whether the stored events are exactly ``expected`` (``ingested_at`` aside)."""
    return by_id(stored).drop("ingested_at").equals(by_id(expected).drop("ingested_at"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store", create=True)


# -- creating and opening ---------------------------------------------------------------


def test_a_missing_store_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no auditkit store here") as info:
        Store(tmp_path / "nowhere")
    assert "auditkit ingest" in str(info.value)
    assert isinstance(info.value, OSError)
    assert not (tmp_path / "nowhere").exists()


def test_create_refuses_a_foreign_directory_and_leaves_it_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        Store(tmp_path, create=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("{}\n")
    for create in (False, True):
        with pytest.raises(StoreError, match=r"is a file, not an auditkit store"):
            Store(path, create=create)


def test_a_store_of_another_schema_version_is_refused(store: Store) -> None:
    (store.root / "store.json").write_text(
        json.dumps({"format": "auditkit-store", "schema_version": 99})
    )
    with pytest.raises(StoreError, match="schema version 99"):
        Store(store.root)


def test_reopening_keeps_the_events(store: Store, make_events) -> None:
    events = make_events(20)
    store.append(events)
    assert same_rows(Store(store.root).scan(), events)
    assert same_rows(Store(store.root, create=True).scan(), events)


def test_many_threads_creating_one_store_at_once_all_succeed(tmp_path: Path) -> None:
    root = tmp_path / "new"
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def create() -> None:
        barrier.wait()
        try:
            Store(root, create=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert json.loads((root / "store.json").read_text())["format"] == "auditkit-store"
    assert not list(root.glob("*.tmp"))


# -- append and scan --------------------------------------------------------------------


def test_empty_store_scans_to_an_empty_canonical_frame(store: Store) -> None:
    frame = store.scan().collect()
    assert frame.height == 0
    assert frame.schema == pl.Schema(SCHEMA)
    assert store.files() == []
    assert store.partitions() == []


def test_append_then_scan_returns_exactly_the_rows(store: Store, make_events) -> None:
    events = make_events(500, step=timedelta(minutes=23))  # about 8 days
    result = store.append(events, now=NOW)
    assert (result.added, result.duplicates) == (500, 0)
    stored = store.scan().collect()
    assert stored.schema == pl.Schema(SCHEMA)
    assert same_rows(stored, events)
    assert stored.get_column("ingested_at").unique().to_list() == [NOW]
    days = sorted(events.get_column("timestamp").dt.date().unique().to_list())
    assert store.partitions() == days
    assert sorted(result.files) == store.files()


def test_append_keeps_a_given_ingested_at(store: Store, make_events) -> None:
    earlier = datetime(2026, 10, 5, tzinfo=UTC)
    events = make_events(4).with_columns(
        ingested_at=pl.Series([earlier, None, earlier, None], dtype=SCHEMA["ingested_at"])
    )
    store.append(events, now=NOW)
    got = by_id(store.scan()).get_column("ingested_at").to_list()
    assert got == [earlier, NOW, earlier, NOW]


def test_reappending_the_same_frame_adds_nothing(store: Store, make_events) -> None:
    events = make_events(300, step=timedelta(hours=2))
    store.append(events)
    files = store.files()
    again = store.append(events)
    assert (again.added, again.duplicates, again.files) == (0, 300, ())
    assert store.files() == files
    assert same_rows(store.scan(), events)


def test_partly_new_batch_adds_only_the_new_events(store: Store, make_events) -> None:
    events = make_events(100, step=timedelta(hours=1))
    store.append(events[:60])
    result = store.append(events[40:])
    assert (result.added, result.duplicates) == (40, 20)
    assert same_rows(store.scan(), events)


def test_duplicates_within_one_batch_are_stored_once(store: Store, make_events) -> None:
    events = make_events(50)
    # The copies differ in another column: the first occurrence wins.
    copies = events[10:20].with_columns(actor=pl.lit("someone-else"))
    batch = pl.concat([events, copies, events[:5]])
    result = store.append(batch)
    assert (result.added, result.duplicates) == (50, 15)
    assert same_rows(store.scan(), events)


def test_events_without_id_or_timestamp_are_refused(store: Store, make_events) -> None:
    with pytest.raises(StoreError, match="null event_id or timestamp"):
        store.append(make_events(3, event_id=["a", None, "c"]))
    with pytest.raises(StoreError, match="null event_id or timestamp"):
        store.append(make_events(2).with_columns(timestamp=pl.lit(None, SCHEMA["timestamp"])))
    assert store.scan().collect().height == 0


def test_naive_datetimes_are_refused(store: Store, make_events) -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        store.append(make_events(1), now=datetime(2026, 11, 1))
    store.append(make_events(1))
    with pytest.raises(StoreError, match="naive datetime"):
        store.scan(start=datetime(2026, 10, 1))


def test_each_file_is_sorted_by_time(store: Store, make_events) -> None:
    events = make_events(400, step=timedelta(minutes=-11))  # given newest first
    store.append(events.sample(fraction=1.0, shuffle=True, seed=1))
    for path in store.files():
        frame = pl.read_parquet(path)
        assert frame.equals(frame.sort("timestamp", "event_id"))


# -- time ranges and partitions ---------------------------------------------------------

EDGES = [
    datetime(2026, 10, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 10, 1, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 10, 2, 0, 0, tzinfo=UTC),
    datetime(2026, 10, 2, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 10, 2, 13, 0, tzinfo=UTC),
    datetime(2026, 10, 2, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 10, 3, 0, 0, tzinfo=UTC),
    datetime(2026, 10, 3, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 10, 4, 0, 0, tzinfo=UTC),
    datetime(2026, 10, 6, 7, 0, tzinfo=UTC),
]


@pytest.fixture
def edge_store(store: Store, make_events) -> Store:
    store.append(make_events(len(EDGES), timestamp=EDGES))
    return store


def day(n: int) -> datetime:
    return datetime(2026, 10, n, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (day(2), day(4), [2, 3]),
        (day(2), day(3), [2]),
        (day(2) - timedelta(microseconds=1), day(3), [1, 2]),
        (day(2), day(3) + timedelta(microseconds=1), [2, 3]),
        (day(1) + timedelta(hours=12), day(2) + timedelta(hours=13), [1, 2]),
        (day(3), None, [3, 4, 6]),
        (None, day(2), [1]),
        (None, None, [1, 2, 3, 4, 6]),
        (day(5), day(6), []),
        (day(4) + timedelta(microseconds=1), day(7), [4, 6]),
        # The same instant written in another time zone.
        (datetime(2026, 10, 2, 2, 0, tzinfo=timezone(timedelta(hours=2))), day(3), [2]),
    ],
)
def test_time_range_reads_only_its_partitions_start_inclusive_end_exclusive(
    edge_store: Store, start: datetime | None, end: datetime | None, days: list[int]
) -> None:
    files = edge_store.files(start, end)
    assert sorted({date.fromisoformat(p.parent.name.removeprefix("date=")).day for p in files}) == (
        days
    )
    expected = [t for t in EDGES if (start is None or t >= start) and (end is None or t < end)]
    got = edge_store.scan(start, end).collect().sort("timestamp")
    assert got.get_column("timestamp").to_list() == expected


def test_events_land_in_the_partition_of_their_utc_date(edge_store: Store) -> None:
    for path in edge_store.files():
        day_of_file = date.fromisoformat(path.parent.name.removeprefix("date="))
        stamps = pl.read_parquet(path).get_column("timestamp")
        assert stamps.dt.date().unique().to_list() == [day_of_file]


def test_duckdb_reads_the_layout_as_hive_partitioned_parquet(store: Store, make_events) -> None:
    duckdb = pytest.importorskip("duckdb")
    events = make_events(1000, step=timedelta(minutes=13))
    store.append(events[:600])
    store.append(events[600:])  # a second file in the shared partition
    pattern = str(store.root / "events" / "*" / "*.parquet")
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT CAST(date AS VARCHAR), count(*), count(DISTINCT event_id) "
            "FROM read_parquet(?, hive_partitioning = true) GROUP BY 1 ORDER BY 1",
            [pattern],
        ).fetchall()
        total = con.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true) "
            "WHERE CAST(timestamp AS DATE) <> date",
            [pattern],
        ).fetchone()
    expected = (
        events.group_by(pl.col("timestamp").dt.date().cast(pl.String).alias("date"))
        .agg(pl.len(), pl.col("event_id").n_unique())
        .sort("date")
        .rows()
    )
    assert rows == [tuple(r) for r in expected]
    assert total == (0,)


# -- compaction -------------------------------------------------------------------------


def test_compaction_merges_files_and_keeps_every_row_in_order(store: Store, make_events) -> None:
    events = make_events(900, step=timedelta(minutes=9))  # about 5.6 days
    for chunk in (events[i::3] for i in range(3)):  # interleaved: each file spans every day
        store.append(chunk)
    before = store.files()
    partitions = store.partitions()
    assert len(before) == 3 * len(partitions)
    result = store.compact()
    assert (result.partitions, result.files_before, result.files_after) == (
        len(partitions),
        len(before),
        len(partitions),
    )
    after = store.files()
    assert len(after) == len(partitions)
    assert not set(after) & set(before)
    assert same_rows(store.scan(), events)
    for path in after:
        frame = pl.read_parquet(path)
        assert frame.equals(frame.sort("timestamp", "event_id"))
    # Nothing left to merge; de-duplication still sees the compacted files.
    assert store.compact() == type(result)(0, len(partitions), len(partitions))
    assert store.append(events).added == 0


def test_compaction_leaves_single_file_partitions_alone(store: Store, make_events) -> None:
    store.append(make_events(10, start=day(1), step=timedelta(minutes=1)))
    store.append(make_events(10, start=day(5), step=timedelta(minutes=1), prefix="b"))
    store.append(make_events(10, start=day(5), step=timedelta(minutes=1), prefix="c"))
    single = store.files(day(1), day(2))
    result = store.compact()
    assert (result.partitions, result.files_before, result.files_after) == (1, 3, 2)
    assert store.files(day(1), day(2)) == single
    assert store.small_partitions(max_files=0) == 2


# -- rejects ----------------------------------------------------------------------------


def test_rejects_are_kept_and_read_back(store: Store) -> None:
    assert store.rejects().collect().height == 0
    rejects = pl.DataFrame(
        {
            "file": ["a.jsonl", "a.jsonl", "b.csv"],
            "line": [3, 9, None],
            "reason": ["not valid JSON", "missing timestamp", "CSV row has 2 fields"],
            "raw": ['{"x":', '{"actor":"a"}', "x,y"],
        },
        schema=REJECT_SCHEMA,
    )
    path = store.add_rejects(rejects, now=NOW)
    assert path is not None and path.parent == store.root / "rejects"
    assert store.add_rejects(rejects.clear()) is None
    # A re-ingest rejects the same record again: it is kept once, not twice.
    assert store.add_rejects(rejects[:1], now=NOW + timedelta(hours=1)) is None
    new = rejects[:1].with_columns(pl.lit("c.jsonl").alias("file"))
    assert store.add_rejects(new, now=NOW + timedelta(hours=1)) is not None
    back = store.rejects().collect().sort("ingested_at", "file", "line")
    assert back.columns == [*REJECT_SCHEMA, "ingested_at"]
    assert back.drop("ingested_at").rows() == [*rejects.sort("file", "line").rows(), new.row(0)]
    assert back.get_column("ingested_at").to_list() == [NOW] * 3 + [NOW + timedelta(hours=1)]
    assert store.scan().collect().height == 0  # rejects are not events


# -- crash safety: deterministic crash points -------------------------------------------


class Crash(Exception):
    """Stands for the process dying at a chosen point."""


def staging_and_journal(store: Store) -> tuple[list[Path], list[Path]]:
    staged = [p for p in (store.root / "_staging").rglob("*") if p.is_file()]
    return staged, list((store.root / "_journal").iterdir())


def test_crash_after_the_commit_point_is_rolled_forward_by_the_next_reader(
    store: Store, make_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = make_events(50, step=timedelta(hours=3), prefix="old")
    store.append(before)
    batch = make_events(200, step=timedelta(hours=1))

    def crash(self: Store, journal: Path) -> None:
        raise Crash("killed between the journal write and the renames")

    monkeypatch.setattr(Store, "_roll_forward", crash)
    with pytest.raises(Crash):
        store.append(batch)
    monkeypatch.undo()
    staged, journal = staging_and_journal(store)
    assert staged and [p.suffix for p in journal] == [".json"]
    # The batch is committed but not in place yet; the next reader finishes it.
    reopened = Store(store.root)
    assert same_rows(reopened.scan(), pl.concat([before, batch]))
    assert staging_and_journal(reopened) == ([], [])
    assert reopened.append(batch).added == 0


def test_crash_half_way_through_the_renames_is_rolled_forward(
    store: Store, make_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = make_events(300, step=timedelta(hours=1))  # 13 partitions
    real_replace = os.replace
    moves = 0

    def replace_then_die(src: str | Path, dst: str | Path) -> None:
        nonlocal moves
        if "_staging" in str(src):
            moves += 1
            if moves > 5:
                raise Crash("killed after five renames")
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", replace_then_die)
    with pytest.raises(Crash):
        store.append(batch)
    monkeypatch.undo()
    partial = pl.concat([pl.read_parquet(p) for p in (store.root / "events").rglob("*.parquet")])
    assert 0 < partial.height < batch.height  # the crash really was half way
    assert same_rows(Store(store.root).scan(), batch)


def test_crash_before_the_commit_point_leaves_nothing_visible(
    store: Store, make_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = make_events(30, prefix="old")
    store.append(before)
    batch = make_events(100, step=timedelta(hours=2))
    real_write = store_module._write_atomic

    def die_writing_journal(path: Path, text: str) -> None:
        if path.parent.name == "_journal":
            # What a kill during the journal write leaves: a partial temporary file.
            (path.parent / f"{path.name}.0000.tmp").write_text(text[:10])
            raise Crash("killed while writing the journal")
        real_write(path, text)

    monkeypatch.setattr(store_module, "_write_atomic", die_writing_journal)
    with pytest.raises(Crash):
        store.append(batch)
    monkeypatch.undo()
    staged, journal = staging_and_journal(store)
    assert staged and [p.name.endswith(".tmp") for p in journal] == [True]
    reopened = Store(store.root)
    assert same_rows(reopened.scan(), before)
    # The next write clears the debris, and the batch is new to it.
    result = reopened.append(batch)
    assert (result.added, result.duplicates) == (100, 0)
    assert staging_and_journal(reopened) == ([], [])
    assert same_rows(reopened.scan(), pl.concat([before, batch]))


def test_crash_during_compaction_loses_and_duplicates_nothing(
    store: Store, make_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = make_events(120, step=timedelta(hours=1))
    store.append(events[::2])
    store.append(events[1::2])

    def crash(self: Store, journal: Path) -> None:
        raise Crash("killed after committing the compaction")

    monkeypatch.setattr(Store, "_roll_forward", crash)
    with pytest.raises(Crash):
        store.compact()
    monkeypatch.undo()
    reopened = Store(store.root)
    stored = reopened.scan().collect()
    assert stored.height == stored.get_column("event_id").n_unique() == 120
    assert same_rows(stored, events)


# -- crash safety: a real SIGKILL -------------------------------------------------------

APPEND_CHILD = """
import sys, time
from datetime import datetime, UTC
import polars as pl
from auditkit import store as store_module
from auditkit.store import Store

root, prefix, die_at = sys.argv[1], sys.argv[3], sys.argv[4]
n, days = int(sys.argv[2]), int(sys.argv[5])
start = datetime(2026, 9, 1, tzinfo=UTC)
frame = pl.select(i=pl.int_range(0, n, dtype=pl.Int64)).select(
    event_id=pl.lit(prefix + "_") + pl.col("i").cast(pl.String).str.zfill(9),
    timestamp=pl.lit(start) + pl.duration(seconds=pl.col("i") * (days * 86_400 // n)),
    actor=pl.lit("user") + (pl.col("i") % 97).cast(pl.String) + pl.lit("@example.com"),
    action=pl.lit("viewed"),
    status=pl.lit("success"),
    resource_id=pl.col("i").cast(pl.String),
)
store = Store(root)
if die_at != "random":
    # Die by SIGKILL at an exact point: after N staged files, or after N renames.
    import os, signal
    phase, count = die_at.split(":")
    seen = 0
    def hit():
        global seen
        seen += 1
        if seen > int(count):
            os.kill(os.getpid(), signal.SIGKILL)
    if phase == "stage":
        real_fsync = store_module._fsync
        def fsync(path):
            real_fsync(path)
            hit()
        store_module._fsync = fsync
    else:
        real_replace = os.replace
        def replace(src, dst):
            if "_staging" in str(src):
                hit()
            real_replace(src, dst)
        store_module.os.replace = replace
print("ready", flush=True)
started = time.perf_counter()
store.append(frame)
print("done", time.perf_counter() - started, flush=True)
"""


def run_append_child(
    root: Path, n: int, prefix: str, die_at: str, days: int
) -> subprocess.Popen[str]:
    """Start a process appending ``n`` events over ``days`` days; return once it is ready."""
    child = subprocess.Popen(
        [sys.executable, "-c", APPEND_CHILD, str(root), str(n), prefix, die_at, str(days)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready", child.stderr and child.stderr.read()
    return child


def check_after_kill(root: Path, prefix: str, n: int, kept: pl.DataFrame) -> int:
    """The store invariants after a kill; returns how many rows of the batch are stored."""
    for path in (root / "events").rglob("*.parquet"):
        pl.read_parquet(path)  # every visible file is complete
    stored = Store(root).scan().select("event_id").collect()
    assert list((root / "_journal").glob("*.json")) == []  # the reader rolled forward
    assert stored.height == stored.get_column("event_id").n_unique()
    batch = stored.filter(pl.col("event_id").str.starts_with(prefix + "_")).height
    assert batch in (0, n), f"{batch} of {n} rows of the killed batch are visible"
    assert stored.join(kept, on="event_id", how="semi").height == kept.height
    return batch


def test_sigkill_at_random_moments_leaves_all_or_nothing(store: Store, make_events) -> None:
    n, days = 240_000, 20
    kept = make_events(500, start=datetime(2026, 9, 5, tzinfo=UTC), step=timedelta(hours=1))
    store.append(kept)
    kept = kept.select("event_id")
    # First a run that is not killed: the whole batch lands, and it times an append.
    child = run_append_child(store.root, n, "full", "random", days)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    duration = float(out.split()[1])
    assert check_after_kill(store.root, "full", n, kept) == n
    kept = Store(store.root).scan().select("event_id").collect()
    outcomes = []
    for k, fraction in enumerate((0.15, 0.45, 0.75, 0.95)):
        child = run_append_child(store.root, n, f"kill{k}", "random", days)
        time.sleep(duration * fraction)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        batch = check_after_kill(store.root, f"kill{k}", n, kept)
        outcomes.append((fraction, child.returncode, batch))
        stored = Store(store.root).scan().select("event_id").collect()
        assert stored.height == kept.height + batch
        kept = stored
    # The next append finds no debris left behind, and adds what it should.
    after = Store(store.root).append(make_events(5, prefix="after"))
    assert after.added == 5
    assert staging_and_journal(Store(store.root)) == ([], [])
    assert any(code == -signal.SIGKILL for _, code, _ in outcomes), outcomes


@pytest.mark.parametrize("die_at", ["stage:0", "stage:7", "rename:0", "rename:9"])
def test_sigkill_at_exact_points_of_an_append(store: Store, make_events, die_at: str) -> None:
    n, days = 40_000, 20
    kept = make_events(100, start=datetime(2026, 9, 3, tzinfo=UTC), step=timedelta(hours=5))
    store.append(kept)
    child = run_append_child(store.root, n, "batch", die_at, days)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    committed = die_at.startswith("rename")
    if committed:
        assert list((store.root / "_journal").glob("*.json"))
    visible = check_after_kill(store.root, "batch", n, kept.select("event_id"))
    assert visible == (n if committed else 0)
    result = Store(store.root).append(make_events(3, prefix="next"))
    assert result.added == 3
    assert staging_and_journal(store) == ([], [])
    assert Store(store.root).scan().collect().height == 100 + 3 + visible


# -- two writers at once ----------------------------------------------------------------


def auditkit_command() -> list[str]:
    script = Path(sys.executable).with_name("auditkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "auditkit.cli"]


@pytest.mark.parametrize("existing", [False, True], ids=["new-store", "existing-store"])
def test_two_ingests_at_once_store_each_event_exactly_once(
    tmp_path: Path, make_events, existing: bool
) -> None:
    events = make_events(30_000, step=timedelta(seconds=41))  # about 14 days
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    export = events.drop("ingested_at").with_columns(
        pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
    export[:20_000].write_ndjson(first)
    export[10_000:].write_ndjson(second)  # 10,000 events in both files
    root = tmp_path / "store"
    if existing:
        Store(root, create=True).append(events[:1000])
    ingests = [
        subprocess.Popen(
            [*auditkit_command(), "ingest", str(path), "--store", str(root), "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (first, second)
    ]
    outputs = [ingest.communicate(timeout=60) for ingest in ingests]
    for ingest, (out, err) in zip(ingests, outputs, strict=True):
        assert (ingest.returncode, err) == (0, "")
        assert out.startswith("loaded 20,000 events")
    stored = Store(root).scan().collect()
    assert stored.height == stored.get_column("event_id").n_unique() == 30_000
    assert same_rows(stored, events)
    added = [int(out.split(": ")[1].split(" added")[0].replace(",", "")) for out, _ in outputs]
    assert sum(added) == 30_000 - (1000 if existing else 0)
