"""Validation: a clean generated store passes; each injected defect is reported, alone.

The clean store is 80,000 generated events over five weeks (three accounts, a business-hours
rhythm), ingested a few seconds to five minutes after they happened. Every defect test
copies it, injects one defect (through ``Store.append``, or as a Parquet file dropped into
``events/date=…/`` where the store would refuse it, as an external writer would), and
asserts that exactly that defect is reported, with its count and window.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from reportpage import page

from auditkit.cli import main
from auditkit.errors import QueryError
from auditkit.schema import SCHEMA
from auditkit.store import Store
from auditkit.validation import (
    ValidationConfig,
    ValidationConfigError,
    ValidationResult,
    find_duplicates,
    find_gaps,
    late_arrivals,
    missing_days,
    validate,
    volume_heatmap,
)

END = datetime(2026, 11, 1, tzinfo=UTC)  # the generated window ends here (exclusive)
NOW = END + timedelta(hours=1)
NOW_TEXT = "2026-11-01T01:00:00Z"
EVENTS = 80_000
DAYS = 35  # 2026-09-27 (a Sunday) to 2026-10-31: four weeks of history before the last
BUSY_HOUR = datetime(2026, 10, 27, 14, tzinfo=UTC)  # Tuesday afternoon of the fifth week
MISSING_DAY = date(2026, 10, 28)  # Wednesday of the fifth week

ALL_CHECKS = {
    "columns_present",
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
    "volume_gaps",
    "missing_days",
    "late_arrivals",
    "duplicate_content",
}


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_events() -> pl.DataFrame:
    """Generated activity, each event delivered seconds to minutes after it happened."""
    from auditkit.generate import generate

    return generate(EVENTS, seed=11, end=END, days=DAYS)


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory: pytest.TempPathFactory, clean_events: pl.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("clean") / "store"
    store = Store(root, create=True)
    store.append(clean_events)
    store.compact()
    return root


@pytest.fixture(scope="module")
def clean_result(clean_root: Path) -> ValidationResult:
    return validate(Store(clean_root), now=NOW)


@pytest.fixture
def store(clean_root: Path, tmp_path: Path) -> Store:
    """A private copy of the clean store to damage."""
    shutil.copytree(clean_root, tmp_path / "store")
    return Store(tmp_path / "store")


@pytest.fixture(scope="module")
def busiest_account(clean_events: pl.DataFrame) -> str:
    counts = clean_events.group_by("account").len().sort("len", "account", descending=True)
    return str(counts.item(0, "account"))


def write_foreign(store: Store, rows: pl.DataFrame) -> list[Path]:
    """Write rows straight into the partitions of their timestamps, bypassing Store.append."""
    written = []
    days = rows.with_columns(pl.col("timestamp").dt.date().alias("_day"))
    for (day,), part in days.partition_by("_day", as_dict=True, include_key=False).items():
        path = store.root / "events" / f"date={day}" / f"foreign-{uuid.uuid4().hex[:8]}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.write_parquet(path)
        written.append(path)
    return written


def delete_rows(store: Store, condition: pl.Expr) -> int:
    """Remove the matching rows from the store's files (data lost upstream)."""
    removed = 0
    for path in store.files():
        frame = pl.read_parquet(path)
        kept = frame.filter(~condition)
        if kept.height == frame.height:
            continue
        removed += frame.height - kept.height
        if kept.is_empty():
            path.unlink()
            if not any(path.parent.iterdir()):
                path.parent.rmdir()
        else:
            kept.write_parquet(path)
    return removed


def failures(result: ValidationResult) -> set[tuple[str, str]]:
    return {(c.name, c.group_label) for c in result.failed}


