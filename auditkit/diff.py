"""Before/after diffs of audit events: typed changes, rendering, event details.

An event's ``before`` and ``after`` columns hold the resource's state as JSON text (null
when absent). This module turns a pair of states into a list of :class:`Change` records
(``title: "Report" → "Q2 Sales Report"``), can replay them (:func:`apply`), renders them
as text or HTML, builds the event-details view (:func:`details`) and adds a vectorized
``changed_fields`` column to whole frames (:func:`changed_fields`).

Semantics, in short:

* Objects are compared key by key and nested objects give dotted paths
  (``settings.sharing.visibility``). Unchanged fields are not reported.
* A key present on one side only is ``added`` / ``removed`` with its whole value; a key
  holding ``null`` is present (``{}`` → ``{"a": null}`` adds ``a``).
* ``null`` ↔ value is ``changed``; two different non-null JSON types (``10`` → ``"10"``)
  is ``type_changed``. Numbers compare by value (``1`` equals ``1.0``); ``true`` is not 1.
* Lists are compared as a whole and reported once, at the list's path, as
  ``list_changed`` with the exact old and new lists plus display details: items added
  and removed (as multisets), and for lists of objects the per-item changes, matched by
  an ``id`` or ``name`` key when every item has a unique one, else by position.
* A null ``before`` is a creation: the root becomes ``{}`` and every field of ``after``
  is ``added``. A null ``after`` is a deletion: every field is ``removed`` and then the
  root. (Non-object states are added/removed/changed as a whole.)

``apply(before, diff(before, after))`` reproduces ``after`` for any JSON values.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import polars as pl

from auditkit.errors import AuditkitError

__all__ = [
    "Change",
    "ChangeKind",
    "DiffError",
    "EventDetails",
    "apply",
    "changed_fields",
    "changed_fields_expr",
    "details",
    "diff",
    "diff_json",
    "format_path",
    "render_html",
    "render_text",
]


class DiffError(AuditkitError, ValueError):
    """A before/after (or attributes) value is not valid JSON, or changes do not fit.

    Attributes:
        side: which input was bad: ``"before"``, ``"after"``, ``"attributes"``, or
            ``None`` when the error is about applying changes.
        line: 1-based line of the JSON syntax error, when there is one.
        column: 1-based column of the JSON syntax error.
        position: 0-based character offset of the JSON syntax error.
        reason: the parser's (or applier's) own explanation.
    """

    def __init__(
        self,
        message: str,
        *,
        side: str | None = None,
        line: int | None = None,
        column: int | None = None,
        position: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.side = side
        self.line = line
        self.column = column
        self.position = position
        self.reason = reason or message

    def located(self, where: str) -> DiffError:
        """The same error with ``where`` (e.g. ``"event 'evt_1': "``) before its message."""
        return DiffError(
            where + str(self),
            side=self.side,
            line=self.line,
            column=self.column,
            position=self.position,
            reason=self.reason,
        )


ChangeKind = Literal["added", "removed", "changed", "type_changed", "list_changed"]
PathPart = str | int


@dataclass(frozen=True)
class Change:
    """One difference between two JSON states.

    Attributes:
        path: keys (``str``) and list indexes (``int``) from the root to the value.
            Changes returned by :func:`diff` never have indexes at top level; indexes
            appear only in :attr:`items`. The empty path is the whole value.
        kind: ``added`` (``new`` is the value), ``removed`` (``old``), ``changed``
            (``old`` → ``new``, same JSON type or one side null), ``type_changed``
            (two different non-null JSON types), ``list_changed`` (``old`` → ``new``
            lists, see ``added``/``removed``/``items``).
        old: value before (meaningful for removed, changed, type_changed, list_changed).
        new: value after (meaningful for added, changed, type_changed, list_changed).
        added: ``list_changed`` only: items of ``new`` that are not in ``old`` (multiset
            difference; for lists of objects matched by ``key``, the items whose key is new).
        removed: ``list_changed`` only: items of ``old`` that are not in ``new``.
        items: ``list_changed`` on lists of objects: changes inside items present on both
            sides; their paths index into ``new`` (``path + (index, ...)``).
        key: ``list_changed`` on lists of objects: the field items were matched by
            (``"id"`` or ``"name"``), or ``None`` when matched by position.
    """

    path: tuple[PathPart, ...]
    kind: ChangeKind
    old: Any = None
    new: Any = None
    added: tuple[Any, ...] = ()
    removed: tuple[Any, ...] = ()
    items: tuple[Change, ...] = ()
    key: str | None = None

    @property
    def path_str(self) -> str:
        """The path as text: ``settings.sharing.visibility``, ``tags[2]``, ``$`` for the root."""
        return format_path(self.path)


# ---------------------------------------------------------------------------------------
# Paths

#: Keys written bare in a path; anything else is written as a JSON string in brackets.
_PLAIN_KEY = re.compile(r"[\w$@\-:/+#]+")


def format_path(path: Sequence[PathPart]) -> str:
    """Format a change path as text.

    Keys are joined with dots, list indexes are bracketed, keys that are empty or
    contain dots, spaces, brackets or quotes are written as bracketed JSON strings, and
    the empty path (the whole value) is ``$``.

    >>> format_path(("settings", "sharing", "visibility"))
    'settings.sharing.visibility'
    >>> format_path(("tags", 2))
    'tags[2]'
    >>> format_path(("labels", "team.name"))
    'labels["team.name"]'
    """
    if not path:
        return "$"
    return _format_tail(path, first=True)


def _format_tail(parts: Iterable[PathPart], *, first: bool) -> str:
    out = []
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(f"[{part}]")
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            out.append(part if first else "." + part)
        else:
            out.append("[" + _json_text(str(part)) + "]")
        first = False
    return "".join(out)


# ---------------------------------------------------------------------------------------
# JSON values


def _kind(value: Any) -> str:
    """The JSON type name of a parsed value."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise DiffError(
        f"{type(value).__name__} value {value!r:.80} is not a JSON value; "
        "expected dict, list, str, int, float, bool or None"
    )


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but booleans are not numbers (``True != 1``)."""
    ta, tb = type(a), type(b)
    if ta is tb and ta in (str, int, bool):
        return bool(a == b)
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == "object":
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if ka == "array":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if ka == "number" and a != a and b != b:  # NaN is not JSON, but equal to itself here
        return True
    return bool(a == b)


def _canon(value: Any) -> Any:
    """A hashable key such that ``_canon(a) == _canon(b)`` iff ``_equal(a, b)``."""
    kind = _kind(value)
    if kind == "number":
        return ("n", "nan" if value != value else value)
    if kind == "array":
        return ("a", tuple(_canon(v) for v in value))
    if kind == "object":
        return ("o", tuple(sorted((k, _canon(v)) for k, v in value.items())))
    return (kind, value)


def _parse(text: str | None, side: str) -> Any:
    if text is None or not text.strip():  # a blank cell (CSV exports) means no state
        return None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        start = max(0, exc.pos - 30)
        excerpt = text[start : exc.pos + 30].replace("\n", " ")
        caret = " " * (exc.pos - start) + "^"
        raise DiffError(
            f"{side} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(character {exc.pos})\n  {excerpt}\n  {caret}\n"
            f'Hint: \'{side}\' must hold JSON text (an object such as {{"title": "Report"}}) '
            "or be null.",
            side=side,
            line=exc.lineno,
            column=exc.colno,
            position=exc.pos,
            reason=exc.msg,
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise DiffError(
            f"{side} is not valid JSON: {exc}\n"
            "Hint: JSON has no NaN or Infinity; write null or a string instead.",
            side=side,
            reason=str(exc),
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _json_text(value: Any) -> str:
    """Compact one-line JSON for display (keeps non-ASCII, escapes line breaks)."""
    text = json.dumps(value, ensure_ascii=False)
    if "\u2028" in text or "\u2029" in text or "\x85" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        text = text.replace("\x85", "\\u0085")
    return text


# ---------------------------------------------------------------------------------------
# diff / apply


def diff(before: Any, after: Any) -> list[Change]:
    """List the changes that turn ``before`` into ``after`` (parsed JSON values).

    Args:
        before: the state before, or ``None`` when the resource did not exist.
        after: the state after, or ``None`` when the resource was deleted.

    Returns:
        The changes, unchanged fields left out: for objects, the keys of ``before`` in
        order, then the keys only in ``after``.

    Raises:
        DiffError: a value is not JSON (e.g. a set, a tuple, a non-string key).

    >>> [c.path_str + " " + c.kind for c in diff({"title": "Report"}, {"title": "Q2"})]
    ['title changed']
    """
    out: list[Change] = []
    _diff_root(before, after, out, detail=True)
    return out


def diff_json(before_text: str | None, after_text: str | None) -> list[Change]:
    """Like :func:`diff`, on JSON text as stored in the ``before``/``after`` columns.

    Raises:
        DiffError: naming the side (``before`` or ``after``) that is not valid JSON, with
            the line, column and an excerpt pointing at the problem.
    """
    return diff(_parse(before_text, "before"), _parse(after_text, "after"))


def _diff_root(before: Any, after: Any, out: list[Change], *, detail: bool) -> None:
    if before is None and after is None:
        return
    if before is None:
        if isinstance(after, dict):
            out.append(Change((), "added", new={}))
            for key, value in after.items():
                out.append(Change((_key(key),), "added", new=value))
        else:
            _kind(after)
            out.append(Change((), "added", new=after))
        return
    if after is None:
        if isinstance(before, dict):
            for key, value in before.items():
                out.append(Change((_key(key),), "removed", old=value))
            out.append(Change((), "removed", old={}))
        else:
            _kind(before)
            out.append(Change((), "removed", old=before))
        return
    _diff_value(before, after, (), out, detail)


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise DiffError(f"object key {key!r} is not a string; JSON object keys are strings")
    return key


def _diff_value(
    before: Any, after: Any, path: tuple[PathPart, ...], out: list[Change], detail: bool
) -> None:
    tb, ta = type(before), type(after)
    if tb is dict and ta is dict:
        _diff_object(before, after, path, out, detail)
        return
    if tb is list and ta is list:
        _diff_list(before, after, path, out, detail)
        return
    kb, ka = _kind(before), _kind(after)
    if kb != ka:
        kind: ChangeKind = "changed" if "null" in (kb, ka) else "type_changed"
        out.append(Change(path, kind, old=before, new=after))
    elif kb == "object":
        _diff_object(before, after, path, out, detail)
    elif kb == "array":
        _diff_list(before, after, path, out, detail)
    elif not _equal(before, after):
        out.append(Change(path, "changed", old=before, new=after))


def _diff_object(
    before: dict[str, Any],
    after: dict[str, Any],
    path: tuple[PathPart, ...],
    out: list[Change],
    detail: bool,
) -> None:
    for key, old in before.items():
        if key in after:
            _diff_value(old, after[key], (*path, _key(key)), out, detail)
        else:
            out.append(Change((*path, _key(key)), "removed", old=old))
    for key, new in after.items():
        if key not in before:
            out.append(Change((*path, _key(key)), "added", new=new))


def _diff_list(
    before: list[Any], after: list[Any], path: tuple[PathPart, ...], out: list[Change], detail: bool
) -> None:
    if _equal(before, after):
        return
    if not detail:
        out.append(Change(path, "list_changed", old=before, new=after))
        return
    items: list[Change] = []
    key = None
    if (
        (before or after)
        and all(type(x) is dict for x in before)
        and all(type(x) is dict for x in after)
    ):
        key = _match_key(before, after)
        if key is not None:
            old_by_key = {_canon(x[key]): x for x in before}
            new_keys = {_canon(x[key]) for x in after}
            added = tuple(x for x in after if _canon(x[key]) not in old_by_key)
            removed = tuple(x for x in before if _canon(x[key]) not in new_keys)
            for index, item in enumerate(after):
                old_item = old_by_key.get(_canon(item[key]))
                if old_item is not None:
                    _diff_object(old_item, item, (*path, index), items, detail)
        else:
            common = min(len(before), len(after))
            for index in range(common):
                _diff_object(before[index], after[index], (*path, index), items, detail)
            added, removed = tuple(after[common:]), tuple(before[common:])
    else:
        added, removed = _multiset_minus(after, before), _multiset_minus(before, after)
    out.append(
        Change(
            path,
            "list_changed",
            old=before,
            new=after,
            added=added,
            removed=removed,
            items=tuple(items),
            key=key,
        )
    )


def _match_key(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str | None:
    """``id`` or ``name`` when every item on both sides has a unique scalar one."""
    for candidate in ("id", "name"):
        ok = True
        for side in (before, after):
            seen = set()
            for item in side:
                value = item.get(candidate)
                if type(value) not in (str, int):
                    ok = False
                    break
                canon = _canon(value)
                if canon in seen:
                    ok = False
                    break
                seen.add(canon)
            if not ok:
                break
        if ok:
            return candidate
    return None


def _multiset_minus(items: list[Any], other: list[Any]) -> tuple[Any, ...]:
    remaining = Counter(_canon(x) for x in other)
    extra = []
    for item in items:
        canon = _canon(item)
        if remaining[canon] > 0:
            remaining[canon] -= 1
        else:
            extra.append(item)
    return tuple(extra)


def apply(before: Any, changes: Iterable[Change]) -> Any:
    """Replay changes on a state: ``apply(before, diff(before, after))`` equals ``after``.

    ``before`` is not modified. Changes are applied in order; ``list_changed`` sets the
    whole new list (its ``added``/``removed``/``items`` are for display).

    Raises:
        DiffError: a change's path does not exist in the state it is applied to.
    """
    state = deepcopy(before)
    for change in changes:
        state = _apply_one(state, change)
    return state


def _apply_one(state: Any, change: Change) -> Any:
    if not change.path:
        return None if change.kind == "removed" else deepcopy(change.new)
    parent = state
    for depth, part in enumerate(change.path[:-1]):
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            raise _apply_error(change, change.path[: depth + 1]) from None
    last = change.path[-1]
    try:
        if change.kind == "removed":
            del parent[last]
        elif isinstance(parent, list) and change.kind == "added" and last == len(parent):
            parent.append(deepcopy(change.new))
        else:
            if change.kind != "added" and isinstance(parent, dict) and last not in parent:
                raise KeyError(last)
            parent[last] = deepcopy(change.new)
    except (KeyError, IndexError, TypeError):
        raise _apply_error(change, change.path) from None
    return state


def _apply_error(change: Change, where: tuple[PathPart, ...]) -> DiffError:
    return DiffError(
        f"cannot apply {change.kind} at {change.path_str}: {format_path(where)} does not exist "
        "in the state it is applied to.\n"
        "Hint: apply a diff to the same 'before' value it was computed from.",
        reason=f"missing path {format_path(where)}",
    )


# ---------------------------------------------------------------------------------------
# Rendering

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


# ---------------------------------------------------------------------------------------
# Event details

_BASIC_FIELDS = (
    "actor",
    "actor_type",
    "action",
    "operation",
    "resource_type",
    "resource_id",
    "resource_name",
    "status",
    "details",
    "error_message",
)
_METADATA_FIELDS = (
    "event_id",
    "timestamp",
    "ip_address",
    "user_agent",
    "session_id",
    "request_id",
    "duration_ms",
    "source",
    "account",
)


@dataclass(frozen=True)
class EventDetails:
    """The details view of one event.

    Attributes:
        basic: who (``actor``, ``actor_type``), ``action``, ``operation``, the resource
            (``resource_type``, ``resource_id``, ``resource_name``), ``status``,
            ``details`` and ``error_message``; absent values are ``None``.
        metadata: ``event_id``, ``timestamp`` (ISO 8601 UTC text, ``…Z``),
            ``ip_address``, ``user_agent``, ``session_id``, ``request_id``,
            ``duration_ms``, ``source``, ``account``.
        changes: :func:`diff` of the event's ``before`` and ``after``.
        attributes: the parsed ``attributes`` JSON object (empty when absent).
    """

    basic: dict[str, Any]
    metadata: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_text(self, *, max_value_chars: int | None = _DEFAULT_LIMIT) -> str:
        """Plain-text details: sections Basic, Metadata, Changes, Attributes."""
        lines = ["Basic"]
        lines += [f"  {label + ':':<11} {value}" for label, value in self._basic_rows()]
        lines.append("Metadata")
        lines += [f"  {label + ':':<11} {value}" for label, value in self._metadata_rows()]
        lines.append("Changes")
        lines += [
            "  " + line
            for line in render_text(self.changes, max_value_chars=max_value_chars).splitlines()
        ]
        lines.append("Attributes")
        if self.attributes:
            lines += [
                f"  {_one_line(key)}: {_short(value, max_value_chars)}"
                for key, value in self.attributes.items()
            ]
        else:
            lines.append("  none")
        return "\n".join(lines)

    def to_html(self) -> str:
        """Self-contained HTML details (inline styles, every value escaped)."""

        def table(rows: list[tuple[str, str]]) -> str:
            body = "".join(
                f'<tr><th style="{_CELL_STYLE};color:#57606a;font-weight:500">'
                f"{html.escape(label)}</th>"
                f'<td style="{_CELL_STYLE}">{html.escape(value)}</td></tr>'
                for label, value in rows
            )
            return f'<table style="{_TABLE_STYLE}">{body}</table>'

        attributes = [(key, _json_text(value)) for key, value in self.attributes.items()]
        h = '<h4 style="margin:12px 0 4px">{}</h4>'
        return (
            '<div class="auditkit-event" style="font-family:system-ui,-apple-system,Segoe UI,'
            'sans-serif;font-size:13px">'
            + h.format("Basic")
            + table(self._basic_rows())
            + h.format("Metadata")
            + table(self._metadata_rows())
            + h.format("Changes")
            + render_html(self.changes)
            + h.format("Attributes")
            + (table(attributes) if attributes else '<p style="color:#57606a">none</p>')
            + "</div>"
        )

    def _basic_rows(self) -> list[tuple[str, str]]:
        b = self.basic
        who = _one_line(b.get("actor") or "unknown")
        if b.get("actor_type"):
            who += f" ({b['actor_type']})"
        action = _one_line(b.get("action") or "unknown")
        if b.get("operation"):
            action += f" ({_one_line(b['operation'])})"
        resource = " ".join(_one_line(b[k]) for k in ("resource_type", "resource_id") if b.get(k))
        if b.get("resource_name"):
            resource += f" {_json_text(b['resource_name'])}"
        rows = [("who", who), ("action", action), ("resource", resource.strip() or "—")]
        rows.append(("status", _one_line(b.get("status") or "unknown")))
        for key, label in (("details", "details"), ("error_message", "error")):
            if b.get(key):
                rows.append((label, _one_line(b[key])))
        return rows

    def _metadata_rows(self) -> list[tuple[str, str]]:
        rows = []
        for key in _METADATA_FIELDS:
            value = self.metadata.get(key)
            if value is None:
                continue
            if key == "duration_ms":
                text = f"{value:g} ms" if isinstance(value, int | float) else str(value)
            else:
                text = _one_line(value)
            rows.append(("duration" if key == "duration_ms" else key.replace("_", " "), text))
        return rows


def _one_line(value: Any) -> str:
    text = str(value)
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def _iso_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def details(event: dict[str, Any]) -> EventDetails:
    """Build the details view of one canonical event row.

    Args:
        event: one event as a dict, e.g. ``df.row(i, named=True)``; missing columns are
            treated as null.

    Raises:
        DiffError: ``before``, ``after`` or ``attributes`` is not valid JSON (or
            ``attributes`` is not an object); the message names the event and the column.
    """
    basic = {key: event.get(key) for key in _BASIC_FIELDS}
    metadata = {key: event.get(key) for key in _METADATA_FIELDS}
    metadata["timestamp"] = _iso_utc(metadata["timestamp"])
    where = f"event {event.get('event_id')!r}: "
    try:
        changes = diff_json(event.get("before"), event.get("after"))
        attributes = _parse(event.get("attributes"), "attributes")
    except DiffError as exc:
        raise exc.located(where) from None
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise DiffError(
            f"{where}attributes must be a JSON object, got {_kind(attributes)} "
            f"{_short(attributes, 80)}\nHint: store extra source fields as "
            '{"field": value, ...}.',
            side="attributes",
        )
    return EventDetails(basic=basic, metadata=metadata, changes=changes, attributes=attributes)


# ---------------------------------------------------------------------------------------
# Vectorized changed fields

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)

#: Rows whose text contains any of these go to the exact Python path (see docs/diff.md):
#: raw line breaks and tabs, whitespace after a string token or two after a colon (so
#: ``":`` counts keys and ``": null`` counts null-valued keys exactly), an escaped
#: backslash before a quote, and UTF-16 surrogate escapes.
_GUARDS = [
    ":  ",
    "\n",
    "\r",
    "\t",
    '" ',
    '\\\\"',
    *(f"\\ud{c}" for c in "89abcdef"),
]
_MAX_ROUNDS = 6
_SAMPLE = 1000
_EXACT_FLOAT = 2.0**53
_MIN_CHUNK = 4096


def changed_fields_expr() -> pl.Expr:
    """The ``changed_fields`` expression: sorted changed field paths of each row.

    Computed from ``pl.col("before")`` and ``pl.col("after")``; the paths are
    ``format_path`` of the top-level changes of :func:`diff` (a list change is reported
    at the list's path, creation/deletion list every top-level field, a change of a
    whole non-object value lists nothing). Rows where both are null give ``[]``.

    It runs batch-wise, never per row: the states' structure is learned from a sample,
    each batch is read by a strict typed JSON reader (pyarrow, else Polars) and compared
    column by column. Rows that reading cannot decide exactly (see docs/diff.md) are
    diffed in Python, once per distinct before/after pair. Identical texts are not
    parsed; any other invalid JSON raises :class:`DiffError`.
    """
    return (
        pl.struct(
            pl.col("before").cast(pl.String).alias("before"),
            pl.col("after").cast(pl.String).alias("after"),
        )
        .map_batches(_changed_fields_batch, return_dtype=pl.List(pl.String))
        .alias("changed_fields")
    )


def changed_fields(frame: F) -> F:
    """Add a ``changed_fields: List(String)`` column (see :func:`changed_fields_expr`).

    >>> df = pl.DataFrame({"before": ['{"title": "Report", "n": 1}'],
    ...                    "after": ['{"title": "Q2", "n": 1}']})
    >>> changed_fields(df)["changed_fields"].to_list()
    [['title']]
    """
    return frame.with_columns(changed_fields_expr())


def _field_paths(before: Any, after: Any) -> list[str]:
    out: list[Change] = []
    _diff_root(before, after, out, detail=False)
    return sorted({format_path(c.path) for c in out if c.path})


def _changed_fields_batch(pairs: pl.Series) -> pl.Series:
    n = len(pairs)
    if n == 0:
        return pl.Series("changed_fields", [], dtype=pl.List(pl.String))
    frame = pl.DataFrame(
        {"b": pairs.struct.field("before"), "a": pairs.struct.field("after")}
    ).with_row_index("i")
    is_null_text = {c: pl.col(c).str.strip_chars().is_in(["null", ""]) for c in ("b", "a")}
    frame = frame.with_columns(
        pl.when(is_null_text[c]).then(None).otherwise(pl.col(c)).alias(c) for c in ("b", "a")
    )
    trivial = (pl.col("b").is_null() & pl.col("a").is_null()) | (pl.col("b") == pl.col("a"))
    object_root = pl.all_horizontal(
        pl.col(c).is_null() | pl.col(c).str.strip_chars_start().str.starts_with("{")
        for c in ("b", "a")
    )
    guarded = pl.any_horizontal(
        pl.col(c).str.contains_any(_GUARDS, ascii_case_insensitive=True).fill_null(False)
        for c in ("b", "a")
    )
    frame = frame.with_columns(
        pl.when(trivial.fill_null(False))
        .then(pl.lit("trivial"))
        .when(object_root & ~guarded)
        .then(pl.lit("fast"))
        .otherwise(pl.lit("slow"))
        .alias("route")
    )
    parts = [
        frame.filter(pl.col("route") == "trivial").select(
            "i", pl.lit([], dtype=pl.List(pl.String)).alias("paths")
        )
    ]
    fast_done, leftover = _typed_paths(
        frame.filter(pl.col("route") == "fast").select("i", "b", "a")
    )
    parts.append(fast_done)
    slow = pl.concat([frame.filter(pl.col("route") == "slow").select("i", "b", "a"), leftover])
    parts.append(_python_paths(slow))
    out = pl.concat(parts).sort("i")
    return out.get_column("paths").alias("changed_fields")


def _python_paths(rows: pl.DataFrame) -> pl.DataFrame:
    """Exact paths via :func:`diff`, computed once per distinct (before, after) pair."""
    if rows.is_empty():
        return pl.DataFrame(schema={"i": pl.UInt32, "paths": pl.List(pl.String)})
    unique = rows.select("b", "a").unique()
    paths = [_field_paths(_parse(b, "before"), _parse(a, "after")) for b, a in unique.iter_rows()]
    unique = unique.with_columns(pl.Series("paths", paths, dtype=pl.List(pl.String)))
    return rows.join(unique, on=["b", "a"], how="left", nulls_equal=True).select("i", "paths")


class _Shape:
    """The union of JSON kinds seen at one path of a sample of states."""

    __slots__ = ("fields", "items", "kinds")

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.fields: dict[str, _Shape] = {}
        self.items: _Shape | None = None

    def add(self, value: Any) -> bool:
        """Merge one value; return whether anything new was learned."""
        kind = _kind(value)
        if kind == "number":
            if isinstance(value, float):
                kind = "float"
            else:
                kind = "int" if -(2**63) <= value < 2**63 else "bigint"
        new = kind not in self.kinds
        self.kinds.add(kind)
        if kind == "object":
            for key, child in value.items():
                shape = self.fields.get(key)
                if shape is None:
                    shape = self.fields[key] = _Shape()
                    new = True
                new |= shape.add(child)
        elif kind == "array":
            if self.items is None and value:
                self.items = _Shape()
                new = True
            for child in value:
                assert self.items is not None
                new |= self.items.add(child)
        return new


class _Spec:
    """How one path is read: its Polars dtype, or opaque (rows using it go to Python)."""

    __slots__ = ("dtype", "fields", "nullable", "opaque")

    def __init__(
        self, dtype: pl.DataType, fields: dict[str, _Spec] | None = None, opaque: bool = False
    ) -> None:
        self.dtype = dtype
        self.fields = fields or {}
        self.opaque = opaque
        self.nullable = False


def _spec(shape: _Shape) -> _Spec:
    spec = _spec_of_kinds(shape, shape.kinds - {"null"})
    spec.nullable = "null" in shape.kinds
    return spec


def _spec_of_kinds(shape: _Shape, kinds: set[str]) -> _Spec:
    if not kinds:  # only nulls seen
        return _Spec(pl.Null())
    if kinds == {"object"}:
        fields = {name: _spec(child) for name, child in shape.fields.items()}
        return _Spec(pl.Struct({name: s.dtype for name, s in fields.items()}), fields)
    if kinds == {"string"}:
        return _Spec(pl.Binary())
    if kinds == {"int"}:
        return _Spec(pl.Int64())
    if kinds and kinds <= {"int", "float"}:
        return _Spec(pl.Float64())
    if kinds == {"boolean"}:
        return _Spec(pl.Boolean())
    if kinds == {"array"}:
        if shape.items is None:  # only empty lists seen: any item type is a surprise
            return _Spec(pl.List(pl.Binary()))
        inner = _spec(shape.items)
        if not _nested_opaque(inner):
            return _Spec(pl.List(inner.dtype), {"": inner})
    return _Spec(pl.String(), opaque=True)


def _nested_opaque(spec: _Spec) -> bool:
    return spec.opaque or any(_nested_opaque(s) for s in spec.fields.values())


def _count_keys(expr: pl.Expr, spec: _Spec) -> pl.Expr:
    """Number of object keys the typed read accounted for (non-null values)."""
    dtype = spec.dtype
    if isinstance(dtype, pl.Struct):
        terms = []
        for name, child in spec.fields.items():
            value = expr.struct.field(name)
            terms.append(value.is_not_null().cast(pl.Int64))
            if _has_objects(child):
                terms.append(_count_keys(value, child).fill_null(0))
        return pl.sum_horizontal(terms) if terms else pl.lit(0, pl.Int64)
    if isinstance(dtype, pl.List) and "" in spec.fields and _has_objects(spec.fields[""]):
        inner = _count_keys(pl.element(), spec.fields[""])
        return expr.list.eval(inner).list.sum().fill_null(0)
    return pl.lit(0, pl.Int64)


def _has_objects(spec: _Spec) -> bool:
    return isinstance(spec.dtype, pl.Struct) or (
        isinstance(spec.dtype, pl.List) and "" in spec.fields and _has_objects(spec.fields[""])
    )


def _surprises(expr: pl.Expr, spec: _Spec, lenient: bool) -> pl.Expr:
    """True where a read lost something the other checks cannot see.

    ``lenient``: the read was Polars' (a value of the wrong type became null); otherwise
    it was pyarrow's strict read, where only float precision can be lost.
    """
    dtype = spec.dtype
    if spec.opaque:
        return expr.is_not_null()
    if isinstance(dtype, pl.Struct):
        terms = [_surprises(expr.struct.field(n), s, lenient) for n, s in spec.fields.items()]
        return pl.any_horizontal(terms).fill_null(False) if terms else pl.lit(False)
    if isinstance(dtype, pl.List):
        inner = spec.fields.get("") or _Spec(pl.Binary())  # placeholder for unseen items
        bad = _surprises(pl.element(), inner, lenient)
        if lenient:
            bad = pl.element().is_null() | bad
        return expr.list.eval(bad).list.any().fill_null(False)
    if dtype == pl.Float64():
        return (expr.abs() >= _EXACT_FLOAT).fill_null(False)
    if lenient and dtype == pl.Binary():  # Polars reads integers beyond 64 bits as debug text
        return expr.bin.starts_with(b"Static(").fill_null(False)
    return pl.lit(False)


def _flags(
    path: tuple[str, ...],
    before: dict[str, pl.Series],
    after: dict[str, pl.Series],
    spec: _Spec,
    both: pl.Series | None,
    nulls: dict[tuple[str, ...], tuple[pl.Series, pl.Series]],
) -> Iterator[tuple[str, pl.Series]]:
    """(path, changed?) for every field of ``spec``.

    ``both``: the parents are objects on both sides (``None``: at the root). ``nulls``:
    per countable nullable path, whether each side holds an explicit ``null`` there.
    """
    for name, child in spec.fields.items():
        sub = (*path, name)
        b, a = before[name], after[name]
        null_b, null_a = nulls.get(sub, (None, None))
        if isinstance(child.dtype, pl.Struct):
            bp, ap = b.is_not_null(), a.is_not_null()
            flag = bp != ap
            inner = bp & ap
        else:
            flag = b.ne_missing(a)
        if null_b is not None and null_a is not None:
            flag = flag | (null_b != null_a)
        if both is not None:
            flag = flag & both
        yield format_path(sub), flag
        if isinstance(child.dtype, pl.Struct):
            if both is not None:
                inner = inner & both
            if child.fields and inner.any():
                yield from _flags(sub, _fields(b), _fields(a), child, inner, nulls)


def _fields(struct: pl.Series) -> dict[str, pl.Series]:
    return {f.name: struct.struct.field(f.name) for f in struct.dtype.fields}  # type: ignore[attr-defined]


def _typed_paths(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Changed paths for rows whose JSON the typed reader decodes exactly.

    Returns the decided rows (``i``, ``paths``) and the rows left for Python (``i``,
    ``b``, ``a``).
    """
    done = [pl.DataFrame(schema={"i": pl.UInt32, "paths": pl.List(pl.String)})]
    shape = _Shape()
    pending = rows
    for _ in range(_MAX_ROUNDS):
        if pending.is_empty():
            break
        texts = pl.concat([pending["b"], pending["a"]]).drop_nulls().unique(maintain_order=True)
        step = max(1, len(texts) // _SAMPLE)
        learned = False
        for text in texts.gather_every(step).head(_SAMPLE):
            try:
                learned |= shape.add(json.loads(text))
            except ValueError:  # invalid JSON: the Python path raises the proper error
                return pl.concat(done), pending
        if not learned and len(done) > 1:
            break
        spec = _spec(shape)
        if not isinstance(spec.dtype, pl.Struct):
            break
        try:
            decided, pending = _read_and_compare(pending, spec)
        except pl.exceptions.PolarsError:  # e.g. a malformed line: let Python report it
            break
        done.append(decided)
    return pl.concat(done), pending


def _read_and_compare(rows: pl.DataFrame, spec: _Spec) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decide the rows the typed read decodes exactly; return (decided, undecided) rows."""
    schema = dict(spec.dtype.to_schema())  # type: ignore[attr-defined]
    read = _read_arrow(rows, spec)
    if read is None and len(rows) >= 2 * _MIN_CHUNK and _arrow_type(spec) is not None:
        # One row that does not fit fails a strict read: retry in chunks so only the
        # chunks holding such rows take the lenient read.
        size = max(_MIN_CHUNK, -(-len(rows) // 16))
        parts = [_read_and_compare(chunk, spec) for chunk in rows.iter_slices(size)]
        return pl.concat([d for d, _ in parts]), pl.concat([u for _, u in parts])
    nulls: dict[tuple[str, ...], tuple[pl.Series, pl.Series]] = {}
    if read is not None:  # strict read succeeded: only float precision and nulls to check
        countable = _countable_nulls(spec)
        checks, where = [], []
        for side in ("b", "a"):
            surprise = (
                pl.DataFrame(read[side]).select(_any_surprise(spec, lenient=False)).to_series()
                if spec.fields
                else pl.Series([False] * len(rows))
            )
            accounted, located = _null_keys(rows[side], countable)
            checks.append(accounted & ~surprise)
            where.append(located)
        nulls = {path: (where[0][path], where[1][path]) for path in countable}
    else:
        read, checks = {}, []
        for side in ("b", "a"):
            # A null state reads as {}: no fields, which is what creation/deletion compare to.
            buffer = rows[side].fill_null("{}").str.join("\n").item().encode()
            frame = pl.read_ndjson(buffer, schema=schema, ignore_errors=True)
            read[side] = {name: frame[name] for name in schema}
            text = rows[side]
            written = text.str.count_matches('":', literal=True) - text.str.count_matches(
                '\\":', literal=True
            )
            counted = frame.select(
                pl.sum_horizontal(
                    [pl.col(n).is_not_null().cast(pl.Int64) for n in schema]
                    + [
                        _count_keys(pl.col(n), s).fill_null(0)
                        for n, s in spec.fields.items()
                        if _has_objects(s)
                    ]
                ).alias("k"),
                _any_surprise(spec, lenient=True).alias("s"),
            )
            no_nulls = _null_keys(text, {})[0]
            checks.append((written.fill_null(0) == counted["k"]) & ~counted["s"] & no_nulls)
    ok = checks[0] & checks[1]
    before, after = read["b"], read["a"]
    if not ok.all():
        good_index = ok.arg_true()
        before = {n: s.gather(good_index) for n, s in before.items()}
        after = {n: s.gather(good_index) for n, s in after.items()}
        nulls = {p: (b.gather(good_index), a.gather(good_index)) for p, (b, a) in nulls.items()}
    flags = list(_flags((), before, after, spec, None, nulls))
    good = rows.select("i").filter(ok)
    return _paths_from_flags(good, flags), rows.filter(~ok).select("i", "b", "a")


def _countable_nulls(spec: _Spec) -> dict[tuple[str, ...], str]:
    """Nullable paths whose key name occurs nowhere else: ``"name": null`` locates them."""
    seen: Counter[str] = Counter()
    nullable: dict[tuple[str, ...], str] = {}

    def walk(node: _Spec, path: tuple[str, ...], in_list: bool) -> None:
        for name, child in node.fields.items():
            if isinstance(node.dtype, pl.List):
                walk(child, path, True)
                continue
            seen[name] += 1
            if child.nullable and not in_list:
                nullable[(*path, name)] = name
            walk(child, (*path, name), in_list)

    walk(spec, (), False)
    return {path: name for path, name in nullable.items() if seen[name] == 1}


def _null_keys(
    text: pl.Series, countable: dict[tuple[str, ...], str]
) -> tuple[pl.Series, dict[tuple[str, ...], pl.Series]]:
    """Per row: whether every null-valued key is a countable one, and which ones hold null.

    ``": null`` occurrences (minus escaped quotes inside strings) count the null-valued
    keys exactly; each must be a ``"name": null`` pair of a countable name.
    """

    def count(pattern: str) -> pl.Series:
        return text.str.count_matches(pattern, literal=True).fill_null(0)

    total = count('": null') + count('":null') - count('\\": null') - count('\\":null')
    if not countable:
        return total == 0, {}
    pairs = text.str.extract_all(r'"[^"\\]*": ?null').fill_null([])
    names = pairs.list.eval(pl.element().str.replace(r'": ?null$', '"'))
    spelled = {
        path: {json.dumps(n, ensure_ascii=False), json.dumps(n)} for path, n in countable.items()
    }
    known = sorted({token for tokens in spelled.values() for token in tokens})
    all_known = names.list.eval(pl.element().is_in(known)).list.all()
    accounted = (names.list.len() == total) & all_known
    where = {
        path: names.list.eval(pl.element().is_in(sorted(tokens))).list.any()
        for path, tokens in spelled.items()
    }
    return accounted, where


def _any_surprise(spec: _Spec, *, lenient: bool) -> pl.Expr:
    terms = [_surprises(pl.col(n), s, lenient) for n, s in spec.fields.items()]
    return pl.any_horizontal(terms) if terms else pl.lit(False)


def _arrow_type(spec: _Spec) -> Any:
    import pyarrow as pa

    dtype = spec.dtype
    if spec.opaque:
        return None
    if isinstance(dtype, pl.Struct):
        fields = [(name, _arrow_type(child)) for name, child in spec.fields.items()]
        if any(t is None for _, t in fields):
            return None
        return pa.struct(fields)
    if isinstance(dtype, pl.List):
        inner = spec.fields.get("")
        item = _arrow_type(inner) if inner is not None else pa.string()
        return None if item is None else pa.list_(item)
    return {
        pl.Null: pa.null(),
        pl.Binary: pa.string(),
        pl.Int64: pa.int64(),
        pl.Float64: pa.float64(),
        pl.Boolean: pa.bool_(),
    }.get(dtype.base_type())


def _read_arrow(rows: pl.DataFrame, spec: _Spec) -> dict[str, dict[str, pl.Series]] | None:
    """Read both sides with pyarrow's strict JSON reader, or ``None`` if anything does not fit.

    pyarrow fails the whole read on a type mismatch, an unknown key or a repeated key,
    so a successful read decoded every value exactly (up to float precision).
    """
    import pyarrow as pa
    import pyarrow.json as pa_json

    root = _arrow_type(spec)
    if root is None:
        return None
    longest = rows.select(pl.max_horizontal(pl.col("b", "a").str.len_bytes().max())).item() or 0
    read_options = pa_json.ReadOptions(block_size=max(1 << 20, 2 * longest + 1024))
    parse_options = pa_json.ParseOptions(
        explicit_schema=pa.schema(list(root)), unexpected_field_behavior="error"
    )
    out = {}
    for side in ("b", "a"):
        buffer = rows[side].fill_null("{}").str.join("\n").item().encode()
        try:
            table = pa_json.read_json(
                pa.BufferReader(buffer), read_options=read_options, parse_options=parse_options
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        frame = pl.DataFrame(pl.from_arrow(table))
        if len(frame) != len(rows):
            return None
        out[side] = {name: frame[name] for name in spec.fields}
    return out


def _paths_from_flags(rows: pl.DataFrame, flags: list[tuple[str, pl.Series]]) -> pl.DataFrame:
    """Turn per-path boolean flags into sorted path lists, one Python list per pattern."""
    if rows.is_empty() or not flags:
        return rows.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("paths"))
    words = {}
    for start in range(0, len(flags), 63):
        chunk = flags[start : start + 63]
        word = pl.Series([0] * len(rows), dtype=pl.Int64)
        for bit, (_, flag) in enumerate(chunk):
            word = word + flag.cast(pl.Int64) * (1 << bit)
        words[f"w{start}"] = word
    patterns = pl.DataFrame(words)
    unique = patterns.unique()
    names = [name for name, _ in flags]
    lists = []
    for row in unique.iter_rows():
        paths = [
            names[start + bit]
            for start, word in zip(range(0, len(flags), 63), row, strict=True)
            for bit in range(63)
            if word >> bit & 1
        ]
        lists.append(sorted(paths))
    unique = unique.with_columns(pl.Series("paths", lists, dtype=pl.List(pl.String)))
    keyed = pl.concat([rows, patterns], how="horizontal")
    return keyed.join(unique, on=list(words), how="left").select("i", "paths")
