"""Before/after diffs of audit events: typed changes, rendering, event details.

An event's ``before`` and ``after`` columns hold the resource's state as JSON text (null
when absent). This package turns a pair of states into a list of :class:`Change` records
(``title: "Report" → "Q2 Sales Report"``), can replay them (:func:`apply`), renders them
as text or HTML, builds the event-details view (:func:`details`) and adds a vectorized
``changed_fields`` column to whole frames (:func:`changed_fields`).

Semantics, in short:

* Objects are compared key by key and nested objects give dotted paths
  (``settings.sharing.visibility``). Unchanged fields are not reported.
* A key present on one side only is ``added`` / ``removed`` with its whole value; a key
  holding ``null`` is present (``{}`` → ``{"a": null}`` adds ``a``).
* ``null`` ↔ value is ``changed``; two different non-null JSON types (``10`` → ``"10"``)
  is ``type_changed``. Numbers compare by value (``1`` equals ``1.0``); ``true`` is not 1.
* Lists are compared as a whole and reported once, at the list's path, as
  ``list_changed`` with the exact old and new lists plus display details: items added
  and removed (as multisets), and for lists of objects the per-item changes, matched by
  an ``id`` or ``name`` key when every item has a unique one, else by position.
* A null ``before`` is a creation: the root becomes ``{}`` and every field of ``after``
  is ``added``. A null ``after`` is a deletion: every field is ``removed`` and then the
  root. (Non-object states are added/removed/changed as a whole.)

``apply(before, diff(before, after))`` reproduces ``after`` for any JSON values.
"""

from __future__ import annotations

from auditkit.diff._changes import (
    Change,
    ChangeKind,
    DiffError,
    apply,
    diff,
    diff_json,
    format_path,
)
from auditkit.diff._details import EventDetails, details
from auditkit.diff._render import render_html, render_text
from auditkit.diff._vectorized import changed_fields, changed_fields_expr

__all__ = [
    "Change",
    "ChangeKind",
    "DiffError",
    "EventDetails",
    "apply",
    "changed_fields",
    "changed_fields_expr",
    "details",
    "diff",
    "diff_json",
    "format_path",
    "render_html",
    "render_text",
]
