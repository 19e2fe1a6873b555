"""The event store: Hive-partitioned Parquet on disk, safe to append to from several processes.

Layout (DuckDB, Spark and Athena read ``events/`` as it is, with Hive partitioning)::

    STORE/
      store.json                      format marker and schema version
      events/date=YYYY-MM-DD/*.parquet  the events, each file sorted by timestamp
      rejects/*.parquet               records that could not be loaded, with reasons
      _staging/TXID/…                 files being written (never read)
      _journal/TXID.json              commit records of transactions in flight
      _lock                           advisory lock serializing writers

An append is a transaction: every file is written and fsynced under ``_staging``, then a
journal entry naming the moves is written atomically (the commit point), then the files
are renamed into ``events/`` and the journal entry removed. A crash before the commit
point leaves only staging debris (cleaned on the next write); a crash after it is rolled
forward by the next reader or writer. Writers hold an exclusive ``flock`` while they
de-duplicate against the stored ``event_id``s and commit, so two ingests running at once
neither corrupt the store nor insert an event twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from auditkit.errors import StoreError
from auditkit.schema import SCHEMA, SCHEMA_VERSION, conform
from auditkit.sources import REJECT_SCHEMA

FORMAT = "auditkit-store"
_PARTITION_PREFIX = "date="


@dataclass(frozen=True)
class AppendResult:
    """What an append did.

    Attributes:
        added: events written.
        duplicates: events skipped because their ``event_id`` was already stored
            (or repeated within the batch).
        files: Parquet files created.
    """

    added: int
    duplicates: int
    files: tuple[Path, ...]


@dataclass(frozen=True)
class CompactResult:
    """What a compaction did: partitions rewritten and files before → after."""

    partitions: int
    files_before: int
    files_after: int


class Store:
    """An event store rooted at a directory.

    Args:
        root: the store's directory.
        create: create an empty store when the directory has none; otherwise a missing
            store raises :class:`StoreError`.
    """

    def __init__(self, root: str | Path, *, create: bool = False) -> None:
        self.root = Path(root)
        marker = self.root / "store.json"
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: is a file, not an auditkit store (a directory)")
        if not marker.exists():
            if not create:
                raise StoreError(
                    f"{self.root}: no auditkit store here.\n"
                    f"Hint: create one with `auditkit ingest FILE --store {self.root}` "
                    f"or `auditkit generate --events 100000 --out {self.root}`."
                )
            self._create()
        try:
            meta = json.loads(marker.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"{marker}: unreadable store marker ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise StoreError(f"{marker}: not an auditkit store marker")
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(
                f"{self.root}: store has schema version {meta.get('schema_version')}, "
                f"this auditkit reads version {SCHEMA_VERSION}"
            )
        for sub in ("events", "rejects", "_staging", "_journal"):
            (self.root / sub).mkdir(exist_ok=True)

    def _create(self) -> None:
        """Make an empty store; safe when several processes create the same one at once."""
        lock = self.root / "_lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            had_lock = lock.exists()
            with self._write_lock():
                marker = self.root / "store.json"
                if marker.exists():
                    return  # another process created it first
                if any(p.name != lock.name for p in self.root.iterdir()):
                    if not had_lock:
                        lock.unlink(missing_ok=True)  # leave a foreign directory as it was
                    raise StoreError(
                        f"{self.root}: the directory exists and is not empty, and is not an "
                        "auditkit store; choose an empty or new directory."
                    )
                _write_atomic(
                    marker, json.dumps({"format": FORMAT, "schema_version": SCHEMA_VERSION})
                )
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create an event store here: {exc}") from exc

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- reading ---------------------------------------------------------------

    def partitions(self) -> list[date]:
        """The dates that have a partition, oldest first."""
        out = []
        for entry in (self.root / "events").iterdir():
            if entry.is_dir() and entry.name.startswith(_PARTITION_PREFIX):
                out.append(date.fromisoformat(entry.name[len(_PARTITION_PREFIX) :]))
        return sorted(out)

    def files(self, start: datetime | None = None, end: datetime | None = None) -> list[Path]:
        """Parquet files of the partitions overlapping ``[start, end)``, oldest first."""
        self._recover_if_needed()
        first = start.astimezone(UTC).date() if start else None
        last = (end.astimezone(UTC) - timedelta(microseconds=1)).date() if end else None
        out: list[Path] = []
        for day in self.partitions():
            if (first and day < first) or (last and day > last):
                continue
            out.extend(sorted(self._partition_dir(day).glob("*.parquet")))
        return out

    def scan(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.LazyFrame:
        """The events as a LazyFrame in the canonical schema (unsorted: sort explicitly).

        A time range reads only the partitions it overlaps, then filters to
        ``start <= timestamp < end``.
        """
        files = self.files(start, end)
        if not files:
            return pl.LazyFrame(schema=SCHEMA)
        frame = pl.scan_parquet(files, schema=SCHEMA, hive_partitioning=False)
        if start is not None:
            frame = frame.filter(pl.col("timestamp") >= _utc(start))
        if end is not None:
            frame = frame.filter(pl.col("timestamp") < _utc(end))
        return frame

    def rejects(self) -> pl.LazyFrame:
        """Every record that was rejected at ingest, with file, line, reason and raw text."""
        files = sorted((self.root / "rejects").glob("*.parquet"))
        schema = {**REJECT_SCHEMA, "ingested_at": SCHEMA["ingested_at"]}
        if not files:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(files, schema=schema)

    def summary(self) -> dict[str, Any]:
        """Counts and layout: events, time span, counts by action, status, source and
        actor type, partitions, files, bytes on disk, rejects kept."""
        frame = self.scan()
        overall = frame.select(
            pl.len().alias("events"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        ).collect()
        summary: dict[str, Any] = dict(overall.row(0, named=True))
        for key in ("action", "status", "source", "actor_type"):
            counts = (
                frame.group_by(key)
                .agg(pl.len())
                .sort("len", key, descending=[True, False])
                .collect()
            )
            summary["by_" + key] = {str(k): n for k, n in counts.iter_rows()}
        files = self.files()
        summary["partitions"] = len(self.partitions())
        summary["files"] = len(files)
        summary["bytes"] = sum(f.stat().st_size for f in files)
        summary["rejects"] = self.rejects().select(pl.len()).collect().item()
        return summary

    # -- writing ---------------------------------------------------------------

    def append(self, frame: pl.DataFrame, *, now: datetime | None = None) -> AppendResult:
        """Add events atomically, skipping any whose ``event_id`` is already stored.

        ``ingested_at`` is set to ``now`` (default: the current time) where it is null.
        """
        frame = conform(frame)
        stamp = _utc(now or datetime.now(UTC))
        frame = frame.with_columns(
            pl.col("ingested_at").fill_null(pl.lit(stamp).cast(SCHEMA["ingested_at"]))
        )
        total = frame.height
        if frame.get_column("event_id").n_unique() < total:  # cheaper than always unique()
            frame = frame.unique(subset="event_id", keep="first", maintain_order=True)
        nulls = frame.get_column("timestamp").null_count()
        if nulls or frame.get_column("event_id").null_count():
            raise StoreError(
                "cannot store events with a null event_id or timestamp; "
                "sources must reject such records"
            )
        if frame.is_empty():
            return AppendResult(0, total, ())
        with self._write_lock():
            self._recover()
            fresh = self._without_stored(frame)
            txid = _txid()
            staged: list[tuple[Path, Path]] = []
            if fresh.height:
                for day, part in _by_day(fresh):
                    final = self._partition_dir(day) / f"part-{txid}.parquet"
                    # appends favour speed (level 1); compaction rewrites at level 3
                    staged.append((self._stage(txid, part, final, level=1), final))
                self._commit(txid, staged, remove=[])
        return AppendResult(fresh.height, total - fresh.height, tuple(f for _, f in staged))

    def add_rejects(self, rejects: pl.DataFrame, *, now: datetime | None = None) -> Path | None:
        """Keep rejected records in the store (atomically), returning the file written."""
        if rejects.is_empty():
            return None
        stamp = _utc(now or datetime.now(UTC))
        frame = rejects.select(list(REJECT_SCHEMA)).unique(maintain_order=True)
        with self._write_lock():
            # The same bad record from the same file, rejected again by a re-ingest, is
            # kept once.
            kept = self.rejects().select(list(REJECT_SCHEMA)).collect()
            if kept.height:
                frame = frame.join(kept, on=list(REJECT_SCHEMA), how="anti", nulls_equal=True)
            if frame.is_empty():
                return None
            return self._write_rejects(frame, stamp)

    def _write_rejects(self, frame: pl.DataFrame, stamp: datetime) -> Path:
        frame = frame.with_columns(pl.lit(stamp).cast(SCHEMA["ingested_at"]).alias("ingested_at"))
        final = self.root / "rejects" / f"rejects-{_txid()}.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        frame.write_parquet(tmp)
        _fsync(tmp)
        os.replace(tmp, final)
        return final

    def compact(self, *, min_files: int = 2) -> CompactResult:
        """Rewrite each partition holding ``min_files`` or more files as one sorted file."""
        partitions = before = after = 0
        with self._write_lock():
            self._recover()
            for day in self.partitions():
                files = sorted(self._partition_dir(day).glob("*.parquet"))
                before += len(files)
                if len(files) < min_files:
                    after += len(files)
                    continue
                txid = _txid()
                merged = (
                    pl.scan_parquet(files, schema=SCHEMA)
                    .collect()
                    .unique(subset="event_id", keep="first")
                    .sort("timestamp", "event_id")
                )
                final = self._partition_dir(day) / f"part-{txid}.parquet"
                staged = self._stage(txid, merged, final)
                self._commit(txid, [(staged, final)], remove=files)
                partitions += 1
                after += 1
        return CompactResult(partitions, before, after)

    def small_partitions(self, max_files: int = 8) -> int:
        """How many partitions hold more than ``max_files`` files (a hint to compact)."""
        return sum(
            1
            for day in self.partitions()
            if len(list(self._partition_dir(day).glob("*.parquet"))) > max_files
        )

    # -- internals -------------------------------------------------------------

    def _partition_dir(self, day: date) -> Path:
        return self.root / "events" / f"{_PARTITION_PREFIX}{day.isoformat()}"

    def _without_stored(self, frame: pl.DataFrame) -> pl.DataFrame:
        days = frame.get_column("timestamp").dt.date().unique().to_list()
        files = [f for day in days for f in self._partition_dir(day).glob("*.parquet")]
        if not files:
            return frame
        stored = (
            pl.scan_parquet(files, schema=SCHEMA)
            .select("event_id")
            .filter(pl.col("event_id").is_in(frame.get_column("event_id").implode()))
            .collect()
        )
        if stored.is_empty():
            return frame
        return frame.join(stored, on="event_id", how="anti", maintain_order="left")

    def _stage(self, txid: str, part: pl.DataFrame, final: Path, *, level: int = 3) -> Path:
        """Write ``part`` into the transaction's staging folder (zstd at ``level``)."""
        staged = self.root / "_staging" / txid / f"{final.parent.name}-{final.name}"
        staged.parent.mkdir(parents=True, exist_ok=True)
        part.write_parquet(
            staged,
            compression="zstd",
            compression_level=level,
            statistics=True,
            row_group_size=128_000,
        )
        _fsync(staged)
        return staged

    def _commit(self, txid: str, moves: list[tuple[Path, Path]], remove: list[Path]) -> None:
        entry = {
            "txid": txid,
            "moves": [
                [str(s.relative_to(self.root)), str(f.relative_to(self.root))] for s, f in moves
            ],
            "remove": [str(p.relative_to(self.root)) for p in remove],
        }
        journal = self.root / "_journal" / f"{txid}.json"
        _write_atomic(journal, json.dumps(entry))  # the commit point
        self._roll_forward(journal)

    def _roll_forward(self, journal: Path) -> None:
        entry = json.loads(journal.read_text())
        for staged_rel, final_rel in entry["moves"]:
            staged, final = self.root / staged_rel, self.root / final_rel
            if staged.exists():
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, final)
                _fsync_dir(final.parent)
        for rel in entry["remove"]:
            (self.root / rel).unlink(missing_ok=True)
        journal.unlink()
        _fsync_dir(journal.parent)
        shutil.rmtree(self.root / "_staging" / entry["txid"], ignore_errors=True)

    def _recover(self) -> None:
        """Roll committed transactions forward and drop uncommitted staging (lock held)."""
        for journal in sorted((self.root / "_journal").glob("*.json")):
            self._roll_forward(journal)
        for tmp in (self.root / "_journal").glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        for debris in (self.root / "_staging").iterdir():
            shutil.rmtree(debris, ignore_errors=True)

    def _recover_if_needed(self) -> None:
        if not any((self.root / "_journal").glob("*.json")):
            return
        # A committed transaction is waiting to be rolled forward: finish it unless a
        # writer is active (that writer will).
        fd = os.open(self.root / "_lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            for journal in sorted((self.root / "_journal").glob("*.json")):
                self._roll_forward(journal)
        finally:
            os.close(fd)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        fd = os.open(self.root / "_lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _by_day(frame: pl.DataFrame) -> Iterator[tuple[date, pl.DataFrame]]:
    """Each UTC day's rows of ``frame``, sorted by time and event id: one sort, then
    zero-copy slices."""
    frame = frame.sort("timestamp", "event_id")
    runs = frame.get_column("timestamp").dt.date().rle()
    offset = 0
    for length, day in runs.struct.unnest().iter_rows():
        yield day, frame.slice(offset, length)
        offset += length


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise StoreError(f"naive datetime {value!r}: pass a timezone-aware datetime (UTC)")
    return value.astimezone(UTC)


def _txid() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:12]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")  # unique: writers may race
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
