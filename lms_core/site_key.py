"""The site's secret key: configured, or generated once and kept in the instance folder.

It signs sessions, CSRF tokens, reset links and unsubscribe links, so the web workers and the
background workers (which build unsubscribe links into mail) must all use the same one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from lms_core.config import Config

__all__ = ["site_secret_key"]


def site_secret_key(config: Config) -> str:
    """The configured key, else one generated once and kept in the instance folder.

    Every worker of a deployment shares the instance folder, so they share the key. Workers
    start at the same moment, so the file must never be seen half-written: the key is written
    to a temporary file first and then hard-linked into place, which fails if another worker
    got there first (and then its key is the one used). A rename would replace a key another
    worker may already be using.
    """
    if config.secret_key:
        return config.secret_key
    path = Path(config.instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"the secret key file {path} is empty: delete it or set secret_key")
    return key
