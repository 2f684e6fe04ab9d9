"""Configuration: one attrs class tree, structured with cattrs from TOML plus ``LMS_*`` variables.

Precedence, lowest first: built-in defaults, the TOML file (``LMS_CONFIG`` or
``<instance>/lms.toml``), then environment variables named ``LMS_<SECTION>_<KEY>``
(``LMS_DATABASE_URL``, ``LMS_MAIL_PORT``) or ``LMS_<KEY>`` for top-level keys
(``LMS_SECRET_KEY``). ``LMS_SAFE_MODE=1`` is a short form of ``LMS_PLUGINS_SAFE_MODE``.

A bad value stops start-up with a :class:`~lms_core.errors.ConfigError` naming the key, the
value, where it came from and what was expected.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import field
from attrs import frozen
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lms_core.errors import ConfigError
from lms_core.serde import converter
from lms_core.serde import describe_errors

__all__ = [
    "Config",
    "DatabaseConfig",
    "PluginsConfig",
    "MailConfig",
    "AuthConfig",
    "EventsConfig",
    "RetentionConfig",
    "NotificationsConfig",
    "FilesConfig",
    "load_config",
    "load_config_with_sources",
    "DEFAULT_INSTANCE_PATH",
]

DEFAULT_INSTANCE_PATH = "instance"

# Variables that start with LMS_ but are not configuration keys.
_NON_CONFIG_ENV = {"LMS_CONFIG", "LMS_TRACE_HOOKS"}
_NON_CONFIG_ENV_PREFIXES = ("LMS_TEST_", "LMS_BENCH_", "LMS_INIT_")


@frozen(kw_only=True)
class DatabaseConfig:
    """Where the data lives. ``url`` unset means a SQLite file in the instance folder."""

    url: str | None = None
    echo: bool = False
    pool_size: int = 5


@frozen(kw_only=True)
class PluginsConfig:
    """Which installed plugins run.

    ``enabled`` lists plugins switched on the first time the site starts (``"*"`` means every
    installed plugin); after that the state in the database rules and admins toggle plugins at
    run time. ``disabled`` lists plugins that must never run in this deployment.
    """

    enabled: tuple[str, ...] = ("*",)
    disabled: tuple[str, ...] = ()
    safe_mode: bool = False
    #: Plugin modules to load besides the installed entry points (dotted names).
    modules: tuple[str, ...] = ()
    settings: dict[str, dict[str, Any]] = field(factory=dict)


@frozen(kw_only=True)
class MailConfig:
    """Outgoing mail: over SMTP, or (``transport = "folder"``) written as ``.eml`` files into
    ``folder`` (default ``<instance>/mail``), which ``lms demo`` uses when no mail server is
    configured, so its mail can be read without one."""

    transport: str = field(default="smtp", validator=attrs.validators.in_(("smtp", "folder")))
    folder: str | None = None
    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    sender: str = "lms@localhost"


@frozen(kw_only=True)
class AuthConfig:
    """Sign-in policy."""

    password_min_length: int = 10
    max_failed_logins: int = 5
    lockout_minutes: int = 15


@frozen(kw_only=True)
class EventsConfig:
    """Event delivery. ``deliver_inline`` delivers in the web/CLI process right after commit
    (the embedded default); turn it off when ``lms worker`` processes deliver instead."""

    deliver_inline: bool = True


def _days(_instance: Any, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a whole number of days, at least 1")


@frozen(kw_only=True)
class RetentionConfig:
    """How long records are kept before the daily prune schedules delete them.

    Audit entries are evidence (years); delivered events and finished jobs are plumbing
    (weeks); failed and pending ones are kept until an admin deals with them.
    """

    audit_days: int = field(default=7 * 365, validator=_days)
    events_days: int = field(default=28, validator=_days)
    notifications_days: int = field(default=180, validator=_days)


@frozen(kw_only=True)
class NotificationsConfig:
    """The core's notifications: how many days ahead "due soon" reminders go out."""

    due_soon_days: int = field(default=3, validator=_days)


