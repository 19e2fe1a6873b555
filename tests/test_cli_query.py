"""``auditkit search / show / history / export / investigate``, run in-process through main()."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditkit.cli import main
from auditkit.schema import conform
from auditkit.store import Store

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
OLDER = re.compile(r"^older: (auditkit search .*)$", re.MULTILINE)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def planted() -> pl.DataFrame:
    """A report made public by mallory, exported by xavier, and a failing pipeline."""
    before = {"title": "Board Dashboard", "settings": {"sharing": {"visibility": "private"}}}
    after = {"title": "Board Dashboard", "settings": {"sharing": {"visibility": "public"}}}
    rows: list[dict[str, Any]] = [
        {
            "event_id": "p_0001",
            "timestamp": START + timedelta(days=3, hours=5),
            "actor": "mallory@example.com",
            "action": "updated",
            "resource_type": "report",
            "resource_id": "rpt_cli",
            "resource_name": "Board Dashboard",
            "status": "success",
            "before": json.dumps(before),
            "after": json.dumps(after),
            "attributes": json.dumps({"client": "web"}),
            "ip_address": "198.51.100.4",
        },
        {
            "event_id": "p_0002",
            "timestamp": START + timedelta(days=3, hours=6),
            "actor": "xavier@example.com",
            "action": "exported",
            "resource_type": "report",
            "resource_id": "rpt_cli",
            "resource_name": "Board Dashboard",
            "status": "success",
            "attributes": json.dumps({"rows": 777, "bytes": 9000}),
        },
    ]
    for i in range(3):
        rows.append(
            {
                "event_id": f"p_01{i:02d}",
                "timestamp": START + timedelta(days=4 + i),
                "actor": "svc-etl",
                "action": "executed",
                "resource_type": "pipeline",
                "resource_id": "pl_cli",
                "resource_name": "nightly-sync",
                "status": "failed",
                "error_message": f"timeout after {30000 + i} ms to host:5432",
            }
        )
    return conform(pl.DataFrame(rows, infer_schema_length=None))


@pytest.fixture
def store(tmp_path: Path, make_events) -> Path:
    root = tmp_path / "store"
    store = Store(root, create=True)
    store.append(make_events(40, start=START, step=timedelta(hours=2)))
    store.append(planted())
    return root


# -- search ------------------------------------------------------------------------------


def test_search_prints_description_rows_and_a_cursor_that_pages(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "search", "user:alice@example.com", "--store", store, "-n", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "filters applied: user is alice@example.com"
    header = lines[2]
    assert header.split() == ["timestamp", "actor", "action", "resource", "status", "ip_address"]
    rows = lines[3:6]
    assert all("alice@example.com" in line for line in rows)
    stamps = [line[:19] for line in rows]
    assert stamps == sorted(stamps, reverse=True)
    # make_events cycles 5 actors: alice is events 0, 5, 10, … 35 → newest is event 35
    assert stamps[0] == (START + timedelta(hours=70)).strftime("%Y-%m-%d %H:%M:%S")
    command = OLDER.search(out)
    assert command is not None
    seen = set(stamps)
    pages = 1
    argv = command.group(1)
    while True:
        code, out, _ = run(capsys, *_split(argv)[1:])
        assert code == 0
        pages += 1
        page = [line[:19] for line in out.splitlines()[3:] if line[:4] == "2026"]
        assert not seen & set(page)
        seen |= set(page)
        command = OLDER.search(out)
        if command is None:
            assert "(no older events)" in out
            break
        argv = command.group(1)
    assert len(seen) == 8  # events 0, 5, …, 35
    assert pages == 3


def _split(command: str) -> list[str]:
    import shlex

    return shlex.split(command)


def test_search_json_output_keeps_stdout_clean(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "search",
        "status:failed resource:nightly-sync",
        "--store",
        store,
        "--output",
        "json",
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["event_id"] for r in rows] == ["p_0102", "p_0101", "p_0100"]
    assert err.startswith("filters applied: status is failed, and resource is nightly-sync")
    assert "(no older events)" in err


def test_search_me_needs_and_uses_the_current_user(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "search", "user:me", "--store", store)
    assert code == 2
    assert "auditkit: error:" in err
    code, out, _ = run(capsys, "search", "user:me", "--store", store, "--me", "mallory@example.com")
    assert code == 0
    assert out.splitlines()[0] == (
        "filters applied: user is the current user (mallory@example.com)"
    )
    assert "report:Board Dashboard" in out


def test_bad_query_exits_2_with_a_caret(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "search", "status:failed usr:bob", "--store", store)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("auditkit: error: unknown key 'usr'")
    assert "at position 14" in lines[0]
    assert lines[1] == "  status:failed usr:bob"
    assert lines[2] == "  " + " " * 14 + "^"
    assert lines[3].startswith("valid: ")


# -- show and history ----------------------------------------------------------------------


def test_show_prints_details_with_the_diff(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "p_0001", "--store", store)
    assert code == 0
    sections = [line for line in out.splitlines() if not line.startswith(" ")]
    assert sections == ["Basic", "Metadata", "Changes", "Attributes"]
    assert "  who:        mallory@example.com" in out
    assert '  settings.sharing.visibility: "private" → "public"' in out
    assert '  client: "web"' in out
    code, _, err = run(capsys, "show", "nope", "--store", store)
    assert code == 2
    assert "no event with id 'nope'" in err


def test_history_lists_events_and_prints_state(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "history", "Board Dashboard", "--store", store)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "history of report 'Board Dashboard' (rpt_cli): 2 events, oldest first"
    assert "p_0001" in lines[3] and '"private" → "public"' in lines[3]
    assert "p_0002" in lines[4] and "exported" in lines[4]

    code, out, _ = run(capsys, "history", "rpt_cli", "--store", store, "--at", "2026-10-04T14:00")
    assert code == 0
    head, _, body = out.partition("\n")
    assert head == "report 'Board Dashboard' (rpt_cli) at 2026-10-04 14:00:00 UTC:"
    assert json.loads(body)["settings"]["sharing"]["visibility"] == "public"

    code, out, _ = run(capsys, "history", "rpt_cli", "--store", store, "--at", "2026-10-03")
    assert code == 0
    assert "at 2026-10-03 23:59:59 UTC: no recorded state" in out


def test_history_of_an_unknown_resource(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "history", "ghost", "--store", store)
    assert code == 2
    assert "no events name a resource 'ghost'" in err


# -- export ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_file_and_manifest(
    store: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "out" / f"failed.{fmt}"
    code, out, _ = run(
        capsys, "export", "status:failed", "--store", store, "--format", fmt, "--out", out_file
    )
    assert code == 0
    expected = store_count(store, "status:failed")
    manifest_path = out_file.with_name(out_file.name + ".manifest.json")
    assert out.splitlines() == [
        "filters applied: status is failed",
        f"wrote {expected:,} rows to {out_file}",
        f"manifest: {manifest_path} (sha256 {_sha256(out_file)})",
    ]
    manifest = json.loads(manifest_path.read_text())
    assert manifest["rows"] == expected
    assert manifest["sha256"] == _sha256(out_file)
    assert manifest["query"] == "status:failed"
    if fmt == "csv":
        frame = pl.read_csv(out_file)
        assert frame.columns == ["timestamp", "user", "action", "resource", "status", "ip_address"]
    elif fmt == "jsonl":
        frame = pl.read_ndjson(out_file)
    else:
        frame = pl.read_parquet(out_file)
    assert frame.height == expected
    assert set(frame.get_column("status").to_list()) == {"failed"}


def test_export_all_columns(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "all.csv"
    code, _, _ = run(
        capsys,
        "export",
        "resource_id:rpt_cli",
        "--store",
        store,
        "--format",
        "csv",
        "--out",
        out_file,
        "--all-columns",
    )
    assert code == 0
    frame = pl.read_csv(out_file)
    assert "before" in frame.columns and "attributes" in frame.columns
    assert frame.get_column("event_id").to_list() == ["p_0002", "p_0001"]


def store_count(store: Path, query: str) -> int:
    from auditkit.query import Session

    return Session(Store(store)).count(query)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- investigate -------------------------------------------------------------------------------


def test_investigate_changes(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "investigate",
        "changes",
        "Board Dashboard",
        "--store",
        store,
        "--field",
        "visibility",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Who changed report 'Board Dashboard' (rpt_cli) (visibility)"
    assert set(lines[1]) == {"="}
    assert "mallory@example.com on 2026-10-04 14:00 UTC" in out.replace("\n", " ")
    assert "query: resource_id:rpt_cli changed:visibility" in out
    assert "\nchanges (1 rows)\n" in out
    assert "\nchangers (1 rows)\n" in out


def test_investigate_user_leak_failures(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "investigate",
        "user",
        "xavier@example.com",
        "--store",
        store,
        "--since",
        "2026-10-01",
        "--until",
        "2026-10-31",
    )
    assert code == 0
    assert out.startswith("Activity of xavier@example.com between 2026-10-01")
    assert "1 export (777 rows, 9.0 kB)" in out.replace("\n", " ")
    assert (
        "query: user:xavier@example.com date:>=2026-10-01T00:00:00Z date:<2026-11-01T00:00:00Z"
        in out
    )

    code, out, _ = run(capsys, "investigate", "leak", "rpt_cli", "--store", store)
    assert code == 0
    assert "\ntimeline (2 rows)\n" in out
    assert "xavier@example.com (1 time, 777 rows)" in out.replace("\n", " ")

    code, out, _ = run(capsys, "investigate", "failures", "--store", store, "--since", "2026-10-06")
    assert code == 0
    assert "timeout after <n> ms to host:<n>" in out
    flat = out.replace("\n", " ")
    assert '"timeout after 30002 ms to host:5432" — 2 times' in flat


def test_investigate_argument_errors(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "investigate", "changes", "--store", store)
    assert (code, err.strip()) == (
        2,
        "auditkit: error: investigate changes needs a TARGET (a resource or a user)",
    )
    code, _, err = run(capsys, "investigate", "leak", "rpt_cli", "--store", store, "--field", "x")
    assert code == 2 and "--field applies only to `investigate changes`" in err
    code, _, err = run(capsys, "investigate", "failures", "--store", store, "--since", "someday")
    assert code == 2 and "bad --since 'someday'" in err


def test_output_cut_short_by_a_pipe_is_not_an_error(tmp_path: Path) -> None:
    """`auditkit search … | head -1`: the reader leaves early; no traceback, exit 0."""
    import subprocess
    import sys

    from auditkit.generate import generate

    Store(tmp_path / "big", create=True).append(generate(20_000, seed=5))
    command = [sys.executable, "-m", "auditkit.cli", "search", "--store", str(tmp_path / "big")]
    command += ["-n", "20000", ""]  # about 2 MB of table: far more than a pipe holds
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what head does after its line
        errors = proc.stderr.read().decode()
        status = proc.wait(timeout=60)
    assert first.startswith(b"filters applied:")
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
    assert status == 0
