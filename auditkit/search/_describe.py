"""A query described in plain English."""

from __future__ import annotations

from auditkit.filters import (
    _ACTOR_TYPE_PHRASES,
    Context,
    _join_clauses,
    _or_list,
)
from auditkit.search._ast import _HAS, _LABELS, And, Node, Not, Or, Term, Text
from auditkit.search._dates import _date_spec
from auditkit.search._ips import _ip_spec
from auditkit.search._parser import _quote


def _describe_term(term: Term, negated: bool, ctx: Context | None) -> str:
    key, values = term.key, term.values
    if key == "date":
        text = _or_list([_date_spec(v).describe() for v in values])
        return "not " + text if negated else text
    if key == "actor_type":
        text = "by " + _or_list([_ACTOR_TYPE_PHRASES[v] for v in values])
        return "not " + text if negated else text
    if key == "has":
        if negated:
            return " and ".join(_HAS[v][1] for v in values)
        return _or_list([_HAS[v][0] for v in values])
    if key == "changed":
        return ("did not change " if negated else "changed ") + _or_list(values)
    label = _LABELS[key]
    shown = list(values)
    if key == "user":
        me = "the current user" + (f" ({ctx.me})" if ctx and ctx.me else "")
        shown = [me if v == "me" else v for v in values]
    elif key == "ip":
        shown = [_ip_spec(v).describe() for v in values]
    if key not in ("status", "ip") and any("*" in v for v in values):
        verb = "does not match" if negated else "matches"
        return f"{label} {verb} {_or_list(shown)}"
    if not negated:
        return f"{label} is {_or_list(shown)}"
    if len(shown) == 1:
        return f"{label} is not {shown[0]}"
    if len(shown) == 2:
        return f"{label} is neither {shown[0]} nor {shown[1]}"
    return f"{label} is none of {', '.join(shown)}"


def _clauses(node: Node, ctx: Context | None) -> list[tuple[str, bool]]:
    """``(phrase, is_time)`` for each AND-ed part of ``node``."""
    if isinstance(node, And):
        return [c for child in node.children for c in _clauses(child, ctx)]
    if isinstance(node, Or):
        return [(f"({_describe(node, ctx)})", False)]
    is_time = isinstance(node, Term) and node.key == "date"
    if isinstance(node, Not) and isinstance(node.child, Term):
        is_time = node.child.key == "date"
    return [(_describe(node, ctx), is_time)]


def _describe(node: Node, ctx: Context | None) -> str:
    if isinstance(node, Term):
        return _describe_term(node, False, ctx)
    if isinstance(node, Text):
        return f"contains {_quote(node.text)}"
    if isinstance(node, Not):
        child = node.child
        if isinstance(child, Term):
            return _describe_term(child, True, ctx)
        if isinstance(child, Text):
            return f"does not contain {_quote(child.text)}"
        return f"not ({_describe(child, ctx)})"
    if isinstance(node, And):
        return _join_clauses(_clauses(node, ctx))
    return " or ".join(
        f"({_describe(c, ctx)})" if isinstance(c, And | Or) else _describe(c, ctx)
        for c in node.children
    )