@frozen(kw_only=True)
class FilesConfig:
    """The file store. ``url`` unset means the folder ``files/`` in the instance folder; for
    several hosts, any fsspec URL they all reach (``file:///srv/lms-files``, ``s3://bucket/lms``
    with its fsspec package installed). ``max_upload_mb`` bounds one upload request;
    ``limits`` overrides a use's own size limit, in MB (``{"core.lesson" = 2000}``)."""

    url: str | None = None
    max_upload_mb: int = 1024
    limits: dict[str, int] = field(factory=dict)


@frozen(kw_only=True)
class Config:
    """The whole configuration of one deployment."""

    instance_path: str = DEFAULT_INSTANCE_PATH
    site_name: str = "Learning Platform"
    base_url: str = "http://127.0.0.1:5000"
    secret_key: str | None = field(default=None, repr=False)
    redis_url: str | None = None
    database: DatabaseConfig = field(factory=DatabaseConfig)
    plugins: PluginsConfig = field(factory=PluginsConfig)
    mail: MailConfig = field(factory=MailConfig)
    auth: AuthConfig = field(factory=AuthConfig)
    events: EventsConfig = field(factory=EventsConfig)
    retention: RetentionConfig = field(factory=RetentionConfig)
    notifications: NotificationsConfig = field(factory=NotificationsConfig)
    files: FilesConfig = field(factory=FilesConfig)

    @property
    def database_url(self) -> str:
        """The effective database URL (the SQLite default when none is configured)."""
        if self.database.url:
            return self.database.url
        path = Path(self.instance_path).resolve() / "lms.sqlite3"
        return f"sqlite:///{path}"

    @property
    def files_url(self) -> str:
        """The file store's fsspec URL (the folder ``files`` in the instance path by default)."""
        if self.files.url:
            return self.files.url
        return (Path(self.instance_path).resolve() / "files").as_uri()


def _env_name(path: tuple[str, ...]) -> str:
    return "LMS_" + "_".join(p.upper() for p in path)


def _leaf_fields(cls: type, prefix: tuple[str, ...] = ()) -> dict[str, tuple[tuple[str, ...], Any]]:
    """Map every env variable name to (key path, field type) for the attrs tree under ``cls``."""
    out: dict[str, tuple[tuple[str, ...], Any]] = {}
    hints = typing.get_type_hints(cls)
    for f in attrs.fields(cls):
        tp = hints[f.name]
        path = (*prefix, f.name)
        if attrs.has(tp):
            out.update(_leaf_fields(tp, path))
        elif typing.get_origin(tp) is not dict:
            out[_env_name(path)] = (path, tp)
    return out


