"""Running schedules: what is due, rendering, mailing, retries, the state file, serving.

:func:`run_due` runs every entry of a :class:`~auditkit.reports.schedule.Schedule` that
fell due since the last call and records it in a state file (JSON), so a period is never
sent twice and a missed run is caught up once. Relative periods ("last week") are
resolved against the time the run was *due*, in the entry's time zone, so a run caught
up on Tuesday still reports last week. A failing run is retried ``retries`` times, then
recorded as failed and reported to the ``owner``; nothing reaches the recipients unless
the whole report rendered. :func:`serve` calls :func:`run_due` in a loop until SIGTERM
or SIGINT.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import threading
import time as _time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.reports.mail import SmtpSettings, build_message, send
from auditkit.reports.period import PeriodError, resolve_period, zone
from auditkit.reports.schedule import (
    Entry,
    Schedule,
    ScheduleError,
    load_schedule,
    run_parameters,
)

__all__ = ["RunRecord", "run_due", "serve", "upcoming"]

_HISTORY = 100  # run records kept per entry in the state file


# -- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """What happened to one due run.

    Attributes:
        entry: the entry's name.
        due: when it was due.
        status: ``sent``, ``rendered`` (no recipients), ``failed``, ``skipped`` (an
            older missed run superseded by a newer one), ``already-sent`` (its period
            went out before), or ``first-seen`` (a new entry: nothing runs until its
            first due time after now).
        period: the period's days (``2024-06-10..2024-06-16``), when it has one.
        attempts: how many times it was tried.
        error: why it failed.
        html: the rendered report.
        note: anything else worth saying (refused recipients, owner notice failure).
    """

    entry: str
    due: datetime
    status: str
    period: str | None = None
    attempts: int = 0
    error: str | None = None
    html: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "due": self.due.isoformat(),
            "status": self.status,
            "period": self.period,
            "attempts": self.attempts,
            "error": self.error,
            "html": self.html,
            "note": self.note,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def line(self) -> str:
        """One line for the terminal."""
        if self.status == "first-seen":
            return f"{self.entry}: first-seen; nothing from before now is sent — {self.note}"
        text = f"{self.entry}: {self.status} (due {self.due.isoformat(timespec='minutes')}"
        text += f", period {self.period})" if self.period else ")"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        if self.error:
            text += f": {self.error.splitlines()[0]}"
        if self.note:
            text += f" — {self.note}"
        return text


class _State:
    """The state file: per entry, the last due time handled, periods sent, run history."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"version": 1, "entries": {}}
        if path.exists():
            try:
                self.data = json.loads(path.read_text())
            except ValueError as exc:
                raise ScheduleError(f"state file is not JSON ({exc})", path=path) from None
            if self.data.get("version") != 1 or not isinstance(self.data.get("entries"), dict):
                raise ScheduleError("not an auditkit schedule state file", path=path)

    def entry(self, name: str) -> dict[str, Any] | None:
        entries: dict[str, Any] = self.data["entries"]
        return entries.get(name)

    def start(self, name: str, since: datetime) -> dict[str, Any]:
        self.data["entries"][name] = {"since": since.isoformat(), "periods": {}, "runs": []}
        return dict(self.data["entries"][name])

    def record(self, record: RunRecord) -> None:
        item = self.data["entries"][record.entry]
        item["runs"] = [*item["runs"], record.to_json()][-_HISTORY:]

    def save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, self.path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock beside the state file; yields False if another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


# -- running --------------------------------------------------------------------------------

Runner = Callable[..., Any]
Mailer = Callable[[SmtpSettings, Any], dict[str, Any]]


