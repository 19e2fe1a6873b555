"""The search-box language, checked against DuckDB SQL over the same Parquet file.

Every qualifier and operator has a row in ``CASES``: the query, and a WHERE clause written
by hand for DuckDB. Both engines read one Parquet file and must return the same event ids.
"""

from __future__ import annotations

import importlib
import random
import re
import sys
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit import query as query_module
from auditkit import schema
from auditkit.errors import QueryError, SearchSyntaxError
from auditkit.filters import Context
from auditkit.query import EventIndex
from auditkit.search import (
    KEYS,
    And,
    Not,
    Or,
    Query,
    Term,
    Text,
    column_predicates,
    free_text_columns,
    parse,
    search_column_expr,
)

NOW = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
CTX = Context(now=NOW, me="alice@company.com")

# Timestamps that sit exactly on the edges the date cases test.
BOUNDARIES = [
    datetime(2024, 5, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 6, 1, 0, 0, tzinfo=UTC),
    datetime(2024, 6, 1, 9, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 6, 1, 10, 0, tzinfo=UTC),
    datetime(2024, 6, 1, 10, 0, 0, 1, tzinfo=UTC),
    datetime(2024, 6, 1, 10, 0, 59, 999999, tzinfo=UTC),
    datetime(2024, 6, 1, 10, 1, tzinfo=UTC),
    datetime(2024, 6, 1, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 6, 2, 0, 0, tzinfo=UTC),
    datetime(2024, 6, 12, 0, 0, tzinfo=UTC),
    datetime(2024, 6, 12, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 6, 13, 0, 0, tzinfo=UTC),
    NOW - timedelta(days=7),
    NOW - timedelta(days=7, microseconds=1),
    NOW - timedelta(hours=24),
    datetime(2024, 6, 19, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 6, 20, 0, 0, tzinfo=UTC),
    datetime(2024, 6, 20, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 6, 21, 0, 0, tzinfo=UTC),
    datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 7, 1, 0, 0, tzinfo=UTC),
]

ACTORS = [
    ("alice@company.com", "user"),
    ("Alice@Company.com", "user"),
    ("alicia@company.com", "user"),
    ("bob@company.com", "user"),
    ("carol@example.org", "user"),
    ("ak_live_7f3a", "api_key"),
    ("svc-etl", "service_account"),
    ("svc-backup", "service_account"),
    (None, "anonymous"),
    (None, None),
    ("root", "system"),
]
OPERATIONS = [
    "notebook.create",
    "notebook.update",
    "s3:PutObject",
    "repo.create",
    "Database.Update",
    "ConsoleLogin",
    "updated",
    None,
]
RESOURCE_TYPES = ["notebook", "database", "Database", "pipeline", "report", "AWS::S3::Bucket", None]
RESOURCE_NAMES = [
    "Q2 Sales Report",
    "prod-db",
    "database",
    "database-backups",
    "Alpha Notebook",
    "sales",
    None,
]
RESOURCE_IDS = ["res_001", "RES_002", "nb-42", "arn:aws:s3:::bucket", None]
IPS = [
    "192.168.1.5",
    "192.168.1.255",
    "192.168.10.5",
    "192.168.100.1",
    "10.192.168.1",
    "10.1.2.3",
    "10.255.255.255",
    "11.0.0.1",
    "172.15.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "172.32.0.1",
    "2001:db8::1",
    "2001:0db8:0:0:0:0:0:1",
    "2001:DB8::abcd",
    "2001:db8:ffff::2",
    "2001:db9::1",
    "fe80::1",
    "::1",
    None,
    None,
]
DETAILS = [
    "Notebook created with 5 cells",
    "Query selected password_hash",
    "Exported 10,000 rows to CSV",
    "Sales report shared with TEAM",
    "Café menu updated",
    None,
]
ERRORS = [None, None, None, None, "", "Permission denied", "Timeout after 30s", "Quota EXCEEDED"]
STATES = [None, None, "", '{"title": "Report"}', '{"title": "Q2 Sales Report", "owner": "bob"}']


def varied_events(n: int = 3000, seed: int = 7, **overrides: list[object]) -> pl.DataFrame:
    """A varied canonical frame: nulls, mixed case, IPv4/IPv6, several weeks."""
    rng = random.Random(seed)
    start = datetime(2024, 5, 20, tzinfo=UTC)
    span = int((datetime(2024, 7, 5, tzinfo=UTC) - start).total_seconds() * 1_000_000)
    rows = []
    for i in range(n):
        actor, actor_type = rng.choice(ACTORS)
        stamp = (
            BOUNDARIES[i]
            if i < len(BOUNDARIES)
            else start + timedelta(microseconds=rng.randrange(span))
        )
        rows.append(
            {
                "event_id": f"evt_{i:05d}",
                "timestamp": stamp,
                "actor": actor,
                "actor_type": actor_type,
                "action": rng.choice([*schema.ACTIONS, None]),
                "operation": rng.choice(OPERATIONS),
                "resource_type": rng.choice(RESOURCE_TYPES),
                "resource_id": rng.choice(RESOURCE_IDS),
                "resource_name": rng.choice(RESOURCE_NAMES),
                "status": rng.choice([*schema.STATUSES, None]),
                "ip_address": rng.choice(IPS),
                "details": rng.choice(DETAILS),
                "error_message": rng.choice(ERRORS),
                "before": rng.choice(STATES),
                "after": rng.choice(STATES),
                "source": rng.choice(["native", "cloudtrail", "github", "GitHub"]),
                "account": rng.choice(["acme", "Globex", "globex-eu", None]),
                "ingested_at": stamp,
            }
        )
    frame = pl.DataFrame(rows, schema_overrides={"timestamp": schema.UTC})
    for column, values in overrides.items():
        frame = frame.with_columns(pl.Series(column, values))
    return schema.conform(frame)


