"""Compliance reports: templates run by papermill, offline HTML, schedules and email.

One module per part: :mod:`~auditkit.reports.template` (templates and their
parameters), :mod:`~auditkit.reports.runner` (running a report, offline HTML),
:mod:`~auditkit.reports.period` (report periods), :mod:`~auditkit.reports.notebook` (what
templates call inside the kernel), :mod:`~auditkit.reports.aggregate` (the aggregations
sections show), :mod:`~auditkit.reports.when` (when an entry runs: weekly, monthly, cron,
time zones), :mod:`~auditkit.reports.schedule` (schedule files),
:mod:`~auditkit.reports.scheduler` (run-due, retries, the state file, serve) and
:mod:`~auditkit.reports.mail` (SMTP delivery). Importing this package loads none of
papermill, nbconvert, altair or croniter; they load when a report runs.

``docs/reports.md`` is the user's guide.
"""

from typing import TYPE_CHECKING

from auditkit.reports.mail import MailError, SmtpSettings, build_message, send
from auditkit.reports.period import Period, PeriodError, resolve_period
from auditkit.reports.runner import ReportError, ReportResult, run_report
from auditkit.reports.schedule import Entry, Schedule, ScheduleError, load_schedule
from auditkit.reports.scheduler import RunRecord, run_due, serve
from auditkit.reports.template import (
    Parameter,
    ParameterError,
    Template,
    TemplateError,
    get_template,
    list_templates,
    templates_dir,
)
from auditkit.reports.when import When

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "Entry",
    "MailError",
    "Parameter",
    "ParameterError",
    "Period",
    "PeriodError",
    "ReportError",
    "ReportResult",
    "RunRecord",
    "Schedule",
    "ScheduleError",
    "SmtpSettings",
    "Template",
    "TemplateError",
    "When",
    "build_message",
    "demo",
    "get_template",
    "list_templates",
    "load_schedule",
    "resolve_period",
    "run_due",
    "run_report",
    "send",
    "serve",
    "templates_dir",
]


def demo(store: "str | Path", out_dir: "str | Path | None" = None) -> "Path":
    """Render ``activity_summary`` for the last complete week of a store; return the HTML.

    The week is the one before the store's newest event (generated demo data ends in
    the past, so "last week" by the wall clock could be empty). Results go to
    ``out_dir`` (default: ``demo-report/`` beside the store).
    """
    from datetime import timedelta
    from pathlib import Path

    import polars as pl

    from auditkit.store import Store

    root = Path(store)
    newest = Store(root).scan().select(pl.col("timestamp").max()).collect().item()
    if newest is None:
        raise ReportError("activity_summary", f"the store {root} has no events to report on")
    now = (newest + timedelta(days=1)).isoformat()
    out = Path(out_dir) if out_dir is not None else root.resolve().parent / "demo-report"
    result = run_report(
        "activity_summary", {"store": str(root), "period": "last week", "now": now}, out
    )
    return result.html
