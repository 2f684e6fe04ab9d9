"""Privacy hooks: every plugin that stores personal data exports and erases it.

A plugin whose :class:`~lms_core.contributions.PluginInfo` says ``personal_data=True`` (or
whose tables reference ``users``) must implement both, or it is refused when loaded.
``lms users export EMAIL`` and ``lms users erase EMAIL`` call them for every installed
plugin, enabled or not, so nothing is missed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from lms_core.hooks.markers import hookspec

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.models import User


@hookspec
def lms_privacy_export(ctx: Context, user: User) -> dict[str, Any] | None:
    """Called when a user's data is exported.

    :param ctx: read access through ``ctx.session``.
    :param user: whose data.
    :returns: a JSON-serialisable dict of everything the plugin holds about the user, or None
        when it holds nothing. The export puts it under the plugin's name:
        ``export["plugins"]["badges"]`` is what the badges plugin returned (plugins that
        return None are left out).

    .. versionadded:: 0.1
    """


@hookspec
def lms_privacy_erase(ctx: Context, user: User) -> None:
    """Called when a user's data is erased, inside the erasure's transaction.

    Delete or anonymise every row about ``user``; keep aggregate facts that identify nobody.
    Raising aborts the whole erasure (nothing is half-erased).

    :param ctx: write access through ``ctx.session``.
    :param user: whose data.
    :returns: nothing.

    .. versionadded:: 0.1
    """
