"""The interactive explorer: an ipywidgets view over the query layer.

``Explorer(store)`` is the Activity Logs page inside a notebook: a search box, facet
filters, a newest-first table with paging, an event's details and diff, charts, export,
and the investigations one click away. It is a thin view. Every answer comes from a
function that works without a kernel and is tested on its own:

- :func:`compose` joins the search box and the facets into one :class:`~auditkit.search.Query`
  (facets become search terms, so the active query prints as text, describes itself in
  English and is what ``explorer.query`` holds);
- the session (:class:`~auditkit.query.Session`, held in memory) counts and pages the
  query, and :func:`older_page` reads the next page from a window of time before the
  cursor; the table, the paging buttons and the detail panel show what they return;
- the ``*_html`` functions render rows, errors, details, investigations and exports;
- :func:`build_charts` and :func:`chart_svg` turn aggregated data into inline SVG with
  vl-convert, so charts need no network.

:func:`serve` runs the same explorer as a standalone Voilà page (``auditkit explore``),
with a Voilà template that loads nothing from the internet.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from auditkit import charts, diff, investigate, schema
from auditkit.errors import AuditkitError, MissingDependencyError, QueryError
from auditkit.export import FORMATS, Manifest, manifest_path_for
from auditkit.filters import Context
from auditkit.history import Resource
from auditkit.query import Page, Session
from auditkit.search import And, Node, Query, Term, parse
from auditkit.store import Store

try:
    import ipywidgets as w
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingDependencyError("ipywidgets", "explorer") from exc

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "DATE_PRESETS",
    "INVESTIGATIONS",
    "USER_SHORTCUTS",
    "Explorer",
    "Facets",
    "build_charts",
    "chart_svg",
    "compose",
    "error_html",
    "event_html",
    "explorer_notebook",
    "export_html",
    "frame_html",
    "investigate_event",
    "investigation_html",
    "older_page",
    "row_html",
    "serve",
    "status_badge",
]

# --------------------------------------------------------------------------- the query

#: Date-range choices: value → label. ``custom`` uses the from/to pickers.
DATE_PRESETS: dict[str, str] = {
    "": "any time",
    "today": "today",
    "7d": "last 7 days",
    "30d": "last 30 days",
    "90d": "last 90 days",
    "custom": "custom range…",
}
#: User-box shortcuts and the search term each stands for.
USER_SHORTCUTS: dict[str, Term] = {
    "me": Term("user", ("me",)),
    "API keys": Term("actor_type", ("api_key",)),
    "service accounts": Term("actor_type", ("service_account",)),
}


@dataclass(frozen=True)
class Facets:
    """The facet filters' values; ``""`` (or None) means "any".

    Attributes:
        action: a normalized action (``updated``).
        resource_type: a resource type (``notebook``).
        user: an actor id, or a key of :data:`USER_SHORTCUTS` ("me", "API keys",
            "service accounts").
        date_range: a key of :data:`DATE_PRESETS`.
        date_from, date_to: the custom range, both days included (``date_range="custom"``).
        status: ``success``, ``failed``, ``in_progress`` or ``pending``.
    """

    action: str = ""
    resource_type: str = ""
    user: str = ""
    date_range: str = ""
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""

    def terms(self) -> list[Node]:
        """The search terms these facets stand for, in the order the page shows them.

        Raises:
            QueryError: an unknown date preset, or a custom range that ends before it starts.
        """
        out: list[Node] = []
        if self.action:
            out.append(Term("action", (self.action,)))
        if self.resource_type:
            out.append(Term("resource_type", (self.resource_type,)))
        user = self.user.strip()
        if user:
            out.append(USER_SHORTCUTS.get(user, Term("user", (user,))))
        if self.date_range not in DATE_PRESETS:
            raise QueryError(
                f"unknown date range {self.date_range!r}; "
                f"valid: {', '.join(map(repr, DATE_PRESETS))}"
            )
        if self.date_range == "custom":
            lo, hi = self.date_from, self.date_to
            if lo and hi and hi < lo:
                raise QueryError(
                    f"custom date range ends ({hi}) before it starts ({lo}); swap the dates"
                )
            if lo and hi:
                out.append(Term("date", (f"{lo.isoformat()}..{hi.isoformat()}",)))
            elif lo:
                out.append(Term("date", (f">={lo.isoformat()}",)))
            elif hi:
                out.append(Term("date", (f"<={hi.isoformat()}",)))
        elif self.date_range:
            out.append(Term("date", (self.date_range,)))
        if self.status:
            out.append(Term("status", (self.status,)))
        return out


def compose(search: str | Query, facets: Facets) -> Query:
    """The search box's query AND the facets, as one query.

    Facets become ordinary search terms appended to the box's top-level AND, so the
    result prints as search text (``str(query)``) that re-parses to the same query,
    describes itself in English, and narrows the time range the store reads.

    Raises:
        SearchSyntaxError: the search text does not parse (positions refer to it).
        QueryError: a facet value is invalid.
    """
    query = parse(search) if isinstance(search, str) else search
    extra = facets.terms()
    if not extra:
        return query
    return parse(_and(query, *extra).to_text())


#: How many times wider each retry of :func:`older_page` reads.
_WIDEN = 8
_FOREVER = timedelta(days=36_525)


def older_page(session: Session, query: Query, page: Page, limit: int) -> Page:
    """The page after ``page`` (older events): ``session.page(query, older=page.older)``.

    The same rows, read faster: the in-memory index answers a page by looking at every
    match before the cursor, which for a broad query over millions of events is most of
    the store. This asks first for the matches in a window of time just before the
    cursor (twice the span of ``page``; the index slices it by binary search), widening
    the window eightfold until it holds more than a page, and ends with the plain call.

    Raises:
        QueryError: ``page`` has no older cursor.
    """
    cursor = page.older
    if cursor is None:
        raise QueryError("this is the oldest page: there is no older page to read")
    newest: datetime = page.rows.item(0, "timestamp")
    window: timedelta = max(2 * (newest - cursor.timestamp), timedelta(minutes=1))
    start, _ = query.time_bounds(session.ctx)
    while window < _FOREVER:
        since = cursor.timestamp - window
        if start is not None and since <= start:
            break
        bounded = _and(query, Term("date", (">=" + _moment_text(since),)))
        found = session.page(bounded, limit=limit, older=cursor)
        if found.older is not None:  # more than a page in the window: it is the page
            return found
        window *= _WIDEN
    return session.page(query, limit=limit, older=cursor)


def _and(query: Query, *terms: Node) -> Query:
    root = query.root
    children = list(root.children) if isinstance(root, And) else [root]
    return Query(And((*children, *terms)))


def _moment_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- rendering

_STATUS_LABELS = {
    "success": "✓ success",
    "failed": "✗ failed",
    "in_progress": "◔ in progress",
    "pending": "○ pending",
}
_MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"


def status_badge(status: str | None) -> str:
    """A coloured status pill: ✓ success, ✗ failed, ◔ in progress, ○ pending."""
    key = status or "unknown"
    color = charts.STATUS_COLORS.get(key, "#57606a")
    label = _STATUS_LABELS.get(key, key)
    return (
        f'<span class="ak-badge ak-{html.escape(key)}" style="color:{color};'
        f'border:1px solid {color};border-radius:10px;padding:0 7px;white-space:nowrap">'
        f"{html.escape(label)}</span>"
    )


def _resource_label(row: dict[str, Any]) -> str:
    name = row.get("resource_name") or row.get("resource_id") or ""
    return f"{row.get('resource_type') or '?'}:{name}"


def _cell(css: str, text: str, *, raw: bool = False) -> str:
    title = "" if raw else f' title="{html.escape(text)}"'
    body = text if raw else html.escape(text)
    return f'<span class="ak-c {css}"{title}>{body}</span>'


def row_html(row: dict[str, Any]) -> str:
    """One table row's cells (status, user, action, resource, IP); the time is the button."""
    return (
        '<div class="ak-cells">'
        + _cell("ak-w-status", status_badge(row.get("status")), raw=True)
        + _cell("ak-w-user", row.get("actor") or "—")
        + _cell("ak-w-action", row.get("action") or "—")
        + _cell("ak-w-res", _resource_label(row))
        + _cell("ak-w-ip", row.get("ip_address") or "")
        + "</div>"
    )


