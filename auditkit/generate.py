"""Seeded, deterministic generator of realistic platform activity.

:func:`generate` makes ``n`` events of the data platform's Activity Logs (notebooks,
experiments, pipelines, databases, collections, queries, reports, users, teams,
permissions) in the canonical schema; :func:`iter_generate` makes the same events in
batches so ten million of them fit in flat memory; :func:`write` writes events as the
platform's exports (JSON Lines, JSON, CSV, short CSV), Parquet, or AWS CloudTrail records.

Everything is vectorized: small pools (people, resources, before/after templates, detail
texts, error messages) are built once per call, then every event picks from them by
random index. The same arguments always give the same frame. See ``docs/generate.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from auditkit.errors import GenerateError
from auditkit.schema import SCHEMA, STATUSES, ActorType, Status, conform, empty

__all__ = ["DEFAULT_END", "FORMATS", "GenerateError", "generate", "iter_generate", "write"]

#: Where generated windows end unless told otherwise (never the wall clock).
DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)
#: Formats :func:`write` knows.
FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "csv-short", "parquet", "cloudtrail")


_CHUNK = 1 << 18  # events per internal chunk; each chunk has its own seeded stream
_WRITE_SLICE = 200_000  # rows serialized at a time by the text writers
_MASK64 = (1 << 64) - 1
_NAME = "@@NAME@@"  # placeholder for the resource name inside before/after templates
_ISO = "%Y-%m-%dT%H:%M:%S.%6fZ"

# ---------------------------------------------------------------------------------------
# Vocabulary of the synthetic company
# ---------------------------------------------------------------------------------------


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


_FIRST = _words(
    "alice bob carol david emma frank grace henry isabel jack karen liam maria noah olivia "
    "paul quinn rachel sam tina uma victor wendy xavier yara zoe aaron beth chloe daniel "
    "elena felix gina hugo irene james kate leo mia nina oscar priya raj sofia tom vera wei "
    "yuki ahmed amara ana andre anya arjun ben carlos chen diana dmitri eva fatima gabriel "
    "hana ivan jin jorge julia kai lars lena lucas mateo mei mohamed nadia omar pedro rosa "
    "sara sven tariq ines kofi leila marco nils ruth steve laura kevin megan ryan"
)
_LAST = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
    "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter "
    "roberts mueller schmidt schneider fischer weber meyer wagner becker schulz hoffmann "
    "patel sharma kumar singh tan lim wong chen kim park sato suzuki tanaka dubois moreau "
    "laurent rossi russo ferrari silva santos costa oliveira kowalski novak jensen hansen"
)
_SUBJECTS = _words(
    "churn revenue orders customers sessions pricing inventory marketing fraud ltv retention "
    "cohort funnel forecast supply-chain nps support clickstream payments signups ads "
    "campaigns shipping returns subscriptions invoices payroll hiring web-traffic search "
    "recommendations"
)
_NB_KINDS = _words("analysis eda exploration cleanup features deep-dive prototype backfill sandbox")
_MODELS = _words("xgb lgbm logreg rf bert prophet arima nn model classifier ranker")
_STAGES = _words("ingest etl transform load sync refresh backfill dedupe aggregate export")
_CADENCES = _words("hourly daily weekly nightly")
_SCHEMAS = _words("sales marketing finance product analytics raw staging hr support ml")
_TABLES = _words(
    "orders customers invoices events_raw sessions payroll campaigns leads tickets "
    "subscriptions refunds page_views payments products inventory shipments accounts "
    "features predictions events_clean clicks impressions signups reviews contracts vendors "
    "employees budgets forecasts"
)
_TABLE_SUFFIXES = ("", "", "", "_v2", "_daily", "_snapshot", "_2025", "_archive", "_agg", "_raw",
                   "_clean", "_hourly", "_history", "_dedup", "_latest")  # fmt: skip
_PERIODS = _words("Q1 Q2 Q3 Q4 Monthly Weekly Daily Annual FY26 October H1 H2")
_TOPICS = _words(
    "Sales|Churn|Revenue|Marketing|Pipeline Health|Board KPIs|Customer Support|Finance|"
    "Growth|Retention|Product Usage|Inventory|Hiring|Data Quality|Security",
    sep="|",
)
_REPORT_KINDS = _words("Report Report Dashboard Overview Review Scorecard")
_METRICS = _words(
    "Revenue|Weekly active users|Orders|Churned accounts|Signups|Average order value|"
    "Refunds|Open tickets|Conversion rate|Session length|Ad spend|Pipeline failures",
    sep="|",
)
_DIMS = _words(
    "region|channel|product|plan|country|sales rep|cohort|device type|campaign|week", sep="|"
)
_COLLECTION_KINDS = _words("docs images embeddings feedback transcripts contracts logs snapshots")
_TEAMS = _words(
    "Data Engineering|Finance Analytics|Growth|ML Platform|Marketing Ops|Sales Ops|Security|"
    "Support Insights|Product Analytics|Data Science|BI|Platform Admins|Risk|People Analytics|"
    "Customer Success|Supply Chain",
    sep="|",
)
_TAGS = _words("q1 q2 q3 q4 finance marketing pii draft prod certified deprecated ml exec gdpr")
_DESCRIPTIONS = _words(
    "Owned by the analytics team|Source of truth for finance|Work in progress|"
    "Do not use for external reporting|Refreshed nightly|Used in the board deck|"
    "Contains customer PII|Migrated from the legacy warehouse",
    sep="|",
)

# Time zones: (name, UTC offset hours, share of people, office address prefixes).
_ZONES: tuple[tuple[str, int, float, tuple[str, ...]], ...] = (
    ("America/New_York", -5, 0.34, ("10.20",)),
    ("America/Los_Angeles", -8, 0.13, ("10.21",)),
    ("Europe/London", 0, 0.23, ("10.30", "192.168.1")),
    ("Europe/Berlin", 1, 0.26, ("10.40",)),
    ("Asia/Singapore", 8, 0.04, ("10.50",)),
)
# Relative human activity by local hour (0-23), and the weekend factor.
_HOURLY = np.array(
    [0.02, 0.015, 0.015, 0.015, 0.015, 0.02, 0.05, 0.15, 0.45, 0.85, 1.0, 1.0,
     0.75, 0.9, 1.0, 0.95, 0.85, 0.6, 0.3, 0.15, 0.08, 0.05, 0.03, 0.02]
)  # fmt: skip
_WEEKEND = 0.08
_ACCOUNTS = (("acme-prod", 0.78), ("acme-dev", 0.15), ("acme-staging", 0.07))
_PUBLIC_V4 = (24, 50, 67, 73, 76, 81, 82, 86, 88, 89, 91, 94, 98, 108, 174, 188, 212, 217)
_CLOUD_V4 = ("3.", "34.", "35.", "52.", "54.", "18.", "20.")
_PUBLIC_V6 = ("2601:1c0:", "2a02:810d:", "2003:e2:", "2406:3003:", "2a01:4b00:")
_BROWSERS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6_1) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36",
)
_SDKS = (
    "dataplatform-sdk-python/3.4.2 CPython/3.11.9 Linux/6.1.0",
    "dataplatform-sdk-python/3.3.0 CPython/3.12.4 Darwin/23.6.0",
    "python-requests/2.32.3",
    "dataplatform-cli/2.8.1 (darwin arm64)",
)
_API_AGENTS = (
    "python-requests/2.32.3",
    "dataplatform-sdk-python/3.4.2 CPython/3.11.9 Linux/6.1.0",
    "terraform-provider-dataplatform/1.8.0",
    "curl/8.5.0",
    "Go-http-client/2.0",
)
# Service accounts: (name, kind, relative activity, user agent).
_SERVICES = (
    ("svc-etl@company.iam", "etl", 5.0, "Apache-Airflow/2.10.2"),
    ("svc-airflow@company.iam", "etl", 3.0, "Apache-Airflow/2.10.2"),
    ("svc-dbt@company.iam", "etl", 2.0, "dbt/1.8.7"),
    ("svc-ingest-salesforce@company.iam", "etl", 1.0, "platform-connector/4.2.0"),
    ("svc-reporting@company.iam", "rep", 3.0, "platform-scheduler/5.2.0"),
    ("svc-ml-training@company.iam", "ml", 2.0, "platform-scheduler/5.2.0"),
    ("svc-backup@company.iam", "bak", 1.0, "platform-backup/1.4.3"),
)
_ANON_ACTORS = _words(
    "admin|administrator|root|test|guest|admin@company.com|test@company.com|"
    "support@company.com|info@company.com|it@company.com|ceo@company.com|user@company.com",
    sep="|",
)

# Resource types: (type, id prefix, share of the resource pool, share personal picks).
_RESOURCES: tuple[tuple[str, str, float, float], ...] = (
    ("notebook", "nb", 0.22, 0.6),
    ("experiment", "exp", 0.08, 0.6),
    ("pipeline", "pl", 0.08, 0.3),
    ("database", "db", 0.14, 0.0),
    ("collection", "col", 0.06, 0.3),
    ("query", "q", 0.20, 0.5),
    ("report", "rpt", 0.12, 0.0),
    ("user", "usr", 0.0, 0.0),
    ("team", "team", 0.0, 0.0),
    ("permission", "perm", 0.10, 0.0),
)
_RTYPES = tuple(r[0] for r in _RESOURCES)

# ---------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------

# Actor kinds: four human roles, API keys, service account roles, system, anonymous.
_KINDS = ("adm", "eng", "ana", "sci", "api", "etl", "rep", "ml", "bak", "sys", "anl", "anp")
_HUMAN_KINDS = (0, 1, 2, 3)
# Status profiles: P(success, failed, in_progress, pending).
_PROFILES: dict[str, tuple[float, float, float, float]] = {
    "plain": (0.993, 0.007, 0.0, 0.0),
    "run": (0.955, 0.03, 0.01, 0.005),
    "pipeline": (0.885, 0.07, 0.03, 0.015),
    "login": (0.95, 0.05, 0.0, 0.0),
    "export": (0.94, 0.015, 0.02, 0.025),
    "import": (0.90, 0.04, 0.035, 0.025),
    "denied": (0.0, 1.0, 0.0, 0.0),
    "public": (0.97, 0.03, 0.0, 0.0),
    "always": (1.0, 0.0, 0.0, 0.0),
}


@dataclass(frozen=True)
class _Op:
    name: str
    action: str
    weights: dict[str, float]
    status: str
    error: str
    median_ms: float
    sigma: float
    text: str
    label: str
    fail: str
    group: str | None
    attrs: str | None
    perm: str | None
    self_target: bool

    @property
    def rtype(self) -> str:
        return self.name.split(".")[0]


def _op(
    name: str,
    action: str,
    weights: str,
    status: str,
    error: str,
    median_ms: float,
    sigma: float,
    text: str,
    *,
    label: str | None = None,
    fail: str | None = None,
    group: str | None = None,
    attrs: str | None = None,
    perm: str | None = None,
    self_target: bool = False,
) -> _Op:
    parsed = {k: float(v) for k, v in (w.split("=") for w in weights.split())}
    assert set(parsed) <= set(_KINDS), weights
    label = label or text
    return _Op(
        name, action, parsed, status, error, median_ms, sigma, text, label,
        fail or f"{label} failed", group, attrs, perm, self_target,
    )  # fmt: skip


_OPS: tuple[_Op, ...] = (
    # notebooks
    _op("notebook.create", "created", "adm=.2 eng=.5 ana=.5 sci=1.2", "plain", "generic", 450, .5,
        "Notebook created", label="Notebook creation", group="notebook"),
    _op("notebook.update", "updated", "adm=.3 eng=1.5 ana=1.5 sci=4", "plain", "generic", 300, .6,
        "Notebook updated", label="Notebook update", group="notebook"),
    _op("notebook.delete", "deleted", "adm=.05 eng=.1 ana=.12 sci=.25", "plain", "generic", 250,
        .5, "Notebook moved to trash", label="Notebook deletion"),
    _op("notebook.view", "viewed", "adm=1 eng=3 ana=5 sci=8", "plain", "generic", 120, .7,
        "Notebook opened"),
    _op("notebook.run", "executed", "adm=.2 eng=2 ana=3 sci=10 rep=.5 ml=1", "run", "notebook",
        45_000, 1.2, "Ran {cells} cells", label="Notebook run"),
    _op("notebook.run_cancel", "cancelled", "eng=.2 ana=.3 sci=.9", "plain", "generic", 300, .5,
        "Notebook run interrupted after {secs} s", label="Notebook interrupt"),
    _op("notebook.import", "imported", "eng=.05 ana=.1 sci=.3", "import", "io", 2_500, .8,
        "Imported notebook from {nbfile}", label="Notebook import", attrs="file"),
    _op("notebook.export", "exported", "eng=.05 ana=.15 sci=.25", "export", "io", 3_000, .8,
        "Exported notebook as {nbfmt}", label="Notebook export", attrs="file"),
    _op("notebook.kernel_restart", "other", "eng=.05 ana=.1 sci=.3", "plain", "notebook", 4_000,
        .5, "Kernel restarted", label="Kernel restart"),
    # experiments
    _op("experiment.create", "created", "eng=.05 sci=1", "plain", "generic", 400, .5,
        "Experiment created", label="Experiment creation", group="experiment"),
    _op("experiment.update", "updated", "eng=.1 sci=2.2", "plain", "generic", 300, .5,
        "Experiment updated", label="Experiment update", group="experiment"),
    _op("experiment.delete", "deleted", "adm=.02 sci=.15", "plain", "generic", 250, .5,
        "Experiment deleted", label="Experiment deletion"),
    _op("experiment.view", "viewed", "adm=.2 eng=.3 ana=.8 sci=7", "plain", "generic", 180, .7,
        "Experiment runs compared"),
    _op("experiment.run", "executed", "sci=6 api=.5 ml=6", "run", "training", 600_000, 1.0,
        "Training run #{run} finished with {metric}={score}", label="Training run #{run}",
        attrs="training"),
    _op("experiment.cancel_run", "cancelled", "sci=.6 ml=.2", "plain", "generic", 400, .5,
        "Training run #{run} stopped", label="Training run stop"),
    _op("experiment.promote_model", "promoted", "adm=.05 eng=.1 sci=.4 ml=.2", "plain", "generic",
        900, .5, "Model promoted", label="Model promotion", group="promote_model"),
    # pipelines
    _op("pipeline.create", "created", "eng=.8 sci=.05", "plain", "generic", 500, .5,
        "Pipeline created", label="Pipeline creation", group="pipeline"),
    _op("pipeline.update", "updated", "adm=.1 eng=4", "plain", "generic", 350, .5,
        "Pipeline updated", label="Pipeline update", group="pipeline"),
    _op("pipeline.delete", "deleted", "adm=.03 eng=.15", "plain", "generic", 300, .5,
        "Pipeline deleted", label="Pipeline deletion"),
    _op("pipeline.view", "viewed", "adm=.5 eng=8 ana=.6 sci=.4", "plain", "generic", 150, .7,
        "Pipeline run history viewed"),
    _op("pipeline.run", "executed", "ana=.1 eng=5 sci=.3 api=2 etl=12 bak=.5", "pipeline",
        "pipeline", 180_000, 1.1, "Pipeline run #{run} succeeded, processed {rows} rows",
        label="Pipeline run #{run}", fail="Pipeline run #{run} failed at task '{task}'",
        attrs="pipeline"),
    _op("pipeline.cancel", "cancelled", "eng=.8 etl=.2", "plain", "generic", 600, .5,
        "Pipeline run #{run} cancelled", label="Pipeline cancellation"),
    _op("pipeline.promote", "promoted", "adm=.05 eng=.5", "plain", "generic", 1_500, .5,
        "Pipeline promoted", label="Pipeline promotion", group="promote_pipeline"),
    # databases (tables)
    _op("database.create", "created", "adm=.05 eng=.8 ana=.05 sci=.1", "plain", "generic", 700, .5,
        "Table created", label="Table creation", group="database"),
    _op("database.update", "updated", "adm=.3 eng=1.5", "plain", "generic", 600, .5,
        "Table updated", label="Table update", group="database"),
    _op("database.delete", "deleted", "adm=.05 eng=.2", "plain", "generic", 500, .5,
        "Table dropped", label="Table drop"),
    _op("database.view", "viewed", "adm=1 eng=5 ana=4 sci=2", "plain", "generic", 140, .6,
        "Table schema viewed"),
    _op("database.query", "executed", "adm=.5 eng=9 ana=5 sci=4 api=4 etl=4 rep=1 ml=1", "run",
        "query", 1_800, 1.3, "SQL statement returned {rows} rows", label="SQL statement"),
    _op("database.export", "exported", "eng=.4 ana=.3 sci=.2 api=.5 bak=5", "export", "io",
        12_000, 1.2, "Exported {rows} rows to {fmt}", label="Table export", attrs="export"),
    _op("database.import", "imported", "eng=.7 sci=.1 api=.4 etl=1.2", "import", "io", 15_000,
        1.2, "Imported {rows} rows from {file}", label="Table import", attrs="import"),
    _op("database.maintenance", "other", "sys=1", "always", "generic", 90_000, .8,
        "Automatic vacuum reclaimed {mb} MB"),
    # collections
    _op("collection.create", "created", "eng=.2 ana=.2 sci=.3", "plain", "generic", 400, .5,
        "Collection created", label="Collection creation", group="collection"),
    _op("collection.update", "updated", "eng=.3 ana=.4 sci=.5", "plain", "generic", 300, .5,
        "Collection updated", label="Collection update", group="collection"),
    _op("collection.delete", "deleted", "adm=.02 eng=.05 ana=.05 sci=.05", "plain", "generic",
        300, .5, "Collection deleted", label="Collection deletion"),
    _op("collection.view", "viewed", "adm=.2 eng=1 ana=2 sci=3 api=3 ml=1", "plain", "generic",
        110, .7, "Collection browsed"),
    _op("collection.export", "exported", "ana=.3 sci=.3 api=.5 bak=1", "export", "io", 8_000,
        1.2, "Exported {rows} records to {fmt}", label="Collection export", attrs="export"),
    _op("collection.import", "imported", "eng=.2 ana=.3 sci=.6 api=1 etl=.8", "import", "io",
        9_000, 1.2, "Imported {rows} records from {file}", label="Collection import",
        attrs="import"),
    # saved queries
    _op("query.create", "created", "adm=.1 eng=.4 ana=2 sci=.4", "plain", "generic", 300, .5,
        "Query saved", label="Query save", group="query"),
    _op("query.update", "updated", "eng=.5 ana=3 sci=.4", "plain", "generic", 250, .5,
        "Query updated", label="Query update", group="query"),
    _op("query.delete", "deleted", "eng=.05 ana=.3 sci=.05", "plain", "generic", 200, .5,
        "Query deleted", label="Query deletion"),
    _op("query.view", "viewed", "adm=.8 eng=1 ana=8 sci=1", "plain", "generic", 100, .6,
        "Query opened"),
    _op("query.run", "executed", "adm=1 eng=3 ana=14 sci=2 api=6 etl=1 rep=2", "run", "query",
        2_500, 1.4, "Query returned {rows} rows", label="Query run"),
    _op("query.cancel", "cancelled", "eng=.1 ana=.6 sci=.1", "plain", "generic", 200, .5,
        "Query cancelled after {secs} s", label="Query cancellation"),
    _op("query.export_results", "exported", "eng=.2 ana=1.5 sci=.2 api=.3", "export", "io",
        5_000, 1.1, "Exported {rows} rows to {fmt}", label="Query results export",
        attrs="export"),
    # reports
    _op("report.create", "created", "adm=.1 eng=.05 ana=.8", "plain", "generic", 500, .5,
        "Report created", label="Report creation", group="report"),
    _op("report.update", "updated", "adm=.2 eng=.1 ana=2.5", "plain", "generic", 400, .5,
        "Report updated", label="Report update", group="report"),
    _op("report.delete", "deleted", "adm=.05 ana=.15", "plain", "generic", 300, .5,
        "Report deleted", label="Report deletion"),
    _op("report.view", "viewed", "adm=5 eng=2 ana=16 sci=2 api=.3", "plain", "generic", 900, .8,
        "Report viewed"),
    _op("report.view_public", "viewed", "anp=1", "public", "link", 1_100, .8,
        "Report viewed via public link", label="Public link access"),
    _op("report.export", "exported", "adm=.5 ana=1.5 rep=.8", "export", "io", 7_000, 1.0,
        "Exported {rows} rows to {fmt}", label="Report export", attrs="export"),
    _op("report.refresh", "executed", "adm=.1 ana=1 rep=3", "run", "query", 20_000, 1.0,
        "Report refreshed ({widgets} widgets)", label="Report refresh"),
    # users
    _op("user.login", "login", "adm=5 eng=4 ana=5 sci=4", "login", "login", 350, .6,
        "Signed in with {method}", label="Sign-in", attrs="login", self_target=True),
    _op("user.login", "login", "anl=1", "denied", "login", 300, .6, "Sign-in",
        label="Sign-in for unknown account"),
    _op("user.logout", "logout", "adm=3 eng=2 ana=3 sci=2.5", "always", "generic", 80, .5,
        "Signed out", self_target=True),
    _op("user.session_expire", "logout", "sys=2", "always", "generic", 20, .5,
        "Session expired after {hours} h of inactivity"),
    _op("user.create", "created", "adm=1", "plain", "generic", 600, .5, "User invited",
        label="User invitation", group="user"),
    _op("user.update", "updated", "adm=2", "plain", "generic", 350, .5, "User updated",
        label="User update", group="user"),
    _op("user.delete", "deleted", "adm=.4", "plain", "generic", 400, .5, "User deactivated",
        label="User deactivation"),
    _op("user.view", "viewed", "adm=3 eng=.3 ana=.5 sci=.3", "plain", "generic", 90, .5,
        "Profile viewed"),
    _op("user.mfa_enroll", "other", "adm=.05 eng=.05 ana=.05 sci=.05", "plain", "login", 500, .5,
        "Enrolled {mfa} for MFA", label="MFA enrollment", self_target=True),
    _op("user.password_reset", "other", "adm=.03 eng=.05 ana=.06 sci=.05", "plain", "generic",
        300, .5, "Password reset requested", label="Password reset", self_target=True),
    # teams
    _op("team.create", "created", "adm=.3", "plain", "generic", 400, .5, "Team created",
        label="Team creation", group="team"),
    _op("team.update", "updated", "adm=.6", "plain", "generic", 300, .5, "Team updated",
        label="Team update", group="team"),
    _op("team.delete", "deleted", "adm=.08", "plain", "generic", 300, .5, "Team deleted",
        label="Team deletion"),
    _op("team.view", "viewed", "adm=2 eng=.3 ana=.3 sci=.3", "plain", "generic", 90, .5,
        "Team members listed"),
    _op("team.add_member", "updated", "adm=1.5", "plain", "generic", 250, .5, "Member added",
        label="Adding a member", group="team_add"),
    _op("team.remove_member", "updated", "adm=.5", "plain", "generic", 250, .5, "Member removed",
        label="Removing a member", group="team_remove"),
    # permissions
    _op("permission.grant", "shared", "adm=3 eng=.5 ana=.8 sci=.4", "plain", "generic", 200, .5,
        "Access granted", label="Grant", perm="grant"),
    _op("permission.revoke", "revoked", "adm=1 eng=.1 ana=.2 sci=.1", "plain", "generic", 200, .5,
        "Access revoked", label="Revoke", perm="revoke"),
    _op("permission.update", "updated", "adm=.8 eng=.05 ana=.1", "plain", "generic", 200, .5,
        "Role changed", label="Role change", perm="update"),
    _op("permission.view", "viewed", "adm=2 eng=.2 ana=.3 sci=.1", "plain", "generic", 120, .5,
        "Access list viewed", perm="view"),
    _op("permission.expire", "revoked", "sys=1.5", "always", "generic", 50, .5,
        "Temporary access expired", perm="expire"),
)  # fmt: skip
_PERM_TEXTS = ("grant", "revoke", "update", "view", "expire")


_ERROR_CLASSES = ("pipeline", "query", "notebook", "training", "login", "io", "generic", "link")


def _error_pools(rng: random.Random, tables: Sequence[str]) -> dict[str, list[str]]:
    """Realistic error messages by class (a few dozen each, some with varying details)."""
    some = [rng.choice(tables) for _ in range(8)] if tables else ["sales.orders"] * 8
    tasks = ("extract", "load_orders", "transform_customers", "dedupe_events", "publish")
    return {
        "pipeline": [
            "OutOfMemoryError: Java heap space",
            "Connection timed out after 30000 ms to warehouse.internal:5432",
            "Task exceeded max retries (3)",
            "PermissionDenied: user lacks SELECT on table sales.orders",
            *(f"PermissionDenied: user lacks SELECT on table {t}" for t in some[:4]),
            *(f"Task '{t}' exceeded max retries ({r})" for t in tasks for r in (3, 5)),
            "SparkException: Job aborted due to stage failure: Task 4 in stage 12.0 failed 4 "
            "times, most recent failure: ExecutorLostFailure (executor 7 exited)",
            *(
                f"FileNotFoundError: s3://acme-datalake/raw/events/dt=2026-10-{d:02d}/"
                "part-00007.snappy.parquet"
                for d in (3, 14, 27)
            ),
            "SchemaMismatchError: column 'amount' expected DECIMAL(18,2), got STRING",
            "Upstream dependency 'orders_ingest_hourly' did not complete",
            "Container killed: exit code 137 (OOMKilled)",
            "OperationalError: server closed the connection unexpectedly",
            "Connection timed out after 30000 ms to warehouse.internal:5432",
            "OutOfMemoryError: Java heap space",
        ],
        "query": [
            "SyntaxError: unexpected token 'FORM' at line 3, column 8",
            "QueryTimeout: query exceeded the 300 s limit",
            "ResourceExhausted: query memory limit of 8 GB exceeded",
            "Division by zero",
            "Connection timed out after 30000 ms to warehouse.internal:5432",
            *(f"PermissionDenied: user lacks SELECT on table {t}" for t in some),
            *(f"Table not found: {t}_old" for t in some[:4]),
            "Ambiguous column name 'id'",
        ],
        "notebook": [
            "KernelDied: kernel restarted after exceeding its memory limit (16 GiB)",
            "ModuleNotFoundError: No module named 'lightgbm'",
            "CellExecutionError: NameError: name 'df_clean' is not defined (cell 14)",
            "Execution timed out after 3600 s",
            "CellExecutionError: KeyError: 'customer_id' (cell 7)",
        ],
        "training": [
            "CUDA out of memory. Tried to allocate 2.00 GiB",
            "ValueError: Input contains NaN, infinity or a value too large for dtype('float32')",
            "Training job exceeded max runtime (4 h)",
            "OutOfMemoryError: Java heap space",
            "Spot instance interrupted; checkpoint restore failed",
        ],
        "login": [
            "Invalid username or password",
            "Invalid username or password",
            "MFA verification failed",
            "Account locked after 5 failed attempts",
            "SSO assertion expired",
            "IP address not in allow list",
        ],
        "io": [
            "Export exceeds row limit of 1,000,000 rows",
            "Upload failed: object store returned 503 Slow Down",
            "Invalid CSV: unterminated quoted field at line 4821",
            "AccessDenied: destination s3://acme-exports is not writable (403)",
            "File too large: 5.2 GB exceeds the 5 GB limit",
            "Connection timed out after 30000 ms to warehouse.internal:5432",
        ],
        "generic": [
            "PermissionDenied: user lacks EDIT permission on this resource",
            "Conflict: resource was modified by another session (version 7, expected 6)",
            "ValidationError: name must be 1-128 characters",
            "RateLimitExceeded: 600 requests per minute",
            "NotFound: resource does not exist or was deleted",
            "InternalError: unexpected error, reference 8f3a2c1d",
        ],
        "link": [
            "Public link expired",
            "Public link revoked by owner",
            "Invalid or expired share token",
        ],
    }


# ---------------------------------------------------------------------------------------
# Before/after templates
# ---------------------------------------------------------------------------------------

_Change = Callable[[random.Random, Any], tuple[Any, Any]]


def _sample(rng: random.Random, seq: Sequence[Any], lo: int, hi: int) -> list[Any]:
    k = rng.randrange(lo, hi + 1)
    return [seq[i] for i in sorted(rng.sample(range(len(seq)), min(k, len(seq))))]


def _other(rng: random.Random, seq: Sequence[Any], current: Any) -> Any:
    choices = [x for x in seq if x != current]
    return rng.choice(choices)


def _choose(seq: Sequence[Any]) -> _Change:
    return lambda rng, old: (old, _other(rng, seq, old))


def _tweak(lo: int, hi: int) -> _Change:
    def change(rng: random.Random, old: Any) -> tuple[Any, Any]:
        new = old
        while new == old:
            new = min(hi, max(lo, old + rng.randrange(-6, 7)))
        return old, new

    return change


def _retag(rng: random.Random, old: Any) -> tuple[Any, Any]:
    """Drop one tag (sometimes) or add one the resource does not have yet."""
    if old and rng.random() < 0.4:
        drop = rng.randrange(len(old))
        return old, [tag for i, tag in enumerate(old) if i != drop]
    return old, [*old, rng.choice([tag for tag in _TAGS if tag not in old])]


def _rename(drafts: Sequence[str]) -> _Change:
    return lambda rng, old: (rng.choice(drafts), old)


def _toggle(rng: random.Random, old: Any) -> tuple[Any, Any]:
    return old, not old


@dataclass(frozen=True)
class _Group:
    """How one kind of resource changes: a base state and the changes that apply to it."""

    label: str
    base: Callable[[random.Random, list[str]], dict[str, Any]]
    changes: dict[str, _Change]
    created: Callable[[dict[str, Any]], str]
    fixed: bool = False  # apply every change (promotions, membership), not 1-3 of them
    describe: Callable[[dict[str, Any], dict[str, Any]], str] | None = None


def _cron(rng: random.Random) -> str:
    return str(rng.choice(("0 * * * *", "0 2 * * *", "*/15 * * * *", "0 6 * * 1", "30 4 * * *")))


def _groups(emails: list[str]) -> dict[str, _Group]:
    def notebook(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "title": _NAME,
            "language": rng.choice(("python", "python", "python", "sql", "r")),
            "cells": rng.randrange(3, 80),
            "kernel": {
                "image": rng.choice(("python-3.11", "python-3.12", "r-4.4")),
                "size": rng.choice(("small", "medium", "large", "gpu-small")),
            },
            "schedule": _cron(rng) if rng.random() < 0.2 else None,
            "tags": _sample(rng, _TAGS, 0, 3),
        }

    def report(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "title": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "settings": {
                "sharing": {"visibility": rng.choice(("private", "team", "organization"))},
                "refresh": {
                    "schedule": rng.choice(("hourly", "daily", "weekly")),
                    "timezone": rng.choice(("UTC", "America/New_York", "Europe/Berlin")),
                },
                "theme": rng.choice(("light", "dark")),
            },
            "widgets": rng.randrange(2, 25),
            "tags": _sample(rng, _TAGS, 0, 3),
        }

    def query(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        days = rng.choice((7, 30, 90))
        return {
            "title": _NAME,
            "sql": f"SELECT {rng.choice(('region', 'channel', 'plan'))}, SUM(amount) AS total "
            f"FROM {rng.choice(_SCHEMAS)}.{rng.choice(_TABLES)} WHERE created_at >= "
            f"CURRENT_DATE - INTERVAL '{days}' DAY GROUP BY 1 ORDER BY 2 DESC LIMIT "
            f"{rng.choice((10, 100, 1000))}",
            "datasource": rng.choice(("warehouse", "analytics-replica", "lakehouse")),
            "cache_ttl_s": rng.choice((0, 300, 3600, 86400)),
            "parameters": {"date_range": rng.choice(("last_7_days", "last_30_days", "this_q"))},
            "tags": _sample(rng, _TAGS, 0, 2),
        }

    def edit_sql(rng: random.Random, old: Any) -> tuple[Any, Any]:
        limit = re.search(r"LIMIT (\d+)$", old)
        new_limit = _other(rng, ("10", "50", "100", "500", "1000"), limit.group(1) if limit else "")
        return old, re.sub(r"LIMIT \d+$", f"LIMIT {new_limit}", old)

    def pipeline(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "schedule": _cron(rng),
            "enabled": True,
            "retries": rng.randrange(0, 6),
            "timeout_minutes": rng.choice((30, 60, 120, 240)),
            "cluster": {
                "workers": rng.randrange(2, 33),
                "node_type": rng.choice(("m5.xlarge", "m5.2xlarge", "r5.4xlarge", "c5.2xlarge")),
                "autoscale": bool(rng.random() < 0.5),
            },
            "notifications": {"on_failure": ["data-eng@company.com"]},
        }

    def notify(rng: random.Random, old: Any) -> tuple[Any, Any]:
        extra = rng.choice(emails)
        return old, [*old, extra] if extra not in old else [*old, "oncall@company.com"]

    def experiment(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "params": {
                "learning_rate": rng.choice((0.01, 0.03, 0.05, 0.1, 0.3)),
                "max_depth": rng.randrange(3, 13),
                "n_estimators": rng.choice((100, 200, 400, 800, 1000)),
            },
            "metric": rng.choice(("auc", "f1", "rmse", "logloss")),
            "stage": rng.choice(("development", "staging")),
            "tags": _sample(rng, _TAGS, 0, 2),
        }

    def database(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "classification": rng.choice(("public", "internal", "confidential", "restricted")),
            "retention_days": rng.choice((30, 90, 365, 730, 2555)),
            "owner_team": rng.choice(_TEAMS),
            "pii": bool(rng.random() < 0.3),
            "schema": {
                "columns": rng.randrange(4, 61),
                "partitioned_by": rng.choice((["date"], ["region", "date"], [])),
            },
        }

    def collection(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "access": {
                "visibility": rng.choice(("private", "team", "organization")),
                "allow_downloads": bool(rng.random() < 0.5),
            },
            "embedding_model": rng.choice(("text-embedding-3-small", "bge-large-en-v1.5", None)),
            "tags": _sample(rng, _TAGS, 0, 2),
        }

    def user(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "email": _NAME,
            "role": rng.choice(("viewer", "member", "member", "admin")),
            "status": "active",
            "mfa_enabled": bool(rng.random() < 0.8),
            "teams": _sample(rng, _TEAMS, 1, 2),
            "locale": rng.choice(("en-US", "en-GB", "de-DE", "fr-FR")),
        }

    def team(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "visibility": rng.choice(("public", "private")),
            "members": _sample(rng, emails, 2, 6),
        }

    def add_member(rng: random.Random, old: Any) -> tuple[Any, Any]:
        return old, [*old, rng.choice([e for e in emails if e not in old] or emails)]

    def remove_member(rng: random.Random, old: Any) -> tuple[Any, Any]:
        return old, [e for i, e in enumerate(old) if i != rng.randrange(len(old))]

    def model(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {"model": _NAME, "version": rng.randrange(1, 30), "stage": "staging",
                "approved_by": None}  # fmt: skip

    def promote_stage(rng: random.Random, old: Any) -> tuple[Any, Any]:
        return (old, "production") if rng.random() < 0.7 else ("development", "staging")

    def deployed(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        v = f"v{rng.randrange(1, 4)}.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}"
        return {"name": _NAME, "environment": "staging", "version": v,
                "git_sha": f"{rng.randrange(1 << 28):07x}"}  # fmt: skip

    def members_text(verb: str, prep: str) -> Callable[[dict[str, Any], dict[str, Any]], str]:
        def describe(before: dict[str, Any], after: dict[str, Any]) -> str:
            moved = set(before["members"]) ^ set(after["members"])
            return f"{verb} {', '.join(sorted(moved))} {prep} team"

        return describe

    groups = {
        "notebook": _Group(
            "Notebook", notebook,
            {"title": _rename(("Untitled Notebook", "scratch", "wip", "Copy of analysis")),
             "cells": _tweak(1, 120), "kernel.size": _choose(("small", "medium", "large")),
             "kernel.image": _choose(("python-3.11", "python-3.12", "r-4.4")),
             "schedule": lambda rng, old: (old, None if old else _cron(rng)), "tags": _retag},
            lambda b: f"Notebook created with {b['cells']} cells"),
        "report": _Group(
            "Report", report,
            {"title": _rename(("Report", "Untitled report", "New dashboard", "Copy of Report")),
             "description": _choose(_DESCRIPTIONS),
             "settings.sharing.visibility": _choose(("private", "team", "organization")),
             "settings.refresh.schedule": _choose(("hourly", "daily", "weekly")),
             "settings.refresh.timezone": _choose(("UTC", "America/New_York", "Europe/Berlin")),
             "settings.theme": _choose(("light", "dark")), "widgets": _tweak(1, 40),
             "tags": _retag},
            lambda b: f"Report created with {b['widgets']} widgets"),
        "query": _Group(
            "Query", query,
            {"title": _rename(("New query", "Untitled query", "tmp")), "sql": edit_sql,
             "datasource": _choose(("warehouse", "analytics-replica", "lakehouse")),
             "cache_ttl_s": _choose((0, 300, 3600, 86400)),
             "parameters.date_range": _choose(("last_7_days", "last_30_days", "this_q")),
             "tags": _retag},
            lambda b: f"Query saved on {b['datasource']}"),
        "pipeline": _Group(
            "Pipeline", pipeline,
            {"schedule": lambda rng, old: (old, _other(rng, ("0 * * * *", "0 2 * * *",
                                                             "*/15 * * * *", "0 6 * * 1"), old)),
             "enabled": _toggle, "retries": _tweak(0, 10),
             "timeout_minutes": _choose((30, 60, 120, 240)), "cluster.workers": _tweak(1, 64),
             "cluster.node_type": _choose(("m5.xlarge", "m5.2xlarge", "r5.4xlarge")),
             "cluster.autoscale": _toggle, "notifications.on_failure": notify},
            lambda b: f"Pipeline created with schedule '{b['schedule']}'"),
        "experiment": _Group(
            "Experiment", experiment,
            {"params.learning_rate": _choose((0.01, 0.03, 0.05, 0.1, 0.3)),
             "params.max_depth": _tweak(2, 16),
             "params.n_estimators": _choose((100, 200, 400, 800, 1000)),
             "metric": _choose(("auc", "f1", "rmse", "logloss")),
             "description": _choose(_DESCRIPTIONS), "tags": _retag},
            lambda b: f"Experiment created tracking {b['metric']}"),
        "database": _Group(
            "Table", database,
            {"description": _choose(_DESCRIPTIONS),
             "classification": _choose(("public", "internal", "confidential", "restricted")),
             "retention_days": _choose((30, 90, 365, 730, 2555)), "owner_team": _choose(_TEAMS),
             "pii": _toggle, "schema.columns": _tweak(1, 80),
             "schema.partitioned_by": _choose((["date"], ["region", "date"], []))},
            lambda b: f"Table created with {b['schema']['columns']} columns"),
        "collection": _Group(
            "Collection", collection,
            {"description": _choose(_DESCRIPTIONS),
             "access.visibility": _choose(("private", "team", "organization")),
             "access.allow_downloads": _toggle,
             "embedding_model": _choose(("text-embedding-3-small", "bge-large-en-v1.5", None)),
             "tags": _retag},
            lambda b: f"Collection created ({b['access']['visibility']})"),
        "user": _Group(
            "User", user,
            {"role": _choose(("viewer", "member", "admin")),
             "status": lambda rng, old: (old, "suspended"), "mfa_enabled": _toggle,
             "teams": lambda rng, old: (old, _sample(rng, _TEAMS, 1, 3)),
             "locale": _choose(("en-US", "en-GB", "de-DE", "fr-FR"))},
            lambda b: f"User invited with role {b['role']}"),
        "team": _Group(
            "Team", team,
            {"description": _choose(_DESCRIPTIONS), "visibility": _choose(("public", "private"))},
            lambda b: f"Team created with {len(b['members'])} members"),
        "team_add": _Group("Team", team, {"members": add_member}, lambda b: "",
                           fixed=True, describe=members_text("Added", "to")),
        "team_remove": _Group("Team", team, {"members": remove_member}, lambda b: "",
                              fixed=True, describe=members_text("Removed", "from")),
        "promote_model": _Group(
            "Model", model,
            {"stage": promote_stage,
             "approved_by": lambda rng, old: (old, rng.choice(emails))},
            lambda b: "", fixed=True,
            describe=lambda b, a: f"Promoted model version {b['version']} from {b['stage']} "
            f"to {a['stage']}"),
        "promote_pipeline": _Group(
            "Pipeline", deployed,
            {"environment": lambda rng, old: (old, "production")}, lambda b: "", fixed=True,
            describe=lambda b, a: f"Promoted {b['version']} ({b['git_sha']}) from staging "
            "to production"),
    }  # fmt: skip
    return groups


def _get(state: dict[str, Any], path: str) -> Any:
    for part in path.split(".")[:-1]:
        state = state[part]
    return state[path.split(".")[-1]]


def _set(state: dict[str, Any], path: str, value: Any) -> None:
    for part in path.split(".")[:-1]:
        state = state[part]
    state[path.split(".")[-1]] = value


def _fragment(state: dict[str, Any]) -> tuple[str, str, bool]:
    """JSON text of a state split around the name placeholder: (before, after, has name)."""
    text = json.dumps(state, ensure_ascii=False)
    if _NAME not in text:
        return text, "", False
    pre, post = text.split(_NAME)
    return pre, post, True


@dataclass
class _Pools:
    """Text pools the events index into; the last entry of each list is null."""

    details: list[str | None]
    attrs: list[str | None]
    frag_pre: list[str | None]
    frag_post: list[str | None]
    frag_name: list[bool]


def _templates(
    rng: random.Random, emails: list[str], pools: _Pools, per_group: int
) -> dict[str, tuple[int, int, int, int]]:
    """Add before/after pairs for every group to the pools.

    Returns, per group, (first fragment, first update text, first created text, count).
    Template ``j`` has its before at ``fragment + 3j``, after at ``+ 1``, and the unchanged
    base state (what a ``created`` event shows) at ``+ 2``.
    """
    groups = _groups(emails)
    out: dict[str, tuple[int, int, int, int]] = {}
    for name, group in groups.items():
        frag0, upd0 = len(pools.frag_pre), len(pools.details)
        creates: list[str] = []
        for _ in range(per_group):
            base = group.base(rng, emails)
            changed: list[str] = []
            while not changed:  # a change can happen to be a no-op: draw again
                before = json.loads(json.dumps(base))
                after = json.loads(json.dumps(base))
                paths = list(group.changes)
                if not group.fixed:
                    k = min(len(paths), rng.choices((1, 2, 3), weights=(0.55, 0.3, 0.15))[0])
                    paths = [paths[i] for i in sorted(rng.sample(range(len(paths)), k))]
                for path in paths:
                    old, new = group.changes[path](rng, _get(base, path))
                    _set(before, path, old)
                    _set(after, path, new)
                changed = [p for p in paths if _get(before, p) != _get(after, p)]
            for state in (before, after, base):
                pre, post, has = _fragment(state)
                pools.frag_pre.append(pre)
                pools.frag_post.append(post)
                pools.frag_name.append(has)
            text = (
                group.describe(before, after)
                if group.describe
                else f"{group.label} updated: {', '.join(changed)}"
            )
            pools.details.append(text)
            pools.attrs.append(json.dumps({"changed_fields": changed}))
            creates.append(group.created(base))
        create0 = len(pools.details)
        pools.details.extend(creates)
        pools.attrs.extend([None] * len(creates))
        out[name] = (frag0, upd0, create0, per_group)
    return out


# ---------------------------------------------------------------------------------------
# The plan: everything decided once per call
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """Many discrete distributions (one per row), all sampled by one ``searchsorted``.

    Row ``r``'s cumulative probabilities are shifted by ``r`` and laid end to end, so
    ``r + u`` (``0 <= u < 1``) lands inside row ``r``: ``draw`` returns the index within
    the row, drawn with that row's probabilities.
    """

    flat: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[np.ndarray]) -> _Table:
        cums = []
        for r, weights in enumerate(rows):
            weights = np.asarray(weights, dtype=np.float64)
            total = weights.sum()
            cum = np.cumsum(weights) / total if total > 0 else np.ones(len(weights))
            cum[-1] = 1.0
            cums.append(cum + r)
        sizes = np.array([len(c) for c in cums], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(np.concatenate(cums), starts, sizes)

    def draw(self, row: np.ndarray, u: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.flat, row + u, side="right") - self.starts[row]
        return np.minimum(pos, self.sizes[row] - 1)


@dataclass
class _Plan:
    n: int
    seed: int
    key: int
    start_us: int
    minute_start: np.ndarray
    hour_cat: _Table  # hour → actor category
    cat_actor: _Table  # category → position in cat_members
    cat_members: np.ndarray
    actor_kind: np.ndarray
    actor_offset_s: np.ndarray
    actor_human: np.ndarray
    actor_ip: np.ndarray
    actor_ua: np.ndarray
    actor_random_ip: np.ndarray
    actor_shift: np.ndarray
    anon_ips: np.ndarray
    actor_names: pl.Series
    actor_types: pl.Series
    ip_pool: pl.Series
    ua_pool: pl.Series
    kind_op: _Table
    op_status: _Table
    op_rtype: np.ndarray
    op_created: np.ndarray
    op_deleted: np.ndarray
    op_self: np.ndarray
    op_mu: np.ndarray
    op_sigma: np.ndarray
    op_error: np.ndarray
    op_group: np.ndarray
    op_perm: np.ndarray
    op_text_off: np.ndarray
    op_text_n: np.ndarray
    op_names: pl.Series
    op_actions: pl.Series
    rtype_names: pl.Series
    type_rank: _Table
    type_offset: np.ndarray
    type_size: np.ndarray
    type_personal: np.ndarray
    type_group: np.ndarray
    rank_map: np.ndarray
    new_offset: np.ndarray
    new_size: np.ndarray
    prefixes: pl.Series
    res_ids: pl.Series
    res_names: pl.Series
    new_names: pl.Series
    res_account: np.ndarray
    account_cum: np.ndarray
    accounts: pl.Series
    group_frag: np.ndarray
    group_upd: np.ndarray
    group_create: np.ndarray
    group_n: np.ndarray
    perm_frag: int
    perm_text: int
    perm_count: int
    err_off: np.ndarray
    err_n: np.ndarray
    errors: pl.Series
    details: pl.Series
    attrs: pl.Series
    frag_pre: pl.Series
    frag_post: pl.Series
    frag_name: pl.Series


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijection on uint64 that scrambles bits (arrays only)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _mix_int(x: int) -> int:
    return int(_mix(np.array([x & _MASK64], dtype=np.uint64))[0])


def _draw(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def _emails(rng: np.random.Generator, count: int) -> list[str]:
    combos = len(_FIRST) * len(_LAST)
    take = min(count, combos)
    picks = rng.choice(combos, size=take, replace=False)
    out = [f"{_FIRST[i // len(_LAST)]}.{_LAST[i % len(_LAST)]}@company.com" for i in picks]
    for k in range(count - take):
        first, last = _FIRST[k % len(_FIRST)], _LAST[(k // len(_FIRST)) % len(_LAST)]
        out.append(f"{first}.{last}{k // combos + 2}@company.com")
    return out


def _v4(rng: random.Random, prefix: str) -> str:
    parts = prefix.split(".")
    while len(parts) < 4:
        parts.append(str(rng.randrange(1, 255)))
    return ".".join(parts)


def _public_ip(rng: random.Random, v6_share: float = 0.2) -> str:
    if rng.random() < v6_share:
        tail = ":".join(f"{rng.randrange(1 << 16):x}" for _ in range(6))
        return rng.choice(_PUBLIC_V6) + tail
    return _v4(rng, str(rng.choice(_PUBLIC_V4)))


def _resource_name(rng: random.Random, rtype: str) -> str:
    r = rng.random()
    if rtype == "notebook":
        if r < 0.08:
            return f"Untitled Notebook ({rng.randrange(1, 40)})"
        base = f"{rng.choice(_SUBJECTS)}-{rng.choice(_NB_KINDS)}"
        return base if r < 0.55 else f"{base}-v{rng.randrange(2, 9)}"
    if rtype == "experiment":
        return f"{rng.choice(_SUBJECTS)}-{rng.choice(_MODELS)}-v{rng.randrange(1, 15)}"
    if rtype == "pipeline":
        if r < 0.3:
            return f"{rng.choice(_CADENCES)}_{rng.choice(_SUBJECTS)}_{rng.choice(_STAGES)}"
        return f"{rng.choice(_SUBJECTS)}_{rng.choice(_STAGES)}_{rng.choice(_CADENCES)}".replace(
            "-", "_"
        )
    if rtype == "database":
        return f"{rng.choice(_SCHEMAS)}.{rng.choice(_TABLES)}{rng.choice(_TABLE_SUFFIXES)}"
    if rtype == "collection":
        return f"{rng.choice(_SUBJECTS)}-{rng.choice(_COLLECTION_KINDS)}" + (
            f"-{rng.randrange(2023, 2027)}" if r < 0.4 else ""
        )
    if rtype == "query":
        text = f"{rng.choice(_METRICS)} by {rng.choice(_DIMS)}"
        if r < 0.3:
            text += f" (last {rng.choice((7, 30, 90))} days)"
        elif r < 0.4:
            text = f"Top {rng.choice((10, 50, 100))} {rng.choice(_SUBJECTS)} by {rng.choice(_DIMS)}"
        return text
    if rtype == "report":
        if r < 0.15:
            return f"{rng.choice(_TOPICS)} {rng.choice(_REPORT_KINDS)}"
        return f"{rng.choice(_PERIODS)} {rng.choice(_TOPICS)} {rng.choice(_REPORT_KINDS)}"
    if rtype == "team":
        return rng.choice(_TEAMS) + (f" {rng.choice(('EMEA', 'APAC', 'US', 'LATAM'))}")
    raise AssertionError(rtype)


def _unique_names(rng: random.Random, rtype: str, count: int) -> list[str]:
    seen: dict[str, None] = {}
    tries = 0
    while len(seen) < count and tries < count * 3:
        seen[_resource_name(rng, rtype)] = None
        tries += 1
    names = base = list(seen)
    copy = 2
    while len(names) < count:  # the name space ran out: "name (2)", "name (3)", …
        names = names + [f"{name} ({copy})" for name in base[: count - len(names)]]
        copy += 1
    return names[:count]


def _variant_fields(rng: np.random.Generator, k: int) -> list[dict[str, Any]]:
    """k sets of values for the detail templates (numbers drawn vectorially)."""
    rows = (rng.lognormal(8.0, 2.3, k)).astype(np.int64) + 1
    width = rng.integers(60, 600, k)
    fmts = rng.choice(4, k, p=(0.45, 0.2, 0.2, 0.15))
    ints = {
        "cells": rng.integers(3, 80, k),
        "secs": rng.integers(1, 600, k),
        "run": rng.integers(1, 9999, k),
        "widgets": rng.integers(2, 25, k),
        "hours": rng.integers(8, 25, k),
        "mb": rng.integers(10, 5000, k),
    }
    score = rng.uniform(0.6, 0.97, k)
    method = rng.choice(3, k, p=(0.6, 0.3, 0.1))
    pick = rng.integers(0, 1 << 30, (k, 6))
    out = []
    tasks = ("extract", "load_orders", "transform_customers", "dedupe_events", "publish")
    for i in range(k):
        fmt = ("CSV", "Excel", "Parquet", "JSON")[fmts[i]]
        subject = _SUBJECTS[pick[i, 0] % len(_SUBJECTS)]
        out.append(
            {
                "rows": f"{int(rows[i]):,}",
                "rows_raw": int(rows[i]),
                "bytes": int(rows[i] * width[i]),
                "fmt": fmt,
                "fmt_key": ("csv", "xlsx", "parquet", "json")[fmts[i]],
                "file": (
                    f"{subject}_2026-{int(pick[i, 1] % 10) + 1:02d}.csv",
                    f"s3://acme-landing/{subject}/part-{int(pick[i, 1] % 100):05d}.parquet",
                    f"{subject}_upload.xlsx",
                )[pick[i, 2] % 3],
                "nbfile": f"{subject}-{_NB_KINDS[pick[i, 3] % len(_NB_KINDS)]}.ipynb",
                "nbfmt": ("HTML", "PDF", "ipynb", "Python script")[pick[i, 4] % 4],
                "metric": "auc",
                "score": f"{score[i]:.3f}",
                "score_raw": round(float(score[i]), 3),
                "task": tasks[pick[i, 5] % len(tasks)],
                "trigger": ("schedule", "schedule", "schedule", "manual", "api")[pick[i, 1] % 5],
                "method": ("SSO (Okta)", "password and MFA", "password")[method[i]],
                "method_key": ("sso", "password", "password")[method[i]],
                "mfa_used": bool(method[i] < 2),
                "mfa": ("an authenticator app", "a security key", "SMS")[pick[i, 2] % 3],
                **{name: int(v[i]) for name, v in ints.items()},
            }
        )
    return out


def _variant_attrs(kind: str | None, status: int, f: dict[str, Any]) -> str | None:
    if kind == "export":
        return json.dumps({"rows": f["rows_raw"], "bytes": f["bytes"], "format": f["fmt_key"]})
    if kind == "import":
        return json.dumps({"rows": f["rows_raw"], "bytes": f["bytes"], "source": f["file"]})
    if kind == "file":
        return json.dumps({"file": f["nbfile"], "bytes": f["bytes"] // 7})
    if kind == "pipeline":
        attrs: dict[str, Any] = {"run_id": f["run"], "trigger": f["trigger"]}
        if status == 0:
            attrs["rows"] = f["rows_raw"]
        return json.dumps(attrs)
    if kind == "training":
        return json.dumps({"run_id": f["run"], **({"auc": f["score_raw"]} if status == 0 else {})})
    if kind == "login" and status == 0:
        return json.dumps({"method": f["method_key"], "mfa": f["mfa_used"]})
    return None


@dataclass
class _Actors:
    names: list[str]
    types: list[str]
    kinds: np.ndarray
    offsets: np.ndarray
    ips: np.ndarray  # (actors, 3) indices into ip_pool; len(ip_pool) means null
    uas: np.ndarray  # (actors, 2) indices into ua_pool
    random_ip: np.ndarray  # anonymous actors: a random public address per event
    ip_pool: list[str]
    ua_pool: list[str]
    anon_ips: np.ndarray
    emails: list[str]  # people, in actor order (actor i < len(emails) is person i)
    new_emails: list[str]  # for invited users
    categories: list[tuple[np.ndarray, np.ndarray]]  # (actor indices, weights)
    zone_mass: np.ndarray


def _actors(rng: np.random.Generator, pr: random.Random, n_users: int) -> _Actors:
    """People (by zone, role, Zipf activity), API keys, service accounts, system, anonymous."""
    emails = _emails(rng, n_users + 200)
    new_emails, emails = emails[n_users:], emails[:n_users]
    kind_of = rng.choice(4, n_users, p=(0.04, 0.2, 0.46, 0.3))
    kind_of[0] = 0  # at least one admin
    user_w = np.arange(1, n_users + 1) ** -1.0 * rng.lognormal(0, 0.2, n_users)
    user_w = user_w[rng.permutation(n_users)]
    # zones: fill each zone's share of activity (not of head count), heaviest people first,
    # so one power user cannot move the company's working hours
    target = np.array([z[2] for z in _ZONES]) * user_w.sum()
    mass = np.zeros(len(_ZONES))
    zone_of = np.zeros(n_users, dtype=np.int64)
    for i in np.argsort(-user_w, kind="stable"):
        gap = np.maximum(target - mass, 0) * rng.uniform(0.8, 1.2, len(_ZONES))
        zone_of[i] = int(np.argmax(gap))
        mass[zone_of[i]] += user_w[i]
    n_keys = max(3, n_users // 120)
    keys = [f"ak_live_{pr.getrandbits(96):024x}" for _ in range(n_keys)]

    ip_ids: dict[str, int] = {}
    ua_ids: dict[str, int] = {}
    names: list[str] = []
    types: list[str] = []
    kinds: list[int] = []
    offsets: list[int] = []
    ips: list[tuple[str | None, str | None, str | None]] = []
    uas: list[tuple[str, str]] = []

    def add(name: str, atype: str, kind: str | int, ip: tuple[Any, Any, Any], ua: tuple[str, str],
            offset: int = 0) -> None:  # fmt: skip
        names.append(name)
        types.append(atype)
        kinds.append(kind if isinstance(kind, int) else _KINDS.index(kind))
        offsets.append(offset)
        ips.append(ip)
        uas.append(ua)

    for i in range(n_users):
        zone = _ZONES[int(zone_of[i])]
        office = _v4(pr, pr.choice(zone[3]))
        home = _public_ip(pr, 0.25)
        other = _public_ip(pr, 0.3) if pr.random() < 0.5 else _v4(pr, pr.choice(zone[3]))
        tool = pr.choice(_SDKS) if kind_of[i] in (1, 3) else pr.choice(_BROWSERS)
        add(emails[i], "user", int(kind_of[i]), (office, home, other),
            (pr.choice(_BROWSERS), tool), zone[1] * 3600)  # fmt: skip
    for i, key in enumerate(keys):
        cloud = _v4(pr, pr.choice(_CLOUD_V4).rstrip("."))
        agent = _API_AGENTS[i % len(_API_AGENTS)]
        add(key, "api_key", "api", (cloud, _v4(pr, cloud.rsplit(".", 1)[0]), _v4(pr, "10.20")),
            (agent, agent))  # fmt: skip
    for svc, kind, _, agent in _SERVICES:
        add(svc, "service_account", kind, (_v4(pr, "10.0"), _v4(pr, "10.0"), _v4(pr, "10.1")),
            (agent, agent))  # fmt: skip
    add("system", "system", "sys", (None, None, None), ("platform-internal/1.0",) * 2)
    typos = []
    for email in emails[:12]:
        local = email.split("@")[0]
        j = pr.randrange(1, max(2, len(local) - 1))
        typos.append(local[: j - 1] + local[j] + local[j - 1] + local[j + 1 :] + "@company.com")
    anon = list(dict.fromkeys([*_ANON_ACTORS, *typos]))
    for actor in anon:
        agent = pr.choice((*_BROWSERS, "python-requests/2.32.3", "curl/8.5.0"))
        add(actor, "anonymous", "anl", (None, None, None), (agent, agent))
    add("anonymous", "anonymous", "anp", (None, None, None), (_BROWSERS[0], _BROWSERS[3]))
    for ip_row in ips:
        for ip in ip_row:
            if ip is not None:
                ip_ids.setdefault(ip, len(ip_ids))
    anon_ips = [_public_ip(pr, 0.2) for _ in range(300)]
    for ip in anon_ips:
        ip_ids.setdefault(ip, len(ip_ids))
    for ua_row in uas:
        for ua in ua_row:
            ua_ids.setdefault(ua, len(ua_ids))

    first_key = n_users
    first_svc = first_key + n_keys
    system = first_svc + len(_SERVICES)
    public = len(names) - 1
    categories: list[tuple[np.ndarray, np.ndarray]] = []
    zone_mass = np.zeros(len(_ZONES))
    for z in range(len(_ZONES)):
        members = np.flatnonzero(zone_of == z)
        zone_mass[z] = user_w[members].sum()
        categories.append((members, user_w[members]) if len(members) else (np.zeros(1), np.ones(1)))
    categories += [
        (np.arange(first_key, first_svc), np.arange(1, n_keys + 1) ** -1.2),
        (np.arange(first_svc, system), np.array([s[2] for s in _SERVICES])),
        (np.array([system]), np.ones(1)),
        (np.arange(system + 1, public), np.ones(public - system - 1)),
        (np.array([public]), np.ones(1)),
    ]
    null_ip = len(ip_ids)
    return _Actors(
        names=names,
        types=types,
        kinds=np.array(kinds, dtype=np.int64),
        offsets=np.array(offsets, dtype=np.int64),
        ips=np.array([[null_ip if ip is None else ip_ids[ip] for ip in row] for row in ips]),
        uas=np.array([[ua_ids[ua] for ua in row] for row in uas], dtype=np.int64),
        random_ip=np.array([t == "anonymous" for t in types]),
        ip_pool=list(ip_ids),
        ua_pool=list(ua_ids),
        anon_ips=np.array([ip_ids[ip] for ip in anon_ips], dtype=np.int64),
        emails=emails,
        new_emails=new_emails,
        categories=[(m.astype(np.int64), w) for m, w in categories],
        zone_mass=zone_mass,
    )


def _clock(
    rng: np.random.Generator, n: int, start_us: int, days: int, zone_mass: np.ndarray
) -> tuple[np.ndarray, _Table]:
    """Events per minute, and the actor category of each hour.

    People work 8-19 local time on weekdays in their zone; API keys loosely follow office
    hours; service accounts run around the clock but more while people work (and at
    midnight UTC, batch jobs); the system and sign-in bots are flat.
    """
    hours = days * 24
    mid_s = start_us // 1_000_000 + np.arange(hours, dtype=np.int64) * 3600 + 1800
    day = (mid_s - mid_s[0]) // 86_400
    day_factor = rng.lognormal(0.0, 0.08, days + 1)[day] * (1 + 0.1 * day / days)
    nz = len(_ZONES)
    rates = np.zeros((hours, nz + 5))
    for z, zone in enumerate(_ZONES):
        local = mid_s + zone[1] * 3600
        weekend = ((local // 86_400 + 3) % 7) >= 5  # 1970-01-01 was a Thursday
        rates[:, z] = zone_mass[z] * _HOURLY[(local // 3600) % 24] * np.where(weekend, _WEEKEND, 1)
    rates[:, :nz] *= day_factor[:, None]
    human = rates[:, :nz].sum(axis=1)
    office = human / human.max()
    shapes = (
        0.35 + 0.65 * office,  # API keys
        (0.6 + 0.4 * office) * np.where((mid_s // 3600) % 24 < 2, 1.5, 1.0),  # services
        np.ones(hours),  # system
        np.ones(hours),  # sign-in attempts by bots
        office,  # public report links
    )
    shares = (0.815, 0.085, 0.08, 0.01, 0.006, 0.004)
    rates[:, :nz] *= shares[0] / human.sum()
    for j, (shape, share) in enumerate(zip(shapes, shares[1:], strict=True)):
        rates[:, nz + j] = shape * share / shape.sum()
    total = rates.sum(axis=1)
    minute_p = np.repeat(total / total.sum() / 60.0, 60)
    counts = rng.multinomial(n, minute_p / minute_p.sum())
    minute_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return minute_start, _Table.of(list(rates))


def _texts(rng: np.random.Generator, pools: _Pools) -> tuple[np.ndarray, np.ndarray]:
    """Detail and attribute variants for every (operation, status): (offsets, counts).

    Operations with numbers in their text get 192 variants, others 24 (or one when the
    text is fixed), each a window into one shared pool of drawn values.
    """
    shared = _variant_fields(rng, 1024)
    n_ops = len(_OPS)
    off = np.zeros((n_ops, 4), np.int64)
    count = np.ones((n_ops, 4), np.int64)
    starts = rng.integers(0, len(shared), (n_ops, 4))
    for o, op in enumerate(_OPS):
        many = "{rows}" in op.text or op.attrs is not None
        for s, p in enumerate(_PROFILES[op.status]):
            if p == 0:
                continue
            template = (op.text, op.fail, f"{op.label} started", f"{op.label} queued")[s]
            k = (192 if many else 24) if "{" in template or many else 1
            off[o, s] = len(pools.details)
            count[o, s] = k
            for i in range(k):
                f = shared[(starts[o, s] + i) % len(shared)]
                pools.details.append(template.format(**f))
                pools.attrs.append(_variant_attrs(op.attrs, s, f))
    return off, count


def _permissions(
    pr: random.Random,
    pools: _Pools,
    size: int,
    pick_target: Callable[[str], int],
    res_ids: list[str],
    res_names: list[str],
    emails: list[str],
    teams: list[str],
) -> tuple[list[str], list[int]]:
    """Grants of a role on a resource to a person or team, with their texts and states.

    Adds 6 fragments (grant, revoke, role change: before and after) and 5 texts (grant,
    revoke, update, view, expire) per permission to the pools, each block ``size`` long.
    Returns the permissions' names and their targets' global resource index.
    """
    targets = ("report", "notebook", "query", "collection", "database", "experiment", "pipeline")
    roles = ("viewer", "editor", "runner", "owner")
    people = np.arange(1, len(emails) + 1) ** -0.6
    people_cum = np.cumsum(people) / people.sum()
    names, target_index = [], []
    states: list[list[dict[str, Any]]] = [[] for _ in range(6)]
    texts: list[list[str]] = [[] for _ in _PERM_TEXTS]
    attrs = []
    for _ in range(size):
        ttype = pr.choices(targets, weights=(0.35, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05))[0]
        g = pick_target(ttype)
        target_id, target_name = res_ids[g], res_names[g]
        if pr.random() < 0.8:
            grantee, gtype = emails[int(np.searchsorted(people_cum, pr.random()))], "user"
        else:
            grantee, gtype = pr.choice(teams), "team"
        role = pr.choices(roles, weights=(0.5, 0.3, 0.1, 0.1))[0]
        new_role = _other(pr, roles, role)
        names.append(f"{target_name} ({grantee})")
        target_index.append(g)
        ref = f"{ttype}:{target_id}"
        none, has, moved = ({"resource": ref, "grantee": grantee, "role": r}
                            for r in (None, role, new_role))  # fmt: skip
        for j, state in enumerate((none, has, has, none, has, moved)):
            states[j].append(state)
        what = f"{ttype} '{target_name}'"
        texts[0].append(f"Granted {role} on {what} to {grantee}")
        texts[1].append(f"Revoked {role} on {what} from {grantee}")
        texts[2].append(f"Changed {grantee} from {role} to {new_role} on {what}")
        texts[3].append(f"Viewed who can access {what}")
        texts[4].append(f"Temporary {role} access to {what} for {grantee} expired")
        attrs.append(json.dumps({"target_type": ttype, "target_id": target_id,
                                 "target_name": target_name, "grantee": grantee,
                                 "grantee_type": gtype, "role": role}))  # fmt: skip
    for block in states:
        for state in block:
            pools.frag_pre.append(json.dumps(state))
            pools.frag_post.append("")
            pools.frag_name.append(False)
    for block_texts in texts:
        pools.details.extend(block_texts)
        pools.attrs.extend(attrs)
    return names, target_index


def _plan(n: int, seed: int, end: datetime | None, days: int, users: int | None) -> _Plan:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise GenerateError(f"n must be a non-negative int, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise GenerateError(f"seed must be an int, got {seed!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise GenerateError(f"days must be a positive int, got {days!r}")
    if users is not None and (isinstance(users, bool) or not isinstance(users, int) or users < 1):
        raise GenerateError(f"users must be a positive int or None, got {users!r}")
    end = DEFAULT_END if end is None else end
    if not isinstance(end, datetime) or end.utcoffset() is None:
        raise GenerateError(
            f"end must be a timezone-aware datetime, got {end!r}\n"
            "Hint: pass e.g. datetime(2026, 11, 1, tzinfo=datetime.UTC)"
        )
    seed &= _MASK64
    n_users = users if users is not None else min(5000, max(50, n // 200))
    rng = np.random.default_rng([seed, 0x706C616E])
    key = _mix_int(seed ^ 0x5EED5EED5EED5EED)
    pr = random.Random(key)
    end_us = int(end.timestamp()) * 1_000_000 + end.microsecond
    start_us = end_us - days * 86_400_000_000

    actors = _actors(rng, pr, n_users)
    minute_start, hour_cat = _clock(rng, n, start_us, days, actors.zone_mass)

    # resources: a pool per type (ids nb_000001…), Zipf popularity over a shuffled order
    n_res = int(np.clip(n // 100, 300, 10_000))
    sizes = [
        n_users if t == "user" else int(np.clip(n_users // 25, 4, 60)) if t == "team"
        else max(5, int(n_res * share))
        for t, _, share, _ in _RESOURCES
    ]  # fmt: skip
    type_offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    res_names: list[str] = []
    res_ids: list[str] = []
    new_names: list[str] = []
    new_offset = [0]
    zipf = []
    for t, (rtype, prefix, _, _) in enumerate(_RESOURCES):
        size = sizes[t]
        if rtype == "user":
            pool, fresh = actors.emails, actors.new_emails
        elif rtype == "permission":
            pool, fresh = [""] * size, ["-"]  # named below, once their targets exist
        else:
            both = _unique_names(pr, rtype, size + 300)
            pool, fresh = both[:size], both[size:]
        res_names.extend(pool)
        res_ids.extend(f"{prefix}_{i:06d}" for i in range(1, size + 1))
        new_names.extend(fresh)
        new_offset.append(len(new_names))
        zipf.append(np.arange(1, size + 1) ** -1.0 * rng.lognormal(0.0, 0.25, size))
    type_rank = _Table.of([np.sort(w)[::-1] for w in zipf])
    rank_map = np.concatenate(
        [type_offset[t] + rng.permutation(sizes[t]) for t in range(len(_RESOURCES))]
    )
    account_p = np.array([a[1] for a in _ACCOUNTS])
    res_account = rng.choice(len(_ACCOUNTS), len(res_ids), p=account_p)

    def pick_target(rtype: str) -> int:
        t = _RTYPES.index(rtype)
        rank = int(type_rank.draw(np.array([t]), np.array([pr.random()]))[0])
        return int(rank_map[type_offset[t] + rank])

    pools = _Pools(details=[], attrs=[], frag_pre=[], frag_post=[], frag_name=[])
    op_text_off, op_text_n = _texts(rng, pools)
    groups = _templates(pr, actors.emails, pools, per_group=120)
    group_names = list(groups)
    perm_t = _RTYPES.index("permission")
    perm_frag, perm_text = len(pools.frag_pre), len(pools.details)
    teams = res_names[type_offset[_RTYPES.index("team")] : type_offset[_RTYPES.index("team") + 1]]
    perm_names, perm_targets = _permissions(
        pr, pools, sizes[perm_t], pick_target, res_ids, res_names, actors.emails, teams
    )
    res_names[type_offset[perm_t] : type_offset[perm_t + 1]] = perm_names
    res_account[type_offset[perm_t] : type_offset[perm_t + 1]] = res_account[perm_targets]
    for pool_list in (pools.details, pools.attrs, pools.frag_pre, pools.frag_post):
        pool_list.append(None)
    pools.frag_name.append(False)
    for name in res_names + new_names:
        if json.dumps(name, ensure_ascii=False)[1:-1] != name:
            raise AssertionError(f"resource name needs JSON escaping: {name!r}")

    db = _RTYPES.index("database")
    databases = res_names[type_offset[db] : type_offset[db + 1]]
    errors = _error_pools(pr, databases)
    err_list: list[str | None] = []
    err_off, err_n = [], []
    for cls in _ERROR_CLASSES:
        err_off.append(len(err_list))
        err_n.append(len(errors[cls]))
        err_list.extend(errors[cls])
    err_list.append(None)

    kind_weights = [[op.weights.get(k, 0.0) for op in _OPS] for k in _KINDS]

    def series(values: Sequence[Any], dtype: Any = pl.String) -> pl.Series:
        return pl.Series(values=list(values), dtype=dtype)

    def index(values: Sequence[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    return _Plan(
        n=n,
        seed=seed,
        key=key,
        start_us=start_us,
        minute_start=minute_start,
        hour_cat=hour_cat,
        cat_actor=_Table.of([w for _, w in actors.categories]),
        cat_members=np.concatenate([m for m, _ in actors.categories]),
        actor_kind=actors.kinds,
        actor_offset_s=actors.offsets,
        actor_human=np.array([t == "user" for t in actors.types]),
        actor_ip=actors.ips,
        actor_ua=actors.uas,
        actor_random_ip=actors.random_ip,
        actor_shift=rng.integers(0, 1 << 20, len(actors.names)),
        anon_ips=actors.anon_ips,
        actor_names=series(actors.names),
        actor_types=series(actors.types, ActorType),
        ip_pool=series([*actors.ip_pool, None]),
        ua_pool=series(actors.ua_pool),
        kind_op=_Table.of([np.array(w) for w in kind_weights]),
        op_status=_Table.of([np.array(_PROFILES[op.status]) for op in _OPS]),
        op_rtype=index([_RTYPES.index(op.rtype) for op in _OPS]),
        op_created=np.array([op.action == "created" for op in _OPS]),
        op_deleted=np.array([op.action == "deleted" for op in _OPS]),
        op_self=np.array([op.self_target for op in _OPS]),
        op_mu=np.log([op.median_ms for op in _OPS]),
        op_sigma=np.array([op.sigma for op in _OPS]),
        op_error=index([_ERROR_CLASSES.index(op.error) for op in _OPS]),
        op_group=index([group_names.index(op.group) if op.group else -1 for op in _OPS]),
        op_perm=index([_PERM_TEXTS.index(op.perm) if op.perm else -1 for op in _OPS]),
        op_text_off=op_text_off,
        op_text_n=op_text_n,
        op_names=series([op.name for op in _OPS]),
        op_actions=series([op.action for op in _OPS]),
        rtype_names=series(_RTYPES),
        type_rank=type_rank,
        type_offset=type_offset,
        type_size=index(sizes),
        type_personal=np.array([r[3] for r in _RESOURCES]),
        type_group=index([group_names.index(t) if t in group_names else -1 for t in _RTYPES]),
        rank_map=rank_map,
        new_offset=index(new_offset),
        new_size=np.diff(index(new_offset)),
        prefixes=series([r[1] + "_" for r in _RESOURCES]),
        res_ids=series([*res_ids, None]),
        res_names=series([*res_names, None]),
        new_names=series(new_names),
        res_account=res_account,
        account_cum=np.cumsum(account_p) / account_p.sum(),
        accounts=series([a[0] for a in _ACCOUNTS]),
        group_frag=index([groups[g][0] for g in group_names]),
        group_upd=index([groups[g][1] for g in group_names]),
        group_create=index([groups[g][2] for g in group_names]),
        group_n=index([groups[g][3] for g in group_names]),
        perm_frag=perm_frag,
        perm_text=perm_text,
        perm_count=sizes[perm_t],
        err_off=index(err_off),
        err_n=index(err_n),
        errors=series(err_list),
        details=series(pools.details),
        attrs=series(pools.attrs),
        frag_pre=series(pools.frag_pre),
        frag_post=series(pools.frag_post),
        frag_name=series(pools.frag_name, pl.Boolean),
    )


# ---------------------------------------------------------------------------------------
# Making events
# ---------------------------------------------------------------------------------------


@cache
def _hex_words() -> np.ndarray:
    """Every 16-bit value → its 4 hex digits, packed so the bytes read in order in memory."""
    return np.frombuffer("".join(f"{i:04x}" for i in range(1 << 16)).encode(), dtype=np.uint32)


def _hex(x: np.ndarray, digits: int) -> np.ndarray:
    """(n, digits) ASCII hex of the top ``digits`` nibbles of each uint64 (digits % 4 == 0)."""
    words = x.astype(">u8").view(">u2").reshape(-1, 4)[:, : digits // 4]
    return np.take(_hex_words(), words).view(np.uint8).reshape(-1, digits)


def _strings(parts: Sequence[bytes | np.ndarray], rows: int) -> pl.Series:
    """A String Series from fixed-width byte blocks, built without Python objects per row."""
    blocks = [
        np.broadcast_to(np.frombuffer(p, dtype=np.uint8), (rows, len(p)))
        if isinstance(p, bytes)
        else p
        for p in parts
    ]
    buf = np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.uint8)
    width = buf.shape[1]
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(buf))
    series = pl.from_arrow(array)
    assert isinstance(series, pl.Series)
    return series


def _chunk(plan: _Plan, c: int) -> pl.DataFrame:
    """Events ``c * _CHUNK`` up to the next chunk, from chunk ``c``'s own random stream."""
    lo = c * _CHUNK
    hi = min(plan.n, lo + _CHUNK)
    m = hi - lo
    rng = np.random.default_rng([plan.seed, 1, c])
    u = rng.random((13, m))  # one row of uniforms per decision below
    idx = np.arange(lo, hi, dtype=np.int64)

    # when: the event's minute, then a jittered slot inside it (sorted by construction)
    m0, m1 = np.searchsorted(plan.minute_start, [lo, hi - 1], side="right") - 1
    starts = np.clip(plan.minute_start[m0 : m1 + 2], lo, hi)
    minute = np.repeat(np.arange(m0, m1 + 1), np.diff(starts))
    first = plan.minute_start[minute]
    frac = (idx - first + u[0]) / (plan.minute_start[minute + 1] - first)
    ts = plan.start_us + minute * 60_000_000 + (frac * 60_000_000).astype(np.int64)

    # who: a category by hour (zones of people, machines), an actor within it by activity
    cat = plan.hour_cat.draw(minute // 60, u[1])
    actor = plan.cat_members[plan.cat_actor.starts[cat] + plan.cat_actor.draw(cat, u[2])]
    human = plan.actor_human[actor]

    # what, and how it went
    op = plan.kind_op.draw(plan.actor_kind[actor], u[3])
    status = plan.op_status.draw(op, u[4])
    success = status == 0
    rtype = plan.op_rtype[op]
    created = plan.op_created[op]

    # on which resource: Zipf per type, partly each actor's own favourites, deletes uniform
    size = plan.type_size[rtype]
    rank = plan.type_rank.draw(rtype, u[5])
    personal = u[6] < plan.type_personal[rtype]
    rank = np.where(personal, (rank + plan.actor_shift[actor]) % size, rank)
    deleted = plan.op_deleted[op]
    rank = np.where(deleted, np.minimum((u[6] * size).astype(np.int64), size - 1), rank)
    res = plan.rank_map[plan.type_offset[rtype] + rank]
    own = plan.op_self[op]
    res = np.where(own & human, plan.type_offset[_RTYPES.index("user")] + actor, res)
    res = np.where(own & ~human, len(plan.res_ids) - 1, res)  # sign-in to no known account
    free = created | own
    known = plan.res_account[np.minimum(res, len(plan.res_account) - 1)]
    account = np.where(free, _draw(plan.account_cum, u[7]), known)

    # details + attributes (one index), before/after (fragment indices), errors
    text = plan.op_text_off[op, status] + (u[8] * plan.op_text_n[op, status]).astype(np.int64)
    none = len(plan.frag_pre) - 1
    before = np.full(m, none, dtype=np.int64)
    after = np.full(m, none, dtype=np.int64)
    group = plan.op_group[op]
    rows = np.flatnonzero((group >= 0) & success)
    g = group[rows]
    frag = plan.group_frag[g] + 3 * (u[9][rows] * plan.group_n[g]).astype(np.int64)
    j = (frag - plan.group_frag[g]) // 3
    new = created[rows]
    text[rows] = np.where(new, plan.group_create[g], plan.group_upd[g]) + j
    before[rows] = np.where(new, none, frag)
    after[rows] = np.where(new, frag + 2, frag + 1)
    rows = np.flatnonzero(deleted & success & (plan.type_group[rtype] >= 0))
    g = plan.type_group[rtype[rows]]
    before[rows] = plan.group_frag[g] + 3 * (u[9][rows] * plan.group_n[g]).astype(np.int64) + 1
    rows = np.flatnonzero((plan.op_perm[op] >= 0) & success)
    local = res[rows] - plan.type_offset[_RTYPES.index("permission")]
    kind = plan.op_perm[op[rows]]
    text[rows] = plan.perm_text + kind * plan.perm_count + local
    pair = np.array([0, 1, 2, -1, 1])[kind]  # grant, revoke, update, (view), expire=revoke
    rows, local, pair = rows[pair >= 0], local[pair >= 0], pair[pair >= 0]
    before[rows] = plan.perm_frag + 2 * pair * plan.perm_count + local
    after[rows] = before[rows] + plan.perm_count
    failed = np.flatnonzero(status == 1)
    cls = plan.op_error[op[failed]]
    err = np.full(m, len(plan.errors) - 1, dtype=np.int64)
    err[failed] = plan.err_off[cls] + (u[10][failed] * plan.err_n[cls]).astype(np.int64)

    duration = np.exp(plan.op_mu[op] + plan.op_sigma[op] * rng.standard_normal(m)).round(3)
    duration[status >= 2] = np.nan  # still running or queued: no duration yet
    # delivery: stored a few seconds to minutes after it happened (median 20 s, ≤ 1 h)
    delivery_us = (np.exp(3.0 + rng.standard_normal(m)).clip(1, 3600) * 1e6).astype(np.int64)

    # from where: the actor's usual addresses and agents
    slot = np.where(u[11] < 0.8, 0, np.where(u[11] < 0.95, 1, 2))
    ip = plan.actor_ip[actor, slot]
    anon = plan.actor_random_ip[actor]
    ip[anon] = plan.anon_ips[(u[9][anon] * len(plan.anon_ips)).astype(np.int64)]
    ua = plan.actor_ua[actor, (u[12] >= 0.9).astype(np.int64)]

    # ids: bijective in the event index, so unique for a seed
    key = np.uint64(plan.key)
    h = _mix(idx.astype(np.uint64) + key)
    h2 = _mix(h ^ np.uint64(0xA5A5A5A5A5A5A5A5))
    local_day = (ts // 1_000_000 + plan.actor_offset_s[actor]) // 86_400
    sess = _mix((actor.astype(np.uint64) << np.uint64(24)) + local_day.astype(np.uint64) + key)
    event_id = _strings([b"evt_", _hex(h, 16), _hex(h2, 4)], m)
    request_id = _strings([b"req_", _hex(_mix(h2), 16), _hex(_mix(h2 + np.uint64(1)), 8)], m)
    session_id = _strings([b"sess_", _hex(sess, 16)], m)

    # new resources for created events: the next ids of their type, and fresh names
    rows = np.flatnonzero(created)
    t = rtype[rows]
    fresh_id = pl.DataFrame(
        {"p": plan.prefixes.gather(t), "n": plan.type_size[t] + 1 + idx[rows]}
    ).select(pl.concat_str("p", pl.col("n").cast(pl.String).str.zfill(6)))
    picks = plan.new_offset[t] + (u[8][rows] * plan.new_size[t]).astype(np.int64)
    res_id = plan.res_ids.gather(res).scatter(rows, fresh_id.to_series())
    res_name = plan.res_names.gather(res).scatter(rows, plan.new_names.gather(picks))

    frame = pl.DataFrame(
        {
            "event_id": event_id,
            "timestamp": pl.Series(ts).cast(SCHEMA["timestamp"]),
            "ingested_at": pl.Series(ts + delivery_us).cast(SCHEMA["ingested_at"]),
            "actor": plan.actor_names.gather(actor),
            "actor_type": plan.actor_types.gather(actor),
            "action": plan.op_actions.gather(op),
            "operation": plan.op_names.gather(op),
            "resource_type": plan.rtype_names.gather(rtype),
            "resource_id": res_id,
            "resource_name": res_name,
            "status": pl.Series(STATUSES, dtype=Status).gather(status),
            "ip_address": plan.ip_pool.gather(ip),
            "user_agent": plan.ua_pool.gather(ua),
            "session_id": session_id,
            "request_id": request_id,
            "duration_ms": pl.Series(duration).fill_nan(None),
            "details": plan.details.gather(text),
            "error_message": plan.errors.gather(err),
            "_b_pre": plan.frag_pre.gather(before),
            "_b_post": plan.frag_post.gather(before),
            "_b_name": plan.frag_name.gather(before),
            "_a_pre": plan.frag_pre.gather(after),
            "_a_post": plan.frag_post.gather(after),
            "_a_name": plan.frag_name.gather(after),
            "account": plan.accounts.gather(account),
            "attributes": plan.attrs.gather(text),
            "_human": human,
        }
    )
    name = pl.col("resource_name")

    def fill(prefix: str) -> pl.Expr:
        part = pl.when(pl.col(f"{prefix}_name")).then(name).otherwise(pl.lit(""))
        return pl.concat_str(pl.col(f"{prefix}_pre"), part, pl.col(f"{prefix}_post"))

    frame = frame.with_columns(
        before=fill("_b"),
        after=fill("_a"),
        session_id=pl.when("_human").then("session_id"),
        source=pl.lit("native"),
        resource_name=pl.when(pl.col("actor_type") == "anonymous", pl.col("action") == "login")
        .then("actor")
        .otherwise(name),
    )
    return conform(frame.drop(pl.selectors.starts_with("_")))


def _chunks(plan: _Plan) -> Iterator[pl.DataFrame]:
    """Every chunk in order; the next one is made on a second thread meanwhile."""
    count = (plan.n + _CHUNK - 1) // _CHUNK
    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead = [pool.submit(_chunk, plan, c) for c in range(min(2, count))]
        for c in range(count):
            frame = ahead.pop(0).result()
            if c + 2 < count:
                ahead.append(pool.submit(_chunk, plan, c + 2))
            yield frame


def _batches(plan: _Plan, batch_size: int) -> Iterator[pl.DataFrame]:
    pending: list[pl.DataFrame] = []
    have = 0
    for frame in _chunks(plan):
        while frame.height:
            take = min(batch_size - have, frame.height)
            pending.append(frame.slice(0, take))
            have += take
            frame = frame.slice(take)
            if have == batch_size:
                yield pl.concat(pending) if len(pending) > 1 else pending[0]
                pending, have = [], 0
    if pending:
        yield pl.concat(pending) if len(pending) > 1 else pending[0]


def generate(
    n: int,
    *,
    seed: int = 0,
    end: datetime | None = None,
    days: int = 90,
    users: int | None = None,
) -> pl.DataFrame:
    """Make ``n`` realistic platform activity events.

    Args:
        n: number of events.
        seed: any int; the same arguments always give the same frame.
        end: timezone-aware end of the window (exclusive); defaults to :data:`DEFAULT_END`
            (2026-11-01T00:00Z), never the wall clock.
        days: length of the window in days.
        users: number of people; defaults to ``min(5000, max(50, n // 200))``.

    Returns:
        A frame in the canonical schema (:data:`auditkit.schema.SCHEMA`), sorted by
        timestamp; ``ingested_at`` is when a log pipeline would have delivered each event
        (a few seconds to minutes later, median 20 s, never more than an hour), so a
        generated store passes ``auditkit validate``'s late-arrival check.

    Raises:
        GenerateError: an argument is out of range.

    Example:
        >>> events = generate(1_000, seed=7)
        >>> events.height, events["timestamp"].is_sorted()
        (1000, True)
    """
    plan = _plan(n, seed, end, days, users)
    if n == 0:
        return empty()
    frames = list(_chunks(plan))
    return (pl.concat(frames) if len(frames) > 1 else frames[0]).rechunk()


def iter_generate(
    n: int,
    *,
    seed: int = 0,
    end: datetime | None = None,
    days: int = 90,
    users: int | None = None,
    batch_size: int = 1_000_000,
) -> Iterator[pl.DataFrame]:
    """Make the same events as :func:`generate`, ``batch_size`` rows at a time.

    Memory stays flat however large ``n`` is. The batches are in timestamp order and,
    put together, equal ``generate(n, ...)`` with the same arguments, whatever the
    batch size.

    Args:
        n: number of events.
        seed: see :func:`generate`.
        end: see :func:`generate`.
        days: see :func:`generate`.
        users: see :func:`generate`.
        batch_size: rows per batch (the last one may be shorter).

    Returns:
        An iterator of frames in the canonical schema.

    Raises:
        GenerateError: an argument is out of range (raised at the call, not at the first
            batch).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise GenerateError(f"batch_size must be a positive int, got {batch_size!r}")
    plan = _plan(n, seed, end, days, users)
    return _batches(plan, batch_size)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def write(frame_or_batches: pl.DataFrame | Iterable[pl.DataFrame], path: Path, format: str) -> Path:
    """Write events to ``path`` in one of :data:`FORMATS`, streaming batch by batch.

    Formats:
        ``jsonl``: the platform's JSON Lines export, one flat object per line, canonical
        column names, timestamps as ``2026-10-31T23:59:59.123456Z``, nulls as null.
        ``json``: the same objects as one JSON array. ``csv``: every canonical column with
        a header. ``csv-short``: the platform's short CSV export, header
        ``timestamp,user,action,resource,status,ip_address`` with ``resource`` as
        ``{resource_type}:{resource_name}``. ``parquet``: the canonical schema.
        ``cloudtrail``: one AWS CloudTrail record per line, derived from each event.
        ``ingested_at`` is written null: the store sets it when the file is ingested.

    Args:
        frame_or_batches: a frame, or an iterable of frames (e.g. :func:`iter_generate`),
            in the canonical schema. An iterator is consumed once and never held whole.
        path: the file to write; its folder must exist. It is replaced atomically.
        format: one of :data:`FORMATS`.

    Returns:
        ``path``.

    Raises:
        GenerateError: unknown format.
        SchemaError: a batch does not match the canonical schema.
    """
    if format not in FORMATS:
        raise GenerateError(
            f"unknown format {format!r}; valid formats: {', '.join(FORMATS)}",
        )
    path = Path(path)
    batches: Iterable[pl.DataFrame] = (
        [frame_or_batches] if isinstance(frame_or_batches, pl.DataFrame) else frame_or_batches
    )
    # An export is what a platform hands over: when auditkit stores it is not in it.
    stored_at = pl.lit(None, SCHEMA["ingested_at"]).alias("ingested_at")
    conformed = (conform(b).with_columns(stored_at) for b in batches)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        if format == "parquet":
            _write_parquet(conformed, tmp)
        else:
            with open(tmp, "wb") as fh:
                _WRITERS[format](conformed, fh)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _slices(batches: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    for batch in batches:
        yield from batch.iter_slices(_WRITE_SLICE)


def _iso(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Datetime).dt.strftime(_ISO))


def _write_jsonl(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    for part in _slices(batches):
        _iso(part).write_ndjson(fh)


def _write_json(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    fh.write(b"[")
    sep = b"\n"
    for part in _slices(batches):
        lines = _iso(part).write_ndjson()
        if lines:  # JSON strings escape newlines, so every newline ends an object
            fh.write(sep + lines.rstrip("\n").replace("\n", ",\n").encode())
            sep = b",\n"
    fh.write(b"\n]\n")


def _write_csv(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    header = True
    for part in _slices(batches):
        _iso(part).write_csv(fh, include_header=header)
        header = False
    if header:
        empty().write_csv(fh)


def _write_csv_short(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    header = True
    for part in _slices(batches):
        short = part.select(
            pl.col("timestamp").dt.strftime(_ISO),
            pl.col("actor").alias("user"),
            "action",
            pl.concat_str(
                [
                    pl.col("resource_type"),
                    pl.lit(":"),
                    pl.coalesce("resource_name", "resource_id", pl.lit("")),
                ]
            ).alias("resource"),
            pl.col("status").cast(pl.String),
            "ip_address",
        )
        short.write_csv(fh, include_header=header)
        header = False
    if header:
        fh.write(b"timestamp,user,action,resource,status,ip_address\n")


def _write_parquet(batches: Iterable[pl.DataFrame], path: Path) -> None:
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    try:
        for batch in batches:
            table = batch.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
        if writer is None:
            empty().write_parquet(path)
    finally:
        if writer is not None:
            writer.close()


# --- CloudTrail --------------------------------------------------------------------------

_CT_REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-southeast-1")
_SM = "sagemaker.amazonaws.com"
_NB = '{"notebookInstanceName": "{slug}"}'
_BUCKET = '"bucketName": "{acct}-{slug}", "Host": "{acct}-{slug}.s3.{region}.amazonaws.com"'
_GLUE_TABLE = '{"databaseName": "analytics", "name": "{name}"}'
_NQ = '{"namedQueryId": "{uuid}"}'
_QS = '{"awsAccountId": "{acct}", "dashboardId": "{slug}"}'
_RS = '{"workgroupName": "analytics", "database": "dev", "sql": "HIDDEN_DUE_TO_SECURITY_REASONS"}'
_RS_OUT = '{"id": "{uuid}", "workgroupName": "analytics", "database": "dev"}'
_POLICY = '"policyArn": "arn:aws:iam::{acct}:policy/dataplatform/{slug}"'
# operation → (eventSource, eventName, requestParameters, responseElements); JSON with tokens
_CT_OPS: dict[str, tuple[str, str, str, str]] = {
    "notebook.create": (_SM, "CreateNotebookInstance",
        '{"notebookInstanceName": "{slug}", "instanceType": "ml.t3.medium", "roleArn": '
        '"arn:aws:iam::{acct}:role/service-role/SageMakerExecutionRole"}',
        '{"notebookInstanceArn": "arn:aws:sagemaker:{region}:{acct}:notebook-instance/{slug}"}'),
    "notebook.update": (_SM, "UpdateNotebookInstance",
        '{"notebookInstanceName": "{slug}", "instanceType": "ml.t3.large"}', "null"),
    "notebook.delete": (_SM, "DeleteNotebookInstance", _NB, "null"),
    "notebook.view": (_SM, "DescribeNotebookInstance", _NB, "null"),
    "notebook.run": (_SM, "StartNotebookInstance", _NB, "null"),
    "notebook.run_cancel": (_SM, "StopNotebookInstance", _NB, "null"),
    "notebook.kernel_restart": (_SM, "StopNotebookInstance", _NB, "null"),
    "notebook.import": ("s3.amazonaws.com", "PutObject",
        "{" + _BUCKET + ', "key": "imports/{xid}.ipynb"}', "null"),
    "notebook.export": ("s3.amazonaws.com", "GetObject",
        "{" + _BUCKET + ', "key": "exports/{xid}.html"}', "null"),
    "experiment.create": (_SM, "CreateExperiment", '{"experimentName": "{slug}"}',
        '{"experimentArn": "arn:aws:sagemaker:{region}:{acct}:experiment/{slug}"}'),
    "experiment.update": (_SM, "UpdateExperiment", '{"experimentName": "{slug}"}',
        '{"experimentArn": "arn:aws:sagemaker:{region}:{acct}:experiment/{slug}"}'),
    "experiment.delete": (_SM, "DeleteExperiment", '{"experimentName": "{slug}"}', "null"),
    "experiment.view": (_SM, "DescribeExperiment", '{"experimentName": "{slug}"}', "null"),
    "experiment.run": (_SM, "CreateTrainingJob",
        '{"trainingJobName": "{slug}-{xid}", "resourceConfig": {"instanceType": '
        '"ml.m5.2xlarge", "instanceCount": 1, "volumeSizeInGB": 30}, "roleArn": '
        '"arn:aws:iam::{acct}:role/service-role/SageMakerExecutionRole"}',
        '{"trainingJobArn": "arn:aws:sagemaker:{region}:{acct}:training-job/{slug}-{xid}"}'),
    "experiment.cancel_run": (_SM, "StopTrainingJob", '{"trainingJobName": "{slug}-{xid}"}',
        "null"),
    "experiment.promote_model": (_SM, "UpdateModelPackage",
        '{"modelPackageArn": "arn:aws:sagemaker:{region}:{acct}:model-package/{slug}/1", '
        '"modelApprovalStatus": "Approved"}',
        '{"modelPackageArn": "arn:aws:sagemaker:{region}:{acct}:model-package/{slug}/1"}'),
    "pipeline.create": ("glue.amazonaws.com", "CreateJob",
        '{"name": "{slug}", "role": "arn:aws:iam::{acct}:role/GlueJobRole", "command": '
        '{"name": "glueetl", "scriptLocation": "s3://{acct}-glue-scripts/{slug}.py"}}',
        '{"name": "{slug}"}'),
    "pipeline.update": ("glue.amazonaws.com", "UpdateJob", '{"jobName": "{slug}"}',
        '{"jobName": "{slug}"}'),
    "pipeline.delete": ("glue.amazonaws.com", "DeleteJob", '{"jobName": "{slug}"}',
        '{"jobName": "{slug}"}'),
    "pipeline.view": ("glue.amazonaws.com", "GetJobRuns",
        '{"jobName": "{slug}", "maxResults": 25}', "null"),
    "pipeline.run": ("glue.amazonaws.com", "StartJobRun", '{"jobName": "{slug}"}',
        '{"jobRunId": "jr_{xid}"}'),
    "pipeline.cancel": ("glue.amazonaws.com", "BatchStopJobRun",
        '{"jobName": "{slug}", "jobRunIds": ["jr_{xid}"]}',
        '{"successfulSubmissions": [{"jobName": "{slug}", "jobRunId": "jr_{xid}"}], '
        '"errors": []}'),
    "pipeline.promote": ("codepipeline.amazonaws.com", "StartPipelineExecution",
        '{"name": "{slug}-promote-prod"}', '{"pipelineExecutionId": "{uuid}"}'),
    "database.create": ("glue.amazonaws.com", "CreateTable",
        '{"databaseName": "analytics", "tableInput": {"name": "{name}"}}', "null"),
    "database.update": ("glue.amazonaws.com", "UpdateTable",
        '{"databaseName": "analytics", "tableInput": {"name": "{name}"}}', "null"),
    "database.delete": ("glue.amazonaws.com", "DeleteTable", _GLUE_TABLE, "null"),
    "database.view": ("glue.amazonaws.com", "GetTable", _GLUE_TABLE, "null"),
    "database.query": ("redshift-data.amazonaws.com", "ExecuteStatement", _RS, _RS_OUT),
    "database.export": ("redshift-data.amazonaws.com", "ExecuteStatement", _RS, _RS_OUT),
    "database.import": ("redshift-data.amazonaws.com", "BatchExecuteStatement", _RS, _RS_OUT),
    "database.maintenance": ("redshift-data.amazonaws.com", "ExecuteStatement", _RS, _RS_OUT),
    "collection.create": ("s3.amazonaws.com", "CreateBucket", "{" + _BUCKET + "}", "null"),
    "collection.update": ("s3.amazonaws.com", "PutBucketTagging",
        "{" + _BUCKET + ', "tagging": ""}', "null"),
    "collection.delete": ("s3.amazonaws.com", "DeleteBucket", "{" + _BUCKET + "}", "null"),
    "collection.view": ("s3.amazonaws.com", "ListObjects",
        "{" + _BUCKET + ', "list-type": "2", "prefix": ""}', "null"),
    "collection.export": ("s3.amazonaws.com", "GetObject",
        "{" + _BUCKET + ', "key": "exports/{xid}.csv"}', "null"),
    "collection.import": ("s3.amazonaws.com", "PutObject",
        "{" + _BUCKET + ', "key": "uploads/{xid}.json"}', "null"),
    "query.create": ("athena.amazonaws.com", "CreateNamedQuery",
        '{"name": "{name}", "database": "analytics", "workGroup": "primary"}',
        '{"namedQueryId": "{uuid}"}'),
    "query.update": ("athena.amazonaws.com", "UpdateNamedQuery",
        '{"namedQueryId": "{uuid}", "name": "{name}"}', "null"),
    "query.delete": ("athena.amazonaws.com", "DeleteNamedQuery", _NQ, "null"),
    "query.view": ("athena.amazonaws.com", "GetNamedQuery", _NQ, "null"),
    "query.run": ("athena.amazonaws.com", "StartQueryExecution",
        '{"queryExecutionContext": {"database": "analytics"}, "workGroup": "primary", '
        '"clientRequestToken": "{uuid}"}', '{"queryExecutionId": "{uuid}"}'),
    "query.cancel": ("athena.amazonaws.com", "StopQueryExecution",
        '{"queryExecutionId": "{uuid}"}', "null"),
    "query.export_results": ("athena.amazonaws.com", "GetQueryResults",
        '{"queryExecutionId": "{uuid}", "maxResults": 1000}', "null"),
    "report.create": ("quicksight.amazonaws.com", "CreateDashboard",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "name": "{name}"}',
        '{"arn": "arn:aws:quicksight:{region}:{acct}:dashboard/{slug}", "dashboardId": '
        '"{slug}", "status": 202}'),
    "report.update": ("quicksight.amazonaws.com", "UpdateDashboard",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "name": "{name}"}',
        '{"dashboardId": "{slug}", "status": 202}'),
    "report.delete": ("quicksight.amazonaws.com", "DeleteDashboard", _QS,
        '{"dashboardId": "{slug}", "status": 200}'),
    "report.view": ("quicksight.amazonaws.com", "GetDashboardEmbedUrl",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "identityType": "IAM"}', "null"),
    "report.view_public": ("quicksight.amazonaws.com", "GetDashboardEmbedUrl",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "identityType": "ANONYMOUS"}',
        "null"),
    "report.export": ("quicksight.amazonaws.com", "StartDashboardSnapshotJob",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "snapshotJobId": "{xid}"}',
        '{"snapshotJobId": "{xid}", "status": 202}'),
    "report.refresh": ("quicksight.amazonaws.com", "CreateIngestion",
        '{"awsAccountId": "{acct}", "dataSetId": "{slug}", "ingestionId": "{xid}"}',
        '{"ingestionId": "{xid}", "ingestionStatus": "INITIALIZED"}'),
    "user.login": ("signin.amazonaws.com", "ConsoleLogin", "null",
        '{"ConsoleLogin": "{login}"}'),
    "user.logout": ("portal.sso.amazonaws.com", "Logout", "null", "null"),
    "user.session_expire": ("portal.sso.amazonaws.com", "Logout", "null", "null"),
    "user.create": ("iam.amazonaws.com", "CreateUser", '{"userName": "{name}"}',
        '{"user": {"path": "/", "userName": "{name}", "arn": '
        '"arn:aws:iam::{acct}:user/{name}"}}'),
    "user.update": ("iam.amazonaws.com", "UpdateUser", '{"userName": "{name}"}', "null"),
    "user.delete": ("iam.amazonaws.com", "DeleteUser", '{"userName": "{name}"}', "null"),
    "user.view": ("iam.amazonaws.com", "GetUser", '{"userName": "{name}"}', "null"),
    "user.mfa_enroll": ("iam.amazonaws.com", "EnableMFADevice",
        '{"userName": "{name}", "serialNumber": "arn:aws:iam::{acct}:mfa/{slug}"}', "null"),
    "user.password_reset": ("iam.amazonaws.com", "UpdateLoginProfile",
        '{"userName": "{name}", "passwordResetRequired": true}', "null"),
    "team.create": ("iam.amazonaws.com", "CreateGroup", '{"groupName": "{slug}"}',
        '{"group": {"path": "/", "groupName": "{slug}", "arn": '
        '"arn:aws:iam::{acct}:group/{slug}"}}'),
    "team.update": ("iam.amazonaws.com", "UpdateGroup", '{"groupName": "{slug}"}', "null"),
    "team.delete": ("iam.amazonaws.com", "DeleteGroup", '{"groupName": "{slug}"}', "null"),
    "team.view": ("iam.amazonaws.com", "GetGroup", '{"groupName": "{slug}"}', "null"),
    "team.add_member": ("iam.amazonaws.com", "AddUserToGroup", '{"groupName": "{slug}"}',
        "null"),
    "team.remove_member": ("iam.amazonaws.com", "RemoveUserFromGroup",
        '{"groupName": "{slug}"}', "null"),
    "permission.grant": ("iam.amazonaws.com", "AttachUserPolicy",
        '{"userName": "{grantee}", ' + _POLICY + "}", "null"),
    "permission.revoke": ("iam.amazonaws.com", "DetachUserPolicy",
        '{"userName": "{grantee}", ' + _POLICY + "}", "null"),
    "permission.expire": ("iam.amazonaws.com", "DetachUserPolicy",
        '{"userName": "{grantee}", ' + _POLICY + "}", "null"),
    "permission.update": ("iam.amazonaws.com", "CreatePolicyVersion",
        "{" + _POLICY + ', "setAsDefault": true}',
        '{"policyVersion": {"versionId": "v2", "isDefaultVersion": true}}'),
    "permission.view": ("iam.amazonaws.com", "ListAttachedUserPolicies",
        '{"userName": "{grantee}"}', "null"),
}  # fmt: skip
_CT_FALLBACK = (
    "dataplatform.amazonaws.com",
    "{op}",
    '{"resourceType": "{type}", "resourceId": "{id}", "resourceName": "{name}"}',
    "null",
)
_CT_TOKENS = ("slug", "name", "id", "acct", "region", "login", "xid", "uuid", "grantee", "type")
_CT_TOKEN = re.compile(r"\{(" + "|".join(_CT_TOKENS) + r")\}")
_READ_PREFIXES = ("Get", "Describe", "List", "Head")
_ERROR_CODES = (
    ("(?i)denied|lacks|forbidden|403", "AccessDenied"),
    ("(?i)rate ?limit|throttl", "ThrottlingException"),
    ("(?i)not found|notfound|does not exist", "ResourceNotFoundException"),
    ("(?i)conflict|modified by another", "ConflictException"),
    ("(?i)timed out|timeout|exceeded", "LimitExceededException"),
    ("(?i)invalid|syntax|validation|mismatch|ambiguous", "ValidationException"),
    ("(?i)503|unavailable|slow down", "ServiceUnavailableException"),
)
_BOTO_UA = (
    "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36"
)


@lru_cache(maxsize=1 << 16)
def _account_id(account: str | None) -> str:
    digest = hashlib.blake2b((account or "").encode(), digest_size=8).digest()
    return f"{int.from_bytes(digest, 'big') % 10**12:012d}"


def _short_hash(text: str, n: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") -> str:
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    value = int.from_bytes(digest, "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


@lru_cache(maxsize=1 << 16)
def _identity(actor: str | None, actor_type: str | None, account: str | None, root: bool) -> str:
    """The ``userIdentity`` object of one (actor, type, account) as JSON text."""
    acct = _account_id(account)
    actor = actor or "unknown"
    key = f"{actor}|{account}"
    if root:
        ident: dict[str, Any] = {"type": "Root", "principalId": acct,
                                 "arn": f"arn:aws:iam::{acct}:root", "accountId": acct,
                                 "accessKeyId": "ASIA" + _short_hash(key + "root", 16)}  # fmt: skip
    elif actor_type == "user" and int(_short_hash(key, 1, "0123456789")) < 6:
        role = f"AWSReservedSSO_DataPlatformUser_{_short_hash(acct, 16, '0123456789abcdef')}"
        role_id = "AROA" + _short_hash(role, 17)
        ident = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{actor}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{actor}",
            "accountId": acct,
            "accessKeyId": "ASIA" + _short_hash(key, 16),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{acct}:role/aws-reserved/sso.amazonaws.com/{role}",
                    "accountId": acct,
                    "userName": role,
                },
                "attributes": {"mfaAuthenticated": "true"},
            },
        }
    elif actor_type in ("user", "api_key"):
        name = actor.split("@")[0] if actor_type == "user" else f"api-{actor[-12:]}"
        ident = {"type": "IAMUser", "principalId": "AIDA" + _short_hash(key, 17),
                 "arn": f"arn:aws:iam::{acct}:user/{name}", "accountId": acct,
                 "accessKeyId": "AKIA" + _short_hash(key + "k", 16), "userName": name}  # fmt: skip
    elif actor_type == "service_account":
        role = actor.split("@")[0]
        role_id = "AROA" + _short_hash(role, 17)
        session = f"botocore-session-{_short_hash(key, 10, '0123456789')}"
        ident = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            "accountId": acct,
            "accessKeyId": "ASIA" + _short_hash(key, 16),
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": role_id,
                                  "arn": f"arn:aws:iam::{acct}:role/{role}", "accountId": acct,
                                  "userName": role},
                "attributes": {"mfaAuthenticated": "false"},
            },
        }  # fmt: skip
    elif actor_type == "anonymous" and actor == "anonymous":
        ident = {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}
    elif actor_type == "anonymous":
        ident = {"type": "IAMUser", "accountId": acct, "accessKeyId": "",
                 "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}  # fmt: skip
    else:
        ident = {"type": "AWSService"}  # invokedBy is the event's source, set per event
    return json.dumps(ident)


def _json_text(expr: pl.Expr) -> pl.Expr:
    """A non-null string expression escaped for use inside a JSON string literal."""
    encoded = pl.struct(expr.alias("v")).struct.json_encode()
    return encoded.str.strip_prefix('{"v":"').str.strip_suffix('"}')


def _segments(template: str) -> tuple[list[str], list[int]]:
    """A template's literal pieces and, between them, the index of each token."""
    parts = _CT_TOKEN.split(template)
    return parts[0::2], [_CT_TOKENS.index(t) for t in parts[1::2]]


def _fill(templates: list[str], which: np.ndarray, tokens: pl.DataFrame) -> pl.Series:
    """Row ``i`` gets ``templates[which[i]]`` with its tokens replaced by row ``i``'s values.

    Tokens are replaced by gathering from all token columns stacked end to end, one
    gather per token slot, so the cost does not grow with the number of templates.
    """
    rows = tokens.height
    split = [_segments(t) for t in templates]
    slots = max(len(codes) for _, codes in split)
    literals = np.array([lits + [""] * (slots - len(codes)) for lits, codes in split])
    codes = np.array([codes + [-1] * (slots - len(codes)) for _, codes in split], dtype=np.int64)
    stacked = pl.concat([tokens.get_column(f"_t_{t}") for t in _CT_TOKENS] + [pl.Series([""])])
    row = np.arange(rows, dtype=np.int64)
    parts: list[pl.Series] = []
    for k in range(slots + 1):
        parts.append(pl.Series(literals[:, k]).gather(which))
        if k < slots:
            code = codes[which, k]
            parts.append(stacked.gather(np.where(code < 0, len(stacked) - 1, code * rows + row)))
    return pl.select(pl.concat_str(parts)).to_series()


def _id_bits(ids: pl.Series, prefix: str, salt: int) -> np.ndarray:
    """64 bits per id: the generator's hex digits when they are there, else a hash."""
    digits = ids.str.strip_prefix(prefix).str.slice(0, 15).str.to_integer(base=16, strict=False)
    hashed = ids.hash(salt).to_numpy()
    bits = digits.fill_null(-1).to_numpy().astype(np.int64)
    return np.where(bits >= 0, bits.astype(np.uint64), hashed).astype(np.uint64)


def _uuids(bits: np.ndarray) -> pl.Series:
    """Version-4-looking UUIDs drawn from 64 bits each (scrambled)."""
    hi = _hex(_mix(bits ^ np.uint64(0x1D1D1D1D)), 16)
    lo = _hex(_mix(bits ^ np.uint64(0x2E2E2E2E)), 16)
    return _strings(
        [hi[:, :8], b"-", hi[:, 8:12], b"-4", hi[:, 13:16], b"-a", lo[:, :3], b"-", lo[:, 4:16]],
        len(bits),
    )


def _cloudtrail_lines(frame: pl.DataFrame) -> pl.Series:
    """One CloudTrail record (JSON text) per event."""
    ops = [op for op in frame.get_column("operation").unique().to_list() if op is not None]
    mapping = {op: _CT_OPS.get(op, _CT_FALLBACK) for op in ops}
    op_index = {op: i for i, op in enumerate(ops)}
    which = (
        frame.get_column("operation")
        .replace_strict(op_index, default=len(ops), return_dtype=pl.Int64)
        .to_numpy()
    )

    def lookup(i: int) -> pl.Expr:
        table = {op: mapping[op][i].replace("{op}", op) for op in ops}
        return pl.col("operation").replace_strict(
            table, default=pl.lit(_CT_FALLBACK[i]), return_dtype=pl.String
        )

    root = (
        (pl.col("actor_type") == "user")
        & pl.col("resource_type").is_in(["user", "team", "permission"])
        & ~pl.col("action").is_in(["viewed", "login", "logout", "other"])
        & pl.col("event_id").str.slice(-1).is_in(["0", "7"])
    )
    keyed = frame.with_columns(_root=root)
    idents = keyed.select("actor", "actor_type", "account", "_root").unique()
    accounts = idents.get_column("account").to_list()
    id_table = idents.with_columns(
        _identity=pl.Series(
            [
                _identity(a, str(t) if t is not None else None, c, bool(r))
                for a, t, c, r in idents.iter_rows()
            ],
            dtype=pl.String,
        ),
        _acct=pl.Series([_account_id(c) for c in accounts], dtype=pl.String),
        _region=pl.Series(
            [_CT_REGIONS[int(_account_id(c)) % len(_CT_REGIONS)] for c in accounts],
            dtype=pl.String,
        ),
    )
    uas = frame.get_column("user_agent").drop_nulls().unique().to_list()
    ua_map = {ua: json.dumps(ua if ua.startswith("Mozilla/") else _BOTO_UA)[1:-1] for ua in uas}

    work = keyed.join(
        id_table, on=["actor", "actor_type", "account", "_root"], how="left",
        nulls_equal=True, maintain_order="left",
    ).with_columns(_src=lookup(0), _name=lookup(1))  # fmt: skip
    work = work.with_columns(
        _ev=_uuids(_id_bits(work.get_column("event_id"), "evt_", 0xE7)),
        _rq=_uuids(_id_bits(work.get_column("request_id"), "req_", 0x5E)),
    )
    # name-derived tokens, once per distinct (type, name) rather than once per event
    work = work.with_columns(_rname=pl.coalesce("resource_name", "resource_id", pl.lit("")))
    names = work.select("resource_type", "_rname").unique()
    # a permission is named "target (grantee)": its policy is named after the target
    target = (
        pl.when(pl.col("resource_type") == "permission")
        .then(pl.col("_rname").str.replace(r" \([^()]*\)$", ""))
        .otherwise(pl.col("_rname"))
    )
    slug = target.str.to_lowercase().str.replace_all("[^a-z0-9]+", "-").str.strip_chars("-")
    grantee = pl.col("_rname").str.extract(r"\(([^()]*)\)$")
    names = names.with_columns(
        _t_slug=pl.when(slug == "").then(pl.lit("resource")).otherwise(slug),
        _t_name=_json_text(pl.col("_rname")),
        _t_grantee=_json_text(pl.coalesce(grantee, pl.lit("unknown"))),
        _t_type=_json_text(pl.coalesce("resource_type", pl.lit(""))),
    )
    work = work.join(
        names, on=["resource_type", "_rname"], how="left", nulls_equal=True, maintain_order="left"
    )
    alt_region = pl.col("_ev").str.slice(1, 1).is_in(["0", "1"])
    values = {
        "id": _json_text(pl.coalesce("resource_id", pl.lit(""))),
        "acct": pl.col("_acct"),
        "region": pl.when(alt_region).then(pl.lit("us-west-2")).otherwise(pl.col("_region")),
        "login": pl.when(pl.col("status") == "failed")
        .then(pl.lit("Failure"))
        .otherwise(pl.lit("Success")),
        "xid": pl.col("_rq").str.slice(0, 8),
        "uuid": pl.col("_rq"),
    }
    work = work.with_columns(**{f"_t_{token}": value for token, value in values.items()})
    fallback = len(ops)
    work = work.with_columns(
        _req=_fill([mapping[op][2] for op in ops] + [_CT_FALLBACK[2]], which, work),
        _resp=_fill([mapping[op][3] for op in ops] + [_CT_FALLBACK[3]], which, work),
    )
    assert fallback == len(ops)

    is_system = pl.col("actor_type") == "system"
    service_ip = (pl.col("actor_type") == "service_account") & pl.col("_ev").str.slice(2, 1).is_in(
        ["0", "1", "2", "3", "4"]
    )
    source_ip = (
        pl.when(is_system | service_ip)
        .then(pl.col("_src"))
        .otherwise(pl.coalesce(pl.col("ip_address"), pl.lit("AWS Internal")))
    )
    agent = (
        pl.when(is_system)
        .then(pl.col("_src"))
        .otherwise(
            pl.col("user_agent").replace_strict(
                ua_map, default=pl.lit("AWS Internal"), return_dtype=pl.String
            )
        )
    )
    failed = pl.col("status") == "failed"
    console = pl.col("_name") == "ConsoleLogin"
    code = pl.lit(None, dtype=pl.String)
    for pattern, name in reversed(_ERROR_CODES):
        code = (
            pl.when(pl.col("error_message").str.contains(pattern))
            .then(pl.lit(name))
            .otherwise(code)
        )
    code = pl.coalesce(code, pl.lit("InternalFailure"))
    message = _json_text(pl.coalesce("error_message", pl.lit("Failed authentication")))
    error = (
        pl.when(failed & console)
        .then(pl.lit(',"errorMessage":"Failed authentication"'))
        .when(failed)
        .then(
            pl.concat_str(
                pl.lit(',"errorCode":"'), code, pl.lit('","errorMessage":"'), message, pl.lit('"')
            )
        )
        .otherwise(pl.lit(""))
    )
    read_only = pl.col("_name").str.starts_with(_READ_PREFIXES[0])
    for prefix in _READ_PREFIXES[1:]:
        read_only = read_only | pl.col("_name").str.starts_with(prefix)
    data_event = pl.col("_name").is_in(["GetObject", "PutObject", "ListObjects"])
    event_type = (
        pl.when(console)
        .then(pl.lit("AwsConsoleSignIn"))
        .when(is_system)
        .then(pl.lit("AwsServiceEvent"))
        .otherwise(pl.lit("AwsApiCall"))
    )
    extra = pl.when(console).then(
        pl.lit(
            ',"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home",'
            '"MobileVersion":"No","MFAUsed":"Yes"}'
        )
    )
    work = work.with_columns(
        _j_identity=pl.when(is_system)
        .then(pl.concat_str(pl.lit('{"type":"AWSService","invokedBy":"'), "_src", pl.lit('"}')))
        .otherwise("_identity"),
        _j_time=pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        _j_ip=_json_text(source_ip),
        _j_agent=agent,
        _j_error=error,
        _j_resp=pl.when(failed & ~console).then(pl.lit("null")).otherwise("_resp"),
        _j_extra=pl.coalesce(extra, pl.lit("")),
        _j_read=pl.when(read_only).then(pl.lit("true")).otherwise(pl.lit("false")),
        _j_type=event_type,
        _j_data=data_event,
    )
    data = pl.col("_j_data")
    line = pl.concat_str(
        pl.lit('{"eventVersion":"1.09","userIdentity":'),
        "_j_identity",
        pl.lit(',"eventTime":"'),
        "_j_time",
        pl.lit('","eventSource":"'),
        "_src",
        pl.lit('","eventName":"'),
        "_name",
        pl.lit('","awsRegion":"'),
        "_t_region",
        pl.lit('","sourceIPAddress":"'),
        "_j_ip",
        pl.lit('","userAgent":"'),
        "_j_agent",
        pl.lit('"'),
        "_j_error",
        pl.lit(',"requestParameters":'),
        "_req",
        pl.lit(',"responseElements":'),
        "_j_resp",
        "_j_extra",
        pl.lit(',"requestID":"'),
        "_rq",
        pl.lit('","eventID":"'),
        "_ev",
        pl.lit('","readOnly":'),
        "_j_read",
        pl.lit(',"eventType":"'),
        "_j_type",
        pl.lit('","managementEvent":'),
        pl.when(data).then(pl.lit("false")).otherwise(pl.lit("true")),
        pl.lit(',"recipientAccountId":"'),
        "_acct",
        pl.lit('","eventCategory":"'),
        pl.when(data).then(pl.lit("Data")).otherwise(pl.lit("Management")),
        pl.lit('"}'),
    )
    return work.select(line.alias("line")).get_column("line")


def _write_cloudtrail(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    for part in _slices(batches):
        lines = _cloudtrail_lines(part)
        pl.DataFrame({"line": lines}).write_csv(fh, include_header=False, quote_style="never")


_WRITERS: dict[str, Callable[[Iterable[pl.DataFrame], Any], None]] = {
    "jsonl": _write_jsonl,
    "json": _write_json,
    "csv": _write_csv,
    "csv-short": _write_csv_short,
    "cloudtrail": _write_cloudtrail,
}