@pytest.fixture(scope="module")
def make_varied_events() -> Callable[..., pl.DataFrame]:
    """Factory: ``make_varied_events(n=3000, seed=7, **column_overrides)``."""
    return varied_events


@pytest.fixture(scope="module")
def events_path(
    tmp_path_factory: pytest.TempPathFactory, make_varied_events: Callable[..., pl.DataFrame]
) -> Path:
    path = tmp_path_factory.mktemp("search") / "events.parquet"
    make_varied_events().write_parquet(path)
    return path


@pytest.fixture(scope="module")
def events(events_path: Path) -> pl.DataFrame:
    return pl.read_parquet(events_path)


@pytest.fixture(scope="module")
def duck(events_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{events_path}')")
    return con


# Free text, written independently: a case-insensitive substring of any of these columns.
# In CASES, ft('word') stands for that OR over the columns (nulls are "no match").
FREE_TEXT = [
    "actor",
    "action",
    "operation",
    "resource_type",
    "resource_name",
    "resource_id",
    "ip_address",
    "details",
    "error_message",
]


def expand_ft(where: str) -> str:
    def one(match: re.Match[str]) -> str:
        word = match.group(1)
        tests = " OR ".join(f"contains(lower({c}), '{word}')" for c in FREE_TEXT)
        return f"coalesce({tests}, false)"

    return re.sub(r"ft\('([^']*)'\)", one, where)


IPV4 = r"regexp_full_match(ip_address, '\d+\.\d+\.\d+\.\d+')"


def octet(n: int) -> str:
    return f"TRY_CAST(split_part(ip_address, '.', {n}) AS INTEGER)"


TS = "timestamp"
DAY = f"CAST({TS} AS DATE)"

# (query, DuckDB WHERE clause). Null semantics are spelled out: a negated term keeps rows
# where the column is null (SQL would drop them).
CASES: list[tuple[str, str]] = [
    # user / actor
    ("user:alice@company.com", "lower(actor) = 'alice@company.com'"),
    ("user:ALICE@company.COM", "lower(actor) = 'alice@company.com'"),
    ("actor:bob@company.com", "lower(actor) = 'bob@company.com'"),
    ("-user:alice@company.com", "actor IS NULL OR lower(actor) <> 'alice@company.com'"),
    ("user:alice*", "lower(actor) LIKE 'alice%'"),
    ("user:*@example.org", "lower(actor) LIKE '%@example.org'"),
    ("user:a*e@company.com", "lower(actor) LIKE 'a%e@company.com'"),
    ("user:me", "lower(actor) = 'alice@company.com'"),
    ("user:me,bob@company.com", "lower(actor) IN ('alice@company.com', 'bob@company.com')"),
    ("user:*", "actor IS NOT NULL"),
    # action (also matches operation) and operation
    ("action:updated", "lower(action) = 'updated' OR lower(operation) = 'updated'"),
    ("action:notebook.*", "lower(action) LIKE 'notebook.%' OR lower(operation) LIKE 'notebook.%'"),
    ("action:Database.Update", "lower(operation) = 'database.update'"),
    (
        "action:created,deleted",
        "action IN ('created', 'deleted') OR operation IN ('created', 'deleted')",
    ),
    ("action:created action:deleted", "action IN ('created', 'deleted')"),
    ("-action:viewed", "action IS NULL OR action <> 'viewed'"),
    ("operation:s3:PutObject", "lower(operation) = 's3:putobject'"),
    ("operation:*.create", "lower(operation) LIKE '%.create'"),
    # resources
    ("resource:database", "lower(resource_type) = 'database' OR lower(resource_name) = 'database'"),
    ('resource:"Q2 Sales Report"', "resource_name = 'Q2 Sales Report'"),
    (
        "resource:database*",
        "lower(resource_type) LIKE 'database%' OR lower(resource_name) LIKE 'database%'",
    ),
    ("resource_type:notebook", "lower(resource_type) = 'notebook'"),
    ("resource_type:aws::s3::bucket", "resource_type = 'AWS::S3::Bucket'"),
    ("resource_id:res_002", "lower(resource_id) = 'res_002'"),
    ("resource_id:arn:aws:s3:::*", "resource_id LIKE 'arn:aws:s3:::%'"),
    ("-resource_type:notebook", "resource_type IS NULL OR lower(resource_type) <> 'notebook'"),
    # status and actor type
    ("status:failed", "status = 'failed'"),
    ("status:FAILED", "status = 'failed'"),
    ("status:in-progress", "status = 'in_progress'"),
    ("status:failed status:pending", "status IN ('failed', 'pending')"),
    ("status:failed,pending", "status IN ('failed', 'pending')"),
    ("-status:success", "status IS NULL OR status <> 'success'"),
    ("-status:failed -status:pending", "status IS NULL OR status NOT IN ('failed', 'pending')"),
    ("actor_type:apikey", "actor_type = 'api_key'"),
    ("actor_type:service", "actor_type = 'service_account'"),
    ("-actor_type:user", "actor_type IS NULL OR actor_type <> 'user'"),
    # source / account
    ("source:github", "lower(source) = 'github'"),
    ("account:glo*", "lower(account) LIKE 'glo%'"),
    ("-account:acme", "account IS NULL OR account <> 'acme'"),
    # IP: exact, octet prefixes (192.168.1 is not 192.168.10.x), CIDR v4 and v6
    ("ip:192.168.1.5", "ip_address = '192.168.1.5'"),
    ("ip:192.168.1", "ip_address LIKE '192.168.1.%'"),
    ("ip:192.168.1.", "ip_address LIKE '192.168.1.%'"),
    ("ip:192.168.1.*", "ip_address LIKE '192.168.1.%'"),
    ("ip:192.168", "ip_address LIKE '192.168.%'"),
    ("ip:10", "ip_address LIKE '10.%'"),
    ("ip:10.0.0.0/8", f"{IPV4} AND {octet(1)} = 10"),
    ("ip:172.16.0.0/12", f"{IPV4} AND {octet(1)} = 172 AND {octet(2)} BETWEEN 16 AND 31"),
    ("ip:192.168.1.128/25", f"{IPV4} AND ip_address LIKE '192.168.1.%' AND {octet(4)} >= 128"),
    ("ip:192.168.0.0/16", f"{IPV4} AND {octet(1)} = 192 AND {octet(2)} = 168"),
    ("ip:0.0.0.0/0", IPV4),
    ("ip:192.168.1.5/32", "ip_address = '192.168.1.5'"),
    ("-ip:10.0.0.0/8", f"NOT coalesce({IPV4} AND {octet(1)} = 10, false)"),
    ("ip:10.0.0.0/8,192.168.1", f"({IPV4} AND {octet(1)} = 10) OR ip_address LIKE '192.168.1.%'"),
    # IPv6: the set is hand-computed from IPS (textual forms vary: case, zero runs)
    (
        "ip:2001:db8::/32",
        "ip_address IN ('2001:db8::1', '2001:0db8:0:0:0:0:0:1', '2001:DB8::abcd', "
        "'2001:db8:ffff::2')",
    ),
    (
        "ip:2001:db8:",
        "ip_address IN ('2001:db8::1', '2001:0db8:0:0:0:0:0:1', '2001:DB8::abcd', "
        "'2001:db8:ffff::2')",
    ),
    ("ip:2001:db8::1", "ip_address IN ('2001:db8::1', '2001:0db8:0:0:0:0:0:1')"),
    ("ip:2001:DB8::ABCD", "ip_address = '2001:DB8::abcd'"),
    ("ip:2001:db8:ffff::/48", "ip_address = '2001:db8:ffff::2'"),
    ("ip:fe80::/10", "ip_address = 'fe80::1'"),
    ("ip:::1", "ip_address = '::1'"),
    (
        "ip:2001:db8::/32,10.0.0.0/8",
        f"ip_address ILIKE '2001:%db8:%' OR ({IPV4} AND {octet(1)} = 10)",
    ),
    # dates (NOW = 2024-06-20 12:00 UTC), written with date casts where SQL has them
    ("date:7d", f"{TS} >= TIMESTAMPTZ '2024-06-13 12:00:00+00'"),
    ("date:24h", f"{TS} >= TIMESTAMPTZ '2024-06-19 12:00:00+00'"),
    ("date:2w", f"{TS} >= TIMESTAMPTZ '2024-06-06 12:00:00+00'"),
    ("date:today", f"{DAY} = DATE '2024-06-20'"),
    ("date:yesterday", f"{DAY} = DATE '2024-06-19'"),
    ("date:2024-06-12", f"{DAY} = DATE '2024-06-12'"),
    ("created:2024-06-12", f"{DAY} = DATE '2024-06-12'"),
    ("date:>=2024-06-01", f"{DAY} >= DATE '2024-06-01'"),
    ("date:>2024-06-01", f"{DAY} > DATE '2024-06-01'"),
    ("date:<=2024-06-30", f"{DAY} <= DATE '2024-06-30'"),
    ("date:<2024-07-01", f"{DAY} < DATE '2024-07-01'"),
    ("date:<2024-06-01", f"{DAY} < DATE '2024-06-01'"),
    ("date:2024-06-01..2024-06-30", f"{DAY} BETWEEN DATE '2024-06-01' AND DATE '2024-06-30'"),
    ("date:2024-06-01..*", f"{DAY} >= DATE '2024-06-01'"),
    ("date:*..2024-06-30", f"{DAY} <= DATE '2024-06-30'"),
    ("date:2024-06-01,2024-06-12", f"{DAY} IN (DATE '2024-06-01', DATE '2024-06-12')"),
    ("date:>=2024-06-01 date:<2024-06-08", f"{DAY} >= '2024-06-01' AND {DAY} < '2024-06-08'"),
    ("date:>=2024-06-01T10:00:00Z", f"{TS} >= TIMESTAMPTZ '2024-06-01 10:00:00+00'"),
    ("date:>2024-06-01T10:00:00Z", f"{TS} > TIMESTAMPTZ '2024-06-01 10:00:00+00'"),
    ("date:<=2024-06-01T10:00:00Z", f"{TS} <= TIMESTAMPTZ '2024-06-01 10:00:00+00'"),
    ("date:<2024-06-01T10:00:00Z", f"{TS} < TIMESTAMPTZ '2024-06-01 10:00:00+00'"),
    ("date:>=2024-06-01T12:00+02:00", f"{TS} >= TIMESTAMPTZ '2024-06-01 10:00:00+00'"),
    ("date:2024-06-01T10:00", f"date_trunc('minute', {TS}) = TIMESTAMPTZ '2024-06-01 10:00+00'"),
    (
        "date:2024-06-01T10:00..2024-06-01T10:01",
        f"{TS} BETWEEN TIMESTAMPTZ '2024-06-01 10:00+00' AND TIMESTAMPTZ '2024-06-01 10:01+00'",
    ),
    ("-date:7d", f"{TS} < TIMESTAMPTZ '2024-06-13 12:00:00+00'"),
    # has:
    ("has:error", "error_message IS NOT NULL AND error_message <> ''"),
    ("-has:error", "error_message IS NULL OR error_message = ''"),
    ("has:ip", "ip_address IS NOT NULL"),
    ("has:changes", "coalesce(before, '') <> '' OR coalesce(after, '') <> ''"),
    ("has:error has:ip", "coalesce(error_message, '') <> '' AND ip_address IS NOT NULL"),
    ("has:error,ip", "coalesce(error_message, '') <> '' OR ip_address IS NOT NULL"),
    # free text and phrases
    ("password", "ft('password')"),
    ("SALES", "ft('sales')"),
    ('"sales report"', "ft('sales report')"),
    ("sales report", "ft('sales') AND ft('report')"),
    ("-sales", "NOT ft('sales')"),
    ('-"sales report"', "NOT ft('sales report')"),
    ("café", "ft('café')"),
    ("CAFÉ", "ft('café')"),
    ("192.168.1", "ft('192.168.1')"),  # free text is a substring: use ip: for networks
    ("2001:db8", "ft('2001:db8')"),
    ('"10,000 rows"', "ft('10,000 rows')"),
    ("exceeded", "ft('exceeded')"),
    # operators
    (
        "(user:alice@company.com OR user:bob@company.com) action:deleted",
        "lower(actor) IN ('alice@company.com', 'bob@company.com') "
        "AND (action = 'deleted' OR operation = 'deleted')",
    ),
    (
        "user:bob@company.com OR status:failed",
        "lower(actor) = 'bob@company.com' OR status = 'failed'",
    ),
    (
        "user:bob@company.com AND status:failed",
        "lower(actor) = 'bob@company.com' AND status = 'failed'",
    ),
    (
        "status:failed OR user:bob@company.com action:deleted",
        "status = 'failed' OR (lower(actor) = 'bob@company.com' "
        "AND (action = 'deleted' OR operation = 'deleted'))",
    ),
    ("-(status:failed OR status:pending)", "status IS NULL OR status NOT IN ('failed', 'pending')"),
    (
        "-(user:alice* status:failed)",
        "NOT (coalesce(lower(actor) LIKE 'alice%', false) AND coalesce(status = 'failed', false))",
    ),
    (
        "status:failed -user:bob@company.com date:7d",
        "status = 'failed' AND (actor IS NULL OR lower(actor) <> 'bob@company.com') "
        f"AND {TS} >= TIMESTAMPTZ '2024-06-13 12:00:00+00'",
    ),
    (
        "status:failed (status:pending)",  # parentheses stop the repeated-key OR
        "false",
    ),
    (
        "(status:failed OR status:pending) (user:alice* OR has:error) sales",
        "status IN ('failed', 'pending') AND (lower(actor) LIKE 'alice%' "
        "OR coalesce(error_message, '') <> '') AND ft('sales')",
    ),
    (
        "user:alice@company.com action:updated resource:database status:success date:7d",
        "lower(actor) = 'alice@company.com' "
        "AND (action = 'updated' OR operation = 'updated') "
        "AND (lower(resource_type) = 'database' OR resource_name = 'database') "
        f"AND status = 'success' AND {TS} >= TIMESTAMPTZ '2024-06-13 12:00:00+00'",
    ),
    # empty results, and the empty query
    ("user:nobody@nowhere.example", "false"),
    ("date:2023-01-01", "false"),
    ("nosuchwordanywhere", "false"),
    ("", "true"),
    ("   ", "true"),
]
EMPTY = {
    "user:nobody@nowhere.example",
    "date:2023-01-01",
    "nosuchwordanywhere",
    "status:failed (status:pending)",
}


def _ids(frame: pl.DataFrame) -> set[str]:
    return set(frame.get_column("event_id").to_list())


@pytest.fixture(scope="module")
def index(events: pl.DataFrame) -> EventIndex:
    return EventIndex(events)


@pytest.mark.parametrize("mode", ["columns", "_search", "index"])
@pytest.mark.parametrize(("query", "where"), CASES, ids=[q or "<empty>" for q, _ in CASES])
def test_query_matches_duckdb(
    query: str,
    where: str,
    mode: str,
    events: pl.DataFrame,
    index: EventIndex,
    duck: duckdb.DuckDBPyConnection,
) -> None:
    """Each case, evaluated three ways — expressions over each column, over the ``_search``
    column, and through the session's in-memory index (time slice + per-distinct-value
    predicates) — returns exactly the rows DuckDB's WHERE clause returns."""
    q = parse(query)
    if mode == "index":
        got = _ids(index.select(q, CTX, *q.time_bounds(CTX)))
    else:
        search_column = mode == "_search"
        frame = events.with_columns(search_column_expr()) if search_column else events
        got = _ids(frame.filter(q.expr(CTX, search_column=search_column)))
    sql = f"SELECT event_id FROM events WHERE {expand_ft(where)}"
    expected = {row[0] for row in duck.sql(sql).fetchall()}
    assert got == expected
    if query in EMPTY:
        assert not expected
    else:
        assert expected, "the fixture must have rows for this case, or the test proves nothing"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["alice", "bob", "carol", None]), min_size=1, max_size=60),
    st.integers(0, 60),
    st.integers(0, 60),
)
def test_postings_hold_each_values_rows_in_order(
    actors: list[str | None], start: int, stop: int
) -> None:
    """A value's postings, cut to a slice of rows, are exactly the rows of that slice
    holding the value, ascending (nulls have no postings)."""
    from auditkit.query import _Dictionary

    dictionary = _Dictionary(pl.Series("actor", actors, dtype=pl.String))
    codes = dict(
        zip(
            dictionary.values.get_column("actor").to_list(),
            dictionary.value_codes.to_list(),
            strict=True,
        )
    )
    for value, code in codes.items():
        expected = [i for i in range(start, min(stop, len(actors))) if actors[i] == value]
        assert dictionary.rows_with(code, start, stop).to_list() == expected


