"""``lms plugins new NAME``: write a plugin package that installs and passes its own tests.

The files are templates under ``lms_core/scaffold/plugin/`` (shipped as package data), with
``$name`` (the plugin's name), ``$package`` (``lms_<name>``), ``$dist`` (``lms-<name>``),
``$title``, ``$core_version`` and ``$today`` filled in by :class:`string.Template`; the path
parts ``__package__`` and ``__name__`` become the package and the plugin's name, and the
``.tmpl`` suffix is dropped.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path

from lms_core.errors import Invalid

__all__ = ["TEMPLATES", "new_plugin"]

TEMPLATES = Path(__file__).parent / "plugin"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,49}$")


def new_plugin(name: str, directory: Path, title: str | None = None) -> Path:
    """Write plugin ``name``'s package into ``directory/lms-<name>``; returns that folder.

    Refuses a name the loader would refuse, the name of an installed plugin, and a folder
    that exists already.
    """
    from lms_core import __version__

    if not _NAME.fullmatch(name):
        raise Invalid(
            f"{name!r} is no plugin name: 2-50 of a-z, 0-9 and _, starting with a letter.",
            field="name",
        )
    from importlib.metadata import entry_points

    from lms_core.plugins import ENTRY_POINT_GROUP

    taken = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name in taken:
        owner = taken[name].dist
        raise Invalid(
            f"A plugin called {name} is installed already"
            + (f" (from {owner.name})" if owner is not None else "")
            + "; two plugins may not share a name (their tables and settings would clash).",
            field="name",
        )
    dist = "lms-" + name.replace("_", "-")
    target = Path(directory) / dist
    if target.exists():
        raise Invalid(f"{target} exists already; choose another name or folder.", field="name")
    core = ".".join(__version__.split(".")[:2])
    values = {
        "name": name,
        "package": f"lms_{name}",
        "dist": dist,
        "title": title or name.replace("_", " ").capitalize(),
        "core_version": core,
        "today": dt.date.today().isoformat(),
    }
    sources = sorted(p for p in TEMPLATES.rglob("*.tmpl") if p.is_file())
    for source in sources:
        relative = source.relative_to(TEMPLATES).as_posix().removesuffix(".tmpl")
        relative = relative.replace("__package__", values["package"]).replace("__name__", name)
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template(source.read_text(encoding="utf-8")).substitute(values)
        out.write_text(text, encoding="utf-8")
    return target
