"""Typed errors raised by services, configuration and the plugin layer.

Every error carries a human message that the CLI, the web UI and the API show as they are.
"""

from __future__ import annotations

__all__ = [
    "LMSError",
    "NotFound",
    "Forbidden",
    "Invalid",
    "Conflict",
    "Rejected",
    "TooManyAttempts",
    "ConfigError",
    "PluginError",
]


class LMSError(Exception):
    """Base class of every error the core raises on purpose."""

    #: A short machine-readable code, used by the JSON API's problem details.
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(LMSError):
    """The thing asked for does not exist (or the actor may not know that it does)."""

    code = "not_found"


class Forbidden(LMSError):
    """The actor lacks the permission the action needs."""

    code = "forbidden"

    def __init__(self, message: str, permission: str | None = None) -> None:
        super().__init__(message)
        self.permission = permission


class Invalid(LMSError):
    """Input failed validation. ``field`` names the offending input when there is one."""

    code = "invalid"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(LMSError):
    """The action clashes with the current state (duplicate email, course full, ...)."""

    code = "conflict"


class Rejected(LMSError):
    """A filter hook vetoed the action; ``redirect_to`` optionally tells the UI where to go
    (a path on this site: the UI follows no other target)."""

    code = "rejected"

    def __init__(self, message: str, redirect_to: str | None = None) -> None:
        super().__init__(message)
        self.redirect_to = redirect_to


class TooManyAttempts(LMSError):
    """Too many attempts (failed sign-ins, reset requests) for now; ``retry_after`` seconds."""

    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigError(LMSError):
    """The configuration is unusable; the message names the key, the value and what was expected."""

    code = "config"


class PluginError(LMSError):
    """A plugin is broken, incompatible, or cannot be enabled/disabled as asked."""

    code = "plugin"
