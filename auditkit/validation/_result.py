"""The outcome of a validation: one check per expectation, the result they make up."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditkit.errors import QueryError
from auditkit.validation._config import ValidationConfig
from auditkit.validation._html import _clip, _fmt, _jsonable, _render_html


@dataclass
class Check:
    """The outcome of one check.

    Attributes:
        name: stable identifier (``actor_not_null``, ``volume_gaps`` …).
        suite: ``well_formed`` or ``complete``.
        passed: whether nothing bad was found.
        bad_count: how many bad things, in ``unit`` (rows, gaps, days, files).
        unit: what ``bad_count`` counts.
        checked: how many of those were examined.
        description: what is expected, in plain English.
        engine: ``great_expectations`` or ``polars``.
        group: the source/account group of a completeness check, else None.
        examples: a few bad items (rows, windows, batches).
        details: everything else (gap windows, lag distribution …).
        summary: one line naming the first examples.
    """

    name: str
    suite: str
    passed: bool
    bad_count: int
    unit: str
    checked: int
    description: str
    engine: str
    group: dict[str, str | None] | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    @property
    def group_label(self) -> str:
        """The group as ``source=… account=…``, or an empty string."""
        if not self.group:
            return ""
        return " ".join(f"{k}={v if v is not None else '(none)'}" for k, v in self.group.items())

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready values."""
        return {
            "name": self.name,
            "suite": self.suite,
            "group": self.group,
            "passed": self.passed,
            "bad_count": self.bad_count,
            "unit": self.unit,
            "checked": self.checked,
            "description": self.description,
            "engine": self.engine,
            "summary": self.summary,
            "examples": _jsonable(self.examples),
            "details": _jsonable(self.details),
        }


@dataclass
class ValidationResult:
    """Every check of a validation run, with the range and settings it ran with."""

    checks: list[Check]
    target: str
    since: datetime | None
    until: datetime | None
    now: datetime
    source: str | None
    suites: tuple[str, ...]
    rows: int
    first_event: datetime | None
    last_event: datetime | None
    seconds: float
    config: ValidationConfig

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that found something."""
        return [c for c in self.checks if not c.passed]

    def get(self, name: str) -> list[Check]:
        """The checks called ``name`` (one per group for completeness checks).

        Raises:
            QueryError: naming the valid check names when there is none by that name.
        """
        found = [c for c in self.checks if c.name == name]
        if not found:
            names = list(dict.fromkeys(c.name for c in self.checks))
            raise QueryError(f"no check named {name!r}; checks run: {', '.join(names)}")
        return found

    def to_dict(self) -> dict[str, Any]:
        """The whole result as JSON-ready values."""
        return {
            "passed": self.passed,
            "target": self.target,
            "since": _jsonable(self.since),
            "until": _jsonable(self.until),
            "now": _jsonable(self.now),
            "source": self.source,
            "suites": list(self.suites),
            "rows": self.rows,
            "first_event": _jsonable(self.first_event),
            "last_event": _jsonable(self.last_event),
            "seconds": round(self.seconds, 3),
            "failed": [c.name for c in self.failed],
            "config": self.config.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def summary_table(self, width: int = 60) -> str:
        """A plain-text table: check, group, result, bad count and the first examples."""
        header = ("suite", "check", "group", "result", "bad", "examples")
        rows = [
            (
                c.suite,
                c.name,
                c.group_label or "-",
                "pass" if c.passed else "FAIL",
                f"{c.bad_count:,} {c.unit}" if c.bad_count else "0",
                _clip(c.summary, width) if not c.passed else "",
            )
            for c in self.checks
        ]
        widths = [
            max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
            for i, h in enumerate(header)
        ]
        right = {4}
        lines = [
            "  ".join(
                h.rjust(w) if i in right else h.ljust(w)
                for i, (h, w) in enumerate(zip(header, widths, strict=True))
            ).rstrip()
        ]
        for row in rows:
            lines.append(
                "  ".join(
                    v.rjust(w) if i in right else v.ljust(w)
                    for i, (v, w) in enumerate(zip(row, widths, strict=True))
                ).rstrip()
            )
        verdict = (
            "PASSED" if self.passed else f"FAILED ({len(self.failed)} of {len(self.checks)} checks)"
        )
        lines.append("")
        lines.append(
            f"{verdict}: {self.rows:,} events in {self._range_text()} validated in "
            f"{self.seconds:.1f} s"
        )
        return "\n".join(lines)

    def to_html(self) -> str:
        """A self-contained HTML page (inline CSS, no scripts, no external resources)."""
        return _render_html(self)

    def _range_text(self) -> str:
        if self.since or self.until:
            since = _fmt(self.since) if self.since else "the first event"
            until = _fmt(self.until) if self.until else "the last event"
            text = f"[{since}, {until})"
        else:
            text = "the frame" if self.target.startswith("<") else "the whole store"
        if self.first_event is not None:
            text += f" (events from {_fmt(self.first_event)} to {_fmt(self.last_event)})"
        return text + (f" from source {self.source!r}" if self.source else "")
