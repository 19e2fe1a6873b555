"""The platform's own exports: JSON Lines, JSON arrays, CSV (short and full), Parquet.

Column names are the canonical ones (see :mod:`auditkit.schema`), with a few aliases the
platform's UI export uses (``user`` for ``actor``, ``id`` for ``event_id``, ``resource``
for ``resource_type:resource_name``). Columns the schema has no place for are kept in
``attributes``. Large files are read in blocks with a vectorized path; a block that the
fast path cannot take whole (a bad line, an unknown key) is read record by record so one
bad record is rejected without losing its neighbours.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from auditkit.errors import RejectedRecordError, SourceError
from auditkit.schema import ACTOR_TYPES, SCHEMA, STATUSES, conform, empty, invalid_ips
from auditkit.sources import (
    Batch,
    RecordError,
    Rejects,
    is_gzip,
    iter_json_records,
    parse_timestamp,
    read_head,
    record_or_error,
    stable_id,
    to_json,
)

NAME = "native"
SHORT_CSV_HEADER = ("timestamp", "user", "action", "resource", "status", "ip_address")
ALIASES = {"user": "actor", "id": "event_id", "time": "timestamp", "ip": "ip_address"}
STATUS_ALIASES = {
    "success": "success",
    "succeeded": "success",
    "successful": "success",
    "ok": "success",
    "failed": "failed",
    "failure": "failed",
    "error": "failed",
    "in_progress": "in_progress",
    "in progress": "in_progress",
    "in-progress": "in_progress",
    "running": "in_progress",
    "pending": "pending",
    "queued": "pending",
}
_SNIFF_ALIASES = {"user": "actor"}
BLOCK_BYTES = 16 << 20  # under glibc's mmap threshold: blocks reuse memory
_INPUT_COLUMNS = [c for c in SCHEMA if c != "ingested_at"]
_POLARS_SCHEMA = {c: pl.Float64 if c == "duration_ms" else pl.String for c in _INPUT_COLUMNS}
_ISO_FAST = "%Y-%m-%dT%H:%M:%S%.fZ"


class NativeSource:
    """Adapter for the platform's own exports."""

    name = NAME
    description = "the platform's exports: JSON Lines, JSON array, CSV (short or full), Parquet"

    def sniff(self, path: Path, head: bytes) -> bool:
        if head.startswith(b"PAR1"):
            return True
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if text[:1] in (b"{", b"["):
            # JSON Lines: the first line is a record. A JSON array is often pretty-printed
            # (its first line is just "["): look at the head instead.
            first = text.split(b"\n", 1)[0] if text[:1] == b"{" else text
            keys = {k.decode() for k in re.findall(rb'"([A-Za-z_@]+)"\s*:', first)}
        else:
            header = text.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
            keys = {c.strip().strip('"') for c in header.split(",")}
        # "time" and "id" are too common in other vendors' logs to count as ours.
        keys = {_SNIFF_ALIASES.get(k, k) for k in keys}
        return "timestamp" in keys and "action" in keys and bool(keys & {"actor", "event_id"})

    def read(self, path: Path, *, strict: bool = False) -> Iterator[Batch]:
        for batch in self._read(path):
            if strict and batch.rejects.height:
                # Records are checked a block at a time (parsing first, then validation),
                # so the first bad record of the file is the lowest line of its batch.
                first = batch.rejects.sort("line", nulls_last=True).row(0, named=True)
                raise RejectedRecordError(
                    first["file"], first["line"], first["reason"], first["raw"]
                )
            yield batch

    def _read(self, path: Path) -> Iterator[Batch]:
        rejects = Rejects(path, strict=False)
        # Leading blank lines (or a BOM) must not make a file with records look empty.
        head = read_head(path).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"PAR1"):
            yield from _read_parquet(path, rejects)
        elif head[:1] == b"[":
            records = iter_json_records(path)
            while chunk := list(itertools.islice(records, 200_000)):
                yield _records_to_batch(chunk, rejects)
        elif head[:1] == b"{":
            yield from _read_jsonl(path, rejects)
        elif not head:
            yield Batch(empty(), notes=[f"{path}: empty file, no events"])
        else:
            yield from _read_csv(path, rejects)


