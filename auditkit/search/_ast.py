"""The search AST (terms, free text, boolean nodes) and the keys it knows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from auditkit import schema


@dataclass(frozen=True)
class Term:
    """``key:v1,v2`` — matches when any value matches. ``key`` is canonical (``user``,
    never the alias ``actor``); values are normalized (``in-progress`` → ``in_progress``)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Text:
    """A free word or quoted phrase: a case-insensitive substring of any free-text column."""

    text: str


@dataclass(frozen=True)
class Not:
    """``-term`` or ``-(group)``: rows the child does not match (null columns included)."""

    child: Node


@dataclass(frozen=True)
class And:
    """Every child matches. ``And(())`` is the empty query: every event."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]


Node = Term | Text | Not | And | Or


#: Every search key and what it matches (the table in docs/search.md).
KEYS: dict[str, str] = {
    "user": "actor, exact ignoring case, * wildcards; user:me is the current user",
    "action": "action or operation, exact ignoring case, * wildcards",
    "operation": "operation (the source's own name), exact ignoring case, * wildcards",
    "resource": "resource_type or resource_name, exact ignoring case, * wildcards",
    "resource_type": "resource_type, exact ignoring case, * wildcards",
    "resource_id": "resource_id, exact ignoring case, * wildcards",
    "status": "status: " + ", ".join(schema.STATUSES),
    "actor_type": "actor_type: " + ", ".join(schema.ACTOR_TYPES),
    "ip": "ip_address: address, prefix (192.168.1), or CIDR (10.0.0.0/8, 2001:db8::/32)",
    "date": "timestamp: today, yesterday, 7d, 24h, 2w, 2024-06-12, >=, >, <=, <, a..b",
    "source": "source (native, cloudtrail, github, …), exact ignoring case, * wildcards",
    "account": "account, exact ignoring case, * wildcards",
    "has": "error, changes or ip: the field is present and non-empty",
    "changed": "a field the before/after diff touches (title matches config.title)",
}
_ALIASES: dict[str, str] = {"actor": "user", "created": "date"}
_VALID_KEYS: list[str] = sorted([*KEYS, *_ALIASES])
#: Keys whose repeats AND together instead of OR-ing.
_AND_KEYS = frozenset({"date", "has"})
_HAS: dict[str, tuple[str, str]] = {  # value → (positive phrase, negative phrase)
    "error": ("has an error message", "has no error message"),
    "changes": ("has recorded changes", "has no recorded changes"),
    "ip": ("has an IP address", "has no IP address"),
}
_LABELS: dict[str, str] = {
    "user": "user",
    "action": "action",
    "operation": "operation",
    "resource": "resource",
    "resource_type": "resource type",
    "resource_id": "resource id",
    "status": "status",
    "ip": "IP address",
    "source": "source",
    "account": "account",
}
_COLUMNS: dict[str, tuple[str, ...]] = {
    "user": ("actor",),
    "action": ("action", "operation"),
    "operation": ("operation",),
    "resource": ("resource_type", "resource_name"),
    "resource_type": ("resource_type",),
    "resource_id": ("resource_id",),
    "source": ("source",),
    "account": ("account",),
}
_FREE_TEXT_COLUMNS: tuple[str, ...] = (
    "actor",
    "action",
    "operation",
    "resource_type",
    "resource_name",
    "resource_id",
    "ip_address",
    "details",
    "error_message",
)
#: Name of the optional precomputed free-text column (see :func:`search_column_expr`).
SEARCH_COLUMN = "_search"
_SEPARATOR = "\x1f"


def free_text_columns() -> tuple[str, ...]:
    """The columns free words and quoted phrases search, in ``_search`` order."""
    return _FREE_TEXT_COLUMNS


def search_column_expr() -> pl.Expr:
    """The ``_search`` column: free-text columns lowercased, joined by ``"\\x1f"``.

    A store that keeps this column lets ``Query.expr(ctx, search_column=True)`` match
    each free word with one literal substring scan instead of one per column.
    """
    return (
        pl.concat_str([pl.col(c).fill_null("") for c in _FREE_TEXT_COLUMNS], separator=_SEPARATOR)
        .str.to_lowercase()
        .alias(SEARCH_COLUMN)
    )


class _BadValue(Exception):
    """A value did not validate; ``offset`` is relative to the start of the value."""

    def __init__(self, message: str, offset: int = 0, valid: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.valid = list(valid)
