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

import importlib
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

import polars as pl

from auditkit import schema
from auditkit.errors import QueryError, SearchSyntaxError
from auditkit.filters import (
    _ACTOR_TYPE_PHRASES,
    ACTOR_TYPE_ALIASES,
    STATUS_ALIASES,
    CalendarDay,
    Context,
    DateRange,
    Last,
    TimeFilter,
    _all_of_exprs,
    _any_of_exprs,
    _did_you_mean,
    _join_clauses,
    _or_list,
    _require_me,
    _wildcard_regex,
)

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

# --------------------------------------------------------------------------- the AST


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

# --------------------------------------------------------------------------- keys

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


# --------------------------------------------------------------------------- values


class _BadValue(Exception):
    """A value did not validate; ``offset`` is relative to the start of the value."""

    def __init__(self, message: str, offset: int = 0, valid: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.valid = list(valid)


def _vocabulary(raw: str, vocabulary: Sequence[str], aliases: dict[str, str], what: str) -> str:
    value = raw.lower()
    value = aliases.get(value, value)
    if value not in vocabulary:
        raise _BadValue(
            f"unknown {what} {raw!r}{_did_you_mean(value, vocabulary)}",
            valid=[*vocabulary, *aliases],
        )
    return value


def _normalize_value(key: str, raw: str) -> str:
    """Validate one value of ``key`` and return its canonical form."""
    if key == "status":
        return _vocabulary(raw, schema.STATUSES, STATUS_ALIASES, "status")
    if key == "actor_type":
        return _vocabulary(raw, schema.ACTOR_TYPES, ACTOR_TYPE_ALIASES, "actor type")
    if key == "has":
        return _vocabulary(raw, list(_HAS), {}, "value for has:")
    if key == "date":
        return _date_spec(raw).text
    if key == "ip":
        return _ip_spec(raw).text
    if key == "user" and raw.lower() == "me":
        return "me"
    if key == "action" and re.fullmatch(r"[a-z]+", raw) and raw not in schema.ACTIONS:
        raise _BadValue(
            f"unknown action {raw!r}{_did_you_mean(raw, schema.ACTIONS)} "
            f"(to match a source's own operation name, use operation:{raw})",
            valid=schema.ACTIONS,
        )
    if key == "changed" and "*" in raw:
        raise _BadValue("changed: takes a field name, without wildcards", raw.index("*"))
    return raw


# --------------------------------------------------------------------------- dates

_RELATIVE = re.compile(r"([0-9]+)([hdw])")
_UNIT_NAMES = {"h": "hours", "d": "days", "w": "weeks"}
_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)
_DATE_FORMS = [
    "today",
    "yesterday",
    "7d",
    "24h",
    "2w",
    "2024-06-12",
    "2024-06-12T10:30",
    ">=2024-06-01",
    ">2024-06-01",
    "<=2024-06-30",
    "<2024-07-01",
    "2024-06-01..2024-06-30",
    "2024-06-01..*",
    "*..2024-06-30",
]


@dataclass(frozen=True)
class _Moment:
    """A date, or a datetime (naive = wall time in ``ctx.tz``) with the span it names."""

    text: str
    value: date | datetime
    span: timedelta  # 1 day for a date; the last written unit for a datetime

    @property
    def is_date(self) -> bool:
        return not isinstance(self.value, datetime)

    def start(self, ctx: Context) -> date | datetime:
        """The day itself for a date (``DateRange`` places it in ``ctx.tz``), else UTC."""
        if isinstance(self.value, datetime):
            return ctx.localize(self.value)
        return self.value

    def after(self, ctx: Context) -> date | datetime:
        """The first instant after: the next day for a date, +1 µs for a datetime."""
        if isinstance(self.value, datetime):
            return ctx.localize(self.value) + timedelta(microseconds=1)
        return self.value + timedelta(days=1)

    @property
    def display(self) -> str:
        return self.text.replace("T", " ").replace("Z", " UTC")


