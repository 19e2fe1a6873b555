"""GitHub audit log: streamed events, REST API responses and the web UI's CSV export.

Reads the shapes GitHub audit events actually arrive in:

* **JSON Lines** — audit-log streaming (Splunk, Event Hubs, S3, …), one event per line,
  ``@timestamp`` in epoch milliseconds; also the security-log / SIEM exports built on it
  (Azure Sentinel, Panther, which renames ``@timestamp`` to ``at_sign_timestamp``);
* **a JSON array** — ``GET /orgs/{org}/audit-log`` and ``/enterprises/{e}/audit-log``
  responses and the web UI's JSON export (read incrementally, not loaded whole);
* **CSV** — the web UI's export: a header row whose nested fields are dotted
  (``actor_location.country_code``, ``data.hook_id``); each row becomes exactly the event
  its JSON form would.

Every event becomes one canonical row; every record that cannot (not JSON, not UTF-8,
no ``action``, no or unparseable timestamp, wrong types, a CSV row with the wrong field
count) is rejected with its file, line (record index for a JSON array) and reason. The
mapping, field by field, is documented in ``docs/sources-github.md``.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from auditkit.errors import SourceError
from auditkit.sources import (
    Batch,
    Record,
    RecordError,
    Rejects,
    _raw,
    guard,
    ip_or_none,
    iter_json_array,
    iter_json_lines,
    iter_json_object,
    layout,
    map_records,
    open_binary,
    parse_timestamp,
    rows_to_frame,
    stable_id,
    to_json,
)

NAME = "github"

#: Fields that carry the event time, in the order they are tried. ``at_sign_timestamp``
#: is Panther's name for ``@timestamp``; ``p_event_time`` is Panther's own event time.
TIMESTAMP_FIELDS: tuple[str, ...] = (
    "@timestamp",
    "at_sign_timestamp",
    "created_at",
    "p_event_time",
)

#: Keys whose presence (next to a dotted ``action``) marks a JSON record as GitHub's.
_GITHUB_KEYS = frozenset(
    {"@timestamp", "at_sign_timestamp", "created_at", "_document_id", "actor_location"}
    | {"org", "business", "operation_type", "programmatic_access_type"}
)
_ACTION_RE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")
_ACTION_TEXT_RE = re.compile(r'"action"\s*:\s*"([a-z0-9_]+(?:\.[a-z0-9_]+)+)"')
_SURROGATE_RE = re.compile("[\udc80-\udcff]")

#: CSV cells of these fields are never read as a number or ``true``/``false``/``null`` (a
#: login, team or repository may be called ``1234``). An array or object (``[]``, which
#: GitHub writes for ``org`` on personal events) is still read as one.
_NAME_FIELDS = frozenset({
    "action", "actor", "user", "org", "repo", "repository", "team", "business",
    "_document_id", "hashed_token", "request_id", "token_scopes", "email", "visibility",
    "permission", "old_permission", "actor_ip", "country_code", "operation_type",
    "programmatic_access_type", "external_identity_nameid", "external_identity_username",
    "integration", "oauth_application", "user_programmatic_access_name", "ruleset_name",
    "head_sha", "old_user", "target_login", "conclusion", "event", "transport_protocol_name",
})  # fmt: skip
#: CSV cells of these free-text fields are always kept as written.
_FREE_TEXT_FIELDS = frozenset({
    "user_agent", "name", "title", "topic", "explanation", "query_string", "query_phrase",
    "route", "url_path", "head_branch", "branch", "ref", "note", "description", "reason",
})  # fmt: skip

# ---------------------------------------------------------------------------
# Normalized verbs

#: Actions whose verb is not what their last word says.
EXACT_VERBS: dict[str, str] = {
    "repo.access": "updated",  # the repository's visibility changed
    "git.clone": "exported",  # a full copy of the repository left GitHub
    "git.fetch": "viewed",
    "git.push": "updated",
    "workflows.created_workflow_run": "executed",
    "workflows.completed_workflow_run": "executed",
    "workflows.prepared_workflow_job": "executed",
    "team.demote_maintainer": "updated",
    "org.update_member": "updated",  # a member's role changed
    "repo.update_member": "updated",
    "business.update_member": "updated",
    "user.new_device_used": "other",  # logged beside the user.login it accompanies
}

_WORDS_LOGOUT = {"logout", "signout"}
_WORDS_EXPORT = {"export", "exported", "download", "downloaded", "downloads"}
_WORDS_IMPORT = {"import", "imported"}
_WORDS_PROMOTE = {"promote", "promoted"}
_WORDS_CANCEL = {"cancel", "cancelled", "canceled"}
_WORDS_REVOKE = {"revoke", "revoked", "unassign", "unassigned", "uninvite", "uninvited"}
_WORDS_GRANT = {"invite", "invited", "grant", "granted"}
_WORDS_ADD = {"add", "added"}
_WORDS_REMOVE = {"remove", "removed"}
#: Words naming who or what is given (or loses) access: ``add_member`` shares,
#: ``add_topic`` creates.
_WORDS_MEMBERISH = {
    "member", "members", "user", "users", "admin", "admins", "owner", "owners",
    "collaborator", "collaborators", "maintainer", "maintainers", "moderator", "moderators",
    "access", "repository", "repositories", "team", "teams", "seat", "manager",
}  # fmt: skip
#: Words naming a person whose membership or role changes (``org.update_member``).
_WORDS_PERSON = {
    "member", "members", "user", "users", "admin", "admins", "owner", "owners",
    "collaborator", "collaborators", "maintainer", "maintainers", "moderator", "moderators",
    "manager", "seat",
}  # fmt: skip
_WORDS_CREATE = {"create", "created", "add", "added", "generate", "generated"}
_WORDS_CREATE |= {"restore", "restored", "fork", "forked"}
_WORDS_DELETE = {"destroy", "destroyed", "delete", "deleted", "remove", "removed"}
_WORDS_DELETE |= {"purge", "purged", "cleared"}
_WORDS_UPDATE = {
    "update", "updated", "modify", "modified", "change", "changed", "rename", "renamed",
    "transfer", "transferred", "set", "enable", "enabled", "disable", "disabled",
    "archive", "archived", "unarchive", "unarchived", "edit", "edited", "config", "reset",
    "regenerate", "regenerated", "dismiss", "dismissed", "reopen", "reopened", "approve",
    "approved", "deny", "denied", "lock", "locked", "unlock", "unlocked", "override",
    "publish", "published", "resolve", "resolved", "close", "closed", "block", "unblock",
    "suspend", "unsuspend", "pause", "resume", "toggle", "replace", "sync",
}  # fmt: skip
_WORDS_EXECUTE = {"run", "rerun", "trigger", "triggered", "execute", "executed"}
_WORDS_EXECUTE |= {"start", "started", "dispatch"}
_WORDS_VIEW = {"view", "viewed", "access", "accessed", "read", "clone", "fetch", "list"}
_WORDS_VIEW |= {"search", "show", "get", "visit"}
_WORDS_FAIL = {"fail", "failed", "failure", "failures"}

#: ``operation_type`` (GitHub's own coarse class) when the action's words say nothing.
OPERATION_TYPE_VERBS: dict[str, str] = {
    "create": "created",
    "modify": "updated",
    "remove": "deleted",
    "access": "viewed",
    "transfer": "updated",
    "restore": "created",
    "authentication": "other",
}
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


@functools.lru_cache(maxsize=4096)
def _words(action: str) -> tuple[str, frozenset[str]]:
    """The action's last dotted part (lower case) and its words."""
    suffix = action.rsplit(".", 1)[-1].lower()
    return suffix, frozenset(w for w in suffix.split("_") if w)