def _parse_env_value(raw: str, tp: Any, key: str, var: str) -> Any:
    args = typing.get_args(tp)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), tp) if args and optional else tp
    if optional and raw.strip() == "":
        return None
    if base is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(
            f"Invalid configuration: {key} = {raw!r} (from {var}): expected true or false"
        )
    if base is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(
                f"Invalid configuration: {key} = {raw!r} (from {var}): expected a whole number"
            ) from None
    return raw


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _validate(config: Config, sources: Mapping[str, str]) -> None:
    def fail(key: str, value: Any, expected: str) -> typing.NoReturn:
        where = f" (from {sources[key]})" if key in sources else ""
        raise ConfigError(f"Invalid configuration: {key} = {value!r}{where}: expected {expected}")

    if config.database.url is not None:
        try:
            url = make_url(config.database.url)
        except ArgumentError:
            fail("database.url", config.database.url, "a database URL such as sqlite:///lms.db")
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            fail(
                "database.url",
                config.database.url,
                "a sqlite:// or postgresql+psycopg:// URL (other databases are not supported)",
            )
    if config.database.pool_size < 1:
        fail("database.pool_size", config.database.pool_size, "a number of 1 or more")
    if not 1 <= config.mail.port <= 65535:
        fail("mail.port", config.mail.port, "a port number from 1 to 65535")
    if not config.base_url.startswith(("http://", "https://")):
        fail("base_url", config.base_url, "an http:// or https:// address")
    if config.redis_url is not None and not config.redis_url.startswith(("redis://", "rediss://")):
        fail("redis_url", config.redis_url, "a redis:// URL")
    if config.auth.password_min_length < 8:
        fail("auth.password_min_length", config.auth.password_min_length, "8 or more")
    if config.files.max_upload_mb < 1:
        fail("files.max_upload_mb", config.files.max_upload_mb, "1 or more")
    for use, mb in config.files.limits.items():
        if not isinstance(mb, int) or mb < 1:
            fail(f"files.limits.{use}", mb, "a size in MB, 1 or more")
    if config.auth.max_failed_logins < 1:
        fail("auth.max_failed_logins", config.auth.max_failed_logins, "1 or more")


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the :class:`Config` for this process.

    :param path: a TOML file; defaults to ``LMS_CONFIG`` or ``<instance>/lms.toml`` if present.
    :param env: the environment to read ``LMS_*`` variables from (``os.environ`` by default).
    :param overrides: a nested dict applied last (tests and ``create_app(test_config)`` use it).
    :raises ConfigError: naming the key, the value and what was expected.
    """
    return load_config_with_sources(path, env, overrides)[0]


def load_config_with_sources(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[Config, dict[str, str]]:
    """:func:`load_config`, and where each configured key came from.

    :returns: ``(config, sources)``: ``sources`` maps every key that was set (dotted, such as
        ``"base_url"`` or ``"database.url"``) to the file or ``LMS_*`` variable that set it;
        a key that is not in it has its default. The parameters are :func:`load_config`'s.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}

    instance = env.get("LMS_INSTANCE_PATH") or (overrides or {}).get("instance_path")
    instance = instance or DEFAULT_INSTANCE_PATH
    file_path = path or env.get("LMS_CONFIG")
    if file_path is None and (Path(instance) / "lms.toml").is_file():
        file_path = Path(instance) / "lms.toml"
    if file_path is not None:
        try:
            with open(file_path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"Configuration file {str(file_path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"Configuration file {str(file_path)!r} is not valid TOML: {exc}"
            ) from None
        for key in _flatten(data):
            sources[key] = str(file_path)

    leaves = _leaf_fields(Config)
    aliases = {"LMS_SAFE_MODE": "LMS_PLUGINS_SAFE_MODE"}
    for var, raw in env.items():
        if not var.startswith("LMS_") or var in _NON_CONFIG_ENV:
            continue
        if var.startswith(_NON_CONFIG_ENV_PREFIXES):
            continue
        name = aliases.get(var, var)
        if name not in leaves:
            raise ConfigError(
                f"Unknown configuration variable {var}; known variables: "
                + ", ".join(sorted(leaves))
            )
        key_path, tp = leaves[name]
        key = ".".join(key_path)
        _set_path(data, key_path, _parse_env_value(raw, tp, key, var))
        sources[key] = var

    for key, value in _flatten(dict(overrides or {})).items():
        _set_path(data, tuple(key.split(".")), value)
        sources.setdefault(key, "test config")

    try:
        config = converter.structure(data, Config)
    except Exception as exc:  # cattrs raises grouped errors; name every failing key
        lines = describe_errors(exc)
        messages = []
        for line in lines:
            if " @ $." in line:
                message, _, key = line.rpartition(" @ $.")
            else:  # the error is about the top level itself (e.g. an unknown top-level key)
                message, _, key = line.rpartition(" @ $")
                message, key = message or line, ""
            src = f" (from {sources[key]})" if key in sources else ""
            if "extra fields" in message:
                # sources are recorded per leaf key: name the file the section came from
                src = src or next(
                    (
                        f" (from {v})"
                        for k, v in sources.items()
                        if not key or k.startswith(key + ".")
                    ),
                    "",
                )
                where = f"in section {key!r}" if key else "at the top level"
                messages.append(f"{message} {where}{src}")
            else:
                value = _lookup(data, key)
                messages.append(f"{key or '?'} = {value!r}{src}: {message}")
        raise ConfigError("Invalid configuration: " + "; ".join(messages)) from None
    _validate(config, sources)
    return config, sources


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and full != "plugins.settings":
            out.update(_flatten(value, full + "."))
        else:
            out[full] = value
    return out


def _lookup(data: Mapping[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