def test_index_reads_rare_values_from_postings_and_common_ones_by_testing_rows(
    events: pl.DataFrame, index: EventIndex
) -> None:
    """A rare value (a quarter of the slice or less) is answered from postings, a common
    one by testing every row; both give the rows the expression gives."""
    rare = events.get_column("actor").drop_nulls().value_counts(sort=True).item(-1, "actor")
    common = events.get_column("source").drop_nulls().mode().item(0)
    for query in (f"user:{rare}", f"source:{common}", "status:success", "-status:failed"):
        q = parse(query)
        got = _ids(index.select(q, CTX, *q.time_bounds(CTX)))
        assert got == _ids(events.filter(q.expr(CTX))), query
    term = parse(f"user:{rare}").root
    assert isinstance(term, Term)
    predicates = column_predicates(term, CTX)
    assert predicates is not None
    assert index._postings(predicates, 0, index.frame.height) is not None
    term = parse(f"source:{common}").root
    assert isinstance(term, Term)
    predicates = column_predicates(term, CTX)
    assert predicates is not None
    assert index._postings(predicates, 0, index.frame.height) is None


def test_index_holds_events_in_time_order_sorting_only_when_needed(events: pl.DataFrame) -> None:
    """The index keeps a frame already in (timestamp, event id) order as it is, and sorts
    any other: shuffled rows, equal timestamps with ids out of order, nulls."""
    ordered = events.sort("timestamp", "event_id")
    assert query_module._in_time_order(ordered)
    pieces = pl.concat([ordered.head(100), ordered.slice(100)], rechunk=False)
    assert max(pieces.n_chunks("all")) == 2
    kept = EventIndex(pieces).frame
    assert kept.equals(ordered)
    assert max(kept.n_chunks("all")) == 1  # in one piece, as a sort would leave it
    shuffled = ordered.sample(fraction=1.0, shuffle=True, seed=7)
    tied = ordered.head(3).with_columns(
        timestamp=pl.lit(datetime(2026, 1, 1, tzinfo=UTC)).cast(ordered.schema["timestamp"]),
        event_id=pl.Series(["b", "a", "c"]),
    )
    nulls = ordered.head(3).with_columns(event_id=pl.Series(["a", None, "c"]))
    for frame in (shuffled, tied, nulls):
        assert not query_module._in_time_order(frame)
        index = EventIndex(frame)
        assert index.frame.equals(frame.sort("timestamp", "event_id"))
    assert EventIndex(tied).frame.get_column("event_id").to_list() == ["a", "b", "c"]


