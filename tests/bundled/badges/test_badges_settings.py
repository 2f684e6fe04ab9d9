"""The badges plugin's settings: defaults, limits, and the README's example."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lms_core.serde import converter
from lms_core.serde import describe_errors
from plugins.badges import BadgesSettings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_example_is_valid_badges_settings() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("[plugins.settings.badges]")
    block = text[start : text.index("\n\n", start)]
    values = tomllib.loads(block)["plugins"]["settings"]["badges"]
    settings = converter.structure(values, BadgesSettings)
    assert settings.leaderboards_enabled is True
    assert settings.issuer_email == "badges@example.org"


@pytest.mark.parametrize(
    "values",
    [
        {"recent_days": 0},
        {"recent_days": 3651},
        {"max_image_kb": 0},
        {"max_image_kb": 16 * 1024 + 1},
        {"issuer_email": "no address"},
        {"issuer_email": "two@at@signs.org"},
    ],
)
def test_out_of_range_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(Exception) as info:
        converter.structure(values, BadgesSettings)
    (message,) = describe_errors(info.value)
    assert message.startswith(f"unknown error ({next(iter(values))} is ")


def test_the_defaults_and_a_trimmed_email() -> None:
    assert converter.structure({}, BadgesSettings) == BadgesSettings()
    settings = converter.structure({"issuer_email": "  badges@school.example "}, BadgesSettings)
    assert settings.issuer_email == "badges@school.example"
