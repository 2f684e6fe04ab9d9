"""Notifications: the one service plugins call to tell people something.

A plugin declares its kinds (``lms_register_notification_kinds``) and calls :func:`notify`
inside a unit of work. Each recipient's channel for the kind decides what happens:

* ``off``: nothing;
* ``site``: a row that shows under the bell in the header and on ``/notifications/``;
* ``email``: the row, and an email of its own, sent by a job after the commit;
* ``digest``: the row, folded with the day's others into one daily mail.

A person's channel is their preference for the kind, else the admin's default for it, else
the default the plugin declared. An admin may make a kind mandatory: it cannot be turned off
(an ``off`` chosen before counts as the kind's default). Kinds of disabled plugins do nothing.

Everything here costs a fixed number of statements whatever the number of recipients: their
preferences are read in one query and the rows written in one bulk insert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from attrs import frozen
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Table
from sqlalchemy import and_
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from lms_core.context import Context
from lms_core.contributions import NOTIFICATION_CHANNELS
from lms_core.contributions import NotificationKind
from lms_core.db import utcnow
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.limits import excerpt
from lms_core.limits import text_problem
from lms_core.models import Notification
from lms_core.models import NotificationKindSetting
from lms_core.models import NotificationPreference
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.permissions import require

__all__ = [
    "CHANNELS",
    "CHANNEL_LABELS",
    "KindRule",
    "Preference",
    "SUBJECT_LIMIT",
    "TEXT_LIMIT",
    "LINK_LIMIT",
    "UNSUBSCRIBE_MAX_AGE",
    "kinds",
    "rules",
    "Message",
    "notify",
    "notify_each",
    "preferences",
    "set_preferences",
    "set_kind_rule",
    "unread_count",
    "list_notifications",
    "get_notification",
    "mark_read",
    "mark_all_read",
    "make_unsubscribe_token",
    "read_unsubscribe_token",
    "unsubscribe",
    "export_notifications",
    "erase_notifications",
]

CHANNELS = NOTIFICATION_CHANNELS
CHANNEL_LABELS = {
    "off": "Off",
    "site": "In the site",
    "email": "Email",
    "digest": "Daily digest",
}
SUBJECT_LIMIT = 200
TEXT_LIMIT = 2_000
LINK_LIMIT = 500
#: Recipients whose preferences one query reads (a bound parameter each; SQLite allows 32,766).
RECIPIENT_CHUNK = 10_000
#: How long an unsubscribe link from a mail keeps working.
UNSUBSCRIBE_MAX_AGE = 365 * 24 * 60 * 60
_UNSUBSCRIBE_SALT = "lms-notifications-unsubscribe"


@frozen(kw_only=True)
class KindRule:
    """A kind as it applies on this site: the plugin's declaration and the admin's rule."""

    kind: NotificationKind
    default: str
    mandatory: bool

    @property
    def name(self) -> str:
        return self.kind.name

    def channel(self, chosen: str | None) -> str:
        """The channel of someone who chose ``chosen`` (None: nothing)."""
        channel = chosen if chosen in CHANNELS else self.default
        if self.mandatory and channel == "off":
            return self.default if self.default != "off" else "site"
        return channel


@frozen(kw_only=True)
class Preference:
    """One row of a person's preferences page."""

    rule: KindRule
    chosen: str | None

    @property
    def channel(self) -> str:
        return self.rule.channel(self.chosen)


def kinds(ctx: Context) -> dict[str, NotificationKind]:
    """The kinds of enabled plugins (and the core's), by name."""
    return ctx.hooks.notification_kinds()


def _rule(kind: NotificationKind, setting: NotificationKindSetting | None) -> KindRule:
    default = kind.default
    if setting is not None and setting.default_channel in CHANNELS:
        default = setting.default_channel
    mandatory = bool(setting.mandatory) if setting is not None else False
    return KindRule(kind=kind, default=default, mandatory=mandatory)


def rules(ctx: Context) -> list[KindRule]:
    """Every enabled kind with the admin's rule for it, by title (one query)."""
    declared = kinds(ctx)
    settings = {
        s.kind: s
        for s in ctx.session.scalars(
            select(NotificationKindSetting).where(NotificationKindSetting.kind.in_(list(declared)))
        )
    }
    out = [_rule(kind, settings.get(name)) for name, kind in declared.items()]
    return sorted(out, key=lambda r: (r.kind.title.casefold(), r.name))