@functools.lru_cache(maxsize=4096)
def _verb_from_name(action: str) -> str | None:
    """The verb the action's name alone gives; None when only ``operation_type`` can tell."""
    if action in EXACT_VERBS:
        return EXACT_VERBS[action]
    suffix, found = _words(action)
    if found & _WORDS_LOGOUT or suffix.startswith("sign_out"):
        return "logout"
    if (
        "login" in found
        or "sign_in" in suffix
        or suffix.startswith(("two_factor_challenge_", "webauthn_challenge_"))
        or suffix in ("device_verification_success", "device_verification_failure")
    ):
        return "login"
    rules: tuple[tuple[bool, str], ...] = (
        (bool(found & _WORDS_EXPORT), "exported"),
        (bool(found & _WORDS_IMPORT), "imported"),
        (bool(found & _WORDS_PROMOTE), "promoted"),
        (bool(found & _WORDS_CANCEL), "cancelled"),
        (bool(found & _WORDS_REVOKE), "revoked"),
        (bool(found & _WORDS_REMOVE and found & _WORDS_MEMBERISH), "revoked"),
        (bool(found & _WORDS_GRANT), "shared"),
        (bool(found & _WORDS_ADD and found & _WORDS_MEMBERISH), "shared"),
        (bool(found & _WORDS_CREATE), "created"),
        (bool(found & _WORDS_DELETE), "deleted"),
        (bool(found & _WORDS_UPDATE), "updated"),
        (bool(found & _WORDS_EXECUTE), "executed"),
        (bool(found & _WORDS_VIEW), "viewed"),
    )
    return next((verb for matched, verb in rules if matched), None)


