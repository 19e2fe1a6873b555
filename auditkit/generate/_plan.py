"""The plan: actors, resources, texts and the clock, decided once per call."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from auditkit.errors import GenerateError
from auditkit.generate._operations import (
    _ERROR_CLASSES,
    _KINDS,
    _OPS,
    _PERM_TEXTS,
    _PROFILES,
    _error_pools,
)
from auditkit.generate._states import _other, _Pools, _templates
from auditkit.generate._vocabulary import (
    _ACCOUNTS,
    _ANON_ACTORS,
    _API_AGENTS,
    _BROWSERS,
    _CADENCES,
    _CLOUD_V4,
    _COLLECTION_KINDS,
    _DIMS,
    _FIRST,
    _HOURLY,
    _LAST,
    _METRICS,
    _MODELS,
    _NB_KINDS,
    _PERIODS,
    _PUBLIC_V4,
    _PUBLIC_V6,
    _REPORT_KINDS,
    _RESOURCES,
    _RTYPES,
    _SCHEMAS,
    _SDKS,
    _SERVICES,
    _STAGES,
    _SUBJECTS,
    _TABLE_SUFFIXES,
    _TABLES,
    _TEAMS,
    _TOPICS,
    _WEEKEND,
    _ZONES,
)
from auditkit.schema import ActorType

#: Where generated windows end unless told otherwise (never the wall clock).
DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class _Table:
    """Many discrete distributions (one per row), all sampled by one ``searchsorted``.

    Row ``r``'s cumulative probabilities are shifted by ``r`` and laid end to end, so
    ``r + u`` (``0 <= u < 1``) lands inside row ``r``: ``draw`` returns the index within
    the row, drawn with that row's probabilities.
    """

    flat: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[np.ndarray]) -> _Table:
        cums = []
        for r, weights in enumerate(rows):
            weights = np.asarray(weights, dtype=np.float64)
            total = weights.sum()
            cum = np.cumsum(weights) / total if total > 0 else np.ones(len(weights))
            cum[-1] = 1.0
            cums.append(cum + r)
        sizes = np.array([len(c) for c in cums], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(np.concatenate(cums), starts, sizes)

    def draw(self, row: np.ndarray, u: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.flat, row + u, side="right") - self.starts[row]
        return np.minimum(pos, self.sizes[row] - 1)


@dataclass
class _Plan:
    n: int
    seed: int
    key: int
    start_us: int
    minute_start: np.ndarray
    hour_cat: _Table  # hour → actor category
    cat_actor: _Table  # category → position in cat_members
    cat_members: np.ndarray
    actor_kind: np.ndarray
    actor_offset_s: np.ndarray
    actor_human: np.ndarray
    actor_ip: np.ndarray
    actor_ua: np.ndarray
    actor_random_ip: np.ndarray
    actor_shift: np.ndarray
    anon_ips: np.ndarray
    actor_names: pl.Series
    actor_types: pl.Series
    ip_pool: pl.Series
    ua_pool: pl.Series
    kind_op: _Table
    op_status: _Table
    op_rtype: np.ndarray
    op_created: np.ndarray
    op_deleted: np.ndarray
    op_self: np.ndarray
    op_mu: np.ndarray
    op_sigma: np.ndarray
    op_error: np.ndarray
    op_group: np.ndarray
    op_perm: np.ndarray
    op_text_off: np.ndarray
    op_text_n: np.ndarray
    op_names: pl.Series
    op_actions: pl.Series
    rtype_names: pl.Series
    type_rank: _Table
    type_offset: np.ndarray
    type_size: np.ndarray
    type_personal: np.ndarray
    type_group: np.ndarray
    rank_map: np.ndarray
    new_offset: np.ndarray
    new_size: np.ndarray
    prefixes: pl.Series
    res_ids: pl.Series
    res_names: pl.Series
    new_names: pl.Series
    res_account: np.ndarray
    account_cum: np.ndarray
    accounts: pl.Series
    group_frag: np.ndarray
    group_upd: np.ndarray
    group_create: np.ndarray
    group_n: np.ndarray
    perm_frag: int
    perm_text: int
    perm_count: int
    err_off: np.ndarray
    err_n: np.ndarray
    errors: pl.Series
    details: pl.Series
    attrs: pl.Series
    frag_pre: pl.Series
    frag_post: pl.Series
    frag_name: pl.Series


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijection on uint64 that scrambles bits (arrays only)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _mix_int(x: int) -> int:
    return int(_mix(np.array([x & _MASK64], dtype=np.uint64))[0])


def _draw(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def _emails(rng: np.random.Generator, count: int) -> list[str]:
    combos = len(_FIRST) * len(_LAST)
    take = min(count, combos)
    picks = rng.choice(combos, size=take, replace=False)
    out = [f"{_FIRST[i // len(_LAST)]}.{_LAST[i % len(_LAST)]}@company.com" for i in picks]
    for k in range(count - take):
        first, last = _FIRST[k % len(_FIRST)], _LAST[(k // len(_FIRST)) % len(_LAST)]
        out.append(f"{first}.{last}{k // combos + 2}@company.com")
    return out


def _v4(rng: random.Random, prefix: str) -> str:
    parts = prefix.split(".")
    while len(parts) < 4:
        parts.append(str(rng.randrange(1, 255)))
    return ".".join(parts)


def _public_ip(rng: random.Random, v6_share: float = 0.2) -> str:
    if rng.random() < v6_share:
        tail = ":".join(f"{rng.randrange(1 << 16):x}" for _ in range(6))
        return rng.choice(_PUBLIC_V6) + tail
    return _v4(rng, str(rng.choice(_PUBLIC_V4)))


def _resource_name(rng: random.Random, rtype: str) -> str:
    r = rng.random()
    if rtype == "notebook":
        if r < 0.08:
            return f"Untitled Notebook ({rng.randrange(1, 40)})"
        base = f"{rng.choice(_SUBJECTS)}-{rng.choice(_NB_KINDS)}"
        return base if r < 0.55 else f"{base}-v{rng.randrange(2, 9)}"
    if rtype == "experiment":
        return f"{rng.choice(_SUBJECTS)}-{rng.choice(_MODELS)}-v{rng.randrange(1, 15)}"
    if rtype == "pipeline":
        if r < 0.3:
            return f"{rng.choice(_CADENCES)}_{rng.choice(_SUBJECTS)}_{rng.choice(_STAGES)}"
        return f"{rng.choice(_SUBJECTS)}_{rng.choice(_STAGES)}_{rng.choice(_CADENCES)}".replace(
            "-", "_"
        )
    if rtype == "database":
        return f"{rng.choice(_SCHEMAS)}.{rng.choice(_TABLES)}{rng.choice(_TABLE_SUFFIXES)}"
    if rtype == "collection":
        return f"{rng.choice(_SUBJECTS)}-{rng.choice(_COLLECTION_KINDS)}" + (
            f"-{rng.randrange(2023, 2027)}" if r < 0.4 else ""
        )
    if rtype == "query":
        text = f"{rng.choice(_METRICS)} by {rng.choice(_DIMS)}"
        if r < 0.3:
            text += f" (last {rng.choice((7, 30, 90))} days)"
        elif r < 0.4:
            text = f"Top {rng.choice((10, 50, 100))} {rng.choice(_SUBJECTS)} by {rng.choice(_DIMS)}"
        return text
    if rtype == "report":
        if r < 0.15:
            return f"{rng.choice(_TOPICS)} {rng.choice(_REPORT_KINDS)}"
        return f"{rng.choice(_PERIODS)} {rng.choice(_TOPICS)} {rng.choice(_REPORT_KINDS)}"
    if rtype == "team":
        return rng.choice(_TEAMS) + (f" {rng.choice(('EMEA', 'APAC', 'US', 'LATAM'))}")
    raise AssertionError(rtype)


def _unique_names(rng: random.Random, rtype: str, count: int) -> list[str]:
    seen: dict[str, None] = {}
    tries = 0
    while len(seen) < count and tries < count * 3:
        seen[_resource_name(rng, rtype)] = None
        tries += 1
    names = base = list(seen)
    copy = 2
    while len(names) < count:  # the name space ran out: "name (2)", "name (3)", …
        names = names + [f"{name} ({copy})" for name in base[: count - len(names)]]
        copy += 1
    return names[:count]


def _variant_fields(rng: np.random.Generator, k: int) -> list[dict[str, Any]]:
    """k sets of values for the detail templates (numbers drawn vectorially)."""
    rows = (rng.lognormal(8.0, 2.3, k)).astype(np.int64) + 1
    width = rng.integers(60, 600, k)
    fmts = rng.choice(4, k, p=(0.45, 0.2, 0.2, 0.15))
    ints = {
        "cells": rng.integers(3, 80, k),
        "secs": rng.integers(1, 600, k),
        "run": rng.integers(1, 9999, k),
        "widgets": rng.integers(2, 25, k),
        "hours": rng.integers(8, 25, k),
        "mb": rng.integers(10, 5000, k),
    }
    score = rng.uniform(0.6, 0.97, k)
    method = rng.choice(3, k, p=(0.6, 0.3, 0.1))
    pick = rng.integers(0, 1 << 30, (k, 6))
    out = []
    tasks = ("extract", "load_orders", "transform_customers", "dedupe_events", "publish")
    for i in range(k):
        fmt = ("CSV", "Excel", "Parquet", "JSON")[fmts[i]]
        subject = _SUBJECTS[pick[i, 0] % len(_SUBJECTS)]
        out.append(
            {
                "rows": f"{int(rows[i]):,}",
                "rows_raw": int(rows[i]),
                "bytes": int(rows[i] * width[i]),
                "fmt": fmt,
                "fmt_key": ("csv", "xlsx", "parquet", "json")[fmts[i]],
                "file": (
                    f"{subject}_2026-{int(pick[i, 1] % 10) + 1:02d}.csv",
                    f"s3://acme-landing/{subject}/part-{int(pick[i, 1] % 100):05d}.parquet",
                    f"{subject}_upload.xlsx",
                )[pick[i, 2] % 3],
                "nbfile": f"{subject}-{_NB_KINDS[pick[i, 3] % len(_NB_KINDS)]}.ipynb",
                "nbfmt": ("HTML", "PDF", "ipynb", "Python script")[pick[i, 4] % 4],
                "metric": "auc",
                "score": f"{score[i]:.3f}",
                "score_raw": round(float(score[i]), 3),
                "task": tasks[pick[i, 5] % len(tasks)],
                "trigger": ("schedule", "schedule", "schedule", "manual", "api")[pick[i, 1] % 5],
                "method": ("SSO (Okta)", "password and MFA", "password")[method[i]],
                "method_key": ("sso", "password", "password")[method[i]],
                "mfa_used": bool(method[i] < 2),
                "mfa": ("an authenticator app", "a security key", "SMS")[pick[i, 2] % 3],
                **{name: int(v[i]) for name, v in ints.items()},
            }
        )
    return out


def _variant_attrs(kind: str | None, status: int, f: dict[str, Any]) -> str | None:
    if kind == "export":
        return json.dumps({"rows": f["rows_raw"], "bytes": f["bytes"], "format": f["fmt_key"]})
    if kind == "import":
        return json.dumps({"rows": f["rows_raw"], "bytes": f["bytes"], "source": f["file"]})
    if kind == "file":
        return json.dumps({"file": f["nbfile"], "bytes": f["bytes"] // 7})
    if kind == "pipeline":
        attrs: dict[str, Any] = {"run_id": f["run"], "trigger": f["trigger"]}
        if status == 0:
            attrs["rows"] = f["rows_raw"]
        return json.dumps(attrs)
    if kind == "training":
        return json.dumps({"run_id": f["run"], **({"auc": f["score_raw"]} if status == 0 else {})})
    if kind == "login" and status == 0:
        return json.dumps({"method": f["method_key"], "mfa": f["mfa_used"]})
    return None


@dataclass
class _Actors:
    names: list[str]
    types: list[str]
    kinds: np.ndarray
    offsets: np.ndarray
    ips: np.ndarray  # (actors, 3) indices into ip_pool; len(ip_pool) means null
    uas: np.ndarray  # (actors, 2) indices into ua_pool
    random_ip: np.ndarray  # anonymous actors: a random public address per event
    ip_pool: list[str]
    ua_pool: list[str]
    anon_ips: np.ndarray
    emails: list[str]  # people, in actor order (actor i < len(emails) is person i)
    new_emails: list[str]  # for invited users
    categories: list[tuple[np.ndarray, np.ndarray]]  # (actor indices, weights)
    zone_mass: np.ndarray


def _actors(rng: np.random.Generator, pr: random.Random, n_users: int) -> _Actors:
    """People (by zone, role, Zipf activity), API keys, service accounts, system, anonymous."""
    emails = _emails(rng, n_users + 200)
    new_emails, emails = emails[n_users:], emails[:n_users]
    kind_of = rng.choice(4, n_users, p=(0.04, 0.2, 0.46, 0.3))
    kind_of[0] = 0  # at least one admin
    user_w = np.arange(1, n_users + 1) ** -1.0 * rng.lognormal(0, 0.2, n_users)
    user_w = user_w[rng.permutation(n_users)]
    # zones: fill each zone's share of activity (not of head count), heaviest people first,
    # so one power user cannot move the company's working hours
    target = np.array([z[2] for z in _ZONES]) * user_w.sum()
    mass = np.zeros(len(_ZONES))
    zone_of = np.zeros(n_users, dtype=np.int64)
    for i in np.argsort(-user_w, kind="stable"):
        gap = np.maximum(target - mass, 0) * rng.uniform(0.8, 1.2, len(_ZONES))
        zone_of[i] = int(np.argmax(gap))
        mass[zone_of[i]] += user_w[i]
    n_keys = max(3, n_users // 120)
    keys = [f"ak_live_{pr.getrandbits(96):024x}" for _ in range(n_keys)]

    ip_ids: dict[str, int] = {}
    ua_ids: dict[str, int] = {}
    names: list[str] = []
    types: list[str] = []
    kinds: list[int] = []
    offsets: list[int] = []
    ips: list[tuple[str | None, str | None, str | None]] = []
    uas: list[tuple[str, str]] = []

    def add(name: str, atype: str, kind: str | int, ip: tuple[Any, Any, Any], ua: tuple[str, str],
            offset: int = 0) -> None:  # fmt: skip
        names.append(name)
        types.append(atype)
        kinds.append(kind if isinstance(kind, int) else _KINDS.index(kind))
        offsets.append(offset)
        ips.append(ip)
        uas.append(ua)

    for i in range(n_users):
        zone = _ZONES[int(zone_of[i])]
        office = _v4(pr, pr.choice(zone[3]))
        home = _public_ip(pr, 0.25)
        other = _public_ip(pr, 0.3) if pr.random() < 0.5 else _v4(pr, pr.choice(zone[3]))
        tool = pr.choice(_SDKS) if kind_of[i] in (1, 3) else pr.choice(_BROWSERS)
        add(emails[i], "user", int(kind_of[i]), (office, home, other),
            (pr.choice(_BROWSERS), tool), zone[1] * 3600)  # fmt: skip
    for i, key in enumerate(keys):
        cloud = _v4(pr, pr.choice(_CLOUD_V4).rstrip("."))
        agent = _API_AGENTS[i % len(_API_AGENTS)]
        add(key, "api_key", "api", (cloud, _v4(pr, cloud.rsplit(".", 1)[0]), _v4(pr, "10.20")),
            (agent, agent))  # fmt: skip
    for svc, kind, _, agent in _SERVICES:
        add(svc, "service_account", kind, (_v4(pr, "10.0"), _v4(pr, "10.0"), _v4(pr, "10.1")),
            (agent, agent))  # fmt: skip
    add("system", "system", "sys", (None, None, None), ("platform-internal/1.0",) * 2)
    typos = []
    for email in emails[:12]:
        local = email.split("@")[0]
        j = pr.randrange(1, max(2, len(local) - 1))
        typos.append(local[: j - 1] + local[j] + local[j - 1] + local[j + 1 :] + "@company.com")
    anon = list(dict.fromkeys([*_ANON_ACTORS, *typos]))
    for actor in anon:
        agent = pr.choice((*_BROWSERS, "python-requests/2.32.3", "curl/8.5.0"))
        add(actor, "anonymous", "anl", (None, None, None), (agent, agent))
    add("anonymous", "anonymous", "anp", (None, None, None), (_BROWSERS[0], _BROWSERS[3]))
    for ip_row in ips:
        for ip in ip_row:
            if ip is not None:
                ip_ids.setdefault(ip, len(ip_ids))
    anon_ips = [_public_ip(pr, 0.2) for _ in range(300)]
    for ip in anon_ips:
        ip_ids.setdefault(ip, len(ip_ids))
    for ua_row in uas:
        for ua in ua_row:
            ua_ids.setdefault(ua, len(ua_ids))

    first_key = n_users
    first_svc = first_key + n_keys
    system = first_svc + len(_SERVICES)
    public = len(names) - 1
    categories: list[tuple[np.ndarray, np.ndarray]] = []
    zone_mass = np.zeros(len(_ZONES))
    for z in range(len(_ZONES)):
        members = np.flatnonzero(zone_of == z)
        zone_mass[z] = user_w[members].sum()
        categories.append((members, user_w[members]) if len(members) else (np.zeros(1), np.ones(1)))
    categories += [
        (np.arange(first_key, first_svc), np.arange(1, n_keys + 1) ** -1.2),
        (np.arange(first_svc, system), np.array([s[2] for s in _SERVICES])),
        (np.array([system]), np.ones(1)),
        (np.arange(system + 1, public), np.ones(public - system - 1)),
        (np.array([public]), np.ones(1)),
    ]
    null_ip = len(ip_ids)
    return _Actors(
        names=names,
        types=types,
        kinds=np.array(kinds, dtype=np.int64),
        offsets=np.array(offsets, dtype=np.int64),
        ips=np.array([[null_ip if ip is None else ip_ids[ip] for ip in row] for row in ips]),
        uas=np.array([[ua_ids[ua] for ua in row] for row in uas], dtype=np.int64),
        random_ip=np.array([t == "anonymous" for t in types]),
        ip_pool=list(ip_ids),
        ua_pool=list(ua_ids),
        anon_ips=np.array([ip_ids[ip] for ip in anon_ips], dtype=np.int64),
        emails=emails,
        new_emails=new_emails,
        categories=[(m.astype(np.int64), w) for m, w in categories],
        zone_mass=zone_mass,
    )


def _clock(
    rng: np.random.Generator, n: int, start_us: int, days: int, zone_mass: np.ndarray
) -> tuple[np.ndarray, _Table]:
    """Events per minute, and the actor category of each hour.

    People work 8-19 local time on weekdays in their zone; API keys loosely follow office
    hours; service accounts run around the clock but more while people work (and at
    midnight UTC, batch jobs); the system and sign-in bots are flat.
    """
    hours = days * 24
    mid_s = start_us // 1_000_000 + np.arange(hours, dtype=np.int64) * 3600 + 1800
    day = (mid_s - mid_s[0]) // 86_400
    day_factor = rng.lognormal(0.0, 0.08, days + 1)[day] * (1 + 0.1 * day / days)
    nz = len(_ZONES)
    rates = np.zeros((hours, nz + 5))
    for z, zone in enumerate(_ZONES):
        local = mid_s + zone[1] * 3600
        weekend = ((local // 86_400 + 3) % 7) >= 5  # 1970-01-01 was a Thursday
        rates[:, z] = zone_mass[z] * _HOURLY[(local // 3600) % 24] * np.where(weekend, _WEEKEND, 1)
    rates[:, :nz] *= day_factor[:, None]
    human = rates[:, :nz].sum(axis=1)
    office = human / human.max()
    shapes = (
        0.35 + 0.65 * office,  # API keys
        (0.6 + 0.4 * office) * np.where((mid_s // 3600) % 24 < 2, 1.5, 1.0),  # services
        np.ones(hours),  # system
        np.ones(hours),  # sign-in attempts by bots
        office,  # public report links
    )
    shares = (0.815, 0.085, 0.08, 0.01, 0.006, 0.004)
    rates[:, :nz] *= shares[0] / human.sum()
    for j, (shape, share) in enumerate(zip(shapes, shares[1:], strict=True)):
        rates[:, nz + j] = shape * share / shape.sum()
    total = rates.sum(axis=1)
    minute_p = np.repeat(total / total.sum() / 60.0, 60)
    counts = rng.multinomial(n, minute_p / minute_p.sum())
    minute_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return minute_start, _Table.of(list(rates))


def _texts(rng: np.random.Generator, pools: _Pools) -> tuple[np.ndarray, np.ndarray]:
    """Detail and attribute variants for every (operation, status): (offsets, counts).

    Operations with numbers in their text get 192 variants, others 24 (or one when the
    text is fixed), each a window into one shared pool of drawn values.
    """
    shared = _variant_fields(rng, 1024)
    n_ops = len(_OPS)
    off = np.zeros((n_ops, 4), np.int64)
    count = np.ones((n_ops, 4), np.int64)
    starts = rng.integers(0, len(shared), (n_ops, 4))
    for o, op in enumerate(_OPS):
        many = "{rows}" in op.text or op.attrs is not None
        for s, p in enumerate(_PROFILES[op.status]):
            if p == 0:
                continue
            template = (op.text, op.fail, f"{op.label} started", f"{op.label} queued")[s]
            k = (192 if many else 24) if "{" in template or many else 1
            off[o, s] = len(pools.details)
            count[o, s] = k
            for i in range(k):
                f = shared[(starts[o, s] + i) % len(shared)]
                pools.details.append(template.format(**f))
                pools.attrs.append(_variant_attrs(op.attrs, s, f))
    return off, count


def _permissions(
    pr: random.Random,
    pools: _Pools,
    size: int,
    pick_target: Callable[[str], int],
    res_ids: list[str],
    res_names: list[str],
    emails: list[str],
    teams: list[str],
) -> tuple[list[str], list[int]]:
    """Grants of a role on a resource to a person or team, with their texts and states.

    Adds 6 fragments (grant, revoke, role change: before and after) and 5 texts (grant,
    revoke, update, view, expire) per permission to the pools, each block ``size`` long.
    Returns the permissions' names and their targets' global resource index.
    """
    targets = ("report", "notebook", "query", "collection", "database", "experiment", "pipeline")
    roles = ("viewer", "editor", "runner", "owner")
    people = np.arange(1, len(emails) + 1) ** -0.6
    people_cum = np.cumsum(people) / people.sum()
    names, target_index = [], []
    states: list[list[dict[str, Any]]] = [[] for _ in range(6)]
    texts: list[list[str]] = [[] for _ in _PERM_TEXTS]
    attrs = []
    for _ in range(size):
        ttype = pr.choices(targets, weights=(0.35, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05))[0]
        g = pick_target(ttype)
        target_id, target_name = res_ids[g], res_names[g]
        if pr.random() < 0.8:
            grantee, gtype = emails[int(np.searchsorted(people_cum, pr.random()))], "user"
        else:
            grantee, gtype = pr.choice(teams), "team"
        role = pr.choices(roles, weights=(0.5, 0.3, 0.1, 0.1))[0]
        new_role = _other(pr, roles, role)
        names.append(f"{target_name} ({grantee})")
        target_index.append(g)
        ref = f"{ttype}:{target_id}"
        none, has, moved = ({"resource": ref, "grantee": grantee, "role": r}
                            for r in (None, role, new_role))  # fmt: skip
        for j, state in enumerate((none, has, has, none, has, moved)):
            states[j].append(state)
        what = f"{ttype} '{target_name}'"
        texts[0].append(f"Granted {role} on {what} to {grantee}")
        texts[1].append(f"Revoked {role} on {what} from {grantee}")
        texts[2].append(f"Changed {grantee} from {role} to {new_role} on {what}")
        texts[3].append(f"Viewed who can access {what}")
        texts[4].append(f"Temporary {role} access to {what} for {grantee} expired")
        attrs.append(json.dumps({"target_type": ttype, "target_id": target_id,
                                 "target_name": target_name, "grantee": grantee,
                                 "grantee_type": gtype, "role": role}))  # fmt: skip
    for block in states:
        for state in block:
            pools.frag_pre.append(json.dumps(state))
            pools.frag_post.append("")
            pools.frag_name.append(False)
    for block_texts in texts:
        pools.details.extend(block_texts)
        pools.attrs.extend(attrs)
    return names, target_index


def _plan(n: int, seed: int, end: datetime | None, days: int, users: int | None) -> _Plan:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise GenerateError(f"n must be a non-negative int, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise GenerateError(f"seed must be an int, got {seed!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise GenerateError(f"days must be a positive int, got {days!r}")
    if users is not None and (isinstance(users, bool) or not isinstance(users, int) or users < 1):
        raise GenerateError(f"users must be a positive int or None, got {users!r}")
    end = DEFAULT_END if end is None else end
    if not isinstance(end, datetime) or end.utcoffset() is None:
        raise GenerateError(
            f"end must be a timezone-aware datetime, got {end!r}\n"
            "Hint: pass e.g. datetime(2026, 11, 1, tzinfo=datetime.UTC)"
        )
    seed &= _MASK64
    n_users = users if users is not None else min(5000, max(50, n // 200))
    rng = np.random.default_rng([seed, 0x706C616E])
    key = _mix_int(seed ^ 0x5EED5EED5EED5EED)
    pr = random.Random(key)
    end_us = int(end.timestamp()) * 1_000_000 + end.microsecond
    start_us = end_us - days * 86_400_000_000

    actors = _actors(rng, pr, n_users)
    minute_start, hour_cat = _clock(rng, n, start_us, days, actors.zone_mass)

    # resources: a pool per type (ids nb_000001…), Zipf popularity over a shuffled order
    n_res = int(np.clip(n // 100, 300, 10_000))
    sizes = [
        n_users if t == "user" else int(np.clip(n_users // 25, 4, 60)) if t == "team"
        else max(5, int(n_res * share))
        for t, _, share, _ in _RESOURCES
    ]  # fmt: skip
    type_offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    res_names: list[str] = []
    res_ids: list[str] = []
    new_names: list[str] = []
    new_offset = [0]
    zipf = []
    for t, (rtype, prefix, _, _) in enumerate(_RESOURCES):
        size = sizes[t]
        if rtype == "user":
            pool, fresh = actors.emails, actors.new_emails
        elif rtype == "permission":
            pool, fresh = [""] * size, ["-"]  # named below, once their targets exist
        else:
            both = _unique_names(pr, rtype, size + 300)
            pool, fresh = both[:size], both[size:]
        res_names.extend(pool)
        res_ids.extend(f"{prefix}_{i:06d}" for i in range(1, size + 1))
        new_names.extend(fresh)
        new_offset.append(len(new_names))
        zipf.append(np.arange(1, size + 1) ** -1.0 * rng.lognormal(0.0, 0.25, size))
    type_rank = _Table.of([np.sort(w)[::-1] for w in zipf])
    rank_map = np.concatenate(
        [type_offset[t] + rng.permutation(sizes[t]) for t in range(len(_RESOURCES))]
    )
    account_p = np.array([a[1] for a in _ACCOUNTS])
    res_account = rng.choice(len(_ACCOUNTS), len(res_ids), p=account_p)

    def pick_target(rtype: str) -> int:
        t = _RTYPES.index(rtype)
        rank = int(type_rank.draw(np.array([t]), np.array([pr.random()]))[0])
        return int(rank_map[type_offset[t] + rank])

    pools = _Pools(details=[], attrs=[], frag_pre=[], frag_post=[], frag_name=[])
    op_text_off, op_text_n = _texts(rng, pools)
    groups = _templates(pr, actors.emails, pools, per_group=120)
    group_names = list(groups)
    perm_t = _RTYPES.index("permission")
    perm_frag, perm_text = len(pools.frag_pre), len(pools.details)
    teams = res_names[type_offset[_RTYPES.index("team")] : type_offset[_RTYPES.index("team") + 1]]
    perm_names, perm_targets = _permissions(
        pr, pools, sizes[perm_t], pick_target, res_ids, res_names, actors.emails, teams
    )
    res_names[type_offset[perm_t] : type_offset[perm_t + 1]] = perm_names
    res_account[type_offset[perm_t] : type_offset[perm_t + 1]] = res_account[perm_targets]
    for pool_list in (pools.details, pools.attrs, pools.frag_pre, pools.frag_post):
        pool_list.append(None)
    pools.frag_name.append(False)
    for name in res_names + new_names:
        if json.dumps(name, ensure_ascii=False)[1:-1] != name:
            raise AssertionError(f"resource name needs JSON escaping: {name!r}")

    db = _RTYPES.index("database")
    databases = res_names[type_offset[db] : type_offset[db + 1]]
    errors = _error_pools(pr, databases)
    err_list: list[str | None] = []
    err_off, err_n = [], []
    for cls in _ERROR_CLASSES:
        err_off.append(len(err_list))
        err_n.append(len(errors[cls]))
        err_list.extend(errors[cls])
    err_list.append(None)

    kind_weights = [[op.weights.get(k, 0.0) for op in _OPS] for k in _KINDS]

    def series(values: Sequence[Any], dtype: Any = pl.String) -> pl.Series:
        return pl.Series(values=list(values), dtype=dtype)

    def index(values: Sequence[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    return _Plan(
        n=n,
        seed=seed,
        key=key,
        start_us=start_us,
        minute_start=minute_start,
        hour_cat=hour_cat,
        cat_actor=_Table.of([w for _, w in actors.categories]),
        cat_members=np.concatenate([m for m, _ in actors.categories]),
        actor_kind=actors.kinds,
        actor_offset_s=actors.offsets,
        actor_human=np.array([t == "user" for t in actors.types]),
        actor_ip=actors.ips,
        actor_ua=actors.uas,
        actor_random_ip=actors.random_ip,
        actor_shift=rng.integers(0, 1 << 20, len(actors.names)),
        anon_ips=actors.anon_ips,
        actor_names=series(actors.names),
        actor_types=series(actors.types, ActorType),
        ip_pool=series([*actors.ip_pool, None]),
        ua_pool=series(actors.ua_pool),
        kind_op=_Table.of([np.array(w) for w in kind_weights]),
        op_status=_Table.of([np.array(_PROFILES[op.status]) for op in _OPS]),
        op_rtype=index([_RTYPES.index(op.rtype) for op in _OPS]),
        op_created=np.array([op.action == "created" for op in _OPS]),
        op_deleted=np.array([op.action == "deleted" for op in _OPS]),
        op_self=np.array([op.self_target for op in _OPS]),
        op_mu=np.log([op.median_ms for op in _OPS]),
        op_sigma=np.array([op.sigma for op in _OPS]),
        op_error=index([_ERROR_CLASSES.index(op.error) for op in _OPS]),
        op_group=index([group_names.index(op.group) if op.group else -1 for op in _OPS]),
        op_perm=index([_PERM_TEXTS.index(op.perm) if op.perm else -1 for op in _OPS]),
        op_text_off=op_text_off,
        op_text_n=op_text_n,
        op_names=series([op.name for op in _OPS]),
        op_actions=series([op.action for op in _OPS]),
        rtype_names=series(_RTYPES),
        type_rank=type_rank,
        type_offset=type_offset,
        type_size=index(sizes),
        type_personal=np.array([r[3] for r in _RESOURCES]),
        type_group=index([group_names.index(t) if t in group_names else -1 for t in _RTYPES]),
        rank_map=rank_map,
        new_offset=index(new_offset),
        new_size=np.diff(index(new_offset)),
        prefixes=series([r[1] + "_" for r in _RESOURCES]),
        res_ids=series([*res_ids, None]),
        res_names=series([*res_names, None]),
        new_names=series(new_names),
        res_account=res_account,
        account_cum=np.cumsum(account_p) / account_p.sum(),
        accounts=series([a[0] for a in _ACCOUNTS]),
        group_frag=index([groups[g][0] for g in group_names]),
        group_upd=index([groups[g][1] for g in group_names]),
        group_create=index([groups[g][2] for g in group_names]),
        group_n=index([groups[g][3] for g in group_names]),
        perm_frag=perm_frag,
        perm_text=perm_text,
        perm_count=sizes[perm_t],
        err_off=index(err_off),
        err_n=index(err_n),
        errors=series(err_list),
        details=series(pools.details),
        attrs=series(pools.attrs),
        frag_pre=series(pools.frag_pre),
        frag_post=series(pools.frag_post),
        frag_name=series(pools.frag_name, pl.Boolean),
    )
