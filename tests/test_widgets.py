"""The explorer, driven headlessly: set values, click buttons, read what the view now holds.

Every answer is checked against the read path used another way: an uncached
``Session`` (Parquet scan, ``top_k`` paging) gives the rows, counts and descriptions
the explorer must show.
"""

from __future__ import annotations

import html
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from auditkit import Context, Query, SearchSyntaxError, Session, Store, charts, diff, parse
from auditkit.cli import EXIT_ERROR, main
from auditkit.errors import QueryError
from auditkit.generate import generate
from auditkit.widgets import (
    VOILA_TEMPLATE,
    Explorer,
    Facets,
    compose,
    error_html,
    explorer_notebook,
    older_page,
    prepare_voila,
    row_html,
    status_badge,
    voila_command,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
PAGE = 10


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    events = generate(30_000, seed=11, end=NOW, days=30)
    # Ties on timestamp make the event_id tie-break matter for paging.
    tied = events.head(40).with_columns(
        pl.lit(NOW - timedelta(hours=1)).alias("timestamp"),
        pl.format("tie_{}", pl.col("event_id")).alias("event_id"),
    )
    store = Store(tmp_path_factory.mktemp("widgets") / "store", create=True)
    store.append(pl.concat([events, tied]))
    return store


@pytest.fixture(scope="module")
def me(store: Store) -> str:
    users = store.scan().filter(pl.col("actor_type") == "user")
    return str(charts.top_data(users, "actor", 1).item(0, "actor"))


@pytest.fixture(scope="module")
def ctx(me: str) -> Context:
    return Context(now=NOW, me=me)


@pytest.fixture(scope="module")
def ref(store: Store, ctx: Context) -> Session:
    """The reference: the uncached read path (Parquet scan, top_k paging)."""
    return Session(store, ctx=ctx)


@pytest.fixture(scope="module")
def cached(store: Store, ctx: Context) -> Session:
    return Session(store, ctx=ctx, cache=True)


@pytest.fixture
def ex(cached: Session) -> Explorer:
    return Explorer(cached, page_size=PAGE)


def ids(frame: pl.DataFrame) -> list[str]:
    return frame.get_column("event_id").to_list()


def shown(ex: Explorer) -> list[str]:
    """What the visible rows say: each row button's tooltip names its event."""
    out = []
    for box, button, _ in ex._rows:
        if box.layout.display != "none":
            out.append(button.tooltip.removeprefix("open event "))
    return out


def assert_shows(ex: Explorer, ref: Session, query: str | Query) -> None:
    expected = ref.page(query, limit=PAGE)
    assert ids(ex.results) == ids(expected.rows) == shown(ex)
    assert ex.count == ref.count(query)
    assert f"<b>{ex.count:,}</b>" in ex.summary.value
    assert html.escape(ref.describe(query)) in ex.summary.value


# -- composing the search box and the facets ------------------------------------------------


@pytest.mark.parametrize(
    ("search", "facets", "text"),
    [
        ("", Facets(), ""),
        ("timeout", Facets(), "timeout"),
        ("", Facets(status="failed"), "status:failed"),
        ("user:bob", Facets(action="updated", date_range="7d"), "user:bob action:updated date:7d"),
        ("a OR b", Facets(resource_type="notebook"), "(a OR b) resource_type:notebook"),
        ("", Facets(user="me"), "user:me"),
        ("", Facets(user="API keys"), "actor_type:api_key"),
        ("", Facets(user="service accounts"), "actor_type:service_account"),
        ("", Facets(user="  alice@x.com "), "user:alice@x.com"),
        ("", Facets(user="Ann Lee"), 'user:"Ann Lee"'),
        ("", Facets(date_range="today"), "date:today"),
        (
            "",
            Facets(date_range="custom", date_from=date(2026, 10, 1), date_to=date(2026, 10, 7)),
            "date:2026-10-01..2026-10-07",
        ),
        ("", Facets(date_range="custom", date_from=date(2026, 10, 1)), "date:>=2026-10-01"),
        ("", Facets(date_range="custom", date_to=date(2026, 10, 7)), "date:<=2026-10-07"),
        ("", Facets(date_range="custom"), ""),
        # a facet repeating a search key ANDs with it (it does not widen the search)
        ("status:failed", Facets(status="success"), "status:failed (status:success)"),
    ],
)
def test_compose_facets_become_search_terms(search: str, facets: Facets, text: str) -> None:
    query = compose(search, facets)
    assert query.to_text() == text
    assert parse(text) == query


def test_compose_ands_repeated_keys_and_describes_everything(ref: Session) -> None:
    query = compose("status:failed", Facets(status="success", action="updated"))
    assert ref.count(query) == 0
    assert ref.describe(query) == ("status is failed, and action is updated, and status is success")
    narrowed = compose("", Facets(date_range="7d", user="me"))
    assert ref.describe(narrowed) == (
        f"user is the current user ({ref.ctx.me}), in the last 7 days"
    )
    assert narrowed.time_bounds(ref.ctx) == (NOW - timedelta(days=7), None)


def test_compose_rejects_bad_facets_and_reports_the_search_position() -> None:
    with pytest.raises(QueryError, match=r"ends .* before it starts"):
        compose(
            "", Facets(date_range="custom", date_from=date(2026, 10, 7), date_to=date(2026, 10, 1))
        )
    with pytest.raises(QueryError, match="unknown date range 'yesterday'"):
        compose("", Facets(date_range="yesterday"))
    with pytest.raises(SearchSyntaxError) as err:
        compose("status:failed usr:bob", Facets(action="updated"))
    assert err.value.position == 14


# -- paging ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["", "status:failed", "user:nobody-at-all", "timeout OR status:pending", "date:>=2026-10-25"],
)
@pytest.mark.parametrize("limit", [1, 7, 60])
def test_older_page_equals_the_session_page(
    cached: Session, ref: Session, query: str, limit: int
) -> None:
    q = parse(query)
    for session in (cached, ref):
        page = session.page(q, limit=limit)
        for _ in range(6):
            if page.older is None:
                break
            expected = ref.page(q, limit=limit, older=page.older)
            got = older_page(session, q, page, limit)
            assert ids(got.rows) == ids(expected.rows)
            assert got.older == expected.older
            page = got


