"""Plugin settings: labels and help from field metadata, and refusals that name the setting."""

from __future__ import annotations

import types

import attrs
import pytest

from lms_core import PluginError
from lms_core import PluginInfo
from lms_core import SettingsInvalid
from lms_core import setting
from lms_core.services.plugins import save_settings
from lms_core.services.plugins import settings_for
from lms_core.settings import setting_fields
from lms_core.settings import structure_settings
from lms_core.testing import AuthActions
from lms_core.testing import csrf_token
from lms_core.testing import text_of
from lms_core.web import create_app

PASSWORD = "admin password 123"


def _odd(_instance: object, _attribute: object, value: int) -> None:
    if value % 2 == 0:
        raise ValueError("must be an odd number")


@attrs.frozen(kw_only=True)
class StreaksSettings:
    """Declared with plain attrs metadata, as a plugin author writes it."""

    recent_days: int = attrs.field(
        default=30,
        metadata={"label": "Recent days", "help": "How far back a streak looks.", "min": 0},
    )
    lucky_number: int = attrs.field(default=7, validator=_odd, metadata={"label": "Lucky number"})
    bonus: float = setting(1.5, label="Bonus factor", min=0, max=10)
    display_name: str = setting("Streaks", label="Display name", required=True)
    shown: bool = True


attrs.resolve_types(StreaksSettings)


def _streaks_plugin() -> types.ModuleType:
    module = types.ModuleType("streaks_plugin")
    module.PLUGIN = PluginInfo(  # type: ignore[attr-defined]
        name="streaks", version="1.0", title="Streaks", settings=StreaksSettings
    )
    return module


def _refusal(values: dict[str, object]) -> SettingsInvalid:
    with pytest.raises(SettingsInvalid) as info:
        structure_settings("streaks", StreaksSettings, values)
    return info.value


def test_a_failing_validator_names_the_setting_and_its_reason() -> None:
    refused = _refusal({"lucky_number": 4})
    assert refused.message == (
        "Settings of streaks are invalid: Setting 'Lucky number' (lucky_number): "
        "must be an odd number"
    )
    assert refused.problems == {"lucky_number": "must be an odd number"}
    assert "@ $" not in refused.message


def test_a_negative_number_under_the_declared_minimum_is_refused() -> None:
    refused = _refusal({"recent_days": -3})
    assert "Setting 'Recent days' (recent_days): must be at least 0" in refused.message
    assert structure_settings("streaks", StreaksSettings, {"recent_days": 0}).recent_days == 0


@pytest.mark.parametrize("value", [2.7, "2.7", 2.0, True, "two"])
def test_a_whole_number_setting_takes_no_fraction_text_or_boolean(value: object) -> None:
    refused = _refusal({"recent_days": value})
    assert refused.problems["recent_days"].startswith("must be a whole number, not ")


def test_numbers_are_checked_against_both_bounds_and_text_is_parsed() -> None:
    assert "must be at most 10" in _refusal({"bonus": 10.5}).problems["bonus"]
    assert "must be a number" in _refusal({"bonus": "lots"}).problems["bonus"]
    parsed = structure_settings("streaks", StreaksSettings, {"recent_days": " 12 ", "bonus": "2"})
    assert (parsed.recent_days, parsed.bonus) == (12, 2.0)


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_display_name_is_refused(value: str) -> None:
    refused = _refusal({"display_name": value})
    assert refused.problems == {"display_name": "must not be empty"}


def test_every_problem_is_reported_at_once_and_an_unknown_name_too() -> None:
    refused = _refusal({"recent_days": -1, "display_name": "", "colour": "red"})
    assert set(refused.problems) == {"recent_days", "display_name", "colour"}
    assert "Setting 'colour': is no setting of streaks" in refused.message


def test_fields_carry_label_help_and_bounds_for_the_form() -> None:
    fields = {f.name: f for f in setting_fields(StreaksSettings)}
    assert fields["recent_days"].label == "Recent days"
    assert fields["recent_days"].help == "How far back a streak looks."
    assert (fields["bonus"].minimum, fields["bonus"].maximum) == (0, 10)
    assert fields["shown"].label == "Shown"  # no label: the name in words
    assert fields["shown"].input == "checkbox" and fields["bonus"].input == "number"


def test_a_bad_value_in_the_config_names_the_setting_when_read(lms_factory) -> None:
    site = lms_factory(
        [_streaks_plugin()], plugin_config={"settings": {"streaks": {"recent_days": -3}}}
    )
    with pytest.raises(PluginError, match=r"Setting 'Recent days' \(recent_days\): must be at"):
        settings_for(site, "streaks")


def test_saving_refused_settings_stores_nothing(lms_factory) -> None:
    site = lms_factory([_streaks_plugin()])
    with pytest.raises(SettingsInvalid):
        save_settings(site, "streaks", {"recent_days": 2.7})
    assert settings_for(site, "streaks") == StreaksSettings()
    save_settings(site, "streaks", {"recent_days": 3})
    assert settings_for(site, "streaks").recent_days == 3


def test_the_settings_form_shows_labels_help_and_each_settings_problem(lms_factory, factory):
    site = lms_factory([_streaks_plugin()])
    factory.admin("ada@example.com", password=PASSWORD)
    app = create_app(lms=site)
    app.config["TESTING"] = True
    client = app.test_client()
    assert AuthActions(client).login("ada@example.com", PASSWORD).status_code == 302
    page = text_of(client.get("/admin/plugins"))
    assert '<label for="s-streaks-recent_days">Recent days</label>' in page
    assert "How far back a streak looks. (at least 0)" in page
    token = csrf_token(client, "/admin/plugins")
    refused = client.post(
        "/admin/plugins/streaks/settings",
        data={
            "csrf_token": token,
            "s-recent_days": "-3",
            "s-lucky_number": "2.7",
            "s-bonus": "1",
            "s-display_name": " ",
        },
    )
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Setting &#39;Recent days&#39; (recent_days): must be at least 0" in html
    assert 'id="s-streaks-recent_days-error">must be at least 0</small>' in html
    assert 'id="s-streaks-lucky_number-error">must be a whole number, not &#39;2.7&#39;' in html
    assert 'id="s-streaks-display_name-error">must not be empty</small>' in html
    assert 'value="-3"' in html
    assert settings_for(site, "streaks") == StreaksSettings()
    saved = client.post(
        "/admin/plugins/streaks/settings",
        data={
            "csrf_token": token,
            "s-recent_days": "3",
            "s-lucky_number": "9",
            "s-bonus": "2.5",
            "s-display_name": "Runs",
        },
    )
    assert saved.status_code == 302
    assert settings_for(site, "streaks") == StreaksSettings(
        recent_days=3, lucky_number=9, bonus=2.5, display_name="Runs", shown=False
    )