def _moment(text: str, offset: int, shown: str) -> _Moment:
    match = _MOMENT.fullmatch(text)
    if match is None:
        raise _BadValue(
            f"bad date {shown!r}; expected YYYY-MM-DD[THH:MM[:SS]]", offset, _DATE_FORMS
        )
    y, mo, d, h, mi, s, frac, tz = match.groups()
    if not 1000 <= int(y) <= 9998:
        raise _BadValue(f"bad date {shown!r}: the year must be 1000–9998", offset, _DATE_FORMS)
    try:
        if h is None:
            return _Moment(text, date(int(y), int(mo), int(d)), timedelta(days=1))
        micro = int((frac or "").ljust(6, "0")) if frac else 0
        tzinfo = None
        if tz is not None:
            if tz.upper() == "Z":
                tzinfo = UTC
            else:
                sign = 1 if tz[0] == "+" else -1
                tzinfo = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
        value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro, tzinfo)
    except ValueError as exc:
        raise _BadValue(f"bad date {shown!r}: {exc}", offset, _DATE_FORMS) from None
    span = (
        timedelta(microseconds=1) if frac else timedelta(seconds=1) if s else timedelta(minutes=1)
    )
    return _Moment(text, value, span)


@dataclass(frozen=True)
class _DateSpec:
    """One ``date:`` value: a relative preset, a comparison, a range, or a moment."""

    text: str  # canonical text
    preset: TimeFilter | None = None
    op: str = ""  # ">=", ">", "<=", "<", "..", or "" for a bare moment
    lo: _Moment | None = None
    hi: _Moment | None = None

    def to_filter(self, ctx: Context) -> TimeFilter:
        if self.preset is not None:
            return self.preset
        lo, hi = self.lo, self.hi
        if self.op == "..":
            return DateRange(lo.start(ctx) if lo else None, hi.after(ctx) if hi else None)
        assert lo is not None
        if self.op == ">=":
            return DateRange(start=lo.start(ctx))
        if self.op == ">":
            return DateRange(start=lo.after(ctx))
        if self.op == "<=":
            return DateRange(end=lo.after(ctx))
        if self.op == "<":
            return DateRange(end=lo.start(ctx))
        if isinstance(lo.value, datetime):  # a bare datetime: the minute/second it names
            start = ctx.localize(lo.value)
            return DateRange(start, start + lo.span)
        return DateRange(lo.value, lo.value, end_inclusive=True)

    def describe(self) -> str:
        if self.preset is not None:
            return self.preset.describe()
        lo, hi = self.lo, self.hi
        if self.op == "..":
            if lo and hi:
                return f"from {lo.display} to {hi.display}"
            if lo:
                return f"on or after {lo.display}"
            if hi:
                return f"on or before {hi.display}"
            return "at any time"
        assert lo is not None
        words = {">=": "on or after", ">": "after", "<=": "on or before", "<": "before"}
        if self.op:
            return f"{words[self.op]} {lo.display}"
        return f"on {lo.display}" if lo.is_date else f"at {lo.display}"


@lru_cache(maxsize=1024)
def _date_spec(raw: str) -> _DateSpec:
    text = raw.strip()
    lower = text.lower()
    if lower in ("today", "yesterday"):
        return _DateSpec(lower, preset=CalendarDay(0 if lower == "today" else 1))
    relative = _RELATIVE.fullmatch(lower)
    if relative:
        amount = int(relative.group(1))
        if amount < 1:
            raise _BadValue(f"bad relative date {text!r}: the amount must be at least 1")
        unit = relative.group(2)
        try:
            preset = Last(amount, _UNIT_NAMES[unit])
        except QueryError:
            raise _BadValue(
                f"bad relative date {text!r}: more than 100 years back; use a date range", 0
            ) from None
        return _DateSpec(f"{amount}{unit}", preset=preset)
    for op in (">=", "<=", ">", "<"):
        if text.startswith(op):
            moment = _canonical_moment(text[len(op) :], len(op))
            return _DateSpec(op + moment.text, op=op, lo=moment)
    if ".." in text:
        left, right = text.split("..", 1)
        lo = None if left == "*" else _canonical_moment(left, 0)
        hi = None if right == "*" else _canonical_moment(right, len(left) + 2)
        spec = _DateSpec(
            f"{lo.text if lo else '*'}..{hi.text if hi else '*'}", op="..", lo=lo, hi=hi
        )
        if lo and hi:
            probe = Context(now=datetime(2000, 1, 1, tzinfo=UTC))
            start, end = lo.start(probe), hi.after(probe)
            if isinstance(start, datetime) == isinstance(end, datetime) and start >= end:
                raise _BadValue(
                    f"date range {text!r} ends before it starts", len(left) + 2, _DATE_FORMS
                )
        return spec
    if text in ("", "*"):
        raise _BadValue(f"bad date {text!r}", 0, _DATE_FORMS)
    moment = _canonical_moment(text, 0)
    return _DateSpec(moment.text, lo=moment)


