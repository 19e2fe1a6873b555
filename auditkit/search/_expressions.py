"""A query as Polars expressions, and per-column predicates for the in-memory index."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from datetime import datetime

import polars as pl

from auditkit.errors import QueryError
from auditkit.filters import (
    Context,
    _all_of_exprs,
    _any_of_exprs,
    _require_me,
    _wildcard_regex,
)
from auditkit.search._ast import (
    _COLUMNS,
    _FREE_TEXT_COLUMNS,
    SEARCH_COLUMN,
    And,
    Node,
    Not,
    Term,
    Text,
)
from auditkit.search._dates import _date_spec
from auditkit.search._ips import _ip_expr, _ip_spec


def _ci_regex(column: str, bodies: Sequence[str]) -> pl.Expr:
    # One anchored (?i)^(?:a|b)$ regex: ~4x faster than lowercasing 10M rows and comparing,
    # because the regex rejects most rows at the first bytes.
    return pl.col(column).str.contains("(?i)^(?:" + "|".join(bodies) + ")$")


def _text_expr(text: str, search_column: bool) -> pl.Expr:
    if search_column:
        needle = pl.Series([text]).str.to_lowercase().item()
        return pl.col(SEARCH_COLUMN).str.contains(needle, literal=True)
    return _any_of_exprs([expr for _, expr in _text_predicates(text)])


def _text_predicates(text: str) -> list[tuple[str, pl.Expr]]:
    if text.isascii():
        return [
            (c, pl.col(c).str.contains_any([text], ascii_case_insensitive=True))
            for c in _FREE_TEXT_COLUMNS
        ]
    pattern = "(?i)" + pl.escape_regex(text)
    return [(c, pl.col(c).str.contains(pattern)) for c in _FREE_TEXT_COLUMNS]


def _has_expr(value: str) -> pl.Expr:
    def present(column: str) -> pl.Expr:
        return pl.col(column).is_not_null() & (pl.col(column).str.len_bytes() > 0)

    if value == "error":
        return present("error_message")
    if value == "ip":
        return present("ip_address")
    return present("before") | present("after")


def _changed_expr(fields: Sequence[str]) -> pl.Expr:
    try:
        module = importlib.import_module("auditkit.diff")
    except ImportError:
        module = None
    changed_fields_expr: Callable[[], pl.Expr] | None = getattr(module, "changed_fields_expr", None)
    if changed_fields_expr is None:
        raise QueryError(
            "changed: needs auditkit.diff.changed_fields_expr(), which this install lacks"
        )
    path = pl.element()
    tests = []
    for name in fields:
        tests += [
            path == name,
            path.str.ends_with("." + name),
            path.str.starts_with(name + "."),
            path.str.starts_with(name + "["),
        ]
    return changed_fields_expr().list.eval(_any_of_exprs(tests)).list.any()


def _term_expr(term: Term, ctx: Context) -> pl.Expr:
    key, values = term.key, term.values
    if key in ("status", "actor_type"):
        return pl.col(key).is_in(list(values))
    if key == "date":
        return _any_of_exprs([_date_spec(v).to_filter(ctx).expr(ctx) for v in values])
    if key == "ip":
        return _ip_expr([_ip_spec(v) for v in values])
    if key == "has":
        return _any_of_exprs([_has_expr(v) for v in values])
    if key == "changed":
        return _changed_expr(values)
    predicates = column_predicates(term, ctx)
    assert predicates is not None
    return _any_of_exprs([expr for _, expr in predicates])


def column_predicates(node: Term | Text, ctx: Context) -> list[tuple[str, pl.Expr]] | None:
    """A term's match as an OR of single-column predicates, or None if it is not one.

    Each ``(column, expr)`` reads only ``column`` and is never true for null, so a caller
    holding a column's distinct values can evaluate ``expr`` once per distinct value
    instead of once per row (see ``auditkit.query.EventIndex``).
    """
    if isinstance(node, Text):
        return [(column, expr.fill_null(False)) for column, expr in _text_predicates(node.text)]
    key, values = node.key, node.values
    if key == "ip":
        return [("ip_address", _ip_expr([_ip_spec(v) for v in values]).fill_null(False))]
    if key not in _COLUMNS:
        return None
    bodies = []
    for value in values:
        if key == "user" and value == "me":
            bodies.append(pl.escape_regex(_require_me(ctx)))
        else:
            bodies.append(_wildcard_regex(value))
    return [(column, _ci_regex(column, bodies).fill_null(False)) for column in _COLUMNS[key]]


def _expr(node: Node, ctx: Context, search_column: bool) -> pl.Expr:
    if isinstance(node, Term):
        return _term_expr(node, ctx).fill_null(False)
    if isinstance(node, Text):
        return _text_expr(node.text, search_column).fill_null(False)
    if isinstance(node, Not):
        return ~_expr(node.child, ctx, search_column)
    exprs = [_expr(child, ctx, search_column) for child in node.children]
    if isinstance(node, And):
        return _all_of_exprs(exprs)
    return _any_of_exprs(exprs)


def _bounds(node: Node, ctx: Context) -> tuple[datetime | None, datetime | None]:
    if isinstance(node, Term) and node.key == "date":
        ranges = [_date_spec(v).to_filter(ctx).bounds(ctx) for v in node.values]
        starts = [s for s, _ in ranges]
        ends = [e for _, e in ranges]
        return (
            None if None in starts else min(s for s in starts if s is not None),
            None if None in ends else max(e for e in ends if e is not None),
        )
    if isinstance(node, And):
        start: datetime | None = None
        end: datetime | None = None
        for child in node.children:
            s, e = _bounds(child, ctx)
            if s is not None:
                start = s if start is None else max(start, s)
            if e is not None:
                end = e if end is None else min(end, e)
        return start, end
    return None, None
