"""Validation settings: thresholds and windows, read from TOML or given in code."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.schema import SCHEMA
from auditkit.validation._html import _jsonable


class ValidationConfigError(AuditkitError, ValueError):
    """A validation config value or file is invalid.

    Attributes:
        key: the offending key, when there is one.
        valid: the valid keys (for an unknown key) or values.
    """

    def __init__(self, message: str, *, key: str | None = None, valid: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.key = key
        self.valid = list(valid)


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds of the checks. Every field has a default; see ``docs/validation.md``.

    Attributes:
        granularity: ``"hour"`` or ``"day"``: the bucket of the volume-gap check.
        baseline_weeks: how many previous weeks the baseline looks at (same hour of the
            week, or same weekday with ``granularity="day"``).
        baseline_min_weeks: fewest previous weeks with data needed to judge a bucket.
        min_baseline: buckets whose baseline is lower are never flagged (quiet hours).
        gap_ratio: a bucket is a gap when observed < ``gap_ratio`` × baseline.
        late_after_hours: an event is late when ``ingested_at - timestamp`` exceeds this.
        future_tolerance_seconds: clock skew allowed before a timestamp counts as future.
        earliest: the earliest plausible timestamp (catches epoch-zero parsing bugs).
        group_by: columns whose values split the completeness checks (source, account).
        duplicate_ignore: columns left out when comparing events for duplicate content.
        window_rows: about how many rows each great-expectations batch holds.
        examples: examples kept per check.
        max_details: gap windows, days, batches listed per check (the count is exact).
    """

    granularity: str = "hour"
    baseline_weeks: int = 4
    baseline_min_weeks: int = 2
    min_baseline: float = 20.0
    gap_ratio: float = 0.2
    late_after_hours: float = 24.0
    future_tolerance_seconds: float = 300.0
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    group_by: tuple[str, ...] = ("source", "account")
    duplicate_ignore: tuple[str, ...] = ("event_id", "ingested_at", "attributes")
    window_rows: int = 2_000_000
    examples: int = 5
    max_details: int = 200

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.granularity not in ("hour", "day"):
            problems.append(f"granularity={self.granularity!r}: valid values are 'hour', 'day'")
        if self.baseline_weeks < 1:
            problems.append(f"baseline_weeks={self.baseline_weeks}: must be at least 1")
        if not 1 <= self.baseline_min_weeks <= max(1, self.baseline_weeks):
            problems.append(
                f"baseline_min_weeks={self.baseline_min_weeks}: must be between 1 and "
                f"baseline_weeks ({self.baseline_weeks})"
            )
        if self.min_baseline < 0:
            problems.append(f"min_baseline={self.min_baseline}: must be 0 or more")
        if not 0 < self.gap_ratio <= 1:
            problems.append(f"gap_ratio={self.gap_ratio}: must be in (0, 1]")
        if self.late_after_hours <= 0:
            problems.append(f"late_after_hours={self.late_after_hours}: must be positive")
        if self.future_tolerance_seconds < 0:
            problems.append(
                f"future_tolerance_seconds={self.future_tolerance_seconds}: must be 0 or more"
            )
        if self.earliest.tzinfo is None:
            problems.append(f"earliest={self.earliest}: must carry a timezone (add Z for UTC)")
        else:
            object.__setattr__(self, "earliest", self.earliest.astimezone(UTC))
        for key in ("group_by", "duplicate_ignore"):
            unknown = [c for c in getattr(self, key) if c not in SCHEMA]
            if unknown:
                problems.append(
                    f"{key}: not schema columns: {', '.join(unknown)} (valid: {', '.join(SCHEMA)})"
                )
        for key in ("window_rows", "max_details"):
            if getattr(self, key) < 1:
                problems.append(f"{key}={getattr(self, key)}: must be at least 1")
        if self.examples < 0:
            problems.append(f"examples={self.examples}: must be 0 or more")
        if problems:
            raise ValidationConfigError("invalid validation config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "config") -> ValidationConfig:
        """Build a config from plain values (TOML types); unknown keys raise.

        Raises:
            ValidationConfigError: naming an unknown key and the valid ones, or a value
                of the wrong type.
        """
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValidationConfigError(
                f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; valid keys: {', '.join(valid)}",
                key=unknown[0],
                valid=valid,
            )
        defaults = cls()
        kwargs = {
            k: _coerce(k, values[k], getattr(defaults, k), where) for k in valid if k in values
        }
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> ValidationConfig:
        """Read a config from a TOML file: keys at the top level or in a ``[validation]`` table.

        Raises:
            ValidationConfigError: the file is unreadable, not TOML, has an unknown key
                (the message lists the valid keys) or a bad value.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValidationConfigError(f"{path}: cannot read the config file ({exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValidationConfigError(f"{path}: not valid TOML ({exc})") from exc
        if set(data) == {"validation"} and isinstance(data["validation"], dict):
            data = data["validation"]
        return cls.from_dict(data, where=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-ready values."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _coerce(key: str, value: Any, default: Any, where: str) -> Any:
    def bad(expected: str) -> ValidationConfigError:
        return ValidationConfigError(
            f"{where}: {key} = {value!r} is not {expected}", key=key, valid=[expected]
        )

    if isinstance(default, bool):  # pragma: no cover - no boolean keys yet
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if isinstance(default, datetime):
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise bad("an ISO date-time such as 2000-01-01T00:00:00Z") from None
        elif isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day, tzinfo=UTC)
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise bad("a date-time with a timezone (e.g. 2000-01-01T00:00:00Z)")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of column names")
        return tuple(value)
    if not isinstance(value, str):
        raise bad("a string")
    return value
