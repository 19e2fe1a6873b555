"""Investigations: the troubleshooting recipes, each one call returning an :class:`Investigation`.

- :func:`who_changed` — who changed a resource, what and when (optionally one field);
- :func:`user_activity` — everything one user did in a range, and what stands out;
- :func:`leak_timeline` — who viewed, exported and held access to a resource, and when;
- :func:`failures` — why operations failed: error messages grouped, with what came before.

Every investigation reads through :meth:`auditkit.query.Session.events` with a query
written in the search language, and returns that query as text so the user can continue
in the search box. ``docs/investigations.md`` is the user's guide.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from auditkit.history import (
    Resource,
    build_query,
    date_terms,
    resolve,
    resource_events,
    with_changes,
)
from auditkit.query import Session
from auditkit.search import And, Node, Or, Term, Text

__all__ = [
    "Investigation",
    "failures",
    "leak_timeline",
    "normalize_error",
    "user_activity",
    "who_changed",
]

#: Actions that change a resource even when no before/after state was logged.
CHANGE_ACTIONS: tuple[str, ...] = ("created", "updated", "deleted", "promoted", "shared", "revoked")
#: Actions that count as permission changes in :func:`user_activity`.
PERMISSION_ACTIONS: tuple[str, ...] = ("shared", "revoked", "promoted")
#: How far back :func:`user_activity` looks for known IP addresses and usual hours.
BASELINE_DAYS = 30
#: Usual hours need at least this many active days in the baseline.
MIN_BASELINE_DAYS = 5
#: How far before a failure group's first occurrence :func:`failures` looks for context.
FAILURE_LOOKBACK = timedelta(days=30)

Moment = datetime | date


@dataclass(frozen=True)
class Investigation:
    """The answer to one investigation.

    Attributes:
        title: one line naming what was investigated.
        summary: a short paragraph with the key numbers and names.
        frames: the evidence, by name (each investigation documents its frames).
        query: search text for the events the investigation read, to continue in the
            search box (``auditkit search QUERY``).
    """

    title: str
    summary: str
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    query: str = ""

    def _repr_html_(self) -> str:
        parts = [
            f"<h3>{html.escape(self.title)}</h3>",
            f"<p>{html.escape(self.summary)}</p>",
            f"<p><code>{html.escape(self.query)}</code></p>",
        ]
        for name, frame in self.frames.items():
            parts.append(f"<h4>{html.escape(name)} ({frame.height:,} rows)</h4>")
            parts.append(frame.head(50)._repr_html_())
        return "".join(parts)


# -- who changed a resource -------------------------------------------------------------


def who_changed(
    session: Session,
    resource: str | Resource,
    *,
    field: str | None = None,
    start: Moment | None = None,
    end: Moment | None = None,
) -> Investigation:
    """Who changed a resource, what they changed and when.

    Args:
        session: the read path.
        resource: an id, an exact name, or ``type:name`` (see :func:`auditkit.history.resolve`).
        field: only events whose diff touches this field (``visibility`` matches
            ``settings.sharing.visibility``, as the ``changed:`` search key does); the
            ``changes`` text then shows only that field.
        start, end: the range ``[start, end)`` (aware datetimes, or dates).

    Returns:
        Frames ``changes`` (newest first: timestamp, actor, action, status, changes,
        changed_fields, ip_address, event_id) and ``changers`` (per actor: successful
        changes, failed attempts, first, last, fields touched). Changes are the events
        with a recorded before/after or a changing action (created, updated, deleted,
        promoted, shared, revoked); failed attempts are listed but not counted as changes.
    """
    res = resource if isinstance(resource, Resource) else resolve(session, resource)
    if field is None:
        what: Node = Or((Term("has", ("changes",)), Term("action", CHANGE_ACTIONS)))
        frame, query = resource_events(session, res, start=start, end=end, extra=[what])
        frame = with_changes(frame)
    else:
        # ``changed:FIELD`` is the honest query; it is evaluated here on the collected rows
        # (same rule as the search key) rather than pushed into the Parquet scan.
        query = build_query(res.terms(), Term("changed", (field,)), date_terms(start, end))
        frame, _ = resource_events(
            session, res, start=start, end=end, extra=[Term("has", ("changes",))]
        )
        frame = with_changes(frame, field=field).filter(
            pl.col("changed_fields").list.eval(_touches(field)).list.any()
        )
    changes = frame.sort("timestamp", "event_id", descending=True).select(
        "timestamp",
        "actor",
        "action",
        pl.col("status").cast(pl.String),
        "changes",
        "changed_fields",
        "ip_address",
        "event_id",
    )
    success = pl.col("status") == "success"
    changers = (
        changes.group_by("actor")
        .agg(
            success.sum().alias("changes"),
            (pl.col("status") == "failed").sum().alias("failed"),
            pl.col("timestamp").filter(success).min().alias("first"),
            pl.col("timestamp").filter(success).max().alias("last"),
            pl.col("changed_fields")
            .filter(success)
            .explode()
            .drop_nulls()
            .unique()
            .sort()
            .alias("fields"),
        )
        .sort(["changes", "last", "actor"], descending=[True, True, False], nulls_last=True)
    )
    done = changes.filter(success)
    what_text = f" touching '{field}'" if field else ""
    span = _span(start, end)
    title = f"Who changed {res.label}" + (f" ({field})" if field else "")
    if done.is_empty():
        summary = f"No recorded changes to {res.label}{what_text}{span}."
    else:
        latest = done.row(0, named=True)
        actors = done.get_column("actor").n_unique()
        summary = (
            f"{res.label} was changed {_plural(done.height, 'time')}{what_text}{span} by "
            f"{_plural(actors, 'actor')}, most recently by {latest['actor']} on "
            f"{_when(latest['timestamp'])} ({latest['action']}"
            + (f": {_clip(latest['changes'])})." if latest["changes"] else ").")
        )
        top = changers.filter(pl.col("changes") > 0).head(3)
        summary += " Top changers: " + _ranked(top.select("actor", "changes").rows()) + "."
    failed = changes.height - done.height
    if failed:
        summary += f" {_plural(failed, 'other attempt')} did not succeed (see status)."
    return Investigation(title, summary, {"changes": changes, "changers": changers}, str(query))


# -- everything one user did ------------------------------------------------------------


def user_activity(
    session: Session,
    user: str,
    *,
    start: Moment | None = None,
    end: Moment | None = None,
) -> Investigation:
    """Everything one user did in ``[start, end)``, and what stands out.

    Args:
        session: the read path.
        user: the actor (matched like ``user:`` in the search box: whole value, ignoring
            case, ``*`` wildcards; ``me`` is the session's current user).
        start, end: the range (aware datetimes, or dates).

    Returns:
        Frames ``events`` (newest first), ``by_action``, ``by_resource_type``, and the
        unusual: ``failures``; ``permission_changes`` (permission records other than
        views, and shared/revoked/promoted actions); ``exports`` (with ``rows`` and
        ``bytes`` from ``attributes`` or ``details``); ``new_ips`` (addresses used in the
        range that the user did not use in the 30 days before ``start``); and
        ``unusual_hours`` (events at hours of the day, in the session's time zone, when
        the user was not active on at least two of those 30 days). The last two need
        ``start``; usual hours also need 5 active days in the baseline.
    """
    query = build_query(Term("user", (user,)), date_terms(start, end))
    events = (
        session.events(query)
        .sort("timestamp", "event_id", descending=True)
        .collect()
        .with_columns(pl.col("status").cast(pl.String), _resource())
    )
    actors = events.get_column("actor").unique().sort().to_list()
    who = ", ".join(actors) if 0 < len(actors) <= 2 else _me(session, user)
    failed = pl.col("status") == "failed"
    by_action = (
        events.group_by("action")
        .agg(
            pl.len().alias("events"),
            failed.sum().alias("failed"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort(["events", "action"], descending=[True, False])
    )
    by_type = (
        events.group_by("resource_type")
        .agg(
            pl.len().alias("events"),
            pl.col("resource_id").n_unique().alias("resources"),
            failed.sum().alias("failed"),
        )
        .sort(["events", "resource_type"], descending=[True, False], nulls_last=True)
    )
    failures_ = events.filter(failed).select(
        "timestamp", "action", "resource_type", "resource", "error_message", "event_id"
    )
    permission = (
        (pl.col("resource_type") == "permission") & (pl.col("action") != "viewed")
    ).fill_null(False) | pl.col("action").is_in(list(PERMISSION_ACTIONS))
    permissions = events.filter(permission).select(
        "timestamp",
        "action",
        "operation",
        "resource_type",
        "resource",
        "status",
        "details",
        "event_id",
    )
    exports = events.filter(pl.col("action") == "exported").select(
        "timestamp",
        "resource_type",
        "resource",
        "status",
        *_amounts(),
        "details",
        "event_id",
    )
    new_ips, unusual, baseline_note = _against_baseline(session, user, events, start)
    frames = {
        "events": events.select(
            "timestamp",
            "action",
            "resource_type",
            "resource",
            "status",
            "ip_address",
            "details",
            "event_id",
        ),
        "by_action": by_action,
        "by_resource_type": by_type,
        "failures": failures_,
        "permission_changes": permissions,
        "exports": exports,
        "new_ips": new_ips,
        "unusual_hours": unusual,
    }
    span = _span(start, end)
    title = f"Activity of {who}{span}"
    if events.is_empty():
        summary = f"No events by {who}{span}."
        return Investigation(title, summary, frames, str(query))
    resources = events.get_column("resource_id").drop_nulls().n_unique()
    top_actions = _ranked(by_action.select("action", "events").head(4).rows(), parens=False)
    top_types = _ranked(by_type.select("resource_type", "events").head(3).rows(), parens=False)
    summary = (
        f"{who} has {_plural(events.height, 'event')}{span} (from "
        f"{_when(_first(events, 'timestamp'))} to {_when(_last(events, 'timestamp'))}): "
        f"{top_actions}; on {_plural(resources, 'resource')} ({top_types})."
    )
    notes = []
    if failures_.height:
        last = failures_.row(0, named=True)
        notes.append(
            f"{_plural(failures_.height, 'failure')} (latest: "
            f'"{_clip(last["error_message"] or "no error message")}" on '
            f"{last['resource_type']} '{last['resource']}' at {_when(last['timestamp'])})"
        )
    if permissions.height:
        shown = permissions.head(3).select("action", "resource").rows()
        notes.append(
            f"{_plural(permissions.height, 'permission change')} ("
            + ", ".join(f"{a} {r}" for a, r in shown)
            + (", …" if permissions.height > 3 else "")
            + ")"
        )
    if exports.height:
        notes.append(f"{_plural(exports.height, 'export')} ({_volume(exports)})")
    if new_ips.height:
        shown_ips = new_ips.head(3).rows(named=True)
        notes.append(
            f"{_plural(new_ips.height, 'new IP address', 'new IP addresses')} ("
            + ", ".join(f"{r['ip_address']} first used {_when(r['first_seen'])}" for r in shown_ips)
            + ")"
        )
    if unusual.height:
        hours = sorted(set(unusual.get_column("hour").to_list()))
        notes.append(
            f"{_plural(unusual.height, 'event')} outside usual hours (at "
            + ", ".join(f"{h:02d}:00" for h in hours[:6])
            + ")"
        )
    if notes:
        summary += " Worth a look: " + "; ".join(notes) + "."
    else:
        summary += " Nothing unusual: no failures, permission changes or exports"
        summary += ", and no new IP addresses." if start is not None else "."
    if baseline_note:
        summary += " " + baseline_note
    return Investigation(title, summary, frames, str(query))


def _against_baseline(
    session: Session, user: str, events: pl.DataFrame, start: Moment | None
) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """New IPs and events at unusual hours, against the days before ``start``."""
    new_ips = pl.DataFrame(
        schema={
            "ip_address": pl.String,
            "first_seen": events.schema["timestamp"],
            "last_seen": events.schema["timestamp"],
            "events": pl.UInt32,
        }
    )
    unusual = events.head(0).select(
        "timestamp", pl.lit(0, pl.Int8).alias("hour"), "action", "resource_type", "resource",
        "ip_address", "event_id",
    )  # fmt: skip
    if start is None:
        return new_ips, unusual, "New IP addresses and usual hours are checked only from a start."
    begin = start if isinstance(start, datetime) else session.ctx.start_of(start)
    baseline_query = build_query(
        Term("user", (user,)), date_terms(begin - timedelta(days=BASELINE_DAYS), begin)
    )
    baseline = session.events(baseline_query).select("timestamp", "ip_address").collect()
    known = baseline.get_column("ip_address").drop_nulls().unique().to_list()
    new_ips = (
        events.filter(pl.col("ip_address").is_not_null() & ~pl.col("ip_address").is_in(known))
        .group_by("ip_address")
        .agg(
            pl.col("timestamp").min().alias("first_seen"),
            pl.col("timestamp").max().alias("last_seen"),
            pl.len().alias("events"),
        )
        .sort("first_seen", "ip_address")
    )
    zone = session.ctx.zone
    local = [t.astimezone(zone) for t in baseline.get_column("timestamp").to_list()]
    days = {t.date() for t in local}
    if len(days) < MIN_BASELINE_DAYS:
        note = (
            f"Usual hours not checked: active on {_plural(len(days), 'day')} of the "
            f"{BASELINE_DAYS} before the range (needs {MIN_BASELINE_DAYS})."
        )
        return new_ips, unusual, note
    days_per_hour: dict[int, set[date]] = {}
    for t in local:
        days_per_hour.setdefault(t.hour, set()).add(t.date())
    usual = sorted(h for h, d in days_per_hour.items() if len(d) >= 2)
    hours = pl.Series(
        "hour", [t.astimezone(zone).hour for t in events.get_column("timestamp")], dtype=pl.Int8
    )
    unusual = (
        events.with_columns(hours)
        .filter(~pl.col("hour").is_in(usual))
        .select(
            "timestamp", "hour", "action", "resource_type", "resource", "ip_address", "event_id"
        )
    )
    return new_ips, unusual, ""


# -- data-leak timeline -----------------------------------------------------------------


def leak_timeline(
    session: Session,
    resource: str | Resource,
    *,
    start: Moment | None = None,
    end: Moment | None = None,
) -> Investigation:
    """Who viewed a resource, who exported it and how much, and who held access when.

    Reads the resource's own events and the permission records naming it. A grant is a
    ``shared`` event, a revocation a ``revoked`` one (expiry included), a role change an
    ``updated`` permission record; the grantee and role come from ``attributes``,
    ``after`` or ``before`` (``grantee`` / ``role`` keys, as the platform logs them).
    Permission records are matched to the resource by name in the query (free text),
    then exactly by their target (``attributes.target_id``, or ``"type:id"`` in their
    ``before``/``after`` ``resource``).

    Returns:
        Frames ``timeline`` (oldest first: timestamp, kind — viewed, exported,
        downloaded, granted, revoked, role_changed, access_reviewed, or the action —
        actor, grantee, role, rows, bytes, status, details, event_id) and ``access``
        (one row per grant: grantee, role, granted_at, granted_by, revoked_at,
        revoked_by, still_held). Access is rebuilt from all permission history up to
        ``end``, so a grant made before ``start`` still shows; ``granted_at`` is null
        when the grant predates the log.
    """
    res = resource if isinstance(resource, Resource) else resolve(session, resource)
    match = _about(res)
    query = build_query(match, date_terms(start, end))
    timeline = _timeline(session, query, res)
    if start is None:
        permission_rows = timeline
    else:
        permission_rows = _timeline(session, build_query(match, date_terms(None, end)), res)
    access = _access(permission_rows)
    if start is not None:
        begin = start if isinstance(start, datetime) else session.ctx.start_of(start)
        access = access.filter(pl.col("revoked_at").is_null() | (pl.col("revoked_at") >= begin))
    span = _span(start, end)
    title = f"Leak timeline of {res.label}{span}"
    summary = _leak_summary(res, timeline, access, span)
    return Investigation(title, summary, {"timeline": timeline, "access": access}, str(query))


def _about(res: Resource) -> Node:
    """Its own events, or permission records that mention its name."""
    own = _all(res.terms())
    if not res.name:
        return own
    return Or((own, And((Term("resource_type", ("permission",)), Text(res.name)))))


def _targets(res: Resource) -> pl.Expr:
    """Permission records whose target is ``res``."""
    attr = pl.col("attributes").str.json_path_match
    if res.id is not None:
        ref = f"{res.type}:{res.id}"
        hit = (
            (attr("$.target_id") == res.id).fill_null(False)
            | (pl.col("after").str.json_path_match("$.resource") == ref).fill_null(False)
            | (pl.col("before").str.json_path_match("$.resource") == ref).fill_null(False)
        )
    else:
        hit = (attr("$.target_name") == res.name).fill_null(False)
        if res.type is not None:
            hit &= (attr("$.target_type") == res.type).fill_null(False)
    return (pl.col("resource_type") == "permission").fill_null(False) & hit


def _timeline(session: Session, query: Any, res: Resource) -> pl.DataFrame:
    events = (
        session.events(query)
        .filter(res.match() | _targets(res))
        .sort("timestamp", "event_id")
        .collect()
    )
    action, op = pl.col("action"), pl.col("operation").fill_null("").str.to_lowercase()
    perm = (pl.col("resource_type") == "permission").fill_null(False)
    kind = (
        pl.when(action == "shared").then(pl.lit("granted"))
        .when(action == "revoked").then(pl.lit("revoked"))
        .when(perm & (action == "updated")).then(pl.lit("role_changed"))
        .when(perm & (action == "viewed")).then(pl.lit("access_reviewed"))
        .when((action == "exported") & op.str.contains("download")).then(pl.lit("downloaded"))
        .otherwise(action)
    )  # fmt: skip

    def get(column: str, key: str) -> pl.Expr:
        return pl.col(column).str.json_path_match(f"$.{key}")

    grantee = pl.coalesce(
        get("attributes", "grantee"),
        get("after", "grantee"),
        get("before", "grantee"),
        get("attributes", "shared_with"),
        get("attributes", "principal"),
    )
    role = (
        pl.when(action == "revoked")
        .then(pl.coalesce(get("before", "role"), get("attributes", "role")))
        .otherwise(pl.coalesce(get("after", "role"), get("attributes", "role")))
    )
    access_kind = kind.is_in(["granted", "revoked", "role_changed"])
    return events.select(
        "timestamp",
        kind.alias("kind"),
        "actor",
        pl.when(access_kind).then(grantee).alias("grantee"),
        pl.when(access_kind).then(role).alias("role"),
        *_amounts(),
        pl.col("status").cast(pl.String),
        "details",
        "event_id",
    )


def _access(timeline: pl.DataFrame) -> pl.DataFrame:
    """Access intervals per grantee from granted / role_changed / revoked rows."""
    open_: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    rows = timeline.filter(
        pl.col("kind").is_in(["granted", "revoked", "role_changed"])
        & (pl.col("status") == "success")
        & pl.col("grantee").is_not_null()
    )
    for row in rows.iter_rows(named=True):
        grantee, kind = row["grantee"], row["kind"]
        held = open_.get(grantee)
        if kind in ("granted", "role_changed"):
            if held is None:
                at = row["timestamp"] if kind == "granted" else None
                by = row["actor"] if kind == "granted" else None
                open_[grantee] = held = {
                    "grantee": grantee,
                    "role": row["role"],
                    "granted_at": at,
                    "granted_by": by,
                    "revoked_at": None,
                    "revoked_by": None,
                }
            held["role"] = row["role"] or held["role"]
            continue
        interval = open_.pop(grantee, None) or {
            "grantee": grantee,
            "role": row["role"],
            "granted_at": None,
            "granted_by": None,
        }
        interval.update(revoked_at=row["timestamp"], revoked_by=row["actor"])
        done.append(interval)
    done.extend(open_.values())
    ts = timeline.schema["timestamp"]
    schema: dict[str, pl.DataType] = {
        "grantee": pl.String(),
        "role": pl.String(),
        "granted_at": ts,
        "granted_by": pl.String(),
        "revoked_at": ts,
        "revoked_by": pl.String(),
    }
    frame = pl.DataFrame(done, schema=schema) if done else pl.DataFrame(schema=schema)
    return frame.with_columns(still_held=pl.col("revoked_at").is_null()).sort(
        "granted_at", "revoked_at", "grantee", nulls_last=False
    )


def _leak_summary(res: Resource, timeline: pl.DataFrame, access: pl.DataFrame, span: str) -> str:
    if timeline.is_empty():
        return f"No events on {res.label}{span}."
    ok = timeline.filter(pl.col("status") == "success")
    views = ok.filter(pl.col("kind") == "viewed")
    outs = ok.filter(pl.col("kind").is_in(["exported", "downloaded"]))
    parts = [
        f"{res.label}{span}: viewed {_plural(views.height, 'time')} by "
        f"{_plural(views.get_column('actor').n_unique(), 'actor')}"
        if views.height
        else f"{res.label}{span}: never viewed"
    ]
    if outs.height:
        per = (
            outs.group_by("actor")
            .agg(pl.len().alias("n"), pl.col("rows").sum(), pl.col("timestamp").max())
            .sort(["n", "rows", "actor"], descending=[True, True, False])
        )
        who = []
        for row in per.head(3).iter_rows(named=True):
            text = f"{row['actor']} ({_plural(row['n'], 'time')}, {row['rows']:,} rows"
            grant = access.filter(pl.col("grantee") == row["actor"])
            if grant.height:
                g = grant.row(grant.height - 1, named=True)
                if g["granted_at"] is not None:
                    text += f"; access granted {_when(g['granted_at'])}"
                if g["revoked_at"] is not None:
                    text += f", revoked {_when(g['revoked_at'])}"
            who.append(text + ")")
        parts.append(
            f"exported or downloaded {_plural(outs.height, 'time')} by "
            f"{_plural(per.height, 'actor')}, {_volume(outs)}: " + ", ".join(who)
        )
    else:
        parts.append("never exported or downloaded")
    grants = ok.filter(pl.col("kind") == "granted").height
    revokes = ok.filter(pl.col("kind") == "revoked").height
    text = "; ".join(parts) + f". {_plural(grants, 'grant')} and {_plural(revokes, 'revocation')}"
    if access.height:
        held = access.filter(pl.col("still_held")).get_column("grantee").to_list()
        text += f"; {_plural(access.get_column('grantee').n_unique(), 'grantee')} held access"
        text += f", still held by {_names(held)}" if held else ", none still holds it"
    return text + "."


# -- why operations failed --------------------------------------------------------------

_ERROR_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
     "<id>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<ip>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<id>"),
    (re.compile(r"\b[A-Za-z]{1,6}[_-](?=[0-9a-fA-F]*\d)[0-9a-fA-F]{3,}\b"), "<id>"),
    (re.compile(r"(?<![A-Za-z0-9_<])\d+(?:[.,]\d+)*"), "<n>"),
)  # fmt: skip


def normalize_error(message: str | None) -> str:
    """An error message with its variable parts replaced, so variants group together.

    UUIDs, hex strings of 8+ characters mixing digits and letters (``0a1b2c3d4e``) and
    short-prefixed ids (up to 6 letters, ``_`` or ``-``, 3+ hex digits: ``evt_000123``,
    ``sg-12345``) become ``<id>``; IPv4 addresses ``<ip>``; other numbers ``<n>`` —
    except digits glued to a word (``s3``, ``shipments_2025``). Heuristic: a table named
    ``orders_2025`` reads as an id too.

    >>> normalize_error("timeout after 30000 ms to host:5432")
    'timeout after <n> ms to host:<n>'
    >>> normalize_error("Pipeline run #1042 failed at task 'load'")
    "Pipeline run #<n> failed at task 'load'"
    """
    if message is None:
        return "(no error message)"
    text = message.strip()
    for pattern, replacement in _ERROR_PATTERNS:
        text = pattern.sub(replacement, text)
    return text or "(no error message)"


def failures(
    session: Session,
    resource: str | Resource | None = None,
    *,
    start: Moment | None = None,
    end: Moment | None = None,
    max_groups: int = 10,
    context: int = 5,
) -> Investigation:
    """Why operations failed: failures grouped by error message, with what came before.

    Args:
        session: the read path.
        resource: only failures on this resource (id, exact name or ``type:name``).
        start, end: the range ``[start, end)``.
        max_groups: how many of the largest groups get their context looked up.
        context: how many events before each group's last occurrence to show.

    Returns:
        Frames ``groups`` (largest first: error — the message with numbers and ids
        replaced by :func:`normalize_error` —, count, first, last, example — the latest
        message —, resources, last_resource, change_before_first — the last recorded
        change on that resource before the group first failed there), ``failures``
        (newest first) and ``preceding`` (for each group, up to ``context`` events on
        the resource of its last occurrence just before it, leaving out that group's
        own failures so a recurring error does not hide what came before it; looked up
        to 30 days before the group's first occurrence).
    """
    res = None
    if resource is not None:
        res = resource if isinstance(resource, Resource) else resolve(session, resource)
    query = build_query(
        Term("status", ("failed",)), res.terms() if res else [], date_terms(start, end)
    )
    lazy = session.events(query)
    if res is not None:
        lazy = lazy.filter(res.match())
    frame = lazy.sort("timestamp", "event_id").collect()
    messages = frame.select("error_message").unique()
    messages = messages.with_columns(
        pl.Series(
            "error",
            [normalize_error(m) for m in messages.get_column("error_message")],
            dtype=pl.String,
        )
    )
    frame = frame.join(messages, on="error_message", how="left", nulls_equal=True).sort(
        "timestamp", "event_id"
    )
    frame = frame.with_columns(_resource(), _label().alias("label"))
    groups = (
        frame.group_by("error")
        .agg(
            pl.len().alias("count"),
            pl.col("timestamp").first().alias("first"),
            pl.col("timestamp").last().alias("last"),
            pl.col("error_message").last().alias("example"),
            pl.col("label").drop_nulls().unique().sort().alias("resources"),
            pl.col("label").last().alias("last_resource"),
            pl.col("resource_type").last().alias("_type"),
            pl.col("resource_id").last().alias("_id"),
            pl.col("resource_name").last().alias("_name"),
            pl.col("event_id").last().alias("_last_id"),
        )
        .sort(["count", "last", "error"], descending=[True, True, False])
    )
    preceding, before_first = _failure_context(session, frame, groups.head(max_groups), context)
    groups = groups.join(before_first, on="error", how="left").select(
        "error",
        "count",
        "first",
        "last",
        "example",
        "resources",
        "last_resource",
        "change_before_first",
    )
    listing = frame.sort("timestamp", "event_id", descending=True).select(
        "timestamp",
        "actor",
        "action",
        "resource_type",
        "resource",
        "error_message",
        "error",
        "event_id",
    )
    span = _span(start, end)
    where = f" on {res.label}" if res else ""
    title = "Failed operations" + where + span
    summary = _failure_summary(frame, groups, preceding, where, span)
    frames = {"groups": groups, "failures": listing, "preceding": preceding}
    return Investigation(title, summary, frames, str(query))


def _failure_context(
    session: Session, failed: pl.DataFrame, groups: pl.DataFrame, context: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    ts = failed.schema["timestamp"]
    preceding_schema: dict[str, pl.DataType] = {
        "error": pl.String(),
        "failed_at": ts,
        "timestamp": ts,
        "actor": pl.String(),
        "action": pl.String(),
        "status": pl.String(),
        "resource_type": pl.String(),
        "resource": pl.String(),
        "changes": pl.String(),
        "details": pl.String(),
        "event_id": pl.String(),
    }
    empty_before = pl.DataFrame(schema={"error": pl.String, "change_before_first": pl.String})
    targets = {
        Resource(row["_type"], row["_id"], row["_name"])
        for row in groups.iter_rows(named=True)
        if row["_id"] is not None or row["_name"] is not None
    }
    if not targets:
        return pl.DataFrame(schema=preceding_schema), empty_before
    ids = sorted(r.id for r in targets if r.id is not None)
    branches: list[Node] = [Term("resource_id", tuple(ids))] if ids else []
    branches += [_all(r.terms()) for r in targets if r.id is None]
    lo = groups.get_column("first").min() - FAILURE_LOOKBACK  # type: ignore[operator]
    hi = groups.get_column("last").max()
    query = build_query(
        branches[0] if len(branches) == 1 else Or(tuple(branches)),
        date_terms(lo, hi, inclusive_end=True),  # type: ignore[arg-type]
    )
    nearby = session.events(query).sort("timestamp", "event_id").collect()
    pieces, notes = [], []
    for row in groups.iter_rows(named=True):
        res = Resource(row["_type"], row["_id"], row["_name"])
        if res.id is None and res.name is None:
            continue
        own = failed.filter((pl.col("error") == row["error"]) & res.match())
        own_ids = own.get_column("event_id").to_list()
        on_res = nearby.filter(res.match() & ~pl.col("event_id").is_in(own_ids))
        last_ts, last_id = row["last"], row["_last_id"]
        before_last = on_res.filter(
            (pl.col("timestamp") < last_ts)
            | ((pl.col("timestamp") == last_ts) & (pl.col("event_id") < last_id))
        ).tail(context)
        if before_last.height:
            pieces.append(
                with_changes(before_last)
                .sort("timestamp", "event_id", descending=True)
                .select(
                    pl.lit(row["error"]).alias("error"),
                    pl.lit(last_ts).cast(ts).alias("failed_at"),
                    "timestamp",
                    "actor",
                    "action",
                    pl.col("status").cast(pl.String),
                    "resource_type",
                    pl.coalesce("resource_name", "resource_id").alias("resource"),
                    "changes",
                    "details",
                    "event_id",
                )
            )
        first_here = own.get_column("timestamp").min()
        changed = on_res.filter(
            (pl.col("timestamp") < first_here)
            & (pl.col("status") == "success")
            & (pl.col("before").is_not_null() | pl.col("after").is_not_null())
        ).tail(1)
        if changed.height:
            change = with_changes(changed).row(0, named=True)
            notes.append(
                (
                    row["error"],
                    f"{_when(change['timestamp'])} {change['actor']} {change['action']}: "
                    + (change["changes"] or "no recorded state"),
                )
            )
    preceding = pl.concat(pieces) if pieces else pl.DataFrame(schema=preceding_schema)
    before_first = (
        pl.DataFrame(notes, schema=empty_before.schema, orient="row") if notes else empty_before
    )
    return preceding, before_first


def _failure_summary(
    frame: pl.DataFrame, groups: pl.DataFrame, preceding: pl.DataFrame, where: str, span: str
) -> str:
    if frame.is_empty():
        return f"No failed events{where}{span}."
    top = groups.row(0, named=True)
    text = (
        f"{_plural(frame.height, 'failed event')}{where}{span}, in "
        f"{_plural(groups.height, 'group')} of error messages. Most common: "
        f'"{_clip(top["example"] or "(no error message)")}" — {_plural(top["count"], "time")} '
        f"from {_when(top['first'])} to {_when(top['last'])}, on "
        f"{_names(top['resources'] or ['no resource'])}."
    )
    before = preceding.filter(pl.col("error") == top["error"])
    if before.height:
        b = before.row(0, named=True)
        text += (
            f" Right before its last occurrence: {b['actor']} {b['action']} "
            f"{b['resource_type']} '{b['resource']}' at {_when(b['timestamp'])}"
            + (f" ({_clip(b['changes'])})" if b["changes"] else "")
            + (f" [{b['status']}]" if b["status"] != "success" else "")
            + "."
        )
    if top["change_before_first"]:
        text += f" Last change before it first failed: {_clip(top['change_before_first'], 160)}."
    others = groups.slice(1, 3)
    if others.height:
        text += (
            " Next: "
            + ", ".join(
                f'"{_clip(r["example"] or "(no error message)", 60)}" ({r["count"]})'
                for r in others.iter_rows(named=True)
            )
            + "."
        )
    return text


# -- shared helpers ---------------------------------------------------------------------


def _touches(field: str) -> pl.Expr:
    """On a list element: the path is ``field`` or inside it (see ``history.touches``)."""
    path = pl.element()
    return (
        (path == field)
        | path.str.ends_with("." + field)
        | path.str.starts_with(field + ".")
        | path.str.starts_with(field + "[")
    )


def _all(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _resource() -> pl.Expr:
    return pl.coalesce("resource_name", "resource_id").alias("resource")


def _label() -> pl.Expr:
    return pl.concat_str(
        pl.col("resource_type").fill_null("?"),
        pl.coalesce("resource_name", "resource_id"),
        separator=":",
    )


_ROWS_IN_DETAILS = r"(?i)([0-9][0-9,]*)\s+(?:rows|records)"


def _amounts() -> list[pl.Expr]:
    """``rows`` and ``bytes`` from ``attributes`` JSON, else rows from ``details``."""

    def number(text: pl.Expr) -> pl.Expr:
        return text.str.replace_all(",", "", literal=True).cast(pl.Int64, strict=False)

    def attr(key: str) -> pl.Expr:
        return number(pl.col("attributes").str.json_path_match(f"$.{key}"))

    rows = pl.coalesce(
        attr("rows"),
        attr("row_count"),
        attr("rowCount"),
        attr("records"),
        number(pl.col("details").str.extract(_ROWS_IN_DETAILS, 1)),
    )
    size = pl.coalesce(
        attr("bytes"),
        attr("size_bytes"),
        attr("bytes_transferred"),
        attr("bytesTransferredOut"),
        attr("additionalEventData.bytesTransferredOut"),
    )
    return [rows.alias("rows"), size.alias("bytes")]


def _volume(frame: pl.DataFrame) -> str:
    ok = frame.filter(pl.col("status") == "success") if "status" in frame.columns else frame
    rows = ok.get_column("rows").sum()
    size = ok.get_column("bytes").sum()
    text = f"{rows:,} rows"
    if size:
        text += f", {_bytes(int(size))}"
    return text


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value):,} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError  # unreachable


def _first(frame: pl.DataFrame, column: str) -> Any:
    return frame.get_column(column).min()


def _last(frame: pl.DataFrame, column: str) -> Any:
    return frame.get_column(column).max()


def _when(value: datetime | None) -> str:
    if value is None:
        return "an unknown time"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _moment(value: Moment) -> str:
    return _when(value) if isinstance(value, datetime) else value.isoformat()


def _span(start: Moment | None, end: Moment | None) -> str:
    if start is not None and end is not None:
        return f" between {_moment(start)} and {_moment(end)}"
    if start is not None:
        return f" since {_moment(start)}"
    if end is not None:
        return f" before {_moment(end)}"
    return ""


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def _names(items: Sequence[str], limit: int = 3) -> str:
    items = list(items)
    shown = items[:limit]
    more = len(items) - len(shown)
    text = ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1] if shown else ""
    if more:
        text = ", ".join(shown) + f" and {more} more"
    return text


def _ranked(pairs: Sequence[tuple[Any, int]], *, parens: bool = True) -> str:
    if parens:
        return ", ".join(f"{name} ({count:,})" for name, count in pairs)
    return ", ".join(f"{name} {count:,}" for name, count in pairs)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _me(session: Session, user: str) -> str:
    return session.ctx.me or user if user.lower() == "me" else user
