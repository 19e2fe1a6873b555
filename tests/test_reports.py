"""Report templates, the runner, periods and the report aggregations.

Every template runs once on a small generated store (a session fixture: each run costs a
kernel start); the numbers in the HTML are checked against DuckDB over the same Parquet
files, with the period bounds computed here from zoneinfo, not by auditkit.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
from reportpage import page

from auditkit.cli import main
from auditkit.generate import generate
from auditkit.reports import (
    ParameterError,
    PeriodError,
    ReportError,
    ReportResult,
    aggregate,
    demo,
    get_template,
    list_templates,
    resolve_period,
    run_report,
)
from auditkit.reports.runner import check_offline
from auditkit.reports.template import TemplateError, read_template
from auditkit.store import Store

NOW = "2026-09-30T12:00:00Z"  # a Wednesday: "last week" is Monday 21 to Sunday 27 September
TEMPLATES = (
    "activity_summary",
    "auditor_export",
    "data_access",
    "failed_operations",
    "log_completeness",
    "permission_changes",
    "user_audit",
)


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports") / "store"
    Store(root, create=True).append(
        generate(8_000, seed=21, end=datetime(2026, 10, 1, tzinfo=UTC), days=42)
    )
    return root


def sql(store: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run DuckDB over the store's Parquet files (the table is called ``events``)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    files = str(store / "events" / "*" / "*.parquet").replace("'", "''")
    con.execute(
        f"CREATE VIEW events AS SELECT * FROM read_parquet('{files}', hive_partitioning = false)"
    )
    return con.execute(query, list(params)).fetchall()


def day_range(first: date, last: date, tz: str = "UTC") -> tuple[datetime, datetime]:
    """[midnight of first, midnight after last) in ``tz``."""
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    after = date.fromordinal(last.toordinal() + 1)
    end = datetime(after.year, after.month, after.day, tzinfo=zone)
    return start, end


WEEK = day_range(date(2026, 9, 21), date(2026, 9, 27))
WEEK_BEFORE = day_range(date(2026, 9, 14), date(2026, 9, 20))


RUNS: dict[str, dict[str, Any]] = {
    "activity_summary": {"period": "last week"},
    "user_audit": {"start": "2026-09-01", "end": "2026-09-27"},  # user filled in below
    "failed_operations": {"period": "last week", "tz": "America/New_York"},
    "permission_changes": {"period": "2026-09"},
    "data_access": {"period": "last week"},  # resource filled in below
    "auditor_export": {"period": "last week", "query": "status:failed"},
    "log_completeness": {"period": "2026-09"},
}


@pytest.fixture(scope="session")
def subjects(store: Path) -> dict[str, str]:
    """The busiest user of September and the most viewed resource of the week (DuckDB)."""
    start, _ = day_range(date(2026, 9, 1), date(2026, 9, 1))
    _, end = day_range(date(2026, 9, 27), date(2026, 9, 27))
    user = sql(
        store,
        "SELECT actor FROM events WHERE timestamp >= ? AND timestamp < ? AND actor_type = 'user' "
        "GROUP BY actor ORDER BY count(*) DESC, actor LIMIT 1",
        start,
        end,
    )[0][0]
    resource = sql(
        store,
        "SELECT resource_id FROM events WHERE timestamp >= ? AND timestamp < ? "
        "AND action = 'viewed' AND resource_type = 'report' "
        "GROUP BY resource_id ORDER BY count(*) DESC, resource_id LIMIT 1",
        *WEEK,
    )[0][0]
    return {"user": user, "resource": resource}


@pytest.fixture(scope="session")
def reports(
    store: Path, subjects: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ReportResult]:
    out = tmp_path_factory.mktemp("out")
    extra = {
        "user_audit": {"user": subjects["user"]},
        "data_access": {"resource": subjects["resource"]},
    }
    results = {}
    for name, params in RUNS.items():
        given = {"store": str(store), "now": NOW, **params, **extra.get(name, {})}
        results[name] = run_report(name, given, out)
    return results


# -- every template -------------------------------------------------------------------------

FETCH = re.compile(
    r"<script[^>]*\bsrc\s*=|<link[^>]*href\s*=\s*[\"']?(?:https?:)?//"
    r"|<img[^>]*src\s*=\s*[\"']?(?:https?:)?//|url\(\s*[\"']?\s*(?:https?:)?//|@import",
    re.I,
)


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_offline_html_without_code(
    reports: dict[str, ReportResult], name: str
) -> None:
    result = reports[name]
    text = result.html.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert not FETCH.search(text), FETCH.search(text)
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://", text, re.I)
    assert check_offline(text) == []
    assert "<script" not in text  # static: nothing to run
    assert "open_report(" not in text and "import polars" not in text  # no code cells
    assert "Filters applied:" in text
    title = get_template(name).title
    assert f"<title>{html.escape(title)} — " in text
    assert "<svg" in text
    notebook = json.loads(result.notebook.read_text())
    assert any("parameters" in c["metadata"].get("tags", []) for c in notebook["cells"])
    assert result.seconds > 0 and result.timings["cells"] > 0
    assert not list(result.html.parent.glob(".*.partial"))


def test_activity_summary_numbers_match_duckdb(
    reports: dict[str, ReportResult], store: Path
) -> None:
    report = page(reports["activity_summary"])
    assert report.html.count("Activity summary — 2026-09-21 to 2026-09-27") >= 2
    (events, failed, users) = sql(
        store,
        "SELECT count(*), count(*) FILTER (status = 'failed'), count(DISTINCT actor) "
        "FROM events WHERE timestamp >= ? AND timestamp < ?",
        *WEEK,
    )[0]
    (before,) = sql(
        store, "SELECT count(*) FROM events WHERE timestamp >= ? AND timestamp < ?", *WEEK_BEFORE
    )[0]
    assert events > 500 and failed > 0
    assert report.metric("events")[:2] == [f"{events:,}", f"{before:,}"]
    assert report.metric("failed")[0] == f"{failed:,}"
    assert report.metric("users")[0] == f"{users:,}"
    (large,) = sql(
        store,
        "SELECT count(*) FROM events WHERE timestamp >= ? AND timestamp < ? "
        "AND action = 'exported' AND TRY_CAST(json_extract_string(attributes, '$.rows') "
        "AS BIGINT) >= 10000",
        *WEEK,
    )[0]
    assert report.metric("large exports")[0] == f"{large:,}"
    top_user, top_count = sql(
        store,
        "SELECT actor, count(*) AS n FROM events WHERE timestamp >= ? AND timestamp < ? "
        "GROUP BY actor ORDER BY n DESC, actor LIMIT 1",
        *WEEK,
    )[0]
    assert report.tables("Top users")[0][1][:2] == [top_user, f"{top_count:,}"]
    daily = sql(
        store,
        "SELECT strftime(timestamp, '%Y-%m-%d'), count(*) FROM events "
        "WHERE timestamp >= ? AND timestamp < ? GROUP BY 1 ORDER BY 1",
        *WEEK,
    )
    rows = report.tables("Volume by day and status")[0][1:]
    assert [(r[0], r[-1]) for r in rows] == [(d, f"{n:,}") for d, n in daily]
    attached = {p.name: p for p in reports["activity_summary"].attachments}
    assert set(attached) >= {"daily_volume.csv", "permission_changes.csv"}
    assert pl.read_csv(attached["daily_volume.csv"])["total"].sum() == events


def test_user_audit_numbers_match_duckdb(
    reports: dict[str, ReportResult], store: Path, subjects: dict[str, str]
) -> None:
    report = page(reports["user_audit"])
    user = subjects["user"]
    start, end = day_range(date(2026, 9, 1), date(2026, 9, 27))
    events, failed = sql(
        store,
        "SELECT count(*), count(*) FILTER (status = 'failed') FROM events "
        "WHERE timestamp >= ? AND timestamp < ? AND lower(actor) = lower(?)",
        start,
        end,
        user,
    )[0]
    assert "User audit — 2026-09-01 to 2026-09-27" in report.html
    assert f"User is {user}" in report.text("")
    assert report.metric("events", "Summary")[0] == f"{events:,}"
    assert report.metric("failed", "Summary")[0] == f"{failed:,}"
    assert f"… {events - 50:,} more rows" in report.text("All events")
    attached = {p.name: p for p in reports["user_audit"].attachments}
    rows = list(csv.DictReader(io.StringIO(attached["events.csv"].read_text())))
    assert len(rows) == events and {r["user"] for r in rows} == {user}
    manifest = json.loads(attached["events.csv.manifest.json"].read_text())
    assert manifest["rows"] == events
    assert manifest["sha256"] == hashlib.sha256(attached["events.csv"].read_bytes()).hexdigest()


def test_failed_operations_counts_days_in_its_time_zone(
    reports: dict[str, ReportResult], store: Path
) -> None:
    report = page(reports["failed_operations"])
    start, end = day_range(date(2026, 9, 21), date(2026, 9, 27), "America/New_York")
    failed, messages = sql(
        store,
        "SELECT count(*), count(DISTINCT error_message) FROM events "
        "WHERE timestamp >= ? AND timestamp < ? AND status = 'failed'",
        start,
        end,
    )[0]
    assert "America/New_York" in report.text("")
    assert report.metric("failed", "Summary")[0] == f"{failed:,}"
    assert report.metric("distinct error messages", "Summary")[0] == f"{messages:,}"
    resource, count = sql(
        store,
        "SELECT resource_type || ':' || coalesce(resource_name, resource_id) AS r, count(*) AS n "
        "FROM events WHERE timestamp >= ? AND timestamp < ? AND status = 'failed' "
        "GROUP BY r ORDER BY n DESC, r LIMIT 1",
        start,
        end,
    )[0]
    assert report.tables("By resource")[0][1][:2] == [resource, f"{count:,}"]
    attached = {p.name: p for p in reports["failed_operations"].attachments}
    assert pl.read_csv(attached["failures.csv"]).height == failed


def test_permission_changes_counts_revocations(
    reports: dict[str, ReportResult], store: Path
) -> None:
    report = page(reports["permission_changes"])
    september = day_range(date(2026, 9, 1), date(2026, 9, 30))
    (revoked,) = sql(
        store,
        "SELECT count(*) FROM events WHERE timestamp >= ? AND timestamp < ? AND action = 'revoked'",
        *september,
    )[0]
    assert revoked > 0
    assert report.metric("revocations", "Summary")[0] == f"{revoked:,}"
    table = report.tables("Revocations")[0]
    assert len(table) - 1 == min(revoked, 30)


def test_data_access_lists_viewers(
    reports: dict[str, ReportResult], store: Path, subjects: dict[str, str]
) -> None:
    report = page(reports["data_access"])
    viewer, views = sql(
        store,
        "SELECT actor, count(*) AS n FROM events WHERE timestamp >= ? AND timestamp < ? "
        "AND resource_id = ? AND action = 'viewed' GROUP BY actor ORDER BY n DESC, actor LIMIT 1",
        *WEEK,
        subjects["resource"],
    )[0]
    assert report.tables("Who viewed it")[0][1][:2] == [viewer, f"{views:,}"]
    (events,) = sql(
        store,
        "SELECT count(*) FROM events WHERE timestamp >= ? AND timestamp < ? AND resource_id = ?",
        *WEEK,
        subjects["resource"],
    )[0]
    attached = {p.name: p for p in reports["data_access"].attachments}
    assert json.loads(attached["events.csv.manifest.json"].read_text())["rows"] == events


def test_auditor_export_attaches_exports_and_manifests(
    reports: dict[str, ReportResult], store: Path
) -> None:
    result = reports["auditor_export"]
    (failed,) = sql(
        store,
        "SELECT count(*) FROM events WHERE timestamp >= ? AND timestamp < ? AND status = 'failed'",
        *WEEK,
    )[0]
    attached = {p.name: p for p in result.attachments}
    assert set(attached) == {
        "events.csv",
        "events.csv.manifest.json",
        "events.jsonl",
        "events.jsonl.manifest.json",
    }
    for name in ("events.csv", "events.jsonl"):
        manifest = json.loads(attached[name + ".manifest.json"].read_text())
        assert manifest["rows"] == failed
        assert manifest["sha256"] == hashlib.sha256(attached[name].read_bytes()).hexdigest()
        assert "status is failed" in manifest["description"]
    assert pl.read_ndjson(attached["events.jsonl"]).height == failed
    rows = page(result).tables("Export files")[0]
    assert [r[:3] for r in rows[1:]] == [
        ["events.csv", "csv", f"{failed:,}"],
        ["events.jsonl", "jsonl", f"{failed:,}"],
    ]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("activity_summary", {}),
        ("failed_operations", {}),
        ("permission_changes", {}),
        ("user_audit", {"user": "nobody@example.com"}),
    ],
)
def test_an_empty_period_says_no_events_in_every_section(
    store: Path, tmp_path: Path, name: str, params: dict[str, str]
) -> None:
    result = run_report(
        name, {"store": store, "start": "2020-01-06", "end": "2020-01-12", **params}, tmp_path
    )
    report = page(result)
    sections = [s for s in report.sections if s]
    assert len(sections) >= 5
    for section in sections:
        assert "no events" in report.text(section).lower(), section


# -- parameters are checked before anything runs -------------------------------------------


def test_unknown_parameters_are_rejected_before_running(store: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError) as info:
        run_report("activity_summary", {"store": store, "perod": "last week"}, tmp_path / "x")
    assert info.value.unknown == ["perod"]
    assert "period" in info.value.declared and "store" in info.value.declared
    assert "declared parameters:" in str(info.value) and "period: str" in str(info.value)
    assert not (tmp_path / "x").exists()


def test_missing_required_parameters_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ParameterError) as info:
        run_report("user_audit", {}, tmp_path)
    assert info.value.missing == ["user", "store"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"top": "ten"}, "top"),
        ({"period": "last fortnight"}, "period"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"query": "usr:alice"}, "query"),
        ({"now": "yesterday-ish"}, "now"),
        ({"start": "2024-06-10"}, "end"),
    ],
)
def test_bad_values_are_rejected_before_running(
    store: Path, tmp_path: Path, params: dict[str, str], bad: str
) -> None:
    with pytest.raises(ParameterError) as info:
        run_report("activity_summary", {"store": store, **params}, tmp_path)
    assert bad in info.value.invalid or bad in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_cell_raises_report_error_and_leaves_no_html(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ReportError) as info:
        run_report("activity_summary", {"store": tmp_path / "no-such-store"}, out)
    error = info.value
    assert error.report == "activity_summary"
    assert error.ename == "StoreError" and "no auditkit store here" in str(error.evalue)
    assert error.cell_index == 2
    assert "open_report(" in error.source
    assert f"in cell {error.cell_index}" in str(error)
    assert sorted(p.name for p in out.iterdir()) == ["activity_summary.failed.ipynb"]
    template = json.loads(get_template("activity_summary").path.read_text())
    assert template["cells"][error.cell_index]["source"].startswith("report = open_report(")
    failed = json.loads((out / "activity_summary.failed.ipynb").read_text())
    errors = [o for c in failed["cells"] for o in c.get("outputs", []) if "ename" in o]
    assert [o["ename"] for o in errors] == ["StoreError"]


def test_a_custom_template_runs_from_a_path(tmp_path: Path, store: Path) -> None:
    nb = {
        "cells": [
            _code("from auditkit.reports.notebook import open_report"),
            _code(
                "store: str = ...  # the store\nfail: bool = False  # raise", tags=["parameters"]
            ),
            _code("report = open_report('Tiny', store=store, period='2026-09-21..2026-09-27')"),
            _code("assert not fail, 'asked to fail'\nreport.finish()"),
        ],
        "metadata": {"auditkit": {"title": "Tiny", "description": "a test"}},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    path = tmp_path / "tiny.ipynb"
    path.write_text(json.dumps(nb))
    template = read_template(path)
    assert [p.name for p in template.parameters] == ["store", "fail"]
    assert template.parameters[0].required and template.parameters[1].default is False
    result = run_report(path, {"store": store}, tmp_path / "ok")
    assert result.title == "Tiny — 2026-09-21 to 2026-09-27"
    with pytest.raises(ReportError) as info:
        run_report(path, {"store": store, "fail": "yes"}, tmp_path / "bad")
    assert info.value.cell_index == 3  # the template's cell, not the executed notebook's
    assert info.value.ename == "AssertionError" and "asked to fail" in str(info.value)
    assert not (tmp_path / "bad" / "tiny.html").exists()


def _code(source: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "metadata": {"tags": tags or []},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


def test_a_template_without_a_parameters_cell_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps({"cells": [_code("x = 1")], "metadata": {}, "nbformat": 4}))
    with pytest.raises(TemplateError, match="exactly one code cell tagged 'parameters'"):
        read_template(path)
    path.write_text(
        json.dumps({"cells": [_code("x = 1", ["parameters"])], "metadata": {}, "nbformat": 4})
    )
    with pytest.raises(TemplateError, match="not `name: type = value`"):
        read_template(path)


def test_every_template_declares_the_standard_parameters() -> None:
    templates = {t.name: t for t in list_templates()}
    assert sorted(templates) == sorted(TEMPLATES)
    for template in templates.values():
        names = [p.name for p in template.parameters]
        assert {"store", "period", "start", "end", "tz", "now"} <= set(names)
        # validation judges the whole log: log_completeness narrows by source, not a query
        narrowing = {"source"} if template.name == "log_completeness" else {"query", "me"}
        assert narrowing <= set(names), template.name
        assert template.title and template.description
        assert all(p.help for p in template.parameters), template.name
    assert [p.name for p in templates["user_audit"].parameters if p.required] == ["user", "store"]


def test_unknown_report_names_list_the_available_ones() -> None:
    with pytest.raises(LookupError, match="activity_summary, auditor_export"):
        get_template("activity_sumary")


def test_cli_report_list_and_run(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "list"]) == 0
    out = capsys.readouterr().out
    for name in TEMPLATES:
        assert f"{name} — " in out
    assert "store: Path (required)" in out and "top: int = 10" in out
    assert main(["report", "run", "activity_summary", "-p", f"store={store}", "-p", "x=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameters: x" in err and "declared parameters:" in err
    code = main(
        [
            "report",
            "run",
            "permission_changes",
            "-p",
            f"store={store}",
            "-p",
            "period=2026-09-21..2026-09-27",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Permission changes — 2026-09-21 to 2026-09-27" in out
    assert (tmp_path / "permission_changes.html").exists()


def test_demo_renders_the_last_complete_week(store: Path, tmp_path: Path) -> None:
    path = demo(store, tmp_path)
    assert path == tmp_path / "activity_summary.html"
    # the store's newest event is on 30 September (a Wednesday): the week before
    assert "Activity summary — 2026-09-21 to 2026-09-27" in path.read_text()


# -- periods ----------------------------------------------------------------------------------

WEDNESDAY = datetime(2024, 6, 19, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("today", "2024-06-19", "2024-06-19"),
        ("yesterday", "2024-06-18", "2024-06-18"),
        ("this week", "2024-06-17", "2024-06-19"),
        ("last week", "2024-06-10", "2024-06-16"),
        ("Last  Week", "2024-06-10", "2024-06-16"),
        ("this month", "2024-06-01", "2024-06-19"),
        ("last month", "2024-05-01", "2024-05-31"),
        ("last quarter", "2024-01-01", "2024-03-31"),
        ("last year", "2023-01-01", "2023-12-31"),
        ("last 7 days", "2024-06-12", "2024-06-18"),
        ("last 2 weeks", "2024-06-03", "2024-06-16"),
        ("last 3 months", "2024-03-01", "2024-05-31"),
        ("2024-02", "2024-02-01", "2024-02-29"),
        ("2023", "2023-01-01", "2023-12-31"),
        ("2024-06-12", "2024-06-12", "2024-06-12"),
        ("2024-06-10..2024-06-16", "2024-06-10", "2024-06-16"),
    ],
)
def test_periods_resolve_against_now(text: str, first: str, last: str) -> None:
    period = resolve_period(text, now=WEDNESDAY)
    assert (period.first.isoformat(), period.last.isoformat()) == (first, last)


def test_periods_count_days_in_their_time_zone() -> None:
    # 02:00 UTC on Monday 17 June is still Sunday 16 June in New York
    monday_utc = datetime(2024, 6, 17, 2, tzinfo=UTC)
    assert resolve_period("last week", now=monday_utc).describe() == "2024-06-10 to 2024-06-16"
    ny = resolve_period("last week", now=monday_utc, tz="America/New_York")
    assert ny.describe() == "2024-06-03 to 2024-06-09"
    assert ny.start == datetime(2024, 6, 3, 4, tzinfo=UTC)  # EDT is UTC-4
    assert ny.end == datetime(2024, 6, 10, 4, tzinfo=UTC)
    assert ny.to_query() == "date:2024-06-03..2024-06-09"


@pytest.mark.parametrize(
    ("text", "previous"),
    [
        ("last week", "2024-06-03 to 2024-06-09"),
        ("last month", "2024-04-01 to 2024-04-30"),
        ("2024-03", "2024-02-01 to 2024-02-29"),
        ("last quarter", "2023-10-01 to 2023-12-31"),
        ("2024-06-10..2024-06-12", "2024-06-07 to 2024-06-09"),
        ("yesterday", "2024-06-17"),
    ],
)
def test_the_previous_period_is_of_the_same_kind(text: str, previous: str) -> None:
    assert resolve_period(text, now=WEDNESDAY).previous().describe() == previous


@pytest.mark.parametrize(
    "text", ["last fortnight", "2024-13", "2024-06-16..2024-06-10", "last 0 days", "", "soon"]
)
def test_bad_periods_name_the_valid_forms(text: str) -> None:
    with pytest.raises(PeriodError) as info:
        resolve_period(text, now=WEDNESDAY)
    assert "last week" in str(info.value) or "before it starts" in str(info.value)
    assert isinstance(info.value, ValueError)


# -- aggregations -----------------------------------------------------------------------------


def test_permission_changes_classifies_each_kind(make_events: Any) -> None:
    frame = make_events(
        7,
        action=["shared", "revoked", "updated", "updated", "updated", "viewed", "updated"],
        operation=[
            "permission.grant",
            "permission.expire",
            "permission.update",
            "team.add_member",
            "user.update",
            "permission.view",
            "team.update",
        ],
        resource_type=[
            "permission",
            "permission",
            "permission",
            "team",
            "user",
            "permission",
            "team",
        ],
        before=[None, None, None, None, '{"role": "member"}', None, '{"visibility": "private"}'],
        after=[None, None, None, None, '{"role": "admin"}', None, '{"visibility": "public"}'],
    )
    kinds = aggregate.permission_changes(frame).sort("event_id").get_column("kind").to_list()
    assert kinds == [
        "grant",
        "revocation",
        "role change",
        "membership",
        "role change",
        "made public",
    ]


def test_large_exports_and_summary(make_events: Any) -> None:
    frame = make_events(
        4,
        action=["exported", "exported", "exported", "viewed"],
        attributes=['{"rows": 20000}', '{"rows": 99}', None, '{"rows": 50000}'],
        status=["success", "failed", "success", "success"],
    )
    large = aggregate.large_exports(frame, 10_000)
    assert large.get_column("rows").to_list() == [20_000]
    numbers = aggregate.summary(frame, min_export_rows=10_000)
    assert numbers["events"] == 4 and numbers["failed"] == 1 and numbers["exports"] == 3
    assert numbers["large exports"] == 1 and numbers["failure rate (%)"] == 25.0
    assert aggregate.summary(frame.head(0))["failure rate (%)"] is None


def test_top_with_previous_joins_the_period_before(make_events: Any) -> None:
    now = make_events(5, actor=["a", "a", "b", "c", "a"], status="success")
    before = make_events(3, actor=["b", "b", "z"], prefix="old")
    top = aggregate.top_with_previous(now, before, "actor", 2)
    assert top.rows() == [("a", 3, 0, 0), ("b", 1, 0, 2)]


def test_daily_status_counts_local_days(make_events: Any) -> None:
    frame = make_events(
        3,
        start=datetime(2024, 6, 10, 23, 30, tzinfo=UTC),
        step=timedelta(hours=1),
        status=["success", "failed", "success"],
    )
    utc = aggregate.daily_status(aggregate.local_time(frame, "UTC"))
    berlin = aggregate.daily_status(aggregate.local_time(frame, "Europe/Berlin"))
    assert utc.select("day", "total").rows() == [(date(2024, 6, 10), 1), (date(2024, 6, 11), 2)]
    assert berlin.select("day", "failed", "total").rows() == [(date(2024, 6, 11), 1, 3)]


# -- the package ---------------------------------------------------------------------------------


def test_importing_auditkit_reports_loads_no_optional_dependency() -> None:
    import subprocess
    import sys

    heavy = ("papermill", "nbconvert", "altair", "vl_convert", "croniter", "jupyter_client")
    probe = (
        "import sys, auditkit.reports, auditkit.reports.notebook, auditkit.reports.aggregate; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_reports_all_names_exactly_the_public_names() -> None:
    from types import ModuleType

    import auditkit.reports as package

    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    } - {"TYPE_CHECKING"}
    assert package.__all__ == sorted(package.__all__)
    assert set(package.__all__) == public
