"""Typed changes between two JSON states: paths, value kinds, diff and apply."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, Literal

from auditkit.errors import AuditkitError


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
