"""One resource's history: every event on it, oldest first, and its state at any time.

:func:`history` lists the events of one resource with each event's changes rendered as
text; :func:`state_at` reconstructs the resource's state (its ``after`` JSON) at a given
instant. Both read through :class:`~auditkit.query.Session`, with a search query built
by :func:`resolve` so the same rows can be found again in the search box.

A resource is named by its id (``rpt_000007``), by its exact name (``Q2 Sales Report``),
or, when a name is shared by resources of different types, by ``type:name``
(``report:Q2 Sales Report``). See ``docs/history.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from auditkit.diff import Change, DiffError, changed_fields, diff_json, render_text
from auditkit.errors import NotFoundError, QueryError
from auditkit.query import Session
from auditkit.search import And, Node, Or, Query, Term, parse

__all__ = ["Resource", "date_terms", "history", "resolve", "state_at"]

#: Characters of each value shown in the one-line ``changes`` column.
CHANGE_VALUE_CHARS = 80
#: How many candidates an ambiguous-resource error lists.
_MAX_CANDIDATES = 8


@dataclass(frozen=True)
class Resource:
    """A resource as the events name it.

    Attributes:
        type: ``resource_type`` (None when the events do not say).
        id: ``resource_id``; None for sources that log only names.
        name: the most recent ``resource_name`` seen.
    """

    type: str | None
    id: str | None
    name: str | None

    @property
    def label(self) -> str:
        """How summaries name it: ``report 'Q2 Sales Report' (rpt_000007)``."""
        parts = [self.type or "resource"]
        if self.name:
            parts.append(f"'{self.name}'")
        if self.id and self.id != self.name:
            parts.append(f"({self.id})" if self.name else self.id)
        return " ".join(parts)

    def terms(self) -> list[Node]:
        """Search terms that select this resource's own events."""
        if self.id is not None:
            return [Term("resource_id", (self.id,))]
        terms: list[Node] = []
        if self.type is not None:
            terms.append(Term("resource_type", (self.type,)))
        if self.name is not None:
            terms.append(Term("resource", (self.name,)))
        return terms

    def match(self) -> pl.Expr:
        """Exact (case-sensitive, no wildcards) match of this resource's events.

        Applied after the search query, which matches ignoring case and treats ``*`` as
        a wildcard, so an odd id cannot pull in a neighbour's events.
        """
        if self.id is not None:
            return (pl.col("resource_id") == self.id).fill_null(False)
        expr = pl.col("resource_id").is_null()
        if self.type is not None:
            expr &= (pl.col("resource_type") == self.type).fill_null(False)
        if self.name is not None:
            expr &= (pl.col("resource_name") == self.name).fill_null(False)
        return expr


def date_terms(
    start: datetime | date | None, end: datetime | date | None, *, inclusive_end: bool = False
) -> list[Node]:
    """``date:`` terms for ``[start, end)`` (``[start, end]`` with ``inclusive_end``).

    A ``date`` is that calendar day (in the session's time zone); a datetime must be
    timezone-aware.

    Raises:
        QueryError: a naive datetime, or an end before the start.
    """
    out: list[Node] = []
    if start is not None:
        out.append(Term("date", (">=" + _moment_text(start, "start"),)))
    if end is not None:
        out.append(Term("date", (("<=" if inclusive_end else "<") + _moment_text(end, "end"),)))
    if (
        start is not None
        and end is not None
        and type(start) is type(end)
        and (end < start if inclusive_end else end <= start)
    ):
        raise QueryError(f"the range ends ({end}) before it starts ({start}); swap them")
    return out


def _moment_text(value: datetime | date, what: str) -> str:
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None or value.utcoffset() is None:
        raise QueryError(
            f"{what} must be timezone-aware, got naive {value.isoformat()}\n"
            "Hint: pass datetime(..., tzinfo=UTC)."
        )
    value = value.astimezone(UTC)
    fraction = f".{value.microsecond:06d}" if value.microsecond else ""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def build_query(*parts: Node | list[Node]) -> Query:
    """AND the given terms into a query, checked by a round trip through :func:`parse`."""
    nodes: list[Node] = []
    for part in parts:
        nodes.extend(part if isinstance(part, list) else [part])
    query = Query(nodes[0] if len(nodes) == 1 else And(tuple(nodes)))
    return parse(query.to_text())


