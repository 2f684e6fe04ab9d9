"""The core's blueprints, in the order they are registered."""

from __future__ import annotations

from lms_core.api import bp as api_bp
from lms_core.web.admin import bp as admin_bp
from lms_core.web.files import bp as files_bp
from lms_core.web.jobs import bp as jobs_bp
from lms_core.web.learner import bp as learner_bp
from lms_core.web.notifications import admin_bp as notifications_admin_bp
from lms_core.web.notifications import bp as notifications_bp
from lms_core.web.notifications import unsubscribe_bp
from lms_core.web.teach import bp as teach_bp
from lms_core.web.team import bp as team_bp
from lms_core.web.tokens import bp as tokens_bp

BLUEPRINTS = (
    learner_bp,
    teach_bp,
    admin_bp,
    tokens_bp,
    api_bp,
    team_bp,
    jobs_bp,
    notifications_bp,
    notifications_admin_bp,
    unsubscribe_bp,
    files_bp,
)
