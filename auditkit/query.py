"""The one read path: newest-first listings with a stable cursor.

Every view (CLI, explorer, reports, exports) reads events through :func:`page` or
:func:`select` over a :class:`~auditkit.store.Store`, so access rules, redaction and
audit-of-the-audit can later be added here once and apply everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from auditkit.errors import QueryError

NEWEST_FIRST = (["timestamp", "event_id"], [True, True])


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in a newest-first listing: the last row seen (timestamp, event_id).

    Paging from a cursor is stable: events that arrive later do not shift the pages the
    way an offset would. Its text form is ``2026-10-31T23:59:59.123456Z~evt_abc``.
    """

    timestamp: datetime
    event_id: str

    def __str__(self) -> str:
        return (
            self.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "~" + self.event_id
        )

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """Read a cursor printed by :meth:`__str__`.

        Raises:
            QueryError: naming the expected form.
        """
        stamp, sep, event_id = text.partition("~")
        try:
            if not sep or not event_id:
                raise ValueError
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(
                f"bad cursor {text!r}; expected TIMESTAMP~EVENT_ID as printed after a page, "
                "e.g. 2026-10-31T23:59:59.123456Z~evt_0123"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return cls(when.astimezone(UTC), event_id)


@dataclass(frozen=True)
class Page:
    """One page of a newest-first listing.

    Attributes:
        rows: the events, newest first.
        older: cursor for the next (older) page, None at the end.
    """

    rows: pl.DataFrame
    older: Cursor | None


def older_than(cursor: Cursor) -> pl.Expr:
    """Rows strictly after ``cursor`` in newest-first order."""
    ts = pl.lit(cursor.timestamp).cast(pl.Datetime("us", "UTC"))
    return (pl.col("timestamp") < ts) | (
        (pl.col("timestamp") == ts) & (pl.col("event_id") < cursor.event_id)
    )


def newer_than(cursor: Cursor) -> pl.Expr:
    """Rows strictly before ``cursor`` in newest-first order."""
    ts = pl.lit(cursor.timestamp).cast(pl.Datetime("us", "UTC"))
    return (pl.col("timestamp") > ts) | (
        (pl.col("timestamp") == ts) & (pl.col("event_id") > cursor.event_id)
    )


def page(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    limit: int = 50,
    older: Cursor | None = None,
) -> Page:
    """The ``limit`` newest events of ``frame`` (older than ``older`` when given)."""
    if limit < 1:
        raise QueryError(f"limit must be at least 1, got {limit}")
    lazy = frame.lazy()
    if older is not None:
        lazy = lazy.filter(older_than(older))
    rows = (
        lazy.top_k(limit + 1, by=NEWEST_FIRST[0])
        .sort(NEWEST_FIRST[0], descending=NEWEST_FIRST[1])
        .collect()
    )
    more = rows.height > limit
    rows = rows.head(limit)
    cursor = None
    if more:
        last = rows.row(rows.height - 1, named=True)
        cursor = Cursor(last["timestamp"], last["event_id"])
    return Page(rows, cursor)
