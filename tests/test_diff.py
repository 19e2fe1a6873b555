"""Tests for auditkit.diff: typed changes, apply, rendering, event details, changed_fields."""

from __future__ import annotations

import copy
import doctest
import importlib
import json
import pkgutil
import random
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auditkit.diff as diff_module
from auditkit.diff import (
    Change,
    DiffError,
    EventDetails,
    apply,
    changed_fields,
    changed_fields_expr,
    details,
    diff,
    diff_json,
    format_path,
    render_html,
    render_text,
)
from auditkit.diff import _vectorized as diff_vectorized
from auditkit.errors import AuditkitError

# ---------------------------------------------------------------------------------------
# Input → expected changes and text, one row per behaviour.

REPORT = {"title": "Report", "owner": None, "tags": ["q2", "sales"]}

CASES: list[tuple[str, Any, Any, list[tuple[str, str]], str]] = [
    (
        "scalar change",
        {"title": "Report", "pages": 3},
        {"title": "Q2 Sales Report", "pages": 3},
        [("title", "changed")],
        'title: "Report" → "Q2 Sales Report"',
    ),
    (
        "nested object",
        {"settings": {"sharing": {"visibility": "private", "link": False}}},
        {"settings": {"sharing": {"visibility": "public", "link": False}}},
        [("settings.sharing.visibility", "changed")],
        'settings.sharing.visibility: "private" → "public"',
    ),
    (
        "list of scalars",
        {"tags": ["q1", "q2", "sales"]},
        {"tags": ["q1", "sales", "q3"]},
        [("tags", "list_changed")],
        'tags: added "q3"; removed "q2"',
    ),
    (
        "list of scalars keeps multiplicity",
        {"tags": ["a", "a", "b"]},
        {"tags": ["a", "b"]},
        [("tags", "list_changed")],
        'tags: removed "a"',
    ),
    (
        "list reordered only",
        {"tags": ["a", "b"]},
        {"tags": ["b", "a"]},
        [("tags", "list_changed")],
        'tags: reordered ["a", "b"] → ["b", "a"]',
    ),
    (
        "list of objects matched by id",
        {"members": [{"id": 1, "role": "viewer"}, {"id": 2, "role": "editor"}]},
        {"members": [{"id": 2, "role": "owner"}, {"id": 3, "role": "viewer"}]},
        [("members", "list_changed")],
        'members[id=2].role: "editor" → "owner"\n'
        'members: added {"id": 3, "role": "viewer"}; removed {"id": 1, "role": "viewer"}',
    ),
    (
        "list of objects matched by name",
        {"columns": [{"name": "email", "type": "text"}]},
        {"columns": [{"name": "email", "type": "varchar"}]},
        [("columns", "list_changed")],
        'columns[name="email"].type: "text" → "varchar"',
    ),
    (
        "list of objects without a key is positional",
        {"steps": [{"run": "a", "timeout": 30}, {"run": "b"}]},
        {"steps": [{"run": "a", "timeout": 60}]},
        [("steps", "list_changed")],
        'steps[0].timeout: 30 → 60\nsteps: removed {"run": "b"}',
    ),
    (
        "type change",
        {"limit": 10},
        {"limit": "10"},
        [("limit", "type_changed")],
        'limit: 10 (number) → "10" (string)',
    ),
    (
        "boolean is not a number",
        {"enabled": True},
        {"enabled": 1},
        [("enabled", "type_changed")],
        "enabled: true (boolean) → 1 (number)",
    ),
    ("int and float of equal value are equal", {"n": 1}, {"n": 1.0}, [], "no changes"),
    (
        "null to value",
        {"owner": None},
        {"owner": "bob@x.com"},
        [("owner", "changed")],
        'owner: null → "bob@x.com"',
    ),
    (
        "value to null",
        {"owner": "bob@x.com"},
        {"owner": None},
        [("owner", "changed")],
        'owner: "bob@x.com" → null',
    ),
    ("absent to null is added", {}, {"owner": None}, [("owner", "added")], "owner: added null"),
    (
        "field added and removed",
        {"title": "Report", "draft": True},
        {"title": "Report", "owner": "bob@x.com"},
        [("draft", "removed"), ("owner", "added")],
        'draft: removed true\nowner: added "bob@x.com"',
    ),
    (
        "creation",
        None,
        {"title": "Report", "owner": None},
        [("$", "added"), ("title", "added"), ("owner", "added")],
        '(created)\ntitle: added "Report"\nowner: added null',
    ),
    (
        "deletion",
        {"title": "Report"},
        None,
        [("title", "removed"), ("$", "removed")],
        'title: removed "Report"\n(deleted)',
    ),
    ("creation of an empty object", None, {}, [("$", "added")], "(created)"),
    ("nothing to nothing", None, None, [], "no changes"),
    ("unchanged", REPORT, copy.deepcopy(REPORT), [], "no changes"),
    (
        "unicode",
        {"title": "Café report"},
        {"title": "Café 报告 😀"},
        [("title", "changed")],
        'title: "Café report" → "Café 报告 😀"',
    ),
    (
        "keys that need quoting",
        {"labels": {"team.name": "a", "display name": "x"}},
        {"labels": {"team.name": "b", "display name": "x"}},
        [('labels["team.name"]', "changed")],
        'labels["team.name"]: "a" → "b"',
    ),
    (
        "whole non-object value",
        [1, 2],
        {"a": 1},
        [("$", "type_changed")],
        '(value): [1, 2] (array) → {"a": 1} (object)',
    ),
]


