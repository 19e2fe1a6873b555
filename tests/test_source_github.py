"""Tests for the GitHub audit-log adapter (auditkit.sources.github)."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import auditkit.sources
from auditkit.errors import RejectedRecordError, SourceError
from auditkit.schema import SCHEMA
from auditkit.sources import HEAD_BYTES, Source, read_head
from auditkit.sources.github import SOURCE, map_record, verb_for

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
ELASTIC = REALDATA / "elastic-github-audit"
AZURE = REALDATA / "azure-sentinel-sample-data" / "Github_sample_logs.json"
PANTHER = REALDATA / "panther-analysis-tests" / "GitHub.Audit.jsonl"
CLOUDTRAIL = REALDATA / "elastic-aws-cloudtrail" / "test-console-login-json.log"

needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason="shared/realdata is absent")

NATIVE_LINE = (
    '{"event_id":"e1","timestamp":"2026-01-01T00:00:00Z","actor":"a@b.com",'
    '"action":"created","status":"success"}'
)


# ---------------------------------------------------------------------------
# helpers


def load(path: Path, *, strict: bool = False) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Events, rejects and notes of a whole file."""
    batches = list(SOURCE.read(path, strict=strict))
    events = pl.concat([b.events for b in batches])
    rejects = pl.concat([b.rejects for b in batches])
    notes = [n for b in batches for n in b.notes]
    return events, rejects, notes


def event(**overrides: Any) -> dict[str, Any]:
    """A small valid streamed GitHub event."""
    record: dict[str, Any] = {
        "@timestamp": 1741611463961,
        "_document_id": "doc-1",
        "action": "repo.create",
        "actor": "octocat",
        "actor_id": 1,
        "actor_location": {"country_code": "US"},
        "org": "octo-org",
        "repo": "octo-org/hello",
        "visibility": "private",
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not None}