SOURCE = NativeSource()


# -- JSON Lines -------------------------------------------------------------------------


def _read_jsonl(path: Path, rejects: Rejects) -> Iterator[Batch]:
    line = 1
    salvage = _Salvage(path) if is_gzip(path) else None
    for block in _line_blocks(path) if salvage is None else _salvaged_blocks(salvage):
        # numpy counts a 16 MB block several times faster than bytes.count
        newlines = int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == _NEWLINE))
        if not block.isspace():
            yield _jsonl_block(block, line, newlines, rejects)
        line += newlines
    if salvage is not None and salvage.damage:
        rejects.add(line, salvage.damage, salvage.tail)
        yield Batch(empty(), rejects.frame())


def _line_blocks(path: Path) -> Iterator[bytes]:
    """An uncompressed file in blocks of about :data:`BLOCK_BYTES` that end at a line end
    (or the end of the file). The partial line after a block's last newline is read
    again with the next block, rather than copied onto it."""
    with open(path, "rb", buffering=0) as fh:
        while block := fh.read(BLOCK_BYTES):
            cut = block.rfind(b"\n") + 1
            if len(block) == BLOCK_BYTES and 0 < cut < len(block):
                fh.seek(cut - len(block), os.SEEK_CUR)
                block = block[:cut]
            elif len(block) == BLOCK_BYTES and cut == 0:  # one line longer than a block
                block += fh.readline()
            yield block


def _salvaged_blocks(salvage: _Salvage) -> Iterator[bytes]:
    """A gzipped file's lines, in blocks, up to any damage (see :class:`_Salvage`)."""
    with salvage.buffered() as fh:
        carry = b""
        while chunk := fh.read(BLOCK_BYTES):
            block = carry + chunk
            cut = block.rfind(b"\n") + 1
            block, carry = block[:cut], block[cut:]
            if block:
                yield block
        if carry:
            yield carry


class _Salvage(io.RawIOBase):
    """A file's bytes (gunzipped), where a truncated or damaged gzip stream ends cleanly.

    Data is passed on a whole line at a time. When decompression fails, reading ends at
    the last complete line before the damage; ``damage`` says why, and ``tail`` holds
    the incomplete line that was cut off, so the caller can reject it with a reason
    instead of crashing or keeping a half-written record. (Gzip is inflated here with
    zlib rather than :mod:`gzip`, which drops the output of a read that hits the damage.)
    """

    PIECE = 1 << 20

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        gzipped = self._file.read(2) == b"\x1f\x8b"
        self._file.seek(0)
        self._inflate = zlib.decompressobj(31) if gzipped else None
        self._in_member = False  # inside a gzip member whose end has not been seen
        self._ready = b""
        self._pos = 0
        self._held = b""  # bytes after the last newline seen, not passed on yet
        self._done = False
        self.damage: str | None = None
        self.tail = b""

    def buffered(self) -> io.BufferedReader:
        """This stream with a buffer: ``read(n)``, ``readline()`` and friends."""
        return io.BufferedReader(self, buffer_size=self.PIECE)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._pos >= len(self._ready) and not self._done:
            self._fill()
        n = min(len(buffer), len(self._ready) - self._pos)
        buffer[:n] = self._ready[self._pos : self._pos + n]
        self._pos += n
        return n

    def _fill(self) -> None:
        chunk = self._file.read(self.PIECE)
        data, damage = self._gunzip(chunk) if self._inflate is not None else (chunk, None)
        if damage is None and not chunk and self._in_member:
            damage = "the compressed file is truncated; reading stopped here"
        if damage is None and not chunk:
            self._done = True
            self._ready, self._pos, self._held = self._held, 0, b""
            return
        data = self._held + data
        cut = data.rfind(b"\n") + 1
        self._ready, self._pos, self._held = data[:cut], 0, data[cut:]
        if damage is not None:  # pass on the complete lines read so far, then stop
            self._done, self.damage, self.tail, self._held = True, damage, self._held, b""

    def _gunzip(self, chunk: bytes) -> tuple[bytes, str | None]:
        """Inflate ``chunk``: the output, and why inflating stopped if the data is damaged."""
        assert self._inflate is not None
        out: list[bytes] = []
        while chunk:
            step, chunk = chunk[: 64 << 10], chunk[64 << 10 :]
            self._in_member = True
            before = self._inflate.copy()
            try:
                out.append(self._inflate.decompress(step))
            except zlib.error as exc:
                # The failed call returned nothing: inflate the step again in small
                # pieces to keep what precedes the damage.
                for i in range(0, len(step), 256):
                    try:
                        out.append(before.decompress(step[i : i + 256]))
                    except zlib.error:
                        break
                reason = f"the compressed file is damaged; reading stopped here ({exc})"
                return b"".join(out), reason
            if self._inflate.eof:  # end of a gzip member; another may follow
                chunk = self._inflate.unused_data + chunk
                self._inflate = zlib.decompressobj(31)
                self._in_member = False
        return b"".join(out), None

    def close(self) -> None:
        self._file.close()
        super().close()


