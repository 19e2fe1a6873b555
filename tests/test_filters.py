"""Facet filters: the rows each keeps (hand-computed) and the English it prints."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from auditkit import schema
from auditkit.errors import QueryError
from auditkit.filters import (
    ActionIs,
    ActorTypeIs,
    AllOf,
    CalendarDay,
    Context,
    CurrentUser,
    DateRange,
    Filter,
    Last,
    ResourceTypeIs,
    StatusIs,
    UserIs,
    all_of,
    api_keys,
    between,
    last_days,
    last_hours,
    service_accounts,
    today,
    yesterday,
)

NOW = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
CTX = Context(now=NOW, me="alice@company.com")


def frame_of(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Canonical frame from partial rows; event ids e0, e1, … in order."""
    base = {
        "timestamp": NOW,
        "actor": "alice@company.com",
        "actor_type": "user",
        "action": "viewed",
        "status": "success",
    }
    full = [{**base, "event_id": f"e{i}", **row} for i, row in enumerate(rows)]
    frame = pl.DataFrame(
        full,
        schema_overrides={"timestamp": schema.UTC},
        infer_schema_length=None,
    )
    return schema.conform(frame)


EVENTS = frame_of(
    [
        {"action": "updated", "resource_type": "notebook"},  # e0
        {"action": "deleted", "actor": "Alice@Company.com", "resource_type": "Notebook"},  # e1
        {"action": "created", "actor": "bob@company.com", "resource_type": "database"},  # e2
        {"action": None, "actor": "ak_live_1", "actor_type": "api_key"},  # e3
        {"actor": "svc-etl", "actor_type": "service_account", "status": "failed"},  # e4
        {"actor": None, "actor_type": None, "status": None},  # e5
        {"status": "in_progress", "resource_type": "AWS::S3::Bucket"},  # e6
        {"status": "pending", "actor": "alicia@company.com"},  # e7
    ]
)


def ids(flt: Filter, frame: pl.DataFrame = EVENTS, ctx: Context = CTX) -> set[str]:
    return set(frame.filter(flt.expr(ctx)).get_column("event_id").to_list())


def excluded(flt: Filter, frame: pl.DataFrame = EVENTS, ctx: Context = CTX) -> set[str]:
    return set(frame.filter(~flt.expr(ctx)).get_column("event_id").to_list())


# --------------------------------------------------------------------------- value filters


@pytest.mark.parametrize(
    ("flt", "rows", "english"),
    [
        (ActionIs("updated"), {"e0"}, "action is updated"),
        (ActionIs(["updated", "deleted"]), {"e0", "e1"}, "action is updated or deleted"),
        (
            ActionIs(("created", "updated", "deleted")),
            {"e0", "e1", "e2"},
            "action is created, updated or deleted",
        ),
        (ActionIs("Updated"), {"e0"}, "action is updated"),
        (ResourceTypeIs("notebook"), {"e0", "e1"}, "resource type is notebook"),
        (ResourceTypeIs("aws::s3::bucket"), {"e6"}, "resource type is aws::s3::bucket"),
        (UserIs("alice@company.com"), {"e0", "e1", "e6"}, "user is alice@company.com"),
        (
            UserIs(["bob@company.com", "svc-etl"]),
            {"e2", "e4"},
            "user is bob@company.com or svc-etl",
        ),
        (UserIs("alice*"), set(), "user is alice*"),  # no wildcards in facet filters
        (CurrentUser(), {"e0", "e1", "e6"}, "user is the current user (alice@company.com)"),
        (api_keys(), {"e3"}, "by API keys"),
        (service_accounts(), {"e4"}, "by service accounts"),
        (ActorTypeIs(["apikey", "service"]), {"e3", "e4"}, "by API keys or service accounts"),
        (ActorTypeIs("user"), {"e0", "e1", "e2", "e6", "e7"}, "by users"),
        (StatusIs("failed"), {"e4"}, "status is failed"),
        (StatusIs("in-progress"), {"e6"}, "status is in_progress"),
        (StatusIs(["failed", "pending"]), {"e4", "e7"}, "status is failed or pending"),
    ],
)
def test_value_filters(flt: Filter, rows: set[str], english: str) -> None:
    assert ids(flt) == rows
    assert flt.describe(CTX) == english


def test_negation_keeps_null_rows() -> None:
    # e3 has a null action, e5 a null actor and status: "not X" keeps them.
    assert "e3" in excluded(ActionIs("updated"))
    assert "e5" in excluded(UserIs("alice@company.com"))
    assert "e5" in excluded(StatusIs("failed"))
    assert "e5" in excluded(api_keys())
    assert excluded(ActionIs("updated")) == {f"e{i}" for i in range(8)} - {"e0"}


