"""The native adapter: every export format, aliases, and every kind of bad input."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit import sources
from auditkit.errors import RejectedRecordError, SourceError
from auditkit.schema import SCHEMA, STATUSES
from auditkit.sources import MAX_RAW, REJECT_SCHEMA, native

ISO_Z = "%Y-%m-%dT%H:%M:%S%.6fZ"


def load(path: Path, **kwargs: Any) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """All events, rejects and notes read from ``path`` (detected unless format= is given)."""
    batches = list(sources.read(path, **kwargs))
    events = pl.concat([b.events for b in batches])
    rejects = pl.concat([b.rejects for b in batches])
    assert events.schema == pl.Schema(SCHEMA)
    assert rejects.schema == pl.Schema(REJECT_SCHEMA)
    return events, rejects, [note for b in batches for note in b.notes]


def compact(record: dict[str, Any]) -> str:
    """One JSON line the way exports write it (no spaces: eligible for the fast path)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def record(i: int, **fields: Any) -> dict[str, Any]:
    """A valid native record; ``fields`` override or add keys (None removes a key)."""
    base: dict[str, Any] = {
        "event_id": f"e{i}",
        "timestamp": f"2026-10-01T10:{i % 60:02d}:00Z",
        "actor": "alice@example.com",
        "action": "created",
        "resource_type": "notebook",
        "resource_name": f"nb{i}",
        "status": "success",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def jsonl(path: Path, lines: list[str | bytes | dict[str, Any]]) -> Path:
    out = bytearray()
    for line in lines:
        if isinstance(line, dict):
            line = compact(line)
        out += (line.encode() if isinstance(line, str) else line) + b"\n"
    path.write_bytes(bytes(out))
    return path


def ids(events: pl.DataFrame) -> list[str]:
    return sorted(events.get_column("event_id").to_list())


# -- every format gives the same events -------------------------------------------------


def plain_columns(events: pl.DataFrame) -> pl.DataFrame:
    """Events as an export writes them: strings, ISO timestamps, no ingested_at."""
    return events.drop("ingested_at").with_columns(
        pl.col("timestamp").dt.strftime(ISO_Z), pl.col("actor_type", "status").cast(pl.String)
    )


def write_jsonl(events: pl.DataFrame, path: Path) -> None:
    plain_columns(events).write_ndjson(path)


def write_jsonl_spaced(events: pl.DataFrame, path: Path) -> None:
    rows = plain_columns(events).iter_rows(named=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def write_json_array(events: pl.DataFrame, path: Path) -> None:
    path.write_text(json.dumps(plain_columns(events).to_dicts()))


def write_json_array_pretty(events: pl.DataFrame, path: Path) -> None:
    path.write_text(json.dumps(plain_columns(events).to_dicts(), indent=2))


def write_csv(events: pl.DataFrame, path: Path) -> None:
    plain_columns(events).write_csv(path)


def write_csv_polars_datetimes(events: pl.DataFrame, path: Path) -> None:
    events.drop("ingested_at").write_csv(path)  # 2026-10-01T09:00:00.000000+0000


def write_parquet(events: pl.DataFrame, path: Path) -> None:
    events.write_parquet(path)


def write_jsonl_gzip(events: pl.DataFrame, path: Path) -> None:
    buffer = io.BytesIO()
    plain_columns(events).write_ndjson(buffer)
    path.write_bytes(gzip.compress(buffer.getvalue()))


def write_csv_gzip(events: pl.DataFrame, path: Path) -> None:
    path.write_bytes(gzip.compress(plain_columns(events).write_csv().encode()))


WRITERS: dict[str, tuple[str, Callable[[pl.DataFrame, Path], None]]] = {
    "jsonl": ("events.jsonl", write_jsonl),
    "jsonl-spaced": ("events.jsonl", write_jsonl_spaced),
    "json-array": ("events.json", write_json_array),
    "json-array-pretty": ("events.json", write_json_array_pretty),
    "csv": ("events.csv", write_csv),
    "csv-polars-datetimes": ("events.csv", write_csv_polars_datetimes),
    "parquet": ("events.parquet", write_parquet),
    "jsonl-gzip": ("events.jsonl.gz", write_jsonl_gzip),
    "csv-gzip": ("events.csv.gz", write_csv_gzip),
    "csv-gzip-named-csv": ("events.csv", write_csv_gzip),
    "jsonl-gzip-named-jsonl": ("events.jsonl", write_jsonl_gzip),
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_format_gives_exactly_the_exported_events(
    tmp_path: Path, make_events, fmt: str
) -> None:
    events = make_events(
        120,
        details='said "hi", then left',
        before='{"title":"Report"}',
        after='{"title":"Q2 Sales Report"}',
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        attributes='{"region":"eu-west-1"}',
    )
    name, write = WRITERS[fmt]
    path = tmp_path / name
    write(events, path)
    assert sources.detect(path) is native.SOURCE
    got, rejects, notes = load(path)
    assert rejects.height == 0 and notes == []
    assert got.sort("event_id").equals(events.sort("event_id"))


def test_short_csv_splits_resource_and_derives_ids(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text(
        "timestamp,user,action,resource,status,ip_address\n"
        "2026-10-01T10:00:00Z,alice@example.com,created,notebook:Q2 Sales,success,10.0.0.1\n"
        "2026-10-01T11:00:00Z,ak_123,viewed,just-a-name,failed,\n"
        "2026-10-01T12:00:00Z,svc-etl,deleted,database:db:with:colons,ok,2001:db8::1\n"
        '2026-10-01T13:00:00Z,system,executed,"pipeline:nightly, v2",Running,\n'
    )
    got, rejects, _ = load(path)
    assert rejects.height == 0
    rows = got.sort("timestamp").select(
        "actor", "actor_type", "action", "resource_type", "resource_name", "status", "ip_address"
    )
    assert rows.rows() == [
        ("alice@example.com", "user", "created", "notebook", "Q2 Sales", "success", "10.0.0.1"),
        ("ak_123", "api_key", "viewed", None, "just-a-name", "failed", None),
        ("svc-etl", "service_account", "deleted", "database", "db:with:colons", "success",
         "2001:db8::1"),
        ("system", "system", "executed", "pipeline", "nightly, v2", "in_progress", None),
    ]  # fmt: skip
    assert got.get_column("source").unique().to_list() == ["native"]
    # No event_id column: ids are stable hashes, unique, and the same on a second read.
    assert got.get_column("event_id").n_unique() == 4
    assert ids(load(path)[0]) == ids(got)


def test_reading_twice_gives_the_same_ids_in_every_format(tmp_path: Path, make_events) -> None:
    events = make_events(30).drop("event_id")
    plain = plain_columns(conform_without_ids(events))
    plain.write_ndjson(tmp_path / "a.jsonl")
    first = ids(load(tmp_path / "a.jsonl")[0])
    assert first == ids(load(tmp_path / "a.jsonl")[0])
    assert len(set(first)) == 30 and all(i.startswith("native_") for i in first)


def conform_without_ids(events: pl.DataFrame) -> pl.DataFrame:
    return events.with_columns(event_id=pl.lit(None, pl.String))


# -- aliases, vocabularies, attributes --------------------------------------------------


def test_aliases_and_nested_resource_in_json(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "aliases.jsonl",
        [
            {
                "id": "a1",
                "timestamp": "2026-10-01T10:00:00Z",
                "user": "bob@example.com",
                "action": "Updated",
                "status": "Succeeded",
                "ip": "192.168.1.20",
                "resource": {"type": "report", "id": "r9", "name": "Q2"},
            },
            {
                "id": "a2",
                "time": "2026-10-01T10:01:00Z",
                "user": "bob@example.com",
                "action": "viewed",
                "status": "queued",
                "resource": "experiment:exp 7",
            },
        ],
    )
    assert sources.detect(path) is native.SOURCE
    got, rejects, _ = load(path)
    assert rejects.height == 0
    assert got.sort("event_id").select(
        "event_id", "timestamp", "actor", "action", "status", "ip_address", "resource_type",
        "resource_id", "resource_name",
    ).rows() == [
        ("a1", datetime(2026, 10, 1, 10, 0, tzinfo=UTC), "bob@example.com", "updated",
         "success", "192.168.1.20", "report", "r9", "Q2"),
        ("a2", datetime(2026, 10, 1, 10, 1, tzinfo=UTC), "bob@example.com", "viewed",
         "pending", None, "experiment", None, "exp 7"),
    ]  # fmt: skip


def test_aliases_in_csv(tmp_path: Path) -> None:
    path = tmp_path / "aliases.csv"
    path.write_text(
        "id,time,user,action,status,ip,resource\n"
        "c1,2026-10-01T10:00:00Z,bob@example.com,shared,ok,10.1.2.3,report:Q2\n"
    )
    got, rejects, _ = load(path, format="native")
    assert rejects.height == 0
    assert got.select(
        "event_id", "timestamp", "actor", "action", "status", "ip_address", "resource_type",
        "resource_name",
    ).rows() == [
        ("c1", datetime(2026, 10, 1, 10, 0, tzinfo=UTC), "bob@example.com", "shared",
         "success", "10.1.2.3", "report", "Q2"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ("success", "success"), ("succeeded", "success"), ("OK", "success"),
        ("failed", "failed"), ("Failure", "failed"), ("error", "failed"),
        ("in_progress", "in_progress"), ("In Progress", "in_progress"),
        ("running", "in_progress"), ("pending", "pending"), (" queued ", "pending"),
    ],
)  # fmt: skip
def test_status_aliases(tmp_path: Path, given: str, status: str) -> None:
    got, rejects, _ = load(jsonl(tmp_path / "s.jsonl", [record(1, status=given)]))
    assert rejects.height == 0
    assert got.item(0, "status") == status


@pytest.mark.parametrize(
    ("actor", "actor_type"),
    [
        ("alice@example.com", "user"),
        ("ak_live_123", "api_key"),
        ("key_42", "api_key"),
        ("svc-backup", "service_account"),
        ("deployer@project.iam", "service_account"),
        ("system", "system"),
        ("mystery", "unknown"),
    ],
)
def test_actor_type_is_inferred_when_absent(tmp_path: Path, actor: str, actor_type: str) -> None:
    got, _, _ = load(jsonl(tmp_path / "a.jsonl", [record(1, actor=actor)]))
    assert got.item(0, "actor_type") == actor_type


def test_a_given_actor_type_wins_and_a_wrong_one_is_rejected(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "t.jsonl",
        [record(1, actor_type="System"), record(2, actor_type="robot"), record(3)],
    )
    got, rejects, _ = load(path)
    assert got.sort("event_id").get_column("actor_type").to_list() == ["system", "user"]
    assert rejects.select("line", "reason").rows() == [
        (2, "unknown actor_type robot (valid: user, api_key, service_account, system, "
            "anonymous, unknown)"),
    ]  # fmt: skip


def test_unknown_fields_land_in_attributes_as_json(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "extra.jsonl",
        [
            {**record(1, region="eu", tags=["a", "b"], nested={"k": {"deep": 1}}), "flag": None},
            record(2, attributes={"kept": True}, region="us"),
            record(3, attributes="not json", region="ap"),
            record(4, before={"title": "Report"}, after={"title": "Q2"}),
        ],
    )
    got, rejects, _ = load(path)
    assert rejects.height == 0
    rows = dict(got.select("event_id", "attributes").rows())
    assert json.loads(rows["e1"]) == {
        "region": "eu",
        "tags": ["a", "b"],
        "nested": {"k": {"deep": 1}},
        "flag": None,
    }
    assert json.loads(rows["e2"]) == {"kept": True, "region": "us"}
    assert json.loads(rows["e3"]) == {"attributes": "not json", "region": "ap"}
    assert rows["e4"] is None
    e4 = got.filter(pl.col("event_id") == "e4").row(0, named=True)
    assert (json.loads(e4["before"]), json.loads(e4["after"])) == (
        {"title": "Report"},
        {"title": "Q2"},
    )


def test_unknown_csv_columns_land_in_attributes(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text(
        "event_id,timestamp,actor,action,status,region,ticket\n"
        "c1,2026-10-01T10:00:00Z,alice@example.com,created,success,eu,T-1\n"
        "c2,2026-10-01T10:00:00Z,alice@example.com,created,success,,T-2\n"
    )
    got, _, _ = load(path)
    attributes = [json.loads(a) for a in got.sort("event_id").get_column("attributes")]
    assert attributes == [{"region": "eu", "ticket": "T-1"}, {"region": None, "ticket": "T-2"}]


def test_an_exported_ingested_at_is_not_taken_as_an_unknown_field(
    tmp_path: Path, make_events
) -> None:
    events = make_events(5, ingested_at=datetime(2026, 10, 9, tzinfo=UTC))
    plain = events.with_columns(
        pl.col("timestamp", "ingested_at").dt.strftime(ISO_Z),
        pl.col("actor_type", "status").cast(pl.String),
    )
    for name, text in {
        "spaced.jsonl": "".join(json.dumps(r) + "\n" for r in plain.iter_rows(named=True)),
        "array.json": json.dumps(plain.to_dicts()),
        "all.csv": plain.write_csv(),
    }.items():
        (tmp_path / name).write_text(text)
        got, _, _ = load(tmp_path / name)
        assert got.sort("event_id").equals(_null_ingested(events)), name
    events.write_parquet(tmp_path / "all.parquet")
    assert load(tmp_path / "all.parquet")[0].get_column("ingested_at").null_count() == 5


def _null_ingested(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(ingested_at=pl.lit(None, SCHEMA["ingested_at"]))


# -- timestamps and addresses -----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "utc"),
    [
        ("2026-10-01T12:00:00+02:00", datetime(2026, 10, 1, 10, 0, tzinfo=UTC)),
        ("2026-10-01T05:30:00-05:00", datetime(2026, 10, 1, 10, 30, tzinfo=UTC)),
        ("2026-10-01T10:00:00.123456Z", datetime(2026, 10, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-10-01 10:00:00 UTC", datetime(2026, 10, 1, 10, 0, tzinfo=UTC)),
        ("2026-10-01T10:00:00", datetime(2026, 10, 1, 10, 0, tzinfo=UTC)),
        (1790000000123, datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC)),
        ("1790000000123", datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC)),
        (1790000000, datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC)),
        (1790000000.5, datetime(2026, 9, 21, 14, 13, 20, 500000, tzinfo=UTC)),
    ],
)
def test_timestamps_are_converted_to_utc(tmp_path: Path, given: object, utc: datetime) -> None:
    got, rejects, _ = load(jsonl(tmp_path / "t.jsonl", [record(1, timestamp=given)]))
    assert rejects.height == 0
    assert got.item(0, "timestamp") == utc


def test_parquet_timestamps_in_other_zones_or_naive(tmp_path: Path, make_events) -> None:
    events = make_events(3)
    paris = events.with_columns(pl.col("timestamp").dt.convert_time_zone("Europe/Paris"))
    naive = events.with_columns(pl.col("timestamp").dt.replace_time_zone(None))
    for name, frame in {"paris.parquet": paris, "naive.parquet": naive}.items():
        frame.write_parquet(tmp_path / name)
        got, _, _ = load(tmp_path / name)
        assert got.get_column("timestamp").to_list() == events.get_column("timestamp").to_list()


def test_invalid_ip_is_kept_in_attributes_with_a_note(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "ip.jsonl",
        [
            record(1, ip_address="10.0.0.1"),
            record(2, ip_address="211.9.016.253"),  # leading zero: not an address
            record(3, ip_address="2001:db8::1"),
            record(4, ip_address="not-an-ip", attributes={"a": 1}),
            record(5, ip_address=" 10.0.0.9 "),
        ],
    )
    got, rejects, notes = load(path)
    assert rejects.height == 0
    rows = got.sort("event_id").select("ip_address", "attributes").rows()
    assert rows == [
        ("10.0.0.1", None),
        (None, '{"ip_address_raw":"211.9.016.253"}'),
        ("2001:db8::1", None),
        (None, '{"a":1,"ip_address_raw":"not-an-ip"}'),
        ("10.0.0.9", None),
    ]
    assert len(notes) == 1
    assert "2 record(s)" in notes[0] and "ip_address_raw" in notes[0]


# -- bad input: every kind --------------------------------------------------------------


def test_a_truncated_line_is_rejected_and_its_neighbours_kept(tmp_path: Path) -> None:
    damaged = compact(record(2))[:-12]
    path = jsonl(tmp_path / "t.jsonl", [record(1), damaged, record(3), "", record(4)])
    got, rejects, _ = load(path)
    assert ids(got) == ["e1", "e3", "e4"]
    assert rejects.height == 1
    reject = rejects.row(0, named=True)
    assert (reject["file"], reject["line"], reject["raw"]) == (str(path), 2, damaged)
    assert reject["reason"].startswith("not valid JSON")


def test_a_truncated_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(compact(record(1)) + "\n" + compact(record(2))[:30])
    got, rejects, _ = load(path)
    assert ids(got) == ["e1"]
    assert rejects.select("line", "raw").rows() == [(2, compact(record(2))[:30])]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"timestamp": None}, "missing timestamp"),
        ({"timestamp": ""}, "timestamp  is not ISO-8601 or epoch"),
        ({"timestamp": "yesterday"}, "timestamp yesterday is not ISO-8601 or epoch"),
        ({"timestamp": "2026-13-45T99:00:00Z"}, "is not ISO-8601"),
        ({"actor": None}, "missing actor"),
        ({"actor": "  "}, "missing actor"),
        ({"action": None}, "missing action"),
        ({"status": None}, "missing status (valid: " + ", ".join(STATUSES) + ")"),
        ({"status": "weird"}, "unknown status weird (valid: " + ", ".join(STATUSES) + ")"),
        ({"duration_ms": "fast"}, "duration_ms fast is not a number"),
        ({"duration_ms": -5}, "duration_ms -5"),
        ({"actor": 5}, "field 'actor' should be a string, got int 5"),
        ({"actor": {"x": 1}}, "field 'actor' should be a string, got dict {\"x\":1}"),
        ({"status": True}, "field 'status' should be a string, got bool"),
    ],
)
def test_bad_records_are_rejected_with_line_and_reason(
    tmp_path: Path, fields: dict[str, Any], reason: str
) -> None:
    bad = {**record(2), **fields}
    bad = {k: v for k, v in bad.items() if v is not None}
    path = jsonl(tmp_path / "bad.jsonl", [record(1), bad, record(3)])
    got, rejects, _ = load(path)
    assert ids(got) == ["e1", "e3"]
    assert rejects.select("file", "line").rows() == [(str(path), 2)]
    assert reason in rejects.item(0, "reason")
    assert json.loads(rejects.item(0, "raw")) == bad


