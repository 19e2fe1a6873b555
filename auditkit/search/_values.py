"""How each key's values are checked and normalized."""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditkit import schema
from auditkit.filters import (
    ACTOR_TYPE_ALIASES,
    STATUS_ALIASES,
    _did_you_mean,
)
from auditkit.search._ast import _HAS, _BadValue
from auditkit.search._dates import _date_spec
from auditkit.search._ips import _ip_spec


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
