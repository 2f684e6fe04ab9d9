"""What a plugin author uses: `lms plugins new`, `lms db revision --plugin`, the drift check.

The scaffold is tested for real: written by the command, installed by pip (into a folder of
its own, ``pip install --no-deps --target``, so this environment is left as it was), and its own
tests run by pytest in a fresh interpreter that imports the installed copy (``python -P``
keeps the source folder off ``sys.path``) and finds the plugin through its entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lms_core.cli import cli
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.errors import PluginError
from lms_core.migrate import plugin_revision
from lms_core.scaffold import new_plugin
from lms_core.testing import assert_migrations_match_models


def _env(site_packages: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    env["PYTHONPATH"] = str(site_packages)
    return env


def _run(args: list[str], cwd: Path, site_packages: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", *args],
        cwd=cwd,
        env=_env(site_packages),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``lms plugins new streaks``, then pip-installed: (the source folder, the install folder)."""
    root = tmp_path_factory.mktemp("scaffold")
    result = CliRunner().invoke(cli, ["plugins", "new", "streaks", "--directory", str(root)])
    assert result.exit_code == 0, result.output
    source = root / "lms-streaks"
    assert f"Wrote {source}" in result.output
    target = root / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
        + [str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return source, target


def test_the_scaffold_installs_with_its_migrations_and_templates(installed) -> None:
    _source, target = installed
    package = target / "lms_streaks"
    assert (package / "migrations" / "streaks_0001_notes.py").is_file()
    assert (package / "templates" / "streaks" / "index.html").is_file()
    (entry_points,) = target.glob("lms_streaks-*.dist-info/entry_points.txt")
    assert "streaks = lms_streaks.hooks" in entry_points.read_text().replace('"', "")


def test_the_scaffold_is_lint_clean_under_its_own_ruff_settings(tmp_path) -> None:
    source = new_plugin("tidy_one", tmp_path)
    for args in (["check", "."], ["format", "--check", "."]):
        ruff = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=source, capture_output=True, text=True
        )
        assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_the_scaffold_passes_its_own_tests_against_the_installed_copy(installed) -> None:
    source, target = installed
    where = _run(["-c", "import lms_streaks; print(lms_streaks.__file__)"], source, target)
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    tests = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider"], source, target)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout


def test_db_revision_autogenerates_the_next_migration_of_only_that_plugin(installed) -> None:
    source, target = installed
    config = target.parent / "lms.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{target.parent / "site.sqlite3"}"\n')
    lms = ["-m", "lms_core", "--config", str(config)]
    upgraded = _run([*lms, "db", "upgrade"], source, target)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr

    models = target / "lms_streaks" / "models.py"
    models.write_text(
        models.read_text().replace(
            "    created_at: Mapped[created_at]\n",
            "    created_at: Mapped[created_at]\n"
            '    mood: Mapped[str] = mapped_column(String(20), default="")\n',
        )
    )
    drifted = _run(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "migrations"], source, target
    )
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert "streaks's migrations and models differ" in drifted.stdout
    assert "lms db revision --plugin streaks --autogenerate" in drifted.stdout

    made = _run(
        [*lms, "db", "revision", "--plugin", "streaks", "--autogenerate", "-m", "add mood"],
        source,
        target,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    written = target / "lms_streaks" / "migrations" / "streaks_0002_add_mood.py"
    assert f"Wrote {written}" in made.stdout
    script = written.read_text()
    assert "revision = 'streaks_0002'" in script
    assert "down_revision = 'streaks_0001'" in script
    assert "batch_op.add_column(sa.Column('mood', sa.String(length=20)" in script
    assert "batch_alter_table('streaks_notes'" in script
    assert "badges_" not in script and "'users'" not in script  # only this plugin's tables

    assert _run([*lms, "db", "upgrade"], source, target).returncode == 0
    again = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider"], source, target)
    assert again.returncode == 0, again.stdout + again.stderr


def test_db_revision_needs_an_installed_plugin_with_a_migrations_folder(lms) -> None:
    with pytest.raises(NotFound, match="No plugin called 'nothing'"):
        plugin_revision(lms, "nothing", "x")


def test_the_drift_check_passes_for_a_plugin_whose_migrations_match(lms_factory) -> None:
    site = lms_factory(["sample_plugins.notes.hooks"])
    assert_migrations_match_models(site, "notes")
    with pytest.raises(AssertionError, match="no tables named nothing_"):
        assert_migrations_match_models(site, "nothing")


@pytest.mark.parametrize("name", ["X", "a", "has-dash", "9lives"])
def test_plugins_new_refuses_a_name_the_loader_would_refuse(tmp_path, name) -> None:
    with pytest.raises(Invalid, match="is no plugin name"):
        new_plugin(name, tmp_path)


def test_plugins_new_refuses_the_name_of_an_installed_plugin(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "new", "badges", "-d", str(tmp_path)])
    assert result.exit_code != 0 and isinstance(result.exception, Invalid)
    assert "A plugin called badges is installed already" in result.exception.message
    assert list(tmp_path.iterdir()) == []


