"""Notification mail: each email notification as a multipart mail, and the daily digest.

Mails are rendered from the Jinja templates in ``lms_core/templates/notifications/``
(``email.txt`` / ``email.html``, ``digest.txt`` / ``digest.html``; the HTML autoescaped) from
rows loaded in one query per batch, never one per recipient, and sent over one SMTP
connection per batch. Each mail of a notification carries ``List-Unsubscribe`` (a signed
link for that person and kind) and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058), so mail clients offer a one-click unsubscribe.

Sending is never done in a request: :func:`enqueue_mails` hands new notifications to jobs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formatdate
from email.utils import make_msgid
from functools import cache
from pathlib import Path
from typing import Any

from attrs import define
from attrs import field
from attrs import frozen
from jinja2 import Environment
from jinja2 import FileSystemLoader
from jinja2 import select_autoescape
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from lms_core.config import Config
from lms_core.context import Context
from lms_core.db import utcnow
from lms_core.jobs import JobResult
from lms_core.jobs import JobRun
from lms_core.jobs import JobType
from lms_core.mail import send_mail
from lms_core.mail import smtp_connection
from lms_core.models import Notification
from lms_core.models import User
from lms_core.services.notifications import make_unsubscribe_token

__all__ = [
    "JOB_TYPES",
    "MAIL_BATCH",
    "MailBatch",
    "Digest",
    "SendMail",
    "ResetMail",
    "MailOutcome",
    "enqueue_mails",
    "render_notification",
    "send_notification_mails",
    "send_digests",
    "site_secret",
]

log = logging.getLogger(__name__)

#: Notifications one mail job sends (one query loads them, one connection sends them).
MAIL_BATCH = 100

_TEMPLATES = Path(__file__).parent / "templates" / "notifications"
#: How mails are flattened for SMTP: CRLF line ends (smtplib sends bytes as they are).
_WIRE = compat32.clone(linesep="\r\n", max_line_length=None)


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def site_secret(config: Config) -> str:
    """The key that signs unsubscribe links: the web app's secret key (same for every process)."""
    from lms_core.site_key import site_secret_key

    return site_secret_key(config)


def _url(config: Config, path: str | None) -> str | None:
    return config.base_url.rstrip("/") + path if path else None


MAIL_JOB = "core.notification_mail"
DIGEST_JOB = "core.notification_digest"
SEND_MAIL_JOB = "core.send_mail"
RESET_MAIL_JOB = "core.password_reset_mail"


class MailNotSent(RuntimeError):
    """The mail server refused or could not be reached: the job fails and is retried."""


@frozen
class MailBatch:
    """Payload of ``core.notification_mail``: the email notifications one job sends."""

    ids: list[int]


@frozen
class Digest:
    """Payload of ``core.notification_digest``: fold what was made up to the end of ``day``."""

    day: dt.datetime


@frozen
class SendMail:
    """Payload of ``core.send_mail``: one plain-text message."""

    to: str
    subject: str
    text: str


@frozen
class ResetMail:
    """Payload of ``core.password_reset_mail``: a reset asked for ``email``.

    The link is made when the job runs: no usable reset token is ever stored. ``link`` holds
    the address with ``__token__`` where the token goes.
    """

    email: str
    link: str
    address: str | None = None


#: Where a unit of work keeps the email notifications it wrote until it commits.
_PENDING = "lms_pending_notification_mail"


def enqueue_mails(ctx: Context, notification_ids: list[int]) -> None:
    """Hand new email notifications to mail jobs, :data:`MAIL_BATCH` per job.

    The ids are gathered for the whole unit of work and enqueued just before it commits, so a
    delivery batch whose handlers notify one person each (a hundred enrollments) makes one
    mail job of a hundred mails, not a hundred jobs of one. Rolled back: nothing is enqueued.
    """
    info = ctx.session.info
    pending = info.get(_PENDING)
    if pending is None:
        pending = info[_PENDING] = []
        event.listen(ctx.session, "before_commit", _flush_pending(ctx), once=True)
        event.listen(ctx.session, "after_rollback", _forget_pending, once=True)
    pending.extend(notification_ids)


