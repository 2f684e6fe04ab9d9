"""The core's models, one module per aggregate, all on the shared :class:`~lms_core.db.Base`."""

from __future__ import annotations

from lms_core.models.audit import AuditEntry
from lms_core.models.courses import Course
from lms_core.models.courses import CourseStatus
from lms_core.models.courses import CourseTag
from lms_core.models.courses import EnrollmentPolicy
from lms_core.models.courses import Lesson
from lms_core.models.enrollments import Enrollment
from lms_core.models.enrollments import EnrollmentSource
from lms_core.models.enrollments import EnrollmentStatus
from lms_core.models.enrollments import LessonProgress
from lms_core.models.files import StoredFile
from lms_core.models.groups import Group
from lms_core.models.groups import GroupCourse
from lms_core.models.groups import GroupKind
from lms_core.models.groups import GroupMember
from lms_core.models.groups import MembershipSource
from lms_core.models.notifications import Notification
from lms_core.models.notifications import NotificationKindSetting
from lms_core.models.notifications import NotificationPreference
from lms_core.models.outbox import Delivery
from lms_core.models.outbox import DeliveryStatus
from lms_core.models.outbox import OutboxEvent
from lms_core.models.plugin_state import PluginState
from lms_core.models.plugin_state import PluginStateVersion
from lms_core.models.ratelimits import RateLimitCounter
from lms_core.models.roles import ALL_PERMISSIONS
from lms_core.models.roles import KnownPermission
from lms_core.models.roles import Role
from lms_core.models.roles import RoleAssignment
from lms_core.models.roles import RolePermission
from lms_core.models.schedules import ScheduleState
from lms_core.models.sessions import EndedSession
from lms_core.models.tokens import ApiToken
from lms_core.models.users import PROFILE_ATTRIBUTES
from lms_core.models.users import User

__all__ = [
    "ALL_PERMISSIONS",
    "ApiToken",
    "AuditEntry",
    "Course",
    "CourseStatus",
    "CourseTag",
    "Delivery",
    "DeliveryStatus",
    "EndedSession",
    "Enrollment",
    "EnrollmentPolicy",
    "EnrollmentSource",
    "EnrollmentStatus",
    "Group",
    "KnownPermission",
    "GroupCourse",
    "GroupKind",
    "GroupMember",
    "Lesson",
    "LessonProgress",
    "MembershipSource",
    "Notification",
    "NotificationKindSetting",
    "NotificationPreference",
    "OutboxEvent",
    "PROFILE_ATTRIBUTES",
    "PluginState",
    "PluginStateVersion",
    "RateLimitCounter",
    "Role",
    "ScheduleState",
    "RoleAssignment",
    "RolePermission",
    "StoredFile",
    "User",
]
