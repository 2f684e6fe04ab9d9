"""Meta-tests that keep the hook contract and its generated docs honest.

Every hookspec is typed and documented where it is declared, its name tells its kind, event
hooks match the event classes one to one, and ``docs/hooks.md`` / ``docs/permissions.md``
are what ``scripts/gen_hooks_doc.py`` renders from the code today.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lms_core import events
from lms_core.default_permissions import CORE_PERMISSIONS
from lms_core.hooks import SPEC_MODULES
from lms_core.hooks import auth as auth_specs
from lms_core.hooks import contributions as contribution_specs
from lms_core.hooks import events as event_specs
from lms_core.hooks import filters as filter_specs
from lms_core.hooks import lifecycle as lifecycle_specs
from lms_core.hooks import privacy as privacy_specs
from lms_core.hooks import ui as ui_specs

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_hooks_doc.py"
COMMAND = "python scripts/gen_hooks_doc.py"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_hooks_doc", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_hooks_doc", module)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()

#: (module, name, function) of every core hookspec.
SPECS: list[tuple[ModuleType, str, Callable[..., Any]]] = [
    (module, name, fn) for module in SPEC_MODULES for name, fn in gen.hookspecs(module)
]
SPEC_IDS = [name for _, name, _ in SPECS]

#: The prefix each spec module's hooks must carry. None: any ``lms_`` name that is not one
#: of the reserved prefixes (slots, auth and lifecycle hooks are named for what they do).
PREFIXES: dict[ModuleType, str | None] = {
    event_specs: "lms_on_",
    filter_specs: "lms_before_",
    contribution_specs: "lms_register_",
    privacy_specs: "lms_privacy_",
    ui_specs: None,
    auth_specs: None,
    lifecycle_specs: None,
}
RESERVED = tuple(prefix for prefix in PREFIXES.values() if prefix)


def _params(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())


# -- (a) generated docs are current ------------------------------------------------------


@pytest.mark.parametrize(
    "path", [gen.HOOKS_DOC, gen.PERMISSIONS_DOC], ids=lambda p: f"docs/{p.name}"
)
def test_generated_doc_is_up_to_date(path: Path) -> None:
    expected = gen.OUTPUTS[path]()
    assert path.exists(), f"{path.relative_to(ROOT)} is missing; run `{COMMAND}`."
    current = path.read_text(encoding="utf-8")
    assert current == expected, f"{path.relative_to(ROOT)} is out of date; run `{COMMAND}`."


def test_generator_check_flag_passes_when_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert gen.main(["--check"]) == 0, capsys.readouterr().err


def test_generator_check_flag_fails_when_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "hooks.md"
    doc.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(gen, "OUTPUTS", {doc: lambda: "new\n"})
    assert gen.main(["--check"]) == 1
    assert f"run `{COMMAND}`" in capsys.readouterr().err
    assert doc.read_text(encoding="utf-8") == "old\n"  # --check never writes
    assert gen.main([]) == 0
    assert doc.read_text(encoding="utf-8") == "new\n"


def test_generation_is_deterministic() -> None:
    assert gen.render_hooks() == gen.render_hooks()
    assert gen.render_permissions() == gen.render_permissions()


def test_spec_modules_are_found() -> None:
    assert SPEC_MODULES, "no spec modules"
    for module in SPEC_MODULES:
        assert list(gen.hookspecs(module)), f"{module.__name__} declares no hookspecs"
    assert len(set(SPEC_IDS)) == len(SPEC_IDS), "a hook name is declared twice"


@pytest.mark.parametrize(("module", "name", "fn"), SPECS, ids=SPEC_IDS)
def test_every_hook_signature_is_in_hooks_doc(
    module: ModuleType, name: str, fn: Callable[..., Any]
) -> None:
    text = gen.HOOKS_DOC.read_text(encoding="utf-8")
    assert f"### {name}\n" in text
    assert gen.signature_of(fn) in text


def test_rst_conversion() -> None:
    doc = """Called when something happens.

    :param ctx: the unit of work,
        continued here.
    :returns: a :class:`~lms_core.contributions.NavItem` or ``None``.

    Example::

        @hookimpl
        def lms_x(ctx):
            return None

    .. versionadded:: 0.1
    """
    md = gen.rst_to_markdown(doc)
    assert "- `ctx`: the unit of work, continued here." in md
    assert "**Returns:** a `NavItem` or `None`." in md
    assert "Example:\n\n```python\n@hookimpl\ndef lms_x(ctx):\n    return None\n```" in md
    assert "*New in version 0.1.*" in md
    assert "::" not in md


# -- (b) every spec is typed and documented ----------------------------------------------


@pytest.mark.parametrize(("module", "name", "fn"), SPECS, ids=SPEC_IDS)
def test_hookspec_is_documented(module: ModuleType, name: str, fn: Callable[..., Any]) -> None:
    doc = inspect.getdoc(fn)
    assert doc, f"{module.__name__}.{name} has no docstring"
    assert doc.splitlines()[0].startswith("Called"), (
        f"{name}: the docstring's first line must say when it is called ('Called ...')"
    )
    documented = set(re.findall(r"^:param (\w+):", doc, re.MULTILINE))
    missing = [p.name for p in _params(fn) if p.name not in documented]
    assert not missing, f"{name}: no ':param NAME:' line for {', '.join(missing)}"
    extra = sorted(documented - {p.name for p in _params(fn)})
    assert not extra, f"{name}: documents parameters it does not have: {', '.join(extra)}"
    assert re.search(r"^:returns:", doc, re.MULTILINE), f"{name}: no ':returns:' line"


@pytest.mark.parametrize(("module", "name", "fn"), SPECS, ids=SPEC_IDS)
def test_hookspec_is_typed(module: ModuleType, name: str, fn: Callable[..., Any]) -> None:
    sig = inspect.signature(fn)
    untyped = [p.name for p in sig.parameters.values() if p.annotation is p.empty]
    assert not untyped, f"{name}: parameters without a type annotation: {', '.join(untyped)}"
    assert sig.return_annotation is not sig.empty, f"{name}: no return annotation"


# -- (c) names tell the kind; events match event classes ---------------------------------


def test_every_spec_module_has_a_naming_rule() -> None:
    assert set(SPEC_MODULES) == set(PREFIXES), "add the new spec module to PREFIXES"


@pytest.mark.parametrize(("module", "name", "fn"), SPECS, ids=SPEC_IDS)
def test_hook_name_tells_its_kind(module: ModuleType, name: str, fn: Callable[..., Any]) -> None:
    prefix = PREFIXES[module]
    if prefix is not None:
        assert name.startswith(prefix), f"{name} is in {module.__name__}: name it {prefix}*"
    else:
        assert name.startswith("lms_"), f"{name}: core hooks start with lms_"
        assert not name.startswith(RESERVED), (
            f"{name} uses a prefix reserved for another kind of hook ({', '.join(RESERVED)})"
        )


def _core_event_types() -> dict[str, type[events.Event]]:
    # Plugins may register event types of their own; their hooks live in their own specs.
    return {
        cls.HOOK: cls for cls in events.EVENT_TYPES.values() if cls.__module__ == events.__name__
    }


#: Event hooks that take any event rather than one class.
GENERIC_EVENT_HOOKS = {"lms_on_event"}


def test_event_hooks_match_event_classes_one_to_one() -> None:
    hooks = {name for name, _ in gen.hookspecs(event_specs)} - GENERIC_EVENT_HOOKS
    classes = [cls for cls in events.EVENT_TYPES.values() if cls.__module__ == events.__name__]
    by_hook = _core_event_types()
    assert len(by_hook) == len(classes), "two event classes deliver through the same hook"
    assert set(by_hook) - hooks == set(), "event classes whose HOOK has no spec in events.py"
    assert hooks - set(by_hook) == set(), "event hooks in events.py with no event class"


EVENT_SPECS = [(n, f) for n, f in gen.hookspecs(event_specs) if n not in GENERIC_EVENT_HOOKS]


@pytest.mark.parametrize(("name", "fn"), EVENT_SPECS, ids=[name for name, _ in EVENT_SPECS])
def test_event_hook_takes_its_event_and_ctx(name: str, fn: Callable[..., Any]) -> None:
    cls = _core_event_types().get(name)
    assert cls is not None, f"no event class has HOOK = {name!r}"
    params = _params(fn)
    assert [p.name for p in params] == ["event", "ctx"]
    assert params[0].annotation.rpartition(".")[2] == cls.__name__
    assert cls.NAME in (fn.__doc__ or ""), f"{name}: the docstring should name {cls.NAME}"


# -- (d) firstresult specs say so ---------------------------------------------------------


@pytest.mark.parametrize(("module", "name", "fn"), SPECS, ids=SPEC_IDS)
def test_firstresult_spec_says_so(module: ModuleType, name: str, fn: Callable[..., Any]) -> None:
    firstresult = getattr(fn, gen.SPEC_ATTR).get("firstresult")
    says = "Stops at first non-None result" in (fn.__doc__ or "")
    if firstresult:
        assert says, f"{name} is firstresult: say 'Stops at first non-None result.'"
    else:
        assert not says, f"{name} is not firstresult but its docstring says it stops early"


# -- (e) core permissions are documented -------------------------------------------------


def test_every_core_permission_is_in_permissions_doc() -> None:
    text = gen.PERMISSIONS_DOC.read_text(encoding="utf-8")
    missing = [p.name for p in CORE_PERMISSIONS if f"| `{p.name}` |" not in text]
    assert not missing, f"docs/permissions.md lacks {', '.join(missing)}; run `{COMMAND}`."
