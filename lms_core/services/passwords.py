"""Password hashing with argon2id (argon2-cffi's default variant and parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

from lms_core.errors import Invalid

__all__ = ["hash_password", "verify_password", "needs_rehash", "check_password_policy"]

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile

# A hash of a random password, verified against when the account does not exist, so that
# "no such user" and "wrong password" take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0b7c3e")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_password_policy(password: str, *, min_length: int = 10, email: str | None = None) -> None:
    """Raise :class:`Invalid` naming what is wrong with ``password``."""
    if not isinstance(password, str) or len(password) < min_length:
        raise Invalid(
            f"The password must be at least {min_length} characters long.", field="password"
        )
    if len(password) > 1024:
        raise Invalid("The password must be at most 1024 characters long.", field="password")
    if email and password.strip().lower() == email.strip().lower():
        raise Invalid("The password must not be your email address.", field="password")
