"""The core's blueprints, in the order they are registered."""

from __future__ import annotations

from lms_core.api import bp as api_bp
from lms_core.web.admin import bp as admin_bp
from lms_core.web.files import bp as files_bp
from lms_core.web.learner import bp as learner_bp
from lms_core.web.teach import bp as teach_bp
from lms_core.web.team import bp as team_bp
from lms_core.web.tokens import bp as tokens_bp

BLUEPRINTS = (learner_bp, teach_bp, admin_bp, tokens_bp, api_bp, team_bp, files_bp)
