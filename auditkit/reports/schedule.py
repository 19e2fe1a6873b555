"""Schedule files: which report to render when, with which parameters, for whom.

A schedule file (TOML) has an optional ``[smtp]`` table (see
:class:`~auditkit.reports.mail.SmtpSettings`), an optional ``[defaults]`` table and one
``[[schedule]]`` table per entry::

    [[schedule]]
    name = "weekly-activity"
    report = "activity_summary"
    when = { weekly = "monday", at = "07:00" }   # or { monthly = 1, at = "06:00" },
                                                 # or { cron = "0 7 * * 1" }
    timezone = "Europe/Berlin"
    parameters = { store = "/srv/audit/store", period = "last week" }
    recipients = ["compliance@example.com"]
    owner = "data-platform@example.com"
    formats = ["body", "html", "csv"]

:func:`load_schedule` reads and checks the whole file up front (every key, report,
parameter, time zone and address), so a typo fails when the file is read, not at the
first run. Running the entries is :mod:`auditkit.reports.scheduler`'s job.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.reports.mail import MailError, SmtpSettings
from auditkit.reports.period import zone
from auditkit.reports.when import When

__all__ = [
    "FORMATS",
    "Entry",
    "Schedule",
    "ScheduleError",
    "When",
    "load_schedule",
    "run_parameters",
]

#: What a message can carry: the HTML report as the body, and attachments.
FORMATS: dict[str, str] = {
    "body": "the HTML report as the message body",
    "html": "the HTML report as an attachment",
    "ipynb": "the executed notebook as an attachment",
    "csv": "the report's CSV files (and their manifests) as attachments",
    "files": "every file the report wrote (exports, manifests, CSV) as attachments",
}
_ENTRY_KEYS = (
    "name",
    "report",
    "when",
    "timezone",
    "parameters",
    "recipients",
    "owner",
    "formats",
    "subject",
    "retries",
    "retry_delay",
    "catch_up",
    "enabled",
)
_DEFAULT_KEYS = (
    "timezone",
    "parameters",
    "recipients",
    "owner",
    "formats",
    "retries",
    "retry_delay",
    "catch_up",
    "output",
    "templates",
)


class ScheduleError(AuditkitError, ValueError):
    """A schedule file or state file is invalid.

    Attributes:
        path: the file.
        entry: the entry's name, when one entry is at fault.
    """

    def __init__(self, message: str, *, path: Path | None = None, entry: str | None = None):
        where = f"{path}: " if path else ""
        where += f"schedule {entry!r}: " if entry else ""
        super().__init__(where + message)
        self.path = path
        self.entry = entry


# -- entries and files --------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One scheduled report.

    Attributes:
        name: unique name (also the folder its runs are kept in).
        report: the template's name.
        when: when it runs.
        timezone: IANA zone of ``when`` and of relative periods.
        parameters: the report's parameters (relative periods resolved at run time).
        recipients: who receives it.
        owner: who is told when it fails (None: nobody; the failure is still recorded).
        formats: what the message carries (see :data:`FORMATS`).
        subject: the Subject line; ``{title}``, ``{period}``, ``{first}``, ``{last}``,
            ``{name}`` and ``{report}`` are filled in.
        retries: further attempts after a failure.
        retry_delay: seconds between attempts.
        catch_up: ``latest`` runs only the most recent of several missed runs (the older
            ones are recorded as skipped); ``all`` runs each.
        enabled: False keeps the entry in the file without running it.
    """

    name: str
    report: str
    when: When
    timezone: str = "UTC"
    parameters: dict[str, Any] = field(default_factory=dict)
    recipients: tuple[str, ...] = ()
    owner: str | None = None
    formats: tuple[str, ...] = ("body", "html")
    subject: str = "{title}"
    retries: int = 2
    retry_delay: float = 60.0
    catch_up: str = "latest"
    enabled: bool = True

    def next_run(self, after: datetime) -> datetime:
        """The first run strictly after ``after``."""
        return self.when.next_after(after, self.timezone)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule file.

    Attributes:
        path: the file.
        entries: the entries, in file order.
        smtp: mail settings (None: runs are rendered and recorded, nothing is sent).
        output: where runs are kept (``runs/NAME/PERIOD/``); default: a ``reports``
            folder beside the state file.
        templates: an extra directory of report templates.
    """

    path: Path
    entries: tuple[Entry, ...]
    smtp: SmtpSettings | None = None
    output: Path | None = None
    templates: Path | None = None

    def entry(self, name: str) -> Entry:
        """The entry ``name``.

        Raises:
            ScheduleError: listing the entries.
        """
        for item in self.entries:
            if item.name == name:
                return item
        names = ", ".join(e.name for e in self.entries)
        raise ScheduleError(f"no entry named {name!r}; entries: {names}", path=self.path)


def load_schedule(path: str | Path) -> Schedule:
    """Read and check a schedule file.

    Every entry is checked up front: known keys, an existing report, parameters the
    report declares (and all its required ones), a valid ``when``, time zone, formats
    and recipients, so a typo fails now and not at 07:00 next Monday.

    Raises:
        ScheduleError: naming the file, the entry and the problem.
    """
    from auditkit.reports.template import ParameterError, check_parameters, get_template

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ScheduleError(f"cannot read the schedule file: {exc}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"not valid TOML: {exc}", path=path) from None
    unknown = sorted(set(data) - {"smtp", "defaults", "schedule"})
    if unknown:
        raise ScheduleError(
            f"unknown tables: {', '.join(unknown)}; valid: [smtp], [defaults], [[schedule]]",
            path=path,
        )
    try:
        smtp = SmtpSettings.from_dict(data["smtp"]) if "smtp" in data else None
    except MailError as exc:
        raise ScheduleError(str(exc), path=path) from None
    defaults = data.get("defaults", {})
    bad = sorted(set(defaults) - set(_DEFAULT_KEYS))
    if bad:
        raise ScheduleError(
            f"[defaults] unknown keys: {', '.join(bad)}; valid: {', '.join(_DEFAULT_KEYS)}",
            path=path,
        )
    base = path.resolve().parent
    output = base / defaults["output"] if "output" in defaults else None
    templates = base / defaults["templates"] if "templates" in defaults else None
    raw_entries = data.get("schedule", [])
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ScheduleError("no entries; add [[schedule]] tables", path=path)
    entries: list[Entry] = []
    for i, raw in enumerate(raw_entries):
        name = str(raw.get("name") or f"#{i + 1}")
        try:
            entry = _entry(raw, defaults)
            template = get_template(entry.report, templates)
            entry = replace(entry, parameters=_relative_to(base, template, entry.parameters))
            params = run_parameters(template, entry, datetime.now(UTC))
            check_parameters(template, params)
        except ParameterError as exc:
            raise ScheduleError(str(exc), path=path, entry=name) from None
        except (AuditkitError, ValueError, TypeError, KeyError) as exc:
            raise ScheduleError(str(exc), path=path, entry=name) from None
        if any(e.name == entry.name for e in entries):
            raise ScheduleError("two entries have this name", path=path, entry=name)
        if entry.recipients and smtp is None:
            raise ScheduleError(
                "has recipients but the file has no [smtp] table", path=path, entry=name
            )
        entries.append(entry)
    return Schedule(path, tuple(entries), smtp, output, templates)


def _entry(raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> Entry:
    unknown = sorted(set(raw) - set(_ENTRY_KEYS))
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(unknown)}; valid: {', '.join(_ENTRY_KEYS)}")
    for key in ("name", "report", "when"):
        if key not in raw:
            raise ValueError(f"missing {key!r}")

    def pick(key: str, default: Any) -> Any:
        return raw.get(key, defaults.get(key, default))

    tz = str(pick("timezone", "UTC"))
    zone(tz)
    parameters = {**defaults.get("parameters", {}), **raw.get("parameters", {})}
    recipients = pick("recipients", [])
    if isinstance(recipients, str) or not all(isinstance(r, str) and "@" in r for r in recipients):
        raise ValueError(f"recipients must be a list of email addresses, got {recipients!r}")
    formats = tuple(pick("formats", ["body", "html"]))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"unknown formats {bad or formats}; valid: {', '.join(FORMATS)}")
    catch_up = str(pick("catch_up", "latest"))
    if catch_up not in ("latest", "all"):
        raise ValueError(f"catch_up = {catch_up!r}; valid: latest, all")
    retries = int(pick("retries", 2))
    if not 0 <= retries <= 10:
        raise ValueError(f"retries = {retries}; use 0–10")
    owner = pick("owner", None)
    if owner is not None and "@" not in str(owner):
        raise ValueError(f"owner must be an email address, got {owner!r}")
    return Entry(
        name=str(raw["name"]),
        report=str(raw["report"]),
        when=When.parse(raw["when"]),
        timezone=tz,
        parameters=parameters,
        recipients=tuple(recipients),
        owner=owner,
        formats=formats,
        subject=str(raw.get("subject", "{title}")),
        retries=retries,
        retry_delay=float(pick("retry_delay", 60.0)),
        catch_up=catch_up,
        enabled=bool(raw.get("enabled", True)),
    )


def _relative_to(base: Path, template: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Path parameters (the store) relative to the schedule file, not the working directory."""
    out = dict(params)
    for name, value in params.items():
        declared = template.parameter(name)
        if declared is not None and declared.type == "Path" and isinstance(value, str):
            out[name] = str((base / Path(value).expanduser()).resolve())
    return out


def run_parameters(template: Any, entry: Entry, due: datetime) -> dict[str, Any]:
    """The parameters a run due at ``due`` gets: the entry's, plus ``now`` (the due time)
    and ``tz`` (the entry's zone) when the template declares them and the entry does not
    set them."""
    params = dict(entry.parameters)
    if template.parameter("now") is not None and not params.get("now"):
        params["now"] = due.astimezone(UTC).isoformat()
    if template.parameter("tz") is not None and "tz" not in params:
        params["tz"] = entry.timezone
    return params
