"""Redirects to a target the request names (``next=``, a filter's ``redirect_to``): only ever
to a path on this site, so no link or form can send people elsewhere (no open redirects)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect
from werkzeug.wrappers import Response

__all__ = ["safe_next", "redirect_to"]


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None."""
    if not isinstance(target, str) or not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "/\\host" as "//host" and drop tabs and newlines; refuse all of them.
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    return target


def redirect_to(target: str | None, fallback: str) -> Response:
    """Redirect to ``target`` when it is a path on this site, else to ``fallback``."""
    return redirect(safe_next(target) or fallback)
