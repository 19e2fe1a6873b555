"""auditkit: activity logs (audit trails) in Polars — load, search, investigate, report, validate."""

__version__ = "0.1.0"
