"""Before/after states of resources, and the templates that change them."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from auditkit.generate._vocabulary import _DESCRIPTIONS, _SCHEMAS, _TABLES, _TAGS, _TEAMS

_NAME = "@@NAME@@"  # placeholder for the resource name inside before/after templates


_Change = Callable[[random.Random, Any], tuple[Any, Any]]


def _sample(rng: random.Random, seq: Sequence[Any], lo: int, hi: int) -> list[Any]:
    k = rng.randrange(lo, hi + 1)
    return [seq[i] for i in sorted(rng.sample(range(len(seq)), min(k, len(seq))))]


def _other(rng: random.Random, seq: Sequence[Any], current: Any) -> Any:
    choices = [x for x in seq if x != current]
    return rng.choice(choices)


def _choose(seq: Sequence[Any]) -> _Change:
    return lambda rng, old: (old, _other(rng, seq, old))


def _tweak(lo: int, hi: int) -> _Change:
    def change(rng: random.Random, old: Any) -> tuple[Any, Any]:
        new = old
        while new == old:
            new = min(hi, max(lo, old + rng.randrange(-6, 7)))
        return old, new

    return change


def _retag(rng: random.Random, old: Any) -> tuple[Any, Any]:
    """Drop one tag (sometimes) or add one the resource does not have yet."""
    if old and rng.random() < 0.4:
        drop = rng.randrange(len(old))
        return old, [tag for i, tag in enumerate(old) if i != drop]
    return old, [*old, rng.choice([tag for tag in _TAGS if tag not in old])]


def _rename(drafts: Sequence[str]) -> _Change:
    return lambda rng, old: (rng.choice(drafts), old)


def _toggle(rng: random.Random, old: Any) -> tuple[Any, Any]:
    return old, not old


@dataclass(frozen=True)
class _Group:
    """How one kind of resource changes: a base state and the changes that apply to it."""

    label: str
    base: Callable[[random.Random, list[str]], dict[str, Any]]
    changes: dict[str, _Change]
    created: Callable[[dict[str, Any]], str]
    fixed: bool = False  # apply every change (promotions, membership), not 1-3 of them
    describe: Callable[[dict[str, Any], dict[str, Any]], str] | None = None


def _cron(rng: random.Random) -> str:
    return str(rng.choice(("0 * * * *", "0 2 * * *", "*/15 * * * *", "0 6 * * 1", "30 4 * * *")))


def _groups(emails: list[str]) -> dict[str, _Group]:
    def notebook(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "title": _NAME,
            "language": rng.choice(("python", "python", "python", "sql", "r")),
            "cells": rng.randrange(3, 80),
            "kernel": {
                "image": rng.choice(("python-3.11", "python-3.12", "r-4.4")),
                "size": rng.choice(("small", "medium", "large", "gpu-small")),
            },
            "schedule": _cron(rng) if rng.random() < 0.2 else None,
            "tags": _sample(rng, _TAGS, 0, 3),
        }

    def report(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "title": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "settings": {
                "sharing": {"visibility": rng.choice(("private", "team", "organization"))},
                "refresh": {
                    "schedule": rng.choice(("hourly", "daily", "weekly")),
                    "timezone": rng.choice(("UTC", "America/New_York", "Europe/Berlin")),
                },
                "theme": rng.choice(("light", "dark")),
            },
            "widgets": rng.randrange(2, 25),
            "tags": _sample(rng, _TAGS, 0, 3),
        }

    def query(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        days = rng.choice((7, 30, 90))
        return {
            "title": _NAME,
            "sql": f"SELECT {rng.choice(('region', 'channel', 'plan'))}, SUM(amount) AS total "
            f"FROM {rng.choice(_SCHEMAS)}.{rng.choice(_TABLES)} WHERE created_at >= "
            f"CURRENT_DATE - INTERVAL '{days}' DAY GROUP BY 1 ORDER BY 2 DESC LIMIT "
            f"{rng.choice((10, 100, 1000))}",
            "datasource": rng.choice(("warehouse", "analytics-replica", "lakehouse")),
            "cache_ttl_s": rng.choice((0, 300, 3600, 86400)),
            "parameters": {"date_range": rng.choice(("last_7_days", "last_30_days", "this_q"))},
            "tags": _sample(rng, _TAGS, 0, 2),
        }

    def edit_sql(rng: random.Random, old: Any) -> tuple[Any, Any]:
        limit = re.search(r"LIMIT (\d+)$", old)
        new_limit = _other(rng, ("10", "50", "100", "500", "1000"), limit.group(1) if limit else "")
        return old, re.sub(r"LIMIT \d+$", f"LIMIT {new_limit}", old)

    def pipeline(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "schedule": _cron(rng),
            "enabled": True,
            "retries": rng.randrange(0, 6),
            "timeout_minutes": rng.choice((30, 60, 120, 240)),
            "cluster": {
                "workers": rng.randrange(2, 33),
                "node_type": rng.choice(("m5.xlarge", "m5.2xlarge", "r5.4xlarge", "c5.2xlarge")),
                "autoscale": bool(rng.random() < 0.5),
            },
            "notifications": {"on_failure": ["data-eng@company.com"]},
        }

    def notify(rng: random.Random, old: Any) -> tuple[Any, Any]:
        extra = rng.choice(emails)
        return old, [*old, extra] if extra not in old else [*old, "oncall@company.com"]

    def experiment(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "params": {
                "learning_rate": rng.choice((0.01, 0.03, 0.05, 0.1, 0.3)),
                "max_depth": rng.randrange(3, 13),
                "n_estimators": rng.choice((100, 200, 400, 800, 1000)),
            },
            "metric": rng.choice(("auc", "f1", "rmse", "logloss")),
            "stage": rng.choice(("development", "staging")),
            "tags": _sample(rng, _TAGS, 0, 2),
        }

    def database(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "classification": rng.choice(("public", "internal", "confidential", "restricted")),
            "retention_days": rng.choice((30, 90, 365, 730, 2555)),
            "owner_team": rng.choice(_TEAMS),
            "pii": bool(rng.random() < 0.3),
            "schema": {
                "columns": rng.randrange(4, 61),
                "partitioned_by": rng.choice((["date"], ["region", "date"], [])),
            },
        }

    def collection(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "access": {
                "visibility": rng.choice(("private", "team", "organization")),
                "allow_downloads": bool(rng.random() < 0.5),
            },
            "embedding_model": rng.choice(("text-embedding-3-small", "bge-large-en-v1.5", None)),
            "tags": _sample(rng, _TAGS, 0, 2),
        }

    def user(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "email": _NAME,
            "role": rng.choice(("viewer", "member", "member", "admin")),
            "status": "active",
            "mfa_enabled": bool(rng.random() < 0.8),
            "teams": _sample(rng, _TEAMS, 1, 2),
            "locale": rng.choice(("en-US", "en-GB", "de-DE", "fr-FR")),
        }

    def team(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {
            "name": _NAME,
            "description": rng.choice(_DESCRIPTIONS),
            "visibility": rng.choice(("public", "private")),
            "members": _sample(rng, emails, 2, 6),
        }

    def add_member(rng: random.Random, old: Any) -> tuple[Any, Any]:
        return old, [*old, rng.choice([e for e in emails if e not in old] or emails)]

    def remove_member(rng: random.Random, old: Any) -> tuple[Any, Any]:
        return old, [e for i, e in enumerate(old) if i != rng.randrange(len(old))]

    def model(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        return {"model": _NAME, "version": rng.randrange(1, 30), "stage": "staging",
                "approved_by": None}  # fmt: skip

    def promote_stage(rng: random.Random, old: Any) -> tuple[Any, Any]:
        return (old, "production") if rng.random() < 0.7 else ("development", "staging")

    def deployed(rng: random.Random, emails: list[str]) -> dict[str, Any]:
        v = f"v{rng.randrange(1, 4)}.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}"
        return {"name": _NAME, "environment": "staging", "version": v,
                "git_sha": f"{rng.randrange(1 << 28):07x}"}  # fmt: skip

    def members_text(verb: str, prep: str) -> Callable[[dict[str, Any], dict[str, Any]], str]:
        def describe(before: dict[str, Any], after: dict[str, Any]) -> str:
            moved = set(before["members"]) ^ set(after["members"])
            return f"{verb} {', '.join(sorted(moved))} {prep} team"

        return describe

    groups = {
        "notebook": _Group(
            "Notebook", notebook,
            {"title": _rename(("Untitled Notebook", "scratch", "wip", "Copy of analysis")),
             "cells": _tweak(1, 120), "kernel.size": _choose(("small", "medium", "large")),
             "kernel.image": _choose(("python-3.11", "python-3.12", "r-4.4")),
             "schedule": lambda rng, old: (old, None if old else _cron(rng)), "tags": _retag},
            lambda b: f"Notebook created with {b['cells']} cells"),
        "report": _Group(
            "Report", report,
            {"title": _rename(("Report", "Untitled report", "New dashboard", "Copy of Report")),
             "description": _choose(_DESCRIPTIONS),
             "settings.sharing.visibility": _choose(("private", "team", "organization")),
             "settings.refresh.schedule": _choose(("hourly", "daily", "weekly")),
             "settings.refresh.timezone": _choose(("UTC", "America/New_York", "Europe/Berlin")),
             "settings.theme": _choose(("light", "dark")), "widgets": _tweak(1, 40),
             "tags": _retag},
            lambda b: f"Report created with {b['widgets']} widgets"),
        "query": _Group(
            "Query", query,
            {"title": _rename(("New query", "Untitled query", "tmp")), "sql": edit_sql,
             "datasource": _choose(("warehouse", "analytics-replica", "lakehouse")),
             "cache_ttl_s": _choose((0, 300, 3600, 86400)),
             "parameters.date_range": _choose(("last_7_days", "last_30_days", "this_q")),
             "tags": _retag},
            lambda b: f"Query saved on {b['datasource']}"),
        "pipeline": _Group(
            "Pipeline", pipeline,
            {"schedule": lambda rng, old: (old, _other(rng, ("0 * * * *", "0 2 * * *",
                                                             "*/15 * * * *", "0 6 * * 1"), old)),
             "enabled": _toggle, "retries": _tweak(0, 10),
             "timeout_minutes": _choose((30, 60, 120, 240)), "cluster.workers": _tweak(1, 64),
             "cluster.node_type": _choose(("m5.xlarge", "m5.2xlarge", "r5.4xlarge")),
             "cluster.autoscale": _toggle, "notifications.on_failure": notify},
            lambda b: f"Pipeline created with schedule '{b['schedule']}'"),
        "experiment": _Group(
            "Experiment", experiment,
            {"params.learning_rate": _choose((0.01, 0.03, 0.05, 0.1, 0.3)),
             "params.max_depth": _tweak(2, 16),
             "params.n_estimators": _choose((100, 200, 400, 800, 1000)),
             "metric": _choose(("auc", "f1", "rmse", "logloss")),
             "description": _choose(_DESCRIPTIONS), "tags": _retag},
            lambda b: f"Experiment created tracking {b['metric']}"),
        "database": _Group(
            "Table", database,
            {"description": _choose(_DESCRIPTIONS),
             "classification": _choose(("public", "internal", "confidential", "restricted")),
             "retention_days": _choose((30, 90, 365, 730, 2555)), "owner_team": _choose(_TEAMS),
             "pii": _toggle, "schema.columns": _tweak(1, 80),
             "schema.partitioned_by": _choose((["date"], ["region", "date"], []))},
            lambda b: f"Table created with {b['schema']['columns']} columns"),
        "collection": _Group(
            "Collection", collection,
            {"description": _choose(_DESCRIPTIONS),
             "access.visibility": _choose(("private", "team", "organization")),
             "access.allow_downloads": _toggle,
             "embedding_model": _choose(("text-embedding-3-small", "bge-large-en-v1.5", None)),
             "tags": _retag},
            lambda b: f"Collection created ({b['access']['visibility']})"),
        "user": _Group(
            "User", user,
            {"role": _choose(("viewer", "member", "admin")),
             "status": lambda rng, old: (old, "suspended"), "mfa_enabled": _toggle,
             "teams": lambda rng, old: (old, _sample(rng, _TEAMS, 1, 3)),
             "locale": _choose(("en-US", "en-GB", "de-DE", "fr-FR"))},
            lambda b: f"User invited with role {b['role']}"),
        "team": _Group(
            "Team", team,
            {"description": _choose(_DESCRIPTIONS), "visibility": _choose(("public", "private"))},
            lambda b: f"Team created with {len(b['members'])} members"),
        "team_add": _Group("Team", team, {"members": add_member}, lambda b: "",
                           fixed=True, describe=members_text("Added", "to")),
        "team_remove": _Group("Team", team, {"members": remove_member}, lambda b: "",
                              fixed=True, describe=members_text("Removed", "from")),
        "promote_model": _Group(
            "Model", model,
            {"stage": promote_stage,
             "approved_by": lambda rng, old: (old, rng.choice(emails))},
            lambda b: "", fixed=True,
            describe=lambda b, a: f"Promoted model version {b['version']} from {b['stage']} "
            f"to {a['stage']}"),
        "promote_pipeline": _Group(
            "Pipeline", deployed,
            {"environment": lambda rng, old: (old, "production")}, lambda b: "", fixed=True,
            describe=lambda b, a: f"Promoted {b['version']} ({b['git_sha']}) from staging "
            "to production"),
    }  # fmt: skip
    return groups


def _get(state: dict[str, Any], path: str) -> Any:
    for part in path.split(".")[:-1]:
        state = state[part]
    return state[path.split(".")[-1]]


def _set(state: dict[str, Any], path: str, value: Any) -> None:
    for part in path.split(".")[:-1]:
        state = state[part]
    state[path.split(".")[-1]] = value


def _fragment(state: dict[str, Any]) -> tuple[str, str, bool]:
    """JSON text of a state split around the name placeholder: (before, after, has name)."""
    text = json.dumps(state, ensure_ascii=False)
    if _NAME not in text:
        return text, "", False
    pre, post = text.split(_NAME)
    return pre, post, True


@dataclass
class _Pools:
    """Text pools the events index into; the last entry of each list is null."""

    details: list[str | None]
    attrs: list[str | None]
    frag_pre: list[str | None]
    frag_post: list[str | None]
    frag_name: list[bool]


def _templates(
    rng: random.Random, emails: list[str], pools: _Pools, per_group: int
) -> dict[str, tuple[int, int, int, int]]:
    """Add before/after pairs for every group to the pools.

    Returns, per group, (first fragment, first update text, first created text, count).
    Template ``j`` has its before at ``fragment + 3j``, after at ``+ 1``, and the unchanged
    base state (what a ``created`` event shows) at ``+ 2``.
    """
    groups = _groups(emails)
    out: dict[str, tuple[int, int, int, int]] = {}
    for name, group in groups.items():
        frag0, upd0 = len(pools.frag_pre), len(pools.details)
        creates: list[str] = []
        for _ in range(per_group):
            base = group.base(rng, emails)
            changed: list[str] = []
            while not changed:  # a change can happen to be a no-op: draw again
                before = json.loads(json.dumps(base))
                after = json.loads(json.dumps(base))
                paths = list(group.changes)
                if not group.fixed:
                    k = min(len(paths), rng.choices((1, 2, 3), weights=(0.55, 0.3, 0.15))[0])
                    paths = [paths[i] for i in sorted(rng.sample(range(len(paths)), k))]
                for path in paths:
                    old, new = group.changes[path](rng, _get(base, path))
                    _set(before, path, old)
                    _set(after, path, new)
                changed = [p for p in paths if _get(before, p) != _get(after, p)]
            for state in (before, after, base):
                pre, post, has = _fragment(state)
                pools.frag_pre.append(pre)
                pools.frag_post.append(post)
                pools.frag_name.append(has)
            text = (
                group.describe(before, after)
                if group.describe
                else f"{group.label} updated: {', '.join(changed)}"
            )
            pools.details.append(text)
            pools.attrs.append(json.dumps({"changed_fields": changed}))
            creates.append(group.created(base))
        create0 = len(pools.details)
        pools.details.extend(creates)
        pools.attrs.extend([None] * len(creates))
        out[name] = (frag0, upd0, create0, per_group)
    return out