def _jsonl_block(block: bytes, first_line: int, newlines: int, rejects: Rejects) -> Batch:
    frame = _parse_flat_block(block)
    newlines += 0 if block.endswith(b"\n") else 1
    if frame is not None and frame.height == newlines:
        # One record per line, no blank lines: line numbers follow from row numbers and
        # raw lines are only split out if some row needs one.
        numbers = range(first_line, first_line + newlines)
        return _finish(frame, numbers, _LazyLines(block, first_line), rejects)
    records = (
        (first_line + i, raw.strip(), record_or_error(raw))
        for i, raw in enumerate(block.split(b"\n"))
        if raw.strip()
    )
    return _records_to_batch(records, rejects)


def _parse_flat_block(block: bytes) -> pl.DataFrame | None:
    """Parse a block of flat JSON Lines with known keys, or None if it is anything else.

    Polars' reader is fast but, given a schema, ignores unknown keys and turns numbers
    into strings. So the block is accepted only if the raw bytes prove that every key was
    a known column holding a string, a null, or (for ``duration_ms``) a number: each key
    ends with ``":`` (not ``\\":``, which is inside a string), and the byte after it
    says the value's kind. Anything unusual falls back to the record-by-record path.
    """
    try:
        frame = pl.read_ndjson(block, schema=_POLARS_SCHEMA)
    except pl.exceptions.ComputeError:
        return None
    kinds = _value_kinds(block)
    if kinds is None:
        return None
    strings, _nulls, numbers = kinds
    # Every non-null value in the bytes is in the frame (so every key was a known one),
    # and the only numbers are durations.
    values = sum(frame.height - n for n in frame.null_count().row(0))
    durations = frame.height - frame.get_column("duration_ms").null_count()
    return frame if values == strings + numbers and numbers == durations else None


_QUOTE, _COLON, _BACKSLASH, _NEWLINE = ord('"'), ord(":"), ord("\\"), ord("\n")
_NUMBER_START = np.zeros(256, dtype=bool)
_NUMBER_START[[*b"-0123456789"]] = True