def test_every_key_has_a_case() -> None:
    used = {t.key for q, _ in CASES for t in _terms(parse(q).root)}
    assert used >= set(KEYS) - {"changed"}  # changed: depends on auditkit.diff (below)


def _terms(node: object) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return _terms(node.child)
    if isinstance(node, And | Or):
        return [t for c in node.children for t in _terms(c)]
    return []


def test_lazy_scan_gives_the_same_rows(events_path: Path, events: pl.DataFrame) -> None:
    query = parse("ip:2001:db8::/32 OR ip:172.16.0.0/12 -status:failed date:30d")
    lazy = pl.scan_parquet(events_path).filter(query.expr(CTX)).collect()
    assert _ids(lazy) == _ids(events.filter(query.expr(CTX)))
    assert lazy.height > 0


# --------------------------------------------------------------------------- null semantics


def test_negation_keeps_null_columns() -> None:
    frame = pl.DataFrame(
        {"event_id": ["a", "b", "c"], "actor": ["alice", None, "bob"]}, schema_overrides={}
    )
    assert _ids(frame.filter(parse("user:alice").expr(CTX))) == {"a"}
    assert _ids(frame.filter(parse("-user:alice").expr(CTX))) == {"b", "c"}
    assert _ids(frame.filter(parse("-user:alice -user:bob").expr(CTX))) == {"b"}


