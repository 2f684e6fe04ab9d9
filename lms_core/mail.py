"""Outgoing mail: the SMTP connection (or the mail folder) that mail jobs send through.

Mail is only ever sent by jobs (:mod:`lms_core.notification_mail`: notifications, digests,
password-reset links), never inside a request, so a request answers as fast whether the mail
server works or not, and a failed send is retried with the job's backoff. Logs name the
recipient and subject, never the body, which may hold a sign-in link.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from lms_core.config import MailConfig

__all__ = ["MailFolder", "mail_folder", "smtp_connection", "send_mail"]

log = logging.getLogger(__name__)


class MailFolder:
    """Stands in for an SMTP connection when ``[mail] transport = "folder"``: each message is
    written to ``<folder>/<time>-<random>.eml`` (the ``lms demo`` default without a mail
    server), so it can be opened in any mail program."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def sendmail(self, sender: str, recipients: list[str], message: bytes | str) -> dict[str, Any]:
        data = message.encode("utf-8") if isinstance(message, str) else message
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}.eml"
        tmp = self.folder / f".{name}"
        tmp.write_bytes(data)
        tmp.rename(self.folder / name)
        return {}

    def send_message(self, message: EmailMessage) -> dict[str, Any]:
        return self.sendmail(str(message["From"]), [str(message["To"])], message.as_bytes())


def mail_folder(config: MailConfig, instance_path: str = "instance") -> Path:
    """Where ``transport = "folder"`` writes messages."""
    return Path(config.folder or Path(instance_path) / "mail")


@contextmanager
def smtp_connection(config: MailConfig, instance_path: str = "instance") -> Iterator[Any]:
    """One connection to the mail server, signed in as configured, for several messages
    (a :class:`MailFolder` when ``transport = "folder"``).

    Raises ``OSError``/``smtplib.SMTPException`` when the server cannot be reached.
    """
    if config.transport == "folder":
        yield MailFolder(mail_folder(config, instance_path))
        return
    with smtplib.SMTP(config.host, config.port, timeout=15) as smtp:
        if config.use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password or "")
        yield smtp


def send_mail(
    config: MailConfig, to: str, subject: str, body: str, instance_path: str = "instance"
) -> None:
    """Send a plain-text message. Raises ``OSError``/``smtplib.SMTPException`` on failure."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtp_connection(config, instance_path) as smtp:
        smtp.send_message(message)
    log.info("sent %r to %s", subject, to)  # never the body: it may hold a sign-in link
