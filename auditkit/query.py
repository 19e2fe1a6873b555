"""The one read path: newest-first listings with a stable cursor.

Every view (CLI, explorer, reports, exports) reads events through :func:`page` or
:func:`select` over a :class:`~auditkit.store.Store`, so access rules, redaction and
audit-of-the-audit can later be added here once and apply everywhere.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.errors import NotFoundError, QueryError
from auditkit.export import DEFAULT_VIEW_COLUMNS, Manifest
from auditkit.export import write as export_write
from auditkit.filters import Context
from auditkit.search import (
    And,
    Node,
    Not,
    Or,
    Query,
    Term,
    column_predicates,
    free_text_columns,
    parse,
)
from auditkit.store import Store

NEWEST_FIRST = (["timestamp", "event_id"], [True, True])
_EXPORT_SLICE = 200_000  # rows per chunk an in-memory export hands to the writer


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
        warm_up: with ``cache``, start :meth:`warm_up` now: build the index's
            dictionaries and postings in a background thread rather than on each
            column's first search.
    """

    def __init__(
        self,
        store: Store,
        *,
        ctx: Context | None = None,
        cache: bool = False,
        warm_up: bool = False,
    ) -> None:
        self.store = store
        self.ctx = ctx or Context()
        self._index: EventIndex | None = EventIndex(store.scan().collect()) if cache else None
        self.warming: threading.Thread | None = None
        if warm_up:
            self.warm_up()

    def warm_up(self) -> threading.Thread | None:
        """Start building the in-memory index's dictionaries and postings in a background
        thread (once; nothing to do without ``cache``). The thread is also ``warming``."""
        if self._index is not None and self.warming is None:
            self.warming = self._index.warm_up()
        return self.warming

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
        if self._index is not None:
            q = self.parse(query)
            return self._index.page(q, self.ctx, *q.time_bounds(self.ctx), limit=limit, older=older)
        return page(self.events(query), limit=limit, older=older)

    def count(self, query: str | Query | None = None) -> int:
        """How many events a query matches."""
        if self._index is not None:
            q = self.parse(query)
            return self._index.count(q, self.ctx, *q.time_bounds(self.ctx))
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

    def iter_days(
        self, query: str | Query | None = None, *, columns: Sequence[str] | None = None
    ) -> Iterator[pl.DataFrame]:
        """The matching events newest first, in chunks: a day at a time from the store
        (flat memory for exports), or slices of the in-memory index; only ``columns``
        (and the sort keys) when given."""
        q = self.parse(query)
        start, end = q.time_bounds(self.ctx)
        keep = None if columns is None else list(dict.fromkeys([*columns, *NEWEST_FIRST[0]]))
        if self._index is not None:  # in memory already, sorted oldest first
            yield from self._index.newest_first(q, self.ctx, start, end, keep, _EXPORT_SLICE)
            return
        for day in reversed(self.store.partitions()):
            lo = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            hi = lo + timedelta(days=1)
            if (start and hi <= start) or (end and lo >= end):
                continue
            lo, hi = max(lo, start) if start else lo, min(hi, end) if end else hi
            scan = self.scan(lo, hi).filter(q.expr(self.ctx))
            rows = (scan if keep is None else scan.select(keep)).collect()
            rows = rows.sort(NEWEST_FIRST[0], descending=NEWEST_FIRST[1])
            if rows.height:
                yield rows

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
        needed = None if all_columns or format != "csv" else DEFAULT_VIEW_COLUMNS
        return export_write(
            self.iter_days(q, columns=needed),
            path,
            format,
            all_columns=all_columns,
            query=q.to_text(),
            description=q.describe(self.ctx),
            start=start,
            end=end,
        )


def _in_time_order(frame: pl.DataFrame) -> bool:
    """Whether ``frame`` is already sorted by timestamp, then event id, with no nulls
    in either (when there are, the caller sorts rather than reason about their place)."""
    ts, ids = frame.get_column("timestamp"), frame.get_column("event_id")
    if ts.null_count() or ids.null_count() or not ts.is_sorted():
        return False
    return not ((ts == ts.shift(1)) & (ids < ids.shift(1))).any()


