"""Email delivery over SMTP: settings, the message for a report, sending.

Settings come from a schedule file's ``[smtp]`` table. The password is never written
there: ``password_env`` names the environment variable that holds it, read when a
message is sent.

Example:
    >>> settings = SmtpSettings.from_dict({"host": "localhost", "port": 25, "security": "none"})
    >>> settings.security
    'none'
"""

from __future__ import annotations

import mimetypes
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError

__all__ = ["SECURITY", "MailError", "SmtpSettings", "build_message", "send"]

#: Ways to secure the connection: STARTTLS after connecting, TLS from the start, or none.
SECURITY: tuple[str, ...] = ("starttls", "ssl", "none")
_KEYS = ("host", "port", "security", "user", "password_env", "sender", "timeout", "ca_file")
_TYPES = {
    ".csv": "text/csv",
    ".html": "text/html",
    ".ipynb": "application/x-ipynb+json",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".parquet": "application/vnd.apache.parquet",
}


class MailError(AuditkitError, OSError):
    """SMTP settings are wrong, or a message could not be delivered.

    Attributes:
        refused: ``{recipient: (code, reply)}`` for recipients the server refused.
    """

    def __init__(self, message: str, *, refused: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.refused = refused or {}


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server.

    Attributes:
        host: the SMTP server.
        port: its port (587 for STARTTLS, 465 for SSL, 25 plain).
        security: ``starttls``, ``ssl`` or ``none``.
        user: login name (no login when absent).
        password_env: NAME of the environment variable holding the password.
        sender: the From address.
        timeout: seconds to wait for the server.
        ca_file: a CA bundle to trust instead of the system's (a private mail relay).
    """

    host: str
    port: int = 587
    security: str = "starttls"
    user: str | None = None
    password_env: str | None = None
    sender: str = "auditkit@localhost"
    timeout: float = 30.0
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise MailError(f"[smtp] security = {self.security!r}; valid: {', '.join(SECURITY)}")
        if self.user and not self.password_env:
            raise MailError(
                "[smtp] has a user but no password_env\n"
                "Hint: set password_env to the NAME of an environment variable holding the "
                'password, e.g. password_env = "AUDITKIT_SMTP_PASSWORD".'
            )
        if not 0 < int(self.port) < 65536:
            raise MailError(f"[smtp] port = {self.port!r} is not a TCP port")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SmtpSettings:
        """Settings from a schedule file's ``[smtp]`` table.

        Raises:
            MailError: an unknown key (a password in particular), a missing host, or a
                bad value.
        """
        if "password" in data:
            raise MailError(
                "[smtp] must not contain the password itself\n"
                "Hint: remove it and set password_env to the NAME of an environment "
                'variable that holds it, e.g. password_env = "AUDITKIT_SMTP_PASSWORD".'
            )
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise MailError(f"[smtp] unknown keys: {', '.join(unknown)}; valid: {', '.join(_KEYS)}")
        if not data.get("host"):
            raise MailError('[smtp] needs host = "smtp.example.com"')
        try:
            return cls(**{k: data[k] for k in _KEYS if k in data})
        except TypeError as exc:
            raise MailError(f"[smtp]: {exc}") from None

    def password(self) -> str | None:
        """The password from the environment (None without a user).

        Raises:
            MailError: the variable is not set.
        """
        if not self.user:
            return None
        assert self.password_env is not None
        value = os.environ.get(self.password_env)
        if value is None:
            raise MailError(
                f"the SMTP password variable {self.password_env} is not set in the environment\n"
                f"Hint: export {self.password_env}=… before running the schedule."
            )
        return value


def build_message(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Path] = (),
) -> EmailMessage:
    """A message with a plain-text part, an optional HTML alternative, and attachments.

    Args:
        sender: the From address.
        to: the recipients.
        subject: the Subject line.
        text: the plain-text body (what a text-only client shows).
        html: the HTML body (e.g. the whole report).
        attachments: files, attached under their names with a MIME type from the suffix,
            base64-encoded byte for byte (text as UTF-8).
    """
    if not to:
        raise MailError(f"message {subject!r} has no recipients")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="auditkit.local")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for path in attachments:
        kind = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
        maintype, _, subtype = (kind or "application/octet-stream").partition("/")
        # base64 keeps the bytes exact, so a file's SHA-256 still matches its manifest
        message.add_attachment(
            path.read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=path.name,
            params={"charset": "utf-8"} if maintype == "text" else {},
        )
    return message


def send(settings: SmtpSettings, message: EmailMessage) -> dict[str, Any]:
    """Send ``message``; returns the recipients the server refused (empty when none).

    Raises:
        MailError: the server cannot be reached, refuses the login, or refuses every
            recipient.
    """
    context = (
        ssl.create_default_context(cafile=settings.ca_file) if settings.security != "none" else None
    )
    password = settings.password()
    recipients = [addr for _, addr in getaddresses(message.get_all("To", []))]
    try:
        client: smtplib.SMTP
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=context)
            if settings.user and password is not None:
                client.login(settings.user, password)
            refused = client.send_message(message, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(
            f"the SMTP server refused every recipient: {', '.join(exc.recipients)}",
            refused=dict(exc.recipients),
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(
            f"cannot send {message['Subject']!r} through {settings.host}:{settings.port} "
            f"({settings.security}): {type(exc).__name__}: {exc}"
        ) from exc
    return dict(refused)
