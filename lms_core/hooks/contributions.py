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
    from lms_core.contributions import NotificationKind
    from lms_core.contributions import Permission
    from lms_core.jobs import JobType
    from lms_core.schedules import Schedule


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


@hookspec
def lms_register_jobs() -> list[JobType]:
    """Called when job types are looked up (enqueueing, and each worker batch).

    :returns: :class:`~lms_core.jobs.JobType` objects. Names start with the plugin's name
        (``certs.render_pdf``); the payload is an attrs class; ``run(ctx, payload, job)`` is
        idempotent (``job.key`` is the idempotency key) and may return a
        :class:`~lms_core.jobs.JobResult`. ``long=True`` for work of seconds: it is leased and
        runs in its own transaction. A disabled plugin's jobs wait until it is enabled again.

    Example::

        @frozen
        class Render:
            certificate_id: int

        def render(ctx, payload, job):
            pdf = build_pdf(ctx, payload.certificate_id)
            stored = files.store(ctx, use="certs.pdf", data=pdf, filename="certificate.pdf")
            return JobResult(message="Your certificate is ready", file_id=stored.id)

        @hookimpl
        def lms_register_jobs():
            return [JobType(name="certs.render_pdf", payload=Render, run=render, long=True)]

        # in a service, inside the unit of work that issues the certificate:
        ctx.enqueue("certs.render_pdf", Render(certificate_id=cert.id), requested_by=user.id)

    .. versionadded:: 0.2
    """


@hookspec
def lms_register_schedules() -> list[Schedule]:
    """Called by workers (about every 15 seconds, and when a schedule is due) and by the
    admin's Schedules page.

    :returns: :class:`~lms_core.schedules.Schedule` objects: a ``name`` starting with the
        plugin's name, a five-field ``cron`` expression (six with seconds last), its
        ``timezone`` and the ``job`` to enqueue, with ``payload(tick)`` building its payload
        (default: the payload class with no arguments). Each due tick enqueues the job exactly
        once however many workers run; after downtime, missed ticks run once, not once each.
        A disabled plugin's schedules do not run; an admin may switch one off.

    Example::

        @hookimpl
        def lms_register_schedules():
            return [Schedule(name="forums.digest", cron="0 7 * * *", timezone="Europe/Berlin",
                             job="forums.send_digest", title="Daily forum digest",
                             payload=lambda tick: Digest(day=tick.date().isoformat()))]

    .. versionadded:: 0.2
    """


@hookspec
def lms_register_notification_kinds() -> list[NotificationKind]:
    """Called when the kinds of notification are listed (sending one, preferences pages).

    :returns: :class:`~lms_core.contributions.NotificationKind` objects. Name each
        ``<plugin>.<kind>``; a kind named otherwise is ignored (and logged). While the plugin
        is disabled its kinds are not listed and notifying with them does nothing.

    Example::

        @hookimpl
        def lms_register_notification_kinds():
            return [NotificationKind(name="badges.awarded", title="A badge was awarded to you",
                                     default="email")]

    .. versionadded:: 0.2
    """
