"""The search-box language: text → :class:`Query` → Polars expression, and back to text.

``parse("user:alice@company.com action:updated resource:database status:success date:7d")``
gives a :class:`Query` that builds a Polars boolean expression (:meth:`Query.expr`),
describes itself in English (:meth:`Query.describe`), prints back as canonical text that
re-parses to an equal query (``str(query)``), and tells the store which time range it can
prune to (:meth:`Query.time_bounds`). ``docs/search.md`` is the user's reference.

Grammar (AND binds tighter than OR)::

    query    := or_expr?
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*
    unary    := "-" unary | "(" or_expr ")" | term
    term     := KEY ":" value ("," value)* | WORD | '"' phrase '"'

Within one AND group, repeated positive ``key:value`` terms with the same key are OR-ed
(``status:failed status:pending`` is ``status:failed,pending``), except ``date:`` and
``has:``, whose repeats AND together (``date:>=2024-06-01 date:<2024-07-01`` is June).

Null semantics: a term never evaluates to null. A row whose column is null does not match
``user:alice``, so ``-user:alice`` keeps it.

Example:
    >>> parse("user:alice@company.com action:updated status:success date:7d").describe()
    'user is alice@company.com, and action is updated, and status is success, in the last 7 days'
    >>> str(parse('(user:alice OR actor:bob) -status:failed "sales report"'))
    '(user:alice OR user:bob) -status:failed "sales report"'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from auditkit.errors import QueryError
from auditkit.filters import (
    Context,
)
from auditkit.search._ast import (
    KEYS,
    SEARCH_COLUMN,
    And,
    Node,
    Not,
    Or,
    Term,
    Text,
    free_text_columns,
    search_column_expr,
)
from auditkit.search._describe import _describe
from auditkit.search._expressions import _bounds, _expr
from auditkit.search._expressions import column_predicates as column_predicates
from auditkit.search._parser import _format, _Parser

__all__ = [
    "KEYS",
    "SEARCH_COLUMN",
    "And",
    "Node",
    "Not",
    "Or",
    "Query",
    "Term",
    "Text",
    "free_text_columns",
    "parse",
    "search_column_expr",
]


def parse(text: str) -> Query:
    """Parse search-box text into a :class:`Query`.

    Raises:
        SearchSyntaxError: with the position of the offending character, a caret line,
            and the valid keys or values where there is a fixed list.
    """
    if not isinstance(text, str):
        raise QueryError(f"parse() takes the query text as a str, got {type(text).__name__}")
    return Query(_Parser(text).parse())


@dataclass(frozen=True)
class Query:
    """A parsed search: build it with :func:`parse`, or from nodes.

    Attributes:
        root: the syntax tree; ``And(())`` is the empty query (every event).
    """

    root: Node = And(())  # noqa: RUF009 - And is a frozen dataclass, safe to share

    def expr(self, ctx: Context | None = None, search_column: bool = False) -> pl.Expr:
        """A boolean Polars expression; never null.

        Args:
            ctx: resolves ``user:me`` and relative dates (default: now, UTC, no user).
            search_column: match free text against the precomputed lowercase
                ``_search`` column (:func:`search_column_expr`) instead of each column.

        Raises:
            QueryError: ``user:me`` without ``ctx.me``.
        """
        return _expr(self.root, ctx or Context(), search_column)

    def describe(self, ctx: Context | None = None) -> str:
        """The query in English, e.g. "user is alice, and status is failed, today"."""
        return _describe(self.root, ctx)

    def to_text(self) -> str:
        """Canonical query text; ``parse(q.to_text()) == q``."""
        return _format(self.root)

    def __str__(self) -> str:
        return self.to_text()

    def time_bounds(self, ctx: Context | None = None) -> tuple[datetime | None, datetime | None]:
        """The UTC ``[start, end)`` implied by top-level AND-ed ``date:`` terms.

        A store prunes partitions outside it. Terms under OR or negation do not narrow
        it; None marks an unbounded side.
        """
        return _bounds(self.root, ctx or Context())
