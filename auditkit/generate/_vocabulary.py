"""The synthetic company's vocabulary: names, resources, user agents, working hours."""

from __future__ import annotations

import numpy as np


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
