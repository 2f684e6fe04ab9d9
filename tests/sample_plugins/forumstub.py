"""A stand-in for a forums plugin: it publishes its own event and offers it to badges.

It declares the hook its event is delivered through (in its own hookspecs), registers the
event class, contributes the event type to badges through ``badges_register_event_types``
and publishes posts with ``lms_core.outbox.record`` like any plugin would.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from attrs import field
from attrs import frozen
from attrs.validators import instance_of

from lms_core import hookimpl
from lms_core import hookspec
from lms_core.contributions import PluginInfo
from lms_core.events import Event
from lms_core.events import register_event_type
from lms_core.outbox import record


class Specs:
    """The stub's own hooks."""

    @hookspec
    def forumstub_on_post_created(self, event: Any, ctx: Any) -> None:
        """Called after a forum post was written (event ``forumstub.post.created.v1``)."""


PLUGIN = PluginInfo(name="forumstub", version="1.0", title="Forum (test stub)", hookspecs=(Specs,))


@register_event_type
@frozen(kw_only=True)
class PostCreated(Event):
    """A forum post was written."""

    NAME = "forumstub.post.created.v1"
    HOOK = "forumstub_on_post_created"
    post_id: int = field(validator=instance_of(int))
    user_id: int = field(validator=instance_of(int))
    forum_id: int = field(validator=instance_of(int))
    at: dt.datetime = field(validator=instance_of(dt.datetime))


_posts = iter(range(1, 1_000_000))


def write_post(site: Any, user_id: int, forum_id: int) -> int:
    """Publish a post by ``user_id`` in ``forum_id`` (delivered after the commit)."""
    post_id = next(_posts)
    with site.transaction(system=True) as ctx:
        record(
            ctx,
            PostCreated(
                post_id=post_id, user_id=user_id, forum_id=forum_id, at=dt.datetime.now(dt.UTC)
            ),
        )
    return post_id


@hookimpl(optionalhook=True)  # a hook of badges: harmless when badges is absent
def badges_register_event_types() -> list[Any]:
    from plugins.badges.hookspecs import EventType

    return [
        EventType(
            name=PostCreated.NAME,
            title="Forum post written",
            fields={"user_id": "int", "forum_id": "int"},
        )
    ]