def _value_kinds(block: bytes) -> tuple[int, int, int] | None:
    """How many keys of ``block`` hold a string, a null and a number, in one vectorized
    pass; None when some key holds anything else (an object, a list, a boolean)."""
    data = np.frombuffer(block, dtype=np.uint8)
    colons = np.flatnonzero(data[1:-1] == _COLON) + 1  # a key's colon has a byte after it
    colons = colons[data[colons - 1] == _QUOTE]
    escaped = (colons >= 2) & (data[np.maximum(colons - 2, 0)] == _BACKSLASH)
    colons = colons[~escaped]
    after = data[colons + 1]
    spaced = np.flatnonzero(after == ord(" "))  # ": " as Python's json.dumps writes it
    after[spaced] = data[np.minimum(colons[spaced] + 2, data.size - 1)]
    strings = int(np.count_nonzero(after == _QUOTE))
    nulls = int(np.count_nonzero(after == ord("n")))
    numbers = int(np.count_nonzero(_NUMBER_START[after]))
    if strings + nulls + numbers != colons.size:
        return None
    return strings, nulls, numbers


class _LazyLines:
    """Raw lines of a block by line number, split only when first asked for."""

    def __init__(self, block: bytes, first_line: int) -> None:
        self.block = block
        self.first_line = first_line
        self._lines: list[bytes] | None = None

    def get(self, line: int) -> bytes | None:
        if self._lines is None:
            self._lines = self.block.split(b"\n")
        index = line - self.first_line
        return self._lines[index] if 0 <= index < len(self._lines) else None


# -- CSV --------------------------------------------------------------------------------


def _read_csv(path: Path, rejects: Rejects) -> Iterator[Batch]:
    bad: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append(row.text or "")
        return "skip"

    with _Salvage(path).buffered() as fh:
        header = fh.readline().decode("utf-8", "replace").lstrip("\ufeff")
    names = [c.strip() for c in next(iter(csv.reader([header])), [])]
    rejects = _CsvRejects(path, strict=rejects.strict, columns=len(names))
    # Gzip is recognised by content (an export need not end in .gz) and read through
    # _Salvage, so a truncated download loses only its damaged tail.
    salvage = _Salvage(path) if is_gzip(path) else None
    stream: Any = salvage.buffered() if salvage else pa.input_stream(str(path), compression=None)
    with stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=16 << 20, use_threads=True),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=True, invalid_row_handler=on_invalid
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=True
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise SourceError(f"{path}: cannot read as CSV: {exc}", path=str(path)) from exc
        row_base = 0  # index of the batch's first row among the well-formed data rows
        while True:
            try:
                record_batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                rejects.add_unnumbered(f"CSV unreadable from here on: {exc}", "")
                break
            frame = pl.from_arrow(record_batch)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.rename({c: c.strip() for c in frame.columns})
            rejects.add_malformed(bad)
            bad.clear()
            numbers = range(row_base, row_base + frame.height)
            row_base += frame.height
            yield _finish(_from_csv_columns(frame), numbers, None, rejects)
    rejects.add_malformed(bad)
    if salvage is not None and salvage.damage:
        rejects.add_unnumbered(salvage.damage, salvage.tail.decode("utf-8", "replace"))
    if len(rejects):
        yield Batch(empty(), rejects.frame())


