"""The validation result as a standalone HTML page."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # _result renders itself with this module
    from auditkit.validation._result import ValidationResult


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        if value.second == 0 and value.microsecond == 0:
            return value.strftime("%Y-%m-%d %H:%M")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _rows_summary(examples: list[dict[str, Any]]) -> str:
    parts = []
    for e in examples[:3]:
        value = e.get("value")
        shown = (
            "null" if value is None else repr(_fmt(value) if isinstance(value, datetime) else value)
        )
        parts.append(f"{e.get('event_id') or '(no id)'}: {shown}")
    return "; ".join(parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#1f2328}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em;width:100%}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.meta{color:#57606a}code{font-size:.95em}details{margin:.4em 0}details div{margin:.3em 0}
summary{cursor:pointer}.bar{background:#8c959f;height:.8em;display:inline-block}
"""


def _render_html(result: ValidationResult) -> str:
    e = html.escape
    verdict = (
        '<span class="pass">PASSED</span>'
        if result.passed
        else f'<span class="fail">FAILED</span> ({len(result.failed)} of '
        f"{len(result.checks)} checks)"
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>auditkit validation — {'passed' if result.passed else 'failed'}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Validation of {e(result.target)}: {verdict}</h1>",
        '<p class="meta">'
        f"{result.rows:,} events in {e(result._range_text())}; "
        f"suites: {e(', '.join(result.suites))}; "
        f"now = {e(_fmt(result.now))} UTC; took {result.seconds:.1f} s.</p>",
        "<h2>Checks</h2>",
        "<table><tr><th>suite</th><th>check</th><th>group</th><th>result</th>"
        "<th>bad</th><th>checked</th><th>what is expected</th></tr>",
    ]
    for i, c in enumerate(result.checks):
        mark = '<span class="pass">pass</span>' if c.passed else '<span class="fail">FAIL</span>'
        parts.append(
            f'<tr><td>{e(c.suite)}</td><td><a href="#c{i}"><code>{e(c.name)}</code></a></td>'
            f"<td>{e(c.group_label)}</td><td>{mark}</td>"
            f'<td class="n">{c.bad_count:,} {e(c.unit) if c.bad_count else ""}</td>'
            f'<td class="n">{c.checked:,}</td><td>{e(c.description)}</td></tr>'
        )
    parts.append("</table>")
    for title, wanted in (("Failed checks", False), ("Passed checks", True)):
        chosen = [(i, c) for i, c in enumerate(result.checks) if c.passed == wanted]
        if not chosen:
            continue
        parts.append(f"<h2>{title}</h2>")
        for i, c in chosen:
            group = f" — {e(c.group_label)}" if c.group else ""
            parts.append(
                f'<details id="c{i}"{"" if c.passed else " open"}><summary><code>{e(c.name)}</code>'
                f"{group}: {c.bad_count:,} {e(c.unit)} of {c.checked:,} checked "
                f"({e(c.engine)})</summary><p>{e(c.description)}</p>"
            )
            if c.examples:
                parts.append("<div><b>examples</b>:" + _html_table(c.examples) + "</div>")
            for key, value in c.details.items():
                parts.append(f"<div><b>{e(key)}</b>: {_html_value(key, value)}</div>")
            parts.append("</details>")
    parts.append(
        "<h2>Settings</h2><table>"
        + "".join(
            f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>"
            for k, v in result.config.to_dict().items()
        )
        + "</table>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_value(key: str, value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if key == "histogram":
            top = max(int(v["rows"]) for v in value) or 1
            rows = "".join(
                f'<tr><td>{html.escape(str(v["lag"]))}</td><td class="n">{v["rows"]:,}</td>'
                f'<td><span class="bar" style="width:{300 * int(v["rows"]) // top}px">'
                "</span></td></tr>"
                for v in value
            )
            return f"<table><tr><th>lag</th><th>rows</th><th></th></tr>{rows}</table>"
        return _html_table(value)
    if isinstance(value, dict):
        return ", ".join(
            f"{html.escape(str(k))} = {html.escape(_cell(v))}" for k, v in value.items()
        )
    if isinstance(value, list):
        return html.escape(", ".join(_cell(v) for v in value)) or "(none)"
    return html.escape(_cell(value))


def _html_table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, datetime | date):
        return _fmt(value)
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)