def test_expressions_are_never_null(events: pl.DataFrame) -> None:
    for query, _ in CASES:
        result = events.select(parse(query).expr(CTX).alias("m")).get_column("m")
        assert result.null_count() == 0, query


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("query", "english"),
    [
        (
            "user:alice@company.com action:updated resource:database status:success date:7d",
            "user is alice@company.com, and action is updated, and resource is database, "
            "and status is success, in the last 7 days",
        ),
        ("", "all events"),
        ("action:updated,deleted", "action is updated or deleted"),
        (
            "status:failed status:pending status:in-progress",
            "status is failed, pending or in_progress",
        ),
        ("-user:bob", "user is not bob"),
        ("-status:failed,pending", "status is neither failed nor pending"),
        ("user:alice*", "user matches alice*"),
        ("actor_type:api_key", "by API keys"),
        ("actor_type:apikey,service", "by API keys or service accounts"),
        ("-actor_type:user", "not by users"),
        ("date:today", "today"),
        ("date:24h", "in the last 24 hours"),
        ("date:1d", "in the last day"),
        ("date:2024-06-12", "on 2024-06-12"),
        ("date:2024-06-01..2024-06-30", "from 2024-06-01 to 2024-06-30"),
        ("date:>=2024-06-01 date:<2024-07-01", "on or after 2024-06-01, before 2024-07-01"),
        ("date:<=2024-06-30", "on or before 2024-06-30"),
        ("date:>2024-06-01T10:00Z", "after 2024-06-01 10:00 UTC"),
        ("date:*..2024-06-30", "on or before 2024-06-30"),
        ("ip:192.168.1", "IP address is in 192.168.1.0/24"),
        ("ip:10.0.0.0/8,2001:db8:", "IP address is in 10.0.0.0/8 or in 2001:db8::/32"),
        ("ip:10.1.2.3", "IP address is 10.1.2.3"),
        ("-ip:10.1.2.3", "IP address is not 10.1.2.3"),
        ("has:error", "has an error message"),
        ("-has:error", "has no error message"),
        ("changed:title", "changed title"),
        ('"sales report" -draft', 'contains "sales report", and does not contain "draft"'),
        (
            "(user:alice OR user:bob) action:deleted",
            "(user is alice or user is bob), and action is deleted",
        ),
        ("-(user:alice action:deleted)", "not (user is alice, and action is deleted)"),
        ("status:failed today", 'status is failed, and contains "today"'),
        ("status:failed date:today", "status is failed, today"),
    ],
)
def test_describe(query: str, english: str) -> None:
    assert parse(query).describe() == english