def _canonical_moment(text: str, offset: int) -> _Moment:
    if not text:
        raise _BadValue("missing date after the operator", offset, _DATE_FORMS)
    return _moment(text.upper().replace(" ", "T"), offset, shown=text)


# --------------------------------------------------------------------------- IP addresses

_IP_FORMS = [
    "203.0.113.7",
    "192.168.1",
    "192.168.1.*",
    "10.0.0.0/8",
    "2001:db8::1",
    "2001:db8:",
    "2001:db8::/32",
]
_IPV4_ANY = r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"


@dataclass(frozen=True)
class _IpSpec:
    """One ``ip:`` value: an exact IPv4 address, an IPv4 octet prefix, or a network."""

    text: str
    exact_v4: str | None = None
    prefix_v4: str | None = None  # "192.168.1." (with the trailing dot)
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    def describe(self) -> str:
        if self.exact_v4 is not None:
            return self.exact_v4
        if self.prefix_v4 is not None:
            octets = self.prefix_v4.rstrip(".").split(".")
            net = ".".join(octets + ["0"] * (4 - len(octets)))
            return f"in {net}/{8 * len(octets)}"
        assert self.network is not None
        if self.network.num_addresses == 1:
            return str(self.network.network_address)
        return f"in {self.network}"


def _octet(text: str, offset: int) -> str:
    if (
        not re.fullmatch(r"[0-9]{1,3}", text)
        or int(text) > 255
        or (len(text) > 1 and text[0] == "0")
    ):
        raise _BadValue(
            f"bad IPv4 octet {text!r}: expected a number 0–255 without leading zeros",
            offset,
            _IP_FORMS,
        )
    return text


@lru_cache(maxsize=1024)
def _ip_spec(raw: str) -> _IpSpec:
    text = raw.strip().lower()
    if "/" in text:
        address, _, length = text.partition("/")
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            raise _BadValue(f"bad CIDR {text!r}: {address!r} is not an IP address", 0) from None
        limit = addr.max_prefixlen
        if not re.fullmatch(r"[0-9]{1,3}", length) or int(length) > limit:
            raise _BadValue(
                f"bad CIDR {text!r}: the prefix length must be 0–{limit}",
                len(address) + 1,
                _IP_FORMS,
            )
        try:
            network = ipaddress.ip_network(text)
        except ValueError:
            fixed = ipaddress.ip_network(text, strict=False)
            raise _BadValue(
                f"bad CIDR {text!r}: host bits are set — did you mean {str(fixed)!r}?", 0
            ) from None
        return _IpSpec(text, network=network)
    if ":" in text:
        body = text[:-1] if text.endswith(":*") else text
        if body.endswith(":") and not body.endswith("::"):
            groups = body[:-1].split(":")
            if not 1 <= len(groups) <= 7 or not all(
                re.fullmatch(r"[0-9a-f]{1,4}", g) for g in groups
            ):
                raise _BadValue(
                    f"bad IPv6 prefix {text!r}: expected 1–7 groups of 1–4 hex digits, "
                    "each followed by ':'",
                    0,
                    _IP_FORMS,
                )
            net = ipaddress.IPv6Network(f"{':'.join(groups)}::/{16 * len(groups)}")
            return _IpSpec(text, network=net)
        try:
            addr6 = ipaddress.IPv6Address(text)
        except ValueError:
            raise _BadValue(f"bad IPv6 address {text!r}", 0, _IP_FORMS) from None
        return _IpSpec(text, network=ipaddress.IPv6Network(addr6))
    parts = text.split(".")
    wildcard = False
    if len(parts) > 1 and parts[-1] in ("", "*"):
        wildcard = True
        parts.pop()
        while len(parts) > 1 and parts[-1] == "*":
            parts.pop()
    offsets = [sum(len(p) + 1 for p in parts[:i]) for i in range(len(parts))]
    octets = [_octet(p, off) for p, off in zip(parts, offsets, strict=True)]
    if len(octets) == 4 and not wildcard:
        return _IpSpec(text, exact_v4=".".join(octets))
    if len(octets) >= 4:
        raise _BadValue(f"bad IPv4 prefix {text!r}: at most 3 octets before '.*'", 0, _IP_FORMS)
    return _IpSpec(text, prefix_v4=".".join(octets) + ".")


