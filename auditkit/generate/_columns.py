"""Making events: each chunk's columns, vectorized from the plan."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import polars as pl
import pyarrow as pa

from auditkit.generate._plan import _draw, _mix, _Plan
from auditkit.generate._vocabulary import _RTYPES
from auditkit.schema import SCHEMA, STATUSES, Status, conform

_CHUNK = 1 << 18  # events per internal chunk; each chunk has its own seeded stream


@cache
def _hex_words() -> np.ndarray:
    """Every 16-bit value → its 4 hex digits, packed so the bytes read in order in memory."""
    return np.frombuffer("".join(f"{i:04x}" for i in range(1 << 16)).encode(), dtype=np.uint32)


def _hex(x: np.ndarray, digits: int) -> np.ndarray:
    """(n, digits) ASCII hex of the top ``digits`` nibbles of each uint64 (digits % 4 == 0)."""
    words = x.astype(">u8").view(">u2").reshape(-1, 4)[:, : digits // 4]
    return np.take(_hex_words(), words).view(np.uint8).reshape(-1, digits)


def _strings(parts: Sequence[bytes | np.ndarray], rows: int) -> pl.Series:
    """A String Series from fixed-width byte blocks, built without Python objects per row."""
    blocks = [
        np.broadcast_to(np.frombuffer(p, dtype=np.uint8), (rows, len(p)))
        if isinstance(p, bytes)
        else p
        for p in parts
    ]
    buf = np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.uint8)
    width = buf.shape[1]
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(buf))
    series = pl.from_arrow(array)
    assert isinstance(series, pl.Series)
    return series


def _chunk(plan: _Plan, c: int) -> pl.DataFrame:
    """Events ``c * _CHUNK`` up to the next chunk, from chunk ``c``'s own random stream."""
    lo = c * _CHUNK
    hi = min(plan.n, lo + _CHUNK)
    m = hi - lo
    rng = np.random.default_rng([plan.seed, 1, c])
    u = rng.random((13, m))  # one row of uniforms per decision below
    idx = np.arange(lo, hi, dtype=np.int64)

    # when: the event's minute, then a jittered slot inside it (sorted by construction)
    m0, m1 = np.searchsorted(plan.minute_start, [lo, hi - 1], side="right") - 1
    starts = np.clip(plan.minute_start[m0 : m1 + 2], lo, hi)
    minute = np.repeat(np.arange(m0, m1 + 1), np.diff(starts))
    first = plan.minute_start[minute]
    frac = (idx - first + u[0]) / (plan.minute_start[minute + 1] - first)
    ts = plan.start_us + minute * 60_000_000 + (frac * 60_000_000).astype(np.int64)

    # who: a category by hour (zones of people, machines), an actor within it by activity
    cat = plan.hour_cat.draw(minute // 60, u[1])
    actor = plan.cat_members[plan.cat_actor.starts[cat] + plan.cat_actor.draw(cat, u[2])]
    human = plan.actor_human[actor]

    # what, and how it went
    op = plan.kind_op.draw(plan.actor_kind[actor], u[3])
    status = plan.op_status.draw(op, u[4])
    success = status == 0
    rtype = plan.op_rtype[op]
    created = plan.op_created[op]

    # on which resource: Zipf per type, partly each actor's own favourites, deletes uniform
    size = plan.type_size[rtype]
    rank = plan.type_rank.draw(rtype, u[5])
    personal = u[6] < plan.type_personal[rtype]
    rank = np.where(personal, (rank + plan.actor_shift[actor]) % size, rank)
    deleted = plan.op_deleted[op]
    rank = np.where(deleted, np.minimum((u[6] * size).astype(np.int64), size - 1), rank)
    res = plan.rank_map[plan.type_offset[rtype] + rank]
    own = plan.op_self[op]
    res = np.where(own & human, plan.type_offset[_RTYPES.index("user")] + actor, res)
    res = np.where(own & ~human, len(plan.res_ids) - 1, res)  # sign-in to no known account
    free = created | own
    known = plan.res_account[np.minimum(res, len(plan.res_account) - 1)]
    account = np.where(free, _draw(plan.account_cum, u[7]), known)

    # details + attributes (one index), before/after (fragment indices), errors
    text = plan.op_text_off[op, status] + (u[8] * plan.op_text_n[op, status]).astype(np.int64)
    none = len(plan.frag_pre) - 1
    before = np.full(m, none, dtype=np.int64)
    after = np.full(m, none, dtype=np.int64)
    group = plan.op_group[op]
    rows = np.flatnonzero((group >= 0) & success)
    g = group[rows]
    frag = plan.group_frag[g] + 3 * (u[9][rows] * plan.group_n[g]).astype(np.int64)
    j = (frag - plan.group_frag[g]) // 3
    new = created[rows]
    text[rows] = np.where(new, plan.group_create[g], plan.group_upd[g]) + j
    before[rows] = np.where(new, none, frag)
    after[rows] = np.where(new, frag + 2, frag + 1)
    rows = np.flatnonzero(deleted & success & (plan.type_group[rtype] >= 0))
    g = plan.type_group[rtype[rows]]
    before[rows] = plan.group_frag[g] + 3 * (u[9][rows] * plan.group_n[g]).astype(np.int64) + 1
    rows = np.flatnonzero((plan.op_perm[op] >= 0) & success)
    local = res[rows] - plan.type_offset[_RTYPES.index("permission")]
    kind = plan.op_perm[op[rows]]
    text[rows] = plan.perm_text + kind * plan.perm_count + local
    pair = np.array([0, 1, 2, -1, 1])[kind]  # grant, revoke, update, (view), expire=revoke
    rows, local, pair = rows[pair >= 0], local[pair >= 0], pair[pair >= 0]
    before[rows] = plan.perm_frag + 2 * pair * plan.perm_count + local
    after[rows] = before[rows] + plan.perm_count
    failed = np.flatnonzero(status == 1)
    cls = plan.op_error[op[failed]]
    err = np.full(m, len(plan.errors) - 1, dtype=np.int64)
    err[failed] = plan.err_off[cls] + (u[10][failed] * plan.err_n[cls]).astype(np.int64)

    duration = np.exp(plan.op_mu[op] + plan.op_sigma[op] * rng.standard_normal(m)).round(3)
    duration[status >= 2] = np.nan  # still running or queued: no duration yet
    # delivery: stored a few seconds to minutes after it happened (median 20 s, ≤ 1 h)
    delivery_us = (np.exp(3.0 + rng.standard_normal(m)).clip(1, 3600) * 1e6).astype(np.int64)

    # from where: the actor's usual addresses and agents
    slot = np.where(u[11] < 0.8, 0, np.where(u[11] < 0.95, 1, 2))
    ip = plan.actor_ip[actor, slot]
    anon = plan.actor_random_ip[actor]
    ip[anon] = plan.anon_ips[(u[9][anon] * len(plan.anon_ips)).astype(np.int64)]
    ua = plan.actor_ua[actor, (u[12] >= 0.9).astype(np.int64)]

    # ids: bijective in the event index, so unique for a seed
    key = np.uint64(plan.key)
    h = _mix(idx.astype(np.uint64) + key)
    h2 = _mix(h ^ np.uint64(0xA5A5A5A5A5A5A5A5))
    local_day = (ts // 1_000_000 + plan.actor_offset_s[actor]) // 86_400
    sess = _mix((actor.astype(np.uint64) << np.uint64(24)) + local_day.astype(np.uint64) + key)
    event_id = _strings([b"evt_", _hex(h, 16), _hex(h2, 4)], m)
    request_id = _strings([b"req_", _hex(_mix(h2), 16), _hex(_mix(h2 + np.uint64(1)), 8)], m)
    session_id = _strings([b"sess_", _hex(sess, 16)], m)

    # new resources for created events: the next ids of their type, and fresh names
    rows = np.flatnonzero(created)
    t = rtype[rows]
    fresh_id = pl.DataFrame(
        {"p": plan.prefixes.gather(t), "n": plan.type_size[t] + 1 + idx[rows]}
    ).select(pl.concat_str("p", pl.col("n").cast(pl.String).str.zfill(6)))
    picks = plan.new_offset[t] + (u[8][rows] * plan.new_size[t]).astype(np.int64)
    res_id = plan.res_ids.gather(res).scatter(rows, fresh_id.to_series())
    res_name = plan.res_names.gather(res).scatter(rows, plan.new_names.gather(picks))

    frame = pl.DataFrame(
        {
            "event_id": event_id,
            "timestamp": pl.Series(ts).cast(SCHEMA["timestamp"]),
            "ingested_at": pl.Series(ts + delivery_us).cast(SCHEMA["ingested_at"]),
            "actor": plan.actor_names.gather(actor),
            "actor_type": plan.actor_types.gather(actor),
            "action": plan.op_actions.gather(op),
            "operation": plan.op_names.gather(op),
            "resource_type": plan.rtype_names.gather(rtype),
            "resource_id": res_id,
            "resource_name": res_name,
            "status": pl.Series(STATUSES, dtype=Status).gather(status),
            "ip_address": plan.ip_pool.gather(ip),
            "user_agent": plan.ua_pool.gather(ua),
            "session_id": session_id,
            "request_id": request_id,
            "duration_ms": pl.Series(duration).fill_nan(None),
            "details": plan.details.gather(text),
            "error_message": plan.errors.gather(err),
            "_b_pre": plan.frag_pre.gather(before),
            "_b_post": plan.frag_post.gather(before),
            "_b_name": plan.frag_name.gather(before),
            "_a_pre": plan.frag_pre.gather(after),
            "_a_post": plan.frag_post.gather(after),
            "_a_name": plan.frag_name.gather(after),
            "account": plan.accounts.gather(account),
            "attributes": plan.attrs.gather(text),
            "_human": human,
        }
    )
    name = pl.col("resource_name")

    def fill(prefix: str) -> pl.Expr:
        part = pl.when(pl.col(f"{prefix}_name")).then(name).otherwise(pl.lit(""))
        return pl.concat_str(pl.col(f"{prefix}_pre"), part, pl.col(f"{prefix}_post"))

    frame = frame.with_columns(
        before=fill("_b"),
        after=fill("_a"),
        session_id=pl.when("_human").then("session_id"),
        source=pl.lit("native"),
        resource_name=pl.when(pl.col("actor_type") == "anonymous", pl.col("action") == "login")
        .then("actor")
        .otherwise(name),
    )
    return conform(frame.drop(pl.selectors.starts_with("_")))


def _chunks(plan: _Plan) -> Iterator[pl.DataFrame]:
    """Every chunk in order; the next one is made on a second thread meanwhile."""
    count = (plan.n + _CHUNK - 1) // _CHUNK
    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead = [pool.submit(_chunk, plan, c) for c in range(min(2, count))]
        for c in range(count):
            frame = ahead.pop(0).result()
            if c + 2 < count:
                ahead.append(pool.submit(_chunk, plan, c + 2))
            yield frame


def _batches(plan: _Plan, batch_size: int) -> Iterator[pl.DataFrame]:
    pending: list[pl.DataFrame] = []
    have = 0
    for frame in _chunks(plan):
        while frame.height:
            take = min(batch_size - have, frame.height)
            pending.append(frame.slice(0, take))
            have += take
            frame = frame.slice(take)
            if have == batch_size:
                yield pl.concat(pending) if len(pending) > 1 else pending[0]
                pending, have = [], 0
    if pending:
        yield pl.concat(pending) if len(pending) > 1 else pending[0]
