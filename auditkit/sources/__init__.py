"""Source adapters: each input format becomes frames in the canonical schema.

Adapters are found through one registry. Built-ins (``native``, ``cloudtrail``,
``github``) are declared as ``auditkit.sources`` entry points in ``pyproject.toml`` —
exactly how a third-party package adds its own — and a program can also call
:func:`register` directly. Nothing is loaded at import time.

An adapter reads a file and yields :class:`Batch` objects: canonical events plus the
records it could not load (rejects), each with file, line (or record index), reason and
raw text. Nothing is dropped silently.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import hashlib
import ipaddress
import json
import math
import re
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from queue import Empty, Full, Queue
from typing import IO, Any, Protocol, cast, runtime_checkable

import orjson
import polars as pl

from auditkit.errors import RejectedRecordError, SourceError
from auditkit.schema import SCHEMA, conform

#: Columns of a rejects frame.
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "line": pl.Int64(),
    "reason": pl.String(),
    "raw": pl.String(),
}

#: How many bytes of a file :func:`detect` shows to each adapter's ``sniff``.
HEAD_BYTES = 64 * 1024
#: What a damaged or truncated gzip stream raises part-way through.
GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)

#: Raw text kept for a rejected record (a 10 MB field is not copied whole).
MAX_RAW = 100_000


@dataclass
class Batch:
    """A chunk of loaded events and the records that could not be loaded.

    Attributes:
        events: canonical events (``ingested_at`` null; the store sets it).
        rejects: frame in :data:`REJECT_SCHEMA`.
        notes: things the user should hear that are neither events nor errors
            (e.g. "a CloudTrail digest file, not events").
    """

    events: pl.DataFrame
    rejects: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REJECT_SCHEMA))
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class Source(Protocol):
    """What an adapter provides. Register an instance under its ``name``."""

    name: str
    description: str

    def sniff(self, path: Path, head: bytes) -> bool:
        """Whether this adapter recognises the file from its first bytes (decompressed)."""
        ...

    def read(self, path: Path, *, strict: bool = False) -> Iterator[Batch]:
        """Yield batches of events and rejects; in strict mode raise on the first reject."""
        ...


_REGISTRY: dict[str, Source] = {}
_BROKEN: dict[str, str] = {}  # entry points that failed to load → why
_ENTRY_POINTS_LOADED = False
# Order in which detection asks adapters; the most specific formats go first.
_DETECTION_ORDER = ("cloudtrail", "github", "native")


def register(source: Source, *, replace: bool = False) -> None:
    """Add an adapter to the registry.

    Raises:
        ValueError: if the name is taken and ``replace`` is false.
    """
    if not isinstance(source, Source):
        raise TypeError(f"{source!r} does not implement auditkit.sources.Source")
    if source.name in _REGISTRY and not replace and _REGISTRY[source.name] is not source:
        raise SourceError(
            f"a source named {source.name!r} is already registered; pass replace=True to swap it"
        )
    _REGISTRY[source.name] = source


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group="auditkit.sources"):
        if ep.name in _REGISTRY:
            continue
        try:
            register(ep.load())
        except Exception as exc:  # a broken plugin must not hide the working sources
            _BROKEN[ep.name] = f"{ep.value} failed to load: {type(exc).__name__}: {exc}"


def available() -> dict[str, Source]:
    """All registered adapters by name (built-ins and plugins)."""
    _load_entry_points()
    return dict(_REGISTRY)


def get(name: str) -> Source:
    """The adapter called ``name``.

    Raises:
        SourceError: naming the valid adapters when there is none by that name.
    """
    sources = available()
    if name in _BROKEN and name not in sources:
        raise SourceError(f"source format {name!r} is installed but broken: {_BROKEN[name]}")
    if name not in sources:
        raise SourceError(
            f"unknown source format {name!r}; valid formats: {', '.join(sorted(sources))}"
        )
    return sources[name]


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a file, decompressed when it is gzip."""
    with open_binary(path) as fh:
        try:
            return fh.read(size)
        except GZIP_ERRORS:
            pass  # a truncated or damaged gzip file: its adapter reports the damage
    head = b""
    inflate = zlib.decompressobj(31)
    with open(path, "rb") as raw:
        while len(head) < size and (chunk := raw.read(CHUNK)):
            try:
                head += inflate.decompress(chunk, size - len(head))
            except zlib.error:
                break
    return head