def _ipv4_network_expr(network: ipaddress.IPv4Network) -> pl.Expr:
    col = pl.col("ip_address")
    length = network.prefixlen
    octets = str(network.network_address).split(".")
    whole, rest = divmod(length, 8)
    if length == 32:
        return col == str(network.network_address)
    if rest == 0:
        if whole == 0:
            return col.str.contains(_IPV4_ANY)
        return col.str.starts_with(".".join(octets[:whole]) + ".")
    low = int(octets[whole])
    choices = "|".join(str(n) for n in range(low, low + 2 ** (8 - rest)))
    head = "".join(o + r"\." for o in octets[:whole])
    tail = r"\." if whole < 3 else "$"
    return col.str.contains(f"^{head}(?:{choices}){tail}")


def _ipv6_networks_expr(networks: Sequence[ipaddress.IPv6Network]) -> pl.Expr:
    """IPv6 membership, computed once per distinct address (textual forms vary)."""
    nets = tuple(networks)

    def matches(text: str) -> bool:
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return False
        return isinstance(addr, ipaddress.IPv6Address) and any(addr in n for n in nets)

    def run(series: pl.Series) -> pl.Series:
        distinct = series.drop_nulls().unique()
        candidates = distinct.filter(distinct.str.contains(":", literal=True)).to_list()
        return series.is_in([t for t in candidates if matches(t)])

    return pl.col("ip_address").map_batches(run, return_dtype=pl.Boolean, is_elementwise=True)


def _ip_expr(specs: Sequence[_IpSpec]) -> pl.Expr:
    exprs = []
    v6: list[ipaddress.IPv6Network] = []
    for spec in specs:
        if spec.exact_v4 is not None:
            exprs.append(pl.col("ip_address") == spec.exact_v4)
        elif spec.prefix_v4 is not None:
            exprs.append(pl.col("ip_address").str.starts_with(spec.prefix_v4))
        elif isinstance(spec.network, ipaddress.IPv4Network):
            exprs.append(_ipv4_network_expr(spec.network))
        elif isinstance(spec.network, ipaddress.IPv6Network):
            v6.append(spec.network)
    if v6:
        exprs.append(_ipv6_networks_expr(v6))
    return _any_of_exprs(exprs)