def run_due(
    schedule: Schedule,
    state_path: str | Path,
    *,
    now: datetime | None = None,
    only: Sequence[str] | None = None,
    runner: Runner | None = None,
    mailer: Mailer = send,
    sleep: Callable[[float], None] = _time.sleep,
    log: Callable[[str], None] = print,
) -> list[RunRecord]:
    """Run every entry that fell due since the last call, and record what happened.

    An entry seen for the first time starts counting from ``now`` (nothing is sent for
    the past). When several runs of an entry were missed, the most recent one runs
    (``catch_up = "latest"``; the others are recorded as skipped) or each does
    (``catch_up = "all"``). A period already sent is not sent again, even when runs
    overlap or a cron entry fires often.

    Args:
        schedule: from :func:`load_schedule`.
        state_path: the state file (JSON; created if absent).
        now: the current time (a test clock); default the wall clock.
        only: run only these entries.
        runner: replaces :func:`auditkit.reports.run_report` (tests).
        mailer: replaces :func:`auditkit.reports.mail.send` (tests).
        sleep: waits between attempts (tests pass a no-op).
        log: where progress lines go.

    Returns:
        One record per due (or skipped) run; empty when another process holds the lock.
    """
    from auditkit.reports.runner import run_report

    state_file = Path(state_path)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    records: list[RunRecord] = []
    with _locked(state_file) as acquired:
        if not acquired:
            log(f"another run of this schedule holds {state_file}.lock; nothing done")
            return records
        state = _State(state_file)
        for entry in schedule.entries:
            if not entry.enabled or (only and entry.name not in only):
                continue
            item = state.entry(entry.name)
            if item is None:
                state.start(entry.name, moment)
                record = RunRecord(
                    entry.name,
                    moment,
                    "first-seen",
                    note=f"next run {_local(entry.next_run(moment), entry.timezone)}",
                )
                state.record(record)
                state.save()
                log(record.line())
                records.append(record)
                continue
            since = datetime.fromisoformat(item["since"])
            slots = entry.when.between(since, moment, entry.timezone)
            if not slots:
                continue
            chosen = slots if entry.catch_up == "all" else slots[-1:]
            for due in slots[: len(slots) - len(chosen)]:
                record = RunRecord(
                    entry.name,
                    due,
                    "skipped",
                    note=f"superseded by the run due {slots[-1].isoformat()}",
                )
                state.record(record)
                records.append(record)
                log(record.line())
            for due in chosen:
                record = _run_one(
                    schedule, entry, due, state, runner or run_report, mailer, sleep, log
                )
                state.data["entries"][entry.name]["since"] = due.isoformat()
                state.record(record)
                state.save()
                records.append(record)
                log(record.line())
            state.data["entries"][entry.name]["since"] = slots[-1].isoformat()
            state.save()
    return records


def _run_one(
    schedule: Schedule,
    entry: Entry,
    due: datetime,
    state: _State,
    runner: Runner,
    mailer: Mailer,
    sleep: Callable[[float], None],
    log: Callable[[str], None],
) -> RunRecord:
    from auditkit.reports.template import ParameterError, get_template

    template = get_template(entry.report, schedule.templates)
    params = run_parameters(template, entry, due)
    period = _period_of(params, due, entry.timezone)
    key = period or due.isoformat()
    periods: dict[str, Any] = state.data["entries"][entry.name]["periods"]
    if key in periods:
        previous = periods[key]
        seen = f"{key} was {previous['status']} at {previous.get('at')}"
        return RunRecord(entry.name, due, "already-sent", period, note=seen)
    folder = _output(schedule, state.path) / _safe(entry.name) / _safe(key)
    error: BaseException | None = None
    attempts = 0
    for attempt in range(entry.retries + 1):
        attempts = attempt + 1
        try:
            result = runner(entry.report, params, folder, templates=schedule.templates)
            if not entry.recipients or schedule.smtp is None:
                periods[key] = {"status": "rendered", "at": _now_text(), "due": due.isoformat()}
                return RunRecord(
                    entry.name, due, "rendered", period, attempts, html=str(result.html)
                )
            message = _report_message(schedule, entry, result)
            periods[key] = {"status": "sending", "at": _now_text(), "due": due.isoformat()}
            state.save()  # a crash while sending must not lead to a second copy
            try:
                refused = mailer(schedule.smtp, message)
            except BaseException:
                del periods[key]
                state.save()
                raise
            periods[key] = {"status": "sent", "at": _now_text(), "due": due.isoformat()}
            refusals = f"refused: {', '.join(refused)}" if refused else None
            return RunRecord(
                entry.name, due, "sent", period, attempts, html=str(result.html), note=refusals
            )
        except ParameterError as exc:  # retrying cannot fix parameters
            error = exc
            break
        except (AuditkitError, OSError) as exc:
            error = exc
            if attempt < entry.retries:
                log(
                    f"{entry.name}: attempt {attempts} failed ({exc!s:.200}); "
                    f"retrying in {entry.retry_delay:g} s"
                )
                sleep(entry.retry_delay)
    assert error is not None
    note = _tell_owner(schedule, entry, due, period, attempts, error, mailer)
    return RunRecord(entry.name, due, "failed", period, attempts, error=str(error), note=note)