def detect(path: Path) -> Source:
    """Find the adapter for a file by asking each registered one to sniff it.

    Raises:
        SourceError: when no adapter recognises it, saying what the file looks like.
    """
    head = read_head(path)
    if not head.strip():
        raise SourceError(f"{path}: the file is empty; there is nothing to load.", path=str(path))
    sources = available()
    ordered = [sources[n] for n in _DETECTION_ORDER if n in sources]
    ordered += [s for n, s in sorted(sources.items()) if n not in _DETECTION_ORDER]
    for source in ordered:
        if source.sniff(path, head):
            return source
    preview = head[:80].decode("utf-8", "replace")
    broken = "".join(f"\n(source {n!r} could not be asked: {why})" for n, why in _BROKEN.items())
    raise SourceError(
        f"{path}: not a log format auditkit recognises (starts with {preview!r}).{broken}\n"
        f"Hint: name the format with --format ({', '.join(sorted(sources))}); "
        "formats: JSON array, JSON Lines, CSV with a header, Parquet, CloudTrail, GitHub.",
        path=str(path),
    )


def read(path: str | Path, *, format: str | None = None, strict: bool = False) -> Iterator[Batch]:
    """Read a file or a directory tree of files into batches.

    Args:
        path: a file, or a directory whose files are read in name order.
        format: an adapter name; detected per file when omitted.
        strict: raise :class:`RejectedRecordError` on the first bad record.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or directory", path=str(path))
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        source = get(format) if format else detect(file)
        yield from source.read(file, strict=strict)


def read_ahead(batches: Iterable[Batch], depth: int = 2) -> Iterator[Batch]:
    """Yield ``batches`` while a background thread reads up to ``depth`` more.

    Parsing (Polars, numpy) and storing (Parquet encoding) release the GIL, so on two
    cores the next blocks are parsed while the caller writes the previous ones. An
    error in the reader is raised here, in order, after the batches read before it;
    when the caller stops early the reader stops at its next batch.
    """
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        queue.put(("batch", batch), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(("error", exc))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:  # a generator: close its files now, in its thread
                close()

    reader = threading.Thread(target=produce, name="auditkit-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            kind, value = queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting to put
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)
        reader.join()


# ---------------------------------------------------------------------------
# Building blocks shared by adapters


def is_gzip(path: Path) -> bool:
    """Whether the file holds gzip data (by its magic bytes, whatever its name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, transparently gunzipping gzip content.

    Closing the returned object closes the file, gzip or not.
    """
    if is_gzip(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def stable_id(source: str, raw: bytes | str) -> str:
    """A stable event id for a record without one: a hash of the source name and raw text."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return source + "_" + hashlib.sha256(source.encode() + b"\0" + data).hexdigest()[:32]


def ip_or_none(value: object) -> str | None:
    """``value`` as a normalized IP address string, or None when it is not an IP address."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def parse_timestamp(value: object) -> datetime:
    """Parse an ISO-8601 string or epoch seconds / milliseconds into an aware UTC datetime.

    Raises:
        ValueError: naming the value and the accepted forms.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"missing or invalid timestamp {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"timestamp {value!r} is out of range") from exc
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_timestamp(int(text))
        if re.fullmatch(r"\d+\.\d+", text):  # epoch with a fraction, e.g. 1727776800.25
            return parse_timestamp(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" UTC", "+00:00"))
        except ValueError as exc:
            raise ValueError(
                f"timestamp {value!r} is not ISO-8601 (like 2024-06-12T10:15:30Z) "
                "or epoch seconds/milliseconds"
            ) from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    raise ValueError(f"timestamp {value!r} has type {type(value).__name__}, expected a string")


