"""Investigations over generated activity with planted answers.

A generated month of platform activity is the haystack; each test plants a needle with
known actors, times and amounts (a dashboard made public, a grant-export-revoke leak, a
pipeline failing after a config change, a user on a new IP at night) and checks that the
investigation finds exactly it — rows, counts, times and names in the summary — and that
its ``query`` finds the same events again in the search box.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditkit.errors import NotFoundError, QueryError
from auditkit.filters import Context
from auditkit.generate import generate
from auditkit.investigate import (
    Investigation,
    failures,
    leak_timeline,
    normalize_error,
    user_activity,
    who_changed,
)
from auditkit.query import Session
from auditkit.schema import conform
from auditkit.store import Store

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CULPRIT = "mallory.planted@example.com"
LEAKER = "xavier.planted@example.com"
ADMIN = "admin.planted@example.com"
ENGINEER = "dave.planted@example.com"
NINA = "nina.planted@example.com"
NEW_IP = "203.0.113.77"

_ids = iter(range(1_000_000))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def event(
    when: datetime,
    actor: str,
    action: str,
    rtype: str,
    rid: str | None,
    name: str | None,
    *,
    status: str = "success",
    operation: str | None = None,
    before: Any = None,
    after: Any = None,
    attributes: Any = None,
    error: str | None = None,
    details: str | None = None,
    ip: str | None = "10.9.0.1",
) -> dict[str, Any]:
    """One planted event; JSON-able before/after/attributes are serialized."""

    def text(value: Any) -> str | None:
        return None if value is None else json.dumps(value)

    return {
        "event_id": f"planted_{next(_ids):06d}",
        "timestamp": when,
        "actor": actor,
        "actor_type": "user",
        "action": action,
        "operation": operation or f"{rtype}.{action}",
        "resource_type": rtype,
        "resource_id": rid,
        "resource_name": name,
        "status": status,
        "ip_address": ip,
        "details": details,
        "error_message": error,
        "before": text(before),
        "after": text(after),
        "source": "native",
        "account": "acme",
        "attributes": text(attributes),
    }


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return conform(pl.DataFrame(rows, infer_schema_length=None))


# -- the planted stories -----------------------------------------------------------------

DASH = ("report", "rpt_planted01", "Board Revenue Dashboard")
DASH_V1 = {"title": "Report", "settings": {"sharing": {"visibility": "private"}}, "widgets": 4}
DASH_V2 = {**DASH_V1, "title": "Board Revenue Dashboard"}
DASH_V3 = {**DASH_V2, "settings": {"sharing": {"visibility": "public"}}}
MADE_PUBLIC = at("2026-10-20T14:03:00")


def dashboard_story() -> list[dict[str, Any]]:
    return [
        event(
            at("2026-10-01T09:00:00"), "alice.planted@example.com", "created", *DASH, after=DASH_V1
        ),
        event(
            at("2026-10-05T11:30:00"),
            "bob.planted@example.com",
            "updated",
            *DASH,
            before=DASH_V1,
            after=DASH_V2,
        ),
        event(at("2026-10-12T08:00:00"), "carol.planted@example.com", "viewed", *DASH),
        event(MADE_PUBLIC, CULPRIT, "updated", *DASH, before=DASH_V2, after=DASH_V3),
        event(
            at("2026-10-21T10:00:00"),
            "eve.planted@example.com",
            "updated",
            *DASH,
            status="failed",
            error="PermissionDenied: user lacks EDIT permission",
        ),
        event(at("2026-10-22T10:00:00"), "anonymous", "viewed", *DASH),
    ]


SALARIES = ("database", "db_planted01", "finance.salaries")
GRANTED = at("2026-10-15T09:00:00")
REVOKED = at("2026-10-17T09:00:00")
EXPORTS = ((at("2026-10-15T11:00:00"), 1200, 50_000), (at("2026-10-16T09:00:00"), 3400, 150_000))


def permission(
    when: datetime,
    action: str,
    grantee: str,
    target: tuple[str, str, str],
    role_before: str | None,
    role_after: str | None,
    op: str,
) -> dict[str, Any]:
    ttype, tid, tname = target
    ref = f"{ttype}:{tid}"
    return event(
        when,
        ADMIN,
        action,
        "permission",
        f"perm_{tid}_{grantee[:4]}",
        f"{tname} ({grantee})",
        operation=op,
        before={"resource": ref, "grantee": grantee, "role": role_before},
        after={"resource": ref, "grantee": grantee, "role": role_after},
        attributes={
            "target_type": ttype,
            "target_id": tid,
            "target_name": tname,
            "grantee": grantee,
            "grantee_type": "user",
            "role": role_before or role_after,
        },
        details=f"{action} {role_before or role_after} on {ttype} '{tname}' for {grantee}",
    )


def leak_story() -> list[dict[str, Any]]:
    decoy = ("database", "db_planted02", "finance.salaries_v2")
    rows = [
        permission(GRANTED, "shared", LEAKER, SALARIES, None, "viewer", "permission.grant"),
        event(GRANTED + timedelta(hours=1), LEAKER, "viewed", *SALARIES),
        event(at("2026-10-16T12:00:00"), "carol.planted@example.com", "viewed", *SALARIES),
        permission(REVOKED, "revoked", LEAKER, SALARIES, "viewer", None, "permission.revoke"),
        # a grant on a table whose name contains this one's: must not be counted
        permission(
            GRANTED, "shared", "zed.planted@example.com", decoy, None, "editor", "permission.grant"
        ),
    ]
    for when, rows_out, size in EXPORTS:
        rows.append(
            event(
                when,
                LEAKER,
                "exported",
                *SALARIES,
                attributes={"rows": rows_out, "bytes": size, "format": "csv"},
                details=f"Exported {rows_out:,} rows to CSV",
            )
        )
    return rows


PIPE = ("pipeline", "pl_planted01", "nightly-revenue-sync")
CONFIG_CHANGED = at("2026-10-18T10:00:00")
PIPE_V1 = {"name": "nightly-revenue-sync", "config": {"timeout_ms": 60000, "retries": 3}}
PIPE_V2 = {"name": "nightly-revenue-sync", "config": {"timeout_ms": 30000, "retries": 3}}
FIRST_FAIL, LAST_FAIL = at("2026-10-19T02:00:00"), at("2026-10-23T02:00:00")


def pipeline_story() -> list[dict[str, Any]]:
    svc = "svc-planted@example.iam"
    rows = [event(at("2026-10-01T08:00:00"), ENGINEER, "created", *PIPE, after=PIPE_V1)]
    for day in range(10, 18):
        rows.append(event(at(f"2026-10-{day}T02:00:00"), svc, "executed", *PIPE))
    rows.append(event(CONFIG_CHANGED, ENGINEER, "updated", *PIPE, before=PIPE_V1, after=PIPE_V2))
    for i, day in enumerate(range(19, 24)):
        rows.append(
            event(
                at(f"2026-10-{day}T02:00:00"),
                svc,
                "executed",
                *PIPE,
                status="failed",
                error=f"timeout after {30000 + 7 * i} ms to db-{i}.internal:5432",
            )
        )
    return rows


def nina_story() -> list[dict[str, Any]]:
    rows = []
    report = ("report", "rpt_planted77", "Nina's Report")
    for day in range(10, 30):  # baseline: weekdays-ish office hours from the office IP
        for hour in (9, 13, 16):
            rows.append(
                event(at(f"2026-09-{day}T{hour:02d}:15:00"), NINA, "viewed", *report, ip="10.1.2.3")
            )
    rows += [
        event(at("2026-10-11T09:20:00"), NINA, "viewed", *report, ip="10.1.2.3"),
        event(at("2026-10-12T03:14:00"), NINA, "login", "user", "usr_planted77", NINA, ip=NEW_IP),
        event(
            at("2026-10-12T03:20:00"),
            NINA,
            "exported",
            *report,
            ip=NEW_IP,
            attributes={"rows": 500, "bytes": 20_000},
        ),
        event(
            at("2026-10-13T13:05:00"),
            NINA,
            "executed",
            "query",
            "q_planted77",
            "Nina's query",
            status="failed",
            error="QueryTimeout: query exceeded the 300 s limit",
            ip="10.1.2.3",
        ),
        permission(
            at("2026-10-14T16:00:00"),
            "shared",
            "omar.planted@example.com",
            report,
            None,
            "viewer",
            "permission.grant",
        )
        | {"actor": NINA, "ip_address": "10.1.2.3"},
    ]
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("investigate") / "store"
    store = Store(root, create=True)
    store.append(generate(4000, seed=11, end=NOW, days=60))
    planted = dashboard_story() + leak_story() + pipeline_story() + nina_story()
    store.append(frame(planted))
    return store


@pytest.fixture(scope="module")
def session(store: Store) -> Session:
    return Session(store, ctx=Context(now=NOW))


def query_finds(session: Session, inv: Investigation, frame_name: str) -> None:
    """The investigation's query, run in the search box, finds the frame's events."""
    found = session.events(inv.query).select("event_id").collect().get_column("event_id")
    assert set(inv.frames[frame_name].get_column("event_id")) == set(found)


# -- who changed ---------------------------------------------------------------------------


def test_who_changed_a_field_finds_the_culprit(session: Session) -> None:
    inv = who_changed(session, "Board Revenue Dashboard", field="visibility")
    changes = inv.frames["changes"]
    assert changes.select("timestamp", "actor", "action", "changes").rows() == [
        (MADE_PUBLIC, CULPRIT, "updated", 'settings.sharing.visibility: "private" → "public"')
    ]
    assert inv.query == "resource_id:rpt_planted01 changed:visibility"
    assert inv.title == "Who changed report 'Board Revenue Dashboard' (rpt_planted01) (visibility)"
    assert CULPRIT in inv.summary
    assert "2026-10-20 14:03 UTC" in inv.summary
    assert '"private" → "public"' in inv.summary
    # the query finds the same event (through the in-memory index, see the module notes)
    cached = Session(session.store, ctx=session.ctx, cache=True)
    query_finds(cached, inv, "changes")


def test_who_changed_lists_every_change_newest_first(session: Session) -> None:
    inv = who_changed(session, "rpt_planted01")
    changes = inv.frames["changes"]
    assert changes.get_column("actor").to_list() == [
        "eve.planted@example.com",
        CULPRIT,
        "bob.planted@example.com",
        "alice.planted@example.com",
    ]
    assert changes.get_column("status").to_list() == ["failed", "success", "success", "success"]
    assert changes.get_column("changes")[2] == 'title: "Report" → "Board Revenue Dashboard"'
    assert changes.get_column("changed_fields")[1].to_list() == ["settings.sharing.visibility"]
    changers = inv.frames["changers"]
    assert changers.filter(pl.col("actor") == CULPRIT).select("changes", "failed").row(0) == (1, 0)
    assert (
        changers.filter(pl.col("actor") == "eve.planted@example.com").row(0, named=True)["failed"]
        == 1
    )
    assert "was changed 3 times by 3 actors" in inv.summary
    assert "1 other attempt did not succeed" in inv.summary
    query_finds(session, inv, "changes")


def test_who_changed_respects_the_range(session: Session) -> None:
    inv = who_changed(
        session, "report:Board Revenue Dashboard", start=at("2026-10-02"), end=MADE_PUBLIC
    )
    assert inv.frames["changes"].get_column("actor").to_list() == ["bob.planted@example.com"]
    assert inv.query.endswith("date:>=2026-10-02T00:00:00Z date:<2026-10-20T14:03:00Z")
    empty = who_changed(session, "rpt_planted01", field="visibility", end=at("2026-10-10"))
    assert empty.frames["changes"].is_empty()
    assert empty.summary.startswith("No recorded changes to report 'Board Revenue Dashboard'")


def test_unknown_resource_is_an_error(session: Session) -> None:
    with pytest.raises(NotFoundError, match="no-such-thing"):
        who_changed(session, "no-such-thing")


# -- leak timeline ---------------------------------------------------------------------------


def test_leak_timeline_orders_grant_views_exports_revocation(session: Session) -> None:
    inv = leak_timeline(session, "finance.salaries")
    timeline = inv.frames["timeline"]
    assert timeline.select("kind", "actor", "grantee", "rows", "bytes").rows() == [
        ("granted", ADMIN, LEAKER, None, None),
        ("viewed", LEAKER, None, None, None),
        ("exported", LEAKER, None, 1200, 50_000),
        ("exported", LEAKER, None, 3400, 150_000),
        ("viewed", "carol.planted@example.com", None, None, None),
        ("revoked", ADMIN, LEAKER, None, None),
    ]
    assert timeline.get_column("timestamp").is_sorted()
    assert timeline.filter(pl.col("kind") == "granted")["role"].item() == "viewer"
    assert timeline.filter(pl.col("kind") == "revoked")["role"].item() == "viewer"
    access = inv.frames["access"]
    assert access.rows(named=True) == [
        {
            "grantee": LEAKER,
            "role": "viewer",
            "granted_at": GRANTED,
            "granted_by": ADMIN,
            "revoked_at": REVOKED,
            "revoked_by": ADMIN,
            "still_held": False,
        }
    ]
    summary = inv.summary
    assert "exported or downloaded 2 times by 1 actor, 4,600 rows, 200.0 kB" in summary
    assert f"{LEAKER} (2 times, 4,600 rows; access granted 2026-10-15 09:00 UTC" in summary
    assert "revoked 2026-10-17 09:00 UTC" in summary
    assert "viewed 2 times by 2 actors" in summary
    assert "1 grant and 1 revocation" in summary


def test_leak_query_is_the_search_that_found_the_events(session: Session) -> None:
    inv = leak_timeline(session, "db_planted01")
    assert inv.query == "resource_id:db_planted01 OR resource_type:permission finance.salaries"
    found = set(session.events(inv.query).collect().get_column("event_id"))
    kept = set(inv.frames["timeline"].get_column("event_id"))
    # the free-text name also finds the grant on finance.salaries_v2, which is dropped
    assert kept < found
    (extra,) = found - kept
    assert session.get(extra)["resource_name"] == "finance.salaries_v2 (zed.planted@example.com)"


def test_leak_access_counts_grants_made_before_the_range(session: Session) -> None:
    inv = leak_timeline(session, "db_planted01", start=at("2026-10-16"))
    assert "granted" not in inv.frames["timeline"].get_column("kind").to_list()
    access = inv.frames["access"]
    assert access.select("grantee", "granted_at", "revoked_at").rows() == [
        (LEAKER, GRANTED, REVOKED)
    ]
    before = leak_timeline(session, "db_planted01", end=at("2026-10-16"))
    held = before.frames["access"]
    assert held.select("grantee", "still_held").rows() == [(LEAKER, True)]
    assert f"still held by {LEAKER}" in before.summary


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        ("timeout after 30000 ms to host:5432", "timeout after <n> ms to host:<n>"),
        (
            "timeout after 30007 ms to db-3.internal:5432",
            "timeout after <n> ms to db-<n>.internal:<n>",
        ),
        ("Pipeline run #1042 failed at task 'load'", "Pipeline run #<n> failed at task 'load'"),
        (
            "File too large: 5.2 GB exceeds the 5 GB limit",
            "File too large: <n> GB exceeds the <n> GB limit",
        ),
        (
            "Table not found: staging.shipments_2025_old",
            "Table not found: staging.shipments_2025_old",
        ),
        ("s3:PutObject denied for evt_000123", "s3:PutObject denied for <id>"),
        (
            "request 3f2b1c9e-1111-4a2b-9c3d-0123456789ab from 10.0.0.12 failed",
            "request <id> from <ip> failed",
        ),
        ("object 0a1b2c3d4e5f missing", "object <id> missing"),
        (None, "(no error message)"),
    ],
)
def test_normalize_error(message: str | None, pattern: str) -> None:
    assert normalize_error(message) == pattern


def test_failures_of_a_resource_group_and_point_at_the_config_change(session: Session) -> None:
    inv = failures(session, "nightly-revenue-sync")
    groups = inv.frames["groups"]
    assert groups.height == 1
    group = groups.row(0, named=True)
    assert group["error"] == "timeout after <n> ms to db-<n>.internal:<n>"
    assert group["count"] == 5
    assert (group["first"], group["last"]) == (FIRST_FAIL, LAST_FAIL)
    assert group["example"] == "timeout after 30028 ms to db-4.internal:5432"
    assert group["resources"] == ["pipeline:nightly-revenue-sync"]
    assert group["change_before_first"] == (
        f"2026-10-18 10:00 UTC {ENGINEER} updated: config.timeout_ms: 60000 → 30000"
    )
    preceding = inv.frames["preceding"]
    assert preceding.height == 5
    first = preceding.row(0, named=True)
    assert (first["timestamp"], first["actor"], first["changes"]) == (
        CONFIG_CHANGED,
        ENGINEER,
        "config.timeout_ms: 60000 → 30000",
    )
    assert preceding.get_column("timestamp").to_list()[1:] == [
        at(f"2026-10-{day}T02:00:00") for day in (17, 16, 15, 14)
    ]
    assert inv.frames["failures"].height == 5
    assert inv.query == "status:failed resource_id:pl_planted01"
    query_finds(session, inv, "failures")
    summary = inv.summary
    assert summary.startswith("5 failed events on pipeline 'nightly-revenue-sync'")
    assert '"timeout after 30028 ms to db-4.internal:5432" — 5 times' in summary
    assert "from 2026-10-19 02:00 UTC to 2026-10-23 02:00 UTC" in summary
    assert f"Right before its last occurrence: {ENGINEER} updated pipeline" in summary
    assert "config.timeout_ms: 60000 → 30000" in summary


def test_failures_across_the_store_find_the_planted_group(session: Session) -> None:
    inv = failures(session, start=at("2026-10-01"), end=at("2026-11-01"))
    groups = inv.frames["groups"]
    planted = groups.filter(pl.col("error") == "timeout after <n> ms to db-<n>.internal:<n>")
    assert planted.select("count", "last_resource").row(0) == (5, "pipeline:nightly-revenue-sync")
    assert groups.get_column("count").sum() == inv.frames["failures"].height
    assert groups.get_column("count").is_sorted(descending=True)
    query_finds(session, inv, "failures")


# -- user activity ------------------------------------------------------------------------------


def test_user_activity_flags_new_ip_night_export_failure_and_grant(session: Session) -> None:
    inv = user_activity(session, NINA, start=at("2026-10-10"), end=at("2026-10-20"))
    frames = inv.frames
    assert frames["events"].height == 5
    assert frames["new_ips"].select("ip_address", "first_seen", "events").rows() == [
        (NEW_IP, at("2026-10-12T03:14:00"), 2)
    ]
    assert frames["unusual_hours"].select("timestamp", "hour").rows() == [
        (at("2026-10-12T03:20:00"), 3),
        (at("2026-10-12T03:14:00"), 3),
    ]
    assert frames["exports"].select("rows", "bytes").rows() == [(500, 20_000)]
    assert frames["failures"].get_column("error_message").to_list() == [
        "QueryTimeout: query exceeded the 300 s limit"
    ]
    assert frames["permission_changes"].get_column("action").to_list() == ["shared"]
    by_action = dict(frames["by_action"].select("action", "events").rows())
    assert by_action == {"viewed": 1, "login": 1, "exported": 1, "executed": 1, "shared": 1}
    query_finds(session, inv, "events")
    summary = inv.summary
    assert summary.startswith(f"{NINA} has 5 events between 2026-10-10 00:00 UTC")
    assert f"1 new IP address ({NEW_IP} first used 2026-10-12 03:14 UTC)" in summary
    assert "1 export (500 rows, 20.0 kB)" in summary
    assert '1 failure (latest: "QueryTimeout: query exceeded the 300 s limit"' in summary
    assert "2 events outside usual hours (at 03:00)" in summary


def test_user_activity_baseline_rows_are_quiet(session: Session) -> None:
    inv = user_activity(session, NINA, start=at("2026-09-25"), end=at("2026-09-30"))
    assert inv.frames["new_ips"].is_empty()
    assert inv.frames["unusual_hours"].is_empty()
    assert "Nothing unusual" in inv.summary


def test_user_activity_without_start_says_what_it_could_not_check(session: Session) -> None:
    inv = user_activity(session, NINA)
    assert inv.frames["events"].height == 65
    assert inv.frames["new_ips"].is_empty()
    assert "checked only from a start" in inv.summary


def test_user_activity_of_nobody(session: Session) -> None:
    inv = user_activity(session, "nobody@example.com", start=at("2026-10-01"))
    assert inv.summary == "No events by nobody@example.com since 2026-10-01 00:00 UTC."
    assert all(f.is_empty() for f in inv.frames.values())


def test_naive_datetimes_are_refused(session: Session) -> None:
    with pytest.raises(QueryError, match="timezone-aware"):
        user_activity(session, NINA, start=datetime(2026, 10, 1))


def test_investigation_renders_in_a_notebook(session: Session, tmp_path: Path) -> None:
    html = who_changed(session, "rpt_planted01")._repr_html_()
    assert "<h3>Who changed report &#x27;Board Revenue Dashboard&#x27;" in html
    assert "changers (4 rows)" in html