def resolve(session: Session, resource: str) -> Resource:
    """Find the resource a user means by an id, an exact name, or ``type:name``.

    An exact ``resource_id`` wins; then an exact ``resource_name``; then ``type:name``.

    Raises:
        NotFoundError: no event names such a resource.
        QueryError: the name belongs to several resources; the message lists them and
            how to pick one (by id, or by ``type:name``).
    """
    if not resource:
        raise QueryError("empty resource; give a resource id, a name, or type:name")
    query = build_query(Or((Term("resource_id", (resource,)), Term("resource", (resource,)))))
    found = _candidates(session, query)
    by_id = found.filter(pl.col("resource_id") == resource)
    if by_id.height:
        return _pick(by_id, resource)
    by_name = found.filter(pl.col("resource_name") == resource)
    if by_name.height:
        return _pick(by_name, resource)
    kind, sep, name = resource.partition(":")
    if sep and kind and name:
        found = _candidates(
            session, build_query(Term("resource_type", (kind,)), Term("resource", (name,)))
        )
        typed = found.filter(
            (pl.col("resource_type").str.to_lowercase() == kind.lower())
            & (pl.col("resource_name") == name)
        )
        if typed.height:
            return _pick(typed, resource)
    raise NotFoundError(
        f"no events name a resource {resource!r}; looked for a resource id, an exact "
        "resource name, and type:name.\n"
        f"Hint: search for it first, e.g. auditkit search '\"{resource}\"' --store DIR."
    )


def _candidates(session: Session, query: Query) -> pl.DataFrame:
    """Distinct (type, id) of the matching events, each with its newest name."""
    return (
        session.events(query)
        .select("timestamp", "resource_type", "resource_id", "resource_name")
        .sort("timestamp")
        .group_by("resource_type", "resource_id")
        .agg(pl.col("resource_name").drop_nulls().last(), pl.col("timestamp").max())
        .sort("timestamp", descending=True)
        .collect()
    )


def _pick(candidates: pl.DataFrame, asked: str) -> Resource:
    rows = candidates.rows(named=True)
    if len(rows) > 1:
        listed = [
            f"{r['resource_type'] or '?'}:{r['resource_name'] or '?'} (id {r['resource_id']})"
            for r in rows[:_MAX_CANDIDATES]
        ]
        more = f" and {len(rows) - _MAX_CANDIDATES} more" if len(rows) > _MAX_CANDIDATES else ""
        raise QueryError(
            f"{asked!r} names {len(rows)} resources: " + "; ".join(listed) + more + "\n"
            "Hint: pass the resource id, or type:name when the types differ."
        )
    row = rows[0]
    return Resource(row["resource_type"], row["resource_id"], row["resource_name"])


def resource_events(
    session: Session,
    resource: Resource,
    *,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    extra: list[Node] | None = None,
    inclusive_end: bool = False,
) -> tuple[pl.DataFrame, Query]:
    """The resource's events (oldest first) and the query that selects them."""
    query = build_query(
        resource.terms(), extra or [], date_terms(start, end, inclusive_end=inclusive_end)
    )
    frame = session.events(query).filter(resource.match()).sort("timestamp", "event_id").collect()
    return frame, query


def history(
    session: Session,
    resource: str | Resource,
    *,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
) -> pl.DataFrame:
    """Every event on one resource in ``[start, end)``, oldest first.

    Args:
        session: the read path.
        resource: an id, an exact name, ``type:name``, or a resolved :class:`Resource`.
        start, end: optional time range (timezone-aware datetimes, or dates).

    Returns:
        The canonical columns plus ``changes`` (the before/after diff on one line,
        ``title: "Report" → "Q2 Sales Report"; tags: added "q2"``, ``""`` when the
        event recorded no state) and ``changed_fields`` (List(String), as
        :func:`auditkit.diff.changed_fields`).

    Raises:
        NotFoundError, QueryError: see :func:`resolve`.
        DiffError: an event's ``before`` or ``after`` is not valid JSON (the message
            names the event).
    """
    res = resource if isinstance(resource, Resource) else resolve(session, resource)
    frame, _ = resource_events(session, res, start=start, end=end)
    return with_changes(frame)


