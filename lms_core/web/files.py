"""Serving stored files: ``/files/<id>/<name>``, checked against the owning use's rule.

The file is streamed from the store (never read whole), with ranges (``206 Partial Content``,
so a video can be sought), an ETag that is the content's SHA-256, ``X-Content-Type-Options:
nosniff`` and a ``Content-Disposition``: ``inline`` for what a browser shows safely (PDF,
video, audio, PNG/JPEG/GIF images), ``attachment`` for the rest or with ``?download=1``.

The name in the address is cosmetic (the id decides); a file whose use belongs to a disabled
plugin answers 404, one the reader may not open 403 (sign in first when anonymous).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any
from typing import TypeVar
from urllib.parse import quote

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import abort
from flask import redirect
from flask import request
from flask import url_for
from werkzeug.wsgi import wrap_file

from lms_core.errors import Forbidden
from lms_core.errors import NotFound
from lms_core.services import files as file_service
from lms_core.web.db import lms
from lms_core.web.db import read_ctx
from lms_core.web.decorators import public

__all__ = ["bp", "accepts_uploads", "init_app"]

bp = Blueprint("files", __name__)

F = TypeVar("F", bound=Callable[..., Any])

#: The inline response may be framed by this site's own pages (the PDF viewer on a lesson),
#: and runs nothing of its own.
_INLINE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; frame-ancestors 'self'"
_DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def accepts_uploads(view: F) -> F:
    """Mark a view that takes file uploads: its requests may be as large as
    ``[files] max_upload_mb`` (others keep the site's small limit)."""
    view.lms_uploads = True  # type: ignore[attr-defined]
    return view


def init_app(app: Flask) -> None:
    """Raise the request size limit on upload views, before any form is parsed; give
    templates ``file_url(lesson)`` and ``human_size(n)``."""
    from lms_core.default_lessons import file_lesson_url

    app.jinja_env.globals["file_url"] = file_lesson_url
    app.jinja_env.globals["human_size"] = file_service.human_size

    def _upload_limit() -> None:
        view = app.view_functions.get(request.endpoint or "")
        if view is not None and getattr(view, "lms_uploads", False):
            request.max_content_length = lms().config.files.max_upload_mb * 1_000_000

    # First of all before-request functions: CSRF protection reads the form, and the limit
    # must be in place before anything does.
    app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)


def _disposition(kind: str, filename: str) -> dict[str, str]:
    try:
        filename.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
        quoted = quote(filename, safe="!#$&+-.^_`|~")
        return {"filename": simple or "file", "filename*": f"UTF-8''{quoted}"}
    return {"filename": filename}


def _inline(content_type: str) -> bool:
    return any(
        content_type == t or (t.endswith("/") and content_type.startswith(t))
        for t in file_service.INLINE_TYPES
    )


@bp.route("/files/<id:file_id>/<path:filename>")
@public
def serve(file_id: int, filename: str) -> Any:
    ctx = read_ctx()
    try:
        row = file_service.readable_file(ctx, file_id)
    except NotFound:
        abort(404)
    except Forbidden:
        if ctx.actor is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403)
    inline = _inline(row.content_type) and not request.args.get("download")
    kind = "inline" if inline else "attachment"
    handle = file_service.open_file(ctx, row)
    response = Response(
        wrap_file(request.environ, handle),
        mimetype=row.content_type,
        direct_passthrough=True,
    )
    response.content_length = row.size
    response.headers.set("Content-Disposition", kind, **_disposition(kind, row.filename))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _INLINE_CSP if inline else _DOWNLOAD_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN" if inline else "DENY"
    # Revalidated each time (the reader's access may end), answered 304 when unchanged.
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(row.sha256)
    response.last_modified = row.created_at
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=row.size)
