"""Outgoing mail over SMTP (settings in ``[mail]``).

:func:`send_mail` sends at once and raises on failure. :func:`send_mail_later` hands the
message to a small pool of background threads in this process, so a request never waits for
the mail server (nor shows, by its answer or its timing, whether it sent anything); failures
are logged with the recipient and subject, never the body, which may hold a sign-in link.

The platform's job system will take this over (mail will go out through jobs, retried and
visible to admins); until then a message handed over here is lost if the process dies before
sending it. At interpreter exit the pool finishes what it was given.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from lms_core.config import MailConfig

__all__ = [
    "smtp_connection",
    "send_mail",
    "send_mail_later",
    "send_mail_logged",
    "run_later",
    "drain",
]

log = logging.getLogger(__name__)

#: Background senders per process (mail is rare: reset links).
SENDERS = 2

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()


@contextmanager
def smtp_connection(config: MailConfig) -> Iterator[smtplib.SMTP]:
    """One connection to the mail server, signed in as configured, for several messages.

    Raises ``OSError``/``smtplib.SMTPException`` when the server cannot be reached.
    """
    with smtplib.SMTP(config.host, config.port, timeout=15) as smtp:
        if config.use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password or "")
        yield smtp


def send_mail(config: MailConfig, to: str, subject: str, body: str) -> None:
    """Send a plain-text message. Raises ``OSError``/``smtplib.SMTPException`` on failure."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtp_connection(config) as smtp:
        smtp.send_message(message)
    log.info("sent %r to %s", subject, to)  # never the body: it may hold a sign-in link


def send_mail_logged(config: MailConfig, to: str, subject: str, body: str) -> None:
    """Send now; a failure is logged (recipient, subject and error, never the body)."""
    try:
        send_mail(config, to, subject, body)
    except Exception as exc:  # a background sender has nobody to raise to
        # The error's text only: a traceback's frames would hold the body.
        log.error("could not send %r to %s: %s: %s", subject, to, type(exc).__name__, exc)


def send_mail_later(config: MailConfig, to: str, subject: str, body: str) -> None:
    """Send a plain-text message in the background; a failure is logged, not raised."""
    run_later(send_mail_logged, config, to, subject, body)


def run_later(task: Callable[..., None], *args: Any) -> None:
    """Run ``task(*args)`` on the background senders; it must log its own failures.

    For work a request hands over once its answer is sent (a reset mail, whose account look-up
    must not make the answer slower for real accounts than for unknown ones).
    """
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="lms-mail")
        future = _pool.submit(task, *args)
        _pending.add(future)
    future.add_done_callback(_done)


def _done(future: Future[None]) -> None:
    with _lock:
        _pending.discard(future)


def drain(timeout: float = 30.0) -> bool:
    """Wait until every message handed to :func:`send_mail_later` was sent or failed.

    :returns: False if some were still under way after ``timeout`` seconds.
    """
    with _lock:
        pending = list(_pending)
    _done_now, not_done = wait(pending, timeout=timeout)
    return not not_done


def _forget_parents_pool() -> None:
    # A forked worker (gunicorn) starts with no threads: it makes its own pool when it needs one.
    global _pool, _lock
    _pool, _lock = None, threading.Lock()
    _pending.clear()


os.register_at_fork(after_in_child=_forget_parents_pool)
