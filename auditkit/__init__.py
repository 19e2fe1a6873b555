"""auditkit: activity logs (audit trails) in Polars — load, search, investigate, report, validate.

The public surface is re-exported here; everything else is reached through its module
(``auditkit.sources``, ``auditkit.diff``, ``auditkit.investigate``, …). Importing this
package loads Polars and auditkit's own core, none of the optional notebook, reporting or
validation dependencies, and does nothing else.
"""

from auditkit.errors import (
    AuditkitError,
    MissingDependencyError,
    NotFoundError,
    QueryError,
    RejectedRecordError,
    SchemaError,
    SearchSyntaxError,
    SourceError,
    StoreError,
)
from auditkit.filters import Context
from auditkit.query import Cursor, Page, Session
from auditkit.schema import SCHEMA, conform
from auditkit.search import Query, parse
from auditkit.store import Store

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022 - plain sorted order, pinned by tests/test_package.py
    "AuditkitError",
    "Context",
    "Cursor",
    "MissingDependencyError",
    "NotFoundError",
    "Page",
    "Query",
    "QueryError",
    "RejectedRecordError",
    "SCHEMA",
    "SchemaError",
    "SearchSyntaxError",
    "Session",
    "SourceError",
    "Store",
    "StoreError",
    "conform",
    "parse",
]
