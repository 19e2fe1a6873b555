"""The ``auditkit`` command, run in-process through main() and once as a real program."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from auditkit import sources
from auditkit.cli import main
from auditkit.schema import REQUIRED, SCHEMA
from auditkit.store import Store

ISO_Z = "%Y-%m-%dT%H:%M:%S%.6fZ"
CURSOR_LINE = re.compile(r"older: auditkit tail --store \S+ --older-than '([^']+)'")


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_jsonl(events: pl.DataFrame, path: Path, extra_lines: tuple[str, ...] = ()) -> Path:
    plain = events.drop("ingested_at").with_columns(
        pl.col("timestamp").dt.strftime(ISO_Z), pl.col("actor_type", "status").cast(pl.String)
    )
    path.write_text(plain.write_ndjson() + "".join(line + "\n" for line in extra_lines))
    return path


@pytest.fixture
def loaded(tmp_path: Path, make_events) -> tuple[Path, pl.DataFrame]:
    """A store holding 57 events whose timestamps tie in threes (cursor edge cases)."""
    events = make_events(57)
    start = events.get_column("timestamp")[0]
    events = events.with_columns(
        timestamp=pl.Series([start + timedelta(minutes=5 * (i // 3)) for i in range(57)])
    )
    root = tmp_path / "store"
    Store(root, create=True).append(events)
    return root, events


# -- ingest -----------------------------------------------------------------------------


def test_ingest_reports_counts_notes_and_rejects(
    tmp_path: Path, make_events, capsys: pytest.CaptureFixture[str]
) -> None:
    events = make_events(6, ip_address=["10.0.0.1", "nope", None, "::1", None, None])
    path = write_jsonl(events, tmp_path / "in.jsonl", ("{broken",))
    root, rejects_file = tmp_path / "store", tmp_path / "rejects.jsonl"
    code, out, err = run(capsys, "ingest", path, "--store", root, "--rejects", rejects_file)
    assert (code, err) == (0, "")
    assert re.match(
        r"loaded 6 events: 6 added, 0 already stored; 1 rejected \(\d+\.\d s\) into ", out
    )
    assert "note: 1 record(s) had an ip_address that is not an IP address (e.g. 'nope')" in out
    assert f"auditkit rejects --store {root}" in out
    assert [json.loads(line) for line in rejects_file.read_text().splitlines()] == [
        {
            "file": str(path),
            "line": 7,
            "reason": "not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
            "raw": "{broken",
        }
    ]
    stored = Store(root).scan().collect()
    assert sorted(stored.get_column("event_id")) == sorted(events.get_column("event_id"))


def test_reingest_adds_nothing(
    tmp_path: Path, make_events, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(make_events(25), tmp_path / "in.jsonl")
    root = tmp_path / "store"
    assert run(capsys, "ingest", path, "--store", root)[0] == 0
    code, out, _ = run(capsys, "ingest", path, "--store", root)
    assert code == 0
    assert out.startswith("loaded 25 events: 0 added, 25 already stored; 0 rejected")
    assert "rejects --store" not in out
    assert Store(root).scan().collect().height == 25


def test_ingest_a_directory_of_files_in_several_formats(
    tmp_path: Path, make_events, capsys: pytest.CaptureFixture[str]
) -> None:
    events = make_events(30)
    folder = tmp_path / "exports"
    folder.mkdir()
    write_jsonl(events[:10], folder / "a.jsonl")
    events[10:20].write_parquet(folder / "b.parquet")
    events[20:].drop("ingested_at").write_csv(folder / "c.csv")
    code, out, _ = run(capsys, "ingest", folder, "--store", tmp_path / "store")
    assert code == 0
    assert out.startswith("loaded 30 events: 30 added")
    stored = Store(tmp_path / "store").scan().collect().sort("event_id")
    assert stored.drop("ingested_at").equals(events.drop("ingested_at").sort("event_id"))


def test_strict_ingest_stops_at_the_bad_record_naming_it(
    tmp_path: Path, make_events, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(make_events(3), tmp_path / "in.jsonl", ("{broken",))
    code, _, err = run(capsys, "ingest", path, "--store", tmp_path / "s", "--strict")
    assert code == 2
    assert f"rejected record at {path}:4" in err
    assert "Traceback" not in err


# -- tail -------------------------------------------------------------------------------


def newest_first(events: pl.DataFrame) -> list[str]:
    ordered = events.sort(["timestamp", "event_id"], descending=[True, True])
    return ordered.get_column("event_id").to_list()


@pytest.mark.parametrize("limit", [1, 7, 19, 57, 100])
def test_tail_pages_back_without_overlap_or_gap(
    loaded: tuple[Path, pl.DataFrame], capsys: pytest.CaptureFixture[str], limit: int
) -> None:
    root, events = loaded
    seen: list[str] = []
    cursor: list[str] = []
    for _ in range(60):
        code, out, err = run(
            capsys, "tail", "--store", root, "--limit", limit, "--output", "json", *cursor
        )
        assert code == 0
        rows = [json.loads(line) for line in out.splitlines()]
        assert 0 < len(rows) <= limit
        seen += [row["event_id"] for row in rows]
        match = CURSOR_LINE.search(err)
        if match is None:
            assert "(no older events)" in err
            break
        assert len(rows) == limit
        cursor = ["--older-than", match.group(1)]
    assert seen == newest_first(events)


def test_tail_table_shows_newest_first_with_a_cursor_line(
    loaded: tuple[Path, pl.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    root, events = loaded
    code, out, err = run(capsys, "tail", "--store", root, "--limit", "4")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["timestamp", "actor", "action", "resource", "status", "ip_address"]
    expected = events.sort(["timestamp", "event_id"], descending=True).head(4)
    for line, row in zip(lines[1:5], expected.iter_rows(named=True), strict=True):
        assert line.startswith(row["timestamp"].strftime("%Y-%m-%d %H:%M:%S"))
        assert row["actor"] in line and row["action"] in line
    match = CURSOR_LINE.search(out)
    assert match is not None
    last = expected.row(3, named=True)
    assert (
        match.group(1)
        == last["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "~" + last["event_id"]
    )
    # Following the printed command gives the next four.
    code, out, _ = run(
        capsys, "tail", "--store", root, "--limit", "4", "--older-than", match.group(1)
    )
    assert code == 0
    nxt = events.sort(["timestamp", "event_id"], descending=True)[4:8]
    for line, row in zip(out.splitlines()[1:5], nxt.iter_rows(named=True), strict=True):
        assert row["actor"] in line


def test_tail_csv_output_and_the_end_of_the_listing(
    loaded: tuple[Path, pl.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    root, events = loaded
    code, out, err = run(capsys, "tail", "--store", root, "--limit", "100", "--output", "csv")
    assert code == 0
    frame = pl.read_csv(out.encode())
    assert frame.get_column("event_id").to_list() == newest_first(events)
    assert "(no older events)" in err


def test_tail_of_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Store(tmp_path / "s", create=True)
    code, out, _ = run(capsys, "tail", "--store", tmp_path / "s")
    assert code == 0
    assert out.splitlines()[0] == "no events"
    assert "(no older events)" in out


def test_tail_with_a_bad_cursor_says_what_a_cursor_looks_like(
    loaded: tuple[Path, pl.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "tail", "--store", loaded[0], "--older-than", "yesterday")
    assert (code, out) == (2, "")
    assert "bad cursor 'yesterday'" in err and "TIMESTAMP~EVENT_ID" in err


# -- stats, rejects, sources, schema ----------------------------------------------------


def test_stats_counts_by_action_and_status(
    loaded: tuple[Path, pl.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    root, events = loaded
    code, out, _ = run(capsys, "stats", "--store", root, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["events"] == 57
    for key in ("action", "status", "actor_type"):
        expected = dict(events.get_column(key).cast(pl.String).value_counts().iter_rows())
        assert summary["by_" + key] == expected
    assert summary["partitions"] == len(Store(root).partitions())
    code, out, _ = run(capsys, "stats", "--store", root)
    assert code == 0
    assert "events: 57" in out
    block = out.split("by action:")[1].split("\n\n")[0]
    counted = {line.split()[0]: int(line.split()[1]) for line in block.strip().splitlines()}
    assert counted == dict(events.get_column("action").value_counts().iter_rows())


def test_rejects_shows_file_line_and_reason(
    tmp_path: Path, make_events, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(
        make_events(2), tmp_path / "in.jsonl", ('{"event_id":"x","timestamp":"never"}',)
    )
    root = tmp_path / "store"
    run(capsys, "ingest", path, "--store", root)
    code, out, _ = run(capsys, "rejects", "--store", root)
    assert code == 0
    assert out.splitlines()[0] == "1 rejected records"
    assert f"{path}:3" in out
    assert "reason: timestamp never is not ISO-8601 or epoch" in out
    assert '"timestamp":"never"' in out


def test_sources_lists_the_built_in_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sources")
    assert code == 0
    listed = {line.split()[0] for line in out.splitlines()}
    assert "native" in listed
    assert listed == set(sources.available())
    for name in ("cloudtrail", "github"):
        try:
            __import__(f"auditkit.sources.{name}")
        except ImportError:
            continue
        assert name in listed


def test_schema_prints_every_column(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(SCHEMA)
    for line in lines:
        assert ("required" in line.split()) == (line.split()[0] in REQUIRED)


# -- errors and help --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tail", "--store", "{tmp}/missing"], "{tmp}/missing: no auditkit store here"),
        (["stats", "--store", "{tmp}/missing"], "{tmp}/missing: no auditkit store here"),
        (["rejects", "--store", "{tmp}/missing"], "{tmp}/missing: no auditkit store here"),
        (["compact", "--store", "{tmp}/missing"], "{tmp}/missing: no auditkit store here"),
        (["stats", "--store", "{tmp}/not-a-store"], "{tmp}/not-a-store: no auditkit store"),
        (["tail", "--store", "{tmp}/file.txt"], "{tmp}/file.txt: is a file"),
        (["ingest", "{tmp}/in.jsonl", "--store", "{tmp}/file.txt"], "{tmp}/file.txt: is a file"),
        (["ingest", "{tmp}/in.jsonl", "--store", "{tmp}/not-a-store"], "is not empty"),
        (
            ["ingest", "{tmp}/in.jsonl", "--store", "{tmp}/file.txt/store"],
            "{tmp}/file.txt/store: cannot create an event store here",
        ),
        (["ingest", "{tmp}/no.jsonl", "--store", "{tmp}/new"], "{tmp}/no.jsonl: no such file"),
        (["ingest", "{tmp}/file.txt", "--store", "{tmp}/new"], "{tmp}/file.txt: not a log format"),
        (
            ["ingest", "{tmp}/in.jsonl", "--store", "{tmp}/new", "--format", "nope"],
            "unknown source format 'nope'; valid formats: ",
        ),
    ],
)
def test_errors_exit_2_with_a_message_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    (tmp_path / "file.txt").write_text("just some words, not a log\n")
    (tmp_path / "not-a-store").mkdir()
    (tmp_path / "not-a-store" / "data.csv").write_text("a,b\n")
    (tmp_path / "in.jsonl").write_text(
        '{"event_id":"e","timestamp":"2026-10-01T00:00:00Z","actor":"a","action":"viewed",'
        '"status":"success"}\n'
    )
    code, out, err = run(capsys, *(a.format(tmp=tmp_path) for a in argv))
    assert code == 2
    assert err.startswith("auditkit: error: ")
    assert says.format(tmp=tmp_path) in err
    assert "Traceback" not in err + out
    assert sorted(p.name for p in (tmp_path / "not-a-store").iterdir()) == ["data.csv"]


COMMANDS = ["ingest", "generate", "tail", "stats", "compact", "rejects", "sources", "schema"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: auditkit {command}")


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out
    assert main([]) == 2  # no command: help, and a failing status
    assert "usage: auditkit" in capsys.readouterr().out


# -- the installed program --------------------------------------------------------------


def test_the_installed_entry_point(tmp_path: Path, make_events) -> None:
    script = Path(sys.executable).with_name("auditkit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "auditkit.cli"]
    path = write_jsonl(make_events(12), tmp_path / "in.jsonl")
    root = tmp_path / "store"

    def auditkit(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *map(str, args)], capture_output=True, text=True, timeout=60
        )

    ingest = auditkit("ingest", path, "--store", root)
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout.startswith("loaded 12 events: 12 added")
    tail = auditkit("tail", "--store", root, "--limit", "3", "--output", "json")
    assert tail.returncode == 0
    assert len(tail.stdout.splitlines()) == 3
    assert CURSOR_LINE.search(tail.stderr)
    missing = auditkit("tail", "--store", tmp_path / "missing")
    assert missing.returncode == 2
    assert "no auditkit store here" in missing.stderr
    assert "Traceback" not in missing.stderr