def with_changes(frame: pl.DataFrame, *, field: str | None = None) -> pl.DataFrame:
    """Add ``changes`` (one line of text) and ``changed_fields`` to canonical events.

    With ``field``, ``changes`` keeps only the changes at that field (its path is the
    field, ends with ``.field``, or starts with ``field.`` or ``field[``).
    """
    texts = []
    for event_id, before, after in frame.select("event_id", "before", "after").iter_rows():
        changes = event_changes(event_id, before, after)
        if field is not None:
            changes = [c for c in changes if touches(c.path_str, field)]
        texts.append(changes_text(changes))
    return changed_fields(frame.with_columns(pl.Series("changes", texts, dtype=pl.String)))


def event_changes(event_id: str, before: str | None, after: str | None) -> list[Change]:
    """:func:`auditkit.diff.diff_json` whose error names the event."""
    try:
        return diff_json(before, after)
    except DiffError as exc:
        raise exc.located(f"event {event_id!r}: ") from None


def changes_text(changes: list[Change]) -> str:
    """The rendered changes on one line (``""`` when there are none)."""
    if not changes:
        return ""
    return "; ".join(render_text(changes, max_value_chars=CHANGE_VALUE_CHARS).splitlines())


def touches(path: str, field: str) -> bool:
    """Whether a change path is ``field`` or inside it, the way ``changed:`` matches."""
    return (
        path == field
        or path.endswith("." + field)
        or path.startswith(field + ".")
        or path.startswith(field + "[")
    )


def state_at(session: Session, resource: str | Resource, when: datetime) -> dict[str, Any] | None:
    """The resource's state (its ``after`` JSON object) at ``when``, reconstructed.

    The rule, replaying the resource's successful events at or before ``when``, oldest
    first:

    - a ``deleted`` event ends the state: ``None`` (until a later event records one);
    - an event whose ``after`` holds every top-level key of the current state (or that
      comes first) *replaces* it: sources that log whole states need nothing else, and
      a missed event cannot leave stale fields behind;
    - an event whose ``after`` is partial (lacks keys the state has) is *applied*: its
      ``after`` fields are merged in (nested objects key by key), and fields in its
      ``before`` but not in its ``after`` are removed;
    - events without an ``after`` (views, runs, …), failed, pending and in-progress
      events change nothing, and so does an ``after`` that is not a JSON object.

    Limits: only what was logged can be rebuilt. Fields that never appear in any
    ``after`` are unknown; with partial logging, the first state is only the fields the
    first logged change happened to carry; a change made outside the log is invisible.

    Returns:
        The state as a dict, or ``None`` when the resource was deleted at ``when`` or no
        event up to ``when`` recorded its state.

    Raises:
        QueryError: ``when`` is naive; see also :func:`resolve`.
        DiffError: an event's ``before``/``after`` is not valid JSON.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise QueryError(
            f"when must be timezone-aware, got naive {when.isoformat()}\n"
            "Hint: pass datetime(..., tzinfo=UTC)."
        )
    res = resource if isinstance(resource, Resource) else resolve(session, resource)
    frame, _ = resource_events(session, res, end=when, inclusive_end=True)
    state: dict[str, Any] | None = None
    rows = frame.filter(pl.col("status") == "success").select(
        "event_id", "action", "before", "after"
    )
    for event_id, action, before_text, after_text in rows.iter_rows():
        if action == "deleted":
            state = None
            continue
        before, after = _load(event_id, before_text, "before"), _load(event_id, after_text, "after")
        if not isinstance(after, dict):
            continue
        if state is None or set(state) <= set(after):
            state = after
        else:
            state = _merge(state, before if isinstance(before, dict) else {}, after)
    return state


def _load(event_id: str, text: str | None, side: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        # Let the diff module word the error (line, column, excerpt), naming the event.
        event_changes(event_id, *((text, None) if side == "before" else (None, text)))
        raise


def _merge(state: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out = dict(state)
    for key in before:
        if key not in after:
            out.pop(key, None)
    for key, value in after.items():
        old, was = out.get(key), before.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = _merge(old, was if isinstance(was, dict) else {}, value)
        else:
            out[key] = value
    return out
