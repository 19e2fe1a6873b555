"""The activity generator: schema, determinism, realism, and every export format."""

from __future__ import annotations

import csv
import gc
import ipaddress
import json
import re
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from auditkit.errors import AuditkitError
from auditkit.generate import (
    DEFAULT_END,
    FORMATS,
    GenerateError,
    generate,
    iter_generate,
    write,
)
from auditkit.schema import ACTIONS, ACTOR_TYPES, RESOURCE_TYPES, SCHEMA, STATUSES, conform

N = 300_000
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return generate(N, seed=0)


@pytest.fixture(scope="module")
def small() -> pl.DataFrame:
    return generate(5_000, seed=11)


# -- shape and determinism ----------------------------------------------------------------


def test_frame_is_in_the_canonical_schema(events: pl.DataFrame) -> None:
    assert events.schema == pl.Schema(SCHEMA)
    assert conform(events).equals(events)
    lag = events.select((pl.col("ingested_at") - pl.col("timestamp")).dt.total_seconds())
    assert lag.null_count().item() == 0
    assert lag.min().item() >= 1 and lag.max().item() <= 3600  # delivered, never late
    assert 5 <= lag.median().item() <= 60
    assert events.get_column("source").unique().to_list() == ["native"]
    for column in ("event_id", "timestamp", "actor", "action", "status", "request_id"):
        assert events.get_column(column).null_count() == 0, column


@pytest.mark.parametrize("n", [0, 1, 7, 1_000])
def test_makes_exactly_n_events(n: int) -> None:
    frame = generate(n, seed=3)
    assert frame.height == n
    assert frame.schema == pl.Schema(SCHEMA)


def test_same_arguments_give_the_same_frame() -> None:
    assert generate(20_000, seed=42).equals(generate(20_000, seed=42))


def test_other_seed_or_window_gives_other_events() -> None:
    base = generate(5_000, seed=1)
    other = generate(5_000, seed=2)
    assert not base.equals(other)
    assert set(base["event_id"]).isdisjoint(other["event_id"])
    shifted = generate(5_000, seed=1, end=DEFAULT_END - timedelta(days=365))
    assert shifted["timestamp"].max() < base["timestamp"].min()


def test_batches_put_together_equal_generate(events: pl.DataFrame) -> None:
    batches = list(iter_generate(N, seed=0, batch_size=70_001))  # across internal chunks too
    assert [b.height for b in batches] == [70_001] * 4 + [N - 4 * 70_001]
    assert pl.concat(batches).equals(events)
    assert [b.height for b in iter_generate(0)] == []


def test_timestamps_are_sorted_inside_the_window(events: pl.DataFrame) -> None:
    ts = events.get_column("timestamp")
    assert ts.is_sorted()
    assert ts.min() >= DEFAULT_END - timedelta(days=90)
    assert ts.max() < DEFAULT_END
    assert ts.max() > DEFAULT_END - timedelta(hours=1)


def test_custom_end_and_days() -> None:
    end = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)
    ts = generate(3_000, seed=4, end=end, days=7).get_column("timestamp")
    assert end - timedelta(days=7) <= ts.min() and ts.max() < end


def test_ids_are_unique_and_well_formed(events: pl.DataFrame) -> None:
    ids = events.get_column("event_id")
    assert ids.n_unique() == N
    assert ids.str.contains(r"^evt_[0-9a-f]{20}$").all()
    requests = events.get_column("request_id")
    assert requests.n_unique() == N
    assert requests.str.contains(r"^req_[0-9a-f]{24}$").all()


def test_event_ids_depend_only_on_seed_and_index() -> None:
    assert generate(2_000, seed=9)["event_id"].to_list() == (
        generate(2_000, seed=9, days=30)["event_id"].to_list()
    )


# -- who ----------------------------------------------------------------------------------


def test_every_vocabulary_is_used(events: pl.DataFrame) -> None:
    assert set(events["action"]) == set(ACTIONS)
    assert set(events["status"].cast(pl.String)) == set(STATUSES)
    assert set(events["resource_type"]) == set(RESOURCE_TYPES)
    # the platform always knows who acted: 'unknown' is for sources that do not say
    assert set(events["actor_type"].cast(pl.String)) == set(ACTOR_TYPES) - {"unknown"}


