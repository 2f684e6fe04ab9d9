"""Frozen attrs classes that plugins return from contribution hooks and the core renders."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

from attrs import field
from attrs import frozen
from attrs.validators import in_

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from lms_core.context import Context
    from lms_core.models import Lesson
    from lms_core.models import StoredFile


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _items(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


__all__ = [
    "AdminPage",
    "AuthProvider",
    "FileUse",
    "LessonKind",
    "NavItem",
    "NOTIFICATION_CHANNELS",
    "NotificationKind",
    "Panel",
    "Permission",
    "PluginInfo",
    "ProfileSection",
    "Widget",
]


@frozen(kw_only=True)
class Permission:
    """A named permission, e.g. ``course.edit``.

    ``default_roles`` names the built-in roles (admin, manager, course_creator, instructor,
    learner) that hold it on a new site; admins may change role permissions afterwards. The
    instructor role is given per course only: a permission about one course belongs with it
    and is ``course_scoped``.
    """

    name: str
    title: str
    description: str = ""
    default_roles: tuple[str, ...] = field(default=(), converter=_names)
    #: True when the permission makes sense inside one course (course-scope assignments).
    course_scoped: bool = False


@frozen(kw_only=True)
class LessonKind:
    """A kind of lesson content.

    ``render`` turns a lesson into safe HTML for the lesson page; ``validate`` checks the
    fields an author submitted (raising :class:`~lms_core.errors.Invalid`) and may return
    them normalised.
    """

    name: str
    title: str
    render: Callable[[Lesson], str]
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@frozen(kw_only=True)
class PluginInfo:
    """What a plugin says about itself. Each plugin module (or its package) defines ``PLUGIN``.

    :param name: unique, lower-case; also the prefix of its tables, permissions and URL.
    :param requires: other plugins that must be enabled for this one to be.
    :param core: the core versions it works with, a PEP 440 specifier such as ``">=0.1,<1"``.
    :param settings: an attrs class; its values come from config ``[plugins.settings.<name>]``
        and the admin page, structured and validated by cattrs.
    :param personal_data: True when its tables hold data about users; such a plugin must
        implement ``lms_privacy_export`` and ``lms_privacy_erase`` or it is refused at load.
    :param migrations: folder of its Alembic revisions (branch label = its name), if it has tables.
    :param hookspecs: modules declaring the plugin's own hooks for other plugins.
    """

    name: str
    version: str
    title: str
    description: str = ""
    requires: tuple[str, ...] = field(default=(), converter=_names)
    core: str = ">=0.1"
    settings: type | None = None
    permissions: tuple[Permission, ...] = field(default=(), converter=_items)
    personal_data: bool = False
    migrations: str | None = None
    hookspecs: tuple[Any, ...] = field(default=(), converter=_items)


@frozen(kw_only=True)
class NavItem:
    """A link in the main navigation. Shown when the user holds ``permission`` (None: anyone signed in)."""

    label: str
    endpoint: str
    permission: str | None = None
    order: int = 100
    icon: str | None = None


@frozen(kw_only=True)
class Widget:
    """A dashboard box: ``html`` is rendered as-is, so build it with escaping (Jinja, markupsafe)."""

    title: str
    html: str
    order: int = 100


@frozen(kw_only=True)
class Panel:
    """A box on a course page, same rules as :class:`Widget`."""

    title: str
    html: str
    order: int = 100


@frozen(kw_only=True)
class AdminPage:
    """An entry in the admin area linking to a plugin's own page.

    The admin home lists entries under the ``task`` they serve, by ``order`` (the core's:
    People 10-30, Learning 40-60, Records 70, Site 80-90), with what ``count`` returns beside
    the name: ``count=lambda session: session.scalar(select(func.count()).select_from(Badge))``
    and ``counts="badges"`` show "12 badges". ``count`` runs one cheap query per page view.
    """

    label: str
    endpoint: str
    permission: str
    description: str = ""
    task: str = "More"
    order: int = 100
    count: Callable[[Session], int | None] | None = field(default=None, eq=False)
    counts: str = ""


@frozen(kw_only=True)
class ProfileSection:
    """A section on a user's profile page."""

    title: str
    html: str
    order: int = 100


@frozen(kw_only=True)
class AuthProvider:
    """A way to sign in other than a password (OIDC, SAML ...): a button on the sign-in page."""

    name: str
    label: str
    login_endpoint: str


#: How a person may be told about a kind of notification: not at all, in the site (the bell
#: and the list), by an email each (and in the site), or folded into one daily digest mail
#: (and in the site).
NOTIFICATION_CHANNELS = ("off", "site", "email", "digest")


@frozen(kw_only=True)
class NotificationKind:
    """A kind of notification a plugin sends with :func:`lms_core.services.notifications.notify`.

    ``name`` is ``<plugin>.<kind>`` (``badges.awarded``; the core's own are ``core.*``);
    ``title`` and ``description`` are what people read on their preferences page;
    ``default`` is the channel of everyone who has not chosen one (one of
    :data:`NOTIFICATION_CHANNELS`). An admin may change the default and make a kind
    mandatory (it cannot then be turned off).
    """

    name: str
    title: str
    description: str = ""
    default: str = field(default="site", validator=in_(NOTIFICATION_CHANNELS))


@frozen(kw_only=True)
class FileUse:
    """A purpose a plugin stores files for: certificate PDFs, forum attachments, exports.

    :param name: ``<plugin>.<use>`` (``certs.pdf``), the ``use=`` given to
        :func:`lms_core.services.files.store`.
    :param max_bytes: the largest file accepted (the ``[files] limits`` config may change it).
    :param types: the content types accepted, as sniffed from the bytes (``application/pdf``,
        ``video/mp4``; ``video/*`` for every type under ``video/``).
    :param read_permission: who may download a file: a permission name, checked in the file's
        course when it has one (else site-wide). The file's owner may always download it.
    :param may_read: a further check, ``may_read(ctx, file) -> bool``, for rules a permission
        cannot say (an enrolled learner reads the course's lesson files); a reader passes when
        either this or ``read_permission`` lets them.
    """

    name: str
    title: str
    max_bytes: int
    types: tuple[str, ...] = field(converter=_names)
    read_permission: str | None = None
    may_read: Callable[[Context, StoredFile], bool] | None = field(default=None, eq=False)