def header_html() -> str:
    """The table's header row, aligned with :func:`row_html` and the time buttons."""
    return (
        '<div class="ak-cells ak-head">'
        + _cell("ak-w-time", "time (UTC)")
        + "".join(
            _cell(css, label)
            for css, label in (
                ("ak-w-status", "status"),
                ("ak-w-user", "user"),
                ("ak-w-action", "action"),
                ("ak-w-res", "resource"),
                ("ak-w-ip", "IP address"),
            )
        )
        + "</div>"
    )


def error_html(error: Exception) -> str:
    """An error for the line under the search box: monospace, keeping the caret line."""
    return (
        f'<pre class="ak-error-text" style="color:#c62828;font-family:{_MONO};'
        "font-size:12px;white-space:pre;margin:2px 0;padding:6px 8px;background:#fff5f5;"
        f'border:1px solid #f3c4c4;border-radius:4px">{html.escape(str(error))}</pre>'
    )


def summary_html(count: int, description: str) -> str:
    """The count of matching events and the English description of the active query."""
    noun = "event" if count == 1 else "events"
    return (
        f'<span class="ak-count"><b>{count:,}</b> {noun}</span>'
        f' <span class="ak-desc" style="color:#57606a">· {html.escape(description)}</span>'
    )


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def event_html(event: dict[str, Any]) -> str:
    """The detail panel of one event: a headline, then basic info, metadata and the diff.

    A ``before``/``after`` that is not valid JSON is reported in the panel, not raised.
    """
    head = (
        f'<div class="ak-event-head">{status_badge(event.get("status"))} '
        f"<b>{html.escape(str(event.get('actor') or 'unknown'))}</b> "
        f"{html.escape(str(event.get('action') or ''))} "
        f"<b>{html.escape(_resource_label(event))}</b><br>"
        f'<span style="color:#57606a;font-family:{_MONO};font-size:12px">'
        f"{html.escape(str(event.get('event_id')))}</span></div>"
    )
    try:
        body = diff.details(event).to_html()
    except AuditkitError as exc:
        body = error_html(exc)
    return head + body