def _clean(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise Invalid(f"A notification's {field} must be text.", field=field)
    problem = text_problem(value)
    if problem is not None:
        raise Invalid(f"A notification's {field} is not valid text: {problem}.", field=field)
    value = value.strip()
    # What plugins say is built from course titles and the like: cut, never refused.
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _ids(recipients: Iterable[User | int]) -> list[int]:
    ids: dict[int, None] = {}
    for item in recipients:
        uid = item.id if isinstance(item, User) else item
        if not isinstance(uid, int) or isinstance(uid, bool):
            raise Invalid(f"{excerpt(item)} is not a user or a user id.", field="recipients")
        ids[uid] = None
    return list(ids)


@frozen(kw_only=True)
class Message:
    """What one person is told, for :func:`notify_each` (``link`` a path on this site)."""

    user_id: int
    subject: str
    text: str
    link: str | None = None


def _check_link(link: Any) -> str | None:
    if link is None:
        return None
    from lms_core.web.redirects import safe_next

    if not isinstance(link, str) or safe_next(link) is None or len(link) > LINK_LIMIT:
        raise Invalid(
            f"A notification links to a path on this site, not {excerpt(link)}.", field="link"
        )
    return link.strip()


def notify(
    ctx: Context,
    kind: str,
    recipients: Iterable[User | int],
    subject: str,
    text: str,
    link: str | None = None,
    *,
    at: dt.datetime | None = None,
) -> list[int]:
    """Tell ``recipients`` (users or user ids) something of kind ``kind``.

    Inside the caller's unit of work: the rows (and the mail jobs) exist iff it commits.
    People who chose ``off``, deactivated accounts and unknown ids get nothing; a kind of a
    disabled plugin does nothing. ``link`` is a path on this site (``/courses/12``).

    ``at`` dates it by when its fact happened (an event's ``occurred_at``; default now). Something
    that happened more than :data:`STALE` ago (history imported or replayed) is told in the site
    only: nobody wants mail today about an enrollment of last spring.

    :returns: the ids of the notifications written.
    :raises Invalid: for a kind no installed plugin declares, or a link to another site.
    """
    subject = _clean("subject", subject, SUBJECT_LIMIT)
    text = _clean("text", text, TEXT_LIMIT)
    link = _check_link(link)
    messages = [
        Message(user_id=uid, subject=subject, text=text, link=link) for uid in _ids(recipients)
    ]
    return _write(ctx, kind, messages, at=at)


def notify_each(ctx: Context, kind: str, messages: Iterable[Message]) -> list[int]:
    """Like :func:`notify`, with something different for each person (a digest of their
    own): still one query for everyone's preferences and one bulk insert."""
    checked = [
        Message(
            user_id=_ids([m.user_id])[0],
            subject=_clean("subject", m.subject, SUBJECT_LIMIT),
            text=_clean("text", m.text, TEXT_LIMIT),
            link=_check_link(m.link),
        )
        for m in messages
    ]
    return _write(ctx, kind, checked)


#: Facts older than this are told in the site only, never by mail (see :func:`notify`).
STALE = dt.timedelta(days=2)


def _write(
    ctx: Context, kind: str, messages: list[Message], *, at: dt.datetime | None = None
) -> list[int]:
    rule_kind = kinds(ctx).get(kind)
    if rule_kind is None:
        if kind in ctx.hooks.notification_kinds(include_disabled=True):
            return []  # its plugin is off
        raise Invalid(f"There is no notification kind {excerpt(kind)}.", field="kind")
    if not messages:
        return []
    rule = _rule(rule_kind, ctx.session.get(NotificationKindSetting, kind))
    ids = list(dict.fromkeys(m.user_id for m in messages))
    channels: dict[int, str] = {}
    for start in range(0, len(ids), RECIPIENT_CHUNK):
        chunk = ids[start : start + RECIPIENT_CHUNK]
        found = ctx.session.execute(
            select(User.id, NotificationPreference.channel)
            .outerjoin(
                NotificationPreference,
                and_(
                    NotificationPreference.user_id == User.id,
                    NotificationPreference.kind == kind,
                ),
            )
            .where(User.id.in_(chunk), User.is_active.is_(True))
        ).all()
        channels.update((uid, rule.channel(chosen)) for uid, chosen in found)
    now = utcnow()
    when = min(at, now) if at is not None else now
    if now - when > STALE:  # history: in the site, dated when it happened, not mailed
        channels = {uid: ("site" if c in ("email", "digest") else c) for uid, c in channels.items()}
    rows = [
        {
            "user_id": m.user_id,
            "kind": kind,
            "channel": channels[m.user_id],
            "subject": m.subject,
            "text": m.text,
            "link": m.link,
            "created_at": when,
            "read_at": None,
            "mailed_at": None,
        }
        for m in messages
        if channels.get(m.user_id, "off") != "off"
    ]
    if not rows:
        return []
    table: Table = Notification.__table__  # type: ignore[assignment]
    written = ctx.session.execute(
        table.insert().returning(table.c.id, table.c.channel).execution_options(render_nulls=True),
        rows,
    ).all()
    _after_notify(ctx, [nid for nid, channel in written if channel == "email"])
    return [nid for nid, _channel in written]


def _after_notify(ctx: Context, email_ids: list[int]) -> None:
    """Hand the new email notifications to the mail jobs (see :mod:`lms_core.notification_mail`)."""
    if not email_ids:
        return
    from lms_core import notification_mail

    notification_mail.enqueue_mails(ctx, email_ids)


# -- preferences -----------------------------------------------------------------------------


def _is_self(ctx: Context, user: User) -> bool:
    return ctx.actor is not None and ctx.actor.id == user.id


def preferences(ctx: Context, user: User) -> list[Preference]:
    """``user``'s channel for every enabled kind (two queries)."""
    if not _is_self(ctx, user) and not ctx.system:
        require(ctx, "user.manage", to="see other people's notification preferences")
    chosen = dict(
        ctx.session.execute(
            select(NotificationPreference.kind, NotificationPreference.channel).where(
                NotificationPreference.user_id == user.id
            )
        ).all()
    )
    return [Preference(rule=rule, chosen=chosen.get(rule.name)) for rule in rules(ctx)]


def _set_channel(ctx: Context, user_id: int, kind: str, channel: str) -> None:
    row = ctx.session.scalars(
        select(NotificationPreference).where(
            NotificationPreference.user_id == user_id, NotificationPreference.kind == kind
        )
    ).first()
    if row is None:
        ctx.session.add(
            NotificationPreference(user_id=user_id, kind=kind, channel=channel, updated_at=utcnow())
        )
    else:
        row.channel = channel
        row.updated_at = utcnow()
    ctx.session.flush()


def set_preferences(ctx: Context, user: User, choices: Mapping[str, str]) -> list[str]:
    """Set ``user``'s channel per kind (themselves only). Returns the kinds that changed.

    :raises Invalid: for an unknown kind or channel, or ``off`` for a mandatory kind (naming
        the kind as the field).
    """
    user = ctx.attach(user)
    if not _is_self(ctx, user) and not ctx.system:
        raise Forbidden("Only you can choose how you are told about things.")
    current = {p.rule.name: p for p in preferences(ctx, user)}
    changed = []
    for kind, channel in choices.items():
        pref = current.get(kind)
        if pref is None:
            raise Invalid(f"There is no notification kind {excerpt(kind)}.", field=kind)
        if channel not in CHANNELS:
            raise Invalid(
                f"Choose one of {', '.join(CHANNEL_LABELS.values())} for {pref.rule.kind.title}.",
                field=kind,
            )
        if channel == "off" and pref.rule.mandatory:
            raise Invalid(
                f"{pref.rule.kind.title} is required on this site; it cannot be turned off.",
                field=kind,
            )
        if channel != pref.chosen and not (pref.chosen is None and channel == pref.rule.default):
            _set_channel(ctx, user.id, kind, channel)
            changed.append(kind)
    if changed:
        audit(ctx, "notifications.preferences", user, kinds=changed)
    return changed


def set_kind_rule(ctx: Context, kind: str, *, default: str, mandatory: bool) -> KindRule:
    """An admin's default channel for ``kind`` and whether it is mandatory (``site.configure``)."""
    require(ctx, "site.configure", to="change notification defaults")
    declared = kinds(ctx).get(kind)
    if declared is None:
        raise NotFound(f"There is no notification kind {excerpt(kind)}.")
    if default not in CHANNELS:
        raise Invalid(f"Choose a default channel for {declared.title}.", field=kind)
    if mandatory and default == "off":
        raise Invalid(
            f"{declared.title} cannot be mandatory and off by default; choose another default.",
            field=kind,
        )
    setting = ctx.session.get(NotificationKindSetting, kind)
    if setting is None:
        setting = NotificationKindSetting(kind=kind, updated_at=utcnow())
        ctx.session.add(setting)
    before = (setting.default_channel or declared.default, bool(setting.mandatory))
    setting.default_channel = None if default == declared.default else default
    setting.mandatory = mandatory
    setting.updated_at = utcnow()
    ctx.session.flush()
    if before != (default, mandatory):
        audit(ctx, "notifications.kind_rule", None, kind=kind, default=default, mandatory=mandatory)
    return _rule(declared, setting)


# -- the bell and the list -------------------------------------------------------------------


def unread_count(session: Session, user_id: int) -> int:
    """Unread notifications of one person: one query on the (user_id, read_at) index."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def list_notifications(
    ctx: Context, user: User, *, page: int = 1, size: int = 25
) -> tuple[list[Notification], int]:
    """``user``'s notifications, newest first, one page of them, and how many there are."""
    if not _is_self(ctx, user) and not ctx.system:
        raise Forbidden("These are someone else's notifications.")
    where = Notification.user_id == user.id
    total = ctx.session.scalar(select(func.count()).select_from(Notification).where(where)) or 0
    rows = ctx.session.scalars(
        select(Notification)
        .where(where)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    return list(rows), total


def get_notification(ctx: Context, notification_id: int) -> Notification:
    """One of the actor's own notifications (someone else's is not found)."""
    row = ctx.session.get(Notification, notification_id)
    if row is None or ctx.actor is None or row.user_id != ctx.actor.id:
        raise NotFound("There is no such notification.")
    return row


def mark_read(ctx: Context, notification_id: int) -> Notification:
    row = get_notification(ctx, notification_id)
    if row.read_at is None:
        row.read_at = utcnow()
    return row


def mark_all_read(ctx: Context) -> int:
    """Mark every unread notification of the actor read; returns how many."""
    if ctx.actor is None:
        raise Forbidden("Sign in first.")
    result = ctx.session.execute(
        update(Notification)
        .where(Notification.user_id == ctx.actor.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- unsubscribing from a mail ---------------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=_UNSUBSCRIBE_SALT)


def make_unsubscribe_token(secret_key: str, user_id: int, kind: str) -> str:
    """A signed token naming one person and one kind, for the link in a mail."""
    return _serializer(secret_key).dumps({"u": user_id, "k": kind})


def read_unsubscribe_token(secret_key: str, token: str) -> tuple[int, str]:
    """The (user id, kind) a token names. Raises :class:`Invalid` if it was tampered with or
    is older than :data:`UNSUBSCRIBE_MAX_AGE`."""
    try:
        data = _serializer(secret_key).loads(token, max_age=UNSUBSCRIBE_MAX_AGE)
    except SignatureExpired:
        raise Invalid("That unsubscribe link has expired.", field="token") from None
    except BadSignature:
        raise Invalid("That unsubscribe link is not valid.", field="token") from None
    if not (
        isinstance(data, dict) and isinstance(data.get("u"), int) and isinstance(data.get("k"), str)
    ):
        raise Invalid("That unsubscribe link is not valid.", field="token")
    return data["u"], data["k"]


def unsubscribe(ctx: Context, user_id: int, kind: str) -> KindRule:
    """Stop mail of ``kind`` to one person (the link in the mail, no sign-in needed).

    Their notifications of that kind still appear in the site (``site``), so a mandatory kind
    can be unsubscribed from too. Only that person's preference for that kind changes.
    """
    user = ctx.session.get(User, user_id)
    declared = ctx.hooks.notification_kinds(include_disabled=True).get(kind)
    if user is None or declared is None:
        raise NotFound("That unsubscribe link names nobody or nothing on this site.")
    setting = ctx.session.get(NotificationKindSetting, kind)
    _set_channel(ctx, user.id, kind, "site")
    audit(ctx, "notifications.unsubscribe", user, kind=kind)
    return _rule(declared, setting)


# -- privacy ---------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_notifications(session: Session, user_id: int) -> dict[str, Any]:
    """A person's notifications and preferences, for their data export."""
    return {
        "notifications": [
            {
                "kind": n.kind,
                "channel": n.channel,
                "subject": n.subject,
                "text": n.text,
                "link": n.link,
                "created_at": _iso(n.created_at),
                "read_at": _iso(n.read_at),
                "mailed_at": _iso(n.mailed_at),
            }
            for n in session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id)
                .order_by(Notification.created_at, Notification.id)
            )
        ],
        "preferences": {
            kind: channel
            for kind, channel in session.execute(
                select(NotificationPreference.kind, NotificationPreference.channel)
                .where(NotificationPreference.user_id == user_id)
                .order_by(NotificationPreference.kind)
            )
        },
    }


def erase_notifications(session: Session, user_id: int) -> None:
    session.execute(delete(Notification).where(Notification.user_id == user_id))
    session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
