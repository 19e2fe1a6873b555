"""Resource history and point-in-time state, on hand-written event sequences."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditkit.diff import DiffError
from auditkit.errors import NotFoundError, QueryError
from auditkit.filters import Context
from auditkit.history import Resource, date_terms, history, resolve, state_at
from auditkit.query import Session
from auditkit.schema import conform
from auditkit.search import Term
from auditkit.store import Store

T = [datetime(2026, 10, 1, 9, 0, tzinfo=UTC) + timedelta(days=i) for i in range(10)]
US = timedelta(microseconds=1)

V1 = {"title": "Report", "settings": {"sharing": {"visibility": "private"}}, "tags": []}
V2 = {**V1, "title": "Q2 Sales Report"}
V3 = {**V2, "tags": ["q2"]}
V_NEW = {"title": "Q2 Sales Report (restored)", "settings": {}, "tags": []}


def row(
    i: int,
    when: datetime,
    action: str,
    *,
    rid: str | None = "rpt_h1",
    name: str | None = "Q2 Sales Report",
    rtype: str = "report",
    status: str = "success",
    before: Any = None,
    after: Any = None,
    raw_before: str | None = None,
    actor: str = "alice@example.com",
) -> dict[str, Any]:
    return {
        "event_id": f"h_{i:04d}",
        "timestamp": when,
        "actor": actor,
        "action": action,
        "resource_type": rtype,
        "resource_id": rid,
        "resource_name": name,
        "status": status,
        "before": raw_before if raw_before is not None else _json(before),
        "after": _json(after),
    }


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def report_story() -> list[dict[str, Any]]:
    return [
        row(1, T[0], "created", after=V1),
        row(2, T[1], "updated", before=V1, after=V2, actor="bob@example.com"),
        row(3, T[2], "viewed"),
        # a failed attempt records what it tried; it must not count
        row(4, T[3], "updated", status="failed", before=V2, after={**V2, "title": "hacked"}),
        row(5, T[4], "updated", before=V2, after=V3),
        row(6, T[5], "deleted", before=V3),
        row(7, T[7], "created", after=V_NEW),
    ]


def partial_story() -> list[dict[str, Any]]:
    """A source that logs only the fields a change touched."""
    kw: dict[str, Any] = {"rid": "nb_p1", "name": "partial-notebook", "rtype": "notebook"}
    return [
        row(20, T[0], "created", after={"a": 1, "b": {"c": 1, "d": 2}, "e": 3}, **kw),
        row(21, T[1], "updated", before={"b": {"c": 1}}, after={"b": {"c": 5}}, **kw),
        row(22, T[2], "updated", before={"e": 3}, after={}, **kw),
        row(23, T[3], "updated", before={"a": 1}, after={"a": 2, "f": [1, 2]}, **kw),
    ]


def others() -> list[dict[str, Any]]:
    return [
        # same name, another type: ambiguous without type:name
        row(30, T[0], "created", rid="nb_twin", name="Twin", rtype="notebook", after={"x": 1}),
        row(31, T[0], "created", rid="q_twin", name="Twin", rtype="query", after={"y": 1}),
        # a source without ids
        row(32, T[0], "created", rid=None, name="bucket-a", rtype="s3", after={"acl": "private"}),
        row(
            33,
            T[1],
            "updated",
            rid=None,
            name="bucket-a",
            rtype="s3",
            before={"acl": "private"},
            after={"acl": "public-read"},
        ),
        # an id that differs only in case is another resource
        row(34, T[2], "viewed", rid="RPT_H1", name="Shouting report"),
        row(
            35,
            T[3],
            "updated",
            rid="nb_bad",
            name="bad-json",
            rtype="notebook",
            raw_before="{not json",
            after={"a": 1},
        ),
    ]


@pytest.fixture
def session(tmp_path: Path) -> Session:
    store = Store(tmp_path / "store", create=True)
    rows = report_story() + partial_story() + others()
    store.append(conform(pl.DataFrame(rows, infer_schema_length=None)))
    return Session(store, ctx=Context(now=datetime(2026, 11, 1, tzinfo=UTC)))


# -- resolving a resource ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rpt_h1", Resource("report", "rpt_h1", "Q2 Sales Report")),
        ("Q2 Sales Report", Resource("report", "rpt_h1", "Q2 Sales Report")),
        ("report:Q2 Sales Report", Resource("report", "rpt_h1", "Q2 Sales Report")),
        ("notebook:Twin", Resource("notebook", "nb_twin", "Twin")),
        ("query:Twin", Resource("query", "q_twin", "Twin")),
        ("bucket-a", Resource("s3", None, "bucket-a")),
        ("RPT_H1", Resource("report", "RPT_H1", "Shouting report")),
    ],
)
def test_resolve(session: Session, text: str, expected: Resource) -> None:
    assert resolve(session, text) == expected


def test_resolve_ambiguous_name_lists_the_candidates(session: Session) -> None:
    with pytest.raises(QueryError) as info:
        resolve(session, "Twin")
    message = str(info.value)
    assert "'Twin' names 2 resources" in message
    assert "notebook:Twin (id nb_twin)" in message
    assert "query:Twin (id q_twin)" in message
    assert "type:name" in message


@pytest.mark.parametrize("text", ["nothing-here", "report:Nope", "Q2 SALES REPORT"])
def test_resolve_unknown(session: Session, text: str) -> None:
    with pytest.raises(NotFoundError, match="no events name a resource"):
        resolve(session, text)


# -- history -------------------------------------------------------------------------------


def test_history_is_oldest_first_with_changes(session: Session) -> None:
    frame = history(session, "Q2 Sales Report")
    assert frame.get_column("event_id").to_list() == [f"h_{i:04d}" for i in range(1, 8)]
    assert frame.get_column("timestamp").is_sorted()
    changes = frame.get_column("changes").to_list()
    assert changes[0].startswith('(created); title: added "Report"; settings: added ')
    assert changes[1] == 'title: "Report" → "Q2 Sales Report"'
    assert changes[2] == ""  # a view records no state
    assert changes[4] == 'tags: added "q2"'
    assert changes[5].endswith("; (deleted)")
    fields = frame.get_column("changed_fields").to_list()
    assert fields[1] == ["title"]
    assert fields[4] == ["tags"]
    assert fields[2] == []
    # every canonical column is kept, plus the two new ones
    assert frame.columns[-2:] == ["changes", "changed_fields"]
    assert frame.schema["changed_fields"] == pl.List(pl.String)


def test_history_range_is_half_open(session: Session) -> None:
    frame = history(session, "rpt_h1", start=T[1], end=T[4])
    assert frame.get_column("event_id").to_list() == ["h_0002", "h_0003", "h_0004"]
    days = history(session, "rpt_h1", start=date(2026, 10, 2), end=date(2026, 10, 3))
    assert days.get_column("event_id").to_list() == ["h_0002"]


def test_history_of_a_resource_without_ids(session: Session) -> None:
    frame = history(session, "s3:bucket-a")
    assert frame.get_column("changes").to_list()[1] == 'acl: "private" → "public-read"'


def test_history_names_the_event_with_bad_json(session: Session) -> None:
    with pytest.raises(DiffError, match="event 'h_0035': before is not valid JSON"):
        history(session, "nb_bad")


def test_date_terms_refuse_naive_and_backwards() -> None:
    assert date_terms(T[0], T[1]) == [
        Term("date", (">=2026-10-01T09:00:00Z",)),
        Term("date", ("<2026-10-02T09:00:00Z",)),
    ]
    assert date_terms(None, T[0] + US, inclusive_end=True) == [
        Term("date", ("<=2026-10-01T09:00:00.000001Z",))
    ]
    with pytest.raises(QueryError, match="timezone-aware"):
        date_terms(datetime(2026, 10, 1), None)
    with pytest.raises(QueryError, match="ends"):
        date_terms(T[2], T[1])


# -- state at a time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (T[0] - US, None),  # before creation
        (T[0], V1),  # at the creating event itself
        (T[1] - US, V1),
        (T[1], V2),
        (T[3], V2),  # the failed update changed nothing
        (T[4] - US, V2),
        (T[4], V3),
        (T[5] - US, V3),
        (T[5], None),  # deleted
        (T[6], None),
        (T[7], V_NEW),  # recreated
        (T[9], V_NEW),
    ],
)
def test_state_at(session: Session, when: datetime, expected: dict[str, Any] | None) -> None:
    assert state_at(session, "rpt_h1", when) == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (T[0], {"a": 1, "b": {"c": 1, "d": 2}, "e": 3}),
        (T[1], {"a": 1, "b": {"c": 5, "d": 2}, "e": 3}),  # nested merge keeps d
        (T[2], {"a": 1, "b": {"c": 5, "d": 2}}),  # e removed
        (T[3], {"a": 2, "b": {"c": 5, "d": 2}, "f": [1, 2]}),
    ],
)
def test_state_at_applies_partial_changes(
    session: Session, when: datetime, expected: dict[str, Any]
) -> None:
    assert state_at(session, "partial-notebook", when) == expected


def test_state_at_refuses_a_naive_time(session: Session) -> None:
    with pytest.raises(QueryError, match="timezone-aware"):
        state_at(session, "rpt_h1", datetime(2026, 10, 5))