# --------------------------------------------------------------------------- parsing

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")
_OPERATORS = ("OR", "AND")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0

    def fail(self, message: str, position: int, valid: Sequence[str] = ()) -> None:
        raise SearchSyntaxError(message, query=self.text, position=position, valid=list(valid))

    def skip_space(self) -> None:
        while self.pos < self.n and self.text[self.pos].isspace():
            self.pos += 1

    def word_end(self, start: int, stop: str = '()"') -> int:
        end = start
        while end < self.n and not self.text[end].isspace() and self.text[end] not in stop:
            end += 1
        return end

    def operator(self) -> str | None:
        word = self.text[self.pos : self.word_end(self.pos)]
        return word if word in _OPERATORS else None

    def at_group_end(self) -> bool:
        return self.pos >= self.n or self.text[self.pos] == ")"

    def parse(self) -> Node:
        for index, char in enumerate(self.text):
            if "\ud800" <= char <= "\udfff":
                self.fail("invalid character: a lone UTF-16 surrogate", index)
        node = self.or_expr(group_start=None)
        self.skip_space()
        if self.pos < self.n:
            self.fail("unbalanced parenthesis: ')' has no matching '('", self.pos)
        return node

    def or_expr(self, group_start: int | None) -> Node:
        branches: list[Node] = []
        operator_at: int | None = None
        while True:
            items = self.and_expr()
            if items:
                branches.append(items[0] if len(items) == 1 else And(tuple(items)))
            elif operator_at is not None:
                self.fail("OR needs a term on its right", operator_at)
            self.skip_space()
            if self.operator() != "OR":
                break
            if not items:
                self.fail("OR needs a term on its left", self.pos)
            operator_at = self.pos
            self.pos += 2
        if not branches:
            if group_start is not None:
                self.fail("empty parentheses", group_start)
            return And(())
        return branches[0] if len(branches) == 1 else Or(tuple(branches))

    def and_expr(self) -> list[Node]:
        items: list[Node] = []
        merged: dict[str, int] = {}
        while True:
            self.skip_space()
            if self.at_group_end():
                return items
            operator = self.operator()
            if operator == "OR":
                return items
            if operator == "AND":
                at = self.pos
                if not items:
                    self.fail("AND needs a term on its left", at)
                self.pos += 3
                self.skip_space()
                if self.at_group_end() or self.operator():
                    self.fail("AND needs a term on its right", at)
                continue
            node, bare = self.unary()
            if bare and isinstance(node, Term) and node.key not in _AND_KEYS:
                if node.key in merged:
                    index = merged[node.key]
                    earlier = items[index]
                    assert isinstance(earlier, Term)
                    items[index] = Term(node.key, earlier.values + node.values)
                    continue
                merged[node.key] = len(items)
            items.append(node)

    def unary(self) -> tuple[Node, bool]:
        start = self.pos
        char = self.text[start]
        if char == "-":
            self.pos += 1
            if self.at_group_end() or self.text[self.pos].isspace() or self.operator():
                self.fail(
                    "'-' must be followed directly by a term to exclude, e.g. -status:failed "
                    '(to search for a dash, quote it: "-")',
                    start,
                )
            node, _ = self.unary()
            return Not(node), False
        if char == "(":
            self.pos += 1
            node = self.or_expr(group_start=start)
            self.skip_space()
            if self.pos >= self.n:
                self.fail("unbalanced parenthesis: '(' is never closed", start)
            self.pos += 1
            return node, False
        if char == '"':
            phrase = self.quoted()
            if phrase == "":
                self.fail("empty phrase", start)
            if _SEPARATOR in phrase:
                self.fail("phrases cannot contain the control character \\x1f", start)
            self.end_of_term(after_quote=True)
            return Text(phrase), False
        key = _KEY.match(self.text, start)
        if key is not None:
            return self.qualifier(key), True
        end = self.word_end(start)
        word = self.text[start:end]
        if word in _OPERATORS:
            self.fail(f"{word} needs a term on both sides", start)
        self.pos = end
        self.end_of_term(after_quote=False)
        return Text(word), False

    def end_of_term(self, after_quote: bool) -> None:
        if self.pos >= self.n or self.text[self.pos].isspace() or self.text[self.pos] == ")":
            return
        char = self.text[self.pos]
        if after_quote:
            self.fail(f"unexpected {char!r} after the closing quote; add a space", self.pos)
        self.fail(f"unexpected {char!r} in a word; put the whole phrase in quotes", self.pos)

    def quoted(self) -> str:
        start = self.pos
        out: list[str] = []
        i = start + 1
        while i < self.n:
            char = self.text[i]
            if char == "\\" and i + 1 < self.n and self.text[i + 1] in '"\\':
                out.append(self.text[i + 1])
                i += 2
                continue
            if char == '"':
                self.pos = i + 1
                return "".join(out)
            out.append(char)
            i += 1
        self.fail('unterminated quote: add the closing "', start)
        raise AssertionError  # unreachable: fail() raises

    def qualifier(self, match: re.Match[str]) -> Term:
        written = match.group(1)
        key = _ALIASES.get(written.lower(), written.lower())
        if key not in KEYS:
            suggestion = _did_you_mean(written.lower(), _VALID_KEYS)
            whole = self.text[self.pos : self.word_end(self.pos)]
            hint = suggestion or f'; to search for the text itself, quote it: "{whole}"'
            self.fail(f"unknown key {written!r}{hint}", self.pos, _VALID_KEYS)
        self.pos = match.end()
        values: list[str] = []
        while True:
            at = self.pos
            quoted = at < self.n and self.text[at] == '"'
            if quoted:
                raw = self.quoted()
            else:
                self.pos = self.word_end(at, stop='(),"')
                raw = self.text[at : self.pos]
            if raw == "":
                spaced = at < self.n and self.text[at].isspace()
                self.fail(
                    f"empty value for '{written}:'"
                    + (" (no space after the colon)" if spaced else ""),
                    at,
                    _examples(key),
                )
            try:
                values.append(_normalize_value(key, raw))
            except _BadValue as bad:
                self.fail(bad.message, at + quoted + bad.offset, bad.valid)
            if self.pos < self.n and self.text[self.pos] == ",":
                self.pos += 1
                continue
            break
        if self.pos < self.n and self.text[self.pos] in '"(':
            self.fail(
                f"unexpected {self.text[self.pos]!r} in a value; put the whole value in quotes",
                self.pos,
            )
        return Term(key, tuple(values))