def _value_text(value: Any, limit: int = 120) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = _when(value)
    elif isinstance(value, float):
        text = f"{value:,.6g}"
    elif isinstance(value, list | pl.Series):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def frame_html(frame: pl.DataFrame, limit: int = 20) -> str:
    """A compact HTML table of a frame's first ``limit`` rows (values escaped and clipped)."""
    if frame.is_empty():
        return '<p style="color:#57606a">no rows</p>'
    shown = frame.head(limit)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_value_text(v))}</td>" for v in row) + "</tr>"
        for row in shown.iter_rows()
    )
    more = (
        f'<p style="color:#57606a">… {frame.height - limit:,} more rows</p>'
        if frame.height > limit
        else ""
    )
    return f'<table class="ak-table"><tr>{head}</tr>{body}</table>{more}'


def investigation_html(found: investigate.Investigation, limit: int = 15) -> str:
    """An investigation for the panel: title, summary, its query, then each frame."""
    parts = [
        f'<h3 style="margin:4px 0">{html.escape(found.title)}</h3>',
        f"<p>{html.escape(found.summary)}</p>",
        f'<p>query: <code style="font-family:{_MONO}">{html.escape(found.query)}</code></p>',
    ]
    for name, frame in found.frames.items():
        parts.append(f'<h4 style="margin:8px 0 2px">{html.escape(name)} ({frame.height:,})</h4>')
        parts.append(frame_html(frame, limit))
    return "".join(parts)


def export_html(manifest: Manifest, path: Path) -> str:
    """Where an export went: the file, its manifest, row count and checksum."""
    return (
        f"Wrote <b>{manifest.rows:,}</b> events as {html.escape(manifest.format)} to "
        f'<code class="ak-export-path">{html.escape(str(path))}</code><br>'
        f"manifest: <code>{html.escape(str(manifest_path_for(path)))}</code> "
        f"(sha256 {manifest.sha256[:16]}…)<br>"
        f'<span style="color:#57606a">filters applied: {html.escape(manifest.description)}</span>'
    )


# --------------------------------------------------------------------------- charts

#: Most time buckets a chart draws (fewer bars render faster and read better).
MAX_CHART_BUCKETS = 120


def chart_interval(rows: pl.DataFrame) -> str:
    """A bucket size giving at most :data:`MAX_CHART_BUCKETS` buckets over the rows' span."""
    return charts.pick_interval(rows, MAX_CHART_BUCKETS)


def build_charts(rows: pl.DataFrame) -> dict[str, alt.Chart]:
    """The explorer's four charts over matching events (each aggregated in Polars first).

    Keys: ``volume`` (events over time by status), ``failures`` (failures over time),
    ``users`` (top users), ``resources`` (top resources). ``chart.data`` is the
    aggregated frame the chart draws.
    """
    interval = chart_interval(rows)
    return {
        "volume": charts.volume_chart(rows, interval, width=460),
        "failures": charts.failures_chart(rows, interval, width=460),
        "users": charts.top_chart(rows, "actor", title="Top users"),
        "resources": charts.top_chart(rows, "resource", title="Top resources"),
    }


def chart_svg(chart: alt.Chart) -> str:
    """The chart as inline SVG, rendered locally by vl-convert (no network, no JavaScript)."""
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("vl-convert-python", "explorer") from exc
    return str(vl_convert.vegalite_to_svg(chart.to_dict()))


# --------------------------------------------------------------------------- investigations

#: Investigation buttons: kind → label.
INVESTIGATIONS: dict[str, str] = {
    "changes": "Who changed this resource",
    "user": "This user's activity",
    "leak": "Leak timeline",
    "failures": "Failures on this resource",
}