def test_older_page_reaches_across_a_quiet_month(store: Store, ctx: Context) -> None:
    # two bursts of events 40 days apart: the window must widen to find the older one
    events = generate(200, seed=5, end=NOW, days=1)
    early = events.with_columns(
        pl.col("timestamp") - timedelta(days=40),
        pl.format("old_{}", pl.col("event_id")).alias("event_id"),
    )
    quiet = Store(store.root.parent / "quiet", create=True)
    quiet.append(pl.concat([events, early]))
    session = Session(quiet, ctx=ctx, cache=True)
    page = session.page(Query(), limit=150)
    got = older_page(session, Query(), page, 150)
    expected = session.page(Query(), limit=150, older=page.older)
    assert ids(got.rows) == ids(expected.rows) and got.rows.height == 150
    last = older_page(session, Query(), got, 150)
    assert last.older is None and last.rows.height == 100
    with pytest.raises(QueryError, match="oldest page"):
        older_page(session, Query(), last, 150)


# -- paging through ties ---------------------------------------------------------------------


def test_paging_cuts_through_timestamp_ties(cached: Session, ref: Session) -> None:
    ex = Explorer(cached, page_size=3)
    query = "date:2026-10-31T23:00"  # the minute holding 40 rows with one timestamp
    ex.search.value = query
    assert ex.count == ref.count(query) >= 40
    cursor = None
    seen: list[str] = []
    while True:  # pages of 3 cut through the tie, ordered by event_id
        expected = ref.page(query, limit=3, older=cursor)
        assert ids(ex.results) == ids(expected.rows)
        seen += ids(ex.results)
        if ex.older_button.disabled:
            assert expected.older is None
            break
        cursor = expected.older
        ex.older_button.click()
    assert len(seen) == len(set(seen)) == ex.count


# -- rendering ----------------------------------------------------------------------------------


