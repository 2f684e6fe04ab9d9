"""A plugin with one page for signed-in users and a menu item for it (browser tests)."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template

from lms_core import hookimpl
from lms_core.contributions import NavItem
from lms_core.contributions import PluginInfo
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import requires

PLUGIN = PluginInfo(name="navplugin", version="1.0", title="Nav plugin")

bp = Blueprint("navplugin", __name__, url_prefix="/navplugin")


@bp.route("/")
@requires(SIGNED_IN)
def index():
    return render_template(
        "error.html", code=200, title="Nav plugin", text="A page from the nav plugin."
    )


@hookimpl
def lms_register_blueprints():
    return [bp]


@hookimpl
def lms_nav_items(user):
    return [NavItem(label="Nav plugin page", endpoint="navplugin.index")]