def investigate_event(
    session: Session,
    kind: str,
    event: dict[str, Any],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> investigate.Investigation:
    """Run one investigation about an event's user or resource (see :data:`INVESTIGATIONS`).

    Raises:
        QueryError: an unknown kind, or an event without the user or resource it needs.
    """
    if kind not in INVESTIGATIONS:
        raise QueryError(f"unknown investigation {kind!r}; valid: {', '.join(INVESTIGATIONS)}")
    if kind == "user":
        actor = event.get("actor")
        if not actor:
            raise QueryError(f"event {event.get('event_id')!r} names no user")
        return investigate.user_activity(session, actor, start=start, end=end)
    resource = Resource(
        event.get("resource_type"), event.get("resource_id"), event.get("resource_name")
    )
    if resource.id is None and resource.name is None:
        raise QueryError(f"event {event.get('event_id')!r} names no resource")
    if kind == "changes":
        return investigate.who_changed(session, resource, start=start, end=end)
    if kind == "leak":
        return investigate.leak_timeline(session, resource, start=start, end=end)
    return investigate.failures(session, resource, start=start, end=end)


# --------------------------------------------------------------------------- the widget

_CSS = f"""<style>
.auditkit-explorer {{ font-family: system-ui,-apple-system,"Segoe UI",sans-serif;
  font-size: 13px; }}
.auditkit-explorer .ak-row {{ border-bottom: 1px solid #eaeef2; align-items: center; }}
.auditkit-explorer .ak-row:hover {{ background: #f6f8fa; }}
.auditkit-explorer .ak-row.ak-selected {{ background: #ddf4ff; }}
.auditkit-explorer button.ak-open {{ background: transparent; color: #0969da; box-shadow: none;
  font-family: {_MONO}; font-size: 12px; text-align: left; padding: 0 4px; }}
.auditkit-explorer button.ak-open:hover {{ text-decoration: underline; }}
.auditkit-explorer .ak-cells {{ display: flex; white-space: nowrap; line-height: 24px; }}
.auditkit-explorer .ak-c {{ display: inline-block; overflow: hidden; text-overflow: ellipsis;
  padding: 0 6px; box-sizing: border-box; }}
.auditkit-explorer .ak-head {{ font-weight: 600; color: #57606a;
  border-bottom: 2px solid #d0d7de; }}
.auditkit-explorer .ak-w-time {{ width: 170px; }}
.auditkit-explorer .ak-w-status {{ width: 115px; }}
.auditkit-explorer .ak-w-user {{ width: 215px; }}
.auditkit-explorer .ak-w-action {{ width: 85px; }}
.auditkit-explorer .ak-w-res {{ width: 240px; }}
.auditkit-explorer .ak-w-ip {{ width: 120px; }}
.auditkit-explorer .ak-badge {{ font-size: 12px; }}
.auditkit-explorer .ak-panel {{ border: 1px solid #d0d7de; border-radius: 6px;
  padding: 4px 12px; overflow-x: auto; }}
.auditkit-explorer .ak-table {{ border-collapse: collapse; font-size: 12px; }}
.auditkit-explorer .ak-table th, .auditkit-explorer .ak-table td {{
  border-bottom: 1px solid #eaeef2; padding: 2px 8px; text-align: left; vertical-align: top; }}
.auditkit-explorer .ak-charts {{ display: flex; flex-wrap: wrap; gap: 12px 28px; }}
.auditkit-explorer .ak-updating {{ opacity: 0.45; transition: opacity 0.2s; }}
</style>"""

_CHARTS_TAB = 1  # tabs: Events, Charts, Export


def _parse_now(now: datetime | str | None) -> datetime | None:
    if now is None or isinstance(now, datetime):
        return now
    try:
        value = datetime.fromisoformat(now.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"now {now!r}: expected an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Explorer:
    """The Activity Logs page as ipywidgets; display it as a notebook cell's last line.

    Args:
        store_or_session: a store (or its path), loaded in memory for interactive speed
            (``Session(store, cache=True)``, whose index is warmed up in the background
            once the first page is shown), or a ready :class:`~auditkit.query.Session`.
        me: the analyst's actor id, for the "me" user filter (with a store).
        now: pretend it is this time (aware datetime or ISO text; with a store).
            Default: the wall clock, read at each search.
        page_size: events per page.

    State, all plain values: ``query`` (the active :class:`~auditkit.search.Query`:
    search box AND facets), ``results`` (the current page, newest first), ``count``,
    ``selected`` (the open event as a dict), ``investigation``, ``chart_data``,
    ``manifest`` (of the last export) and ``error`` (the last error shown, or None).
    Each control is an attribute (``search``, ``action``, ``user``, ``older_button``, …):
    setting a value or calling ``.click()`` does what the analyst's click does.
    """

    def __init__(
        self,
        store_or_session: Session | Store | str | Path,
        *,
        me: str | None = None,
        now: datetime | str | None = None,
        page_size: int = 25,
    ) -> None:
        moment = _parse_now(now)
        if isinstance(store_or_session, Session):
            if me is not None or moment is not None:
                raise QueryError(
                    "Explorer(session, me=..., now=...): set me and now in the Session's "
                    "Context, or pass the store instead of a session"
                )
            self.session = store_or_session
        else:
            store = (
                store_or_session
                if isinstance(store_or_session, Store)
                else Store(Path(store_or_session).expanduser())
            )
            ctx = Context(now=moment or datetime.now(UTC), me=me)
            self.session = Session(store, ctx=ctx, cache=True)
        self._live_clock = moment is None and not isinstance(store_or_session, Session)
        if page_size < 1:
            raise QueryError(f"page_size must be at least 1, got {page_size}")
        self.page_size = page_size

        self.query = Query()
        self.count = 0
        self.page = Page(self.session.events(None).head(0).collect(), None)
        self.selected: dict[str, Any] | None = None
        self.investigation: investigate.Investigation | None = None
        self.chart_data: dict[str, pl.DataFrame] = {}
        self.chart_svgs: dict[str, str] = {}
        self.manifest: Manifest | None = None
        self.error: Exception | None = None
        self._charts_for: Query | None = None  # the query the charts shown were drawn for
        self._charts_wanted: Query | None = None  # the query the latest request was for
        self._charts_generation = 0
        self._charts_done = threading.Event()
        self._charts_pool: Any = None
        self._newer: list[Page] = []  # newer pages already shown; the last is the next newer
        self._holding = 0

        self._build()
        self.run()
        # After the first page: building the index beside it would delay that page.
        self.session.warm_up()

    # -- state as plain values ------------------------------------------------------------

    @property
    def results(self) -> pl.DataFrame:
        """The events on the current page, newest first."""
        return self.page.rows

    @property
    def description(self) -> str:
        """The active query in English."""
        return self.query.describe(self.session.ctx)

    @property
    def facets(self) -> Facets:
        """The facet controls' current values."""
        return Facets(
            action=self.action.value,
            resource_type=self.resource_type.value,
            user=self.user.value,
            date_range=self.date_range.value,
            date_from=self.date_from.value,
            date_to=self.date_to.value,
            status=self.status.value,
        )

    # -- actions (what the controls call) -------------------------------------------------

    def run(self) -> None:
        """Run the search box AND the facets; on an error keep the previous results."""
        try:
            if self._live_clock:
                self.session.ctx = replace(self.session.ctx, now=datetime.now(UTC))
            query = compose(self.search.value, self.facets)
            count = self.session.count(query)
            page = self.session.page(query, limit=self.page_size)
        except AuditkitError as exc:
            self.error = exc
            self.error_line.value = error_html(exc)
            return
        self.error = None
        self.error_line.value = ""
        self.query, self.count = query, count
        self._newer = []
        self._show(page)
        self.summary.value = summary_html(count, self.description)
        if self.tabs.selected_index == _CHARTS_TAB:
            self.show_charts(wait=False)

    def older(self) -> None:
        """Show the next page of older events."""
        if self.page.older is None:
            return
        self._newer.append(self.page)
        self._show(older_page(self.session, self.query, self.page, self.page_size))

    def newer(self) -> None:
        """Go back to the page of newer events (the one shown before, as it was)."""
        if self._newer:
            self._show(self._newer.pop())

    def open_event(self, event_id: str) -> None:
        """Show an event's details and diff (from the current page, else the session)."""
        on_page = self.results.filter(pl.col("event_id") == event_id)
        event = on_page.row(0, named=True) if on_page.height else self.session.get(event_id)
        self.selected = event
        self.detail.value = event_html(event)
        for button in self.investigate_buttons.values():
            button.disabled = False
        self.investigation = None
        self.investigation_panel.value = ""
        self.use_query_button.layout.display = "none"
        self._highlight()

    def investigate(self, kind: str) -> None:
        """Run an investigation about the open event's user or resource, in the date range."""
        if self.selected is None:
            return
        start, end = self.query.time_bounds(self.session.ctx)
        try:
            self.investigation = investigate_event(
                self.session, kind, self.selected, start=start, end=end
            )
        except AuditkitError as exc:
            self.investigation = None
            self.investigation_panel.value = error_html(exc)
            self.use_query_button.layout.display = "none"
            return
        self.investigation_panel.value = investigation_html(self.investigation)
        self.use_query_button.layout.display = ""

    def search_investigation(self) -> None:
        """Put the investigation's query in the search box (facets cleared) and run it."""
        if self.investigation is not None:
            self.clear(search=self.investigation.query)

    def show_charts(self, *, wait: bool = True) -> None:
        """Draw the charts for the active query (once per query).

        The controls call this with ``wait=False``: the table and count have already
        answered, and the charts are aggregated and rendered in a background thread
        (vl-convert takes ~0.1 s per chart), replacing the previous ones when ready,
        unless a newer query has been asked for meanwhile. :meth:`wait_for_charts`
        waits for them.
        """
        if self._charts_wanted == self.query:  # drawn, or being drawn
            if wait:
                self._charts_done.wait()
            return
        query, count, description = self.query, self.count, self.description
        self._charts_wanted = query
        self._charts_generation += 1
        generation = self._charts_generation
        self._charts_done.clear()
        if self.charts.value and self._charts_for is not None:
            self.charts.add_class("ak-updating")
        if self._charts_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._charts_pool = ThreadPoolExecutor(1, thread_name_prefix="auditkit-charts")
        future = self._charts_pool.submit(self._draw_charts, query, count, description, generation)
        if wait:
            future.result()

    def wait_for_charts(self, timeout: float | None = 60.0) -> bool:
        """Wait until the charts of the latest query are drawn; False on timeout."""
        return self._charts_done.wait(timeout)

    def _draw_charts(self, query: Query, count: int, description: str, generation: int) -> None:
        if generation != self._charts_generation:
            return  # a newer query was asked for before this one started
        try:
            built = build_charts(self.session.events(query).collect())
            data = {name: chart.data for name, chart in built.items()}
            svgs = {name: chart_svg(chart) for name, chart in built.items()}
        except Exception as exc:  # shown in the panel; the table is unaffected
            if generation == self._charts_generation:
                self.charts.value = error_html(exc)
                self.charts.remove_class("ak-updating")
                self._charts_done.set()
            return
        if generation != self._charts_generation:
            return
        self.chart_data, self.chart_svgs, self._charts_for = data, svgs, query
        self.charts.value = (
            f'<p style="color:#57606a">{count:,} events · {html.escape(description)}'
            '</p><div class="ak-charts">'
            + "".join(
                f'<div class="ak-chart ak-chart-{name}">{svg}</div>' for name, svg in svgs.items()
            )
            + "</div>"
        )
        self.charts.remove_class("ak-updating")
        self._charts_done.set()

    def export(self, path: str | Path | None = None, format: str | None = None) -> Manifest:
        """Write the active query's events to a file (with a manifest) and say where.

        Args:
            path: the file; default: the export box, else ``activity-<time>.<format>``.
            format: csv, json, jsonl or parquet; default: the format box.
        """
        fmt = format or self.export_format.value
        target = path or self.export_path.value.strip()
        if not target:
            target = f"activity-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{fmt}"
        resolved = Path(target).expanduser().resolve()
        try:
            self.manifest = self.session.export(self.query, resolved, fmt)
        except (AuditkitError, OSError) as exc:
            self.export_status.value = error_html(exc)
            raise
        self.export_status.value = export_html(self.manifest, resolved)
        return self.manifest

    def clear(self, search: str = "") -> None:
        """Reset the search box (to ``search``) and every facet, then run once."""
        with self._hold():
            self.search.value = search
            for control in self._facet_controls():
                control.value = ""
            self.date_from.value = None
            self.date_to.value = None
        self.run()

    # -- display ---------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _show(self, page: Page) -> None:
        self.page = page
        rows = page.rows.to_dicts()
        for i, (box, button, cells) in enumerate(self._rows):
            if i < len(rows):
                row = rows[i]
                button.description = _when(row["timestamp"])
                button.tooltip = f"open event {row['event_id']}"
                cells.value = row_html(row)
                box.layout.display = ""
            else:
                box.layout.display = "none"
        self._highlight()
        first = len(self._newer) * self.page_size
        self.page_info.value = (
            f"events {first + 1:,}–{first + len(rows):,} of {self.count:,}"
            if rows
            else "no events match"
        )
        self.newer_button.disabled = not self._newer
        self.older_button.disabled = page.older is None

    def _highlight(self) -> None:
        chosen = self.selected["event_id"] if self.selected else None
        ids = self.page.rows.get_column("event_id").to_list()
        for i, (box, _, _) in enumerate(self._rows):
            if i < len(ids) and ids[i] == chosen:
                box.add_class("ak-selected")
            else:
                box.remove_class("ak-selected")

    def _facet_controls(self) -> tuple[Any, ...]:
        return (self.action, self.resource_type, self.user, self.date_range, self.status)

    @contextmanager
    def _hold(self) -> Iterator[None]:
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1

    def _changed(self, _: Any = None) -> None:
        if not self._holding:
            self.run()

    def _build(self) -> None:
        frame = self.session.events(None)
        users = charts.top_data(frame, "actor", 200).get_column("actor").to_list()
        types = charts.top_data(frame, "resource_type", 100).get_column("resource_type")
        narrow = w.Layout(width="170px")

        def dropdown(options: list[tuple[str, str]], css: str, tip: str) -> Any:
            control = w.Dropdown(options=options, value="", layout=narrow, tooltip=tip)
            control.add_class(css)
            control.observe(self._changed, "value")
            return control

        self.search = w.Text(
            placeholder="search: user:alice action:updated resource:database date:7d "
            "status:failed, free words, 192.168.1 …",
            continuous_update=False,
            layout=w.Layout(flex="1 1 auto", width="auto"),
        )
        self.search.add_class("ak-search")
        self.search.observe(self._changed, "value")
        self.search_button = w.Button(description="Search", button_style="primary")
        self.search_button.add_class("ak-search-button")
        self.search_button.on_click(lambda _: self.run())
        self.error_line = w.HTML()
        self.error_line.add_class("ak-error")

        self.action = dropdown(
            [("any action", ""), *[(a, a) for a in schema.ACTIONS]], "ak-action", "action"
        )
        self.resource_type = dropdown(
            [("any resource type", ""), *[(t, t) for t in sorted(types.to_list())]],
            "ak-resource-type",
            "resource type",
        )
        self.user = w.Combobox(
            options=[*USER_SHORTCUTS, *users],
            placeholder="any user (me, API keys, …)",
            ensure_option=False,
            continuous_update=False,
            layout=w.Layout(width="230px"),
        )
        self.user.add_class("ak-user")
        self.user.observe(self._changed, "value")
        self.date_range = dropdown(
            [(label, key) for key, label in DATE_PRESETS.items()], "ak-date", "date range"
        )
        self.date_range.observe(self._toggle_custom_dates, "value")
        self.date_from = w.DatePicker(description="from", layout=w.Layout(width="190px"))
        self.date_to = w.DatePicker(description="to", layout=w.Layout(width="190px"))
        for picker in (self.date_from, self.date_to):
            picker.style.description_width = "32px"
            picker.layout.display = "none"
            picker.observe(self._custom_date_changed, "value")
        self.status = dropdown(
            [("any status", ""), *[(_STATUS_LABELS[s], s) for s in schema.STATUSES]],
            "ak-status",
            "status",
        )
        self.clear_button = w.Button(description="Clear", tooltip="clear search and filters")
        self.clear_button.on_click(lambda _: self.clear())
        self.summary = w.HTML()
        self.summary.add_class("ak-summary")

        self._rows: list[tuple[Any, Any, Any]] = []
        for i in range(self.page_size):
            button = w.Button(layout=w.Layout(width="170px", height="26px", margin="0"))
            button.add_class("ak-open")
            button.on_click(self._open_row(i))
            cells = w.HTML(layout=w.Layout(margin="0"))
            box = w.HBox([button, cells])
            box.add_class("ak-row")
            self._rows.append((box, button, cells))
        self.row_buttons = [button for _, button, _ in self._rows]
        self.newer_button = w.Button(description="‹ Newer", tooltip="newer events")
        self.newer_button.add_class("ak-newer")
        self.newer_button.on_click(lambda _: self.newer())
        self.older_button = w.Button(description="Older ›", tooltip="older events")
        self.older_button.add_class("ak-older")
        self.older_button.on_click(lambda _: self.older())
        self.page_info = w.HTML()
        self.page_info.add_class("ak-page-info")

        self.detail = w.HTML('<p style="color:#57606a">Click an event’s time to open it.</p>')
        self.detail.add_class("ak-detail")
        self.investigate_buttons = {}
        for kind, label in INVESTIGATIONS.items():
            button = w.Button(description=label, disabled=True, layout=w.Layout(width="auto"))
            button.add_class(f"ak-investigate-{kind}")
            button.on_click(self._investigate(kind))
            self.investigate_buttons[kind] = button
        self.investigation_panel = w.HTML()
        self.investigation_panel.add_class("ak-investigation")
        self.use_query_button = w.Button(
            description="Search these events", layout=w.Layout(width="auto", display="none")
        )
        self.use_query_button.on_click(lambda _: self.search_investigation())

        self.charts = w.HTML('<p style="color:#57606a">Charts appear here.</p>')
        self.charts.add_class("ak-charts-panel")
        self.export_format = w.Dropdown(options=list(FORMATS), value="csv", description="format")
        self.export_path = w.Text(
            placeholder="file path (default: activity-<time>.<format> here)",
            description="to",
            layout=w.Layout(width="520px"),
        )
        self.export_button = w.Button(description="Export", button_style="primary")
        self.export_button.add_class("ak-export")
        self.export_button.on_click(self._export_clicked)
        self.export_status = w.HTML()
        self.export_status.add_class("ak-export-status")

        table = w.VBox(
            [
                w.HTML(header_html()),
                *[box for box, _, _ in self._rows],
                w.HBox([self.newer_button, self.page_info, self.older_button]),
            ],
            layout=w.Layout(flex="0 0 auto"),
        )
        side = w.VBox(
            [
                self.detail,
                w.HBox(list(self.investigate_buttons.values()), layout=w.Layout(flex_flow="wrap")),
                self.investigation_panel,
                self.use_query_button,
            ],
            layout=w.Layout(flex="1 1 380px", min_width="380px", margin="0 0 0 16px"),
        )
        side.add_class("ak-panel")
        export = w.VBox(
            [
                w.HTML(
                    "Write every event the active search matches (newest first) to a file, "
                    "with a manifest beside it. CSV cells that a spreadsheet would run as "
                    "formulas are neutralized."
                ),
                w.HBox([self.export_format, self.export_path, self.export_button]),
                self.export_status,
            ]
        )
        self.tabs = w.Tab(
            children=[
                w.HBox([table, side], layout=w.Layout(flex_flow="row wrap")),
                self.charts,
                export,
            ],
            titles=["Events", "Charts", "Export"],
        )
        self.tabs.observe(self._tab_changed, "selected_index")
        self.widget = w.VBox(
            [
                w.HTML(
                    _CSS + '<span style="color:#57606a">store '
                    f"<code>{html.escape(str(self.session.store.root))}</code></span>"
                ),
                w.HBox([self.search, self.search_button]),
                self.error_line,
                w.HBox(
                    [
                        self.action,
                        self.resource_type,
                        self.user,
                        self.date_range,
                        self.date_from,
                        self.date_to,
                        self.status,
                        self.clear_button,
                    ],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                self.summary,
                self.tabs,
            ]
        )
        self.widget.add_class("auditkit-explorer")

    # -- handlers (each one line into the methods above) ----------------------------------

    def _open_row(self, i: int) -> Callable[[Any], None]:
        def handler(_: Any) -> None:
            if i < self.results.height:
                self.open_event(self.results.item(i, "event_id"))

        return handler

    def _investigate(self, kind: str) -> Callable[[Any], None]:
        return lambda _: self.investigate(kind)

    def _toggle_custom_dates(self, change: dict[str, Any]) -> None:
        shown = "" if change["new"] == "custom" else "none"
        self.date_from.layout.display = self.date_to.layout.display = shown

    def _custom_date_changed(self, _: Any) -> None:
        if self.date_range.value == "custom":
            self._changed()

    def _tab_changed(self, change: dict[str, Any]) -> None:
        if change["new"] == _CHARTS_TAB:
            self.show_charts(wait=False)

    def _export_clicked(self, _: Any) -> None:
        with suppress(AuditkitError, OSError):  # shown in export_status
            self.export()


# --------------------------------------------------------------------------- Voilà

VOILA_TEMPLATE = "auditkit-explorer"
#: The offline Voilà template: Voilà's ``lab`` page without the Font Awesome stylesheets
#: it links from a CDN (the explorer uses no icons) and without the Mermaid loader.
_VOILA_INDEX = """\
{%- extends 'lab/index.html.j2' -%}
{% import "spinner.macro.html.j2" as spinner %}
{%- block notebook_css -%}
{% if frontend == "voila" %}{{ resources.include_js("static/voila-style.js") }}{% endif %}
{{ spinner.css() }}
<style>.jp-mod-noOutputs.jp-mod-noInput { display: none; }</style>
{{ super.super() }}
{%- endblock notebook_css -%}
{%- block html_head_js_mermaidjs -%}
{%- endblock html_head_js_mermaidjs -%}
"""

_NOTEBOOK_TITLE = """\
# Activity logs

Search with `user:alice action:updated date:7d status:failed`, free words or IP prefixes; \
narrow with the filters; click an event's time for its details and diff."""

_NOTEBOOK_CODE = """\
import os

from auditkit.widgets import Explorer

# `auditkit explore STORE` passes these in; in JupyterLab, set STORE to your store's path.
STORE = os.environ.get("AUDITKIT_STORE", "../demo-store")
ME = os.environ.get("AUDITKIT_ME")  # your actor id, for the "me" user filter
NOW = os.environ.get("AUDITKIT_NOW")  # pretend it is this time (ISO 8601); default: now

explorer = Explorer(STORE, me=ME, now=NOW)
explorer"""


def explorer_notebook() -> dict[str, Any]:
    """The explorer notebook (what ``notebooks/explorer.ipynb`` holds) as nbformat JSON."""

    def lines(text: str) -> list[str]:
        return text.splitlines(keepends=True)

    return {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "title",
                "metadata": {},
                "source": lines(_NOTEBOOK_TITLE),
            },
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "explorer",
                "metadata": {},
                "outputs": [],
                "source": lines(_NOTEBOOK_CODE),
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def checkout_notebook() -> Path | None:
    """``notebooks/explorer.ipynb`` of the source checkout this package runs from, if any."""
    candidate = Path(__file__).resolve().parents[1] / "notebooks" / "explorer.ipynb"
    return candidate if candidate.is_file() else None


def prepare_voila(workdir: Path) -> tuple[Path, Path]:
    """Write the offline template (and, outside a checkout, the notebook) under ``workdir``.

    Returns:
        The notebook to serve, and the Jupyter data directory holding the template (for
        ``JUPYTER_PATH``).
    """
    data = workdir / "share"
    template = data / "voila" / "templates" / VOILA_TEMPLATE
    template.mkdir(parents=True, exist_ok=True)
    (template / "conf.json").write_text(json.dumps({"base_template": "lab"}) + "\n")
    (template / "index.html.j2").write_text(_VOILA_INDEX)
    notebook = checkout_notebook()
    if notebook is None:
        notebook = workdir / "explorer.ipynb"
        notebook.write_text(json.dumps(explorer_notebook(), indent=1) + "\n")
    return notebook, data


def voila_command(notebook: Path, *, port: int, token: str) -> list[str]:
    """The Voilà command line: 127.0.0.1 only, a token, the offline template, no browser."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        f"--token={token}",
        f"--template={VOILA_TEMPLATE}",
        "--theme=light",
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AuditkitError(f"Voilà exited with status {proc.returncode} before serving")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AuditkitError(f"Voilà did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(
    store: str | Path,
    *,
    port: int | None = None,
    me: str | None = None,
    now: datetime | None = None,
    open_browser: bool = True,
    timeout: float = 120.0,
) -> int:
    """Serve the explorer notebook with Voilà on 127.0.0.1 until Ctrl-C; returns the status.

    The store path (and ``me``, ``now``) reach the notebook's first cell through the
    ``AUDITKIT_STORE`` (``AUDITKIT_ME``, ``AUDITKIT_NOW``) environment variables. Voilà
    gets a random token; the printed URL carries it.

    Raises:
        StoreError: ``store`` is not an auditkit store.
        AuditkitError: Voilà did not start.
    """
    root = Store(Path(store).expanduser()).root.resolve()
    port = port or free_port()
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="auditkit-explore-") as tmp:
        notebook, data = prepare_voila(Path(tmp))
        paths = [str(data), *filter(None, [os.environ.get("JUPYTER_PATH")])]
        env = {**os.environ, "AUDITKIT_STORE": str(root), "JUPYTER_PATH": os.pathsep.join(paths)}
        if me:
            env["AUDITKIT_ME"] = me
        if now:
            env["AUDITKIT_NOW"] = now.isoformat()
        proc = subprocess.Popen(voila_command(notebook, port=port, token=token), env=env)
        with _terminate_as_interrupt():
            try:
                _wait_for_port(port, proc, timeout)
                url = f"http://127.0.0.1:{port}/?token={token}"
                print(f"auditkit explorer for {root}\n  {url}\npress Ctrl-C to stop", flush=True)
                if open_browser:
                    webbrowser.open(url)
                return proc.wait()
            except KeyboardInterrupt:
                return 0
            finally:
                _stop(proc)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so a service manager's stop also stops Voilà's kernels."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