def _period_of(params: Mapping[str, Any], due: datetime, tz: str) -> str | None:
    tz = str(params.get("tz") or tz)
    try:
        if params.get("start") and params.get("end"):
            return resolve_period(f"{params['start']}..{params['end']}", now=due, tz=tz).to_text()
        if params.get("period"):
            found = resolve_period(str(params["period"]), now=due, tz=tz)
            return f"{found.first}..{found.last}"
    except PeriodError:
        return None
    return None


def _report_message(schedule: Schedule, entry: Entry, result: Any) -> Any:
    assert schedule.smtp is not None
    info = result.info or {}
    period = info.get("period", {})
    subject = entry.subject.format(
        title=result.title,
        period=period.get("text", ""),
        first=period.get("first", ""),
        last=period.get("last", ""),
        name=entry.name,
        report=entry.report,
    )
    html = result.html.read_text(encoding="utf-8")
    files: list[Path] = []
    if "html" in entry.formats:
        files.append(result.html)
    if "ipynb" in entry.formats:
        files.append(result.notebook)
    for path in result.attachments:
        csv = path.suffix == ".csv" or path.name.endswith(".csv.manifest.json")
        if "files" in entry.formats or ("csv" in entry.formats and csv):
            files.append(path)
    text = (
        f"{result.title}\n\n"
        f"Filters applied: {info.get('description', '')}\n"
        f"Query: {info.get('query', '')}\n\n"
        + ("The report is in the HTML part of this message.\n" if "body" in entry.formats else "")
        + (f"Attached: {', '.join(p.name for p in files)}\n" if files else "")
        + f"\nSent by auditkit schedule {entry.name!r} "
        f"({entry.when.describe()}, {entry.timezone}).\n"
    )
    body = html if "body" in entry.formats else None
    return build_message(
        sender=schedule.smtp.sender,
        to=entry.recipients,
        subject=subject,
        text=text,
        html=body,
        attachments=files,
    )


def _tell_owner(
    schedule: Schedule,
    entry: Entry,
    due: datetime,
    period: str | None,
    attempts: int,
    error: BaseException,
    mailer: Mailer,
) -> str | None:
    if not entry.owner:
        return "no owner to notify"
    if schedule.smtp is None:
        return "no [smtp] settings to notify the owner"
    details = [
        f"The scheduled report {entry.name!r} (report {entry.report!r}) failed "
        f"{attempts} time{'s' if attempts != 1 else ''} and was not sent to its recipients.",
        "",
        f"Due: {_local(due, entry.timezone)} ({entry.when.describe()})",
        f"Period: {period or '(none)'}",
        f"Recipients (nothing sent): {', '.join(entry.recipients) or '(none)'}",
        "",
        f"Error: {error}",
    ]
    for attr in ("cell_index", "ename", "evalue", "notebook"):
        value = getattr(error, attr, None)
        if value is not None:
            details.append(f"{attr}: {value}")
    details += ["", f"Schedule file: {schedule.path}"]
    message = build_message(
        sender=schedule.smtp.sender,
        to=[entry.owner],
        subject=f"auditkit: scheduled report {entry.name!r} FAILED — {period or due.date()}",
        text="\n".join(details) + "\n",
    )
    try:
        mailer(schedule.smtp, message)
    except (AuditkitError, OSError) as exc:
        return f"the failure notice to {entry.owner} could not be sent either: {exc}"
    return f"failure reported to {entry.owner}"