def _examples(key: str) -> list[str]:
    return {
        "status": list(schema.STATUSES),
        "actor_type": list(schema.ACTOR_TYPES),
        "has": list(_HAS),
        "date": _DATE_FORMS,
        "ip": _IP_FORMS,
        "action": list(schema.ACTIONS),
    }.get(key, [])


def parse(text: str) -> Query:
    """Parse search-box text into a :class:`Query`.

    Raises:
        SearchSyntaxError: with the position of the offending character, a caret line,
            and the valid keys or values where there is a fixed list.
    """
    if not isinstance(text, str):
        raise QueryError(f"parse() takes the query text as a str, got {type(text).__name__}")
    return Query(_Parser(text).parse())


# --------------------------------------------------------------------------- printing


def _needs_quotes(text: str, stop: str) -> bool:
    return text == "" or any(c.isspace() or c in stop for c in text)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_value(value: str) -> str:
    return _quote(value) if _needs_quotes(value, '(),"') else value


def _format_text(text: str) -> str:
    bare = (
        not _needs_quotes(text, '()"')
        and not text.startswith("-")
        and text not in _OPERATORS
        and _KEY.match(text) is None
    )
    return text if bare else _quote(text)


def _format(node: Node) -> str:
    if isinstance(node, Term):
        return f"{node.key}:" + ",".join(_format_value(v) for v in node.values)
    if isinstance(node, Text):
        return _format_text(node.text)
    if isinstance(node, Not):
        inner = _format(node.child)
        return "-" + (inner if isinstance(node.child, Term | Text | Not) else f"({inner})")
    if isinstance(node, And):
        parts = []
        seen: set[str] = set()
        for child in node.children:
            text = _format(child)
            if isinstance(child, And | Or):
                text = f"({text})"
            elif isinstance(child, Term) and child.key not in _AND_KEYS:
                # a bare repeat would be merged into one OR-ed term when re-parsed
                if child.key in seen:
                    text = f"({text})"
                seen.add(child.key)
            parts.append(text)
        return " ".join(parts)
    return " OR ".join(
        f"({_format(c)})" if isinstance(c, Or) else _format(c) for c in node.children
    )


# --------------------------------------------------------------------------- describing


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


# --------------------------------------------------------------------------- expressions


def _ci_regex(column: str, bodies: Sequence[str]) -> pl.Expr:
    # One anchored (?i)^(?:a|b)$ regex: ~4x faster than lowercasing 10M rows and comparing,
    # because the regex rejects most rows at the first bytes.
    return pl.col(column).str.contains("(?i)^(?:" + "|".join(bodies) + ")$")


def _text_expr(text: str, search_column: bool) -> pl.Expr:
    if search_column:
        needle = pl.Series([text]).str.to_lowercase().item()
        return pl.col(SEARCH_COLUMN).str.contains(needle, literal=True)
    return _any_of_exprs([expr for _, expr in _text_predicates(text)])


def _text_predicates(text: str) -> list[tuple[str, pl.Expr]]:
    if text.isascii():
        return [
            (c, pl.col(c).str.contains_any([text], ascii_case_insensitive=True))
            for c in _FREE_TEXT_COLUMNS
        ]
    pattern = "(?i)" + pl.escape_regex(text)
    return [(c, pl.col(c).str.contains(pattern)) for c in _FREE_TEXT_COLUMNS]


