"""IP address values: exact addresses, prefixes and CIDR ranges, IPv4 and IPv6."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from auditkit.filters import (
    _any_of_exprs,
)
from auditkit.search._ast import _BadValue

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