def test_rows_escape_values_and_badge_every_status() -> None:
    row = {
        "status": "failed",
        "actor": "<script>alert(1)</script>",
        "action": "updated",
        "resource_type": "report",
        "resource_name": 'Q2 "Sales"',
        "ip_address": "10.0.0.1",
    }
    text = row_html(row)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "report:Q2 &quot;Sales&quot;" in text and "✗ failed" in text
    for status, mark in [("success", "✓"), ("failed", "✗"), ("in_progress", "◔"), ("pending", "○")]:
        badge = status_badge(status)
        assert mark in badge and charts.STATUS_COLORS[status] in badge


def test_error_html_keeps_the_caret_under_the_bad_character() -> None:
    with pytest.raises(SearchSyntaxError) as err:
        parse("status:broken")
    text = error_html(err.value)
    assert "<pre" in text and "monospace" in text
    lines = html.unescape(text.split(">", 1)[1].rsplit("<", 1)[0]).splitlines()
    query_line = next(line for line in lines if "status:broken" in line)
    caret_line = lines[lines.index(query_line) + 1]
    assert caret_line.index("^") == query_line.index("broken")


# -- the explorer -------------------------------------------------------------------------------


def test_opens_on_every_event_newest_first(ex: Explorer, ref: Session) -> None:
    assert ex.query == Query()
    assert_shows(ex, ref, "")
    assert "all events" in ex.summary.value
    assert ex.page_info.value == f"events 1–{PAGE} of {ex.count:,}"
    assert ex.newer_button.disabled and not ex.older_button.disabled


def test_typing_a_search_changes_the_table_and_the_count(ex: Explorer, ref: Session) -> None:
    ex.search.value = "status:failed action:executed"
    assert str(ex.query) == "status:failed action:executed"
    assert_shows(ex, ref, "status:failed action:executed")
    assert all(
        "✗ failed" in cells.value for box, _, cells in ex._rows if box.layout.display != "none"
    )
    first = ex.results.row(0, named=True)
    assert html.escape(first["actor"]) in ex._rows[0][2].value
    ex.search.value = "zzzz-no-such-thing"
    assert ex.count == 0 and ex.results.is_empty() and shown(ex) == []
    assert ex.page_info.value == "no events match"


def test_search_button_runs_the_box_again(ex: Explorer, cached: Session) -> None:
    ex.search.value = "date:today"
    before = ex.count
    ex.search_button.click()
    assert ex.count == before == cached.count("date:today")


def test_a_bad_query_shows_the_positioned_error_and_keeps_the_results(
    ex: Explorer, ref: Session
) -> None:
    ex.search.value = "status:failed"
    kept, kept_count, kept_query = ids(ex.results), ex.count, ex.query
    ex.search.value = "status:failed usr:bob"
    assert isinstance(ex.error, SearchSyntaxError) and ex.error.position == 14
    assert "unknown key &#x27;usr&#x27;" in ex.error_line.value
    assert "at position 14" in ex.error_line.value
    assert "\n  " + " " * 14 + "^" in html.unescape(ex.error_line.value)
    assert ids(ex.results) == kept and ex.count == kept_count and ex.query == kept_query
    assert shown(ex) == kept
    ex.search.value = "status:failed user:bob*"  # fixed: the error line clears
    assert ex.error is None and ex.error_line.value == ""
    assert_shows(ex, ref, "status:failed user:bob*")


def test_me_without_a_known_user_is_an_error_not_an_empty_page(store: Store) -> None:
    ex = Explorer(Session(store, ctx=Context(now=NOW), cache=True), page_size=PAGE)
    total = ex.count
    ex.user.value = "me"
    assert "current user is not known" in ex.error_line.value
    assert ex.count == total


@pytest.mark.parametrize(
    ("control", "value", "query"),
    [
        ("status", "failed", "status:failed"),
        ("action", "updated", "action:updated"),
        ("resource_type", "database", "resource_type:database"),
        ("user", "me", "user:me"),
        ("user", "API keys", "actor_type:api_key"),
        ("user", "service accounts", "actor_type:service_account"),
        ("date_range", "7d", "date:7d"),
        ("date_range", "today", "date:today"),
    ],
)
def test_each_facet_narrows_the_rows_and_the_description(
    ex: Explorer, ref: Session, control: str, value: str, query: str
) -> None:
    ex.search.value = "has:ip"
    getattr(ex, control).value = value
    assert str(ex.query) == f"has:ip {query}"
    assert_shows(ex, ref, f"has:ip {query}")
    assert ex.description == ref.describe(f"has:ip {query}")