def test_describe_names_the_current_user() -> None:
    assert parse("user:me").describe() == "user is the current user"
    assert parse("user:me").describe(CTX) == "user is the current user (alice@company.com)"


# --------------------------------------------------------------------------- canonical text


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("actor:alice created:7d", "user:alice date:7d"),
        ("status:in-progress STATUS:Failed", "status:in_progress,failed"),
        ("actor_type:apikey,service", "actor_type:api_key,service_account"),
        ("user:alice AND action:deleted", "user:alice action:deleted"),
        ('"hello"', "hello"),
        ('"OR"', '"OR"'),
        ('"-x" "a:b" "a b"', '"-x" "a:b" "a b"'),
        ('resource:"Q2 Sales Report",prod', 'resource:"Q2 Sales Report",prod'),
        ('"say \\"hi\\""', '"say \\"hi\\""'),
        ("date:2024-06-01t10:00z", "date:2024-06-01T10:00Z"),
        ('date:"2024-06-01 10:00"', "date:2024-06-01T10:00"),
        ("(a)", "a"),
        ("a OR (b OR c)", "a OR (b OR c)"),
        ("-(a b)", "-(a b)"),
        ("ip:2001:DB8::/32", "ip:2001:db8::/32"),
    ],
)
def test_canonical_text(query: str, canonical: str) -> None:
    parsed = parse(query)
    assert str(parsed) == canonical
    assert parsed.to_text() == canonical
    assert parse(canonical) == parsed


def test_programmatic_and_of_repeated_key_round_trips() -> None:
    query = Query(And((Term("status", ("failed",)), Term("status", ("pending",)))))
    assert str(query) == "status:failed (status:pending)"
    assert parse(str(query)) == query
    assert parse("status:failed status:pending") == Query(Term("status", ("failed", "pending")))


# --------------------------------------------------------------------------- time bounds


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("", None, None),
        ("date:7d", NOW - timedelta(days=7), None),
        ("date:today", datetime(2024, 6, 20, tzinfo=UTC), datetime(2024, 6, 21, tzinfo=UTC)),
        (
            "user:bob date:>=2024-06-01 date:<=2024-06-30",
            datetime(2024, 6, 1, tzinfo=UTC),
            datetime(2024, 7, 1, tzinfo=UTC),
        ),
        (
            "date:2024-06-01,2024-06-12",
            datetime(2024, 6, 1, tzinfo=UTC),
            datetime(2024, 6, 13, tzinfo=UTC),
        ),
        ("date:2024-06-01..*", datetime(2024, 6, 1, tzinfo=UTC), None),
        ("date:<2024-06-01T10:00Z", None, datetime(2024, 6, 1, 10, tzinfo=UTC)),
        ("date:<=2024-06-01T10:00Z", None, datetime(2024, 6, 1, 10, 0, 0, 1, tzinfo=UTC)),
        (
            "(date:7d status:failed) date:<2024-06-19",
            NOW - timedelta(days=7),
            datetime(2024, 6, 19, tzinfo=UTC),
        ),
        ("date:7d OR status:failed", None, None),
        ("-date:7d", None, None),
        ("date:>=2024-06-01T12:00+02:00", datetime(2024, 6, 1, 10, tzinfo=UTC), None),
    ],
)
def test_time_bounds(query: str, start: datetime | None, end: datetime | None) -> None:
    assert parse(query).time_bounds(CTX) == (start, end)


def test_time_bounds_cover_the_matching_rows(events: pl.DataFrame) -> None:
    query = parse("date:>=2024-06-01 date:<=2024-06-12 status:failed")
    start, end = query.time_bounds(CTX)
    assert start is not None and end is not None
    rows = events.filter(query.expr(CTX))
    assert rows.height > 0
    assert rows.get_column("timestamp").min() >= start  # type: ignore[operator]
    assert rows.get_column("timestamp").max() < end  # type: ignore[operator]