class EventIndex:
    """Events held in memory sorted by time, for interactive speed.

    Two things make a search fast without changing what it means:

    - a date range becomes a slice found by binary search on the sorted timestamps;
    - a predicate on a text column (``user:``, ``action:``, ``ip:``, free words …, as
      given by :func:`auditkit.search.column_predicates`) is evaluated once per distinct
      value of that column, and the answers are spread back to rows through integer
      codes. Columns where no distinct value matches cost nothing.
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        # A compacted store reads back already in this order (each day's file is sorted,
        # days come in order): checking costs one pass over two columns, and putting each
        # column in one piece costs a copy, where sorting gathers every column, row by
        # row, from one piece per file (seconds at 10M events). One piece matters: taking
        # rows from a column in 150 pieces is over ten times slower.
        if _in_time_order(frame):
            self.frame = frame.rechunk()
        else:
            self.frame = frame.sort("timestamp", "event_id")
        self._ts = self.frame.get_column("timestamp")
        self._dictionaries: dict[str, _Dictionary] = {}
        self._locks: dict[str, threading.Lock] = {}  # one builder per column

    def _bounds(self, start: datetime | None, end: datetime | None) -> tuple[int, int]:
        ts = self._ts
        lo = 0 if start is None else int(ts.search_sorted(_as_utc(start), side="left"))
        hi = ts.len() if end is None else int(ts.search_sorted(_as_utc(end), side="left"))
        return lo, max(lo, hi)

    def between(self, start: datetime | None, end: datetime | None) -> pl.DataFrame:
        """Rows with ``start <= timestamp < end``."""
        lo, hi = self._bounds(start, end)
        return self.frame.slice(lo, hi - lo)

    def select(
        self, query: Query, ctx: Context, start: datetime | None, end: datetime | None
    ) -> pl.DataFrame:
        """Rows of the time slice that match the query."""
        rows, positions = self._match(query, ctx, start, end)
        return rows if positions is None else rows[positions]

    def count(
        self, query: Query, ctx: Context, start: datetime | None, end: datetime | None
    ) -> int:
        """How many rows match, without copying them."""
        rows, positions = self._match(query, ctx, start, end)
        return rows.height if positions is None else positions.len()

    def newest_first(
        self,
        query: Query,
        ctx: Context,
        start: datetime | None,
        end: datetime | None,
        columns: list[str] | None,
        size: int,
    ) -> Iterator[pl.DataFrame]:
        """The matching rows newest first, ``size`` at a time, with only ``columns``
        (None: all). Each chunk is copied as it is yielded, so memory stays flat however
        many rows match."""
        rows, positions = self._match(query, ctx, start, end)
        if columns is not None:
            rows = rows.select(columns)
        stop = rows.height if positions is None else positions.len()
        while stop > 0:
            first = max(0, stop - size)
            if positions is None:
                chunk = rows.slice(first, stop - first)
            else:
                chunk = rows[positions.slice(first, stop - first)]
            yield chunk.reverse()
            stop = first

    def page(
        self,
        query: Query,
        ctx: Context,
        start: datetime | None,
        end: datetime | None,
        *,
        limit: int,
        older: Cursor | None,
    ) -> Page:
        """The newest ``limit`` matches older than ``older``, copying only those rows.

        The frame is sorted oldest first, so a page is the last matches before the
        cursor's position.
        """
        if limit < 1:
            raise QueryError(f"limit must be at least 1, got {limit}")
        if older is not None:
            end = (
                older.timestamp + timedelta(microseconds=1)
                if end is None
                else min(end, older.timestamp + timedelta(microseconds=1))
            )
        rows, positions = self._match(query, ctx, start, end)
        if positions is None:
            positions = pl.int_range(rows.height, dtype=pl.UInt32, eager=True)
        if older is not None:
            stamps = rows.get_column("timestamp").gather(positions)
            ids = rows.get_column("event_id").gather(positions)
            keep = (stamps < older.timestamp) | (
                (stamps == older.timestamp) & (ids < older.event_id)
            )
            positions = positions.filter(keep)
        chosen = positions.tail(limit + 1).reverse()
        page_rows = rows[chosen.head(limit)]
        cursor = None
        if chosen.len() > limit:
            last = page_rows.row(page_rows.height - 1, named=True)
            cursor = Cursor(last["timestamp"], last["event_id"])
        return Page(page_rows, cursor)

    def _match(
        self, query: Query, ctx: Context, start: datetime | None, end: datetime | None
    ) -> tuple[pl.DataFrame, pl.Series | None]:
        """The time slice, and the ascending positions in it of the rows that match
        (None: every row)."""
        lo, hi = self._bounds(start, end)
        rows = self.frame.slice(lo, hi - lo)
        root = _beyond_the_slice(query.root, ctx, start, end)
        if root is None or rows.is_empty():
            return rows, None
        return rows, self._positions(root, ctx, rows, lo, None)

    def _positions(
        self, node: Node, ctx: Context, rows: pl.DataFrame, lo: int, among: pl.Series | None
    ) -> pl.Series:
        """Ascending positions (in ``rows``) of the rows ``among`` (None: all) matching
        ``node``. The terms of an AND narrow one after another, so after a selective
        first term the others look at a few rows instead of the whole slice."""
        if isinstance(node, And):
            for child in node.children:
                among = self._positions(child, ctx, rows, lo, among)
                if among.is_empty():
                    break
            return among if among is not None else _all_positions(rows.height)
        if isinstance(node, Or):
            found = [self._positions(child, ctx, rows, lo, among) for child in node.children]
            if not found:
                return pl.Series(dtype=pl.UInt32)
            return pl.concat(found).unique().sort() if len(found) > 1 else found[0]
        if isinstance(node, Not):
            every = among if among is not None else _all_positions(rows.height)
            excluded = self._positions(node.child, ctx, rows, lo, among)
            return every.filter(~every.is_in(excluded.implode()))
        predicates = column_predicates(node, ctx)
        hits: pl.Series | None = None
        if predicates is None:
            expr = Query(node).expr(ctx)
            # only the columns it reads (at least one, so the rows are still there)
            subset = rows.select(list(dict.fromkeys(expr.meta.root_names())) or ["event_id"])
            subset = subset if among is None else subset[among]
            hits = subset.select(expr).to_series()
        elif among is None and (posted := self._postings(predicates, lo, rows.height)) is not None:
            return posted
        else:
            for column, expr in predicates:
                matched = self._dictionary(column).hits(expr, lo, rows.height, among)
                if matched is not None:
                    hits = matched if hits is None else hits | matched
        if hits is None:
            return pl.Series(dtype=pl.UInt32)
        return hits.arg_true().cast(pl.UInt32) if among is None else among.filter(hits)

    def _postings(
        self, predicates: list[tuple[str, pl.Expr]], lo: int, length: int
    ) -> pl.Series | None:
        """Ascending positions (in the slice ``lo … lo+length``) of the rows matching
        ``predicates``, read from the columns' postings (None: they would not be cheaper
        than testing every row of the slice, because too many values or rows match)."""
        parts: list[pl.Series] = []
        total = 0
        for column, expr in predicates:
            dictionary = self._dictionary(column)
            wanted = dictionary._matching_codes(expr)
            if wanted is None:
                continue
            if wanted.len() > _POSTED_VALUES:
                return None
            for code in wanted.to_list():
                part = dictionary.rows_with(code, lo, lo + length)
                total += part.len()
                if total > length // 4:
                    return None
                parts.append(part)
        if not parts:
            return pl.Series(dtype=pl.UInt32)
        found = parts[0] if len(parts) == 1 else pl.concat(parts).unique().sort()
        return (found - lo).cast(pl.UInt32)

    def warm_up(self) -> threading.Thread:
        """Build, in a background thread, the dictionaries of the columns searches read
        and the postings of the facet columns, so that the first search on each is as
        fast as the ones after it (at 10M events a first free-text search would
        otherwise build nine dictionaries, seconds of work). Searches meanwhile build
        what they need themselves; nothing is built twice."""

        def build() -> None:
            for column in _WARM_POSTINGS:
                self._dictionary(column).postings()
            for column in free_text_columns():
                self._dictionary(column)

        thread = threading.Thread(target=build, name="auditkit-index-warm-up", daemon=True)
        thread.start()
        return thread

    def _dictionary(self, column: str) -> _Dictionary:
        dictionary = self._dictionaries.get(column)
        if dictionary is None:
            with self._locks.setdefault(column, threading.Lock()):
                dictionary = self._dictionaries.get(column)
                if dictionary is None:
                    dictionary = _Dictionary(self.frame.get_column(column))
                    self._dictionaries[column] = dictionary
        return dictionary


def _beyond_the_slice(
    node: Node, ctx: Context, start: datetime | None, end: datetime | None
) -> Node | None:
    """``node`` without its top-level ``date:`` terms that every row of the time slice
    ``[start, end)`` already satisfies (None: nothing is left to test). ``date:7d`` alone
    is then a slice, not a test of every row in it and a copy of them all."""
    children = node.children if isinstance(node, And) else (node,)
    kept = tuple(child for child in children if not _covers(child, ctx, start, end))
    if not kept:
        return None
    if len(kept) == len(children):
        return node
    return kept[0] if len(kept) == 1 else And(kept)


def _covers(node: Node, ctx: Context, start: datetime | None, end: datetime | None) -> bool:
    if not (isinstance(node, Term) and node.key == "date" and len(node.values) == 1):
        return False
    low, high = Query(node).time_bounds(ctx)  # one range: exactly what the term keeps
    return (low is None or (start is not None and low <= start)) and (
        high is None or (end is not None and end <= high)
    )


#: Value tests each column's dictionary remembers.
_REMEMBERED = 64
#: Columns whose postings the warm-up builds: those the explorer's facets filter on.
_WARM_POSTINGS = ("actor", "action", "operation", "resource_type")
#: Most values a term may match for its rows to be read from postings.
_POSTED_VALUES = 16


def _all_positions(n: int) -> pl.Series:
    return pl.int_range(n, dtype=pl.UInt32, eager=True)


class _Dictionary:
    """A column's distinct values and, per row, the code of its value; and, built when
    first needed, its postings: for each value, the ascending positions of its rows."""

    def __init__(self, values: pl.Series) -> None:
        self.column = values
        categorical = values.cast(pl.Categorical)
        self.codes = categorical.to_physical()
        distinct = categorical.unique().drop_nulls()
        self.value_codes = distinct.to_physical()
        self.values = distinct.cast(pl.String).to_frame(values.name)
        self.size = int(self.codes.max() or 0) + 1  # type: ignore[arg-type]
        self._remembered: dict[bytes, pl.Series | None] = {}
        self._order: pl.Series | None = None
        self._starts: list[int] = []
        self._lock = threading.Lock()  # builds the postings
        self._remembering = threading.Lock()

    def postings(self) -> tuple[pl.Series, list[int]]:
        """Row positions ordered by code, in row order within a code (null values last),
        and where each code's run starts; built once."""
        with self._lock:
            if self._order is None:
                filled = self.codes.fill_null(self.size)
                counts = filled.value_counts().sort(filled.name)
                starts = [0] * (self.size + 2)
                for value, n in counts.iter_rows():
                    starts[value + 1] = n
                self._starts = list(itertools.accumulate(starts))
                self._order = (
                    filled.to_frame("code")
                    .with_row_index("row")
                    .sort("code", maintain_order=True)
                    .get_column("row")
                )
            return self._order, self._starts

    def rows_with(self, code: int, start: int, stop: int) -> pl.Series:
        """The ascending positions, between ``start`` and ``stop``, of the rows holding
        the value ``code`` (a slice of the postings: no row is looked at)."""
        order, starts = self.postings()
        rows = order.slice(starts[code], starts[code + 1] - starts[code])
        first = int(rows.search_sorted(start, side="left"))
        last = int(rows.search_sorted(stop, side="left"))
        return rows.slice(first, max(0, last - first))

    def _matching_codes(self, expr: pl.Expr) -> pl.Series | None:
        """The codes of the distinct values satisfying ``expr`` (None: no value does),
        remembered for the last :data:`_REMEMBERED` tests (an analyst refines a search
        term by term, so most tests repeat)."""
        key = _key(expr)
        if key is not None and key in self._remembered:
            return self._remembered[key]
        matched = self.values.select(expr).to_series()
        wanted = self.value_codes.filter(matched) if matched.any() else None
        if key is None:
            return wanted
        with self._remembering:  # the explorer's chart thread searches too
            if len(self._remembered) >= _REMEMBERED:
                self._remembered.pop(next(iter(self._remembered)))
            self._remembered[key] = wanted
        return wanted

    def hits(
        self, expr: pl.Expr, offset: int, length: int, among: pl.Series | None
    ) -> pl.Series | None:
        """Whether each row satisfies ``expr``: rows ``offset … offset+length``, or only
        the positions ``among`` in them; None when no value does.

        The test runs once per distinct value, or on the rows themselves when fewer rows
        than distinct values are asked about (after a selective term of an AND).
        """
        if (
            among is not None
            and among.len() < self.values.height
            and _key(expr) not in self._remembered
        ):
            rows = self.column.gather(among.cast(pl.Int64) + offset).to_frame()
            return rows.select(expr).to_series()
        wanted = self._matching_codes(expr)
        if wanted is None:
            return None
        codes = (
            self.codes.slice(offset, length)
            if among is None
            else self.codes.gather(among.cast(pl.Int64) + offset)
        )
        if wanted.len() == 1:  # one value (user:alice, status:failed): compare codes
            return (codes == wanted.item()).fill_null(False)
        lookup = pl.repeat(False, self.size, eager=True).scatter(wanted, True)
        return lookup.gather(codes).fill_null(False)


def _key(expr: pl.Expr) -> bytes | None:
    """What a value test is remembered by (None: it holds a Python function, and is
    evaluated every time)."""
    try:
        return expr.meta.serialize()
    except pl.exceptions.ComputeError:
        return None


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise QueryError(f"naive datetime {value!r}: pass a timezone-aware datetime")
    return value.astimezone(UTC)