def test_an_invalid_utf8_line_is_rejected(tmp_path: Path) -> None:
    raw = compact(record(2, actor="al\udcffice")).encode("utf-8", "surrogateescape")
    path = jsonl(tmp_path / "u.jsonl", [record(1), raw, record(3)])
    got, rejects, _ = load(path)
    assert ids(got) == ["e1", "e3"]
    assert rejects.select("line").to_series().to_list() == [2]
    assert rejects.item(0, "reason").startswith("not valid UTF-8")
    assert "al\ufffdice" in rejects.item(0, "raw")


def test_a_non_object_line_is_rejected(tmp_path: Path) -> None:
    got, rejects, _ = load(jsonl(tmp_path / "n.jsonl", [record(1), "[1, 2]", "42", record(4)]))
    assert ids(got) == ["e1", "e4"]
    assert rejects.select("line", "reason").rows() == [
        (2, "expected a JSON object, got list"),
        (3, "expected a JSON object, got int"),
    ]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_an_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="empty") as info:
        sources.detect(path)
    assert info.value.path == str(path)
    # Named explicitly, the native adapter says so in a note instead of failing.
    got, rejects, notes = load(path, format="native")
    assert (got.height, rejects.height) == (0, 0)
    assert notes == [f"{path}: empty file, no events"]