def test_facets_combine_with_the_search_and_clear_resets_them(ex: Explorer, ref: Session) -> None:
    ex.search.value = "timeout"
    ex.status.value = "failed"
    ex.date_range.value = "30d"
    assert ex.description == 'contains "timeout", and status is failed, in the last 30 days'
    assert_shows(ex, ref, "timeout status:failed date:30d")
    ex.clear_button.click()
    assert ex.facets == Facets() and ex.search.value == ""
    assert_shows(ex, ref, "")


def test_custom_date_range_uses_the_pickers(ex: Explorer, ref: Session) -> None:
    assert ex.date_from.layout.display == "none"
    ex.date_range.value = "custom"
    assert ex.date_from.layout.display == ex.date_to.layout.display == ""
    ex.date_from.value = date(2026, 10, 20)
    ex.date_to.value = date(2026, 10, 22)
    assert str(ex.query) == "date:2026-10-20..2026-10-22"
    assert_shows(ex, ref, "date:2026-10-20..2026-10-22")
    stamps = ref.events("date:2026-10-20..2026-10-22").collect().get_column("timestamp")
    assert stamps.min() >= datetime(2026, 10, 20, tzinfo=UTC)  # type: ignore[operator]
    assert stamps.max() < datetime(2026, 10, 23, tzinfo=UTC)  # type: ignore[operator]
    ex.date_to.value = date(2026, 10, 1)  # ends before it starts: error, rows kept
    assert "before it starts" in ex.error_line.value
    assert str(ex.query) == "date:2026-10-20..2026-10-22"


def test_paging_older_and_newer_has_no_overlap_and_no_gap(ex: Explorer, ref: Session) -> None:
    ex.search.value = "action:viewed"
    pages = [ids(ex.results)]
    for n in range(3):
        ex.older_button.click()
        pages.append(ids(ex.results))
        assert shown(ex) == pages[-1]
        assert ex.page_info.value.startswith(f"events {(n + 1) * PAGE + 1:,}–")
    assert not ex.newer_button.disabled
    flat = [i for page in pages for i in page]
    expected = (
        ref.events("action:viewed")
        .sort("timestamp", "event_id", descending=True)
        .head(len(flat))
        .collect()
    )
    assert flat == ids(expected) and len(set(flat)) == len(flat)
    for page in reversed(pages[:-1]):
        ex.newer_button.click()
        assert ids(ex.results) == page
    assert ex.newer_button.disabled
    ex.newer_button.click()  # nothing newer: stays
    assert ids(ex.results) == pages[0]


def test_paging_stops_at_the_oldest_event(ex: Explorer, ref: Session) -> None:
    ex.search.value = "status:pending"
    total = ref.count("status:pending")
    assert total > 0
    seen = ids(ex.results)
    while not ex.older_button.disabled:
        ex.older_button.click()
        seen += ids(ex.results)
    assert len(seen) == len(set(seen)) == total
    ex.older()  # nothing older: stays
    assert len(ex.results) == total - PAGE * (len(ex._newer))
    ex.search.value = "status:failed"  # a new search starts at the newest page again
    assert ex.newer_button.disabled and ex.page_info.value.startswith("events 1–")


def test_clicking_an_event_opens_its_details_and_diff(ex: Explorer, ref: Session) -> None:
    ex.search.value = "has:changes action:updated"
    ex.row_buttons[2].click()
    event = ex.results.row(2, named=True)
    assert ex.selected is not None and ex.selected["event_id"] == event["event_id"]
    assert ex.selected == ref.get(event["event_id"])
    panel = ex.detail.value
    for key in ("ip_address", "user_agent", "session_id", "request_id", "event_id"):
        if event[key] is not None:
            assert html.escape(str(event[key])) in panel, key
    assert event["timestamp"].strftime("%Y-%m-%dT%H:%M:%S") in panel
    changes = diff.details(event).changes
    assert changes, "has:changes picked an event with a diff"
    for change in changes:
        assert html.escape(change.path_str) in panel
    assert "ak-selected" in ex._rows[2][0]._dom_classes
    assert "ak-selected" not in ex._rows[0][0]._dom_classes
    assert not any(b.disabled for b in ex.investigate_buttons.values())


