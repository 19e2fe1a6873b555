"""What report templates call inside the kernel: the header, sections, tables and charts.

A template opens its report with :func:`open_report`, which resolves the period, builds
the query (the period AND the template's filters), prints the title, every parameter
and the query in English ("Filters applied: …"), and returns a :class:`Report`. Every
section then goes through the report, so a section with nothing to show says
"No events …" instead of disappearing, tables are capped ("… 120 more rows"), and charts
are static SVG rendered in the kernel by vl-convert (no script, no network).

The report also tells the runner what it did: the header and the footer carry
``{"auditkit": {...}}`` output metadata (title, period, query, timings) that
:func:`auditkit.reports.run_report` reads back from the executed notebook.
"""

from __future__ import annotations

import contextlib
import html
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.reports.period import Period, resolve_period, zone

__all__ = ["EMPTY", "Report", "open_report", "table_html", "term"]

#: What an empty section says.
EMPTY = "No events in this period."
#: Rows a table shows before "… N more rows".
TABLE_ROWS = 20

_META_KEY = "auditkit"


def _display(html_text: str, metadata: dict[str, Any] | None = None) -> None:
    from IPython.display import HTML, display

    if metadata is None:
        display(HTML(html_text))
    else:
        display(HTML(html_text), metadata={_META_KEY: metadata})


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def parse_now(text: str) -> datetime:
    """An ISO 8601 instant (``2024-06-17T07:00:00+02:00``, ``…Z``); empty means now (UTC).

    A naive value is read as UTC.
    """
    if not text:
        return datetime.now(UTC)
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Report:
    """One running report: its period, session, query and the sections it displays.

    Build it with :func:`open_report`.

    Attributes:
        title: the full title, e.g. "Activity summary — 2024-06-10 to 2024-06-16".
        period: the days covered.
        session: the read path (:class:`auditkit.query.Session`) over the store.
        resource: the resource the report is about (resolved from the ``resource``
            argument: an id, an exact name or ``type:name``), or None.
        filters: the query text AND-ed with the period: the template's scope, the
            resource's terms and the user's ``query``; possibly empty.
        narrowed: True when the user gave a ``query`` (see :meth:`narrow`).
        query: the query every section reads: the period AND ``filters``.
        timings: seconds spent per kind of work (``data``, ``charts``, ``tables``).
    """

    def __init__(
        self,
        title: str,
        *,
        store: str | Path,
        period: Period,
        now: datetime,
        scope: str = "",
        query: str = "",
        resource: str = "",
        me: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        from auditkit.filters import Context
        from auditkit.query import Session
        from auditkit.search import And, Query
        from auditkit.store import Store

        self.started = time.perf_counter()
        self.timings: dict[str, float] = {"data": 0.0, "charts": 0.0, "tables": 0.0}
        self.name = title
        self.title = f"{title} — {period.describe()}"
        self.period = period
        self.now = now
        self.tz = period.tz
        self.ctx = Context(now=now, me=me or None, tz=period.tz)
        self.narrowed = bool(query.strip())
        self.parameters = dict(parameters or {})
        self.attachments: list[str] = []
        self._ids: pl.Series | None = None
        with self.timed("data"):
            self.session = Session(Store(store), ctx=self.ctx)
            self.resource: Any = None
            parts = [scope] if scope else []
            if resource:
                from auditkit.history import resolve

                self.resource = resolve(self.session, resource)
                parts.append(Query(And(tuple(self.resource.terms()))).to_text())
            if self.narrowed:
                parts.append(f"({query.strip()})")
            self.filters = " ".join(parts)
            self.query = self.session.parse(self._query_text(period))

    def _query_text(self, period: Period) -> str:
        return period.to_query() + (f" ({self.filters})" if self.filters else "")

    # -- data ------------------------------------------------------------------------

    @contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        """Add the time spent in the block to ``timings[kind]``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[kind] = self.timings.get(kind, 0.0) + time.perf_counter() - started

    def events(self, extra: str = "") -> pl.LazyFrame:
        """The events of the period matching the filters (AND ``extra``, a search query)."""
        query = self.query if not extra else self.session.parse(f"{self.query} ({extra})")
        return self.session.events(query)

    def previous_events(self, extra: str = "") -> pl.LazyFrame:
        """The same selection over the period before (for comparisons)."""
        text = self._query_text(self.period.previous()) + (f" ({extra})" if extra else "")
        return self.session.events(text)

    def local(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with ``timestamp`` as naive wall time in the report's time zone."""
        from auditkit.reports.aggregate import local_time

        return local_time(frame, self.tz)

    def narrow(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Keep the rows of ``frame`` (with an ``event_id`` column) that are events of this
        report — how an investigation's evidence honours the report's ``query``. Without
        a ``query`` parameter the frame is returned as it is."""
        if not self.narrowed:
            return frame
        if self._ids is None:
            self._ids = self.collect(self.events(), ["event_id"]).get_column("event_id")
        return frame.filter(pl.col("event_id").is_in(self._ids.implode()))

    def collect(self, frame: pl.LazyFrame, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Collect ``frame`` (only ``columns`` when given), timed as data work."""
        with self.timed("data"):
            lazy = frame.select(columns) if columns else frame
            return lazy.collect()

    # -- display ---------------------------------------------------------------------

    def header(self, description: str = "") -> None:
        """Display the title, the parameters and the query in English."""
        start = self.period.start.astimezone(zone(self.tz))
        end = self.period.end.astimezone(zone(self.tz))
        rows = "".join(
            f"<tr><th>{_esc(k)}</th><td>{_esc(_show(v))}</td></tr>"
            for k, v in self.parameters.items()
        )
        described = self.query.describe(self.ctx)
        parts = [f'<h1 class="ak-title">{_esc(self.title)}</h1>']
        if description:
            parts.append(f'<p class="ak-lead">{_esc(description)}</p>')
        parts += [
            '<p class="ak-filters"><strong>Filters applied:</strong> '
            f"{_esc(_sentence(described))}</p>",
            f'<p class="ak-query">Query: <code>{_esc(self.query.to_text())}</code></p>',
            f'<p class="ak-range">Period: {_esc(self.period.describe())} '
            f"({_esc(_fmt_dt(start))} to {_esc(_fmt_dt(end))}, {_esc(self.tz)}"
            f"{'; ' + _esc(self.period.label) if self.period.label else ''}). "
            f"Times in this report are in {_esc(self.tz)}.</p>",
            f'<table class="ak-params"><caption>Parameters</caption><tbody>{rows}</tbody></table>',
        ]
        _display(
            "\n".join(parts),
            {
                "title": self.title,
                "report": self.name,
                "period": {
                    "first": self.period.first.isoformat(),
                    "last": self.period.last.isoformat(),
                    "tz": self.tz,
                    "label": self.period.label,
                    "text": self.period.describe(),
                },
                "query": self.query.to_text(),
                "description": described,
            },
        )

    def section(self, title: str, intro: str = "") -> None:
        """Start a section: a heading and an optional sentence."""
        text = f'<h2 class="ak-section">{_esc(title)}</h2>'
        if intro:
            text += f'<p class="ak-intro">{_esc(intro)}</p>'
        _display(text)

    def finding(self, text: str, label: str = "Findings") -> None:
        """A highlighted paragraph (an investigation's summary)."""
        _display(f'<p class="ak-finding"><strong>{_esc(label)}:</strong> {_esc(text)}</p>')

    def note(self, text: str) -> None:
        """A paragraph of plain text."""
        _display(f'<p class="ak-note">{_esc(text)}</p>')

    def empty(self, text: str = EMPTY) -> None:
        """Say that a section has nothing to show."""
        _display(f'<p class="ak-empty">{_esc(text)}</p>')

    def table(
        self,
        frame: pl.DataFrame,
        *,
        limit: int = TABLE_ROWS,
        empty: str = EMPTY,
        attachment: str | None = None,
    ) -> None:
        """Display a frame as an HTML table of at most ``limit`` rows.

        Args:
            frame: the rows.
            limit: rows shown; the rest are counted ("… 12 more rows").
            empty: what an empty frame says.
            attachment: also write every row to this CSV file (a report attachment)
                and name it under the table.
        """
        with self.timed("tables"):
            if attachment and not frame.is_empty():
                self.attach_csv(attachment, frame)
            _display(table_html(frame, limit=limit, empty=empty, tz=self.tz, csv=attachment))

    def chart(
        self, build: Callable[[pl.DataFrame], Any], frame: pl.DataFrame, *, empty: str = EMPTY
    ) -> None:
        """Display ``build(frame)`` (an Altair chart) as inline SVG, or ``empty``."""
        if frame.is_empty():
            self.empty(empty)
            return
        with self.timed("charts"):
            _warm_charts(wait=True)
            _display(f'<div class="ak-chart">{svg(build(frame))}</div>')

    def per_day(self, chart: Any) -> Any:
        """``chart`` (a time chart over ``bucket``) with one bar per calendar day.

        The builders in :mod:`auditkit.charts` put time on a continuous axis, where day
        buckets are hairlines; a report of up to 92 days reads better as one band per
        day. Longer periods keep the continuous axis.
        """
        if self.period.days > 92:
            return chart
        import altair as alt

        from auditkit.charts import STATUS_COLORS

        axis = alt.Axis(format="%a %d %b", labelAngle=-40 if self.period.days > 10 else 0)
        out = chart.encode(x=alt.X("yearmonthdate(bucket):O", title=None, axis=axis))
        if getattr(out.mark, "type", out.mark) == "area":
            out = out.mark_bar(color=STATUS_COLORS["failed"])
        return out

    def metrics(self, rows: Sequence[tuple[str, float | int | None, float | int | None]]) -> None:
        """A comparison table: metric, this period, the period before, change."""
        previous = self.period.previous()
        head = (
            "<tr><th>metric</th>"
            f"<th>{_esc(self.period.describe())}</th>"
            f"<th>{_esc(previous.describe())} (before)</th><th>change</th></tr>"
        )
        body = "".join(
            f"<tr><td>{_esc(label)}</td><td class='ak-num'>{_esc(_fmt(now))}</td>"
            f"<td class='ak-num'>{_esc(_fmt(before))}</td>"
            f"<td class='ak-num'>{_esc(_change(now, before))}</td></tr>"
            for label, now, before in rows
        )
        _display(
            f'<table class="ak-data ak-metrics"><thead>{head}</thead><tbody>{body}</tbody></table>'
        )

    # -- attachments -----------------------------------------------------------------

    def attach_csv(self, name: str, frame: pl.DataFrame) -> Path:
        """Write ``frame`` as CSV next to the report (the runner attaches it)."""
        from auditkit.export import neutralize_formulas

        path = Path(name)
        out = frame.with_columns(
            pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
            pl.col(pl.Enum, pl.Categorical).cast(pl.String),
        )
        out = out.select(
            pl.col(c).cast(pl.String) if isinstance(d, pl.List | pl.Struct) else pl.col(c)
            for c, d in out.schema.items()
        )
        neutralize_formulas(out).write_csv(path)
        self.attachments.append(path.name)
        return path

    def attach_text(self, name: str, text: str) -> Path:
        """Write ``text`` to a file next to the report (the runner attaches it)."""
        path = Path(name)
        path.write_text(text, encoding="utf-8")
        self.attachments.append(path.name)
        return path

    def export(self, path: str, format: str = "csv", *, extra: str = "") -> Any:
        """Export the report's events (AND ``extra``) with a manifest, via the read path."""
        query = self.query if not extra else self.session.parse(f"{self.query} ({extra})")
        with self.timed("data"):
            manifest = self.session.export(query, path, format)
        self.attachments += [Path(path).name, Path(path).name + ".manifest.json"]
        return manifest

    def finish(self) -> None:
        """Display the footer and hand the timings to the runner."""
        from auditkit import __version__

        if _WARM is not None:  # let the kernel exit with the chart engine idle
            _WARM.join()
        seconds = time.perf_counter() - self.started
        other = max(0.0, seconds - sum(self.timings.values()))
        timings = {**{k: round(v, 4) for k, v in self.timings.items()}, "other": round(other, 4)}
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        files = (
            f" Attachments: {', '.join(_esc(a) for a in self.attachments)}."
            if self.attachments
            else ""
        )
        _display(
            f'<p class="ak-footer">Generated {generated} by auditkit {_esc(__version__)} '
            f"from the store {_esc(self.session.store.root)}; "
            f"resolved against {_esc(_fmt_dt(self.now.astimezone(zone(self.tz))))} "
            f"{_esc(self.tz)}.{files}</p>",
            {"timings": timings, "attachments": list(self.attachments)},
        )


def open_report(
    title: str,
    *,
    store: str | Path,
    period: str = "last week",
    start: str = "",
    end: str = "",
    query: str = "",
    me: str = "",
    tz: str = "UTC",
    now: str = "",
    description: str = "",
    scope: str = "",
    resource: str = "",
    **parameters: Any,
) -> Report:
    """Open a report and display its header.

    Args:
        title: the report's name ("Activity summary"); the period is appended.
        store: the event store directory.
        period: period words (see :func:`auditkit.reports.period.resolve_period`);
            ignored when ``start`` and ``end`` are given.
        start, end: first and last day (``YYYY-MM-DD``, inclusive), both or neither.
        query: search query narrowing every section (empty: all events).
        me: the viewer, for ``user:me``.
        tz: the time zone days are counted and times shown in.
        now: the instant relative periods resolve against (ISO 8601; empty: now).
        description: a sentence under the title.
        scope: the template's own filter (e.g. ``user:alice@example.com``), AND-ed with
            the period and ``query``.
        resource: a resource the report is about (id, exact name or ``type:name``); its
            events are AND-ed into the query (see :attr:`Report.resource`).
        parameters: the template's other parameters, shown in the parameters table.
    """
    if not isinstance(store, str | Path) or not str(store):
        raise ValueError("parameter 'store' is required: the event store directory")
    instant = parse_now(now)
    if bool(start) != bool(end):
        raise ValueError("give both 'start' and 'end' (YYYY-MM-DD, inclusive), or neither")
    text = f"{start}..{end}" if start else period
    resolved = resolve_period(text, now=instant, tz=tz)
    shown = {
        "store": str(store),
        "period": period if not start else "",
        "start": start,
        "end": end,
        "query": query or "(none)",
        "me": me or "(none)",
        "tz": tz,
        "now": now or "(when the report ran)",
        "resource": resource,
        **parameters,
    }
    report = Report(
        title,
        store=store,
        period=resolved,
        now=instant,
        scope=scope,
        query=query,
        resource=resource,
        me=me,
        parameters={k: v for k, v in shown.items() if v != ""},
    )
    report.header(description)
    _warm_charts()  # altair and vl-convert start while the report loads its data
    return report


def term(key: str, value: str) -> str:
    """One search term ``key:value``, quoted when the value needs it."""
    from auditkit.search import And, Query, Term

    return Query(And((Term(key, (value,)),))).to_text()


# -- rendering helpers ---------------------------------------------------------------


_WARM: threading.Thread | None = None


def _warm_charts(*, wait: bool = False) -> None:
    """Import altair and start vl-convert's JavaScript engine (~2–3 s together) in a
    background thread while the report loads its data; a chart waits for it.

    The kernel runs one report, so it also skips jsonschema's slow optional IRI-format
    checker (see :func:`auditkit.reports.runner.skip_iri_checker`).
    """
    global _WARM
    if _WARM is None:
        from auditkit.reports.runner import skip_iri_checker

        skip_iri_checker()

        def warm() -> None:
            with contextlib.suppress(Exception):  # the first chart reports any problem
                import altair  # noqa: F401
                import vl_convert

                vl_convert.vegalite_to_svg({"mark": "point", "data": {"values": []}})

        _WARM = threading.Thread(target=warm, name="auditkit-charts", daemon=True)
        _WARM.start()
    if wait:
        _WARM.join()


def svg(chart: Any) -> str:
    """An Altair chart as SVG text (rendered by vl-convert, no browser, no network)."""
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover - depends on the install
        from auditkit.errors import MissingDependencyError

        raise MissingDependencyError("vl-convert-python", "reports") from exc
    return str(vl_convert.vegalite_to_svg(chart.to_json()))


def table_html(
    frame: pl.DataFrame,
    *,
    limit: int = TABLE_ROWS,
    empty: str = EMPTY,
    tz: str = "UTC",
    csv: str | None = None,
) -> str:
    """A small HTML table of the first ``limit`` rows, then "… N more rows"."""
    if frame.is_empty():
        return f'<p class="ak-empty">{_esc(empty)}</p>'
    zone_info = zone(tz)
    shown = frame.head(limit)
    numeric = [dtype.is_numeric() for dtype in shown.dtypes]
    head = "".join(f"<th>{_esc(c.replace('_', ' '))}</th>" for c in shown.columns)
    body = []
    for values in shown.iter_rows():
        cells = []
        for value, is_num in zip(values, numeric, strict=True):
            if isinstance(value, datetime):
                value = _fmt_dt(value.astimezone(zone_info) if value.tzinfo else value)
            cls = ' class="ak-num"' if is_num else ""
            cells.append(f"<td{cls}>{_esc(_fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = frame.height - shown.height
    tail = ""
    if more > 0:
        where = f" (every row is in the attachment {csv})" if csv else ""
        tail = f'<p class="ak-more">… {more:,} more row{"s" if more != 1 else ""}{_esc(where)}</p>'
    elif csv:
        tail = f'<p class="ak-more">Attachment: {_esc(csv)}</p>'
    return (
        f'<table class="ak-data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{tail}"
    )


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return _fmt_dt(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def _fmt_dt(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _change(now: float | int | None, before: float | int | None) -> str:
    if now is None or before is None:
        return ""
    delta = now - before
    sign = "+" if delta > 0 else ""
    text = f"{sign}{_fmt(delta)}"
    if before:
        text += f" ({sign}{delta / before * 100:.1f}%)"
    return text


def _show(value: object) -> str:
    return _fmt(value) if not isinstance(value, str) else value


def _sentence(described: str) -> str:
    return described[:1].upper() + described[1:] + "."


STYLE = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1f2328;margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px 32px}
.jp-Cell{margin:0 0 4px 0}
.jp-OutputArea-prompt,.jp-InputPrompt,.jp-OutputPrompt,.jp-Collapser{display:none}
h1.ak-title{font-size:24px;margin:8px 0 4px 0;border-bottom:2px solid #455a64;padding-bottom:6px}
h2.ak-section{font-size:18px;margin:28px 0 8px 0;border-bottom:1px solid #d0d7de;padding-bottom:4px}
p{margin:6px 0;line-height:1.45}
.ak-lead{color:#57606a}
.ak-filters{background:#f6f8fa;border-left:4px solid #455a64;padding:6px 10px}
.ak-finding{background:#fff8e1;border-left:4px solid #f9a825;padding:6px 10px}
.ak-query code{background:#f6f8fa;padding:1px 4px;font-size:13px}
.ak-empty{color:#57606a;font-style:italic;border:1px dashed #d0d7de;padding:8px 10px}
.ak-more,.ak-footer,.ak-intro,.ak-note{color:#57606a;font-size:13px}
.ak-footer{margin-top:28px;border-top:1px solid #d0d7de;padding-top:8px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
table caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#f6f8fa}
.ak-params th{background:#f6f8fa;font-weight:600}
td.ak-num{text-align:right;font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto}
@media print{main{padding:0}h2.ak-section{break-after:avoid}}
"""