def test_expressions_are_never_null() -> None:
    for flt in [ActionIs("updated"), UserIs("x"), StatusIs("failed"), api_keys(), last_days(7)]:
        assert EVENTS.select(flt.expr(CTX).alias("m")).get_column("m").null_count() == 0


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: ActionIs("updatd"), "unknown action 'updatd' — did you mean 'updated'?"),
        (lambda: ActionIs("updatd"), "valid action values: created, updated, deleted"),
        (lambda: StatusIs("faild"), "did you mean 'failed'?"),
        (lambda: StatusIs("done"), "valid status values: success, failed, in_progress, pending"),
        (lambda: ActorTypeIs("robot"), "valid actor type values: user, api_key"),
        (lambda: ActionIs([]), "needs at least one value"),
        (lambda: UserIs(""), "non-empty strings"),
    ],
)
def test_bad_values_name_the_value_and_the_valid_ones(make: object, says: str) -> None:
    with pytest.raises(QueryError) as info:
        make()  # type: ignore[operator]
    assert says in str(info.value)
    assert isinstance(info.value, ValueError)


def test_current_user_needs_me() -> None:
    flt = CurrentUser()
    with pytest.raises(QueryError, match=r"Hint: say who .me. is: --me .* Context\(me="):
        flt.expr(Context(now=NOW))
    assert flt.describe(Context(now=NOW)) == "user is the current user"
    assert flt.describe() == "user is the current user"


def test_filters_are_values() -> None:
    assert ActionIs("updated") == ActionIs(["updated"])
    assert ActionIs("updated") != StatusIs("success")
    assert hash(StatusIs("in-progress")) == hash(StatusIs("in_progress"))
    assert {last_days(7), last_days(7)} == {Last(7, "days")}


# --------------------------------------------------------------------------- time filters


def at(*stamps: datetime) -> pl.DataFrame:
    return frame_of([{"timestamp": s} for s in stamps])


def test_last_days_is_a_rolling_window_from_now() -> None:
    frame = at(
        NOW - timedelta(days=7, microseconds=1),
        NOW - timedelta(days=7),
        NOW,
        NOW + timedelta(hours=1),  # clock skew: kept, the window has no upper end
    )
    assert ids(last_days(7), frame) == {"e1", "e2", "e3"}
    assert last_days(7).describe() == "in the last 7 days"
    assert last_days(30).describe() == "in the last 30 days"
    assert last_days(90).bounds(CTX) == (NOW - timedelta(days=90), None)
    assert last_days(1).describe() == "in the last day"
    assert last_hours(24).describe() == "in the last 24 hours"
    assert ids(last_hours(1), frame) == {"e2", "e3"}


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, 10**9])
def test_last_rejects_bad_amounts(amount: object) -> None:
    with pytest.raises(QueryError):
        Last(amount)  # type: ignore[arg-type]


def test_last_rejects_unknown_units() -> None:
    with pytest.raises(QueryError, match="did you mean 'days'"):
        Last(3, "dayz")


def _day_edges(day: date, zone: str) -> list[datetime]:
    tz = ZoneInfo(zone)
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    tick = timedelta(microseconds=1)
    return [start - tick, start, end - tick, end]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo"])
@pytest.mark.parametrize("clock", ["00:00:00", "12:00:00", "23:59:59.999999"])
def test_today_at_day_boundaries(zone: str, clock: str) -> None:
    day = date(2024, 6, 20)
    now = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=ZoneInfo(zone))
    ctx = Context(now=now, tz=zone)
    frame = at(*_day_edges(day, zone))
    # e0 is the last microsecond of yesterday, e3 the first of tomorrow
    assert ids(today(), frame, ctx) == {"e1", "e2"}
    assert ids(yesterday(), frame, ctx) == {"e0"}
    assert today().describe() == "today"
    assert yesterday().describe() == "yesterday"


def test_today_follows_the_context_zone_not_utc() -> None:
    # 02:00 UTC on June 20 is still June 19 in New York
    ctx = Context(now=datetime(2024, 6, 20, 2, tzinfo=UTC), tz="America/New_York")
    start, end = today().bounds(ctx)
    assert start == datetime(2024, 6, 19, 4, tzinfo=UTC)
    assert end == datetime(2024, 6, 20, 4, tzinfo=UTC)


def test_today_across_a_dst_change() -> None:
    # 2024-03-10 is 23 hours long in New York
    ctx = Context(now=datetime(2024, 3, 10, 15, tzinfo=UTC), tz="America/New_York")
    start, end = today().bounds(ctx)
    assert start is not None and end is not None
    assert end - start == timedelta(hours=23)


def test_calendar_day_days_ago() -> None:
    assert CalendarDay(3).bounds(CTX) == (
        datetime(2024, 6, 17, tzinfo=UTC),
        datetime(2024, 6, 18, tzinfo=UTC),
    )
    with pytest.raises(QueryError):
        CalendarDay(-1)


def test_date_range_is_half_open() -> None:
    start = datetime(2024, 6, 1, tzinfo=UTC)
    end = datetime(2024, 6, 2, tzinfo=UTC)
    tick = timedelta(microseconds=1)
    frame = at(start - tick, start, end - tick, end)
    assert ids(DateRange(start, end), frame) == {"e1", "e2"}
    assert ids(DateRange(start=start), frame) == {"e1", "e2", "e3"}
    assert ids(DateRange(end=end), frame) == {"e0", "e1", "e2"}
    assert ids(DateRange(), frame) == {"e0", "e1", "e2", "e3"}