class _CsvRejects(Rejects):
    """Rejects of one CSV file, reported by physical line number.

    pyarrow numbers neither the rows it returns nor (reading with threads) the rows it
    skips, and blank lines, skipped rows and quoted values with newlines make a row's
    index differ from its line. So rows are passed to :meth:`add` by their index among
    the well-formed data rows, and the line numbers are found with one pass of the
    ``csv`` module only when the first reject needs them (a clean file pays nothing).
    """

    def __init__(self, path: Path, *, strict: bool, columns: int) -> None:
        super().__init__(path, strict=strict)
        self.path = path
        self.columns = columns
        self._lines: list[int] | None = None  # line of each well-formed data row
        self._malformed: list[tuple[int, str, str]] = []  # (line, reason, raw), file order
        self._malformed_seen = 0

    def add(self, line: int | None, reason: str, raw: bytes | str) -> None:
        """Reject the well-formed data row with index ``line`` (0-based)."""
        lines = self._index()[0] if line is not None else []
        super().add(lines[line] if line is not None and line < len(lines) else None, reason, raw)

    def add_unnumbered(self, reason: str, raw: str) -> None:
        super().add(None, reason, raw)

    def add_malformed(self, texts: list[str]) -> None:
        """Reject rows pyarrow skipped for a wrong field count (``texts``: their raw text)."""
        if not texts:
            return
        malformed = self._index()[1]
        mine = malformed[self._malformed_seen : self._malformed_seen + len(texts)]
        self._malformed_seen += len(texts)
        if len(mine) == len(texts):
            for number, reason, raw in mine:
                super().add(number, reason, raw)
            return
        for text in texts:  # the two parsers disagree: keep the rows, without line numbers
            fields = next(csv.reader([text]), [])
            super().add(
                None, f"CSV row has {len(fields)} fields, the header has {self.columns}", text
            )

    def _index(self) -> tuple[list[int], list[tuple[int, str, str]]]:
        if self._lines is None:
            self._lines, self._malformed = [], []
            limit = csv.field_size_limit()
            csv.field_size_limit(2**31 - 1)  # a 10 MB value is a value, not an error
            try:
                with _Salvage(self.path).buffered() as fh:
                    text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
                    pending: list[str] = []

                    def lines() -> Iterator[str]:
                        for line in text:
                            pending.append(line)
                            yield line

                    reader = csv.reader(lines())
                    next(reader, None)  # the header
                    end = reader.line_num
                    pending.clear()
                    for fields in reader:
                        start, end = end + 1, reader.line_num
                        raw = "".join(pending).rstrip("\r\n")
                        pending.clear()
                        if not fields:
                            continue  # a blank line, skipped by pyarrow too
                        if len(fields) == self.columns:
                            self._lines.append(start)
                        else:
                            reason = (
                                f"CSV row has {len(fields)} fields, the header has {self.columns}"
                            )
                            self._malformed.append((start, reason, raw))
            except csv.Error:
                self._lines, self._malformed = [], []
            finally:
                csv.field_size_limit(limit)
        return self._lines, self._malformed


