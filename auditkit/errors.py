"""auditkit's exception classes.

Every error names the bad value, where it was, and how to fix it. Each subclass also
inherits the matching builtin so ``except ValueError`` keeps working for callers that do
not know auditkit.
"""

from __future__ import annotations


class AuditkitError(Exception):
    """Base class of every error auditkit raises on purpose."""


class SchemaError(AuditkitError, ValueError):
    """A frame does not match the canonical event schema.

    Attributes:
        missing: required columns that are absent.
        mistyped: ``{column: (found dtype, expected dtype)}`` for columns that cannot be cast.
        bad_values: ``{column: [examples]}`` for values outside a column's vocabulary.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        mistyped: dict[str, tuple[str, str]] | None = None,
        bad_values: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.missing = missing or []
        self.mistyped = mistyped or {}
        self.bad_values = bad_values or {}


class SourceError(AuditkitError, ValueError):
    """An input file cannot be read as any (or the named) source format."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class RejectedRecordError(AuditkitError, ValueError):
    """A record could not be loaded and strict mode asked to stop at the first one.

    Attributes:
        file: the input file.
        line: 1-based line number, or record index for formats without lines.
        reason: why the record was rejected.
        raw: the record's raw text (truncated to 1,000 characters).
    """

    def __init__(self, file: str, line: int | None, reason: str, raw: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(
            f"rejected record at {where}: {reason}\n  record: {raw[:200]!r}\n"
            "Hint: fix the record, or run without --strict to keep going and write "
            "bad records to the rejects output."
        )
        self.file = file
        self.line = line
        self.reason = reason
        self.raw = raw[:1000]


class StoreError(AuditkitError, OSError):
    """The event store is missing, locked, or damaged."""


class QueryError(AuditkitError, ValueError):
    """A filter, cursor, or query argument is invalid."""


class SearchSyntaxError(QueryError):
    """A search query does not parse.

    Attributes:
        query: the query text.
        position: 0-based character offset of the problem.
        valid: the valid keys or values at that point, when there is a fixed list.
    """

    def __init__(
        self, message: str, *, query: str, position: int, valid: list[str] | None = None
    ) -> None:
        self.query = query
        self.position = position
        self.valid = valid or []
        self.reason = message
        caret = " " * position + "^"
        text = f"{message} at position {position}\n  {query}\n  {caret}"
        if self.valid:
            text += "\nvalid: " + ", ".join(self.valid)
        super().__init__(text)


class GenerateError(AuditkitError, ValueError):
    """An argument of the demo-data generator or of its file writer is invalid."""


class NotFoundError(AuditkitError, LookupError):
    """An event, resource, report or schedule that was asked for does not exist."""


class MissingDependencyError(AuditkitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; it is needed for this feature.\n"
            f"Hint: pip install 'auditkit[{extra}]'"
        )
        self.package = package
        self.extra = extra