def test_open_event_by_id_outside_the_page(ex: Explorer, ref: Session) -> None:
    oldest = ref.events().sort("timestamp").head(1).collect().row(0, named=True)
    ex.open_event(oldest["event_id"])
    assert ex.selected == oldest
    assert oldest["event_id"] in ex.detail.value


def test_charts_follow_the_active_filter_when_their_tab_is_shown(
    ex: Explorer, ref: Session
) -> None:
    ex.search.value = "resource_type:pipeline"
    assert ex.chart_data == {}, "charts wait until their tab is shown"
    ex.tabs.selected_index = 1
    assert ex.wait_for_charts(), "the charts are drawn in a background thread"
    data = ex.chart_data
    assert set(data) == {"volume", "failures", "users", "resources"}
    assert data["volume"].get_column("events").sum() == ex.count
    failed = ref.count("resource_type:pipeline status:failed")
    assert data["failures"].get_column("failures").sum() == failed
    frame = ref.events("resource_type:pipeline").collect()
    assert data["users"].equals(charts.top_data(frame, "actor"))
    assert data["resources"].equals(charts.top_data(frame, "resource"))
    assert all(d.height <= 500 for d in data.values()), "charts ship aggregates, not rows"
    for name, svg in ex.chart_svgs.items():
        assert svg.lstrip().startswith("<svg") and "<script" not in svg, name
        assert 'href="http' not in svg, name
    assert ex.charts.value.count("<svg") == 4
    # a new search redraws them while the tab is shown; paging reuses them
    ex.search.value = "resource_type:pipeline status:failed"
    assert ex.wait_for_charts()
    assert ex.chart_data["volume"].get_column("events").sum() == failed
    drawn = ex.chart_data
    ex.older_button.click()
    assert ex.chart_data is drawn


def test_charts_show_the_latest_query_when_searches_come_fast(ex: Explorer, ref: Session) -> None:
    ex.tabs.selected_index = 1
    for text in ("status:failed", "resource_type:pipeline", "action:deleted", "status:pending"):
        ex.search.value = text  # each answers at once; charts of older queries are dropped
    assert ex.count == ref.count("status:pending")
    assert ex.wait_for_charts()
    assert ex.chart_data["volume"].get_column("events").sum() == ref.count("status:pending")
    assert "status is pending" in ex.charts.value
    assert "ak-updating" not in ex.charts._dom_classes


def test_export_writes_the_current_result_and_says_where(
    ex: Explorer, ref: Session, tmp_path: Path
) -> None:
    ex.search.value = "status:failed"
    ex.date_range.value = "7d"
    ex.export_path.value = str(tmp_path / "out" / "failed.csv")
    ex.export_button.click()
    path = tmp_path / "out" / "failed.csv"
    rows = pl.read_csv(path, infer_schema=False)
    assert rows.height == ex.count == ref.count("status:failed date:7d") > 0
    manifest = json.loads((tmp_path / "out" / "failed.csv.manifest.json").read_text())
    assert manifest["rows"] == ex.count and manifest["query"] == "status:failed date:7d"
    assert manifest["description"] == "status is failed, in the last 7 days"
    assert ex.manifest is not None and ex.manifest.sha256 == manifest["sha256"]
    assert (
        str(path) in ex.export_status.value and "failed.csv.manifest.json" in ex.export_status.value
    )
    ex.export_format.value = "json"
    ex.export_path.value = str(tmp_path / "failed.json")
    ex.export_button.click()
    assert len(json.loads((tmp_path / "failed.json").read_text())) == ex.count


