"""Fixtures for the badges plugin's tests: a site with badges (and a forum stub) switched on."""

from __future__ import annotations

from typing import Any

import pytest

from lms_core.services import enrollments
from lms_core.services import progress
from lms_core.services import roles
from lms_core.testing import Factory

BADGES = "plugins.badges.hooks"
FORUM = "sample_plugins.forumstub"


class Helpers:
    """Things most badge tests do: make people and courses, complete lessons and courses."""

    def __init__(self, site: Any) -> None:
        self.site = site
        self.make = Factory(site)

    def course(self, code: str | None = None, **kwargs: Any) -> Any:
        return self.make.course(code, **kwargs)

    def user(self, **kwargs: Any) -> Any:
        return self.make.user(**kwargs)

    def admin(self) -> Any:
        return self.make.admin()

    def instructor(self, course: Any) -> Any:
        user = self.make.user()
        with self.site.transaction(system=True) as ctx:
            roles.assign_role(ctx, ctx.attach(user), "instructor", ctx.attach(course))
        return user

    def enroll(self, user: Any, course: Any) -> Any:
        with self.site.transaction(system=True) as ctx:
            return enrollments.enroll(ctx, ctx.attach(user), ctx.attach(course))

    def complete_lesson(self, user: Any, course: Any, index: int = 0) -> None:
        with self.site.transaction(system=True) as ctx:
            course = ctx.attach(course)
            enrollment = enrollments.find_enrollment(ctx, ctx.attach(user), course)
            if enrollment is None:
                enrollment = enrollments.enroll(ctx, ctx.attach(user), course)
            progress.complete_lesson(ctx, enrollment, course.lessons[index])

    def complete(self, user: Any, course: Any) -> Any:
        """Enroll (if needed) and complete every lesson: the course completes."""
        with self.site.transaction(system=True) as ctx:
            course = ctx.attach(course)
            enrollment = enrollments.find_enrollment(ctx, ctx.attach(user), course)
            if enrollment is None:
                enrollment = enrollments.enroll(ctx, ctx.attach(user), course)
            for lesson in course.lessons:
                progress.complete_lesson(ctx, enrollment, lesson)
            return enrollment

    def system(self) -> Any:
        return self.site.transaction(system=True)


@pytest.fixture
def site(lms_factory: Any) -> Any:
    """A site with badges and the forum stub loaded, migrated and enabled."""
    return lms_factory([BADGES, FORUM])


@pytest.fixture
def bx(site: Any) -> Helpers:
    return Helpers(site)


def redeliver_everything(site: Any, plugin: str = "badges") -> int:
    """Replay every delivery made to ``plugin`` (as an admin's "redeliver" does); returns
    how many deliveries ran again."""
    from sqlalchemy import select

    from lms_core import outbox
    from lms_core.models import Delivery

    with site.transaction(system=True) as ctx:
        ids = list(ctx.session.scalars(select(Delivery.id).where(Delivery.plugin == plugin)))
        outbox.redeliver(ctx, ids, include_delivered=True)
    total = 0
    while True:
        done = outbox.deliver_due(site, worker="t")
        total += done
        if done == 0:
            return total


@pytest.fixture
def redeliver() -> Any:
    return redeliver_everything