def write_lines(tmp_path: Path, lines: list[str | bytes], name: str = "audit.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join((x.encode() if isinstance(x, str) else x) + b"\n" for x in lines))
    return path


def one(record: dict[str, Any]) -> dict[str, Any]:
    """The canonical row of one record, as a plain dict."""
    return map_record(record)


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A record as GitHub's CSV export writes it: dotted nested keys, JSON for non-text."""
    cells: dict[str, str] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            cells.update(flatten(value, f"{prefix}{key}."))
        elif value is None:
            cells[prefix + key] = ""
        elif isinstance(value, str):
            cells[prefix + key] = value
        else:
            cells[prefix + key] = json.dumps(value)
    return cells


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    rows = [flatten(r) for r in records]
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def head_of(path: Path) -> bytes:
    """What detection shows ``sniff``: the first bytes, decompressed."""
    return read_head(path, HEAD_BYTES)


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------------------
# the adapter and its registration


def test_source_implements_the_protocol_and_is_the_entry_point() -> None:
    assert isinstance(SOURCE, Source)
    assert SOURCE.name == "github"
    (ep,) = [ep for ep in entry_points(group="auditkit.sources") if ep.name == "github"]
    assert ep.load() is SOURCE


def test_registry_finds_and_detects_github(tmp_path: Path) -> None:
    pytest.importorskip("auditkit.sources.cloudtrail", reason="cloudtrail adapter not built yet")
    pytest.importorskip("auditkit.sources.native", reason="native adapter not built yet")
    from auditkit import sources

    assert sources.get("github") is SOURCE
    path = write_lines(tmp_path, [json.dumps(event())])
    assert sources.detect(path) is SOURCE
    csv_path = write_csv(tmp_path / "export.csv", [event()])
    assert sources.detect(csv_path) is SOURCE
    array = tmp_path / "rest.json"
    array.write_text(json.dumps([event(), event(_document_id="doc-2")], indent=2))
    assert sources.detect(array) is SOURCE
    native = write_lines(tmp_path, [NATIVE_LINE], "native.jsonl")
    assert sources.detect(native) is not SOURCE
    if REALDATA.is_dir():
        for path in (AZURE, PANTHER, *sorted(ELASTIC.glob("*.log"))):
            assert sources.detect(path) is SOURCE, path
        assert sources.detect(CLOUDTRAIL) is not SOURCE


# ---------------------------------------------------------------------------
# real data: counts, and agreement with Elastic's expected documents


@needs_realdata
@pytest.mark.parametrize(
    ("path", "events", "rejects"),
    [
        (ELASTIC / "test-api-request-events.log", 2, 0),
        (ELASTIC / "test-enterprise-audit-eventhub.log", 3, 0),
        (AZURE, 63, 0),
        (PANTHER, 65, 33),
    ],
    ids=["elastic-api-request", "elastic-eventhub", "azure-sentinel", "panther"],
)
def test_every_real_record_loads_or_is_rejected(path: Path, events: int, rejects: int) -> None:
    loaded, rejected, _ = load(path)
    assert (len(loaded), len(rejected)) == (events, rejects)
    assert len(loaded) + len(rejected) == len(json_lines(path))
    assert loaded["event_id"].null_count() == 0
    assert (loaded["source"] == "github").all()
    assert (rejected["reason"].str.len_chars() > 0).all()
    assert (rejected["raw"].str.len_chars() > 0).all()
    assert SOURCE.sniff(path, head_of(path))


@needs_realdata
def test_panther_rejects_are_exactly_the_records_without_a_usable_timestamp() -> None:
    _, rejected, _ = load(PANTHER)
    records = json_lines(PANTHER)
    stamps = ("@timestamp", "at_sign_timestamp", "created_at", "p_event_time")
    no_time = {i for i, r in enumerate(records, 1) if not any(k in r for k in stamps)}
    garbled = {
        i for i, r in enumerate(records, 1) if r.get("created_at") == "2024-12-17 00:00:00000000"
    }
    assert (len(no_time), len(garbled)) == (29, 4)
    assert set(rejected["line"].to_list()) == no_time | garbled
    by_line = dict(zip(rejected["line"].to_list(), rejected["reason"].to_list(), strict=True))
    assert all(by_line[i].startswith("no timestamp") for i in no_time)
    assert all("'created_at'" in by_line[i] and "not ISO-8601" in by_line[i] for i in garbled)
    assert all(rejected["file"] == str(PANTHER))
    assert all(json.loads(raw)["action"] for raw in rejected["raw"])


@needs_realdata
@pytest.mark.parametrize("log", sorted(ELASTIC.glob("*.log")) if ELASTIC.is_dir() else [])
def test_elastic_expected_documents_agree(log: Path) -> None:
    expected = json.loads(Path(f"{log}-expected.json").read_text())["expected"]
    raw_lines = log.read_text().splitlines()
    loaded, rejected, _ = load(log)
    assert len(rejected) == 0
    assert len(loaded) == len(expected) == len(raw_lines)
    for row, doc, line in zip(loaded.iter_rows(named=True), expected, raw_lines, strict=True):
        assert doc["event"]["original"] == line
        raw = json.loads(line)
        stamp = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
        assert row["timestamp"] == stamp
        assert row["event_id"] == doc["event"]["id"]
        assert row["operation"] == doc["event"]["action"]
        assert row["actor"] == doc["user"]["name"]  # Elastic maps actor → user.name
        assert row["ip_address"] == doc.get("source", {}).get("ip")
        outcome = doc["event"].get("outcome", "success")
        assert row["status"] == ("failed" if outcome == "failure" else "success")
        assert row["user_agent"] == doc["user_agent"]["original"]
        attributes = json.loads(row["attributes"])
        github = doc.get("github", {})
        if "business" in github:
            assert row["account"] == github["business"]
        else:  # Elastic's older pipeline keeps only the org; the enterprise is the account
            assert row["account"] == raw["business"]
        if "org" in github:
            assert attributes["org"] == github["org"]
        if "actor_id" in github:
            assert str(attributes["actor_id"]) == github["actor_id"]
        country = doc["client"]["geo"]["country_iso_code"]
        assert attributes["actor_location"]["country_code"] == country


@needs_realdata
def test_azure_security_log_mapping() -> None:
    loaded, _, _ = load(AZURE)
    failed = loaded.filter(pl.col("status") == "failed")
    assert sorted(failed["operation"].to_list()) == ["user.failed_login"] * 5 + [
        "user.two_factor_challenge_failure"
    ]
    assert (failed["action"] == "login").all()
    assert failed["error_message"].null_count() == 0
    forgot = loaded.filter(pl.col("operation") == "user.forgot_password").row(0, named=True)
    assert (forgot["actor"], forgot["actor_type"]) == ("anonymous", "anonymous")
    assert (forgot["resource_type"], forgot["resource_name"]) == ("user", "siteshjha11")
    # token fields on personal_access_token.* describe the token made, not the login used
    tokens = loaded.filter(pl.col("operation") == "personal_access_token.create")
    assert len(tokens) == 6
    assert (tokens["actor_type"] == "user").all()
    assert tokens["resource_type"].unique().to_list() == ["personal_access_token"]
    member = loaded.filter(pl.col("operation") == "org.add_member").row(0, named=True)
    assert (member["action"], member["resource_type"], member["account"]) == (
        "shared",
        "user",
        "accenturelabs",
    )
    assert json.loads(member["attributes"])["permission"] == "admin"
    assert set(loaded["action"]) >= {"login", "logout", "created", "exported", "revoked"}


@needs_realdata
def test_panther_events_token_bot_and_workflow() -> None:
    loaded, _, _ = load(PANTHER)
    clone = loaded.filter(pl.col("event_id") == "KCYtigpnShPBSohA4OXbRg==").row(0, named=True)
    assert (clone["action"], clone["actor_type"], clone["ip_address"]) == (
        "exported",
        "api_key",
        "5.6.7.8",
    )
    assert clone["resource_name"] == "acme-inc/a-repo"
    bots = loaded.filter(pl.col("actor").str.ends_with("[bot]"))
    assert len(bots) > 0 and (bots["actor_type"] == "service_account").all()
    run = loaded.filter(pl.col("event_id") == "pWWWWWWWWWWWWWWWWWWWWW").row(0, named=True)
    assert (run["status"], run["error_message"]) == ("failed", "workflow run concluded: failure")
    assert run["duration_ms"] == 23_000


@needs_realdata
def test_no_source_field_is_lost() -> None:
    """Every non-empty field is a column, part of before/after, or kept in attributes."""
    columns = {"_document_id", "action", "actor", "actor_ip", "user_agent", "request_id"}
    times = {"@timestamp", "created_at", "at_sign_timestamp", "p_event_time"}
    for path in (AZURE, PANTHER, *sorted(ELASTIC.glob("*.log"))):
        loaded, _, _ = load(path)
        rows = {r["event_id"]: r for r in loaded.iter_rows(named=True)}
        for record in json_lines(path):
            if record.get("_document_id") not in rows:
                continue
            row = rows[record["_document_id"]]
            kept = set(json.loads(row["attributes"] or "{}"))
            kept |= set(json.loads(row["before"] or "{}")) | set(json.loads(row["after"] or "{}"))
            present = {k for k, v in record.items() if v not in (None, "")}
            assert present - kept - columns - times == set(), (path.name, record)


# ---------------------------------------------------------------------------
# mapping: verbs, status, actors, resources, changes

REAL_ACTIONS = [
    ("repo.create", "created"),
    ("repo.destroy", "deleted"),
    ("repo.update", "updated"),
    ("repo.change_merge_setting", "updated"),
    ("repo.set_default_workflow_permissions", "updated"),
    ("repo.archived", "updated"),
    ("repo.access", "updated"),
    ("repo.transfer", "updated"),
    ("repo.transfer_outgoing", "updated"),
    ("repo.enable", "updated"),
    ("repo.add_member", "shared"),
    ("repo.remove_member", "revoked"),
    ("git.clone", "exported"),
    ("git.fetch", "viewed"),
    ("git.push", "updated"),
    ("org.add_member", "shared"),
    ("org.remove_member", "revoked"),
    ("org.invite_member", "shared"),
    ("org.invite_user", "shared"),
    ("invite_member", "shared"),
    ("org.update_member", "updated"),
    ("org.saml_disabled", "updated"),
    ("org.disable_two_factor_requirement", "updated"),
    ("business.add_admin", "shared"),
    ("business.invite_admin", "shared"),
    ("organization_moderators.add_user", "shared"),
    ("organization_moderators.remove_user", "revoked"),
    ("team.create", "created"),
    ("team.destroy", "deleted"),
    ("team.add_repository", "shared"),
    ("team.promote_maintainer", "promoted"),
    ("hook.create", "created"),
    ("hook.destroy", "deleted"),
    ("public_key.delete", "deleted"),
    ("protected_branch.update_name", "updated"),
    ("protected_branch.policy_override", "updated"),
    ("repository_ruleset.create", "created"),
    ("repository_vulnerability_alert.dismiss", "updated"),
    ("secret_scanning.disable", "updated"),
    ("enterprise.config.disable_anonymous_git_access", "updated"),
    ("workflows.created_workflow_run", "executed"),
    ("workflows.completed_workflow_run", "executed"),
    ("integration_installation.create", "created"),
    ("integration_installation.repositories_added", "shared"),
    ("personal_access_token.create", "created"),
    ("personal_access_token.destroy", "deleted"),
    ("personal_access_token.access_granted", "shared"),
    ("personal_access_token.access_revoked", "revoked"),
    ("personal_access_token.request_created", "created"),
    ("oauth_authorization.create", "created"),
    ("oauth_access.regenerate", "updated"),
    ("two_factor_authentication.add_factor", "created"),
    ("two_factor_authentication.enabled", "updated"),
    ("user.login", "login"),
    ("user.failed_login", "login"),
    ("user.logout", "logout"),
    ("user.two_factor_challenge_success", "login"),
    ("user.two_factor_challenge_failure", "login"),
    ("user.sign_in_from_unrecognized_device", "login"),
    ("user.device_verification_success", "login"),
    ("user.two_factor_requested", "other"),
    ("user.new_device_used", "other"),
    ("user.forgot_password", "other"),
    ("user.reset_password", "updated"),
    ("user.audit_log_export", "exported"),
    ("user.two_factor_recovery_codes_downloaded", "exported"),
    ("audit_log_streaming.update", "updated"),
    ("unknown.admin_role", "other"),
    ("business_advanced_security.disabled", "updated"),
    ("business_advanced_security.enabled", "updated"),
    ("dependabot_alerts.disable", "updated"),
    ("dependabot_alerts_new_repos.disable", "updated"),
    ("dependabot_security_updates.disable", "updated"),
    ("dependabot_security_updates_new_repos.disable", "updated"),
    ("ip_allow_list.disable", "updated"),
    ("ip_allow_list_entry.create", "created"),
    ("not_repository_vulnerability_alert.dismiss", "updated"),
    ("oauth_access.create", "created"),
    ("org.disable_oauth_app_restrictions", "updated"),
    ("org.enable_oauth_app_restrictions", "updated"),
    ("org.enable_two_factor_requirement", "updated"),
    ("org.saml_enabled", "updated"),
    ("org.set_default_workflow_permissions", "updated"),
    ("org.update_saml_provider_settings", "updated"),
    ("protected_branch.destroy", "deleted"),
    ("public_key.create", "created"),
    ("repo.disable", "updated"),
    ("repo.set_workflow_permission_can_approve_pr", "updated"),
    ("repo.transfer_start", "updated"),
    ("repository_ruleset.destroy", "deleted"),
    ("repository_ruleset.update", "updated"),
    ("repository_secret_scanning_push_protection.disable", "updated"),
    ("secret_scanning_alert.create", "created"),
    ("secret_scanning_new_repos.disable", "updated"),
    ("user.device_verification_requested", "other"),
]


@pytest.mark.parametrize(("action", "verb"), REAL_ACTIONS)
def test_verb_for_real_actions(action: str, verb: str) -> None:
    assert verb_for(action, {"action": action}) == verb


@needs_realdata
def test_verb_table_covers_every_action_in_realdata() -> None:
    table = dict(REAL_ACTIONS)
    seen = {r["action"] for p in (AZURE, PANTHER, *ELASTIC.glob("*.log")) for r in json_lines(p)}
    assert seen - table.keys() == {"api.request"}  # its verb depends on the HTTP method


@pytest.mark.parametrize(
    ("record", "verb"),
    [
        ({"request_method": "GET"}, "viewed"),
        ({"request_method": "head"}, "viewed"),
        ({"request_method": "POST"}, "executed"),
        ({"request_method": "DELETE"}, "executed"),
        ({}, "executed"),
    ],
)
def test_api_request_verb_follows_the_http_method(record: dict[str, Any], verb: str) -> None:
    assert verb_for("api.request", record) == verb


@pytest.mark.parametrize(
    ("operation_type", "verb"),
    [
        ("create", "created"),
        ("modify", "updated"),
        ("remove", "deleted"),
        ("access", "viewed"),
        ("transfer", "updated"),
        ("restore", "created"),
        ("authentication", "other"),
    ],
)
def test_operation_type_decides_when_the_name_does_not(operation_type: str, verb: str) -> None:
    assert verb_for("copilot.cfb_seat_management", {"operation_type": operation_type}) == verb
    assert verb_for("copilot.cfb_seat_management") == "other"


def test_failed_login_is_a_login_with_status_failed() -> None:
    row = one(event(action="user.failed_login", repo=None, org=None, user="octocat"))
    assert (row["action"], row["status"], row["error_message"]) == (
        "login",
        "failed",
        "sign-in failed",
    )
    assert row["details"].startswith("octocat failed to sign in")
    ok = one(event(action="user.login", repo=None, org=None))
    assert (ok["status"], ok["error_message"]) == ("success", None)
    two_factor = one(event(action="user.two_factor_challenge_failure", repo=None))
    assert (two_factor["status"], two_factor["error_message"]) == (
        "failed",
        "two-factor challenge failed",
    )


def test_api_request_with_an_error_status_failed() -> None:
    row = one(
        event(action="api.request", request_method="GET", route="/orgs/{org}", status_code=404)
    )
    assert (row["action"], row["status"]) == ("viewed", "failed")
    assert row["error_message"] == "HTTP 404 for GET /orgs/{org}"
    assert one(event(action="api.request", status_code=201))["status"] == "success"


@pytest.mark.parametrize(
    ("overrides", "actor", "actor_type"),
    [
        ({}, "octocat", "user"),
        ({"actor": "dependabot[bot]"}, "dependabot[bot]", "service_account"),
        ({"actor_is_bot": True}, "octocat", "service_account"),
        (
            {"programmatic_access_type": "GitHub App server-to-server token"},
            "octocat",
            "service_account",
        ),
        ({"programmatic_access_type": "github_app"}, "octocat", "service_account"),
        ({"programmatic_access_type": "Personal access token (classic)"}, "octocat", "api_key"),
        ({"programmatic_access_type": "OAuth access token"}, "octocat", "api_key"),
        ({"programmatic_access_type": "GitHub App user-to-server token"}, "octocat", "api_key"),
        ({"programmatic_access_type": "deploy_key"}, "octocat", "api_key"),
        ({"hashed_token": "abc=", "token_id": 5}, "octocat", "api_key"),
        (
            {"action": "personal_access_token.create", "hashed_token": "abc="}
            | {"programmatic_access_type": "Fine-grained personal access token"},
            "octocat",
            "user",
        ),
        ({"actor": None}, "anonymous", "anonymous"),
        ({"actor": ""}, "anonymous", "anonymous"),
    ],
)
def test_actor_type(overrides: dict[str, Any], actor: str, actor_type: str) -> None:
    record = event()
    record.update(overrides)
    row = one({k: v for k, v in record.items() if v is not None})
    assert (row["actor"], row["actor_type"]) == (actor, actor_type)


@pytest.mark.parametrize(
    ("record", "resource"),
    [
        (event(), ("repository", None, "octo-org/hello")),
        (event(repo_id=42), ("repository", "42", "octo-org/hello")),
        (event(action="org.add_member", user="bob", user_id=7), ("user", "7", "bob")),
        (
            event(action="org.update_saml_provider_settings", org_id=9),
            ("organization", "9", "octo-org"),
        ),
        (event(action="team.add_member", team="octo-org/devs"), ("team", None, "octo-org/devs")),
        (event(action="team.destroy", data={"team": "octo-org/x"}), ("team", None, "octo-org/x")),
        (event(action="hook.create", data={"hook_id": 245}), ("hook", "245", None)),
        (event(action="protected_branch.update", name="main"), ("protected_branch", None, "main")),
        (event(action="business.add_admin", business="acme", user="bob"), ("user", None, "bob")),
        (
            event(action="api.request", route="/repos/{owner}/{repo}"),
            ("api", None, "/repos/{owner}/{repo}"),
        ),
        (event(action="dependabot_alerts.disable"), ("dependabot_alerts", None, "octo-org/hello")),
        (event(action="invite_member", repo=None), ("organization", None, "octo-org")),
    ],
)
def test_resource(record: dict[str, Any], resource: tuple[str | None, ...]) -> None:
    row = one(record)
    assert (row["resource_type"], row["resource_id"], row["resource_name"]) == resource


def test_permission_change_goes_to_before_and_after() -> None:
    row = one(
        event(action="org.update_member", user="bob", old_permission="read", permission="admin")
    )
    assert json.loads(row["before"]) == {"permission": "read"}
    assert json.loads(row["after"]) == {"permission": "admin"}
    attributes = json.loads(row["attributes"])
    assert "permission" not in attributes and "old_permission" not in attributes
    assert 'permission "read" → "admin"' in row["details"]


@pytest.mark.parametrize(
    ("fields", "before", "after"),
    [
        (
            {"previous_visibility": "private", "visibility": "public"},
            {"visibility": "private"},
            {"visibility": "public"},
        ),
        (
            {"ruleset_old_enforcement": "evaluate", "ruleset_enforcement": "disabled"},
            {"ruleset_enforcement": "evaluate"},
            {"ruleset_enforcement": "disabled"},
        ),
        (
            {"old_s3_bucket": "a", "new_s3_bucket": "b"},
            {"s3_bucket": "a"},
            {"s3_bucket": "b"},
        ),
        ({"repo_was": "octo-org/old"}, {"repo": "octo-org/old"}, {"repo": "octo-org/hello"}),
        (
            {"data": {"old_user": "hubot", "user": "octocat"}},
            {"user": "hubot"},
            {"user": "octocat"},
        ),
        ({"old_name": "x"}, {"name": "x"}, None),
    ],
)
def test_other_old_new_pairs(
    fields: dict[str, Any], before: dict[str, Any], after: dict[str, Any] | None
) -> None:
    record = event(action="repo.update", visibility=None)
    record.update(fields)
    row = one(record)
    assert json.loads(row["before"]) == before
    assert (json.loads(row["after"]) if row["after"] else None) == after


def test_no_change_fields_means_no_before_after() -> None:
    row = one(event())
    assert (row["before"], row["after"]) == (None, None)


def test_a_full_row() -> None:
    row = one(
        event(
            actor_ip="203.0.113.9",
            user_agent="curl/8",
            request_id="req-1",
            business="acme",
            hashed_token=None,
            created_at=1741611463961,
        )
    )
    assert row["event_id"] == "doc-1"
    assert row["timestamp"] == datetime(2025, 3, 10, 12, 57, 43, 961000, tzinfo=UTC)
    assert (row["action"], row["operation"], row["status"]) == ("created", "repo.create", "success")
    assert (row["ip_address"], row["user_agent"], row["request_id"]) == (
        "203.0.113.9",
        "curl/8",
        "req-1",
    )
    assert (row["account"], row["source"]) == ("acme", "github")
    assert row["details"] == "octocat created repository octo-org/hello (repo.create, private)"
    assert json.loads(row["attributes"]) == {
        "actor_id": 1,
        "actor_location": {"country_code": "US"},
        "org": "octo-org",
        "repo": "octo-org/hello",
        "visibility": "private",
        "business": "acme",
    }


def test_account_is_the_enterprise_else_the_org() -> None:
    assert one(event(business="acme"))["account"] == "acme"
    assert one(event())["account"] == "octo-org"
    assert one(event(org=None, repo=None))["account"] is None


def test_an_actor_ip_that_is_not_an_address_stays_in_attributes() -> None:
    row = one(event(actor_ip="not-an-ip"))
    assert row["ip_address"] is None
    assert json.loads(row["attributes"])["actor_ip"] == "not-an-ip"
    assert one(event(actor_ip="2001:db8::1"))["ip_address"] == "2001:db8::1"


@pytest.mark.parametrize(
    "stamp",
    [
        1741611463961,
        1741611463961.0,
        "1741611463961",
        "2025-03-10T12:57:43.961Z",
        "2025-03-10 12:57:43.961",
        "2025-03-10 12:57:43.961000000",
    ],
)
def test_timestamp_forms(stamp: object) -> None:
    expected = datetime(2025, 3, 10, 12, 57, 43, 961000, tzinfo=UTC)
    assert one(event(**{"@timestamp": stamp}))["timestamp"] == expected
    assert one(event(**{"@timestamp": None, "created_at": stamp}))["timestamp"] == expected
    assert one(event(**{"@timestamp": None, "at_sign_timestamp": stamp}))["timestamp"] == expected


def test_timestamp_prefers_at_timestamp_and_keeps_a_different_created_at() -> None:
    row = one(event(created_at=1741611460000))
    assert row["timestamp"] == datetime(2025, 3, 10, 12, 57, 43, 961000, tzinfo=UTC)
    assert json.loads(row["attributes"])["created_at"] == 1741611460000
    same = one(event(created_at=1741611463961))
    assert "created_at" not in json.loads(same["attributes"])


def test_records_without_document_id_get_stable_distinct_ids() -> None:
    a = one(event(_document_id=None))
    again = one(event(_document_id=None))
    other = one(event(_document_id=None, repo="octo-org/other"))
    assert a["event_id"] == again["event_id"] != other["event_id"]
    assert a["event_id"].startswith("github_")


def test_frames_are_in_the_canonical_schema(tmp_path: Path) -> None:
    loaded, rejected, _ = load(write_lines(tmp_path, [json.dumps(event())]))
    assert loaded.schema == pl.Schema(SCHEMA)
    assert rejected.columns == ["file", "line", "reason", "raw"]


# ---------------------------------------------------------------------------
# CSV export


def test_csv_rows_become_the_same_rows_as_their_json(tmp_path: Path) -> None:
    records = [
        event(),
        event(_document_id="doc-2", action="org.update_member", old_permission="read")
        | {"permission": "admin", "user": "bob", "secrets": ["a", "b"], "public_repo": False},
        event(_document_id=None, actor="1234", name="2024", actor_location={"country_code": "DE"}),
        event(_document_id="doc-4", action="user.failed_login", actor_ip="198.51.100.4")
        | {"note": 'he said "hi", then\nleft'},
    ]
    jsonl = write_lines(tmp_path, [json.dumps(r) for r in records])
    exported = write_csv(tmp_path / "export.csv", records)
    from_json, _, _ = load(jsonl)
    from_csv, rejected, _ = load(exported)
    assert len(rejected) == 0
    assert from_csv.equals(from_json)
    assert from_csv["actor"][2] == "1234"  # a numeric login stays text


@needs_realdata
def test_csv_round_trip_of_real_records(tmp_path: Path) -> None:
    paths = [AZURE, *sorted(ELASTIC.glob("*.log"))]
    records = [r for p in paths for r in json_lines(p)]
    exported = write_csv(tmp_path / "export.csv", records)
    jsonl = write_lines(tmp_path, [json.dumps(r) for r in records])
    from_csv, rejected, _ = load(exported)
    assert len(rejected) == 0
    assert from_csv.equals(load(jsonl)[0])
    assert SOURCE.sniff(exported, head_of(exported))


def test_csv_bad_rows_are_rejected_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(
        b"\xef\xbb\xbf@timestamp,action,actor,note\r\n"
        b"1741611463961,repo.create,octocat,fine\r\n"
        b'1741611463962,repo.create,octocat,"two\r\nlines"\r\n'
        b"1741611463963,repo.create,octocat\r\n"
        b"1741611463964,repo.create,\xff\xfe,bad bytes\r\n"
        b"\r\n"
        b"not-a-time,repo.create,octocat,x\r\n"
        b"1741611463965,,octocat,no action\r\n"
        b"1741611463966,repo.destroy,octocat,last\r\n"
    )
    loaded, rejected, _ = load(path)
    assert loaded["operation"].to_list() == ["repo.create", "repo.create", "repo.destroy"]
    assert json.loads(loaded["attributes"][1])["note"] == "two\r\nlines"
    reasons = dict(zip(rejected["line"].to_list(), rejected["reason"].to_list(), strict=True))
    assert sorted(reasons) == [5, 6, 8, 9]
    assert reasons[5] == "the row has 3 fields, the header has 4"
    assert reasons[6] == "not valid UTF-8"
    assert "'@timestamp'" in reasons[8]
    assert reasons[9].startswith("no 'action' field")
    assert rejected.filter(pl.col("line") == 5)["raw"][0] == "1741611463963,repo.create,octocat\r\n"


def test_csv_without_github_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("timestamp,user,action,resource,status,ip_address\n2026-01-01,a,b,c,d,e\n")
    with pytest.raises(SourceError, match="not a GitHub audit-log CSV export") as info:
        load(path)
    assert info.value.path == str(path)


def test_csv_header_only_has_no_events(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("@timestamp,action,actor\n")
    loaded, rejected, _ = load(path)
    assert (len(loaded), len(rejected)) == (0, 0)


def test_csv_cell_larger_than_the_csv_module_limit_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    huge = "x" * (csv.field_size_limit() + 1)
    path.write_text(f"@timestamp,action,actor,note\n1,repo.create,a,{huge}\n2,repo.create,b,ok\n")
    loaded, rejected, _ = load(path)
    assert loaded["actor"].to_list() == ["b"]
    assert rejected["line"].to_list() == [2]
    assert "field larger than field limit" in rejected["reason"][0]


# ---------------------------------------------------------------------------
# JSON array (REST API / JSON export), gzip


def test_json_array_streams_and_matches_json_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [event(_document_id=f"d{i}", note="é" * (i % 7) + "x" * i) for i in range(60)]
    array = tmp_path / "audit.json"
    array.write_text(json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8")
    jsonl = write_lines(tmp_path, [json.dumps(r) for r in records])
    expected = load(jsonl)[0]
    monkeypatch.setattr(
        auditkit.sources, "CHUNK", 7
    )  # force records to straddle every read boundary
    loaded, rejected, _ = load(array)
    assert len(rejected) == 0
    assert loaded.equals(expected)


def test_truncated_json_array_keeps_the_complete_records(tmp_path: Path) -> None:
    text = json.dumps([event(_document_id="a"), event(_document_id="b"), event(_document_id="c")])
    path = tmp_path / "audit.json"
    path.write_text(text[: len(text) - 40])
    loaded, rejected, _ = load(path)
    assert loaded["event_id"].to_list() == ["a", "b"]
    assert rejected["line"].to_list() == [2]
    assert "truncated or damaged" in rejected["reason"][0]


def test_json_array_element_problems(tmp_path: Path) -> None:
    path = tmp_path / "audit.json"
    good = json.dumps(event(_document_id="ok")).encode()
    bad_bytes = json.dumps(event(_document_id="bad", note="XX")).encode().replace(b"XX", b"\xff")
    path.write_bytes(b"[" + good + b", 42, " + bad_bytes + b", [1], " + good + b"]")
    loaded, rejected, _ = load(path)
    assert loaded["event_id"].to_list() == ["ok", "ok"]
    assert rejected["line"].to_list() == [1, 2, 3]
    assert rejected["reason"].to_list() == [
        "record is a number, expected a JSON object with an 'action' field",
        "not valid UTF-8",
        "record is an array, expected a JSON object with an 'action' field",
    ]


def test_empty_json_array_has_no_events(tmp_path: Path) -> None:
    path = tmp_path / "audit.json"
    path.write_text("[]\n")
    loaded, rejected, _ = load(path)
    assert (len(loaded), len(rejected)) == (0, 0)


def test_pretty_printed_single_object(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(event(), indent=2))
    loaded, _, _ = load(path)
    assert loaded["event_id"].to_list() == ["doc-1"]


def test_gzip_json_lines_and_truncated_gzip(tmp_path: Path) -> None:
    lines = "".join(json.dumps(event(_document_id=f"d{i}")) + "\n" for i in range(2000))
    path = tmp_path / "audit.json.gz"
    path.write_bytes(gzip.compress(lines.encode()))
    assert SOURCE.sniff(path, head_of(path))
    assert len(load(path)[0]) == 2000
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(path.read_bytes()[:-200])
    loaded, rejected, _ = load(cut)
    assert 0 < len(loaded) < 2000
    assert "compressed file is truncated" in rejected["reason"][-1]


# ---------------------------------------------------------------------------
# bad input in JSON Lines


def test_truncated_line_among_good_ones(tmp_path: Path) -> None:
    good = [json.dumps(event(_document_id=f"d{i}")) for i in range(3)]
    path = write_lines(tmp_path, [good[0][:-15], good[1], "", good[2][:30], good[2]])
    loaded, rejected, _ = load(path)
    assert loaded["event_id"].to_list() == ["d1", "d2"]
    assert rejected["line"].to_list() == [1, 4]
    assert all(r.startswith("not valid JSON") for r in rejected["reason"])
    assert rejected["raw"][0] == good[0][:-15]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (event(action=None), "no 'action' field"),
        (event(action=""), "no 'action' field"),
        (event(action=7), "'action' is a number (7), expected a string like 'repo.create'"),
        (event(actor={"login": "x"}), "'actor' is an object ({'login': 'x'}), expected a login"),
        (event(**{"@timestamp": None}), "no timestamp: a GitHub audit event needs '@timestamp'"),
        (event(**{"@timestamp": [1]}), "'@timestamp' is an array ([1]), expected epoch"),
        (event(**{"@timestamp": True}), "'@timestamp' is a boolean (True), expected epoch"),
        (event(**{"@timestamp": "yesterday"}), "'@timestamp': timestamp 'yesterday' is not ISO"),
        (event(**{"@timestamp": 10**20}), "'@timestamp': timestamp 100000000000000000000 is out"),
        (event(_document_id={"a": 1}), "'_document_id' is an object"),
    ],
)
def test_wrong_records_are_rejected_with_a_reason(
    tmp_path: Path, record: dict[str, Any], reason: str
) -> None:
    path = write_lines(tmp_path, [json.dumps(event(_document_id="ok")), json.dumps(record)])
    loaded, rejected, _ = load(path)
    assert loaded["event_id"].to_list() == ["ok"]
    assert rejected["line"].to_list() == [2]
    assert rejected["reason"][0].startswith(reason)


def test_non_object_lines_are_rejected(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [json.dumps(event()), "[1, 2]", '"text"', "null"])
    _, rejected, _ = load(path)
    assert rejected["reason"].to_list() == [
        "record is an array, expected a JSON object with an 'action' field",
        "record is a string, expected a JSON object with an 'action' field",
        "record is null, expected a JSON object with an 'action' field",
    ]


def test_invalid_utf8_line_is_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    bad = json.dumps(event(_document_id="bad", note="XX")).encode().replace(b"XX", b"\xc3\x28")
    path = write_lines(tmp_path, [json.dumps(event(_document_id="a")), bad, json.dumps(event())])
    loaded, rejected, _ = load(path)
    assert loaded["event_id"].to_list() == ["a", "doc-1"]
    assert rejected["line"].to_list() == [2]
    assert rejected["reason"][0].startswith("not valid UTF-8")


@pytest.mark.parametrize("content", [b"", b"  \n\n\t\n"])
def test_empty_file_gives_no_events_and_a_note(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    loaded, rejected, notes = load(path)
    assert (len(loaded), len(rejected)) == (0, 0)
    assert notes == [f"{path}: the file is empty; there are no GitHub audit events in it."]
    assert loaded.schema == pl.Schema(SCHEMA)


def test_ten_megabyte_field_loads_whole(tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    path = write_lines(tmp_path, [json.dumps(event(note=big)), json.dumps(event(_document_id="b"))])
    loaded, rejected, _ = load(path)
    assert len(rejected) == 0
    assert len(json.loads(loaded["attributes"][0])["note"]) == len(big)
    assert SOURCE.sniff(path, head_of(path))  # the head cuts the first record short


def test_ten_megabyte_bad_record_keeps_a_bounded_raw(tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    path = write_lines(tmp_path, [json.dumps(event(action=None, note=big))])
    _, rejected, _ = load(path)
    assert rejected["reason"][0].startswith("no 'action' field")
    assert 0 < len(rejected["raw"][0]) <= 100_000


def test_strict_mode_raises_on_the_first_bad_record(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [json.dumps(event()), json.dumps(event(action=None)), "{broken"])
    with pytest.raises(RejectedRecordError) as info:
        load(path, strict=True)
    assert (info.value.file, info.value.line) == (str(path), 2)
    assert info.value.reason.startswith("no 'action' field")
    assert len(load(write_lines(tmp_path, [json.dumps(event())], "ok.jsonl"), strict=True)[0]) == 1


def test_reading_twice_gives_the_same_ids(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [json.dumps(event(_document_id=None, n=i)) for i in range(5)])
    first, second = load(path)[0], load(path)[0]
    assert first["event_id"].to_list() == second["event_id"].to_list()
    assert first["event_id"].n_unique() == 5


# ---------------------------------------------------------------------------
# detection


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(event()) + "\n",  # streaming JSON Lines
        json.dumps([event()]),  # REST API response
        json.dumps([event()], indent=2),  # pretty-printed JSON export
        json.dumps({"action": "org.add_member", "created_at": 1621305118553, "actor": "x"}),
        json.dumps({"action": "repo.create", "at_sign_timestamp": "2022-12-11 05:17:28.078"}),
        json.dumps({"action": "git.clone", "p_log_type": "GitHub.Audit"}),
        json.dumps({"action": "repo.create", "business": "acme"}),
        "@timestamp,_document_id,action,actor,actor_location.country_code,org\n1,d,a.b,x,US,o\n",
        "action,actor,user,org,repo,created_at,actor_location.country_code\n",
    ],
)
def test_sniff_recognises_github_shapes(tmp_path: Path, content: str) -> None:
    path = tmp_path / "input"
    path.write_text(content)
    assert SOURCE.sniff(path, head_of(path))


@pytest.mark.parametrize(
    "content",
    [
        NATIVE_LINE + "\n",
        "[" + NATIVE_LINE + "]",
        "timestamp,user,action,resource,status,ip_address\n",
        "event_id,timestamp,actor,actor_type,action,operation\n",
        json.dumps({"Records": [{"eventVersion": "1.08", "eventSource": "s3.amazonaws.com"}]}),
        json.dumps({"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "action": "a.b"}),
        json.dumps({"action": "user_login", "date_create": 1}),  # Slack: no dotted action
        json.dumps({"action": "repo.create"}),  # nothing else says GitHub
        "hello world\n",
        "",
    ],
)
def test_sniff_declines_other_formats(tmp_path: Path, content: str) -> None:
    path = tmp_path / "input"
    path.write_text(content)
    assert not SOURCE.sniff(path, head_of(path))


@needs_realdata
def test_sniff_declines_real_cloudtrail_and_other_sources() -> None:
    assert not SOURCE.sniff(CLOUDTRAIL, head_of(CLOUDTRAIL))
    others = [
        p
        for p in REALDATA.rglob("*")
        if p.is_file()
        and p.suffix in (".log", ".json", ".jsonl", ".csv", ".gz")
        and "ithub" not in str(p.relative_to(REALDATA)).lower()
        and not p.name.endswith("-expected.json")
    ]
    assert others
    assert [p.name for p in others if SOURCE.sniff(p, head_of(p))] == []