def _has_expr(value: str) -> pl.Expr:
    def present(column: str) -> pl.Expr:
        return pl.col(column).is_not_null() & (pl.col(column).str.len_bytes() > 0)

    if value == "error":
        return present("error_message")
    if value == "ip":
        return present("ip_address")
    return present("before") | present("after")


def _changed_expr(fields: Sequence[str]) -> pl.Expr:
    try:
        module = importlib.import_module("auditkit.diff")
    except ImportError:
        module = None
    changed_fields_expr: Callable[[], pl.Expr] | None = getattr(module, "changed_fields_expr", None)
    if changed_fields_expr is None:
        raise QueryError(
            "changed: needs auditkit.diff.changed_fields_expr(), which this install lacks"
        )
    path = pl.element()
    tests = []
    for name in fields:
        tests += [
            path == name,
            path.str.ends_with("." + name),
            path.str.starts_with(name + "."),
            path.str.starts_with(name + "["),
        ]
    return changed_fields_expr().list.eval(_any_of_exprs(tests)).list.any()


def _term_expr(term: Term, ctx: Context) -> pl.Expr:
    key, values = term.key, term.values
    if key in ("status", "actor_type"):
        return pl.col(key).is_in(list(values))
    if key == "date":
        return _any_of_exprs([_date_spec(v).to_filter(ctx).expr(ctx) for v in values])
    if key == "ip":
        return _ip_expr([_ip_spec(v) for v in values])
    if key == "has":
        return _any_of_exprs([_has_expr(v) for v in values])
    if key == "changed":
        return _changed_expr(values)
    predicates = column_predicates(term, ctx)
    assert predicates is not None
    return _any_of_exprs([expr for _, expr in predicates])


def column_predicates(node: Term | Text, ctx: Context) -> list[tuple[str, pl.Expr]] | None:
    """A term's match as an OR of single-column predicates, or None if it is not one.

    Each ``(column, expr)`` reads only ``column`` and is never true for null, so a caller
    holding a column's distinct values can evaluate ``expr`` once per distinct value
    instead of once per row (see ``auditkit.query.EventIndex``).
    """
    if isinstance(node, Text):
        return [(column, expr.fill_null(False)) for column, expr in _text_predicates(node.text)]
    key, values = node.key, node.values
    if key == "ip":
        return [("ip_address", _ip_expr([_ip_spec(v) for v in values]).fill_null(False))]
    if key not in _COLUMNS:
        return None
    bodies = []
    for value in values:
        if key == "user" and value == "me":
            bodies.append(pl.escape_regex(_require_me(ctx)))
        else:
            bodies.append(_wildcard_regex(value))
    return [(column, _ci_regex(column, bodies).fill_null(False)) for column in _COLUMNS[key]]


def _expr(node: Node, ctx: Context, search_column: bool) -> pl.Expr:
    if isinstance(node, Term):
        return _term_expr(node, ctx).fill_null(False)
    if isinstance(node, Text):
        return _text_expr(node.text, search_column).fill_null(False)
    if isinstance(node, Not):
        return ~_expr(node.child, ctx, search_column)
    exprs = [_expr(child, ctx, search_column) for child in node.children]
    if isinstance(node, And):
        return _all_of_exprs(exprs)
    return _any_of_exprs(exprs)


def _bounds(node: Node, ctx: Context) -> tuple[datetime | None, datetime | None]:
    if isinstance(node, Term) and node.key == "date":
        ranges = [_date_spec(v).to_filter(ctx).bounds(ctx) for v in node.values]
        starts = [s for s, _ in ranges]
        ends = [e for _, e in ranges]
        return (
            None if None in starts else min(s for s in starts if s is not None),
            None if None in ends else max(e for e in ends if e is not None),
        )
    if isinstance(node, And):
        start: datetime | None = None
        end: datetime | None = None
        for child in node.children:
            s, e = _bounds(child, ctx)
            if s is not None:
                start = s if start is None else max(start, s)
            if e is not None:
                end = e if end is None else min(end, e)
        return start, end
    return None, None


# --------------------------------------------------------------------------- the query


@dataclass(frozen=True)
class Query:
    """A parsed search: build it with :func:`parse`, or from nodes.

    Attributes:
        root: the syntax tree; ``And(())`` is the empty query (every event).
    """

    root: Node = And(())

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
