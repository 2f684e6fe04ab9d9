"""Stores certificate PDFs that belong to a person, readable with certstub.view."""

from __future__ import annotations

from lms_core import FileUse
from lms_core import Permission
from lms_core import PluginInfo
from lms_core import hookimpl

PLUGIN = PluginInfo(
    name="certstub",
    version="1.0",
    title="Certificate stub",
    permissions=(
        Permission(name="certstub.view", title="See certificates", default_roles=("admin",)),
    ),
)


@hookimpl
def lms_register_file_uses():
    return [
        FileUse(
            name="certstub.pdf",
            title="certificates",
            max_bytes=5_000,
            types=("application/pdf",),
            read_permission="certstub.view",
        ),
        FileUse(name="certstub.badge", title="badge images", max_bytes=100_000, types=("image/*",)),
    ]
