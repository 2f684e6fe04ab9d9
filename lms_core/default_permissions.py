"""The core's own permissions, contributed through the same hook plugins use."""

from __future__ import annotations

from lms_core.contributions import Permission
from lms_core.hooks.markers import hookimpl

ADMIN = "admin"
MANAGER = "manager"
COURSE_CREATOR = "course_creator"
INSTRUCTOR = "instructor"
LEARNER = "learner"

#: Either one opens the Teach area (``/teach/``, its nav item): creating courses (site-wide),
#: or editing one (held in that course by its instructors).
TEACHING = ("course.create", "course.edit")

CORE_PERMISSIONS = [
    Permission(
        name="user.view", title="See user accounts and profiles", default_roles=(ADMIN, MANAGER)
    ),
    Permission(
        name="user.manage",
        title="Create, edit, import and deactivate users",
        default_roles=(ADMIN,),
    ),
    Permission(
        name="group.manage",
        title="Create groups and manage their members and rules",
        default_roles=(ADMIN, MANAGER),
    ),
    Permission(name="role.manage", title="Define roles and assign them", default_roles=(ADMIN,)),
    Permission(
        name="course.create",
        title="Create courses",
        description="Held site-wide by course creators; whoever creates a course becomes its "
        "instructor (in that course only).",
        default_roles=(ADMIN, COURSE_CREATOR),
    ),
    Permission(
        name="course.edit",
        title="Edit a course and its lessons",
        description="Held at course scope by the course's instructors.",
        default_roles=(ADMIN, INSTRUCTOR),
        course_scoped=True,
    ),
    Permission(
        name="course.publish",
        title="Publish and archive courses",
        default_roles=(ADMIN, INSTRUCTOR),
        course_scoped=True,
    ),
    Permission(
        name="course.view_unpublished",
        title="See draft and archived courses",
        default_roles=(ADMIN, MANAGER, INSTRUCTOR),
        course_scoped=True,
    ),
    Permission(
        name="enrollment.manage",
        title="Enroll and withdraw other people, approve enrollment requests",
        default_roles=(ADMIN, MANAGER, INSTRUCTOR),
        course_scoped=True,
    ),
    Permission(
        name="enrollment.self",
        title="Enroll yourself in courses open to you",
        default_roles=(ADMIN, MANAGER, INSTRUCTOR, LEARNER),
    ),
    Permission(
        name="progress.view",
        title="See other people's progress",
        default_roles=(ADMIN, MANAGER, INSTRUCTOR),
        course_scoped=True,
    ),
    Permission(name="audit.view", title="Read the audit log", default_roles=(ADMIN,)),
    Permission(
        name="plugin.manage", title="Enable, disable and configure plugins", default_roles=(ADMIN,)
    ),
    Permission(name="site.configure", title="Change site settings", default_roles=(ADMIN,)),
]


@hookimpl
def lms_register_permissions() -> list[Permission]:
    return CORE_PERMISSIONS