def verb_for(action: str, record: dict[str, Any] | None = None) -> str:
    """The normalized verb (see :data:`auditkit.schema.ACTIONS`) for a GitHub action.

    Args:
        action: GitHub's action name, like ``repo.create`` or ``org.add_member``.
        record: the whole event; ``operation_type`` and (for ``api.request``)
            ``request_method`` refine the answer.

    Examples:
        >>> verb_for("org.add_member")
        'shared'
        >>> verb_for("user.failed_login")
        'login'
        >>> verb_for("api.request", {"request_method": "GET"})
        'viewed'
    """
    record = record or {}
    if action == "api.request":
        method = record.get("request_method")
        reads = isinstance(method, str) and method.upper() in _READ_METHODS
        return "viewed" if reads else "executed"
    verb = _verb_from_name(action)
    if verb is not None:
        return verb
    operation_type = record.get("operation_type")
    if isinstance(operation_type, str):
        return OPERATION_TYPE_VERBS.get(operation_type.lower(), "other")
    return "other"


@functools.lru_cache(maxsize=4096)
def _failure_from_name(action: str) -> str | None:
    suffix, words = _words(action)
    if not words & _WORDS_FAIL:
        return None
    if "login" in words or "sign_in" in suffix:
        return "sign-in failed"
    if suffix.startswith("two_factor_challenge"):
        return "two-factor challenge failed"
    return f"GitHub recorded a failure: {action}"


def failure_reason(action: str, record: dict[str, Any]) -> str | None:
    """Why the event is a failure, or None when it records a success.

    A failure is an action whose last word says so (``user.failed_login``,
    ``user.two_factor_challenge_failure``), an ``api.request`` answered with HTTP 4xx/5xx,
    or a workflow run that concluded ``failure`` / ``timed_out`` / ``startup_failure``.
    """
    reason = _failure_from_name(action)
    if reason is not None:
        return reason
    status_code = record.get("status_code")
    if action == "api.request" and isinstance(status_code, int) and status_code >= 400:
        method, route = record.get("request_method"), record.get("route") or record.get("url_path")
        target = " ".join(str(p) for p in (method, route) if p)
        return f"HTTP {status_code}" + (f" for {target}" if target else "")
    conclusion = record.get("conclusion")
    if action.startswith("workflows.") and conclusion in (
        "failure",
        "timed_out",
        "startup_failure",
    ):
        return f"workflow run concluded: {conclusion}"
    return None


# ---------------------------------------------------------------------------
# Actor, resource, changes

#: Categories whose token fields describe the token being managed, not the actor's login.
_TOKEN_SUBJECT_CATEGORIES = frozenset(
    {"personal_access_token", "oauth_access", "oauth_authorization", "public_key", "deploy_key"}
)


