"""Refuses sign-in for accounts in the Contractors department."""

from __future__ import annotations

from lms_core import PluginInfo
from lms_core import Rejected
from lms_core import hookimpl

PLUGIN = PluginInfo(name="doorman", version="1.0", title="Doorman")


@hookimpl
def lms_before_login(user, method, address):
    if user.department == "Contractors":
        raise Rejected("Contractors sign in through the partner portal.", redirect_to="/partners")