def _flush_pending(ctx: Context) -> Any:
    def before_commit(session: Session) -> None:
        ids = sorted(set(session.info.pop(_PENDING, [])))
        for start in range(0, len(ids), MAIL_BATCH):
            chunk = ids[start : start + MAIL_BATCH]
            ctx.enqueue(MAIL_JOB, MailBatch(ids=chunk), key=f"notifications:{chunk[0]}-{chunk[-1]}")

    return before_commit


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _keep_what_was_sent(ctx: Context, outcome: MailOutcome) -> None:
    """After a failure: commit the ``mailed_at`` of the mails that did go, then fail the job.

    A long job's writes normally commit with it being marked done; these must commit even
    though the job fails, or its retry would send those mails a second time.
    """
    if outcome.error is None:
        return
    if outcome.sent:
        ctx.session.commit()
    raise MailNotSent(
        f"the mail server failed after {len(outcome.sent)} mail(s): "
        f"{type(outcome.error).__name__}: {outcome.error}"
    ) from outcome.error


def _run_mail_batch(ctx: Context, payload: MailBatch, job: JobRun) -> JobResult | None:
    assert ctx.lms is not None
    outcome = send_notification_mails(ctx, ctx.lms.config, payload.ids)
    _keep_what_was_sent(ctx, outcome)
    return None


def _run_digest(ctx: Context, payload: Digest, job: JobRun) -> JobResult | None:
    assert ctx.lms is not None
    outcome = send_digests(ctx, ctx.lms.config, payload.day.date())
    _keep_what_was_sent(ctx, outcome)
    return JobResult(message=f"Sent {len(outcome.sent)} notification(s) in digests.")


def _run_send_mail(ctx: Context, payload: SendMail, job: JobRun) -> JobResult | None:
    assert ctx.lms is not None
    config = ctx.lms.config
    send_mail(config.mail, payload.to, payload.subject, payload.text, config.instance_path)
    return None


def _run_reset_mail(ctx: Context, payload: ResetMail, job: JobRun) -> JobResult | None:
    """Look the address up; for an active account, audit the request and mail the link."""
    from lms_core.services.audit import audit
    from lms_core.services.users import find_user
    from lms_core.web.auth import make_reset_token

    assert ctx.lms is not None
    config = ctx.lms.config
    user = find_user(ctx, payload.email)
    if user is None or not user.is_active:
        return None
    link = payload.link.replace("__token__", make_reset_token(user, site_secret(config)))
    # Audited in the job's transaction: only the attempt that sends the mail commits it.
    ctx.address = payload.address
    audit(ctx, "auth.reset_requested", user)
    send_mail(
        config.mail,
        user.email,
        f"Reset your {config.site_name} password",
        f"Hello {user.display_name},\n\nTo choose a new password, open this link within an hour:"
        f"\n\n{link}\n\nIf you did not ask for this, ignore this message; your password stays "
        "as it is.\n",
        config.instance_path,
    )
    return None


#: The core's mail jobs, registered by :mod:`lms_core.default_notifications`. Long: talking
#: to a mail server takes a while, and each commits alone.
JOB_TYPES = [
    JobType(
        name=MAIL_JOB,
        payload=MailBatch,
        run=_run_mail_batch,
        long=True,
        title="Send notification mails",
    ),
    JobType(
        name=DIGEST_JOB,
        payload=Digest,
        run=_run_digest,
        long=True,
        title="Send the daily notification digests",
    ),
    JobType(
        name=SEND_MAIL_JOB, payload=SendMail, run=_run_send_mail, long=True, title="Send a mail"
    ),
    JobType(
        name=RESET_MAIL_JOB,
        payload=ResetMail,
        run=_run_reset_mail,
        long=True,
        title="Send a password-reset link",
    ),
]


@define
class MailOutcome:
    """What one batch did: the notifications mailed, and the error that stopped it, if any."""

    sent: list[int] = field(factory=list)
    error: BaseException | None = None


def render_notification(
    config: Config,
    secret: str,
    notification: Notification,
    email: str,
    name: str,
    kind_title: str,
) -> Message:
    """The multipart (text + HTML) mail of one notification, with its unsubscribe headers."""
    unsubscribe = _url(
        config,
        "/unsubscribe/" + make_unsubscribe_token(secret, notification.user_id, notification.kind),
    )
    values = {
        "name": name,
        "subject": notification.subject,
        "text": notification.text,
        "url": _url(config, notification.link),
        "site_name": config.site_name,
        "kind_title": kind_title,
        "unsubscribe_url": unsubscribe,
        "preferences_url": _url(config, "/notifications/preferences"),
    }
    message = _message(config, email, notification.subject, values, "email")
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _header(value: str) -> Any:
    """A header value on one line (no CR/LF can sneak another header in), encoded if need be
    (a :class:`~email.header.Header`, which ``Message`` takes for a ``str``)."""
    value = " ".join(value.split())
    return value if value.isascii() else Header(value, "utf-8")


