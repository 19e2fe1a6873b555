"""The event-details view: basic fields, metadata, changes, attributes."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditkit.diff._changes import Change, DiffError, _json_text, _kind, _parse, diff_json
from auditkit.diff._render import (
    _CELL_STYLE,
    _DEFAULT_LIMIT,
    _TABLE_STYLE,
    _short,
    render_html,
    render_text,
)

_BASIC_FIELDS = (
    "actor",
    "actor_type",
    "action",
    "operation",
    "resource_type",
    "resource_id",
    "resource_name",
    "status",
    "details",
    "error_message",
)
_METADATA_FIELDS = (
    "event_id",
    "timestamp",
    "ip_address",
    "user_agent",
    "session_id",
    "request_id",
    "duration_ms",
    "source",
    "account",
)


@dataclass(frozen=True)
class EventDetails:
    """The details view of one event.

    Attributes:
        basic: who (``actor``, ``actor_type``), ``action``, ``operation``, the resource
            (``resource_type``, ``resource_id``, ``resource_name``), ``status``,
            ``details`` and ``error_message``; absent values are ``None``.
        metadata: ``event_id``, ``timestamp`` (ISO 8601 UTC text, ``…Z``),
            ``ip_address``, ``user_agent``, ``session_id``, ``request_id``,
            ``duration_ms``, ``source``, ``account``.
        changes: :func:`diff` of the event's ``before`` and ``after``.
        attributes: the parsed ``attributes`` JSON object (empty when absent).
    """

    basic: dict[str, Any]
    metadata: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_text(self, *, max_value_chars: int | None = _DEFAULT_LIMIT) -> str:
        """Plain-text details: sections Basic, Metadata, Changes, Attributes."""
        lines = ["Basic"]
        lines += [f"  {label + ':':<11} {value}" for label, value in self._basic_rows()]
        lines.append("Metadata")
        lines += [f"  {label + ':':<11} {value}" for label, value in self._metadata_rows()]
        lines.append("Changes")
        lines += [
            "  " + line
            for line in render_text(self.changes, max_value_chars=max_value_chars).splitlines()
        ]
        lines.append("Attributes")
        if self.attributes:
            lines += [
                f"  {_one_line(key)}: {_short(value, max_value_chars)}"
                for key, value in self.attributes.items()
            ]
        else:
            lines.append("  none")
        return "\n".join(lines)

    def to_html(self) -> str:
        """Self-contained HTML details (inline styles, every value escaped)."""

        def table(rows: list[tuple[str, str]]) -> str:
            body = "".join(
                f'<tr><th style="{_CELL_STYLE};color:#57606a;font-weight:500">'
                f"{html.escape(label)}</th>"
                f'<td style="{_CELL_STYLE}">{html.escape(value)}</td></tr>'
                for label, value in rows
            )
            return f'<table style="{_TABLE_STYLE}">{body}</table>'

        attributes = [(key, _json_text(value)) for key, value in self.attributes.items()]
        h = '<h4 style="margin:12px 0 4px">{}</h4>'
        return (
            '<div class="auditkit-event" style="font-family:system-ui,-apple-system,Segoe UI,'
            'sans-serif;font-size:13px">'
            + h.format("Basic")
            + table(self._basic_rows())
            + h.format("Metadata")
            + table(self._metadata_rows())
            + h.format("Changes")
            + render_html(self.changes)
            + h.format("Attributes")
            + (table(attributes) if attributes else '<p style="color:#57606a">none</p>')
            + "</div>"
        )

    def _basic_rows(self) -> list[tuple[str, str]]:
        b = self.basic
        who = _one_line(b.get("actor") or "unknown")
        if b.get("actor_type"):
            who += f" ({b['actor_type']})"
        action = _one_line(b.get("action") or "unknown")
        if b.get("operation"):
            action += f" ({_one_line(b['operation'])})"
        resource = " ".join(_one_line(b[k]) for k in ("resource_type", "resource_id") if b.get(k))
        if b.get("resource_name"):
            resource += f" {_json_text(b['resource_name'])}"
        rows = [("who", who), ("action", action), ("resource", resource.strip() or "—")]
        rows.append(("status", _one_line(b.get("status") or "unknown")))
        for key, label in (("details", "details"), ("error_message", "error")):
            if b.get(key):
                rows.append((label, _one_line(b[key])))
        return rows

    def _metadata_rows(self) -> list[tuple[str, str]]:
        rows = []
        for key in _METADATA_FIELDS:
            value = self.metadata.get(key)
            if value is None:
                continue
            if key == "duration_ms":
                text = f"{value:g} ms" if isinstance(value, int | float) else str(value)
            else:
                text = _one_line(value)
            rows.append(("duration" if key == "duration_ms" else key.replace("_", " "), text))
        return rows


def _one_line(value: Any) -> str:
    text = str(value)
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def _iso_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def details(event: dict[str, Any]) -> EventDetails:
    """Build the details view of one canonical event row.

    Args:
        event: one event as a dict, e.g. ``df.row(i, named=True)``; missing columns are
            treated as null.

    Raises:
        DiffError: ``before``, ``after`` or ``attributes`` is not valid JSON (or
            ``attributes`` is not an object); the message names the event and the column.
    """
    basic = {key: event.get(key) for key in _BASIC_FIELDS}
    metadata = {key: event.get(key) for key in _METADATA_FIELDS}
    metadata["timestamp"] = _iso_utc(metadata["timestamp"])
    where = f"event {event.get('event_id')!r}: "
    try:
        changes = diff_json(event.get("before"), event.get("after"))
        attributes = _parse(event.get("attributes"), "attributes")
    except DiffError as exc:
        raise exc.located(where) from None
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise DiffError(
            f"{where}attributes must be a JSON object, got {_kind(attributes)} "
            f"{_short(attributes, 80)}\nHint: store extra source fields as "
            '{"field": value, ...}.',
            side="attributes",
        )
    return EventDetails(basic=basic, metadata=metadata, changes=changes, attributes=attributes)
