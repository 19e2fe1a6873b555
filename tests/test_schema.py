"""The canonical schema and its one gate, conform()."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.errors import SchemaError
from auditkit.schema import (
    ACTOR_TYPES,
    DESCRIPTIONS,
    IPV4_PATTERN,
    IPV6_PATTERN,
    REQUIRED,
    SCHEMA,
    STATUSES,
    conform,
    empty,
    invalid_ips,
)


def minimal(**columns: object) -> pl.DataFrame:
    """A one-row frame with the required columns (plain dtypes), plus ``columns``."""
    base: dict[str, object] = {
        "event_id": ["e1"],
        "timestamp": [datetime(2026, 10, 1, 12, 30, tzinfo=UTC)],
        "actor": ["alice@example.com"],
        "action": ["created"],
        "status": ["success"],
    }
    base.update(columns)
    return pl.DataFrame(base)


def test_schema_is_documented_and_required_columns_exist() -> None:
    assert list(DESCRIPTIONS) == list(SCHEMA)
    assert set(REQUIRED) <= set(SCHEMA)
    assert empty().schema == pl.Schema(SCHEMA)
    assert empty().height == 0


def test_conform_casts_compatible_dtypes_and_orders_columns() -> None:
    frame = minimal(
        duration_ms=pl.Series([12], dtype=pl.Int32),
        actor_type=pl.Series(["api_key"], dtype=pl.Categorical),
        account=pl.Series(["acme"], dtype=pl.Categorical),
    ).with_columns(
        pl.col("timestamp").dt.cast_time_unit("ms"),
        pl.col("status").cast(pl.Categorical),
    )
    # Columns in a scrambled order: the result comes back in schema order.
    out = conform(frame.select(reversed(frame.columns)))
    assert out.schema == pl.Schema(SCHEMA)
    row = out.row(0, named=True)
    assert row["duration_ms"] == 12.0
    assert row["actor_type"] == "api_key"
    assert row["status"] == "success"
    assert row["account"] == "acme"
    assert row["timestamp"] == datetime(2026, 10, 1, 12, 30, tzinfo=UTC)


def test_conform_converts_other_time_zones_to_utc() -> None:
    frame = minimal().with_columns(pl.col("timestamp").dt.convert_time_zone("Europe/Paris"))
    out = conform(frame)
    assert out.schema["timestamp"] == SCHEMA["timestamp"]
    assert out.item(0, "timestamp") == datetime(2026, 10, 1, 12, 30, tzinfo=UTC)


def test_conform_fills_optional_columns_with_nulls() -> None:
    out = conform(minimal())
    optional = [c for c in SCHEMA if c not in REQUIRED]
    assert out.select(optional).null_count().row(0) == (1,) * len(optional)
    assert out.select(REQUIRED).null_count().row(0) == (0,) * len(REQUIRED)


def test_conform_without_fill_missing_requires_every_column() -> None:
    with pytest.raises(SchemaError) as info:
        conform(minimal(), fill_missing=False)
    assert info.value.missing == [c for c in SCHEMA if c not in REQUIRED]
    assert conform(conform(minimal()), fill_missing=False).equals(conform(minimal()))


def test_conform_keeps_a_lazy_frame_lazy() -> None:
    out = conform(minimal().lazy())
    assert isinstance(out, pl.LazyFrame)
    assert out.collect().schema == pl.Schema(SCHEMA)


def test_one_error_lists_missing_extra_and_mistyped_columns() -> None:
    frame = pl.DataFrame(
        {
            "event_id": ["e1"],
            "timestamp": ["2026-10-01T12:30:00Z"],  # a string, not a datetime
            "actor": [5],  # an integer, not a string
            "status": ["success"],
            "usr": ["x"],  # not in the schema
            "duration_ms": ["12"],  # a string, not a number
        }
    )
    with pytest.raises(SchemaError) as info:
        conform(frame)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.missing == ["action"]
    assert error.mistyped == {
        "timestamp": ("String", str(SCHEMA["timestamp"])),
        "actor": ("Int64", "String"),
        "duration_ms": ("String", "Float64"),
    }
    message = str(error)
    assert "missing columns: action" in message
    assert "columns not in the schema: usr" in message
    assert "attributes" in message  # says where extra fields belong
    for column in ("timestamp", "actor", "duration_ms"):
        assert f"{column} is" in message


def test_extra_columns_are_refused_not_dropped() -> None:
    with pytest.raises(SchemaError, match="columns not in the schema: region, zone"):
        conform(minimal(region=["eu"], zone=["a"]))


@pytest.mark.parametrize(
    ("column", "values", "unknown"),
    [
        ("status", ["success", "done", "weird"], ["done", "weird"]),
        ("actor_type", ["user", "robot"], ["robot"]),
    ],
)
def test_values_outside_the_vocabulary_are_named(
    column: str, values: list[str], unknown: list[str]
) -> None:
    n = len(values)
    frame = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "timestamp": [datetime(2026, 10, 1, tzinfo=UTC)] * n,
            "actor": ["a"] * n,
            "action": ["created"] * n,
            "status": ["success"] * n,
            column: values,
        }
    )
    with pytest.raises(SchemaError) as info:
        conform(frame)
    assert info.value.bad_values == {column: unknown}
    valid = ACTOR_TYPES if column == "actor_type" else STATUSES
    assert ", ".join(valid) in str(info.value)
    for value in unknown:
        assert repr(value) in str(info.value)


def test_every_vocabulary_value_is_accepted() -> None:
    n = max(len(STATUSES), len(ACTOR_TYPES))
    frame = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "timestamp": [datetime(2026, 10, 1, tzinfo=UTC)] * n,
            "actor": ["a"] * n,
            "action": ["created"] * n,
            "status": [STATUSES[i % len(STATUSES)] for i in range(n)],
            "actor_type": [ACTOR_TYPES[i % len(ACTOR_TYPES)] for i in range(n)],
        }
    )
    out = conform(frame)
    assert set(out.get_column("status").cast(pl.String)) == set(STATUSES)
    assert set(out.get_column("actor_type").cast(pl.String)) == set(ACTOR_TYPES)


def test_make_events_factory_is_canonical_and_deterministic(make_events) -> None:
    first = make_events(50)
    assert first.schema == pl.Schema(SCHEMA)
    assert first.equals(make_events(50))
    assert first.get_column("event_id").n_unique() == 50
    assert make_events(3, status="failed").get_column("status").to_list() == ["failed"] * 3


def test_invalid_ips_names_exactly_the_values_that_are_not_addresses() -> None:
    values = pl.Series(
        [
            "10.0.0.1",
            "10.0.0.1",
            "2001:db8::7",
            "::1",
            "::",
            "fe80::1%eth0",  # a zone: left to ipaddress, which accepts it
            "::ffff:192.0.2.1",  # an IPv4 tail: likewise
            "999.1.1.1",
            "10.0.0",
            "1::2::3",
            "1:2:3:4:5:6:7:8:9",
            "ec2.amazonaws.com",
            "",
            None,
        ]
    )
    assert sorted(invalid_ips(values)) == sorted(
        ["999.1.1.1", "10.0.0", "1::2::3", "1:2:3:4:5:6:7:8:9", "ec2.amazonaws.com", ""]
    )


@settings(max_examples=400, deadline=None)
@given(st.ip_addresses(v=6), st.booleans())
def test_every_ipv6_address_in_hex_groups_matches_the_pattern(
    address: ipaddress.IPv6Address, exploded: bool
) -> None:
    text = address.exploded if exploded else str(address)
    if "." not in text:  # an IPv4 tail is ipaddress's job
        assert re.match(IPV6_PATTERN, text), text


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="0af9:.", min_size=1, max_size=40))
def test_whatever_the_ip_patterns_accept_is_an_address(text: str) -> None:
    """The patterns only save ipaddress calls: a match must never pass a bad value."""
    for pattern in (IPV4_PATTERN, IPV6_PATTERN):
        if re.match(pattern, text):
            ipaddress.ip_address(text)  # raises if the pattern let a bad value through