def actor_type_for(record: dict[str, Any], actor: str | None) -> str:
    """``user``, ``api_key``, ``service_account`` or ``anonymous`` for an event's actor.

    * no actor → ``anonymous`` (e.g. ``user.forgot_password`` before signing in);
    * a bot login (``…[bot]``) or ``actor_is_bot: true``, or a GitHub App acting as
      itself (``programmatic_access_type`` "GitHub App server-to-server token" /
      ``github_app``) → ``service_account``;
    * any other programmatic credential (personal access token, OAuth or user-to-server
      token, deploy or SSH key), or token fields (``token_id`` / ``hashed_token``) on an
      action that is not about managing a token → ``api_key``;
    * otherwise ``user``.
    """
    if actor is None:
        return "anonymous"
    if actor.endswith("[bot]") or record.get("actor_is_bot") is True:
        return "service_account"
    category = record.get("action", "").split(".", 1)[0]
    if category in _TOKEN_SUBJECT_CATEGORIES:
        return "user"
    access = record.get("programmatic_access_type")
    if isinstance(access, str) and access.strip():
        lowered = access.lower()
        if "server-to-server" in lowered or lowered in ("github_app", "github app"):
            return "service_account"
        return "api_key"
    if record.get("token_id") not in (None, "") or record.get("hashed_token") not in (None, ""):
        return "api_key"
    return "user"


_OAUTH_APP = ("oauth_application", ("oauth_application_id",), ("oauth_application", "name"))
#: category → (resource_type, id fields, name fields). Fields are looked up at the top
#: level, then under ``data`` (the older export nests event details there).
RESOURCES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "repo": ("repository", ("repo_id", "repository_id"), ("repo", "repository")),
    "git": ("repository", ("repo_id", "repository_id"), ("repo", "repository")),
    "repository": ("repository", ("repo_id", "repository_id"), ("repo", "repository")),
    "org": ("organization", ("org_id",), ("org",)),
    "organization": ("organization", ("org_id",), ("org",)),
    "business": ("enterprise", ("business_id",), ("business",)),
    "enterprise": ("enterprise", ("business_id",), ("business",)),
    "team": ("team", ("team_id",), ("team",)),
    "user": ("user", ("user_id",), ("user",)),
    "hook": ("hook", ("hook_id",), ()),
    "integration": ("integration", ("integration_id",), ("integration", "name")),
    "integration_installation": ("integration", ("integration_id",), ("integration", "name")),
    "oauth_application": _OAUTH_APP,
    "oauth_authorization": _OAUTH_APP,
    "oauth_access": _OAUTH_APP,
    "personal_access_token": ("personal_access_token", ("token_id",), ("user_programmatic_access_name",)),  # noqa: E501
    "protected_branch": ("protected_branch", ("protected_branch_id",), ("name", "branch")),
    "repository_ruleset": ("repository_ruleset", ("ruleset_id",), ("ruleset_name",)),
    "workflows": ("workflow", ("workflow_id",), ("name",)),
    "api": ("api", (), ("route", "url_path")),
    "audit_log_streaming": ("audit_log_streaming", ("audit_log_stream_id",), ("audit_log_stream_sink",)),  # noqa: E501
}  # fmt: skip
#: Where the event happened, tried in order when the category names no target of its own.
_SCOPES: tuple[tuple[str, str, str], ...] = (
    ("repository", "repo_id", "repo"),
    ("repository", "repository_id", "repository"),
    ("organization", "org_id", "org"),
    ("enterprise", "business_id", "business"),
)
#: Categories where a membership action targets the ``user`` (the org is the account).
_MEMBERSHIP_SCOPES = frozenset({"org", "organization", "business", "enterprise"})
_MEMBERSHIP_SCOPES |= {"organization_moderators"}


def _lookup(record: dict[str, Any], field: str) -> str | None:
    """A scalar field as text, from the record or its ``data`` object; None when absent/empty."""
    for source in (record, record.get("data")):
        if isinstance(source, dict):
            value = source.get(field)
            if isinstance(value, bool) or value is None or value == "":
                continue
            if isinstance(value, str | int | float):
                return str(value)
    return None


