"""Contribution hooks (``lms_register_*``): what a plugin adds to the site.

Each returns a list of frozen objects from :mod:`lms_core.contributions`; the core collects
the lists of every enabled plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lms_core.hooks.markers import hookspec

if TYPE_CHECKING:
    import click
    from flask import Blueprint

    from lms_core.contributions import FileUse
    from lms_core.contributions import LessonKind
    from lms_core.contributions import Permission


@hookspec
def lms_register_permissions() -> list[Permission]:
    """Called when the permission registry is built (start-up and plugin toggles).

    :returns: the :class:`~lms_core.contributions.Permission` objects this plugin declares.
        Names are dotted and start with the plugin's name (``badges.award``);
        ``default_roles`` lists the built-in roles that get the permission on a new site.

    Example::

        @hookimpl
        def lms_register_permissions():
            return [Permission(name="badges.award", title="Award badges",
                               default_roles=("admin", "instructor"), course_scoped=True)]

    .. versionadded:: 0.1
    """


@hookspec
def lms_register_lesson_kinds() -> list[LessonKind]:
    """Called when lesson kinds are listed (lesson editor, lesson rendering).

    :returns: :class:`~lms_core.contributions.LessonKind` objects: a unique ``name``, a
        ``title`` for the editor, ``render(lesson) -> safe HTML`` and an optional
        ``validate(fields) -> fields``. The core ships ``page`` (Markdown) and ``link``.

    .. versionadded:: 0.1
    """


@hookspec
def lms_register_file_uses() -> list[FileUse]:
    """Called when the file store checks an upload or a download.

    :returns: :class:`~lms_core.contributions.FileUse` objects, one per purpose the plugin
        stores files for, named ``<plugin>.<use>``. Each says how large a file may be, which
        content types (sniffed from the bytes, never taken from the name) it accepts, and who
        may download one. While the plugin is disabled its files answer 404.

    Example::

        @hookimpl
        def lms_register_file_uses():
            return [FileUse(name="certs.pdf", title="certificates", max_bytes=5_000_000,
                            types=("application/pdf",), read_permission="certs.view")]

    .. versionadded:: 0.2
    """


@hookspec
def lms_register_blueprints() -> list[Blueprint]:
    """Called once when the web app is created.

    :returns: Flask blueprints to mount. Name them after the plugin and give them a
        ``url_prefix`` under it (``/badges``); every view must declare its permission with
        :func:`lms_core.web.decorators.requires`. While the plugin is disabled its routes
        answer 404.

    .. versionadded:: 0.1
    """


@hookspec
def lms_register_commands(cli: click.Group) -> None:
    """Called when the ``lms`` command is built, with its root click group.

    :param cli: add sub-commands or groups to it (``@cli.group("badges")``).
    :returns: nothing.

    .. versionadded:: 0.1
    """


@hookspec
def lms_register_models() -> list[type]:
    """Called at load to list the plugin's SQLAlchemy models (on :class:`lms_core.db.Base`).

    Their tables must be named ``<plugin>_*``; the privacy check looks at which of them
    reference ``users``. Schema changes ship as Alembic revisions in ``PluginInfo.migrations``.

    :returns: model classes.

    .. versionadded:: 0.1
    """
