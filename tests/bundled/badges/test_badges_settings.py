"""The badges plugin's settings: defaults, limits, and the README's example."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lms_core.serde import converter
from lms_core.settings import SettingsInvalid
from lms_core.settings import setting_fields
from lms_core.settings import structure_settings
from plugins.badges import BadgesSettings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_example_is_valid_badges_settings() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("[plugins.settings.badges]")
    block = text[start : text.index("\n\n", start)]
    values = tomllib.loads(block)["plugins"]["settings"]["badges"]
    settings = structure_settings("badges", BadgesSettings, values)
    assert settings.leaderboards_enabled is True
    assert settings.issuer_email == "badges@example.org"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"recent_days": 0}, "Setting 'Recent days' (recent_days): must be at least 1"),
        ({"recent_days": 3651}, "Setting 'Recent days' (recent_days): must be at most 3650"),
        ({"recent_days": 2.7}, "Setting 'Recent days' (recent_days): must be a whole number"),
        ({"max_image_kb": 0}, "(max_image_kb): must be at least 1"),
        ({"max_image_kb": 16 * 1024 + 1}, "(max_image_kb): must be at most 16384"),
        ({"issuer_email": "no address"}, "(issuer_email): must be an email address, or empty"),
        ({"issuer_email": "two@at@signs.org"}, "(issuer_email): must be an email address"),
    ],
)
def test_out_of_range_settings_are_refused_naming_the_setting(
    values: dict[str, object], reason: str
) -> None:
    with pytest.raises(SettingsInvalid) as info:
        structure_settings("badges", BadgesSettings, values)
    assert info.value.message.startswith("Settings of badges are invalid: ")
    assert reason in info.value.message
    assert list(info.value.problems) == list(values)


def test_every_badges_setting_has_a_label_and_help_text() -> None:
    fields = {f.name: f for f in setting_fields(BadgesSettings)}
    assert fields["recent_days"].label == "Recent days"
    assert (fields["recent_days"].minimum, fields["recent_days"].maximum) == (1, 3650)
    assert all(f.help for f in fields.values())


def test_the_bounds_hold_when_the_class_is_built_directly() -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        BadgesSettings(recent_days=-3)


def test_the_defaults_and_a_trimmed_email() -> None:
    assert converter.structure({}, BadgesSettings) == BadgesSettings()
    settings = converter.structure({"issuer_email": "  badges@school.example "}, BadgesSettings)
    assert settings.issuer_email == "badges@school.example"