def _from_csv_columns(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.rename(
        {a: c for a, c in ALIASES.items() if a in frame.columns and c not in frame.columns}
    )
    if "resource" in frame.columns:
        parts = pl.col("resource").str.splitn(":", 2)
        has_type = pl.col("resource").str.contains(r"^[A-Za-z_][\w.\-]*:")
        frame = frame.with_columns(
            pl.when(has_type).then(parts.struct.field("field_0")).alias("resource_type")
            if "resource_type" not in frame.columns
            else pl.col("resource_type"),
            pl.when(has_type)
            .then(parts.struct.field("field_1"))
            .otherwise(pl.col("resource"))
            .alias("resource_name")
            if "resource_name" not in frame.columns
            else pl.col("resource_name"),
        ).drop("resource")
    if "duration_ms" in frame.columns:
        frame = frame.with_columns(pl.col("duration_ms").str.strip_chars())
    return frame


# -- Parquet ----------------------------------------------------------------------------


def _read_parquet(path: Path, rejects: Rejects) -> Iterator[Batch]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file: {exc}", path=str(path)) from exc
    index = 0
    for record_batch in parquet.iter_batches(batch_size=500_000):
        frame = pl.from_arrow(record_batch)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.rename(
            {a: c for a, c in ALIASES.items() if a in frame.columns and c not in frame.columns}
        )
        frame = frame.drop("ingested_at", strict=False)
        casts = []
        for name in frame.columns:
            dtype = frame.schema[name]
            if name == "timestamp" and isinstance(dtype, pl.Datetime):
                casts.append(
                    pl.col(name).dt.convert_time_zone("UTC")
                    if dtype.time_zone
                    else pl.col(name).dt.replace_time_zone("UTC")
                )
            elif name == "duration_ms":
                casts.append(pl.col(name).cast(pl.Float64, strict=False))
            else:
                casts.append(pl.col(name).cast(pl.String))
        frame = frame.with_columns(casts)
        if isinstance(frame.schema.get("timestamp"), pl.Datetime):
            frame = frame.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        numbers = list(range(index, index + frame.height))
        index += frame.height
        yield _finish(frame, numbers, None, rejects)


# -- shared: one vectorized pass from string columns to canonical events -----------------


def _finish(
    frame: pl.DataFrame,
    numbers: Sequence[int],
    raws: _LazyLines | dict[int, bytes | str] | None,
    rejects: Rejects,
) -> Batch:
    """Validate and cast a frame of (mostly string) columns; bad rows become rejects."""
    extra = [c for c in frame.columns if c not in SCHEMA]
    for column in _INPUT_COLUMNS:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    if extra:
        attrs = pl.struct(extra).struct.json_encode()
        if frame.schema["attributes"] != pl.Null:
            attrs = pl.coalesce(pl.col("attributes"), attrs)
        frame = frame.with_columns(attributes=attrs).drop(extra)
    frame = frame.with_columns(
        pl.int_range(numbers.start, numbers.stop, dtype=pl.Int64).alias("_line")
        if isinstance(numbers, range)
        else pl.Series("_line", numbers, dtype=pl.Int64)
    )
    status = pl.col("status").str.strip_chars().str.to_lowercase()
    actor_type = pl.col("actor_type").str.strip_chars().str.to_lowercase()
    if frame.get_column("actor_type").null_count():  # inferring costs more than the rest
        actor_type = pl.coalesce(actor_type, _infer_actor_type())
    frame = frame.with_columns(
        # timestamps are nearly all distinct: a cache of parsed values only costs
        _ts=pl.col("timestamp").str.to_datetime(
            _ISO_FAST, time_zone="UTC", strict=False, cache=False
        ),
        status=status.replace_strict(STATUS_ALIASES, default=None),
        _status_raw=pl.col("status"),
        actor_type=actor_type,
        action=pl.col("action").str.strip_chars().str.to_lowercase(),
        _dur=pl.col("duration_ms").cast(pl.Float64, strict=False),
        ip_address=pl.col("ip_address").str.strip_chars(),
    )
    # Timestamps that are not in the common export format get the full parser.
    unparsed = frame.get_column("_ts").null_count() > frame.get_column("timestamp").null_count()
    if unparsed:
        odd = frame.filter(pl.col("_ts").is_null() & pl.col("timestamp").is_not_null())
        parsed = {}
        for line, value in odd.select("_line", "timestamp").iter_rows():
            with contextlib.suppress(ValueError):
                parsed[line] = parse_timestamp(value)
        if parsed:
            fix = pl.DataFrame(
                {"_line": list(parsed), "_ts2": list(parsed.values())},
                schema={"_line": pl.Int64, "_ts2": SCHEMA["timestamp"]},
            )
            frame = (
                frame.join(fix, on="_line", how="left", maintain_order="left")
                .with_columns(_ts=pl.coalesce("_ts", "_ts2"))
                .drop("_ts2")
            )
    valid = ", ".join(STATUSES)
    problems = [  # (condition, reason); a record gets the first that holds
        (pl.col("timestamp").is_null(), pl.lit("missing timestamp")),
        (
            pl.col("_ts").is_null(),
            pl.format("timestamp {} is not ISO-8601 or epoch", pl.col("timestamp")),
        ),
        (
            pl.col("actor").is_null() | (pl.col("actor").str.strip_chars() == ""),
            pl.lit("missing actor (user): who did it is required"),
        ),
        (pl.col("action").is_null() | (pl.col("action") == ""), pl.lit("missing action")),
        (pl.col("_status_raw").is_null(), pl.lit(f"missing status (valid: {valid})")),
        (
            pl.col("status").is_null(),
            pl.format(f"unknown status {{}} (valid: {valid})", pl.col("_status_raw")),
        ),
        (
            ~pl.col("actor_type").is_in(list(ACTOR_TYPES)),
            pl.format(
                "unknown actor_type {} (valid: " + ", ".join(ACTOR_TYPES) + ")",
                pl.col("actor_type"),
            ),
        ),
        (
            pl.col("duration_ms").is_not_null() & pl.col("_dur").is_null(),
            pl.format("duration_ms {} is not a number", pl.col("duration_ms")),
        ),
        (pl.col("_dur") < 0, pl.format("duration_ms {} is negative", pl.col("duration_ms"))),
    ]
    # Reasons are formatted for the bad rows only: a when/then chain builds every
    # branch's text for every row.
    is_bad = pl.any_horizontal(condition.fill_null(False) for condition, _ in problems)
    bad = frame.filter(is_bad)
    if bad.height:
        reason: pl.Expr = pl.lit(None, dtype=pl.String)
        for condition, text in reversed(problems):
            reason = pl.when(condition).then(text).otherwise(reason)
        bad = bad.with_columns(_reason=reason)
        by_line = raws if raws is not None else {}
        for row in bad.iter_rows(named=True):
            row["status"] = row["_status_raw"]  # the value as given, not its normalized form
            raw: bytes | str = (
                by_line.get(row["_line"])
                or to_json(
                    {k: v for k, v in row.items() if not k.startswith("_") and v is not None}
                )
                or ""
            )
            rejects.add(row["_line"], row["_reason"], raw)
        frame = frame.filter(~is_bad)
    notes: list[str] = []
    frame = _check_ips(frame, notes)
    if frame.get_column("event_id").null_count():
        frame = _fill_stable_ids(frame, raws)
    frame = frame.with_columns(
        timestamp=pl.col("_ts"),
        duration_ms=pl.col("_dur"),
        source=pl.col("source").fill_null(NAME),
    ).select([c for c in _INPUT_COLUMNS])
    return Batch(conform(frame), rejects.frame(), notes)


def _fill_stable_ids(
    frame: pl.DataFrame, raws: _LazyLines | dict[int, bytes | str] | None
) -> pl.DataFrame:
    """Give rows without an ``event_id`` the stable hash of their record: its raw line
    when known, else its fields as compact JSON (encoded by Polars when every field is
    text, which gives the same bytes as :func:`auditkit.sources.to_json`)."""
    fields = [c for c in frame.columns if not c.startswith("_")]
    missing = frame.get_column("event_id").is_null()
    rows = frame.filter(missing)
    if raws is None and all(rows.schema[c] in (pl.String(), pl.Null()) for c in fields):
        texts: list[bytes | str | None] = (
            rows.select(pl.struct(fields).struct.json_encode()).to_series().to_list()
        )
    else:
        by_line = raws if raws is not None else {}
        texts = [
            by_line.get(line) or to_json(dict(zip(fields, values, strict=True)))
            for line, values in zip(
                rows.get_column("_line"), rows.select(fields).iter_rows(), strict=True
            )
        ]
    ids = pl.Series([stable_id(NAME, text or "") for text in texts], dtype=pl.String)
    filled = frame.get_column("event_id").scatter(missing.arg_true(), ids)
    return frame.with_columns(event_id=filled)


def _attributes_object(text: str | None) -> dict[str, Any]:
    """An ``attributes`` value as a dict to merge more fields into (never raises)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"attributes": text}  # not JSON: kept as it was given
    return value if isinstance(value, dict) else {"attributes": value}


def _infer_actor_type() -> pl.Expr:
    actor = pl.col("actor").str.to_lowercase()
    return (
        pl.when(actor.str.starts_with("ak_") | actor.str.starts_with("key_"))
        .then(pl.lit("api_key"))
        .when(actor.str.starts_with("svc-") | actor.str.contains(r"\.iam$|serviceaccount"))
        .then(pl.lit("service_account"))
        .when(actor.str.contains("@"))
        .then(pl.lit("user"))
        .when(actor == "system")
        .then(pl.lit("system"))
        .otherwise(pl.lit("unknown"))
    )


def _check_ips(frame: pl.DataFrame, notes: list[str]) -> pl.DataFrame:
    """Null out values of ``ip_address`` that are not IP addresses, keeping them in attributes."""
    ip = pl.col("ip_address")
    invalid = invalid_ips(frame.get_column("ip_address"))
    if not invalid:
        return frame
    is_bad = ip.is_in(invalid)
    bad = frame.filter(is_bad).select("_line", "ip_address", "attributes")
    fixed = []
    for line, value, attributes in bad.iter_rows():
        fixed.append((line, to_json({**_attributes_object(attributes), "ip_address_raw": value})))
    patch = pl.DataFrame(fixed, schema={"_line": pl.Int64, "_attrs": pl.String}, orient="row")
    notes.append(
        f"{bad.height} record(s) had an ip_address that is not an IP address "
        f"(e.g. {invalid[0]!r}); ip_address set to null, the value kept in "
        "attributes.ip_address_raw"
    )
    return (
        frame.join(patch, on="_line", how="left", maintain_order="left")
        .with_columns(
            attributes=pl.coalesce("_attrs", "attributes"),
            ip_address=pl.when(is_bad).then(None).otherwise(ip),
        )
        .drop("_attrs")
    )


# -- per-record path (JSON arrays, and JSON Lines blocks with a bad line) -----------------


def _records_to_batch(
    records: Iterable[tuple[int | None, bytes | str, Any]], rejects: Rejects
) -> Batch:
    """Flatten parsed records to string columns, then validate them like the fast path."""
    rows: list[dict[str, str | None]] = []
    numbers: list[int] = []
    raws: list[bytes | str] = []
    for number, raw, obj in records:
        if isinstance(obj, Exception):
            rejects.add(number, str(obj), raw)
            continue
        try:
            rows.append(_flatten(obj))
        except RecordError as exc:
            rejects.add(number, str(exc), raw)
            continue
        numbers.append(number if number is not None else len(numbers))
        raws.append(raw)
    columns = {c: [row.get(c) for row in rows] for c in _FLAT_COLUMNS}
    frame = pl.DataFrame(columns, schema={c: pl.String for c in _FLAT_COLUMNS})
    return _finish(frame, numbers, dict(zip(numbers, raws, strict=True)), rejects)


_FLAT_COLUMNS = [*_INPUT_COLUMNS]


def _flatten(obj: Any) -> dict[str, str | None]:
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    row: dict[str, str | None] = {}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        name = ALIASES.get(key, key)
        if name == "resource" and isinstance(value, dict):
            for part in ("type", "id", "name"):
                if value.get(part) is not None:
                    row[f"resource_{part}"] = str(value[part])
        elif name == "resource" and isinstance(value, str):
            kind, sep, rest = value.partition(":")
            row["resource_type"], row["resource_name"] = (kind, rest) if sep else (None, value)
        elif name in ("before", "after", "attributes"):
            row[name] = value if value is None or isinstance(value, str) else to_json(value)
        elif name == "ingested_at":
            continue  # set by the store that keeps the event (Parquet input drops it too)
        elif name in SCHEMA:
            if value is None:
                row[name] = None
            elif isinstance(value, str):
                row[name] = value
            elif name in ("timestamp", "duration_ms") and isinstance(value, int | float):
                row[name] = str(value)
            else:
                raise RecordError(
                    f"field {key!r} should be a string, got {type(value).__name__} "
                    f"{to_json(value)!s:.60}"
                )
        else:
            extra[key] = value
    if extra:
        row["attributes"] = to_json({**_attributes_object(row.get("attributes")), **extra})
    return row
