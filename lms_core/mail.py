"""Outgoing mail over SMTP (settings in ``[mail]``)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from lms_core.config import MailConfig

__all__ = ["send_mail"]

log = logging.getLogger(__name__)


def send_mail(config: MailConfig, to: str, subject: str, body: str) -> None:
    """Send a plain-text message. Raises ``OSError``/``smtplib.SMTPException`` on failure."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(config.host, config.port, timeout=15) as smtp:
        if config.use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password or "")
        smtp.send_message(message)
    log.info("sent %r to %s", subject, to)  # never the body: it may hold a sign-in link