def to_json(value: Any) -> str | None:
    """Compact JSON text of a value (None stays None), keys in their original order."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def fast_json(value: Any) -> str | None:
    """:func:`to_json`, by orjson (several times faster) for the values orjson writes
    the same way: those :func:`loads` returns. Anything else (an integer beyond 64 bits,
    a lone surrogate, NaN or Infinity as :func:`loads` keeps them, a datetime) is handed
    to :func:`to_json`. The one difference: a float with a small exponent is written
    ``1e-7`` instead of ``1e-07``, the same number."""
    if value is None:
        return None
    try:
        return orjson.dumps(value, default=_refuse, option=_PASSTHROUGH).decode()
    except TypeError:
        return to_json(value)


def loads(data: bytes) -> Any:
    """Parse one JSON text, as :func:`json.loads` does.

    orjson parses it when it can (strict JSON, several times faster), except where it
    would lose something: text with a run of 20 or more digits (an integer beyond 64
    bits, which orjson turns into a float) goes to :mod:`json`, as does everything orjson
    refuses, so errors are json's. NaN, Infinity and out-of-range numbers, which Python's
    json reads though JSON has no such values, come back as :class:`NonFinite` floats.

    Raises:
        UnicodeDecodeError: ``data`` is not UTF-8.
        ValueError: ``data`` is not JSON.
    """
    if _TWENTY_DIGITS not in data.translate(_DIGITS):  # (a regex is ten times slower)
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data.decode("utf-8"), parse_constant=NonFinite, parse_float=_float)


def record_or_error(raw: bytes) -> Any:
    """``raw`` parsed by :func:`loads`, or the ``ValueError`` saying why it cannot be
    (for the caller to reject, not raise)."""
    try:
        return loads(raw)
    except UnicodeDecodeError as exc:
        return ValueError(f"not valid UTF-8 at byte {exc.start}")
    except ValueError as exc:
        return ValueError(f"not valid JSON: {exc}")


class NonFinite(float):
    """NaN or ±Infinity read from a JSON text: a float, written back as it was read."""


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def _refuse(value: Any) -> Any:
    raise TypeError(f"left to json: {type(value).__name__}")


_DIGITS = bytes(ord("0") if chr(b).isdigit() and b < 128 else ord(".") for b in range(256))
_TWENTY_DIGITS = b"0" * 20
_PASSTHROUGH = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class RecordError(ValueError):
    """Raised by an adapter's per-record mapping to reject that record with a reason."""


class Rejects:
    """Collects rejected records for one file; raises at once in strict mode."""

    def __init__(self, file: Path | str, *, strict: bool) -> None:
        self.file = str(file)
        self.strict = strict
        self.rows: list[tuple[str, int | None, str, str]] = []

    def add(self, line: int | None, reason: str, raw: bytes | str) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if self.strict:
            raise RejectedRecordError(self.file, line, reason, text)
        self.rows.append((self.file, line, reason, text[:MAX_RAW]))

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pl.DataFrame:
        """The rejects collected so far as a frame, and forget them."""
        rows, self.rows = self.rows, []
        return pl.DataFrame(rows, schema=REJECT_SCHEMA, orient="row")