def test_dates_use_the_context_time_zone() -> None:
    paris = Context(now=NOW, tz="Europe/Paris")
    assert parse("date:2024-06-12").time_bounds(paris) == (
        datetime(2024, 6, 11, 22, tzinfo=UTC),
        datetime(2024, 6, 12, 22, tzinfo=UTC),
    )
    assert parse("date:today").time_bounds(paris) == (
        datetime(2024, 6, 19, 22, tzinfo=UTC),
        datetime(2024, 6, 20, 22, tzinfo=UTC),
    )
    # an explicit offset wins over the context's zone
    assert parse("date:>=2024-06-01T00:00Z").time_bounds(paris)[0] == datetime(
        2024, 6, 1, tzinfo=UTC
    )


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("query", "position", "says", "valid"),
    [
        ("usr:alice", 0, "unknown key 'usr' — did you mean 'user'?", "user"),
        ("action:deleted stauts:failed", 15, "did you mean 'status'?", "status"),
        ("s3:PutObject", 0, 'quote it: "s3:PutObject"', "resource"),
        ("status:faild", 7, "unknown status 'faild' — did you mean 'failed'?", "pending"),
        ("actor_type:bot", 11, "unknown actor type 'bot'", "api_key"),
        ("has:erors", 4, "did you mean 'error'?", "changes"),
        ("action:update", 7, "did you mean 'updated'?", "deleted"),
        ('user:alice "sales report', 11, "unterminated quote", None),
        ('user:"alice', 5, "unterminated quote", None),
        ("(user:alice OR user:bob", 0, "'(' is never closed", None),
        ("user:alice)", 10, "')' has no matching '('", None),
        ("((a) b", 0, "'(' is never closed", None),
        ("user:", 5, "empty value for 'user:'", None),
        ("user: alice", 5, "no space after the colon", None),
        ("user:alice,", 11, "empty value", None),
        ('user:""', 5, "empty value", None),
        ("status:", 7, "empty value", "success"),
        ("date:2024-13-45", 5, "bad date '2024-13-45'", "7d"),
        ("date:>=2024-02-30", 7, "bad date '2024-02-30'", None),
        ("date:2024-06-01..2024-6-30", 17, "bad date '2024-6-30'", None),
        ("date:2024-06-30..2024-06-01", 17, "ends before it starts", None),
        ("date:tomorrow", 5, "bad date 'tomorrow'", "today"),
        ("date:0d", 5, "at least 1", None),
        ("ip:10.0.0.0/33", 12, "prefix length must be 0–32", "10.0.0.0/8"),
        ("ip:10.0.0.1/8", 3, "did you mean '10.0.0.0/8'?", None),
        ("ip:2001:db8::/129", 14, "prefix length must be 0–128", None),
        ("ip:10.0.0/8", 3, "bad CIDR", None),
        ("ip:192.168.300", 11, "bad IPv4 octet '300'", None),
        ("ip:2001:zz:", 3, "bad IPv6 prefix", None),
        ("ip:1.2.3.4.5", 3, "at most 3 octets", None),
        ("OR user:alice", 0, "OR needs a term on its left", None),
        ("user:alice OR", 11, "OR needs a term on its right", None),
        ("user:alice OR OR user:bob", 11, "OR needs a term on its right", None),
        ("AND user:alice", 0, "AND needs a term on its left", None),
        ("user:alice AND", 11, "AND needs a term on its right", None),
        ("user:alice ()", 11, "empty parentheses", None),
        ("- user:alice", 0, "'-' must be followed directly by a term", None),
        ('foo"bar', 3, "put the whole phrase in quotes", None),
        ('"foo"bar', 5, "add a space", None),
        ('user:a"b"', 6, "put the whole value in quotes", None),
        ('""', 0, "empty phrase", None),
        ("changed:tit*", 11, "without wildcards", None),
        ("ip:1²", 3, "bad IPv4 octet", None),
        ("date:２０２４-06-01", 5, "bad date", None),
        ("user:a\ud800", 6, "lone UTF-16 surrogate", None),
    ],
)
def test_positioned_errors(query: str, position: int, says: str, valid: str | None) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        parse(query)
    error = info.value
    assert error.position == position
    assert error.query == query
    message = str(error)
    assert says in message
    assert f"\n  {query}\n  {' ' * position}^" in message
    if valid is not None:
        assert valid in error.valid
        assert "valid: " in message


def test_unknown_key_lists_every_key() -> None:
    with pytest.raises(SearchSyntaxError) as info:
        parse("usr:alice")
    assert set(info.value.valid) >= set(KEYS) | {"actor", "created"}
    assert isinstance(info.value, ValueError)


def test_user_me_without_current_user_is_an_error() -> None:
    query = parse("user:me")
    with pytest.raises(QueryError, match=r"Context\(me="):
        query.expr(Context(now=NOW))