def test_between_dates_is_inclusive_whole_days() -> None:
    june = between(date(2024, 6, 1), date(2024, 6, 30))
    frame = at(
        datetime(2024, 5, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 6, 1, tzinfo=UTC),
        datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 7, 1, tzinfo=UTC),
    )
    assert ids(june, frame) == {"e1", "e2"}
    assert june.describe() == "from 2024-06-01 to 2024-06-30"
    assert DateRange(date(2024, 6, 1), date(2024, 7, 1)).describe() == (
        "from 2024-06-01 to 2024-06-30"
    )
    assert between(date(2024, 6, 1), date(2024, 6, 1)).describe() == "on 2024-06-01"


def test_between_datetimes_includes_the_end_instant() -> None:
    start = datetime(2024, 6, 1, 9, tzinfo=UTC)
    end = datetime(2024, 6, 1, 17, tzinfo=UTC)
    tick = timedelta(microseconds=1)
    frame = at(start - tick, start, end, end + tick)
    assert ids(between(start, end), frame) == {"e1", "e2"}
    assert between(start, end).describe() == "from 2024-06-01 09:00 UTC to 2024-06-01 17:00 UTC"
    assert DateRange(start, end).describe() == (
        "from 2024-06-01 09:00 UTC until 2024-06-01 17:00 UTC"
    )


def test_dates_are_days_in_the_context_zone() -> None:
    paris = Context(now=NOW, tz="Europe/Paris")
    assert between(date(2024, 6, 1), date(2024, 6, 1)).bounds(paris) == (
        datetime(2024, 5, 31, 22, tzinfo=UTC),
        datetime(2024, 6, 1, 22, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("flt", "english"),
    [
        (DateRange(start=date(2024, 6, 1)), "since 2024-06-01"),
        (DateRange(end=date(2024, 7, 1)), "on or before 2024-06-30"),
        (DateRange(end=datetime(2024, 7, 1, 8, 30, tzinfo=UTC)), "before 2024-07-01 08:30 UTC"),
        (
            DateRange(start=datetime(2024, 7, 1, 8, 30, 5, tzinfo=ZoneInfo("Europe/Paris"))),
            "since 2024-07-01 08:30:05+02:00",
        ),
        (DateRange(), "at any time"),
    ],
)
def test_date_range_descriptions(flt: DateRange, english: str) -> None:
    assert flt.describe() == english


def test_date_range_rejects_naive_and_reversed() -> None:
    with pytest.raises(QueryError, match="no time zone"):
        DateRange(datetime(2024, 6, 1))
    with pytest.raises(QueryError, match="not before"):
        DateRange(date(2024, 6, 2), date(2024, 6, 1))
    with pytest.raises(QueryError, match="not before"):
        between(datetime(2024, 6, 2, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))


# --------------------------------------------------------------------------- combining


def test_all_of_combines_and_describes() -> None:
    combined = all_of([UserIs("alice@company.com"), ActionIs("updated"), last_days(7)])
    assert combined.describe(CTX) == (
        "user is alice@company.com, and action is updated, in the last 7 days"
    )
    frame = frame_of(
        [
            {"action": "updated", "timestamp": NOW - timedelta(days=1)},
            {"action": "updated", "timestamp": NOW - timedelta(days=8)},
            {"action": "deleted", "timestamp": NOW - timedelta(days=1)},
            {"action": "updated", "actor": "bob@company.com"},
        ]
    )
    assert ids(combined, frame) == {"e0"}


def test_all_of_puts_time_phrases_last() -> None:
    combined = all_of([today(), StatusIs("failed"), api_keys()])
    assert combined.describe() == "status is failed, and by API keys, today"
    assert all_of([last_days(30)]).describe() == "in the last 30 days"


def test_all_of_nothing_is_every_event() -> None:
    assert ids(all_of([])) == {f"e{i}" for i in range(8)}
    assert all_of([]).describe() == "all events"
    assert isinstance(all_of([]), AllOf)


def test_all_of_rejects_non_filters() -> None:
    with pytest.raises(QueryError):
        all_of(["status:failed"])  # type: ignore[list-item]


# --------------------------------------------------------------------------- context


def test_context_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    ctx = Context()
    assert before <= ctx.now <= datetime.now(UTC)
    assert ctx.me is None
    assert ctx.zone.utcoffset(NOW) == timedelta(0)


def test_context_rejects_naive_now_and_unknown_zones() -> None:
    with pytest.raises(QueryError, match="timezone-aware"):
        Context(now=datetime(2024, 6, 20))
    with pytest.raises(QueryError, match="unknown time zone 'Mars/Olympus'"):
        Context(now=NOW, tz="Mars/Olympus")