def rows_to_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Canonical events from mapped row dicts (keys are schema columns; missing → null)."""
    return conform(pl.from_dicts(rows, schema=_BUILD_SCHEMA, strict=False))


def _build_dtype(name: str) -> pl.DataType:
    dtype = SCHEMA[name]
    return pl.String() if isinstance(dtype, pl.Enum) else dtype


#: What adapters' row dicts are read as (enums as text, checked by ``conform``).
_BUILD_SCHEMA = {name: _build_dtype(name) for name in SCHEMA if name != "ingested_at"}


def map_records(
    records: Iterable[tuple[int | None, bytes | str, Any]],
    mapper: Any,
    rejects: Rejects,
    *,
    batch_size: int = 50_000,
) -> Iterator[Batch]:
    """Apply a per-record ``mapper(obj) -> dict | None`` and batch the results.

    ``records`` yields ``(line, raw, obj)``; ``obj`` is an exception instance when the
    record could not even be parsed. The mapper raises :class:`RecordError` to reject a
    record; returning None skips a record that is not an event (the adapter must then add
    a note saying so).
    """
    rows: list[dict[str, Any]] = []
    for line, raw, obj in records:
        if isinstance(obj, Exception):
            rejects.add(line, str(obj), raw)
            continue
        try:
            row = mapper(obj)
        except RecordError as exc:
            rejects.add(line, str(exc), raw)
            continue
        if row is None:
            continue
        if row.get("event_id") is None:
            row["event_id"] = stable_id(row.get("source") or "unknown", raw)
        rows.append(row)
        if len(rows) >= batch_size:
            yield Batch(rows_to_frame(rows), rejects.frame())
            rows = []
    yield Batch(rows_to_frame(rows), rejects.frame())


Record = tuple[int | None, bytes | str, Any]
CHUNK = 1 << 20
_SURROGATE_RE = re.compile("[\udc80-\udcff]")


def iter_json_records(path: Path) -> Iterator[Record]:
    """Records of a JSON file: a JSON array, one (pretty-printed) object, or JSON Lines.

    Yields ``(line_or_index, raw, obj)``: for JSON Lines ``line`` is the 1-based line
    number, for an array the 0-based record index. A record that is not valid JSON (or
    not UTF-8) is yielded with a ``ValueError`` in place of ``obj`` so the caller rejects
    it without losing the rest of the file. Arrays are read incrementally.
    """
    readers = {
        "array": iter_json_array,
        "object": iter_json_object,
        "lines": iter_json_lines,
        "empty": lambda _path: iter(()),
        "csv": iter_json_lines,
    }
    yield from guard(readers[layout(path)](path))


def iter_json_lines(path: Path) -> Iterator[Record]:
    """JSON Lines as ``(line number, raw bytes, parsed object or ValueError)``.

    Blank lines are skipped.
    """
    with open_binary(path) as fh:
        for number, raw in enumerate(fh, start=1):
            stripped = raw.strip()
            if not stripped:
                continue
            yield number, stripped, record_or_error(stripped)


def _raw(text: str) -> bytes:
    return text[:MAX_RAW].encode("utf-8", "surrogateescape")


def iter_json_array(path: Path) -> Iterator[Record]:
    """The elements of a JSON array, read incrementally (0-based index, raw, object).

    Memory holds one element at a time, not the file. An element with bytes that are
    not UTF-8 is yielded with a ``ValueError``; damage that breaks the JSON syntax ends
    the array there: the rest is yielded once, as one ``ValueError``.
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    with open_binary(path) as fh:
        buf = utf8.decode(fh.read(CHUNK)).lstrip("\ufeff \t\r\n")
        eof = False

        def more(size: int) -> str:
            nonlocal eof
            data = fh.read(size)
            if not data:
                eof = True
            return utf8.decode(data, final=eof)

        pos = buf.index("[") + 1 if buf.startswith("[") else 0
        index = 0
        while True:
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    pos += 1
                if pos < len(buf) or eof:
                    break
                buf, pos = buf[pos:] + more(CHUNK), 0
            if pos >= len(buf):
                yield index, b"", ValueError("the JSON array is not closed (file truncated?)")
                return
            if buf[pos] == "]":
                return
            size = CHUNK
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                except ValueError as exc:
                    if eof:
                        reason = f"not valid JSON (array truncated or damaged from here): {exc}"
                        yield index, _raw(buf[pos:]), ValueError(reason)
                        return
                    buf, pos = buf[pos:] + more(size), 0
                    size *= 2
                    continue
                if end == len(buf) and not eof and buf[pos] not in '{["':
                    buf, pos = buf[pos:] + more(size), 0  # a bare number may continue
                    continue
                break
            text = buf[pos:end]
            if _SURROGATE_RE.search(text):
                yield index, _raw(text), ValueError("not valid UTF-8")
            else:
                yield index, text, obj
            index += 1
            pos = end
            if pos > CHUNK:
                buf, pos = buf[pos:], 0


def iter_json_object(path: Path) -> Iterator[Record]:
    """A file holding one (pretty-printed) JSON object."""
    with open_binary(path) as fh:
        data = fh.read()
    yield 1, data, record_or_error(data)


def guard(records: Iterator[Record]) -> Iterator[Record]:
    """Turn a truncated or damaged gzip stream into one reject instead of a crash, placed
    just after the last record read (or with no place, if none was)."""
    last: int | None = None
    try:
        for record in records:
            last = record[0]
            yield record
    except GZIP_ERRORS as exc:
        reason = f"the compressed file is truncated or damaged; reading stopped here ({exc})"
        yield None if last is None else last + 1, b"", ValueError(reason)


def layout(path: Path) -> str:
    """``empty``, ``array``, ``object`` (one pretty-printed object), ``lines`` or ``csv``."""
    try:
        with open_binary(path) as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
            if not head:
                return "empty" if not fh.read(HEAD_BYTES).strip() else "lines"
        if head.startswith(b"["):
            return "array"
        if head.startswith(b"{"):
            with open_binary(path) as fh:
                first = fh.readline().strip().lstrip(b"\xef\xbb\xbf")
            return "object" if first == b"{" else "lines"
    except GZIP_ERRORS as exc:
        raise SourceError(f"{path}: cannot read the file: {exc}", path=str(path)) from exc
    return "csv"
