"""SMTP delivery, against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from auditkit.reports.mail import MailError, SmtpSettings, build_message, send


@dataclass
class Inbox:
    """What the server received: (envelope sender, envelope recipients, parsed message)."""

    messages: list[tuple[str, list[str], Any]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password == b"s3cret", handled=False)
        return AuthResult(success=False, handled=False)


@dataclass
class Server:
    host: str
    port: int
    inbox: Inbox


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield Server("127.0.0.1", port, inbox)
    controller.stop()


def settings(server: Server, **overrides: Any) -> SmtpSettings:
    return SmtpSettings.from_dict(
        {"host": server.host, "port": server.port, "security": "none", **overrides}
    )


# -- settings ---------------------------------------------------------------------------------


def test_the_password_is_never_in_the_settings() -> None:
    with pytest.raises(MailError, match="must not contain the password") as info:
        SmtpSettings.from_dict({"host": "smtp.example.com", "user": "me", "password": "hunter2"})
    assert "password_env" in str(info.value) and "hunter2" not in str(info.value)
    with pytest.raises(MailError, match="has a user but no password_env"):
        SmtpSettings.from_dict({"host": "smtp.example.com", "user": "me"})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"port": 25}, "needs host"),
        ({"host": "h", "securty": "ssl"}, "unknown keys: securty"),
        ({"host": "h", "security": "tls"}, "valid: starttls, ssl, none"),
        ({"host": "h", "port": 0}, "not a TCP port"),
    ],
)
def test_bad_settings_are_refused(table: dict[str, Any], message: str) -> None:
    with pytest.raises(MailError, match=message):
        SmtpSettings.from_dict(table)


def test_a_missing_password_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITKIT_TEST_SMTP_PASSWORD", raising=False)
    config = SmtpSettings.from_dict(
        {"host": "h", "user": "me", "password_env": "AUDITKIT_TEST_SMTP_PASSWORD"}
    )
    with pytest.raises(MailError, match="AUDITKIT_TEST_SMTP_PASSWORD is not set"):
        config.password()


# -- sending ----------------------------------------------------------------------------------


def test_a_report_message_arrives_with_its_attachments(
    smtp_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "activity_summary.html"
    report.write_text("<!DOCTYPE html><html><body><h1>Activity summary — week</h1></body></html>")
    table = tmp_path / "daily_volume.csv"
    table.write_text("day,total\n2024-06-10,12\n2024-06-11,7\n")
    monkeypatch.setenv("AUDITKIT_TEST_SMTP_PASSWORD", "s3cret")
    config = settings(
        smtp_server,
        user="reports@example.com",
        password_env="AUDITKIT_TEST_SMTP_PASSWORD",
        sender="Audit reports <reports@example.com>",
    )
    message = build_message(
        sender=config.sender,
        to=["alice@example.com", "bob@example.com"],
        subject="Weekly activity summary — 2024-06-10 to 2024-06-16",
        text="Activity summary — week",
        html=report.read_text(),
        attachments=[report, table],
    )
    assert send(config, message) == {}
    assert smtp_server.inbox.logins == [("reports@example.com", "s3cret")]
    [(sender, recipients, received)] = smtp_server.inbox.messages
    assert sender == "reports@example.com"
    assert recipients == ["alice@example.com", "bob@example.com"]
    assert received["Subject"] == "Weekly activity summary — 2024-06-10 to 2024-06-16"
    body = received.get_body(preferencelist=("html",))
    assert "<h1>Activity summary — week</h1>" in body.get_content()
    assert "Activity summary" in received.get_body(preferencelist=("plain",)).get_content()
    files = {part.get_filename(): part for part in received.iter_attachments()}
    assert sorted(files) == ["activity_summary.html", "daily_volume.csv"]
    assert files["daily_volume.csv"].get_content_type() == "text/csv"
    assert files["activity_summary.html"].get_content_type() == "text/html"
    assert "Activity summary — week" in files["activity_summary.html"].get_content()
    rows = files["daily_volume.csv"].get_content().splitlines()
    assert rows == ["day,total", "2024-06-10,12", "2024-06-11,7"]
    assert files["daily_volume.csv"].get_payload(decode=True) == table.read_bytes()


def test_a_wrong_password_is_a_mail_error(
    smtp_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITKIT_TEST_SMTP_PASSWORD", "wrong")
    config = settings(smtp_server, user="me", password_env="AUDITKIT_TEST_SMTP_PASSWORD")
    message = build_message(sender="a@example.com", to=["b@example.com"], subject="s", text="t")
    with pytest.raises(MailError, match="SMTPAuthenticationError"):
        send(config, message)
    assert smtp_server.inbox.messages == []


def test_refused_recipients(smtp_server: Server) -> None:
    smtp_server.inbox.refuse = {"gone@example.com"}
    message = build_message(
        sender="a@example.com", to=["gone@example.com", "b@example.com"], subject="s", text="t"
    )
    assert set(send(settings(smtp_server), message)) == {"gone@example.com"}
    [(_, recipients, _)] = smtp_server.inbox.messages
    assert recipients == ["b@example.com"]
    only = build_message(sender="a@example.com", to=["gone@example.com"], subject="s", text="t")
    with pytest.raises(MailError, match="refused every recipient") as info:
        send(settings(smtp_server), only)
    assert "gone@example.com" in info.value.refused


def test_an_unreachable_server_is_a_mail_error() -> None:
    config = SmtpSettings.from_dict(
        {"host": "127.0.0.1", "port": free_port(), "security": "none", "timeout": 5}
    )
    message = build_message(sender="a@example.com", to=["b@example.com"], subject="s", text="t")
    with pytest.raises(MailError, match=r"cannot send 's' through 127\.0\.0\.1"):
        send(config, message)


def test_a_message_needs_recipients() -> None:
    with pytest.raises(MailError, match="no recipients"):
        build_message(sender="a@example.com", to=[], subject="s", text="t")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls(certificate: tuple[Path, Path], security: str) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    options: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": context}
    )
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        config = SmtpSettings.from_dict(
            {"host": "127.0.0.1", "port": port, "security": security, "ca_file": str(cert)}
        )
        message = build_message(
            sender="a@example.com", to=["b@example.com"], subject="tls", text="t"
        )
        send(config, message)
        untrusted = SmtpSettings.from_dict(
            {"host": "127.0.0.1", "port": port, "security": security}
        )
        with pytest.raises(MailError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            send(untrusted, message)
    finally:
        controller.stop()
    assert [m[2]["Subject"] for m in inbox.messages] == ["tls"]