def test_actors_look_like_the_platforms(events: pl.DataFrame) -> None:
    by_type = dict(
        events.group_by(pl.col("actor_type").cast(pl.String))
        .agg(pl.col("actor").unique())
        .iter_rows()
    )
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\d*@company\.com", a) for a in by_type["user"])
    assert all(re.fullmatch(r"ak_live_[0-9a-f]{24}", a) for a in by_type["api_key"])
    assert all(re.fullmatch(r"svc-[a-z-]+@company\.iam", a) for a in by_type["service_account"])
    assert "svc-etl@company.iam" in by_type["service_account"]
    assert by_type["system"] == ["system"]
    assert "anonymous" in by_type["anonymous"]


def test_default_users_scale_with_n_and_are_unique(events: pl.DataFrame) -> None:
    users = events.filter(pl.col("actor_type") == "user").get_column("actor").unique()
    assert 0.9 * (N // 200) <= users.len() <= N // 200


def test_users_argument_sets_the_population() -> None:
    frame = generate(20_000, seed=2, users=37)
    people = frame.filter(pl.col("actor_type") == "user")["actor"].n_unique()
    assert 30 <= people <= 37


def test_activity_is_uneven(events: pl.DataFrame) -> None:
    counts = (
        events.filter(pl.col("actor_type") == "user").get_column("actor").value_counts(sort=True)
    )
    top = max(1, counts.height // 100)
    share = counts["count"].head(top).sum() / counts["count"].sum()
    assert share > 0.2


def test_viewed_and_executed_are_the_most_common_actions(events: pl.DataFrame) -> None:
    ranked = events.get_column("action").value_counts(sort=True).get_column("action")
    assert set(ranked.head(2)) == {"viewed", "executed"}


# -- when ---------------------------------------------------------------------------------


def test_business_hours_are_busy_and_nights_quiet(events: pl.DataFrame) -> None:
    weekday = events.filter(pl.col("timestamp").dt.weekday() <= 5)
    per_hour = weekday.group_by(
        pl.col("timestamp").dt.date().alias("day"), pl.col("timestamp").dt.hour().alias("hour")
    ).len()
    mean = dict(per_hour.group_by("hour").agg(pl.col("len").mean()).iter_rows())
    day = sum(mean[h] for h in range(10, 16)) / 6
    night = sum(mean[h] for h in range(2, 4)) / 2
    assert day > 3 * night
    days = weekday.get_column("timestamp").dt.date().n_unique()
    assert per_hour.height == days * 24  # every hour of every weekday has events


def test_weekends_are_light(events: pl.DataFrame) -> None:
    per_day = events.group_by(
        pl.col("timestamp").dt.date().alias("day"),
        (pl.col("timestamp").dt.weekday() > 5).alias("weekend"),
    ).len()
    mean = dict(per_day.group_by("weekend").agg(pl.col("len").mean()).iter_rows())
    assert mean[False] > 3 * mean[True]


# -- what happened ------------------------------------------------------------------------


def test_failures_and_only_failures_have_error_messages(events: pl.DataFrame) -> None:
    failed = events.filter(pl.col("status") == "failed")
    assert failed.height > 0
    assert failed.get_column("error_message").null_count() == 0
    others = events.filter(pl.col("status") != "failed")
    assert others.get_column("error_message").null_count() == others.height


def test_pipeline_runs_fail_some_percent_with_real_errors(events: pl.DataFrame) -> None:
    runs = events.filter(pl.col("operation") == "pipeline.run")
    assert runs["action"].unique().to_list() == ["executed"]
    rate = (runs["status"] == "failed").mean()
    assert rate is not None and 0.03 < rate < 0.15
    messages = set(runs.filter(pl.col("status") == "failed")["error_message"])
    assert "OutOfMemoryError: Java heap space" in messages
    assert "Task exceeded max retries (3)" in messages
    assert any(m.startswith("Connection timed out after 30000 ms") for m in messages)
    assert any(m.startswith("PermissionDenied: user lacks SELECT on table") for m in messages)
    assert {"in_progress", "pending"} <= set(runs["status"].cast(pl.String))


def test_durations_are_positive_and_missing_only_while_unfinished(events: pl.DataFrame) -> None:
    unfinished = pl.col("status").is_in(["in_progress", "pending"])
    assert events.filter(unfinished)["duration_ms"].null_count() == events.filter(unfinished).height
    finished = events.filter(~unfinished)["duration_ms"]
    assert finished.null_count() == 0
    assert finished.min() > 0
    runs = events.filter(pl.col("operation") == "pipeline.run", ~unfinished)["duration_ms"]
    views = events.filter(pl.col("action") == "viewed")["duration_ms"]
    assert runs.median() > 100 * views.median()


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{path}.{key}" if path else key))
        return out
    return {path: value}


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    b, a = _leaves(before), _leaves(after)
    return sorted(k for k in b.keys() | a.keys() if b.get(k) != a.get(k))


def test_updates_carry_differing_before_and_after(events: pl.DataFrame) -> None:
    updates = events.filter(
        pl.col("action") == "updated",
        pl.col("status") == "success",
        pl.col("resource_type") != "permission",
    )
    assert updates.height > 1_000
    for before_text, after_text, name, attributes in updates.select(
        "before", "after", "resource_name", "attributes"
    ).iter_rows():
        before, after = json.loads(before_text), json.loads(after_text)
        assert isinstance(before, dict) and isinstance(after, dict)
        changed = _changed(before, after)
        assert 1 <= len(changed) <= 3
        assert sorted(json.loads(attributes)["changed_fields"]) == changed
        assert name in (
            after.get("title"),
            after.get("name"),
            after.get("email"),
            after.get("model"),
        )


def test_updates_include_nested_and_list_changes(events: pl.DataFrame) -> None:
    changed = (
        events.filter(pl.col("action") == "updated", pl.col("status") == "success")
        .get_column("attributes")
        .str.json_decode(pl.Struct({"changed_fields": pl.List(pl.String)}))
        .struct.field("changed_fields")
        .explode()
        .unique()
        .to_list()
    )
    assert {"title", "settings.sharing.visibility", "tags", "members"} <= set(changed)


def test_created_and_deleted_resources_show_their_state(events: pl.DataFrame) -> None:
    created = events.filter(pl.col("action") == "created", pl.col("status") == "success")
    assert created["before"].null_count() == created.height
    assert created["after"].null_count() == 0
    first = json.loads(created.filter(pl.col("resource_type") == "notebook")["after"][0])
    assert {"title", "cells", "kernel"} <= set(first)
    deleted = events.filter(
        pl.col("action") == "deleted",
        pl.col("status") == "success",
        pl.col("resource_type") == "report",
    )
    assert deleted["before"].null_count() == 0
    assert deleted["after"].null_count() == deleted.height


def test_created_resources_get_new_ids(events: pl.DataFrame) -> None:
    created = events.filter(pl.col("action") == "created")
    assert created["resource_id"].n_unique() == created.height
    others = events.filter(pl.col("action") != "created")["resource_id"]
    assert set(created["resource_id"]).isdisjoint(others)


@pytest.mark.parametrize(
    ("action", "had", "has"), [("shared", False, True), ("revoked", True, False)]
)
def test_sharing_changes_a_grantees_role(
    events: pl.DataFrame, action: str, had: bool, has: bool
) -> None:
    rows = events.filter(pl.col("action") == action, pl.col("status") == "success")
    assert rows.height > 100
    assert rows["resource_type"].unique().to_list() == ["permission"]
    for before_text, after_text, attributes in rows.select("before", "after", "attributes").rows():
        before, after = json.loads(before_text), json.loads(after_text)
        assert before["grantee"] == after["grantee"] == json.loads(attributes)["grantee"]
        assert (before["role"] is not None) is had
        assert (after["role"] is not None) is has


def test_exports_say_how_much_and_attributes_agree(events: pl.DataFrame) -> None:
    exports = events.filter(
        pl.col("action") == "exported",
        pl.col("status") == "success",
        pl.col("operation") != "notebook.export",
    )
    assert exports.height > 1_000
    for details, attributes in exports.select("details", "attributes").rows():
        match = re.fullmatch(
            r"Exported ([\d,]+) (rows|records) to (CSV|Excel|Parquet|JSON)", details
        )
        assert match, details
        parsed = json.loads(attributes)
        assert parsed["rows"] == int(match.group(1).replace(",", ""))
        assert parsed["bytes"] > parsed["rows"]
    assert exports["attributes"].str.json_path_match("$.rows").cast(pl.Int64).max() > 1_000_000


def test_details_are_one_line_summaries(events: pl.DataFrame) -> None:
    details = events.get_column("details")
    assert details.null_count() == 0
    assert not details.str.contains("\n").any()
    assert details.str.contains(r"^Notebook created with \d+ cells$").any()


def test_most_attributes_are_null_and_the_rest_json_objects(events: pl.DataFrame) -> None:
    attributes = events.get_column("attributes")
    assert attributes.null_count() > 0.5 * N
    for text in attributes.drop_nulls().sample(2_000, seed=0):
        assert isinstance(json.loads(text), dict)


# -- where from ---------------------------------------------------------------------------


def test_ip_addresses_are_valid_mostly_office_ranges(events: pl.DataFrame) -> None:
    ips = events.get_column("ip_address")
    parsed = [ipaddress.ip_address(ip) for ip in ips.drop_nulls().unique()]
    assert any(ip.version == 6 for ip in parsed)
    office = ips.str.contains(r"^(10\.|192\.168\.1\.)").mean()
    assert office is not None and office > 0.6
    assert events.filter(pl.col("actor_type") == "system")["ip_address"].null_count() > 0


def test_sessions_are_per_person_and_day(events: pl.DataFrame) -> None:
    people = events.filter(pl.col("actor_type") == "user")
    assert people["session_id"].null_count() == 0
    assert people["session_id"].str.contains(r"^sess_[0-9a-f]{16}$").all()
    machines = events.filter(pl.col("actor_type") != "user")
    assert machines["session_id"].null_count() == machines.height
    per_session = people.group_by("session_id").agg(pl.col("actor").n_unique())
    assert per_session["actor"].max() == 1
    spans = people.group_by("session_id").agg(
        (pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span")
    )
    assert spans["span"].max() < timedelta(days=1)


def test_sessions_do_not_depend_on_chunking(events: pl.DataFrame) -> None:
    # zones are whole hours off UTC: one person's events in one UTC hour share a local day
    hour = pl.col("timestamp").dt.truncate("1h")
    people = events.filter(pl.col("actor_type") == "user")
    sessions = people.group_by("actor", hour).agg(pl.col("session_id").n_unique())
    assert sessions["session_id"].max() == 1


def test_user_agents_include_browsers_and_clients(events: pl.DataFrame) -> None:
    agents = set(events.get_column("user_agent").drop_nulls())
    assert any(a.startswith("Mozilla/5.0") for a in agents)
    assert "python-requests/2.32.3" in agents
    assert any(a.startswith("dataplatform-sdk-python/") for a in agents)


def test_accounts_are_a_few_tenants(events: pl.DataFrame) -> None:
    assert set(events["account"]) == {"acme-prod", "acme-dev", "acme-staging"}


# -- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be"),
        ({"n": 10, "days": 0}, "days must be"),
        ({"n": 10, "users": 0}, "users must be"),
        ({"n": 10, "end": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"n": 10, "seed": "7"}, "seed must be"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GenerateError, match=message) as info:
        generate(**kwargs)
    assert isinstance(info.value, AuditkitError) and isinstance(info.value, ValueError)


def test_bad_batch_size_raises_at_the_call() -> None:
    with pytest.raises(GenerateError, match="batch_size"):
        iter_generate(10, batch_size=0)


def test_unknown_format_lists_the_valid_ones(tmp_path: Path, small: pl.DataFrame) -> None:
    with pytest.raises(GenerateError, match="valid formats: jsonl, json, csv"):
        write(small, tmp_path / "x", "xml")
    assert list(tmp_path.iterdir()) == []


# -- writing ------------------------------------------------------------------------------


def test_jsonl_has_one_flat_object_per_line(tmp_path: Path, small: pl.DataFrame) -> None:
    path = write(small, tmp_path / "events.jsonl", "jsonl")
    assert path == tmp_path / "events.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == small.height
    assert list(records[0]) == list(SCHEMA)
    assert all(ISO_Z.match(r["timestamp"]) for r in records)
    assert [r["event_id"] for r in records] == small["event_id"].to_list()
    first = small.row(0, named=True)
    assert records[0]["timestamp"] == first["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert records[0]["actor_type"] == first["actor_type"]
    assert all(not isinstance(v, dict | list) for r in records for v in r.values())


def test_json_is_an_array_of_the_same_objects(tmp_path: Path, small: pl.DataFrame) -> None:
    lines = write(small, tmp_path / "e.jsonl", "jsonl").read_text().splitlines()
    array = json.loads(write(iter_generate(5_000, seed=11, batch_size=999), tmp_path / "e.json",
                             "json").read_text())  # fmt: skip
    assert array == [json.loads(line) for line in lines]
    assert json.loads(write([], tmp_path / "empty.json", "json").read_text()) == []


def test_csv_has_every_column(tmp_path: Path, small: pl.DataFrame) -> None:
    path = write(small, tmp_path / "events.csv", "csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == small.height
    assert list(rows[0]) == list(SCHEMA)
    assert ISO_Z.match(rows[0]["timestamp"])
    updated = next(r for r in rows if r["action"] == "updated" and r["status"] == "success")
    assert json.loads(updated["before"]) != json.loads(updated["after"])


def test_csv_short_is_the_platforms_export(tmp_path: Path, small: pl.DataFrame) -> None:
    path = write(small, tmp_path / "events.csv", "csv-short")
    assert path.read_text().splitlines()[0] == "timestamp,user,action,resource,status,ip_address"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == small.height
    first = small.row(0, named=True)
    assert rows[0]["user"] == first["actor"]
    assert rows[0]["resource"] == f"{first['resource_type']}:{first['resource_name']}"
    assert all(ISO_Z.match(r["timestamp"]) for r in rows)


def test_parquet_reads_back_equal(tmp_path: Path, small: pl.DataFrame) -> None:
    path = write(iter_generate(5_000, seed=11, batch_size=1_500), tmp_path / "e.parquet", "parquet")
    table = pq.read_table(path)
    assert table.num_rows == small.height
    assert table.column_names == list(SCHEMA)
    unstored = small.with_columns(pl.lit(None, SCHEMA["ingested_at"]).alias("ingested_at"))
    assert conform(pl.read_parquet(path)).equals(unstored)  # the store sets ingested_at


def test_cloudtrail_records_are_realistic(tmp_path: Path, small: pl.DataFrame) -> None:
    path = write(small, tmp_path / "trail.log", "cloudtrail")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == small.height
    keys = {
        "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
        "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "requestID",
        "eventID", "readOnly", "eventType", "recipientAccountId",
    }  # fmt: skip
    uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    for record in records:
        assert keys <= set(record)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["eventTime"])
        assert record["eventSource"].endswith(".amazonaws.com")
        assert uuid.match(record["eventID"]) and uuid.match(record["requestID"])
        assert isinstance(record["readOnly"], bool)
    assert len({r["eventID"] for r in records}) == len(records)
    types = {r["userIdentity"]["type"] for r in records}
    assert {"IAMUser", "AssumedRole", "AWSService", "Root"} <= types
    users = [r["userIdentity"] for r in records if r["userIdentity"]["type"] == "IAMUser"]
    assert all(re.fullmatch(r"\d{12}", u["accountId"]) for u in users)
    assert any(r["sourceIPAddress"].endswith(".amazonaws.com") for r in records)
    failed = [r for r in records if "errorMessage" in r]
    assert failed and any("errorCode" in r for r in failed)
    assert sum("errorMessage" in r for r in records) == (small["status"] == "failed").sum()
    logins = [r for r in records if r["eventName"] == "ConsoleLogin"]
    assert logins and all(r["eventType"] == "AwsConsoleSignIn" for r in logins)
    assert {r["responseElements"]["ConsoleLogin"] for r in logins} == {"Success", "Failure"}


def test_cloudtrail_is_deterministic(tmp_path: Path, small: pl.DataFrame) -> None:
    one = write(small, tmp_path / "a.log", "cloudtrail").read_bytes()
    two = write(iter_generate(5_000, seed=11, batch_size=777), tmp_path / "b.log", "cloudtrail")
    assert two.read_bytes() == one


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_streams_an_iterator(tmp_path: Path, fmt: str) -> None:
    """Earlier batches are released while later ones are still being made."""
    alive: list[weakref.ref[pl.DataFrame]] = []
    most_alive = 0

    def batches() -> Iterator[pl.DataFrame]:
        nonlocal most_alive
        for batch in iter_generate(6_000, seed=1, batch_size=1_000):
            gc.collect()
            most_alive = max(most_alive, sum(ref() is not None for ref in alive))
            alive.append(weakref.ref(batch))
            yield batch

    path = write(batches(), tmp_path / f"events.{fmt}", fmt)
    assert len(alive) == 6
    assert most_alive <= 2
    assert path.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_of_nothing_is_a_valid_empty_file(tmp_path: Path, fmt: str) -> None:
    path = write(iter_generate(0), tmp_path / f"empty.{fmt}", fmt)
    if fmt == "parquet":
        assert conform(pl.read_parquet(path)).height == 0
    elif fmt == "json":
        assert json.loads(path.read_text()) == []
    elif fmt in ("csv", "csv-short"):
        assert len(path.read_text().splitlines()) == 1
    else:
        assert path.read_text() == ""