def _first(record: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    for field in fields:
        value = _lookup(record, field)
        if value is not None:
            return value
    return None


def resource_for(record: dict[str, Any], verb: str) -> tuple[str | None, str | None, str | None]:
    """``(resource_type, resource_id, resource_name)`` of what an event acted on."""
    action: str = record["action"]
    category = action.split(".", 1)[0] if "." in action else ""
    _, words = _words(action)
    membership = verb in ("shared", "revoked", "promoted") or words & _WORDS_PERSON
    if category in _MEMBERSHIP_SCOPES and membership and _lookup(record, "user") is not None:
        return "user", _lookup(record, "user_id"), _lookup(record, "user")
    if category == "user":
        name = _lookup(record, "user") or _lookup(record, "actor")
        return "user", _lookup(record, "user_id") or _lookup(record, "actor_id"), name
    kind: str | None = category or None
    if category in RESOURCES:
        kind, id_fields, name_fields = RESOURCES[category]
        rid, rname = _first(record, id_fields), _first(record, name_fields)
        if rid is not None or rname is not None:
            return kind, rid, rname
    for scope_kind, id_field, name_field in _SCOPES:
        rid, rname = _lookup(record, id_field), _lookup(record, name_field)
        if rname is not None:
            return kind or scope_kind, rid, rname
    return kind, None, None


_OLD_RE = re.compile(r"(?P<pre>(?:[a-z0-9_]*_)?)old_(?P<base>[a-z0-9_]+)")
_PREVIOUS_RE = re.compile(r"previous_(?P<base>[a-z0-9_]+)")
_WAS_RE = re.compile(r"(?P<base>[a-z0-9_]+)_(?:was|were)")


def _pairs(fields: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """``(name, old key, new key or None)`` for every old/new pair among ``fields``."""
    pairs: list[tuple[str, str, str | None]] = []
    keys = "\n" + "\n".join(fields) + "\n"
    if not ("old_" in keys or "\nprevious_" in keys or "_was\n" in keys or "_were\n" in keys):
        return pairs
    for key in sorted(fields):
        if fields[key] is None:
            continue
        if m := _OLD_RE.fullmatch(key):
            name = m["pre"] + m["base"]
            candidates = [m["pre"] + "new_" + m["base"], name]
        elif m := _PREVIOUS_RE.fullmatch(key):
            name = m["base"]
            candidates = ["new_" + name, name]
        elif m := _WAS_RE.fullmatch(key):
            name = m["base"]
            candidates = [name]
        else:
            continue
        new = next((c for c in candidates if c in fields), None)
        pairs.append((name, key, new))
    return pairs


def changes(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """Before/after values of the fields an event changed, and the keys they came from.

    Pairs are ``old_X`` → ``new_X`` or ``X`` (also ``prefix_old_X`` → ``prefix_X``, as in
    ``ruleset_old_enforcement``), ``previous_X`` → ``X`` and ``X_was`` → ``X``, at the top
    level and inside ``data``. Consumed keys are returned as ``"key"`` or ``"data.key"``.
    """
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    used: set[str] = set()
    data = record.get("data")
    for prefix, fields in (("", record), ("data.", data if isinstance(data, dict) else {})):
        for name, old, new in _pairs(fields):
            before[name] = fields[old]
            used.add(prefix + old)
            if new is not None:
                after[name] = fields[new]
                used.add(prefix + new)
    return before, after, used


# ---------------------------------------------------------------------------
# Record → canonical row


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _timestamp(record: dict[str, Any]) -> tuple[str, datetime]:
    for field in TIMESTAMP_FIELDS:
        value = record.get(field)
        if value is None or value == "":
            continue
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise RecordError(
                f"'{field}' is {_json_type(value)} ({value!r}), expected epoch milliseconds "
                "or an ISO-8601 string"
            )
        try:
            return field, parse_timestamp(value)
        except ValueError as exc:
            raise RecordError(f"'{field}': {exc}") from None
    raise RecordError(
        "no timestamp: a GitHub audit event needs '@timestamp' or 'created_at' "
        "(epoch milliseconds or ISO-8601)"
    )


def _same_instant(value: object, moment: datetime) -> bool:
    try:
        return isinstance(value, str | int | float) and parse_timestamp(value) == moment
    except ValueError:
        return False


def _duration_ms(record: dict[str, Any]) -> float | None:
    started, completed = record.get("started_at"), record.get("completed_at")
    if not (isinstance(started, str | int) and isinstance(completed, str | int)):
        return None
    try:
        delta = parse_timestamp(completed) - parse_timestamp(started)
    except ValueError:
        return None
    return delta.total_seconds() * 1000 if delta.total_seconds() >= 0 else None


def _sorted_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _canonical(record: dict[str, Any]) -> str:
    return _sorted_json({k: v for k, v in record.items() if v is not None and v != ""})


_VERB_PHRASES = {
    "created": "created",
    "updated": "updated",
    "deleted": "deleted",
    "viewed": "viewed",
    "executed": "ran",
    "cancelled": "cancelled",
    "shared": "granted access to",
    "revoked": "revoked access to",
    "promoted": "promoted",
    "exported": "exported",
    "imported": "imported",
    "other": "acted on",
}


def _details(
    record: dict[str, Any],
    *,
    actor: str,
    verb: str,
    resource: tuple[str | None, str | None, str | None],
    before: dict[str, Any],
    after: dict[str, Any],
    failure: str | None,
) -> str:
    action = record["action"]
    kind, rid, rname = resource
    target = " ".join(p for p in (kind, rname or rid) if p)
    user = _lookup(record, "user")
    person = bool(_words(action)[1] & _WORDS_PERSON)
    grantee = user if user and user != rname and person else None
    if verb == "login":
        text = f"{actor} {'failed to sign in' if failure else 'signed in'}"
    elif verb == "logout":
        text = f"{actor} signed out"
    elif verb in ("shared", "revoked", "promoted") and (kind == "user" or grantee):
        if kind == "user":
            grantee = rname or rid
            scope = _lookup(record, "org") or _lookup(record, "business") or _lookup(record, "repo")
        else:
            scope = target
        phrase = {"shared": "gave", "revoked": "removed", "promoted": "promoted"}[verb]
        where = {"shared": " access to ", "revoked": " from ", "promoted": " in "}[verb]
        text = f"{actor} {phrase} {grantee}" + (where + scope if scope else "")
    else:
        prefix = "failed: " if failure else ""
        text = f"{prefix}{actor} {_VERB_PHRASES.get(verb, verb)} {target}".rstrip()
    extras = [action]
    if user and user not in (actor, rname, grantee) and kind != "user":
        extras.append(f"user {user}")
    repo = _lookup(record, "repo")
    if repo and repo != rname:
        extras.append(f"in {repo}")
    visibility = record.get("visibility")
    if isinstance(visibility, str) and "visibility" not in after:
        extras.append(visibility)
    permission = record.get("permission")
    if isinstance(permission, str) and "permission" not in after:
        extras.append(f"permission {permission}")
    for name in after:
        extras.append(f"{name} {to_json(before.get(name))} → {to_json(after[name])}")
    for name in [n for n in before if n not in after]:
        extras.append(f"{name} was {to_json(before[name])}")
    if action == "api.request":
        request = " ".join(
            str(record[k]) for k in ("request_method", "route", "status_code") if k in record
        )
        if request:
            extras.append(request)
    if failure and verb != "login":
        extras.append(failure)
    return f"{text} ({', '.join(extras)})"


def map_record(record: Any) -> dict[str, Any]:
    """One GitHub audit event (a parsed JSON object) as a canonical row dict.

    Raises:
        RecordError: when the record cannot be an event (not an object, no ``action``,
            no or unparseable timestamp, a key field of the wrong type).
    """
    if not isinstance(record, dict):
        raise RecordError(
            f"record is {_json_type(record)}, expected a JSON object with an 'action' field"
        )
    action = record.get("action")
    if action is None or action == "":
        raise RecordError(
            "no 'action' field: a GitHub audit event names what happened (like 'repo.create')"
        )
    if not isinstance(action, str):
        raise RecordError(
            f"'action' is {_json_type(action)} ({action!r}), expected a string like 'repo.create'"
        )
    ts_field, timestamp = _timestamp(record)
    raw_actor = record.get("actor")
    if raw_actor is not None and not isinstance(raw_actor, str):
        raise RecordError(
            f"'actor' is {_json_type(raw_actor)} ({raw_actor!r}), expected a login string"
        )
    actor = raw_actor.strip() if raw_actor and raw_actor.strip() else None
    document_id = record.get("_document_id")
    if document_id is not None and (
        isinstance(document_id, bool) or not isinstance(document_id, str | int)
    ):
        raise RecordError(
            f"'_document_id' is {_json_type(document_id)} ({document_id!r}), expected a string"
        )

    verb = verb_for(action, record)
    failure = failure_reason(action, record)
    resource = resource_for(record, verb)
    before, after, used = changes(record)
    ip_address = ip_or_none(record.get("actor_ip"))
    user_agent = record.get("user_agent")
    user_agent = user_agent if isinstance(user_agent, str) and user_agent else None
    request_id = record.get("request_id")
    request_id = str(request_id) if isinstance(request_id, str | int) and request_id != "" else None
    business, org = _lookup(record, "business"), _lookup(record, "org")
    shown_actor = actor or "anonymous"

    consumed = {"action", "actor", "_document_id", ts_field} | used
    if ip_address is not None:
        consumed.add("actor_ip")
    if user_agent is not None:
        consumed.add("user_agent")
    if request_id is not None:
        consumed.add("request_id")
    attributes: dict[str, Any] = {}
    for key, value in record.items():
        if key in consumed or value is None or value == "":
            continue
        if key in TIMESTAMP_FIELDS and _same_instant(value, timestamp):
            continue
        if key == "data" and isinstance(value, dict):
            value = {
                k: v
                for k, v in value.items()
                if f"data.{k}" not in used and v is not None and v != ""
            }
            if not value:
                continue
        attributes[key] = value

    return {
        "event_id": str(document_id)
        if document_id not in (None, "")
        else stable_id(NAME, _canonical(record)),
        "timestamp": timestamp,
        "actor": shown_actor,
        "actor_type": actor_type_for(record, actor),
        "action": verb,
        "operation": action,
        "resource_type": resource[0],
        "resource_id": resource[1],
        "resource_name": resource[2],
        "status": "failed" if failure else "success",
        "ip_address": ip_address,
        "user_agent": user_agent,
        "request_id": request_id,
        "duration_ms": _duration_ms(record),
        "details": _details(
            record,
            actor=shown_actor,
            verb=verb,
            resource=resource,
            before=before,
            after=after,
            failure=failure,
        ),
        "error_message": failure,
        "before": _sorted_json(before) if before else None,
        "after": _sorted_json(after) if after else None,
        "source": NAME,
        "account": business or org,
        "attributes": _sorted_json(attributes) if attributes else None,
    }


# ---------------------------------------------------------------------------
# Readers: (line or index, raw, parsed object or ValueError)


def _csv_value(field: str, text: str) -> Any:
    """A CSV cell as the JSON value GitHub's JSON form would hold."""
    if field in _FREE_TEXT_FIELDS or text[0] not in "[{-0123456789tfn":
        return text
    if field in _NAME_FIELDS and text[0] not in "[{":
        return text
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _unflatten(header: list[list[str]], row: list[str]) -> dict[str, Any]:
    """A CSV row as the nested object its dotted column names describe."""
    record: dict[str, Any] = {}
    for path, text in zip(header, row, strict=True):
        if text == "":
            continue
        value = _csv_value(path[-1], text)
        target = record
        for part in path[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                record[".".join(path)] = value
                break
            target = child
        else:
            target[path[-1]] = value
    return record


def _csv_header_ok(columns: list[str]) -> bool:
    names = set(columns)
    return "action" in names and bool(names & {"@timestamp", "created_at"})


def iter_csv(path: Path) -> Iterator[Record]:
    """Rows of a GitHub CSV export as ``(line, raw, object)``; line is where the row starts.

    Raises:
        SourceError: when the header has no ``action`` column or no timestamp column.
    """
    with open_binary(path) as fh:
        pending: list[str] = []
        line_no = 0

        def lines() -> Iterator[str]:
            nonlocal line_no
            for raw in fh:
                line_no += 1
                text = raw.decode("utf-8", "surrogateescape")
                if line_no == 1:
                    text = text.removeprefix("\ufeff")
                pending.append(text)
                yield text

        reader = csv.reader(lines())
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = f"{path}: the CSV header is not valid CSV: {exc}"
            raise SourceError(message, path=str(path)) from exc
        header = [name.strip() for name in header]
        duplicates = sorted({n for n in header if header.count(n) > 1})
        if not _csv_header_ok(header) or duplicates or "" in header:
            problem = (
                f"duplicate columns {', '.join(duplicates)}"
                if duplicates
                else "an empty column name"
                if "" in header
                else "no 'action' column or no '@timestamp'/'created_at' column"
            )
            raise SourceError(
                f"{path}: not a GitHub audit-log CSV export: {problem}. Header: "
                f"{', '.join(header)[:300]}\nHint: export the audit log as CSV from GitHub's "
                "audit-log page, or name the right --format.",
                path=str(path),
            )
        pending.clear()
        paths = [name.split(".") for name in header]
        while True:
            start = line_no + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raw, pending[:] = "".join(pending), []
                yield start, _raw(raw), ValueError(f"not valid CSV: {exc}")
                continue
            raw, pending[:] = "".join(pending), []
            if not row:
                continue
            if _SURROGATE_RE.search(raw):
                yield start, _raw(raw), ValueError("not valid UTF-8")
            elif len(row) != len(header):
                reason = f"the row has {len(row)} fields, the header has {len(header)}"
                yield start, _raw(raw), ValueError(reason)
            else:
                yield start, raw, _unflatten(paths, row)


# ---------------------------------------------------------------------------
# Detection


def _looks_like_github(obj: object) -> bool:
    if not isinstance(obj, dict):
        return False
    action = obj.get("action")
    if not isinstance(action, str) or not _ACTION_RE.fullmatch(action):
        return False
    if "eventVersion" in obj or "eventSource" in obj:
        return False  # CloudTrail
    if "event_id" in obj and "timestamp" in obj:
        return False  # auditkit's own export
    log_type = obj.get("p_log_type")
    return bool(_GITHUB_KEYS & obj.keys()) or (
        isinstance(log_type, str) and log_type.startswith("GitHub")
    )


def _first_json_value(text: str) -> object:
    """The first record in a JSON head, or None when it is cut off or not JSON."""
    decoder = json.JSONDecoder()
    try:
        if text.startswith("["):
            body = text[1:].lstrip(" \t\r\n")
            return decoder.raw_decode(body)[0] if body.startswith("{") else None
        first = text.split("\n", 1)[0]
        try:
            return json.loads(first)
        except ValueError:
            return decoder.raw_decode(text)[0]
    except ValueError:
        return None


def _looks_like_github_text(text: str) -> bool:
    """For a first record too long for the head: look at its keys as text."""
    if not _ACTION_TEXT_RE.search(text):
        return False
    if '"eventVersion"' in text or '"eventSource"' in text:
        return False
    if '"event_id"' in text and '"timestamp"' in text:
        return False
    return any(f'"{key}"' in text for key in _GITHUB_KEYS)


def sniff_head(head: bytes) -> bool:
    """Whether the first bytes of a file look like a GitHub audit log (JSON or CSV)."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if not text:
        return False
    if text[0] in "[{":
        first = _first_json_value(text)
        if first is not None:
            return _looks_like_github(first)
        return _looks_like_github_text(text[:65536])
    header_line = text.split("\n", 1)[0]
    try:
        columns = [c.strip() for c in next(csv.reader([header_line]))]
    except (csv.Error, StopIteration):
        return False
    return _csv_header_ok(columns) and "actor" in columns and "event_id" not in columns


class GitHubSource:
    """Adapter for GitHub audit-log events (streaming JSON Lines, REST/JSON export, CSV)."""

    name = NAME
    description = (
        "GitHub audit log: streaming JSON Lines, REST API / JSON export arrays, web CSV export"
    )

    def sniff(self, path: Path, head: bytes) -> bool:
        """Whether ``head`` (the file's first bytes) is a GitHub audit log."""
        return sniff_head(head)

    def read(self, path: Path, *, strict: bool = False) -> Iterator[Batch]:
        """Yield batches of canonical events and rejects from a GitHub audit-log file.

        An empty file yields one empty batch with a note. In strict mode the first bad
        record raises :class:`~auditkit.errors.RejectedRecordError`.

        Raises:
            SourceError: a CSV whose header is not a GitHub export, or an unreadable file.
        """
        path = Path(path)
        kind = layout(path)
        if kind == "empty":
            note = f"{path}: the file is empty; there are no GitHub audit events in it."
            yield Batch(rows_to_frame([]), notes=[note])
            return
        readers = {
            "array": iter_json_array,
            "object": iter_json_object,
            "lines": iter_json_lines,
            "csv": iter_csv,
        }
        records = guard(readers[kind](path))
        yield from map_records(records, map_record, Rejects(path, strict=strict))


#: The registered instance (entry point ``github = "auditkit.sources.github:SOURCE"``).
SOURCE = GitHubSource()