def test_leading_blank_lines_do_not_hide_the_records(tmp_path: Path) -> None:
    path = tmp_path / "lead.jsonl"
    path.write_text("\n" * 20 + compact(record(1)) + "\n" + compact(record(2)) + "\n")
    got, rejects, _ = load(path)
    assert ids(got) == ["e1", "e2"]
    assert rejects.height == 0


def test_a_ten_megabyte_field_loads(tmp_path: Path) -> None:
    big = "x" * (10 << 20)
    path = jsonl(tmp_path / "big.jsonl", [record(1, details=big), record(2)])
    got, rejects, _ = load(path)
    assert rejects.height == 0
    assert got.sort("event_id").get_column("details").to_list() == [big, None]


def test_a_rejected_ten_megabyte_record_keeps_a_capped_raw(tmp_path: Path) -> None:
    damaged = compact(record(1, details="x" * (10 << 20)))[:-3]
    got, rejects, _ = load(jsonl(tmp_path / "big.jsonl", [damaged, record(2)]))
    assert ids(got) == ["e2"]
    assert rejects.height == 1
    assert rejects.item(0, "line") == 1
    assert rejects.item(0, "raw") == damaged[:MAX_RAW]


def test_a_ten_megabyte_csv_value_loads(tmp_path: Path) -> None:
    big = "y" * (10 << 20)
    path = tmp_path / "big.csv"
    path.write_text(
        "event_id,timestamp,actor,action,status,details\n"
        f"c1,2026-10-01T10:00:00Z,alice@example.com,created,success,{big}\n"
        "c2,2026-10-01T10:00:00Z,alice@example.com,created,bogus,\n"
    )
    got, rejects, _ = load(path)
    assert got.get_column("details").to_list() == [big]
    assert rejects.select("line").to_series().to_list() == [3]


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
PROSE = (
    b"It was a dark and stormy night; the rain fell in torrents.\nExcept at occasional intervals.\n"
)


