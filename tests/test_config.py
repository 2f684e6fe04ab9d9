"""Configuration: defaults, a TOML file, LMS_* variables, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_core.config import load_config
from lms_core.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_stray_config(tmp_path, monkeypatch):
    # an instance/lms.toml in the working directory must not leak into these tests
    monkeypatch.chdir(tmp_path)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lms.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_with_no_configuration_at_all_the_database_is_sqlite_in_the_instance_folder():
    config = load_config(env={})
    assert config.database.url is None
    assert config.database_url.startswith("sqlite:///")
    assert config.database_url.endswith("instance/lms.sqlite3")
    assert config.mail.port == 25
    assert config.auth.max_failed_logins == 5


def test_the_instance_folder_can_be_moved(tmp_path):
    config = load_config(env={"LMS_INSTANCE_PATH": str(tmp_path / "site")})
    assert config.database_url == f"sqlite:///{(tmp_path / 'site').resolve()}/lms.sqlite3"


def test_a_toml_file_sets_values(tmp_path):
    path = _write(
        tmp_path,
        'site_name = "Acme Academy"\n'
        "[database]\n"
        'url = "postgresql://lms@db/lms"\n'
        "pool_size = 10\n"
        "[mail]\n"
        "port = 587\n"
        "use_tls = true\n",
    )
    config = load_config(path, env={})
    assert config.site_name == "Acme Academy"
    assert config.database_url == "postgresql://lms@db/lms"
    assert config.database.pool_size == 10
    assert (config.mail.port, config.mail.use_tls) == (587, True)


def test_the_instance_folders_lms_toml_is_read_when_present(tmp_path):
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "lms.toml").write_text('site_name = "From instance"\n')
    assert load_config(env={}).site_name == "From instance"


def test_environment_variables_override_the_file(tmp_path):
    path = _write(tmp_path, "[mail]\nport = 587\n")
    config = load_config(
        path,
        env={
            "LMS_MAIL_PORT": "2525",
            "LMS_DATABASE_ECHO": "yes",
            "LMS_SECRET_KEY": "s3cret",
            "LMS_SAFE_MODE": "1",
            "LMS_PLUGINS_DISABLED": "forums, badges",
            "LMS_TEST_DATABASE_URL": "ignored: not a configuration key",
        },
    )
    assert config.mail.port == 2525
    assert config.database.echo is True
    assert config.secret_key == "s3cret"
    assert config.plugins.safe_mode is True
    assert config.plugins.disabled == ("forums", "badges")


def test_overrides_win_over_everything(tmp_path):
    config = load_config(env={"LMS_MAIL_PORT": "2525"}, overrides={"mail": {"port": 465}})
    assert config.mail.port == 465


def test_the_secret_key_is_not_shown_in_the_repr():
    config = load_config(env={"LMS_SECRET_KEY": "do-not-print-me"})
    assert "do-not-print-me" not in repr(config)


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        (
            {"LMS_DATABASE_URL": "mysql://x"},
            ["database.url", "mysql://x", "LMS_DATABASE_URL", "postgresql"],
        ),
        ({"LMS_MAIL_PORT": "abc"}, ["mail.port", "abc", "LMS_MAIL_PORT", "whole number"]),
        ({"LMS_MAIL_PORT": "70000"}, ["mail.port", "70000", "1 to 65535"]),
        ({"LMS_DATABASE_ECHO": "maybe"}, ["database.echo", "maybe", "true or false"]),
        ({"LMS_DATABASE_POOL_SIZE": "0"}, ["database.pool_size", "0", "1 or more"]),
        ({"LMS_BASE_URL": "example.com"}, ["base_url", "example.com", "http"]),
        ({"LMS_REDIS_URL": "http://cache"}, ["redis_url", "http://cache", "redis://"]),
        ({"LMS_AUTH_PASSWORD_MIN_LENGTH": "4"}, ["auth.password_min_length", "4", "8 or more"]),
        ({"LMS_FOO": "1"}, ["LMS_FOO", "Unknown", "LMS_DATABASE_URL"]),
    ],
)
def test_a_bad_environment_value_names_the_key_the_value_and_what_was_expected(env, fragments):
    with pytest.raises(ConfigError) as excinfo:
        load_config(env=env)
    for fragment in fragments:
        assert fragment in excinfo.value.message


def test_an_unknown_key_in_the_file_is_an_error_naming_it(tmp_path):
    path = _write(tmp_path, "[database]\nurl = 'sqlite:///x.db'\npool = 3\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    assert "(pool)" in excinfo.value.message
    assert "section 'database'" in excinfo.value.message
    assert str(path) in excinfo.value.message


def test_an_unknown_top_level_key_in_the_file_is_an_error_naming_it(tmp_path):
    path = _write(tmp_path, "colour = 'blue'\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    assert "(colour)" in excinfo.value.message
    assert "top level" in excinfo.value.message
    assert str(path) in excinfo.value.message


def test_a_zero_pool_size_in_the_file_names_the_key_and_the_file(tmp_path):
    path = _write(tmp_path, "[database]\npool_size = 0\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    message = excinfo.value.message
    assert "database.pool_size = 0" in message
    assert str(path) in message
    assert "1 or more" in message


def test_a_wrongly_typed_value_in_the_file_names_the_key_and_the_value(tmp_path):
    path = _write(tmp_path, "[mail]\nport = 'twenty-five'\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    assert "mail.port" in excinfo.value.message
    assert "twenty-five" in excinfo.value.message


def test_a_file_that_is_not_toml_is_an_error_naming_the_file(tmp_path):
    path = _write(tmp_path, "[database\nurl = \n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    assert str(path) in excinfo.value.message
    assert "not valid TOML" in excinfo.value.message


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