def test_plugins_new_does_not_write_over_a_folder(tmp_path) -> None:
    (tmp_path / "lms-streaks").mkdir()
    result = CliRunner().invoke(cli, ["plugins", "new", "streaks", "-d", str(tmp_path)])
    assert result.exit_code != 0 and isinstance(result.exception, Invalid)
    assert list((tmp_path / "lms-streaks").iterdir()) == []


def test_purging_an_enabled_plugin_is_refused_before_any_question(tmp_path) -> None:
    config = tmp_path / "lms.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "cli.sqlite3"}"\n')
    runner = CliRunner()
    base = ["--config", str(config)]
    assert runner.invoke(cli, [*base, "db", "upgrade"]).exit_code == 0
    assert runner.invoke(cli, [*base, "plugins", "enable", "badges"]).exit_code == 0
    refused = runner.invoke(cli, [*base, "plugins", "purge", "badges"], input="y\n")
    assert refused.exit_code != 0
    assert isinstance(refused.exception, PluginError)
    assert "disable it before purging" in str(refused.exception)
    assert "Drop every table" not in refused.output  # nobody was asked
    assert runner.invoke(cli, [*base, "plugins", "disable", "badges"]).exit_code == 0
    asked = runner.invoke(cli, [*base, "plugins", "purge", "badges"], input="n\n")
    assert "Drop every table of badges" in asked.output and asked.exit_code == 1


# -- the clock ------------------------------------------------------------------------------


def test_the_clock_fixture_freezes_and_moves_the_time_services_stamp(clock, factory) -> None:
    import datetime as dt

    from lms_core.db import utcnow
    from lms_core.testing import CLOCK_START

    assert utcnow() == clock.now == CLOCK_START
    learner, course = factory.user(), factory.course()
    enrollment = factory.enrollment(learner, course)
    assert enrollment.enrolled_at == CLOCK_START
    clock.advance(days=31, hours=2)
    assert factory.user().created_at == CLOCK_START + dt.timedelta(days=31, hours=2)
    assert clock.set("2027-02-03T04:05") == dt.datetime(2027, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert utcnow() == clock.now


def test_without_the_clock_fixture_the_time_is_real() -> None:
    import datetime as dt

    from lms_core.db import utcnow

    assert abs(utcnow() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


# -- the reference docs ---------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _resolves(dotted: str) -> bool:
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


@pytest.mark.parametrize("page", ["hooks.md", "plugins.md"])
def test_every_lms_core_name_the_author_docs_mention_exists(page: str) -> None:
    import re

    text = (DOCS / page).read_text(encoding="utf-8")
    names = set(re.findall(r"\blms_core(?:\.[A-Za-z_][A-Za-z0-9_]*)+", text))
    assert names, f"{page} names nothing in lms_core?"
    missing = sorted(n for n in names if not _resolves(n))
    assert missing == []


def test_plugin_authors_get_plugin_error_and_settings_tools_from_lms_core() -> None:
    import lms_core

    for name in ("PluginError", "SettingsInvalid", "setting", "hookimpl", "Rejected"):
        assert name in lms_core.__all__ and hasattr(lms_core, name)