@pytest.mark.parametrize("content", [PNG, PROSE, b"a,b,c\n1,2,3\n", b'{"hello": "world"}\n'])
def test_a_file_that_is_not_a_log_is_refused_by_detect(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mystery.dat"
    path.write_bytes(content)
    with pytest.raises(SourceError) as info:
        sources.detect(path)
    message = str(info.value)
    assert str(path) in message and info.value.path == str(path)
    assert "not a log format" in message
    assert "native" in message and "--format" in message
    with pytest.raises(SourceError):
        list(sources.read(path))


def test_a_missing_path_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        list(sources.read(tmp_path / "nope.jsonl"))


def test_an_unknown_format_name_lists_the_valid_ones(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", [record(1)])
    with pytest.raises(
        SourceError, match=r"unknown source format 'natve'; valid formats: .*native"
    ):
        list(sources.read(path, format="natve"))


def test_a_truncated_json_array_keeps_the_complete_records(tmp_path: Path) -> None:
    text = json.dumps([record(i) for i in range(4)], indent=1)
    cut = text.index('"e3"') + 2
    path = tmp_path / "cut.json"
    path.write_text(text[:cut])
    got, rejects, _ = load(path)
    assert ids(got) == ["e0", "e1", "e2"]
    assert rejects.height == 1
    assert rejects.item(0, "line") == 3  # the record's 0-based index in the array
    assert "truncated" in rejects.item(0, "reason")


def test_a_json_array_with_a_bad_element_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text(json.dumps([record(0), "text", record(2, status="nope"), record(3)]))
    got, rejects, _ = load(path)
    assert ids(got) == ["e0", "e3"]
    assert rejects.select("line").to_series().to_list() == [1, 2]


@pytest.mark.parametrize("fmt", ["jsonl-gzip", "csv-gzip"])
def test_a_truncated_gzip_keeps_every_complete_record_before_the_damage(
    tmp_path: Path, make_events, fmt: str
) -> None:
    events = make_events(5000, details="payload " * 8)
    name, write = WRITERS[fmt]
    whole = tmp_path / name
    write(events, whole)
    data = whole.read_bytes()
    cut = tmp_path / ("cut-" + name)
    cut.write_bytes(data[: len(data) * 2 // 3])
    got, rejects, _ = load(cut)
    assert 0 < got.height < 5000
    # Exactly the records before the damage, complete and unaltered.
    assert got.equals(events.head(got.height))
    assert rejects.height == 1
    reject = rejects.row(0, named=True)
    assert reject["reason"] == "the compressed file is truncated; reading stopped here"
    lines = gzip.decompress(data).decode().split("\n")
    if fmt == "jsonl-gzip":
        assert reject["line"] == got.height + 1
        assert lines[got.height].startswith(reject["raw"])  # the cut-off line, as far as it got
    else:
        assert lines[got.height + 1].startswith(reject["raw"])  # after the header
    with pytest.raises(RejectedRecordError, match="truncated"):
        load(cut, strict=True)


def test_a_small_truncated_gzip_is_still_detected(tmp_path: Path) -> None:
    text = "".join(compact(record(i)) + "\n" for i in range(3))
    data = gzip.compress(text.encode())
    path = tmp_path / "small.jsonl.gz"
    path.write_bytes(data[:-12])  # the damage is inside the bytes detect looks at
    assert sources.detect(path) is native.SOURCE
    got, rejects, _ = load(path)
    assert got.height + rejects.height >= 1
    assert rejects.get_column("reason").to_list()[-1].startswith("the compressed file is")
    assert set(ids(got)) <= {"e0", "e1", "e2"}


def test_a_damaged_gzip_stream_is_a_reject_not_a_crash(tmp_path: Path, make_events) -> None:
    events = make_events(3000)
    buffer = io.BytesIO()
    plain_columns(events).write_ndjson(buffer)
    data = bytearray(gzip.compress(buffer.getvalue()))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64  # garbage in the middle
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(bytes(data))
    got, rejects, _ = load(path)
    assert 0 < got.height < 3000
    assert got.equals(events.head(got.height))
    assert rejects.height == 1
    assert rejects.item(0, "reason").startswith("the compressed file is damaged; reading stopped")
    assert rejects.item(0, "line") == got.height + 1


# -- CSV rejects name the physical line -------------------------------------------------

HEADER = "timestamp,user,action,resource,status,ip_address\n"


def csv_row(i: int, status: str = "success") -> str:
    return f"2026-10-01T10:00:00Z,u{i}@example.com,created,notebook:n{i},{status},\n"


@pytest.mark.parametrize(
    "body",
    [
        csv_row(1)
        + "2026-10-01T10:00:00Z,u2@example.com,created\n"
        + csv_row(3, "bogus")
        + csv_row(4),
        csv_row(1) + "\n\n" + csv_row(4, "bogus") + csv_row(5),
        '2026-10-01T10:00:00Z,u1@x.com,created,"notebook:two\nlines",success,\n'
        + csv_row(3, "bogus")
        + csv_row(4),
    ],
    ids=["short-row", "blank-lines", "value-with-newline"],
)  # fmt: skip
def test_csv_rejects_report_the_physical_line(tmp_path: Path, body: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + body)
    got, rejects, _ = load(path)
    lines = path.read_text().split("\n")
    for line, reason in rejects.select("line", "reason").rows():
        assert line is not None
        text = lines[line - 1]
        if reason.startswith("unknown status"):
            assert ",bogus," in text
        else:
            assert reason == "CSV row has 3 fields, the header has 6"
            assert text == "2026-10-01T10:00:00Z,u2@example.com,created"
    assert rejects.height == (2 if "u2@" in body else 1)
    assert "bogus" not in "".join(got.get_column("status").cast(pl.String))


def test_csv_reject_keeps_the_given_status_in_raw(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + csv_row(1, "Bogus"))
    _, rejects, _ = load(path)
    assert json.loads(rejects.item(0, "raw"))["status"] == "Bogus"


def test_csv_with_invalid_utf8_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (HEADER + csv_row(1)).encode()
        + "2026-10-01T10:00:00Z,jos\xe9@x.com,created,notebook:n,success,\n".encode("latin-1")
    )
    with pytest.raises(SourceError, match=str(path)):
        load(path)


# -- strict mode ------------------------------------------------------------------------


def test_strict_mode_raises_at_the_first_bad_record(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "s.jsonl", [record(1), record(2, status="nah"), "{broken"])
    with pytest.raises(RejectedRecordError) as info:
        load(path, strict=True)
    error = info.value
    assert (error.file, error.line) == (str(path), 2)
    assert "unknown status nah" in error.reason
    assert isinstance(error, ValueError)
    assert f"{path}:2" in str(error)


def test_strict_mode_names_the_physical_line_of_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + csv_row(1) + "\n" + csv_row(3, "bogus"))
    with pytest.raises(RejectedRecordError) as info:
        load(path, strict=True)
    assert (info.value.file, info.value.line) == (str(path), 4)


def test_strict_mode_passes_a_clean_file(tmp_path: Path) -> None:
    got, rejects, _ = load(jsonl(tmp_path / "ok.jsonl", [record(1), record(2)]), strict=True)
    assert (got.height, rejects.height) == (2, 0)


# -- the fast path and the record-by-record path agree ----------------------------------


@pytest.fixture
def fast_path_spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per JSON Lines block, whether the vectorized fast path took it."""
    taken: list[bool] = []
    real = native._parse_flat_block

    def spy(block: bytes) -> pl.DataFrame | None:
        frame = real(block)
        taken.append(frame is not None)
        return frame

    monkeypatch.setattr(native, "_parse_flat_block", spy)
    return taken


ODD_VALUES: list[tuple[str, dict[str, Any]]] = [
    ("actor-int", {"actor": 5}),
    ("actor-object", {"actor": {"x": 1}}),
    ("actor-object-of-strings", {"actor": {"x": "1"}}),
    ("actor-list", {"actor": ["a"]}),
    ("actor-bool", {"actor": True}),
    ("actor-float", {"actor": 1.5}),
    ("actor-null", {"actor": None}),
    ("object-and-string-duration", {"actor": {"x": "1"}, "duration_ms": "7"}),
    ("duration-number", {"duration_ms": 12.5}),
    ("duration-string", {"duration_ms": "12.5"}),
    ("duration-bad-string", {"duration_ms": "abc"}),
    ("duration-bool", {"duration_ms": True}),
    ("duration-null", {"duration_ms": None}),
    ("timestamp-epoch-ms", {"timestamp": 1790000000123}),
    ("timestamp-epoch-float", {"timestamp": 1790000000.5}),
    ("timestamp-object", {"timestamp": {"a": "b"}}),
    ("status-int", {"status": 1}),
    ("before-object", {"before": {"a": 1}}),
    ("before-string", {"before": '{"a":1}'}),
    ("attributes-object", {"attributes": {"k": "v"}}),
    ("escaped-quotes-and-colons", {"details": 'he said "a":"b" \\ ok'}),
    ("key-like-value", {"details": '","zzz":"'}),
    ("unicode", {"details": "héllo ☃ 日本"}),
    ("alias-user", {"actor": None, "user": "bob@example.com"}),
    ("resource-string", {"resource": "notebook:n1"}),
]


#: Cases whose first file the vectorized path reads whole.
FAST_CASES = {
    "actor-null",
    "duration-number",
    "duration-null",
    "before-string",
    "escaped-quotes-and-colons",
    "key-like-value",
    "unicode",
}


def _odd_record(fields: dict[str, Any]) -> dict[str, Any]:
    odd = {**record(2), **fields}
    if "user" in fields:
        del odd["actor"]
    return odd


@pytest.mark.parametrize(("case", "fields"), ODD_VALUES, ids=[c for c, _ in ODD_VALUES])
def test_fast_path_and_record_path_agree(
    tmp_path: Path, fast_path_spy: list[bool], case: str, fields: dict[str, Any]
) -> None:
    odd = _odd_record(fields)
    # The same records; in the second file an unknown key on another line forces the
    # whole block onto the record-by-record path.
    fast = jsonl(tmp_path / "fast.jsonl", [record(1), odd, record(3)])
    slow = jsonl(tmp_path / "slow.jsonl", [record(1, zzz=1), odd, record(3)])
    fast_events, fast_rejects, fast_notes = load(fast)
    fast_taken = list(fast_path_spy)
    fast_path_spy.clear()
    slow_events, slow_rejects, slow_notes = load(slow)
    assert fast_path_spy == [False]
    by_id = pl.col("event_id")
    assert (
        fast_events.filter(by_id != "e1")
        .sort("event_id")
        .equals(slow_events.filter(by_id != "e1").sort("event_id"))
    ), case
    assert fast_rejects.drop("file").equals(slow_rejects.drop("file")), case
    assert fast_notes == slow_notes
    assert fast_events.height + fast_rejects.height == 3
    assert fast_rejects.get_column("raw").to_list() in ([], [compact(odd)])
    if case in FAST_CASES:  # so the comparison above really was fast path vs record path
        assert fast_taken == [True]


def test_clean_compact_lines_do_take_the_fast_path(
    tmp_path: Path, fast_path_spy: list[bool], make_events
) -> None:
    write_jsonl(make_events(50), tmp_path / "clean.jsonl")
    got, _, _ = load(tmp_path / "clean.jsonl")
    assert got.height == 50
    assert fast_path_spy == [True]


# -- blocks -----------------------------------------------------------------------------


def test_blocks_give_the_same_events_and_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_events
) -> None:
    events = make_events(400, details="d" * 40)
    lines: list[str | bytes | dict[str, Any]] = list(
        plain_columns(events).write_ndjson().splitlines()
    )
    bad_at = {3: "{broken", 97: compact(record(-1, status="nah")), 250: "[]", 399: "{"}
    for line, text in sorted(bad_at.items()):
        lines.insert(line - 1, text)
    lines.insert(150, compact(record(-2, details="L" * 9000)))  # longer than a block
    path = jsonl(tmp_path / "blocks.jsonl", lines)
    whole = load(path)
    monkeypatch.setattr(native, "BLOCK_BYTES", 4096)
    assert path.stat().st_size > 20 * native.BLOCK_BYTES
    blocked = load(path)
    assert blocked[0].sort("event_id").equals(whole[0].sort("event_id"))
    assert blocked[1].sort("line").equals(whole[1].sort("line"))
    assert blocked[0].height == 401
    assert sorted(blocked[1].get_column("line")) == sorted(
        n + (1 if n > 150 else 0) for n in bad_at
    )
    text = path.read_text().split("\n")
    for line, raw in blocked[1].select("line", "raw").rows():
        assert text[line - 1] == raw


def test_a_file_without_final_newline_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "BLOCK_BYTES", 256)
    path = tmp_path / "nofinal.jsonl"
    path.write_text("\n".join(compact(record(i)) for i in range(40)))
    got, rejects, _ = load(path)
    assert ids(got) == sorted(f"e{i}" for i in range(40))
    assert rejects.height == 0


# -- real third-party files: nothing vanishes -------------------------------------------


def _records_in(path: Path) -> int:
    with sources.open_binary(path) as fh:
        data = fh.read()
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return len(json.loads(data))
    if text.startswith(b"{"):
        return sum(1 for line in data.split(b"\n") if line.strip())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline="")))
    return sum(1 for row in rows[1:] if row)


def test_forcing_native_on_real_logs_keeps_or_rejects_every_record(realdata: Path) -> None:
    files = [
        p
        for p in sorted(realdata.rglob("*"))
        if p.is_file() and p.suffix != ".md" and p.name != "PROVENANCE.csv"
    ]
    assert len(files) > 50
    lost = {}
    for path in files:
        got, rejects, _ = load(path, format="native")
        if got.height + rejects.height != _records_in(path):
            lost[path.name] = (got.height, rejects.height, _records_in(path))
    assert lost == {}


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")], ids=["compact", "spaced"])
def test_fast_path_is_exact_about_keys_and_value_kinds(
    tmp_path: Path, separators: tuple[str, str]
) -> None:
    """Blocks read by Polars are checked byte-wise; what it would silently change (an
    unknown key, a number or a boolean where text belongs, an escaped quote before a
    colon inside a value) must come out as the per-record path gives it."""
    rows = [
        record(0),
        record(1, details='say \\":" not a key', before='{"a": "x\\":y"}'),
        record(2, region="eu-west-1"),  # unknown key: kept in attributes
        record(3, actor=42),  # a number where text belongs: rejected
        record(4, resource_name=True),  # a boolean: rejected
        record(5, duration_ms=12.5),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r, separators=separators) + "\n" for r in rows))
    events, rejects, _ = load(path)
    assert ids(events) == ["e0", "e1", "e2", "e5"]
    by_id = {r["event_id"]: r for r in events.iter_rows(named=True)}
    assert by_id["e1"]["details"] == 'say \\":" not a key'
    assert by_id["e1"]["before"] == '{"a": "x\\":y"}'
    assert json.loads(by_id["e2"]["attributes"]) == {"region": "eu-west-1"}
    assert by_id["e5"]["duration_ms"] == 12.5
    assert sorted(rejects.get_column("line")) == [4, 5]
    assert all("should be a string" in r for r in rejects.get_column("reason"))


def test_read_ahead_keeps_order_raises_in_place_and_closes_early(make_events: Any) -> None:
    def batches(n: int, fail_at: int | None = None) -> Iterator[sources.Batch]:
        try:
            for i in range(n):
                if i == fail_at:
                    raise SourceError(f"bad file {i}", path=f"f{i}")
                yield sources.Batch(make_events(1, prefix=f"b{i}"))
        finally:
            closed.append(n)

    closed: list[int] = []
    got = [b.events.height for b in sources.read_ahead(batches(5))]
    assert got == [1] * 5 and closed == [5]

    seen = []
    with pytest.raises(SourceError, match="bad file 3"):
        for batch in sources.read_ahead(batches(6, fail_at=3)):
            seen.append(batch)
    assert len(seen) == 3  # the batches before the error arrive first

    closed.clear()
    reader = sources.read_ahead(batches(1000), depth=2)
    next(reader)
    reader.close()  # the caller stops early: the reader thread ends and closes its source
    assert closed == [1000]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=6))
def test_stable_ids_encoded_by_polars_equal_the_python_encoding(values: list[str | None]) -> None:
    """Rows without an id get the hash of their fields as JSON; Polars encodes text fields
    for speed, and must give the same bytes (hence ids) as ``to_json``."""
    frame = pl.DataFrame(
        {
            "event_id": [None if i % 2 == 0 else f"e{i}" for i in range(len(values))],
            "actor": values,
            "details": list(reversed(values)),
            "_line": list(range(len(values))),
        },
        schema={"event_id": pl.String, "actor": pl.String, "details": pl.String, "_line": pl.Int64},
    )
    vectorized = native._fill_stable_ids(frame, None)
    per_row = native._fill_stable_ids(frame, {})  # no raw lines: encoded row by row
    assert vectorized.equals(per_row)
    assert vectorized.get_column("event_id").null_count() == 0


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_loads_reads_what_json_reads_and_fast_json_writes_it_back(value: Any) -> None:
    """The fast parser gives exactly Python's json values (integers beyond 64 bits stay
    exact), and the fast writer's text reads back to the same value."""
    text = json.dumps(value, ensure_ascii=False).encode()
    parsed = sources.loads(text)
    assert parsed == json.loads(text)
    assert type(parsed) is type(json.loads(text))
    assert json.loads(sources.fast_json(parsed) or "null") == parsed


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (b'{"n": NaN}', '{"n":NaN}'),
        (b'{"n": -Infinity}', '{"n":-Infinity}'),
        (b'{"n": 1e400, "m": 1}', '{"n":Infinity,"m":1}'),
        (b'{"id": 123456789012345678901234567890}', '{"id":123456789012345678901234567890}'),
        (b'{"s": "\\ud800"}', '{"s":"\ud800"}'),
    ],
)
def test_what_json_reads_beyond_strict_json_is_written_back_as_json_writes_it(
    text: bytes, written: str
) -> None:
    """NaN, infinities, huge integers and lone surrogates are not turned into null or a
    float: the fast writer hands them to Python's json."""
    value = sources.loads(text)
    assert sources.fast_json(value) == sources.to_json(value) == written


@pytest.mark.parametrize("text", [b'{"a": 1,}', b"[1, 2", b'{"a": "\xff"}', b"", b"nul"])
def test_loads_raises_what_json_raises(text: bytes) -> None:
    def error(parse: Callable[[bytes], Any]) -> tuple[type, str]:
        try:
            parse(text)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return type(exc), str(exc)
        raise AssertionError("parsed")

    assert error(sources.loads) == error(lambda t: json.loads(t.decode("utf-8")))
