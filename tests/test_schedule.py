"""Schedules: when entries run (time zones, DST), run-due with a test clock, retries and
failure notices, serve, and one schedule delivering a real report to a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import io
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from aiosmtpd.controller import Controller

from auditkit.cli import main
from auditkit.generate import generate
from auditkit.reports import ReportError, load_schedule, run_due, serve
from auditkit.reports.mail import MailError
from auditkit.reports.schedule import ScheduleError
from auditkit.reports.scheduler import upcoming
from auditkit.reports.when import When
from auditkit.store import Store

REPO = Path(__file__).resolve().parents[1]
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


# -- when -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "described"),
    [
        ({"weekly": "monday", "at": "07:00"}, "weekly on Monday at 07:00"),
        ({"weekly": "Fri", "at": "17:30"}, "weekly on Friday at 17:30"),
        ({"monthly": 1, "at": "06:00"}, "monthly on day 1 at 06:00"),
        ({"monthly": "last", "at": "23:00"}, "monthly on the last day at 23:00"),
        ({"cron": "0 7 * * 1"}, "cron 0 7 * * 1"),
    ],
)
def test_when_forms(value: dict[str, Any], described: str) -> None:
    assert When.parse(value).describe() == described


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"weekly": "mo", "at": "07:00"}, "bad weekday"),
        ({"weekly": "funday"}, "bad weekday"),
        ({"monthly": 31}, 'use 1–28, or "last"'),
        ({"monthly": 0}, "use 1–28"),
        ({"cron": "0 7 * *"}, "five fields"),
        ({"cron": "0 25 * * *"}, "bad cron expression"),
        ({"cron": "0 7 * * *", "at": "07:00"}, "drop 'at'"),
        ({"weekly": "monday", "at": "7am"}, "use HH:MM"),
        ({"weekly": "monday", "monthly": 1}, "bad when"),
        ("every monday", "must be a table"),
    ],
)
def test_bad_when_names_the_forms(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        When.parse(value)


def test_weekly_runs_at_local_time_across_dst() -> None:
    when = When.parse({"weekly": "monday", "at": "07:00"})
    # Monday 07:00 in Berlin is 06:00 UTC in winter, 05:00 UTC in summer
    runs = when.between(utc(2024, 3, 20), utc(2024, 4, 9), "Europe/Berlin")
    assert runs == [utc(2024, 3, 25, 6), utc(2024, 4, 1, 5), utc(2024, 4, 8, 5)]
    assert all(r.astimezone(BERLIN).hour == 7 for r in runs)


def test_a_time_skipped_by_dst_runs_at_the_jump_and_a_repeated_one_runs_once() -> None:
    sunday = When.parse({"weekly": "sunday", "at": "02:30"})
    # 31 March 2024: Berlin jumps from 02:00 to 03:00, so 02:30 does not exist
    assert sunday.next_after(utc(2024, 3, 30), "Europe/Berlin") == berlin(2024, 3, 31, 3)
    # 27 October 2024: 02:30 happens twice; the first one (CEST, UTC+2) runs
    assert sunday.next_after(utc(2024, 10, 26), "Europe/Berlin") == utc(2024, 10, 27, 0, 30)
    daily = When.parse({"cron": "30 2 * * *"})
    runs = daily.between(utc(2024, 10, 26, 12), utc(2024, 10, 28, 12), "Europe/Berlin")
    assert runs == [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]
    spring = daily.between(utc(2024, 3, 30, 12), utc(2024, 4, 1, 12), "Europe/Berlin")
    assert spring == [utc(2024, 3, 31, 1), utc(2024, 4, 1, 0, 30)]


def test_monthly_runs_on_the_day_or_the_last_day() -> None:
    first = When.parse({"monthly": 1, "at": "06:00"})
    assert first.between(utc(2024, 1, 15), utc(2024, 4, 15), "America/New_York") == [
        utc(2024, 2, 1, 11),
        utc(2024, 3, 1, 11),
        utc(2024, 4, 1, 10),  # EDT from 10 March
    ]
    last = When.parse({"monthly": "last", "at": "23:00"})
    days = [r.astimezone(BERLIN).date().isoformat() for r in last.between(
        utc(2024, 1, 1), utc(2024, 5, 1), "Europe/Berlin"
    )]  # fmt: skip
    assert days == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]


def test_cron_in_a_time_zone() -> None:
    weekdays = When.parse({"cron": "0 8 * * 1-5"})
    runs = weekdays.between(utc(2024, 6, 14), utc(2024, 6, 18, 12), "Asia/Tokyo")
    assert [r.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%a %H:%M") for r in runs] == [
        "Mon 08:00",
        "Tue 08:00",
    ]


# -- schedule files -----------------------------------------------------------------------------


def test_the_example_schedule_loads() -> None:
    schedule = load_schedule(REPO / "reports" / "schedule.example.toml")
    names = [e.name for e in schedule.entries]
    assert names == [
        "weekly-activity",
        "monthly-permissions",
        "daily-failures",
        "quarterly-auditor-export",
        "contractor-audit",
        "monthly-log-completeness",
    ]
    weekly = schedule.entry("weekly-activity")
    assert weekly.timezone == "Europe/Berlin" and weekly.owner == "data-platform@example.com"
    assert weekly.parameters == {"store": "/srv/auditkit/store", "period": "last week"}
    assert schedule.smtp is not None and schedule.smtp.password_env == "AUDITKIT_SMTP_PASSWORD"
    assert not schedule.entry("contractor-audit").enabled
    rows = upcoming(schedule, None, now=utc(2024, 6, 12, 9))
    assert rows[0]["next_run"] == utc(2024, 6, 17, 5)  # Monday 07:00 CEST
    assert rows[3]["next_run"] == utc(2024, 7, 1, 6)
    assert rows[4]["next_run"] is None
    assert rows[5]["next_run"] == utc(2024, 7, 2, 4)  # the 2nd, 06:00 CEST


BASE = """
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "Audit reports <reports@example.com>"