def _message(
    config: Config, to: str, subject: str, values: dict[str, Any], template: str
) -> Message:
    # The legacy (compat32) classes: email.message.EmailMessage parses and refolds every header
    # and cost ~2.5 ms a mail, most of a batch's time.
    message = MIMEMultipart("alternative")
    message["From"] = _header(config.mail.sender)
    message["To"] = _header(to)
    message["Subject"] = _header(subject)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.mail.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.attach(
        MIMEText(_env().get_template(f"{template}.txt").render(values), "plain", "utf-8")
    )
    message.attach(
        MIMEText(_env().get_template(f"{template}.html").render(values), "html", "utf-8")
    )
    return message


def _send(config: Config, messages: Iterable[tuple[list[int], Message]]) -> MailOutcome:
    outcome = MailOutcome()
    todo = list(messages)
    if not todo:
        return outcome
    try:
        with smtp_connection(config.mail, config.instance_path) as smtp:
            for ids, message in todo:
                smtp.sendmail(
                    config.mail.sender, [str(message["To"])], message.as_bytes(policy=_WIRE)
                )
                outcome.sent.extend(ids)
    except Exception as exc:  # reported to the job, which fails and is retried
        outcome.error = exc
        log.error(
            "mail server %s:%s: %s: %s (%d of %d mails sent)",
            config.mail.host,
            config.mail.port,
            type(exc).__name__,
            exc,
            len(outcome.sent),
            len(todo),
        )
    return outcome


def _stamp(session: Session, ids: list[int]) -> None:
    if ids:
        session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(mailed_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def send_notification_mails(
    ctx: Context, config: Config, notification_ids: list[int], *, secret: str | None = None
) -> MailOutcome:
    """Mail the email notifications among ``notification_ids`` not mailed yet.

    One query loads them with their recipients; the mails go over one connection; the ones
    sent are stamped ``mailed_at`` (one statement) through ``ctx.session``, so a retry after
    a failure sends only what was not sent.
    """
    secret = secret or site_secret(config)
    titles = {
        name: kind.title
        for name, kind in ctx.hooks.notification_kinds(include_disabled=True).items()
    }
    rows = ctx.session.execute(
        select(Notification, User.email, User.name)
        .join(User, User.id == Notification.user_id)
        .where(
            Notification.id.in_(notification_ids),
            Notification.channel == "email",
            Notification.mailed_at.is_(None),
            User.is_active.is_(True),
        )
        .order_by(Notification.id)
    ).all()
    messages = [
        (
            [n.id],
            render_notification(
                config, secret, n, email, name or email, titles.get(n.kind, n.kind)
            ),
        )
        for n, email, name in rows
    ]
    outcome = _send(config, messages)
    _stamp(ctx.session, outcome.sent)
    return outcome


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def send_digests(ctx: Context, config: Config, day: dt.date) -> MailOutcome:
    """One mail per person folding their digest notifications made up to the end of ``day``
    (UTC) that no digest has held yet. One query loads them all."""
    _start, end = _day_bounds(day)
    rows = ctx.session.execute(
        select(Notification, User.email, User.name)
        .join(User, User.id == Notification.user_id)
        .where(
            Notification.channel == "digest",
            Notification.mailed_at.is_(None),
            Notification.created_at < end,
            User.is_active.is_(True),
        )
        .order_by(Notification.user_id, Notification.created_at, Notification.id)
    ).all()
    people: dict[int, tuple[str, str, list[Notification]]] = {}
    for n, email, name in rows:
        people.setdefault(n.user_id, (email, name or email, []))[2].append(n)
    messages = []
    for email, name, items in people.values():
        subject = (
            f"Your {config.site_name} digest for {day:%d %B %Y}: {len(items)} notification"
            + ("s" if len(items) != 1 else "")
        )
        values = {
            "name": name,
            "subject": subject,
            "day": f"{day:%d %B %Y}",
            "site_name": config.site_name,
            "items": [
                {"subject": n.subject, "text": n.text, "url": _url(config, n.link)} for n in items
            ],
            "preferences_url": _url(config, "/notifications/preferences"),
        }
        messages.append(([n.id for n in items], _message(config, email, subject, values, "digest")))
    outcome = _send(config, messages)
    _stamp(ctx.session, outcome.sent)
    return outcome