def test_export_errors_are_shown(ex: Explorer, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ex.export_path.value = str(blocker / "x.csv")
    ex.export_button.click()
    assert "ak-error-text" in ex.export_status.value


@pytest.mark.parametrize(
    ("kind", "title"),
    [
        ("changes", "Who changed"),
        ("user", "Activity of"),
        ("leak", "Leak timeline of"),
        ("failures", "Failed operations on"),
    ],
)
def test_investigation_buttons_fill_the_panel(
    ex: Explorer, ref: Session, kind: str, title: str
) -> None:
    ex.search.value = "has:changes resource_type:report"
    ex.date_range.value = "30d"
    ex.row_buttons[0].click()
    ex.investigate_buttons[kind].click()
    found = ex.investigation
    assert found is not None and found.title.startswith(title)
    panel = html.unescape(ex.investigation_panel.value)
    assert found.title in panel and found.summary in panel and found.query in panel
    for name, frame in found.frames.items():
        assert f"{name} ({frame.height:,})" in panel
    ex.use_query_button.click()  # continue in the search box
    assert ex.search.value == found.query and ex.facets == Facets()
    assert ex.count == ref.count(found.query)


def test_investigations_need_an_open_event(ex: Explorer) -> None:
    assert all(b.disabled for b in ex.investigate_buttons.values())
    ex.investigate("user")
    assert ex.investigation is None and ex.investigation_panel.value == ""


def test_explorer_from_a_store_path(store: Store, me: str) -> None:
    ex = Explorer(str(store.root), me=me, now="2026-11-01T00:00:00Z", page_size=5)
    assert ex.session.ctx == Context(now=NOW, me=me)
    ex.user.value = "me"
    assert ex.count == Session(store, ctx=Context(now=NOW, me=me)).count("user:me") > 0
    assert me in ex.user.options and "API keys" in ex.user.options
    assert "database" in [value for _, value in ex.resource_type.options]
    with pytest.raises(QueryError, match="set me and now in the Session"):
        Explorer(ex.session, me=me)


def test_displays_as_a_widget(ex: Explorer) -> None:
    bundle = ex._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == ex.widget.model_id
    assert "auditkit-explorer" in ex.widget._dom_classes


# -- the notebook and Voilà ---------------------------------------------------------------------


def test_the_notebook_is_the_packaged_one_and_runs(store: Store, me: str) -> None:
    notebook = json.loads((ROOT / "notebooks" / "explorer.ipynb").read_text())
    packaged = explorer_notebook()
    assert [c["source"] for c in notebook["cells"]] == [c["source"] for c in packaged["cells"]]
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    code = "".join(next(c for c in notebook["cells"] if c["cell_type"] == "code")["source"])
    env = {"AUDITKIT_STORE": str(store.root), "AUDITKIT_ME": me, "AUDITKIT_NOW": NOW.isoformat()}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        scope: dict[str, object] = {}
        exec(compile(code, "explorer.ipynb", "exec"), scope)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    explorer = scope["explorer"]
    assert isinstance(explorer, Explorer)
    assert explorer.count == Session(store).count()


def test_voila_template_loads_nothing_from_the_internet(tmp_path: Path) -> None:
    notebook, data = prepare_voila(tmp_path)
    assert notebook == ROOT / "notebooks" / "explorer.ipynb"
    template = data / "voila" / "templates" / VOILA_TEMPLATE
    assert json.loads((template / "conf.json").read_text()) == {"base_template": "lab"}
    index = (template / "index.html.j2").read_text()
    assert "extends 'lab/index.html.j2'" in index
    assert "http" not in index
    for block in ("notebook_css", "html_head_js_mermaidjs"):
        assert f"block {block}" in index
    command = voila_command(notebook, port=8123, token="t0k")
    assert "--Voila.ip=127.0.0.1" in command and "--token=t0k" in command
    assert f"--template={VOILA_TEMPLATE}" in command and "--no-browser" in command


def test_explore_command_rejects_a_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explore", str(tmp_path / "nope"), "--no-browser"]) == EXIT_ERROR
    assert "auditkit: error:" in capsys.readouterr().err


def test_the_explorer_warms_its_index_up_after_the_first_page(store: Store, me: str) -> None:
    """Opening shows the first page first; the index is then built in the background,
    and the answers do not change once it is."""
    ex = Explorer(store.root, me=me, now=NOW, page_size=PAGE)
    assert ex.page.rows.height == PAGE
    warming = ex.session.warming
    assert warming is not None
    first = (ex.count, ex.results.get_column("event_id").to_list())
    warming.join(timeout=120)
    assert not warming.is_alive()
    index = ex.session._index
    assert index is not None and index._dictionaries["actor"]._order is not None
    ex.run()
    assert (ex.count, ex.results.get_column("event_id").to_list()) == first
