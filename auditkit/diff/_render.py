"""Changes rendered as text and as an HTML table."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from typing import Any

from auditkit.diff._changes import Change, _format_tail, _json_text, _kind, format_path

_DEFAULT_LIMIT = 200


def render_text(changes: Sequence[Change], *, max_value_chars: int | None = _DEFAULT_LIMIT) -> str:
    """Render changes one line each (``title: "Report" → "Q2 Sales Report"``).

    Values are shown as JSON; values longer than ``max_value_chars`` characters are cut
    and end with ``…`` (``None`` shows them whole). Returns ``"no changes"`` for an empty list.

    >>> print(render_text(diff({"tags": ["q2"], "n": 10}, {"tags": ["q3"], "n": "10"})))
    tags: added "q3"; removed "q2"
    n: 10 (number) → "10" (string)
    """
    lines = [line for change in changes for line in _text_lines(change, max_value_chars)]
    return "\n".join(lines) if lines else "no changes"


def _short(value: Any, limit: int | None) -> str:
    text = _json_text(value)
    if limit is None or len(text) <= limit:
        return text
    if isinstance(value, str):
        return text[: max(limit - 1, 1)] + '…"'
    return text[:limit] + "…"


def _text_lines(change: Change, limit: int | None, label: str | None = None) -> Iterator[str]:
    name = label if label is not None else change.path_str
    if not change.path and label is None:
        if change.kind == "added" and change.new == {}:
            yield "(created)"
            return
        if change.kind == "removed" and change.old == {}:
            yield "(deleted)"
            return
        name = "(value)"
    kind = change.kind
    if kind == "added":
        yield f"{name}: added {_short(change.new, limit)}"
    elif kind == "removed":
        yield f"{name}: removed {_short(change.old, limit)}"
    elif kind == "changed":
        yield f"{name}: {_short(change.old, limit)} → {_short(change.new, limit)}"
    elif kind == "type_changed":
        yield (
            f"{name}: {_short(change.old, limit)} ({_kind(change.old)}) → "
            f"{_short(change.new, limit)} ({_kind(change.new)})"
        )
    else:
        for item in change.items:
            yield from _text_lines(item, limit, _item_label(change, item))
        parts = []
        if change.added:
            parts.append("added " + ", ".join(_short(v, limit) for v in change.added))
        if change.removed:
            parts.append("removed " + ", ".join(_short(v, limit) for v in change.removed))
        if parts:
            yield f"{name}: " + "; ".join(parts)
        elif not change.items:
            old, new = _short(change.old, limit), _short(change.new, limit)
            yield f"{name}: reordered {old} → {new}"


def _item_label(list_change: Change, item: Change) -> str:
    """``members[id=7].role`` for keyed lists, ``steps[2].timeout`` otherwise."""
    depth = len(list_change.path)
    index = item.path[depth]
    head = format_path(list_change.path) if list_change.path else ""
    if list_change.key is not None and isinstance(index, int):
        key_value = list_change.new[index][list_change.key]
        head += f"[{list_change.key}={_json_text(key_value)}]"
    else:
        head += f"[{index}]"
    return head + _format_tail(item.path[depth + 1 :], first=False)


_TABLE_STYLE = (
    "border-collapse:collapse;font-family:system-ui,-apple-system,Segoe UI,sans-serif;"
    "font-size:13px"
)
_CELL_STYLE = "border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left"
_OLD_STYLE = "color:#82071e;background:#ffebe9;text-decoration:line-through"
_NEW_STYLE = "color:#116329;background:#dafbe1;text-decoration:none"
_CODE_STYLE = (
    "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap"
)


def render_html(changes: Sequence[Change]) -> str:
    """Render changes as a small self-contained HTML table (inline styles, no scripts).

    Every value is escaped. Old values are struck through on red, new ones on green.
    """
    if not changes:
        return '<p class="auditkit-diff-empty" style="color:#57606a">No changes</p>'
    rows: list[str] = []
    for change in changes:
        rows.extend(_html_rows(change))
    head = "".join(f'<th style="{_CELL_STYLE}">{h}</th>' for h in ("Field", "Before", "After"))
    return (
        f'<table class="auditkit-diff" style="{_TABLE_STYLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _html_value(value: Any, style: str, note: str = "") -> str:
    tag = "del" if style is _OLD_STYLE else "ins"
    text = html.escape(_json_text(value) + note)
    return f'<{tag} style="{style};{_CODE_STYLE}">{text}</{tag}>'


def _html_row(label: str, before: str, after: str) -> str:
    field_cell = f'<code style="{_CODE_STYLE}">{html.escape(label)}</code>'
    return (
        f'<tr><td style="{_CELL_STYLE}">{field_cell}</td>'
        f'<td style="{_CELL_STYLE}">{before}</td><td style="{_CELL_STYLE}">{after}</td></tr>'
    )


def _html_rows(change: Change, label: str | None = None) -> Iterator[str]:
    name = label if label is not None else change.path_str
    if not change.path and label is None:
        name = "(whole value)"
    kind = change.kind
    if kind == "added":
        yield _html_row(name, "", _html_value(change.new, _NEW_STYLE))
    elif kind == "removed":
        yield _html_row(name, _html_value(change.old, _OLD_STYLE), "")
    elif kind == "changed":
        yield _html_row(
            name, _html_value(change.old, _OLD_STYLE), _html_value(change.new, _NEW_STYLE)
        )
    elif kind == "type_changed":
        yield _html_row(
            name,
            _html_value(change.old, _OLD_STYLE, f" ({_kind(change.old)})"),
            _html_value(change.new, _NEW_STYLE, f" ({_kind(change.new)})"),
        )
    else:
        for item in change.items:
            yield from _html_rows(item, _item_label(change, item))
        if change.added or change.removed:
            old = "<br>".join(_html_value(v, _OLD_STYLE) for v in change.removed)
            new = "<br>".join(_html_value(v, _NEW_STYLE) for v in change.added)
            yield _html_row(name, old, new)
        elif not change.items:
            yield _html_row(
                name + " (reordered)",
                _html_value(change.old, _OLD_STYLE),
                _html_value(change.new, _NEW_STYLE),
            )