def test_parse_rejects_non_text() -> None:
    with pytest.raises(QueryError):
        parse(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- changed:


def test_changed_matches_fields_by_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The changed: matching rule, over a stand-in for auditkit.diff."""
    fake = types.ModuleType("auditkit.diff")
    fake.changed_fields_expr = lambda: pl.col("paths")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "auditkit.diff", fake)
    frame = pl.DataFrame(
        {
            "event_id": ["a", "b", "c", "d", "e", "f", "g"],
            "paths": [
                ["title"],
                ["config.title"],
                ["title.text"],
                ["subtitle", "entitled"],
                ["tags[0]"],
                [],
                None,
            ],
        }
    )
    assert _ids(frame.filter(parse("changed:title").expr(CTX))) == {"a", "b", "c"}
    assert _ids(frame.filter(parse("changed:tags").expr(CTX))) == {"e"}
    assert _ids(frame.filter(parse("changed:config.title").expr(CTX))) == {"b"}
    assert _ids(frame.filter(parse("changed:title changed:tags").expr(CTX))) == {"a", "b", "c", "e"}
    assert _ids(frame.filter(parse("-changed:title").expr(CTX))) == {"d", "e", "f", "g"}


def test_changed_with_the_real_diff_module() -> None:
    diff = importlib.import_module("auditkit.diff") if _has_diff() else None
    if diff is None or not hasattr(diff, "changed_fields_expr"):
        pytest.skip("auditkit.diff.changed_fields_expr() is not available yet")
    frame = schema.conform(
        pl.DataFrame(
            {
                "event_id": ["a", "b", "c"],
                "timestamp": [NOW] * 3,
                "actor": ["x"] * 3,
                "action": ["updated"] * 3,
                "status": ["success"] * 3,
                "before": ['{"title": "Report", "n": 1}', '{"owner": {"title": "a"}}', None],
                "after": [
                    '{"title": "Q2 Sales Report", "n": 1}',
                    '{"owner": {"title": "a"}}',
                    None,
                ],
            },
            schema_overrides={"timestamp": schema.UTC},
        )
    )
    assert _ids(frame.filter(parse("changed:title").expr(CTX))) == {"a"}
    assert _ids(frame.filter(parse("changed:n").expr(CTX))) == set()


def _has_diff() -> bool:
    try:
        importlib.import_module("auditkit.diff")
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- properties

SMALL = varied_events(200, seed=3)

_VALUE_TEXT = st.text(
    alphabet=st.sampled_from("abcXYZ019 _-.:@*,()\"\\'é/"), min_size=1, max_size=12
)
_WORD_TEXT = st.text(min_size=1, max_size=12).filter(lambda t: "\x1f" not in t)

_KEY_VALUES: dict[str, st.SearchStrategy[str]] = {
    "user": st.one_of(st.just("me"), _VALUE_TEXT.filter(lambda v: v.lower() != "me")),
    "action": st.one_of(
        st.sampled_from(schema.ACTIONS), st.sampled_from(["notebook.*", "s3:PutObject", "Repo.X"])
    ),
    "operation": _VALUE_TEXT,
    "resource": _VALUE_TEXT,
    "resource_type": _VALUE_TEXT,
    "resource_id": _VALUE_TEXT,
    "source": _VALUE_TEXT,
    "account": _VALUE_TEXT,
    "status": st.sampled_from(schema.STATUSES),
    "actor_type": st.sampled_from(schema.ACTOR_TYPES),
    "ip": st.sampled_from(
        ["10.0.0.0/8", "192.168.1", "192.168.1.*", "1.2.3.4", "2001:db8::/32", "2001:db8:", "::1"]
    ),
    "date": st.sampled_from(
        [
            "today",
            "yesterday",
            "7d",
            "24h",
            "2w",
            "2024-06-12",
            ">=2024-06-01",
            ">2024-06-01",
            "<=2024-06-30",
            "<2024-07-01",
            "2024-06-01..2024-06-30",
            "2024-06-01..*",
            "*..2024-06-30",
            "2024-06-01T10:00Z",
            ">=2024-06-01T10:00:00+02:00",
            "2024-06-01T08:00..2024-06-02",
        ]
    ),
    "has": st.sampled_from(["error", "changes", "ip"]),
    "changed": _VALUE_TEXT.filter(lambda v: "*" not in v),
}


@st.composite
def _terms_st(draw: st.DrawFn) -> Term:
    key = draw(st.sampled_from(sorted(_KEY_VALUES)))
    values = draw(st.lists(_KEY_VALUES[key], min_size=1, max_size=3))
    return Term(key, tuple(values))


_LEAVES = st.one_of(_terms_st(), _WORD_TEXT.map(Text))
_NODES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=4).map(lambda c: And(tuple(c))),
        st.lists(inner, min_size=2, max_size=4).map(lambda c: Or(tuple(c))),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(_NODES)
def test_printed_query_parses_back_to_itself(root: object) -> None:
    query = Query(root)  # type: ignore[arg-type]
    text = str(query)
    assert parse(text) == query, text
    assert str(parse(text)) == text


_FRAGMENTS = [
    "user:alice@company.com",
    "user:ALICE*",
    "actor:me",
    "action:updated,deleted",
    "action:notebook.*",
    "operation:s3:PutObject",
    'resource:"Q2 Sales Report"',
    "resource_type:notebook",
    "resource_id:res_*",
    "status:failed",
    "status:in-progress",
    "actor_type:apikey",
    "ip:192.168.1",
    "ip:10.0.0.0/8",
    "ip:172.16.0.0/12",
    "ip:2001:db8::/32",
    "ip:2001:db8:",
    "date:7d",
    "created:today",
    "date:>=2024-06-01",
    "date:2024-06-01..2024-06-30",
    "date:*..2024-06-30T10:00Z",
    "source:github",
    "account:glo*",
    "has:error",
    "has:changes,ip",
    "sales",
    '"sales report"',
    "café",
    "10,000",
]


@st.composite
def _valid_texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=6))
    out = []
    for i, part in enumerate(parts):
        if draw(st.booleans()) and draw(st.booleans()):
            part = "-" + part
        if draw(st.integers(0, 5)) == 0:
            part = f"({part} OR {draw(st.sampled_from(_FRAGMENTS))})"
        if i:
            out.append(draw(st.sampled_from([" ", "  ", " OR ", " AND ", "\t"])))
        out.append(part)
    return "".join(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_valid_texts())
def test_valid_queries_parse_and_run(text: str) -> None:
    query = parse(text)
    assert parse(str(query)) == query
    assert query.describe(CTX)
    SMALL.filter(query.expr(CTX))
    query.time_bounds(CTX)


_GARBAGE = st.text(
    alphabet=st.one_of(
        st.sampled_from(list('()"-:,.*\\ <>=/ORANDuserstatusipdate0123456789')),
        st.characters(),
    ),
    max_size=40,
)


@settings(max_examples=600, deadline=None)
@given(_GARBAGE)
def test_garbage_parses_or_raises_search_syntax_error(text: str) -> None:
    try:
        query = parse(text)
    except SearchSyntaxError as error:
        assert 0 <= error.position <= len(text)
        return
    assert parse(str(query)) == query
    query.describe(CTX)
    query.time_bounds(CTX)
    SMALL.filter(query.expr(CTX))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(KEYS)), _GARBAGE)
def test_garbage_values_parse_or_raise_search_syntax_error(key: str, value: str) -> None:
    text = f"{key}:{value}"
    try:
        query = parse(text)
    except SearchSyntaxError as error:
        assert 0 <= error.position <= len(text)
        return
    assert parse(str(query)) == query
    query.describe(CTX)
    SMALL.filter(query.expr(CTX))


def test_free_text_columns_are_the_documented_ones() -> None:
    assert free_text_columns() == (
        "actor",
        "action",
        "operation",
        "resource_type",
        "resource_name",
        "resource_id",
        "ip_address",
        "details",
        "error_message",
    )


# --------------------------------------------------------------------------- docs/search.md

DOC = Path(__file__).resolve().parents[1] / "docs" / "search.md"


def _doc_descriptions() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- describe-examples -->")[1].split("<!-- /describe-examples -->")[0]
    return re.findall(r"^\| `(.+)` \| (.+) \|$", table, flags=re.MULTILINE)


def _doc_errors() -> list[tuple[str, str]]:
    blocks = re.findall(r"```search-error\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)
    return [tuple(block.split("\n", 1)) for block in blocks]  # type: ignore[misc]


def test_doc_has_examples() -> None:
    assert len(_doc_descriptions()) >= 10
    assert len(_doc_errors()) >= 8


@pytest.mark.parametrize(("query", "english"), _doc_descriptions())
def test_doc_descriptions_are_true(query: str, english: str) -> None:
    assert parse(query).describe() == english


@pytest.mark.parametrize(("query", "message"), _doc_errors())
def test_doc_errors_are_true(query: str, message: str) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        parse(query)
    assert str(info.value) == message