[defaults]
owner = "owner@example.com"
retries = {retries}
retry_delay = 7
output = "runs"
parameters = {{ store = "{store}" }}
"""

WEEKLY = """
[[schedule]]
name = "weekly-activity"
report = "activity_summary"
when = {{ weekly = "monday", at = "07:00" }}
timezone = "Europe/Berlin"
parameters = {{ period = "last week" }}
recipients = ["alice@example.com", "bob@example.com"]
formats = ["body", "html", "csv"]
subject = "Weekly activity summary — {{period}}"
catch_up = "{catch_up}"
"""


def write_schedule(
    tmp_path: Path,
    *,
    port: int = 2525,
    store: str | Path = "store",
    retries: int = 2,
    catch_up: str = "latest",
    extra: str = "",
) -> Path:
    path = tmp_path / "schedule.toml"
    text = BASE.format(port=port, store=store, retries=retries)
    path.write_text(text + WEEKLY.format(catch_up=catch_up) + extra)
    return path


DUPLICATE = """
[[schedule]]
name = "weekly-activity"
report = "activity_summary"
when = { cron = "0 * * * *" }
"""
EDITS = [
    ('report = "activity_summary"', 'report = "activity"', "no report named"),
    ("catch_up", "catchup", "unknown keys: catchup"),
    ('period = "last week"', 'perod = "last week"', "unknown parameters: perod"),
    ('period = "last week"', 'period = "last fortnight"', "bad value for period"),
    ('"body", "html", "csv"', '"pdf"', "unknown formats"),
    ('"Europe/Berlin"', '"Europe/Nowhere"', "unknown time zone"),
    ("sender =", 'password = "x"\nsender =', "must not contain the password"),
    ('report = "activity_summary"', 'report = "user_audit"', "missing required parameters: user"),
    ("[smtp]", "[smtp]\n[mail]", "unknown tables: mail"),
    ("retries = 2", "retries = 20", "use 0–10"),
    ('"alice@example.com", ', '"alice", ', "list of email addresses"),
]


@pytest.mark.parametrize(("old", "new", "message"), EDITS)
def test_schedule_files_are_checked_up_front(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write_schedule(tmp_path)
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ScheduleError, match=message) as info:
        load_schedule(path)
    assert str(path) in str(info.value)


def test_entry_names_are_unique_and_recipients_need_smtp(tmp_path: Path) -> None:
    path = write_schedule(tmp_path, extra=DUPLICATE)
    with pytest.raises(ScheduleError, match="two entries have this name"):
        load_schedule(path)
    path = write_schedule(tmp_path)
    text = path.read_text()
    path.write_text(text[text.index("[defaults]") :])
    with pytest.raises(ScheduleError, match=r"recipients but the file has no \[smtp\]"):
        load_schedule(path)


def test_paths_in_a_schedule_are_relative_to_the_file(tmp_path: Path) -> None:
    schedule = load_schedule(write_schedule(tmp_path, store="data/store"))
    assert schedule.entries[0].parameters["store"] == str(tmp_path / "data" / "store")
    assert schedule.output == tmp_path / "runs"


# -- run-due with a test clock ------------------------------------------------------------------


@dataclass
class FakeResult:
    title: str
    html: Path
    notebook: Path
    attachments: tuple[Path, ...]
    info: dict[str, Any]


@dataclass
class FakeRunner:
    """Stands in for run_report: records calls, fails the first ``failures`` of them."""

    failures: int = 0
    error: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, name: str, params: dict[str, Any], out: Path, **kw: Any) -> FakeResult:
        self.calls.append(dict(params))
        if len(self.calls) <= self.failures:
            raise self.error or ReportError(
                name, "StoreError: boom", cell_index=2, ename="StoreError", evalue="boom"
            )
        out.mkdir(parents=True, exist_ok=True)
        now = datetime.fromisoformat(params["now"])
        monday = (now.astimezone(BERLIN) - timedelta(days=7)).date()
        monday -= timedelta(days=monday.weekday())
        text = f"{monday} to {monday + timedelta(days=6)}"
        (out / "activity_summary.html").write_text(f"<h1>Activity summary — {text}</h1>")
        (out / "activity_summary.ipynb").write_text("{}")
        (out / "daily.csv").write_text("day,total\n")
        return FakeResult(
            f"Activity summary — {text}",
            out / "activity_summary.html",
            out / "activity_summary.ipynb",
            (out / "daily.csv",),
            {"period": {"text": text}, "description": "from …", "query": "date:…"},
        )


@dataclass
class FakeMailer:
    fail: int = 0
    sent: list[Any] = field(default_factory=list)

    def __call__(self, settings: Any, message: Any) -> dict[str, Any]:
        if self.fail:
            self.fail -= 1
            raise MailError("SMTP down")
        self.sent.append(message)
        return {}


def run(path: Path, state: Path, now: datetime, **kw: Any) -> list[Any]:
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("log", lambda line: None)
    return run_due(load_schedule(path), state, now=now, **kw)


def test_a_due_run_is_sent_once_and_a_missed_run_caught_up_once(tmp_path: Path) -> None:
    path, state = write_schedule(tmp_path), tmp_path / "state.json"
    runner, mailer = FakeRunner(), FakeMailer()
    # first sight: nothing from the past is sent
    [first] = run(path, state, berlin(2024, 6, 5, 12), runner=runner, mailer=mailer)
    assert first.status == "first-seen" and "2024-06-10 07:00" in str(first.note)
    assert runner.calls == [] and mailer.sent == []
    # not yet due on Monday at 06:59
    assert run(path, state, berlin(2024, 6, 10, 6, 59), runner=runner, mailer=mailer) == []
    # due at 07:00: rendered for the week before, sent once
    [sent] = run(path, state, berlin(2024, 6, 10, 7, 5), runner=runner, mailer=mailer)
    assert (sent.status, sent.period) == ("sent", "2024-06-03..2024-06-09")
    assert runner.calls[0]["now"] == "2024-06-10T05:00:00+00:00"  # the due time, not the clock
    assert runner.calls[0]["tz"] == "Europe/Berlin"
    [message] = mailer.sent
    assert message["Subject"] == "Weekly activity summary — 2024-06-03 to 2024-06-09"
    assert message["To"] == "alice@example.com, bob@example.com"
    # not twice
    assert run(path, state, berlin(2024, 6, 10, 9), runner=runner, mailer=mailer) == []
    assert run(path, state, berlin(2024, 6, 16, 23), runner=runner, mailer=mailer) == []
    assert len(mailer.sent) == 1
    # three Mondays missed: the latest runs once, the older two are recorded as skipped
    records = run(path, state, berlin(2024, 7, 2, 10), runner=runner, mailer=mailer)
    assert [(r.status, r.due) for r in records] == [
        ("skipped", utc(2024, 6, 17, 5)),
        ("skipped", utc(2024, 6, 24, 5)),
        ("sent", utc(2024, 7, 1, 5)),
    ]
    assert records[-1].period == "2024-06-24..2024-06-30"
    assert len(mailer.sent) == 2 and len(runner.calls) == 2
    assert run(path, state, berlin(2024, 7, 2, 11), runner=runner, mailer=mailer) == []
    saved = json.loads(state.read_text())["entries"]["weekly-activity"]
    assert saved["since"] == "2024-07-01T05:00:00+00:00"
    assert [saved["periods"][p]["status"] for p in sorted(saved["periods"])] == ["sent", "sent"]
    assert [r["status"] for r in saved["runs"]] == [
        "first-seen",
        "sent",
        "skipped",
        "skipped",
        "sent",
    ]


def test_catch_up_all_runs_every_missed_period(tmp_path: Path) -> None:
    path, state = write_schedule(tmp_path, catch_up="all"), tmp_path / "state.json"
    runner, mailer = FakeRunner(), FakeMailer()
    run(path, state, berlin(2024, 6, 5), runner=runner, mailer=mailer)
    records = run(path, state, berlin(2024, 6, 19), runner=runner, mailer=mailer)
    assert [r.period for r in records] == ["2024-06-03..2024-06-09", "2024-06-10..2024-06-16"]
    assert [m["Subject"][-24:] for m in mailer.sent] == [
        "2024-06-03 to 2024-06-09",
        "2024-06-10 to 2024-06-16",
    ]


def test_a_period_is_never_sent_twice_by_a_frequent_cron_entry(tmp_path: Path) -> None:
    path = write_schedule(tmp_path)
    text = path.read_text().replace('weekly = "monday", at = "07:00"', 'cron = "0 * * * *"')
    path.write_text(text)
    state, runner, mailer = tmp_path / "state.json", FakeRunner(), FakeMailer()
    run(path, state, berlin(2024, 6, 10, 6, 30), runner=runner, mailer=mailer)
    statuses = [
        r.status
        for hour in (7, 8, 9)
        for r in run(path, state, berlin(2024, 6, 10, hour, 1), runner=runner, mailer=mailer)
    ]
    assert statuses == ["sent", "already-sent", "already-sent"]
    assert len(mailer.sent) == 1


def test_a_failing_run_is_retried_then_reported_to_the_owner_only(tmp_path: Path) -> None:
    path, state = write_schedule(tmp_path, retries=2), tmp_path / "state.json"
    runner, mailer, sleeps = FakeRunner(failures=99), FakeMailer(), []
    run(path, state, berlin(2024, 6, 5), runner=runner, mailer=mailer)
    [record] = run(
        path, state, berlin(2024, 6, 10, 8), runner=runner, mailer=mailer, sleep=sleeps.append
    )
    assert (record.status, record.attempts) == ("failed", 3)
    assert len(runner.calls) == 3 and sleeps == [7.0, 7.0]
    assert "StoreError: boom" in str(record.error)
    assert record.note == "failure reported to owner@example.com"
    [notice] = mailer.sent  # nothing went to the recipients
    assert notice["To"] == "owner@example.com"
    assert "FAILED" in notice["Subject"] and "2024-06-03..2024-06-09" in notice["Subject"]
    body = notice.get_body().get_content()
    assert "failed 3 times and was not sent" in body and "cell_index: 2" in body
    assert "alice@example.com, bob@example.com" in body
    assert not notice.get_body(preferencelist=("html",)) or "html" not in notice.get_content_type()
    saved = json.loads(state.read_text())["entries"]["weekly-activity"]
    assert saved["periods"] == {} and saved["runs"][-1]["status"] == "failed"
    # a failure that passes on a retry is sent once, after the retry
    runner2, mailer2 = FakeRunner(failures=1), FakeMailer()
    [record] = run(path, state, berlin(2024, 6, 17, 8), runner=runner2, mailer=mailer2)
    assert (record.status, record.attempts) == ("sent", 2)
    assert [m["To"] for m in mailer2.sent] == ["alice@example.com, bob@example.com"]


def test_a_mail_failure_is_retried_and_not_recorded_as_sent(tmp_path: Path) -> None:
    path, state = write_schedule(tmp_path, retries=1), tmp_path / "state.json"
    runner, mailer = FakeRunner(), FakeMailer(fail=5)
    run(path, state, berlin(2024, 6, 5), runner=runner, mailer=mailer)
    [record] = run(path, state, berlin(2024, 6, 10, 8), runner=runner, mailer=mailer)
    assert (record.status, record.attempts) == ("failed", 2)
    assert "could not be sent either" in str(record.note)
    assert json.loads(state.read_text())["entries"]["weekly-activity"]["periods"] == {}


def test_bad_parameters_are_not_retried(tmp_path: Path) -> None:
    from auditkit.reports import ParameterError

    path, state = write_schedule(tmp_path), tmp_path / "state.json"
    runner = FakeRunner(failures=9, error=ParameterError("activity_summary", unknown=["x"]))
    mailer = FakeMailer()
    run(path, state, berlin(2024, 6, 5), runner=runner, mailer=mailer)
    [record] = run(path, state, berlin(2024, 6, 10, 8), runner=runner, mailer=mailer)
    assert (record.status, record.attempts, len(runner.calls)) == ("failed", 1, 1)


def test_a_second_run_due_at_once_does_nothing(tmp_path: Path) -> None:
    import fcntl

    path, state = write_schedule(tmp_path), tmp_path / "state.json"
    lines: list[str] = []
    with open(tmp_path / "state.json.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert run(path, state, berlin(2024, 6, 5), log=lines.append) == []
    assert "holds" in lines[0] and not state.exists()


def test_serve_loops_on_its_clock_until_told_to_stop(tmp_path: Path) -> None:
    path, state = write_schedule(tmp_path), tmp_path / "state.json"
    runner, mailer = FakeRunner(), FakeMailer()
    times = [berlin(2024, 6, 5), berlin(2024, 6, 5), berlin(2024, 6, 10, 7, 1)]
    ticks = iter(times + [berlin(2024, 6, 10, 7, 2)] * 9)
    waits: list[float] = []
    rounds = serve(
        path,
        state,
        max_iterations=3,
        clock=lambda: next(ticks),
        wait=lambda s: waits.append(s) or False,
        log=lambda line: None,
        runner=runner,
        mailer=mailer,
        sleep=lambda s: None,
    )
    assert rounds == 3 and len(mailer.sent) == 1
    assert waits[0] == 60.0  # polls at most every minute


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    path, state = write_schedule(tmp_path), tmp_path / "state.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "auditkit.cli",
            "schedule",
            "serve",
            str(path),
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "first-seen" in line:
            break
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # fail this test alone, leaving no process behind
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("serve did not stop within 30 s of SIGTERM:\n" + out) from None
    assert proc.returncode == 0, "".join(lines) + out
    assert "received SIGTERM" in out and out.rstrip().endswith("stopped")
    runs = json.loads(state.read_text())["entries"]["weekly-activity"]["runs"]
    assert [r["status"] for r in runs] == ["first-seen"]


def test_cli_schedule_list_and_run_due(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, state = write_schedule(tmp_path), tmp_path / "state.json"
    assert main(["schedule", "list", str(path), "--now", "2024-06-05T12:00:00+02:00"]) == 0
    out = capsys.readouterr().out
    assert "weekly-activity: activity_summary, weekly on Monday at 07:00 (Europe/Berlin)" in out
    assert "next 2024-06-10 07:00 CEST" in out
    now = ["--now", "2024-06-05T12:00:00Z"]
    assert main(["schedule", "run-due", str(path), "--state", str(state), *now]) == 0
    assert "first-seen" in capsys.readouterr().out
    assert main(["schedule", "list", str(path), "--state", str(state)]) == 0
    assert "last: first-seen" in capsys.readouterr().out
    assert main(["schedule", "run-due", str(tmp_path / "nope.toml"), "--state", str(state)]) == 2


# -- a real report to a real SMTP server ---------------------------------------------------------


@dataclass
class Inbox:
    messages: list[tuple[list[str], Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_a_schedule_delivers_a_real_report_by_email(
    tmp_path: Path, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    store = tmp_path / "store"
    Store(store, create=True).append(generate(3_000, seed=4, end=utc(2026, 10, 1), days=21))
    path, state = write_schedule(tmp_path, port=port, store=store), tmp_path / "state.json"
    assert run(path, state, berlin(2026, 9, 27, 12))[0].status == "first-seen"
    [record] = run(path, state, berlin(2026, 9, 28, 7, 15))
    assert (record.status, record.period) == ("sent", "2026-09-21..2026-09-27")
    [(recipients, message)] = inbox.messages
    assert recipients == ["alice@example.com", "bob@example.com"]
    assert message["Subject"] == "Weekly activity summary — 2026-09-21 to 2026-09-27"
    assert message["From"] == "Audit reports <reports@example.com>"
    body = message.get_body(preferencelist=("html",)).get_content()
    assert "Activity summary — 2026-09-21 to 2026-09-27" in body and "<svg" in body
    assert "Filters applied:" in message.get_body(preferencelist=("plain",)).get_content()
    files = {p.get_filename(): p for p in message.iter_attachments()}
    assert "activity_summary.html" in files and "daily_volume.csv" in files
    attached = files["activity_summary.html"].get_content()
    assert "Activity summary — 2026-09-21 to 2026-09-27" in attached
    daily = pl.read_csv(io.BytesIO(files["daily_volume.csv"].get_payload(decode=True)))
    start = datetime(2026, 9, 21, tzinfo=BERLIN)
    expected = Store(store).scan(start, start + timedelta(days=7)).select(pl.len()).collect().item()
    assert daily["total"].sum() == expected > 0
    assert all(name.endswith(".csv") or name == "activity_summary.html" for name in files)
    # the run is kept, and a second call sends nothing
    kept = Path(str(record.html))
    assert kept.is_file() and kept.parent.parent.parent == tmp_path / "runs"
    assert run(path, state, berlin(2026, 9, 28, 9)) == []
    assert len(inbox.messages) == 1


def test_a_failed_run_notifies_the_owner_by_real_email(
    tmp_path: Path, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    path = write_schedule(tmp_path, port=port, store=tmp_path / "no-store", retries=1)
    state = tmp_path / "state.json"
    run(path, state, berlin(2026, 9, 27, 12))
    [record] = run(path, state, berlin(2026, 9, 28, 7, 15))  # the real runner, no store
    assert (record.status, record.attempts) == ("failed", 2)
    assert list((tmp_path / "runs").rglob("*.html")) == []
    assert [p.name for p in (tmp_path / "runs").rglob("*.failed.ipynb")] == [
        "activity_summary.failed.ipynb"
    ]
    [(recipients, notice)] = inbox.messages
    assert recipients == ["owner@example.com"]
    assert "weekly-activity" in notice["Subject"] and "FAILED" in notice["Subject"]
    assert "StoreError" in notice.get_content() and "no auditkit store here" in notice.get_content()
