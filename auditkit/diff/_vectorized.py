"""The changed_fields column, computed for whole frames at once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any, TypeVar

import polars as pl

from auditkit.diff._changes import Change, _diff_root, _kind, _parse, format_path

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)

#: Rows whose text contains any of these go to the exact Python path (see docs/diff.md):
#: raw line breaks and tabs, whitespace after a string token or two after a colon (so
#: ``":`` counts keys and ``": null`` counts null-valued keys exactly), an escaped
#: backslash before a quote, and UTF-16 surrogate escapes.
_GUARDS = [
    ":  ",
    "\n",
    "\r",
    "\t",
    '" ',
    '\\\\"',
    *(f"\\ud{c}" for c in "89abcdef"),
]
_MAX_ROUNDS = 6
_SAMPLE = 1000
_EXACT_FLOAT = 2.0**53
_MIN_CHUNK = 4096


def changed_fields_expr() -> pl.Expr:
    """The ``changed_fields`` expression: sorted changed field paths of each row.

    Computed from ``pl.col("before")`` and ``pl.col("after")``; the paths are
    ``format_path`` of the top-level changes of :func:`diff` (a list change is reported
    at the list's path, creation/deletion list every top-level field, a change of a
    whole non-object value lists nothing). Rows where both are null give ``[]``.

    It runs batch-wise, never per row: the states' structure is learned from a sample,
    each batch is read by a strict typed JSON reader (pyarrow, else Polars) and compared
    column by column. Rows that reading cannot decide exactly (see docs/diff.md) are
    diffed in Python, once per distinct before/after pair. Identical texts are not
    parsed; any other invalid JSON raises :class:`DiffError`.
    """
    return (
        pl.struct(
            pl.col("before").cast(pl.String).alias("before"),
            pl.col("after").cast(pl.String).alias("after"),
        )
        .map_batches(_changed_fields_batch, return_dtype=pl.List(pl.String))
        .alias("changed_fields")
    )


def changed_fields(frame: F) -> F:
    """Add a ``changed_fields: List(String)`` column (see :func:`changed_fields_expr`).

    >>> df = pl.DataFrame({"before": ['{"title": "Report", "n": 1}'],
    ...                    "after": ['{"title": "Q2", "n": 1}']})
    >>> changed_fields(df)["changed_fields"].to_list()
    [['title']]
    """
    return frame.with_columns(changed_fields_expr())


def _field_paths(before: Any, after: Any) -> list[str]:
    out: list[Change] = []
    _diff_root(before, after, out, detail=False)
    return sorted({format_path(c.path) for c in out if c.path})


def _changed_fields_batch(pairs: pl.Series) -> pl.Series:
    n = len(pairs)
    if n == 0:
        return pl.Series("changed_fields", [], dtype=pl.List(pl.String))
    frame = pl.DataFrame(
        {"b": pairs.struct.field("before"), "a": pairs.struct.field("after")}
    ).with_row_index("i")
    is_null_text = {c: pl.col(c).str.strip_chars().is_in(["null", ""]) for c in ("b", "a")}
    frame = frame.with_columns(
        pl.when(is_null_text[c]).then(None).otherwise(pl.col(c)).alias(c) for c in ("b", "a")
    )
    trivial = (pl.col("b").is_null() & pl.col("a").is_null()) | (pl.col("b") == pl.col("a"))
    object_root = pl.all_horizontal(
        pl.col(c).is_null() | pl.col(c).str.strip_chars_start().str.starts_with("{")
        for c in ("b", "a")
    )
    guarded = pl.any_horizontal(
        pl.col(c).str.contains_any(_GUARDS, ascii_case_insensitive=True).fill_null(False)
        for c in ("b", "a")
    )
    frame = frame.with_columns(
        pl.when(trivial.fill_null(False))
        .then(pl.lit("trivial"))
        .when(object_root & ~guarded)
        .then(pl.lit("fast"))
        .otherwise(pl.lit("slow"))
        .alias("route")
    )
    parts = [
        frame.filter(pl.col("route") == "trivial").select(
            "i", pl.lit([], dtype=pl.List(pl.String)).alias("paths")
        )
    ]
    fast_done, leftover = _typed_paths(
        frame.filter(pl.col("route") == "fast").select("i", "b", "a")
    )
    parts.append(fast_done)
    slow = pl.concat([frame.filter(pl.col("route") == "slow").select("i", "b", "a"), leftover])
    parts.append(_python_paths(slow))
    out = pl.concat(parts).sort("i")
    return out.get_column("paths").alias("changed_fields")


def _python_paths(rows: pl.DataFrame) -> pl.DataFrame:
    """Exact paths via :func:`diff`, computed once per distinct (before, after) pair."""
    if rows.is_empty():
        return pl.DataFrame(schema={"i": pl.UInt32, "paths": pl.List(pl.String)})
    unique = rows.select("b", "a").unique()
    paths = [_field_paths(_parse(b, "before"), _parse(a, "after")) for b, a in unique.iter_rows()]
    unique = unique.with_columns(pl.Series("paths", paths, dtype=pl.List(pl.String)))
    return rows.join(unique, on=["b", "a"], how="left", nulls_equal=True).select("i", "paths")


class _Shape:
    """The union of JSON kinds seen at one path of a sample of states."""

    __slots__ = ("fields", "items", "kinds")

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.fields: dict[str, _Shape] = {}
        self.items: _Shape | None = None

    def add(self, value: Any) -> bool:
        """Merge one value; return whether anything new was learned."""
        kind = _kind(value)
        if kind == "number":
            if isinstance(value, float):
                kind = "float"
            else:
                kind = "int" if -(2**63) <= value < 2**63 else "bigint"
        new = kind not in self.kinds
        self.kinds.add(kind)
        if kind == "object":
            for key, child in value.items():
                shape = self.fields.get(key)
                if shape is None:
                    shape = self.fields[key] = _Shape()
                    new = True
                new |= shape.add(child)
        elif kind == "array":
            if self.items is None and value:
                self.items = _Shape()
                new = True
            for child in value:
                assert self.items is not None
                new |= self.items.add(child)
        return new


class _Spec:
    """How one path is read: its Polars dtype, or opaque (rows using it go to Python)."""

    __slots__ = ("dtype", "fields", "nullable", "opaque")

    def __init__(
        self, dtype: pl.DataType, fields: dict[str, _Spec] | None = None, opaque: bool = False
    ) -> None:
        self.dtype = dtype
        self.fields = fields or {}
        self.opaque = opaque
        self.nullable = False


def _spec(shape: _Shape) -> _Spec:
    spec = _spec_of_kinds(shape, shape.kinds - {"null"})
    spec.nullable = "null" in shape.kinds
    return spec


def _spec_of_kinds(shape: _Shape, kinds: set[str]) -> _Spec:
    if not kinds:  # only nulls seen
        return _Spec(pl.Null())
    if kinds == {"object"}:
        fields = {name: _spec(child) for name, child in shape.fields.items()}
        return _Spec(pl.Struct({name: s.dtype for name, s in fields.items()}), fields)
    if kinds == {"string"}:
        return _Spec(pl.Binary())
    if kinds == {"int"}:
        return _Spec(pl.Int64())
    if kinds and kinds <= {"int", "float"}:
        return _Spec(pl.Float64())
    if kinds == {"boolean"}:
        return _Spec(pl.Boolean())
    if kinds == {"array"}:
        if shape.items is None:  # only empty lists seen: any item type is a surprise
            return _Spec(pl.List(pl.Binary()))
        inner = _spec(shape.items)
        if not _nested_opaque(inner):
            return _Spec(pl.List(inner.dtype), {"": inner})
    return _Spec(pl.String(), opaque=True)


def _nested_opaque(spec: _Spec) -> bool:
    return spec.opaque or any(_nested_opaque(s) for s in spec.fields.values())


def _count_keys(expr: pl.Expr, spec: _Spec) -> pl.Expr:
    """Number of object keys the typed read accounted for (non-null values)."""
    dtype = spec.dtype
    if isinstance(dtype, pl.Struct):
        terms = []
        for name, child in spec.fields.items():
            value = expr.struct.field(name)
            terms.append(value.is_not_null().cast(pl.Int64))
            if _has_objects(child):
                terms.append(_count_keys(value, child).fill_null(0))
        return pl.sum_horizontal(terms) if terms else pl.lit(0, pl.Int64)
    if isinstance(dtype, pl.List) and "" in spec.fields and _has_objects(spec.fields[""]):
        inner = _count_keys(pl.element(), spec.fields[""])
        return expr.list.eval(inner).list.sum().fill_null(0)
    return pl.lit(0, pl.Int64)


def _has_objects(spec: _Spec) -> bool:
    return isinstance(spec.dtype, pl.Struct) or (
        isinstance(spec.dtype, pl.List) and "" in spec.fields and _has_objects(spec.fields[""])
    )


def _surprises(expr: pl.Expr, spec: _Spec, lenient: bool) -> pl.Expr:
    """True where a read lost something the other checks cannot see.

    ``lenient``: the read was Polars' (a value of the wrong type became null); otherwise
    it was pyarrow's strict read, where only float precision can be lost.
    """
    dtype = spec.dtype
    if spec.opaque:
        return expr.is_not_null()
    if isinstance(dtype, pl.Struct):
        terms = [_surprises(expr.struct.field(n), s, lenient) for n, s in spec.fields.items()]
        return pl.any_horizontal(terms).fill_null(False) if terms else pl.lit(False)
    if isinstance(dtype, pl.List):
        inner = spec.fields.get("") or _Spec(pl.Binary())  # placeholder for unseen items
        bad = _surprises(pl.element(), inner, lenient)
        if lenient:
            bad = pl.element().is_null() | bad
        return expr.list.eval(bad).list.any().fill_null(False)
    if dtype == pl.Float64():
        return (expr.abs() >= _EXACT_FLOAT).fill_null(False)
    if lenient and dtype == pl.Binary():  # Polars reads integers beyond 64 bits as debug text
        return expr.bin.starts_with(b"Static(").fill_null(False)
    return pl.lit(False)


def _flags(
    path: tuple[str, ...],
    before: dict[str, pl.Series],
    after: dict[str, pl.Series],
    spec: _Spec,
    both: pl.Series | None,
    nulls: dict[tuple[str, ...], tuple[pl.Series, pl.Series]],
) -> Iterator[tuple[str, pl.Series]]:
    """(path, changed?) for every field of ``spec``.

    ``both``: the parents are objects on both sides (``None``: at the root). ``nulls``:
    per countable nullable path, whether each side holds an explicit ``null`` there.
    """
    for name, child in spec.fields.items():
        sub = (*path, name)
        b, a = before[name], after[name]
        null_b, null_a = nulls.get(sub, (None, None))
        if isinstance(child.dtype, pl.Struct):
            bp, ap = b.is_not_null(), a.is_not_null()
            flag = bp != ap
            inner = bp & ap
        else:
            flag = b.ne_missing(a)
        if null_b is not None and null_a is not None:
            flag = flag | (null_b != null_a)
        if both is not None:
            flag = flag & both
        yield format_path(sub), flag
        if isinstance(child.dtype, pl.Struct):
            if both is not None:
                inner = inner & both
            if child.fields and inner.any():
                yield from _flags(sub, _fields(b), _fields(a), child, inner, nulls)


def _fields(struct: pl.Series) -> dict[str, pl.Series]:
    return {f.name: struct.struct.field(f.name) for f in struct.dtype.fields}  # type: ignore[attr-defined]


def _typed_paths(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Changed paths for rows whose JSON the typed reader decodes exactly.

    Returns the decided rows (``i``, ``paths``) and the rows left for Python (``i``,
    ``b``, ``a``).
    """
    done = [pl.DataFrame(schema={"i": pl.UInt32, "paths": pl.List(pl.String)})]
    shape = _Shape()
    pending = rows
    for _ in range(_MAX_ROUNDS):
        if pending.is_empty():
            break
        texts = pl.concat([pending["b"], pending["a"]]).drop_nulls().unique(maintain_order=True)
        step = max(1, len(texts) // _SAMPLE)
        learned = False
        for text in texts.gather_every(step).head(_SAMPLE):
            try:
                learned |= shape.add(json.loads(text))
            except ValueError:  # invalid JSON: the Python path raises the proper error
                return pl.concat(done), pending
        if not learned and len(done) > 1:
            break
        spec = _spec(shape)
        if not isinstance(spec.dtype, pl.Struct):
            break
        try:
            decided, pending = _read_and_compare(pending, spec)
        except pl.exceptions.PolarsError:  # e.g. a malformed line: let Python report it
            break
        done.append(decided)
    return pl.concat(done), pending


def _read_and_compare(rows: pl.DataFrame, spec: _Spec) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decide the rows the typed read decodes exactly; return (decided, undecided) rows."""
    schema = dict(spec.dtype.to_schema())  # type: ignore[attr-defined]
    read = _read_arrow(rows, spec)
    if read is None and len(rows) >= 2 * _MIN_CHUNK and _arrow_type(spec) is not None:
        # One row that does not fit fails a strict read: retry in chunks so only the
        # chunks holding such rows take the lenient read.
        size = max(_MIN_CHUNK, -(-len(rows) // 16))
        parts = [_read_and_compare(chunk, spec) for chunk in rows.iter_slices(size)]
        return pl.concat([d for d, _ in parts]), pl.concat([u for _, u in parts])
    nulls: dict[tuple[str, ...], tuple[pl.Series, pl.Series]] = {}
    if read is not None:  # strict read succeeded: only float precision and nulls to check
        countable = _countable_nulls(spec)
        checks, where = [], []
        for side in ("b", "a"):
            surprise = (
                pl.DataFrame(read[side]).select(_any_surprise(spec, lenient=False)).to_series()
                if spec.fields
                else pl.Series([False] * len(rows))
            )
            accounted, located = _null_keys(rows[side], countable)
            checks.append(accounted & ~surprise)
            where.append(located)
        nulls = {path: (where[0][path], where[1][path]) for path in countable}
    else:
        read, checks = {}, []
        for side in ("b", "a"):
            # A null state reads as {}: no fields, which is what creation/deletion compare to.
            buffer = rows[side].fill_null("{}").str.join("\n").item().encode()
            frame = pl.read_ndjson(buffer, schema=schema, ignore_errors=True)
            read[side] = {name: frame[name] for name in schema}
            text = rows[side]
            written = text.str.count_matches('":', literal=True) - text.str.count_matches(
                '\\":', literal=True
            )
            counted = frame.select(
                pl.sum_horizontal(
                    [pl.col(n).is_not_null().cast(pl.Int64) for n in schema]
                    + [
                        _count_keys(pl.col(n), s).fill_null(0)
                        for n, s in spec.fields.items()
                        if _has_objects(s)
                    ]
                ).alias("k"),
                _any_surprise(spec, lenient=True).alias("s"),
            )
            no_nulls = _null_keys(text, {})[0]
            checks.append((written.fill_null(0) == counted["k"]) & ~counted["s"] & no_nulls)
    ok = checks[0] & checks[1]
    before, after = read["b"], read["a"]
    if not ok.all():
        good_index = ok.arg_true()
        before = {n: s.gather(good_index) for n, s in before.items()}
        after = {n: s.gather(good_index) for n, s in after.items()}
        nulls = {p: (b.gather(good_index), a.gather(good_index)) for p, (b, a) in nulls.items()}
    flags = list(_flags((), before, after, spec, None, nulls))
    good = rows.select("i").filter(ok)
    return _paths_from_flags(good, flags), rows.filter(~ok).select("i", "b", "a")


def _countable_nulls(spec: _Spec) -> dict[tuple[str, ...], str]:
    """Nullable paths whose key name occurs nowhere else: ``"name": null`` locates them."""
    seen: Counter[str] = Counter()
    nullable: dict[tuple[str, ...], str] = {}

    def walk(node: _Spec, path: tuple[str, ...], in_list: bool) -> None:
        for name, child in node.fields.items():
            if isinstance(node.dtype, pl.List):
                walk(child, path, True)
                continue
            seen[name] += 1
            if child.nullable and not in_list:
                nullable[(*path, name)] = name
            walk(child, (*path, name), in_list)

    walk(spec, (), False)
    return {path: name for path, name in nullable.items() if seen[name] == 1}


def _null_keys(
    text: pl.Series, countable: dict[tuple[str, ...], str]
) -> tuple[pl.Series, dict[tuple[str, ...], pl.Series]]:
    """Per row: whether every null-valued key is a countable one, and which ones hold null.

    ``": null`` occurrences (minus escaped quotes inside strings) count the null-valued
    keys exactly; each must be a ``"name": null`` pair of a countable name.
    """

    def count(pattern: str) -> pl.Series:
        return text.str.count_matches(pattern, literal=True).fill_null(0)

    total = count('": null') + count('":null') - count('\\": null') - count('\\":null')
    if not countable:
        return total == 0, {}
    pairs = text.str.extract_all(r'"[^"\\]*": ?null').fill_null([])
    names = pairs.list.eval(pl.element().str.replace(r'": ?null$', '"'))
    spelled = {
        path: {json.dumps(n, ensure_ascii=False), json.dumps(n)} for path, n in countable.items()
    }
    known = sorted({token for tokens in spelled.values() for token in tokens})
    all_known = names.list.eval(pl.element().is_in(known)).list.all()
    accounted = (names.list.len() == total) & all_known
    where = {
        path: names.list.eval(pl.element().is_in(sorted(tokens))).list.any()
        for path, tokens in spelled.items()
    }
    return accounted, where


def _any_surprise(spec: _Spec, *, lenient: bool) -> pl.Expr:
    terms = [_surprises(pl.col(n), s, lenient) for n, s in spec.fields.items()]
    return pl.any_horizontal(terms) if terms else pl.lit(False)


def _arrow_type(spec: _Spec) -> Any:
    import pyarrow as pa

    dtype = spec.dtype
    if spec.opaque:
        return None
    if isinstance(dtype, pl.Struct):
        fields = [(name, _arrow_type(child)) for name, child in spec.fields.items()]
        if any(t is None for _, t in fields):
            return None
        return pa.struct(fields)
    if isinstance(dtype, pl.List):
        inner = spec.fields.get("")
        item = _arrow_type(inner) if inner is not None else pa.string()
        return None if item is None else pa.list_(item)
    return {
        pl.Null: pa.null(),
        pl.Binary: pa.string(),
        pl.Int64: pa.int64(),
        pl.Float64: pa.float64(),
        pl.Boolean: pa.bool_(),
    }.get(dtype.base_type())


def _read_arrow(rows: pl.DataFrame, spec: _Spec) -> dict[str, dict[str, pl.Series]] | None:
    """Read both sides with pyarrow's strict JSON reader, or ``None`` if anything does not fit.

    pyarrow fails the whole read on a type mismatch, an unknown key or a repeated key,
    so a successful read decoded every value exactly (up to float precision).
    """
    import pyarrow as pa
    import pyarrow.json as pa_json

    root = _arrow_type(spec)
    if root is None:
        return None
    longest = rows.select(pl.max_horizontal(pl.col("b", "a").str.len_bytes().max())).item() or 0
    read_options = pa_json.ReadOptions(block_size=max(1 << 20, 2 * longest + 1024))
    parse_options = pa_json.ParseOptions(
        explicit_schema=pa.schema(list(root)), unexpected_field_behavior="error"
    )
    out = {}
    for side in ("b", "a"):
        buffer = rows[side].fill_null("{}").str.join("\n").item().encode()
        try:
            table = pa_json.read_json(
                pa.BufferReader(buffer), read_options=read_options, parse_options=parse_options
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        frame = pl.DataFrame(pl.from_arrow(table))
        if len(frame) != len(rows):
            return None
        out[side] = {name: frame[name] for name in spec.fields}
    return out


def _paths_from_flags(rows: pl.DataFrame, flags: list[tuple[str, pl.Series]]) -> pl.DataFrame:
    """Turn per-path boolean flags into sorted path lists, one Python list per pattern."""
    if rows.is_empty() or not flags:
        return rows.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("paths"))
    words = {}
    for start in range(0, len(flags), 63):
        chunk = flags[start : start + 63]
        word = pl.Series([0] * len(rows), dtype=pl.Int64)
        for bit, (_, flag) in enumerate(chunk):
            word = word + flag.cast(pl.Int64) * (1 << bit)
        words[f"w{start}"] = word
    patterns = pl.DataFrame(words)
    unique = patterns.unique()
    names = [name for name, _ in flags]
    lists = []
    for row in unique.iter_rows():
        paths = [
            names[start + bit]
            for start, word in zip(range(0, len(flags), 63), row, strict=True)
            for bit in range(63)
            if word >> bit & 1
        ]
        lists.append(sorted(paths))
    unique = unique.with_columns(pl.Series("paths", lists, dtype=pl.List(pl.String)))
    keyed = pl.concat([rows, patterns], how="horizontal")
    return keyed.join(unique, on=list(words), how="left").select("i", "paths")
