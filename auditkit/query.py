"""The one read path: newest-first listings with a stable cursor.

Every view (CLI, explorer, reports, exports) reads events through :func:`page` or
:func:`select` over a :class:`~auditkit.store.Store`, so access rules, redaction and
audit-of-the-audit can later be added here once and apply everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.errors import NotFoundError, QueryError
from auditkit.export import Manifest
from auditkit.export import write as export_write
from auditkit.filters import Context
from auditkit.search import Query, parse
from auditkit.store import Store

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


# -- the session: the one read path ---------------------------------------------------------


class Session:
    """The one way views read events: search, page, count, fetch one, export.

    Every read goes through :meth:`scan`, so who-can-see-what rules, redaction and the
    logging of searches and exports can be added there once and apply to the CLI, the
    explorer, the reports and exports alike.

    Args:
        store: the event store.
        ctx: resolves relative dates and ``user:me`` (default: now, UTC, no current user).
        cache: keep the store in memory, sorted by time, with a dictionary index of the
            text columns, for interactive use (explorer); otherwise every call scans the
            Parquet files, reading only the day partitions a query's date range needs.
    """

    def __init__(self, store: Store, *, ctx: Context | None = None, cache: bool = False) -> None:
        self.store = store
        self.ctx = ctx or Context()
        self._index: EventIndex | None = EventIndex(store.scan().collect()) if cache else None

    # every read starts here
    def scan(self, start: datetime | None = None, end: datetime | None = None) -> pl.LazyFrame:
        """All events in ``[start, end)`` as a LazyFrame (the only access to stored rows)."""
        if self._index is not None:
            return self._index.between(start, end).lazy()
        return self.store.scan(start, end)

    def parse(self, query: str | Query | None) -> Query:
        """A query object from text (or None: every event)."""
        if query is None:
            return Query()
        return query if isinstance(query, Query) else parse(query)

    def describe(self, query: str | Query | None) -> str:
        """The query in English."""
        return self.parse(query).describe(self.ctx)

    def events(self, query: str | Query | None = None) -> pl.LazyFrame:
        """The events a query matches (unsorted)."""
        q = self.parse(query)
        start, end = q.time_bounds(self.ctx)
        if self._index is not None:
            return self._index.select(q, self.ctx, start, end).lazy()
        return self.scan(start, end).filter(q.expr(self.ctx))

    def page(
        self, query: str | Query | None = None, *, limit: int = 50, older: Cursor | None = None
    ) -> Page:
        """One newest-first page of the events a query matches."""
        return page(self.events(query), limit=limit, older=older)

    def count(self, query: str | Query | None = None) -> int:
        """How many events a query matches."""
        return int(self.events(query).select(pl.len()).collect().item())

    def get(self, event_id: str) -> dict[str, Any]:
        """One event as a dict.

        Raises:
            NotFoundError: when no stored event has that id.
        """
        rows = self.scan().filter(pl.col("event_id") == event_id).head(1).collect()
        if rows.is_empty():
            raise NotFoundError(f"no event with id {event_id!r} in {self.store.root}")
        return rows.row(0, named=True)

    def iter_days(self, query: str | Query | None = None) -> Iterator[pl.DataFrame]:
        """The matching events a day at a time, newest first (flat memory for exports)."""
        q = self.parse(query)
        start, end = q.time_bounds(self.ctx)
        expr = q.expr(self.ctx)
        for day in reversed(self.store.partitions()):
            lo = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            hi = lo + timedelta(days=1)
            if (start and hi <= start) or (end and lo >= end):
                continue
            lo, hi = max(lo, start) if start else lo, min(hi, end) if end else hi
            rows = self.scan(lo, hi).filter(expr).collect()
            if rows.height:
                yield rows.sort(NEWEST_FIRST[0], descending=NEWEST_FIRST[1])

    def export(
        self,
        query: str | Query | None,
        path: str | Path,
        format: str,
        *,
        all_columns: bool = False,
    ) -> Manifest:
        """Write exactly the events a query matches, newest first, with a manifest."""
        q = self.parse(query)
        start, end = q.time_bounds(self.ctx)
        return export_write(
            self.iter_days(q),
            path,
            format,
            all_columns=all_columns,
            query=q.to_text(),
            description=q.describe(self.ctx),
            start=start,
            end=end,
        )


class EventIndex:
    """Events held in memory sorted by time, for interactive speed.

    A date range becomes a slice found by binary search instead of a scan.
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame.sort("timestamp", "event_id")
        self._ts = self.frame.get_column("timestamp")

    def _bounds(self, start: datetime | None, end: datetime | None) -> tuple[int, int]:
        lo = 0 if start is None else int(self._ts.search_sorted(_as_utc(start), side="left"))
        hi = (
            self.frame.height
            if end is None
            else int(self._ts.search_sorted(_as_utc(end), side="left"))
        )
        return lo, max(lo, hi)

    def between(self, start: datetime | None, end: datetime | None) -> pl.DataFrame:
        """Rows with ``start <= timestamp < end``."""
        lo, hi = self._bounds(start, end)
        return self.frame.slice(lo, hi - lo)

    def select(
        self, query: Query, ctx: Context, start: datetime | None, end: datetime | None
    ) -> pl.DataFrame:
        """Rows of the time slice that match the query."""
        rows = self.between(start, end)
        if query.root == Query().root:
            return rows
        return rows.filter(query.expr(ctx))


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise QueryError(f"naive datetime {value!r}: pass a timezone-aware datetime")
    return value.astimezone(UTC)