def _output(schedule: Schedule, state_path: Path) -> Path:
    return schedule.output or state_path.resolve().parent / "reports"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in text)


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _local(moment: datetime, tz: str) -> str:
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z")


# -- listing and serving ----------------------------------------------------------------------


def upcoming(
    schedule: Schedule, state_path: str | Path | None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Each entry with its next run and, given a state file, its last recorded run."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    state = _State(Path(state_path)) if state_path and Path(state_path).exists() else None
    rows = []
    for entry in schedule.entries:
        item = state.entry(entry.name) if state else None
        last = item["runs"][-1] if item and item["runs"] else None
        rows.append(
            {
                "name": entry.name,
                "report": entry.report,
                "when": entry.when.describe(),
                "timezone": entry.timezone,
                "next_run": entry.next_run(moment) if entry.enabled else None,
                "recipients": list(entry.recipients),
                "owner": entry.owner,
                "formats": list(entry.formats),
                "last": last,
                "enabled": entry.enabled,
            }
        )
    return rows


def serve(
    path: str | Path,
    state_path: str | Path,
    *,
    poll: float = 60.0,
    max_iterations: int | None = None,
    clock: Callable[[], datetime] | None = None,
    wait: Callable[[float], bool] | None = None,
    log: Callable[[str], None] = print,
    **run_kwargs: Any,
) -> int:
    """Run :func:`run_due` in a loop until SIGTERM or SIGINT (or ``max_iterations``).

    The schedule file is read again when it changes (a broken edit is logged and the
    previous version kept). Between rounds the loop sleeps until the next run is due,
    at most ``poll`` seconds. A signal stops it after the run in progress finishes, so
    the state file is never left half-written.

    Returns:
        The number of rounds run.
    """
    now = clock or (lambda: datetime.now(UTC))
    # The handler only records the signal and writes a byte to a pipe the pause waits
    # on: taking a lock or printing inside a handler can deadlock the thread it
    # interrupted (an Event's lock, stdout's buffer).
    stopping: list[int] = []
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)

    def sleep_until_woken(seconds: float) -> bool:
        ready, _, _ = select.select([wake_read], [], [], seconds)
        return bool(ready)

    pause = wait or sleep_until_woken
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        stopping.append(signum)
        with contextlib.suppress(OSError):
            os.write(wake_write, b"\0")

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    source = Path(path)
    rounds = 0
    try:
        schedule = load_schedule(source)
        stamp = source.stat().st_mtime
        log(f"serving {len(schedule.entries)} schedule entries from {source} (state {state_path})")
        while not stopping:
            if source.stat().st_mtime != stamp:
                stamp = source.stat().st_mtime
                try:
                    schedule = load_schedule(source)
                    log(f"reloaded {source}")
                except ScheduleError as exc:
                    log(f"kept the previous schedule; the edited file is invalid: {exc}")
            run_due(schedule, state_path, now=now(), log=log, **run_kwargs)
            rounds += 1
            if max_iterations is not None and rounds >= max_iterations:
                break
            moment = now()
            upcoming_runs = [e.next_run(moment) for e in schedule.entries if e.enabled]
            delay = poll
            if upcoming_runs:
                # wake just after the next due time (the state is keyed by due times)
                delay = min(poll, max(0.0, (min(upcoming_runs) - moment).total_seconds()) + 0.5)
            if not stopping:
                pause(max(delay, 0.01))
        if stopping:
            log(f"received {signal.Signals(stopping[0]).name}; stopped after the current run")
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        os.close(wake_read)
        os.close(wake_write)
    log("stopped")
    return rounds