def new_ids(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return frame.with_columns(
        (pl.lit(prefix + "-") + pl.int_range(pl.len()).cast(pl.String).str.zfill(4)).alias(
            "event_id"
        )
    )


def some_rows(events: pl.DataFrame, day: date, account: str, n: int) -> pl.DataFrame:
    rows = events.filter(pl.col("timestamp").dt.date() == day, pl.col("account") == account).sort(
        "timestamp", "event_id"
    )
    assert rows.height >= n
    return rows.head(n)


def lower_median(values: list[int]) -> float:
    return float(sorted(values)[(len(values) - 1) // 2])


# -- the clean store --------------------------------------------------------------------


def test_clean_generated_store_passes(
    clean_result: ValidationResult, clean_events: pl.DataFrame
) -> None:
    assert clean_result.passed, clean_result.summary_table()
    assert {c.name for c in clean_result.checks} == ALL_CHECKS
    assert clean_result.rows == clean_events.height
    accounts = sorted(clean_events.get_column("account").unique().to_list())
    gaps = clean_result.get("volume_gaps")
    assert [c.group for c in gaps] == [{"source": "native", "account": a} for a in accounts]
    # the checks were not vacuous: most hours had a baseline and were judged
    for check in gaps:
        assert check.details["buckets_judged"] > 500
    ip = clean_result.get("ip_address_valid")[0]
    assert ip.checked == clean_events.get_column("ip_address").drop_nulls().len()
    assert clean_result.get("before_is_json")[0].checked == (
        clean_events.get_column("before").drop_nulls().len()
    )


# -- one defect at a time ---------------------------------------------------------------


def test_missing_hour_on_a_busy_weekday_is_one_gap_per_busy_account(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    assert BUSY_HOUR.weekday() == 1  # a Tuesday
    hour = pl.col("timestamp").dt.truncate("1h")
    counts = clean_events.group_by("account", hour.alias("hour")).len()
    baseline = {}
    for account in clean_events.get_column("account").unique().to_list():
        weeks = [
            counts.filter(
                pl.col("account") == account, pl.col("hour") == BUSY_HOUR - k * timedelta(weeks=1)
            ).get_column("len")
            for k in (1, 2, 3, 4)
        ]
        baseline[account] = lower_median([int(w.item()) if w.len() else 0 for w in weeks])
    # Accounts too quiet at that hour (baseline under min_baseline = 20) are not judged.
    busy = {a: b for a, b in baseline.items() if b >= ValidationConfig().min_baseline}
    assert busiest_account in busy and len(busy) < len(baseline)  # premise of the test
    removed = delete_rows(store, hour == BUSY_HOUR)
    assert removed > 0

    result = validate(store, now=NOW)

    assert failures(result) == {("volume_gaps", f"source=native account={a}") for a in busy}, (
        result.summary_table()
    )
    for check in result.failed:
        assert check.bad_count == 1
        [gap] = check.details["gaps"]
        assert gap["start"] == BUSY_HOUR
        assert gap["end"] == BUSY_HOUR + timedelta(hours=1)
        assert gap["observed"] == 0
        assert gap["expected"] == busy[check.group["account"]]  # type: ignore[index]
    frame = find_gaps(store, now=NOW)
    assert sorted(frame.get_column("account")) == sorted(busy)
    assert set(frame.get_column("start")) == {BUSY_HOUR}


def test_missing_day_is_reported_as_a_missing_day(store: Store, busiest_account: str) -> None:
    assert MISSING_DAY.weekday() == 2  # a Wednesday
    delete_rows(store, pl.col("timestamp").dt.date() == MISSING_DAY)
    assert MISSING_DAY not in store.partitions()

    result = validate(store, now=NOW)

    failed = failures(result)
    assert {name for name, _ in failed} == {"missing_days", "volume_gaps"}, result.summary_table()
    for check in result.get("missing_days"):
        assert not check.passed
        assert check.bad_count == 1
        assert check.details["ranges"] == [{"first": MISSING_DAY, "last": MISSING_DAY, "days": 1}]
    # the day's busy hours are also volume gaps (in accounts busy enough to be judged),
    # and nothing outside that day is
    day_start = datetime(2026, 10, 28, tzinfo=UTC)
    assert ("volume_gaps", f"source=native account={busiest_account}") in failed
    for check in result.get("volume_gaps"):
        for gap in check.details["gaps"]:
            assert day_start <= gap["start"] < gap["end"] <= day_start + timedelta(days=1)
            assert gap["observed"] == 0
    assert missing_days(store, now=NOW).get_column("date").unique().to_list() == [MISSING_DAY]
    by_day = find_gaps(store, config=ValidationConfig(granularity="day"), now=NOW)
    assert set(by_day.get_column("start")) == {day_start}
    assert set(by_day.get_column("observed")) == {0}
    heat = volume_heatmap(store)
    assert heat.height == DAYS * 24
    assert heat.filter(pl.col("date") == MISSING_DAY).get_column("events").sum() == 0


def test_duplicated_events_with_new_ids(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    originals = some_rows(clean_events, date(2026, 10, 22), busiest_account, 7)
    store.append(new_ids(originals, "dup"))  # same content (and ingested_at), new ids

    result = validate(store, now=NOW)

    assert failures(result) == {("duplicate_content", "")}, result.summary_table()
    [check] = result.get("duplicate_content")
    assert check.bad_count == 7
    assert check.details["duplicated_events"] == 7
    pairs = {tuple(e["event_ids"]) for e in check.examples}
    assert len(pairs) == min(7, ValidationConfig().examples)
    assert all(len(p) == 2 and sum(i.startswith("dup-") for i in p) == 1 for p in pairs)
    frame = find_duplicates(store)
    assert frame.get_column("kind").to_list() == ["content"] * 7
    assert sorted(i for ids in frame.get_column("event_ids") for i in ids) == sorted(
        [*originals.get_column("event_id"), *(f"dup-{i:04d}" for i in range(7))]
    )


def test_null_actor_from_an_external_writer(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    rows = new_ids(some_rows(clean_events, date(2026, 10, 21), busiest_account, 3), "noactor")
    write_foreign(store, rows.with_columns(pl.lit(None, dtype=pl.String).alias("actor")))

    result = validate(store, now=NOW)

    assert failures(result) == {("actor_not_null", "")}, result.summary_table()
    [check] = result.get("actor_not_null")
    assert check.bad_count == 3
    assert {e["event_id"] for e in check.examples} == {
        "noactor-0000",
        "noactor-0001",
        "noactor-0002",
    }
    assert all(e["file"].startswith("events/date=2026-10-21/foreign-") for e in check.examples)


def test_unknown_status_from_an_external_writer(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    rows = new_ids(some_rows(clean_events, date(2026, 10, 21), busiest_account, 4), "archived")
    # an external writer stores status as plain text with a value outside the vocabulary
    write_foreign(store, rows.with_columns(pl.lit("archived").alias("status")))

    result = validate(store, now=NOW)

    assert failures(result) == {("status_in_vocabulary", "")}, result.summary_table()
    [check] = result.get("status_in_vocabulary")
    assert check.bad_count == 4
    assert {e["value"] for e in check.examples} == {"archived"}


def test_malformed_ip_addresses(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    candidates = [
        "300.1.2.3",
        "10.0.0.256",
        "211.9.016.253",  # leading zero: not an address (stratus-red-team anonymisation)
        "2001:db8::g",
        "2001:db8::1",  # valid IPv6
        "::ffff:10.0.0.1",  # valid IPv4-mapped IPv6
        "fe80::1%eth0",  # valid, with a zone
    ]

    def valid(text: str) -> bool:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return False
        return True

    bad = {v for v in candidates if not valid(v)}
    assert bad == {"300.1.2.3", "10.0.0.256", "211.9.016.253", "2001:db8::g"}
    rows = some_rows(clean_events, date(2026, 10, 20), busiest_account, len(candidates))
    store.append(new_ids(rows, "ip").with_columns(pl.Series("ip_address", candidates)))

    result = validate(store, now=NOW)

    assert failures(result) == {("ip_address_valid", "")}, result.summary_table()
    [check] = result.get("ip_address_valid")
    assert check.bad_count == len(bad)
    assert {e["value"] for e in check.examples} == bad


def test_future_timestamps(store: Store, clean_events: pl.DataFrame, busiest_account: str) -> None:
    rows = new_ids(some_rows(clean_events, date(2026, 10, 20), busiest_account, 2), "future")
    future = NOW + timedelta(days=2, minutes=1)
    store.append(
        rows.with_columns(
            pl.lit(future).cast(SCHEMA["timestamp"]).alias("timestamp"),
            pl.lit(NOW).cast(SCHEMA["ingested_at"]).alias("ingested_at"),
        )
    )

    result = validate(store, now=NOW)

    assert failures(result) == {("timestamp_not_in_future", "")}, result.summary_table()
    [check] = result.get("timestamp_not_in_future")
    assert check.bad_count == 2
    assert {e["value"] for e in check.examples} == {future}


def test_late_batch(store: Store, clean_events: pl.DataFrame, busiest_account: str) -> None:
    start = datetime(2026, 10, 22, 10, tzinfo=UTC)
    rows = (
        clean_events.filter(pl.col("account") == busiest_account, pl.col("timestamp") >= start)
        .sort("timestamp", "event_id")
        .head(40)
    )
    arrived = datetime(2026, 10, 25, 12, tzinfo=UTC)
    batch = new_ids(rows, "late").with_columns(
        pl.col("timestamp") + pl.duration(milliseconds=1),  # distinct content from the originals
        pl.lit(arrived).cast(SCHEMA["ingested_at"]).alias("ingested_at"),
    )
    store.append(batch)

    result = validate(store, now=NOW)

    assert failures(result) == {("late_arrivals", f"source=native account={busiest_account}")}, (
        result.summary_table()
    )
    [check] = [c for c in result.get("late_arrivals") if not c.passed]
    assert check.bad_count == 40
    [late] = check.details["late_batches"]
    assert late["ingested_at"] == arrived
    assert late["rows"] == 40
    assert late["first_timestamp"] == batch.get_column("timestamp").min()
    assert late["last_timestamp"] == batch.get_column("timestamp").max()
    histogram = {h["lag"]: h["rows"] for h in check.details["histogram"]}
    assert histogram["1–7 d"] == 40
    assert sum(histogram.values()) == check.checked
    assert sorted(late_arrivals(store).get_column("event_id")) == sorted(batch["event_id"])


def test_duplicate_event_id_from_an_external_writer(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    copies = some_rows(clean_events, date(2026, 10, 19), busiest_account, 5)
    write_foreign(store, copies)  # the very same events, ids included, in a second file

    result = validate(store, now=NOW)

    assert failures(result) == {("event_id_unique", "")}, result.summary_table()
    [check] = result.get("event_id_unique")
    assert check.bad_count == 5
    assert {e["event_id"] for e in check.examples} == set(copies.get_column("event_id"))
    assert all(len(e["files"]) == 2 for e in check.examples)
    assert find_duplicates(store).get_column("kind").to_list() == ["event_id"] * 5


def test_event_filed_in_the_wrong_partition(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    row = new_ids(some_rows(clean_events, date(2026, 10, 20), busiest_account, 1), "misfiled")
    row = row.with_columns(pl.col("timestamp") + pl.duration(milliseconds=1))  # not a copy
    path = store.root / "events" / "date=2026-10-21" / "foreign-misfiled.parquet"
    row.write_parquet(path)

    result = validate(store, now=NOW)

    assert failures(result) == {("timestamp_in_partition", "")}, result.summary_table()
    [example] = result.get("timestamp_in_partition")[0].examples
    assert example["event_id"] == "misfiled-0000"
    assert example["partition"] == date(2026, 10, 21)


def test_file_without_a_required_column(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    rows = new_ids(some_rows(clean_events, date(2026, 10, 21), busiest_account, 2), "noactor")
    [path] = write_foreign(store, rows.drop("actor"))

    result = validate(store, now=NOW)

    assert failures(result) == {("columns_present", ""), ("actor_not_null", "")}
    [files] = result.get("columns_present")
    assert files.bad_count == 1
    assert files.examples == [{"file": str(path.relative_to(store.root)), "missing": ["actor"]}]
    assert result.get("actor_not_null")[0].bad_count == 2


# -- groups, ranges, functions ----------------------------------------------------------


def test_completeness_is_judged_per_source(tmp_path: Path, clean_events: pl.DataFrame) -> None:
    other = clean_events.filter(pl.col("account") == clean_events.item(0, "account"))
    mixed = pl.concat(
        [clean_events, new_ids(other, "ct").with_columns(pl.lit("cloudtrail").alias("source"))]
    )
    store = Store(tmp_path / "mixed", create=True)
    store.append(mixed)
    delete_rows(
        store,
        (pl.col("source") == "cloudtrail") & (pl.col("timestamp").dt.truncate("1h") == BUSY_HOUR),
    )

    result = validate(store, suites=("complete",), now=NOW)

    account = clean_events.item(0, "account")
    assert failures(result) == {("volume_gaps", f"source=cloudtrail account={account}")}
    assert len(result.get("volume_gaps")) == 4  # three native accounts and one cloudtrail
    only = validate(store, source="cloudtrail", suites=("complete",), now=NOW)
    assert failures(only) == failures(result)
    assert only.rows == other.height - int(
        (other.get_column("timestamp").dt.truncate("1h") == BUSY_HOUR).sum()
    )
    with pytest.raises(QueryError, match="sources present: 'cloudtrail', 'native'"):
        validate(store, source="github", now=NOW)


def test_since_and_until_select_whole_days(clean_root: Path, clean_events: pl.DataFrame) -> None:
    result = validate(
        clean_root, since="2026-10-20", until="2026-10-25", suites=("complete",), now=NOW
    )
    ts = clean_events.get_column("timestamp")
    inside = (ts >= datetime(2026, 10, 20, tzinfo=UTC)) & (ts < datetime(2026, 10, 26, tzinfo=UTC))
    assert result.rows == int(inside.sum())  # until is a date: its whole day is included
    assert result.until == datetime(2026, 10, 26, tzinfo=UTC)
    assert result.passed, result.summary_table()
    with pytest.raises(QueryError, match="not a date"):
        validate(clean_root, since="last tuesday")
    with pytest.raises(QueryError, match="must be before"):
        validate(clean_root, since="2026-10-25", until="2026-10-20")
    with pytest.raises(QueryError, match="valid suites: well_formed, complete"):
        validate(clean_root, suites=("wellformed",))


def test_ip_and_json_validity_match_python_on_tricky_values(
    make_events: Callable[..., pl.DataFrame],
) -> None:
    ips = [
        "1.2.3.4",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        " 1.2.3.4",
        "::",
        "::1",
        "2001:db8::",
        "2001:db8:::1",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9",
        "::ffff:1.2.3.4",
        "::ffff:1.2.3.400",
        "fe80::1%eth0",
        "localhost",
        "",
        None,
    ]
    texts = [
        '{"a": 1}',
        "[1, 2]",
        "5",
        '"x"',
        "null",
        "true",
        "{bad",
        "",
        '{"a":1,}',
        "NaN",
        "{'a': 1}",
        '{"a":1} trailing',
        "[1,]",
        '"\\ud800"',
        "1e999",
        "  {} ",
        None,
        None,
        None,
    ]
    frame = make_events(len(ips), ip_address=ips, before=texts, after=list(reversed(texts)))

    def ip_ok(v: str) -> bool:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            return False
        return True

    def json_ok(v: str) -> bool:
        def refuse(name: str) -> None:
            raise ValueError(name)

        try:
            json.loads(v, parse_constant=refuse)
        except ValueError:
            return False
        return True

    result = validate(frame, suites=("well_formed",), config=ValidationConfig(examples=50), now=NOW)

    [ip] = result.get("ip_address_valid")
    assert {e["value"] for e in ip.examples} == {v for v in ips if v is not None and not ip_ok(v)}
    bad_json = {v for v in texts if v is not None and not json_ok(v)}
    assert bad_json == {"{bad", "", '{"a":1,}', "NaN", "{'a': 1}", '{"a":1} trailing', "[1,]"}
    for name in ("before_is_json", "after_is_json"):
        [check] = result.get(name)
        assert {e["value"] for e in check.examples} == bad_json
        assert check.checked == 16
    assert "timestamp_in_partition" not in {c.name for c in result.checks}  # a frame has none


def test_a_frame_and_an_empty_store_validate(
    tmp_path: Path, make_events: Callable[..., pl.DataFrame]
) -> None:
    frame = make_events(50)  # every 7 minutes from 2026-10-01 09:00, never ingested
    result = validate(frame, now=NOW)
    assert result.passed, result.summary_table()
    assert result.rows == 50
    [late] = result.get("late_arrivals")
    assert late.details["rows_without_ingested_at"] == 50
    assert validate(frame.lazy(), suites=("complete",), now=NOW).passed

    empty = validate(Store(tmp_path / "empty", create=True), now=NOW)
    assert empty.passed and empty.rows == 0
    assert {c.name for c in empty.checks} == ALL_CHECKS - {
        "volume_gaps",
        "missing_days",
        "late_arrivals",
    }


# -- configuration ----------------------------------------------------------------------


def test_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "validation.toml"
    path.write_text(
        "[validation]\n"
        'granularity = "day"\n'
        "min_baseline = 5\n"
        "gap_ratio = 0.5\n"
        "late_after_hours = 6\n"
        "earliest = 2010-01-01T00:00:00Z\n"
        'group_by = ["source"]\n'
    )
    config = ValidationConfig.from_toml(path)
    assert config.granularity == "day"
    assert config.min_baseline == 5.0
    assert config.late_after_hours == 6.0
    assert config.earliest == datetime(2010, 1, 1, tzinfo=UTC)
    assert config.group_by == ("source",)
    assert config.baseline_weeks == ValidationConfig().baseline_weeks


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("late_after = 3\n", "unknown key 'late_after'; valid keys: granularity, baseline_weeks"),
        ("gap_ratio = 'low'\n", "gap_ratio = 'low' is not a number"),
        ("granularity = 'minute'\n", "granularity='minute': valid values are 'hour', 'day'"),
        ("gap_ratio = 2\n", "gap_ratio=2.0: must be in"),
        ("earliest = 2010-01-01T00:00:00\n", "earliest"),
        ("group_by = ['usr']\n", "group_by: not schema columns: usr"),
        ("window_rows = true\n", "window_rows = True is not an integer"),
        ("gap_ratio = \n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(
        ValidationConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        ValidationConfig.from_toml(path)


# -- outputs ----------------------------------------------------------------------------


def test_json_and_html_reports(
    store: Store, clean_events: pl.DataFrame, busiest_account: str
) -> None:
    rows = new_ids(some_rows(clean_events, date(2026, 10, 21), busiest_account, 3), "noactor")
    write_foreign(store, rows.with_columns(pl.lit(None, dtype=pl.String).alias("actor")))
    result = validate(store, now=NOW)

    data = json.loads(result.to_json())
    assert data["passed"] is False
    assert data["failed"] == ["actor_not_null"]
    assert data["now"] == "2026-11-01T01:00:00Z"
    [actor] = [c for c in data["checks"] if c["name"] == "actor_not_null"]
    assert actor["bad_count"] == 3
    assert actor["engine"] == "great_expectations"

    page = result.to_html()
    assert page.startswith("<!doctype html>")
    for external in ("http://", "https://", "<script", "<link", "src="):
        assert external not in page
    assert "actor_not_null" in page and "noactor-0000" in page

    table = result.summary_table()
    assert "actor_not_null" in table and "FAIL" in table and "3 rows" in table


# -- the completeness report ------------------------------------------------------------


def test_completeness_report_of_a_clean_store_passes(clean_root: Path, tmp_path: Path) -> None:
    from auditkit.reports import run_report

    result = run_report(
        "log_completeness",
        {"store": str(clean_root), "start": "2026-10-26", "end": "2026-10-31", "now": NOW_TEXT},
        tmp_path,
    )

    report = page(result)
    assert report.text("Verdict").startswith("Verdict: PASSED: all ")
    assert "No gaps: no hour fell below 0.2 × its baseline." in report.text("Gaps")
    assert "No events missing" in report.text("Missing days")
    assert "No duplicates" in report.text("Duplicates")
    assert "No late arrivals" in report.text("Late arrivals")
    assert "No malformed records" in report.text("Malformed records")
    [results] = report.tables("Expectation results")
    assert {row[0] for row in results[1:]} == {"pass"}
    assert {row[2] for row in results[1:]} == ALL_CHECKS
    # the heat map: one row per day, 24 hours, drawn as static SVG
    assert report.sections["Volume by day and hour"].count("<svg") == 1
    saved = json.loads((tmp_path / "log_completeness-attachments" / "validation.json").read_text())
    assert saved["passed"] is True and saved["since"] == "2026-10-26T00:00:00Z"


def test_completeness_report_shows_each_planted_defect(
    store: Store, clean_events: pl.DataFrame, busiest_account: str, tmp_path: Path
) -> None:
    from auditkit.reports import run_report

    delete_rows(store, pl.col("timestamp").dt.truncate("1h") == BUSY_HOUR)
    store.append(new_ids(some_rows(clean_events, date(2026, 10, 29), busiest_account, 6), "dup"))
    late = new_ids(some_rows(clean_events, date(2026, 10, 30), busiest_account, 9), "late")
    arrived = datetime(2026, 10, 31, 23, tzinfo=UTC)
    store.append(
        late.with_columns(
            pl.col("timestamp") + pl.duration(milliseconds=1),
            pl.lit(arrived).cast(SCHEMA["ingested_at"]).alias("ingested_at"),
        )
    )
    bad_ip = new_ids(some_rows(clean_events, date(2026, 10, 28), busiest_account, 1), "ip")
    store.append(bad_ip.with_columns(pl.lit("10.0.0.256").alias("ip_address")))

    result = run_report(
        "log_completeness",
        {"store": str(store.root), "start": "2026-10-26", "end": "2026-10-31", "now": NOW_TEXT},
        tmp_path,
    )

    report = page(result)
    verdict = report.text("Verdict")
    assert verdict.startswith("Verdict: FAILED: ")
    for name in ("volume_gaps", "duplicate_content", "late_arrivals", "ip_address_valid"):
        assert name in verdict
    [results] = report.tables("Expectation results")
    failed = {(row[2], row[3]) for row in results[1:] if row[0] == "FAIL"}
    assert ("duplicate_content", "all") in failed and ("ip_address_valid", "all") in failed
    assert ("late_arrivals", f"source=native account={busiest_account}") in failed
    [gaps] = report.tables("Gaps")
    mine = [row for row in gaps[1:] if row[0] == f"source=native account={busiest_account}"]
    assert [row[1:3] for row in mine] == [["2026-10-27 14:00:00", "2026-10-27 15:00:00"]]
    assert mine[0][5] == "0"  # observed
    [duplicates] = report.tables("Duplicates")
    assert len(duplicates) == 1 + 6 and {row[0] for row in duplicates[1:]} == {"content"}
    late_tables = report.tables("Late arrivals")
    batches = late_tables[-1]
    assert batches[1][1:3] == ["2026-10-31 23:00:00", "9"]
    [malformed] = report.tables("Malformed records")
    assert any("10.0.0.256" in row[2] for row in malformed[1:])
    attached = {p.name for p in result.attachments}
    assert {"validation.json", "validation.html", "duplicates.csv", "late_arrivals.csv"} <= attached
    lateness = pl.read_csv(tmp_path / "log_completeness-attachments" / "late_arrivals.csv")
    assert sorted(lateness.get_column("event_id")) == sorted(late.get_column("event_id"))


def test_importing_validation_does_not_load_great_expectations() -> None:
    code = (
        "import sys, auditkit.validation; "
        "print(sorted(m for m in ('great_expectations', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- command line -----------------------------------------------------------------------


def test_cli_validate_clean_store(
    clean_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    status = main(
        ["validate", "--store", str(clean_root), "--out", str(out), "--suite", "complete"]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "volume_gaps" in printed and "PASSED" in printed
    data = json.loads((out / "validation.json").read_text())
    assert data["passed"] is True and data["suites"] == ["complete"]
    assert (out / "validation.html").read_text().startswith("<!doctype html>")


def test_cli_validate_fails_with_exit_status_1(
    store: Store,
    clean_events: pl.DataFrame,
    busiest_account: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = new_ids(some_rows(clean_events, date(2026, 10, 21), busiest_account, 4), "archived")
    write_foreign(store, rows.with_columns(pl.lit("archived").alias("status")))
    status = main(
        [
            "validate",
            "--store",
            str(store.root),
            "--out",
            str(tmp_path / "r"),
            "--suite",
            "well_formed",
        ]
    )
    printed = capsys.readouterr().out
    assert status == 1
    line = next(
        x for x in printed.splitlines() if x.startswith("well_formed  status_in_vocabulary")
    )
    assert "FAIL" in line and "4 rows" in line and "'archived'" in line


def test_cli_usage_errors_exit_2(
    clean_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--store", str(clean_root), "--since", "yesterday-ish"]) == 2
    assert "not a date" in capsys.readouterr().err
    config = tmp_path / "c.toml"
    config.write_text("ratio = 0.1\n")
    assert main(["validate", "--store", str(clean_root), "--config", str(config)]) == 2
    assert "valid keys:" in capsys.readouterr().err
    assert main(["validate", "--store", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--store", str(clean_root), "--suite", "everything"])
    assert exc.value.code == 2


# -- real third-party logs --------------------------------------------------------------


def test_real_cloudtrail_and_github_logs(realdata: Path, tmp_path: Path) -> None:
    from auditkit import sources

    ingested = datetime(2026, 6, 1, tzinfo=UTC)
    store = Store(tmp_path / "real", create=True)
    inputs = {
        "stratus-red-team-detonation-logs": "cloudtrail",
        "otrf-security-datasets/aws-ec2-proxy-s3-exfiltration": "cloudtrail",
        "trailscraper": "cloudtrail",
        "azure-sentinel-sample-data": "github",
    }
    for folder, fmt in inputs.items():
        for batch in sources.read(realdata / folder, format=fmt):
            if batch.events.height:
                store.append(batch.events, now=ingested)

    result = validate(store, now=ingested)
    print(result.summary_table())  # the findings, visible with `pytest -s`

    assert result.rows == 479  # 310 stratus + 103 OTRF + 3 trailscraper + 63 GitHub
    failed = {c.name for c in result.failed}
    assert failed == {"missing_days", "late_arrivals", "duplicate_content"}
    # Well-formed: every required field is present, values are in vocabulary, ids unique.
    # The 107 stratus-red-team source IPs such as 211.9.016.253 are not addresses: the
    # CloudTrail adapter stores null and keeps the text in attributes, so the IP check
    # sees only valid addresses.
    stored = store.scan().collect()
    anonymised = stored.filter(
        pl.col("ip_address").is_null()
        & pl.col("attributes").str.contains('"sourceIPAddress":"[0-9.]*"')
    )
    assert anonymised.height == 107
    assert any("211.9.016.253" in a for a in anonymised.get_column("attributes"))
    [ip] = result.get("ip_address_valid")
    assert ip.passed and ip.checked == stored.get_column("ip_address").drop_nulls().len()
    # Complete: these are samples, not a continuous feed. Each account's few events sit on
    # one or a few days, so days after its first one are missing up to the last event of
    # the store; every event was stored years late (ingested 2026-06-01); no hour had a
    # baseline to miss.
    assert all(c.passed for c in result.get("volume_gaps"))
    late = result.get("late_arrivals")
    assert sum(c.bad_count for c in late) == 479
    assert all(c.details["histogram"][-1]["rows"] == c.checked for c in late)  # all ≥ 7 days
    trailscraper = [
        c
        for c in result.get("missing_days")
        if c.group == {"source": "cloudtrail", "account": "123456789012"}
    ]
    assert trailscraper[0].details["ranges"][0]["first"] == date(2015, 6, 18)
    # Duplicate content: in the OTRF capture, ec2.amazonaws.com assumed the same role in
    # the same second several times with identical fields (only CloudTrail's ids differ).
    [dup] = result.get("duplicate_content")
    assert dup.bad_count == 3
    assert {e["actor"] for e in dup.examples} == {"ec2.amazonaws.com"}
    assert [e["copies"] for e in dup.examples] == [3, 2]