@pytest.mark.parametrize(
    ("before", "after", "expected", "text"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_diff_table(before: Any, after: Any, expected: list[tuple[str, str]], text: str) -> None:
    changes = diff(before, after)
    assert [(c.path_str, c.kind) for c in changes] == expected
    assert render_text(changes) == text
    assert _same(apply(before, changes), after)


def test_change_records_values_and_list_details() -> None:
    (title,) = diff({"title": "Report"}, {"title": "Q2 Sales Report"})
    assert title == Change(("title",), "changed", old="Report", new="Q2 Sales Report")
    (tags,) = diff({"tags": ["q2", "x"]}, {"tags": ["x", "q3"]})
    assert (tags.added, tags.removed, tags.old, tags.new) == (
        ("q3",),
        ("q2",),
        ["q2", "x"],
        ["x", "q3"],
    )
    (members,) = diff({"m": [{"id": 1, "r": "a"}]}, {"m": [{"id": 1, "r": "b"}]})
    assert members.key == "id"
    assert members.items == (Change(("m", 0, "r"), "changed", old="a", new="b"),)


def test_change_is_frozen() -> None:
    change = Change(("a",), "added", new=1)
    with pytest.raises(AttributeError):
        change.kind = "removed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "$"),
        (("title",), "title"),
        (("settings", "sharing", "visibility"), "settings.sharing.visibility"),
        (("tags", 2), "tags[2]"),
        (("a b", "c"), '["a b"].c'),
        (("", "x.y", "z"), '[""]["x.y"].z'),
        (("n", "0"), "n.0"),
        (("x", 'q"uote'), '["q\\"uote"]'.join(["x", ""])),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


def test_diff_rejects_values_that_are_not_json() -> None:
    with pytest.raises(DiffError, match="set value"):
        diff({"a": {1, 2}}, {"a": [1, 2]})
    with pytest.raises(DiffError, match="not a string"):
        diff({1: "a"}, {1: "b"})


# ---------------------------------------------------------------------------------------
# diff_json errors


def test_diff_json_parses_both_sides() -> None:
    changes = diff_json('{"title": "Report"}', '{"title": "Q2"}')
    assert [(c.path_str, c.old, c.new) for c in changes] == [("title", "Report", "Q2")]
    assert diff_json(None, None) == []


@pytest.mark.parametrize(
    ("before", "after", "side", "line", "column"),
    [
        ('{"title": "Report",}', "{}", "before", 1, 20),
        ("{}", '{\n  "title": "Report"\n  "owner": 1\n}', "after", 3, 3),
        ("nope", "{}", "before", 1, 1),
    ],
)
def test_diff_json_bad_json_names_side_and_position(
    before: str, after: str, side: str, line: int, column: int
) -> None:
    with pytest.raises(DiffError) as info:
        diff_json(before, after)
    error = info.value
    assert isinstance(error, AuditkitError) and isinstance(error, ValueError)
    assert (error.side, error.line, error.column) == (side, line, column)
    message = str(error)
    assert message.startswith(f"{side} is not valid JSON")
    assert f"line {line}, column {column}" in message
    assert "^" in message and "Hint:" in message


@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_state_is_taken_as_absent(blank: str) -> None:
    """CSV exports write an empty cell for "no state": a creation, not a parse error."""
    assert diff_json(blank, '{"title": "Q2"}') == diff_json(None, '{"title": "Q2"}')
    frame = pl.DataFrame({"before": [blank, blank], "after": ['{"title": "Q2"}', blank]})
    assert changed_fields(frame)["changed_fields"].to_list() == [["title"], []]


def test_diff_json_rejects_nan() -> None:
    with pytest.raises(DiffError, match="NaN") as info:
        diff_json('{"x": NaN}', None)
    assert info.value.side == "before"


# ---------------------------------------------------------------------------------------
# apply


def test_apply_does_not_modify_before() -> None:
    before = {"a": {"b": [1, 2]}, "c": 1}
    after = {"a": {"b": [2]}, "d": 2}
    snapshot = copy.deepcopy(before)
    assert apply(before, diff(before, after)) == after
    assert before == snapshot


def test_apply_to_the_wrong_state_raises() -> None:
    changes = diff({"a": {"b": 1}}, {"a": {"b": 2}})
    with pytest.raises(DiffError, match=r"a\.b") as info:
        apply({"x": 1}, changes)
    assert "Hint:" in str(info.value)


# Hypothesis: any JSON values round-trip through diff + apply.

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """JSON equality that, unlike ``==``, tells booleans from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(a == b)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, JSON_VALUES)
def test_apply_diff_round_trips_any_json(before: Any, after: Any) -> None:
    changes = diff(before, after)
    assert _same(apply(before, changes), after)
    assert render_text(changes)  # renders without error
    assert render_html(changes)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_diff_of_equal_values_is_empty(value: Any) -> None:
    assert diff(value, copy.deepcopy(value)) == []


# ---------------------------------------------------------------------------------------
# Rendering


def test_render_text_abbreviates_long_values() -> None:
    long = "x" * 500
    text = render_text(diff({"body": "short"}, {"body": long}))
    assert text.startswith('body: "short" → "xxx')
    assert text.endswith('…"')
    assert len(text) < 250
    assert render_text(diff({"body": "a"}, {"body": long}), max_value_chars=None).count("x") == 500
    big = {"rows": list(range(300))}
    assert render_text(diff(None, {"data": big})).splitlines()[1].endswith("…")


def test_render_text_is_one_line_per_change() -> None:
    changes = diff({"note": "a"}, {"note": "line 1\nline 2\u2028line 3"})
    assert len(render_text(changes).splitlines()) == 1


def test_render_html_escapes_everything() -> None:
    evil = "<script>alert('x')</script>"
    changes = diff(
        {"title": "a", "tags": ["<b>"]},
        {"title": evil, evil: evil, "tags": ["<i>"]},
    )
    page = render_html(changes)
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;" in page
    assert page.startswith('<table class="auditkit-diff"')
    assert "line-through" in page  # old values struck
    assert "http" not in page and "<link" not in page and "src=" not in page


def test_render_empty() -> None:
    assert render_text([]) == "no changes"
    assert "No changes" in render_html([])


# ---------------------------------------------------------------------------------------
# Event details


def make_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": "ev_1",
        "timestamp": datetime(2026, 5, 1, 9, 30, 0, 123456, tzinfo=UTC),
        "actor": "alice@x.com",
        "actor_type": "user",
        "action": "updated",
        "operation": "report.update",
        "resource_type": "report",
        "resource_id": "rp_7",
        "resource_name": "Q2 Sales Report",
        "status": "success",
        "ip_address": "192.168.1.20",
        "user_agent": "Mozilla/5.0",
        "session_id": "s_1",
        "request_id": "r_1",
        "duration_ms": 42.5,
        "details": "Report renamed",
        "error_message": None,
        "before": '{"title": "Report"}',
        "after": '{"title": "Q2 Sales Report"}',
        "source": "native",
        "account": "acme",
        "attributes": '{"region": "eu-west-1"}',
        "ingested_at": datetime(2026, 5, 1, 9, 31, tzinfo=UTC),
    }
    event.update(overrides)
    return event


def test_details_sections() -> None:
    from auditkit.schema import SCHEMA

    row = pl.DataFrame([make_event()], schema=SCHEMA).row(0, named=True)
    info = details(row)
    assert isinstance(info, EventDetails)
    assert info.basic["actor"] == "alice@x.com" and info.basic["actor_type"] == "user"
    assert info.basic["resource_name"] == "Q2 Sales Report"
    assert info.metadata["timestamp"] == "2026-05-01T09:30:00.123456Z"
    assert info.metadata["ip_address"] == "192.168.1.20"
    assert [c.path_str for c in info.changes] == ["title"]
    assert info.attributes == {"region": "eu-west-1"}
    text = info.to_text()
    for expected in (
        "who:        alice@x.com (user)",
        "action:     updated (report.update)",
        'resource:   report rp_7 "Q2 Sales Report"',
        "timestamp:  2026-05-01T09:30:00.123456Z",
        "duration:   42.5 ms",
        'title: "Report" → "Q2 Sales Report"',
        'region: "eu-west-1"',
    ):
        assert expected in text


def test_details_handles_missing_columns_and_naive_timestamps() -> None:
    info = details({"event_id": "e", "timestamp": datetime(2026, 1, 2, 3, 4, 5)})
    assert info.metadata["timestamp"] == "2026-01-02T03:04:05.000000Z"
    assert info.changes == [] and info.attributes == {}
    assert "no changes" in info.to_text()


def test_details_html_is_escaped_and_self_contained() -> None:
    evil = "<script>alert(1)</script>"
    page = details(
        make_event(
            actor=evil,
            error_message=evil,
            after=json.dumps({"title": evil}),
            attributes=json.dumps({evil: evil}),
        )
    ).to_html()
    assert "<script>" not in page
    assert page.count("&lt;script&gt;") >= 4
    assert "src=" not in page and "<link" not in page


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("before", "{oops", "before is not valid JSON"),
        ("after", '{"a": 1', "after is not valid JSON"),
        ("attributes", "[1, 2]", "attributes must be a JSON object"),
        ("attributes", "{,}", "attributes is not valid JSON"),
    ],
)
def test_details_bad_json_names_event_and_column(column: str, value: str, match: str) -> None:
    with pytest.raises(DiffError, match=match) as info:
        details(make_event(**{column: value}))
    assert "event 'ev_1'" in str(info.value)
    assert info.value.side == column


# ---------------------------------------------------------------------------------------
# changed_fields: vectorized, must agree with diff()


def expected_fields(before_text: str | None, after_text: str | None) -> list[str]:
    changes = diff_json(before_text, after_text)
    return sorted({c.path_str for c in changes if c.path})


def assert_agrees(before: list[str | None], after: list[str | None]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"before": before, "after": after}, schema={"before": pl.String, "after": pl.String}
    )
    out = changed_fields(frame)
    assert out.schema["changed_fields"] == pl.List(pl.String)
    for b, a, got in out.iter_rows():
        assert got == expected_fields(b, a), (b, a)
    return out


def test_changed_fields_example() -> None:
    before = {
        "title": "Report",
        "settings": {"sharing": {"visibility": "private"}},
        "tags": ["q2"],
        "pages": 3,
    }
    after = {
        "title": "Q2 Sales Report",
        "settings": {"sharing": {"visibility": "public"}},
        "tags": ["q2", "q3"],
        "pages": 3,
    }
    out = assert_agrees(
        [json.dumps(before), None, json.dumps(before), None, "null", '{"a": null}'],
        [json.dumps(after), json.dumps(after), None, None, "null", "{}"],
    )
    assert out["changed_fields"].to_list() == [
        ["settings.sharing.visibility", "tags", "title"],
        ["pages", "settings", "tags", "title"],
        ["pages", "settings", "tags", "title"],
        [],
        [],
        ["a"],
    ]


def test_changed_fields_lazy_and_expression() -> None:
    frame = pl.DataFrame({"before": ['{"a": 1}', '{"a": 1}'], "after": ['{"a": 2}', '{"a": 1}']})
    lazy = changed_fields(frame.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect()["changed_fields"].to_list() == [["a"], []]
    selected = frame.select(changed_fields_expr())
    assert selected.columns == ["changed_fields"]
    assert selected["changed_fields"].to_list() == [["a"], []]
    # works inside filters too, as the search module uses it
    hits = frame.filter(changed_fields_expr().list.contains("a"))
    assert len(hits) == 1


def test_changed_fields_all_null_and_empty_frames() -> None:
    empty = pl.DataFrame(schema={"before": pl.String, "after": pl.String})
    assert changed_fields(empty)["changed_fields"].to_list() == []
    nulls = pl.DataFrame({"before": [None, None], "after": [None, None]})
    assert changed_fields(nulls)["changed_fields"].to_list() == [[], []]


def test_changed_fields_bad_json_raises() -> None:
    frame = pl.DataFrame({"before": ['{"a": 1}', '{"a": 1,}'], "after": ['{"a": 2}', '{"a": 3}']})
    with pytest.raises(DiffError, match="before is not valid JSON"):
        changed_fields(frame)
    frame = pl.DataFrame({"before": ['{"a": 1}', '{"a": 1}'], "after": ['{"a": 2}', '{"a": 3]}']})
    with pytest.raises(DiffError, match="after is not valid JSON"):
        changed_fields(frame.lazy()).collect()


TRICKY = [
    # absent vs null, at the root and nested, and inside lists of objects
    ('{"a": 1}', '{"a": 1, "b": null}'),
    ('{"s": {"x": null}}', '{"s": {}}'),
    ('{"s": null}', '{"s": {}}'),
    ('{"m": [{"id": 1, "r": null}]}', '{"m": [{"id": 1}]}'),
    # type changes that typed readers could coerce
    ('{"n": 10}', '{"n": "10"}'),
    ('{"n": true}', '{"n": 1}'),
    ('{"n": 1}', '{"n": 1.0}'),
    ('{"n": 5}', '{"n": [5]}'),
    ('{"n": "[1]"}', '{"n": [1]}'),
    ('{"n": {"a": 1}}', '{"n": "x"}'),
    ('{"n": 9007199254740993}', '{"n": 9007199254740992}'),
    ('{"n": 18446744073709551616}', '{"n": 18446744073709551617}'),
    ('{"n": -0.0}', '{"n": 0}'),
    # formatting, escapes, duplicate keys, key order
    ('{"a":1,"b":2}', '{"b": 2, "a": 1}'),
    ('{"a": "\\u00e9"}', '{"a": "é"}'),
    ('{"a": "x\\"y"}', '{"a": "x\\"z"}'),
    ('{"a": "\\ud83d\\ude00"}', '{"a": "😀"}'),
    ('{"a": 1, "a": 2}', '{"a": 2}'),
    ('{\n  "a": 1\n}', '{"a": 2}'),
    ('{"a" : 1}', '{"a": 1}'),
    ('{"k": "say \\"x\\": null"}', '{"k": "say"}'),
    # lists, nesting and non-object states
    ('{"t": [1, 2]}', '{"t": [2, 1]}'),
    ('{"t": [[1], []]}', '{"t": [[1], [null]]}'),
    ('{"t": []}', '{"t": {}}'),
    ('{"t": [{"b": 1, "a": 2}]}', '{"t": [{"a": 2, "b": 1}]}'),
    ("[1, 2]", '{"a": 1}'),
    ('"text"', None),
    (None, "5"),
    ('{"a.b": 1, "": 2, "x y": {"z": 1}}', '{"a.b": 2, "": 3, "x y": {"z": 2}}'),
]


def test_changed_fields_tricky_pairs_agree_with_diff() -> None:
    before = [b for b, _ in TRICKY]
    after = [a for _, a in TRICKY]
    # repeated so that the typed (batch) readers see enough rows to engage
    assert_agrees(before * 40, after * 40)


def _random_states(
    seed: int, rows: int, *, nulls: bool
) -> tuple[list[str | None], list[str | None]]:
    """Type-consistent random states (as real resources have), with 0-3 changes each."""
    rng = random.Random(seed)
    words = ["", "x", "10", "true", "é😀", 'q"u:o', "[1]", "a b", "null"]

    def make_type(depth: int = 0) -> Any:
        roll = rng.random()
        if depth >= 3 or roll < 0.45:
            return rng.choice(["str", "int", "float", "bool", "num"])
        if roll < 0.7:
            keys = rng.sample(["a", "b", "id", "name", "x.y", "é", ""], rng.randint(0, 4))
            return {k: make_type(depth + 1) for k in keys}
        return [make_type(depth + 1)]

    def value(kind: Any) -> Any:
        if nulls and rng.random() < 0.1:
            return None
        if isinstance(kind, dict):
            return {k: value(v) for k, v in kind.items() if rng.random() < 0.85}
        if isinstance(kind, list):
            return [value(kind[0]) for _ in range(rng.randint(0, 3))]
        return {
            "str": lambda: rng.choice(words),
            "int": lambda: rng.choice([0, 1, -1, 7, 2**40, 2**63 - 1]),
            "float": lambda: rng.choice([0.5, -0.0, 2.5, 1.0, 1e-300]),
            "num": lambda: rng.choice([1, 1.0, 2, 2.5]),
            "bool": lambda: rng.random() < 0.5,
        }[kind]()

    shape = {k: make_type() for k in ["id", "title", "settings", "tags", "members", "n"]}
    before, after = [], []
    for _ in range(rows):
        b = {key: value(kind) for key, kind in shape.items() if rng.random() < 0.85}
        a = copy.deepcopy(b)
        for key in rng.sample(list(shape), rng.randint(0, 3)):
            a[key] = value(shape[key])
        if rng.random() < 0.05:
            b = None
        elif rng.random() < 0.03:
            a = None
        compact = rng.random() < 0.5
        before.append(
            None if b is None else json.dumps(b, separators=(",", ":") if compact else None)
        )
        after.append(None if a is None else json.dumps(a, ensure_ascii=rng.random() < 0.3))
    return before, after


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("nulls", [False, True])
def test_changed_fields_agrees_with_diff_on_random_states(seed: int, nulls: bool) -> None:
    assert_agrees(*_random_states(seed, 3000, nulls=nulls))


def test_changed_fields_agrees_when_the_strict_reader_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Force the lenient Polars read that the batch uses when pyarrow's strict read fails.
    monkeypatch.setattr(diff_vectorized, "_read_arrow", lambda rows, spec: None)
    for seed in range(3):
        assert_agrees(*_random_states(100 + seed, 3000, nulls=seed == 2))


def test_changed_fields_agrees_with_a_rare_shape_in_a_large_batch() -> None:
    before, after = _random_states(7, 12000, nulls=False)
    before[9000] = '{"id": "not-a-number", "extra": {"deep": [1, "x", {"k": null}]}}'
    after[9000] = '{"id": 5, "extra": {"deep": [1, "x", {}]}}'
    assert_agrees(before, after)


OBJECT_KEYS = st.sampled_from(["a", "b", "id", "name", "x.y", "", "é"])
SMALL_SCALARS = st.sampled_from(
    [None, True, False, 0, 1, 1.0, -1, 2.5, "", "x", "1", "true", "null"]
)
SMALL_VALUES = st.recursive(
    SMALL_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(OBJECT_KEYS, children, max_size=3)
    ),
    max_leaves=8,
)
OBJECTS = st.dictionaries(OBJECT_KEYS, SMALL_VALUES, max_size=5)


@st.composite
def state_pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    before = draw(st.none() | OBJECTS)
    mode = draw(st.sampled_from(["edit", "edit", "replace", "delete"]))
    if mode == "delete":
        return before, None
    if mode == "replace" or before is None:
        return before, draw(OBJECTS | st.none())
    after = copy.deepcopy(before)
    for key in draw(st.lists(OBJECT_KEYS, max_size=3)):
        if draw(st.booleans()):
            after[key] = draw(SMALL_VALUES)
        else:
            after.pop(key, None)
    return before, after


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(state_pairs(), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_changed_fields_agrees_with_diff_hypothesis(
    pairs: list[tuple[Any, Any]], rng: random.Random
) -> None:
    def encode(value: Any) -> str | None:
        if value is None:
            return None
        separators = rng.choice([(",", ":"), (", ", ": ")])
        return json.dumps(value, separators=separators, ensure_ascii=rng.random() < 0.5)

    before = [encode(b) for b, _ in pairs]
    after = [encode(a) for _, a in pairs]
    # Repeat the rows so batches are big enough for the typed readers to be used.
    assert_agrees(before * 8, after * 8)


def test_module_doctests() -> None:
    """The examples in every module of the package run, with the public names in scope."""
    public = {name: getattr(diff_module, name) for name in diff_module.__all__}
    attempted = 0
    for info in pkgutil.iter_modules(diff_module.__path__):
        module = importlib.import_module(f"auditkit.diff.{info.name}")
        result = doctest.testmod(module, extraglobs=public)
        assert result.failed == 0, info.name
        attempted += result.attempted
    assert attempted >= 7  # as many as the single module had


def test_typed_path_decides_type_consistent_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards the batch path itself: without it every row would be diffed in Python and
    # the agreement tests above would pass trivially.
    seen = []
    real = diff_vectorized._python_paths

    def spy(rows: pl.DataFrame) -> pl.DataFrame:
        seen.append(len(rows))
        return real(rows)

    monkeypatch.setattr(diff_vectorized, "_python_paths", spy)
    before, after = _random_states(13, 3000, nulls=True)
    assert_agrees(before, after)
    assert sum(seen) < 0.5 * len(before)


def _repeat(rows: int, before: str, after: str) -> tuple[list[str | None], list[str | None]]:
    return [before] * rows, [after] * rows


def test_changed_fields_big_integers_in_a_float_field() -> None:
    before, after = _repeat(5000, '{"v": 0.5, "w": 1}', '{"v": 1.5, "w": 1}')
    before[4321], after[4321] = '{"v": 9007199254740993, "w": 1}', '{"v": 9007199254740992, "w": 1}'
    before[4322], after[4322] = '{"v": 1e300, "w": 1}', '{"v": 1e300, "w": 2}'
    out = assert_agrees(before, after)
    assert out["changed_fields"][4321].to_list() == ["v"]


def test_changed_fields_keys_the_sample_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unique texts, so the structure sample (every n-th text) misses the rare rows.
    before = [f'{{"a": {i}, "s": {{"x": "p"}}, "t": [1, 2]}}' for i in range(5000)]
    after = [f'{{"a": {i + 1}, "s": {{"x": "p"}}, "t": [1, 2]}}' for i in range(5000)]
    for i in (1001, 2003, 3007):
        before[i] = f'{{"a": 1, "s": {{"x": "p", "y{i}": [1]}}, "extra{i}": true, "t": [1, 2]}}'
    for i in (4009, 4011, 4013):  # items of an unexpected type, equal if they were lost
        before[i] = '{"a": 1, "s": {"x": "p"}, "t": [1, "x"]}'
        after[i] = '{"a": 1, "s": {"x": "p"}, "t": [1, "y"]}'
    for lenient in (False, True):
        if lenient:  # the Polars read that is used when pyarrow's strict read fails
            monkeypatch.setattr(diff_vectorized, "_read_arrow", lambda rows, spec: None)
        out = assert_agrees(before, after)
        assert out["changed_fields"][2003].to_list() == ["a", "extra2003", "s.y2003"]
        assert out["changed_fields"][4011].to_list() == ["t"]


@pytest.mark.parametrize(
    "odd",
    ['{"a": 1, "b":  null}', '{"a": 1, "b" : null}', '{"a": 1,\n"b": null}', '{"a": 1,"b":\tnull}'],
)
def test_changed_fields_null_with_unusual_spacing(odd: str) -> None:
    before, after = _repeat(3000, '{"a": 1, "b": null}', '{"a": 2, "b": null}')
    before[2500], after[2500] = odd, '{"a": 1}'
    out = assert_agrees(before, after)
    assert out["changed_fields"][2500].to_list() == ["b"]
