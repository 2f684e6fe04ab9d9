"""The file store for plugins: certificate PDFs, forum attachments, report exports, lessons.

A plugin declares what it stores files for with ``lms_register_file_uses`` (a
:class:`~lms_core.contributions.FileUse`: a size limit, the content types it accepts, who may
download one) and calls :func:`store`. The bytes are content-addressed (SHA-256: the same bytes
are kept once), their type is sniffed from the content (never from the name or the header),
and they are served by ``/files/<id>/<name>`` after :func:`readable_file` has checked the use's
rule. A file with an ``owner`` is in that person's privacy export and goes with their erasure.

Refusals raise :class:`~lms_core.errors.Invalid` with ``field="file"`` and a message a person
can act on; nothing is half-written (the row is added only once its bytes are stored).
"""

from __future__ import annotations

import io
import mimetypes
import re
import unicodedata
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from sqlalchemy import select

from lms_core.context import Context
from lms_core.contributions import FileUse
from lms_core.db import utcnow
from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.filestore import CHUNK
from lms_core.filestore import SNIFF_BYTES
from lms_core.filestore import BlobStore
from lms_core.filestore import sniff
from lms_core.models import Course
from lms_core.models import StoredFile
from lms_core.models import User
from lms_core.services.audit import audit
from lms_core.services.permissions import can

__all__ = [
    "NEVER_STORED",
    "INLINE_TYPES",
    "store",
    "get_file",
    "readable_file",
    "may_read",
    "open_file",
    "url_for_file",
    "delete_file",
    "files_of",
    "erase_files_of",
    "file_use",
    "clean_filename",
    "human_size",
    "type_title",
]

#: Types no use may store: a browser shown them from this site would run their scripts.
NEVER_STORED = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "application/x-shockwave-flash",
    }
)

#: Types the file route lets the browser show in the page (the rest are downloads).
INLINE_TYPES = ("application/pdf", "video/", "audio/", "image/png", "image/jpeg", "image/gif")

_TITLES = {
    "application/pdf": "a PDF",
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "image/svg+xml": "an SVG image",
    "text/html": "a web page (HTML)",
    "text/plain": "plain text",
    "application/zip": "a zip archive",
    "application/x-dosexec": "a Windows program",
    "application/octet-stream": "of no type we recognise",
    "application/msword": "a Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "a Word document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "an Excel spreadsheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "a PowerPoint presentation"
    ),
    "application/vnd.oasis.opendocument.text": "an OpenDocument text",
    "application/vnd.oasis.opendocument.spreadsheet": "an OpenDocument spreadsheet",
    "application/vnd.oasis.opendocument.presentation": "an OpenDocument presentation",
    "video/mp4": "an MP4 video",
    "video/webm": "a WebM video",
    "video/ogg": "an Ogg video",
    "audio/mpeg": "an MP3 audio file",
    "audio/ogg": "an Ogg audio file",
    "audio/wav": "a WAV audio file",
    "audio/mp4": "an M4A audio file",
    "audio/webm": "a WebM audio file",
}

# Python's own table only (not the machine's /etc/mime.types): the same answer everywhere.
_MIME = mimetypes.MimeTypes(filenames=())
for _type, _ext in (
    ("audio/mp4", ".m4a"),
    ("audio/ogg", ".oga"),
    ("audio/ogg", ".ogg"),
    ("video/webm", ".webm"),
    ("audio/wav", ".wav"),
    ("audio/flac", ".flac"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"),
    ("application/vnd.oasis.opendocument.text", ".odt"),
    ("application/vnd.oasis.opendocument.spreadsheet", ".ods"),
    ("application/vnd.oasis.opendocument.presentation", ".odp"),
):
    _MIME.add_type(_type, _ext)

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\"\\/:*?<>|]+")


def type_title(content_type: str) -> str:
    """``a PDF``, ``an MP4 video``: a content type as people name it."""
    if content_type in _TITLES:
        return _TITLES[content_type]
    major = content_type.split("/", 1)[0]
    kind = {"video": "a video", "audio": "an audio file", "image": "an image"}.get(major)
    return f"{kind} ({content_type})" if kind else f"a file of type {content_type}"


def _types_title(types: tuple[str, ...]) -> str:
    names: list[str] = []
    for t in types:
        name = {"video/*": "a video", "audio/*": "an audio file", "image/*": "an image"}.get(t)
        name = name or type_title(t)
        if name not in names:
            names.append(name)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def human_size(size: int) -> str:
    """``7.1 MB``, ``512 bytes`` (decimal units, as people read sizes)."""
    if size < 1000:
        return f"{size} byte" + ("" if size == 1 else "s")
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 999.95:
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{value / 1000:.1f}".removesuffix(".0") + " TB"


def clean_filename(name: str | None, content_type: str | None = None) -> str:
    """The name an upload is shown and offered under: its last path part, no control or
    path characters, valid Unicode, at most 200 characters, with an extension when it had none.

    The bytes never go to disk under this name; it is for display and downloads only.
    """
    # Lone surrogates (a name that was not valid UTF-8) are dropped, not shown as "?".
    text = (name or "").encode("utf-8", "ignore").decode("utf-8")
    text = unicodedata.normalize("NFC", text)
    text = re.split(r"[\\/]", text)[-1]
    text = _UNSAFE_NAME.sub("_", text).strip(" .")
    if len(text) > 200:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else text[:200]
    if not text:
        text = "file"
    if content_type and "." not in text:
        ext = _MIME.guess_extension(content_type) or ""
        text += ext
    return text


def _effective_limit(ctx: Context, use: FileUse) -> int:
    if ctx.lms is not None and use.name in ctx.lms.config.files.limits:
        return ctx.lms.config.files.limits[use.name] * 1_000_000
    return use.max_bytes


def file_use(ctx: Context, name: str) -> tuple[str, FileUse]:
    """(plugin, use) for a use name; :class:`Invalid` when no installed plugin declares it."""
    found = ctx.hooks.file_uses().get(name)
    if found is None:
        raise Invalid(f"{name!r} is not a file use on this site.", field="use")
    return found


def _matches(content_type: str, patterns: tuple[str, ...]) -> bool:
    return any(
        content_type == p or (p.endswith("/*") and content_type.startswith(p[:-1]))
        for p in patterns
    )


def _same_family(a: str, b: str) -> bool:
    """Whether two types name one format (``audio/mp4`` and ``video/mp4``; two kinds of text)."""
    if a == b:
        return True
    a_major, _, a_sub = a.partition("/")
    b_major, _, b_sub = b.partition("/")
    if a_sub == b_sub and {a_major, b_major} <= {"audio", "video"}:
        return True
    return a_major == b_major == "text"


def _check_name_matches(filename: str, content_type: str) -> None:
    """Refuse a name whose extension claims another type than the content has."""
    claimed = _MIME.guess_type(filename)[0]
    if claimed is None:
        return
    claimed = {"audio/x-wav": "audio/wav"}.get(claimed, claimed)
    if not _same_family(claimed, content_type):
        ext = filename.rpartition(".")[2]
        raise Invalid(
            f"The file is named .{ext} but its content is {type_title(content_type)}: "
            "rename it, or upload the file you meant.",
            field="file",
        )


def _chunks(source: IO[bytes], head: bytes, limit: int, use: FileUse) -> Iterator[bytes]:
    yield head
    size = len(head)
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            return
        size += len(chunk)
        if size > limit:
            raise Invalid(
                f"The file is over the {human_size(limit)} limit for {use.title}.", field="file"
            )
        yield chunk


def _known_size(source: IO[bytes]) -> int | None:
    try:
        if not source.seekable():
            return None
        here = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(here)
        return end - here
    except (OSError, ValueError, AttributeError):
        return None


def store(
    ctx: Context,
    *,
    use: str,
    data: bytes | IO[bytes],
    filename: str | None,
    owner: User | None = None,
    course: Course | None = None,
) -> StoredFile:
    """Store a file for ``use`` and return its row (flushed, so it has an id).

    The caller decides who may store (the core's lesson editor checks ``course.edit``); this
    checks what is stored: not empty, within the use's size limit, of a type the use accepts
    (sniffed from the bytes), named with an extension that does not claim another type.

    :param data: the bytes, or a binary stream read in chunks (an upload is never read whole
        into memory).
    :param filename: as uploaded; cleaned by :func:`clean_filename`, shown and offered on
        download only.
    :param owner: the person the file is about, if any (their export and erasure cover it).
    :param course: the course it belongs to, if any (a course-scoped ``read_permission`` is
        checked there).
    :raises Invalid: with ``field="file"``, naming what is wrong.
    """
    _plugin, spec = file_use(ctx, use)
    source: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    limit = _effective_limit(ctx, spec)
    known = _known_size(source)
    if known is not None and known > limit:
        raise Invalid(
            f"The file is {human_size(known)}, over the {human_size(limit)} limit for "
            f"{spec.title}.",
            field="file",
        )
    head = source.read(SNIFF_BYTES)
    if not head:
        raise Invalid("The file is empty (0 bytes): choose the file again.", field="file")
    if len(head) > limit:
        raise Invalid(
            f"The file is over the {human_size(limit)} limit for {spec.title}.", field="file"
        )
    content_type = sniff(head)
    if content_type in NEVER_STORED or not _matches(content_type, spec.types):
        raise Invalid(
            f"The content is {type_title(content_type)}, but {spec.title} must be "
            f"{_types_title(spec.types)}.",
            field="file",
        )
    name = clean_filename(filename, content_type)
    _check_name_matches(name, content_type)
    blobs = _blobs(ctx)
    received = blobs.put(_chunks(source, head, limit, spec))
    row = StoredFile(
        sha256=received.sha256,
        size=received.size,
        content_type=content_type,
        filename=name,
        use=use,
        owner_id=owner.id if owner is not None else None,
        course_id=course.id if course is not None else None,
        created_at=utcnow(),
        created_by_id=ctx.actor_id,
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit(
        ctx,
        "file.store",
        ("file", row.id, name),
        use=use,
        sha256=row.sha256,
        size=row.size,
        content_type=content_type,
    )
    return row


def _blobs(ctx: Context) -> BlobStore:
    if ctx.lms is None:
        raise RuntimeError("the file store needs a unit of work with the runtime attached")
    return ctx.lms.files


def get_file(ctx: Context, file_id: int) -> StoredFile:
    row = ctx.session.get(StoredFile, file_id)
    if row is None:
        raise NotFound("There is no such file.")
    return row


def may_read(ctx: Context, row: StoredFile) -> bool:
    """Whether the actor may download ``row``: its owner, a holder of the use's
    ``read_permission`` (in the file's course), or whom the use's ``may_read`` lets."""
    if ctx.system:
        return True
    found = ctx.hooks.file_uses().get(row.use)
    if found is None:
        return False
    spec = found[1]
    actor = ctx.actor
    if actor is not None and not actor.is_active:
        return False
    if actor is not None and row.owner_id is not None and row.owner_id == actor.id:
        return True
    if spec.read_permission and can(actor, spec.read_permission, row.course_id):
        return True
    # Called for anonymous readers too: a use may make its files public (badge images).
    return bool(spec.may_read is not None and spec.may_read(ctx, row))


def readable_file(ctx: Context, file_id: int) -> StoredFile:
    """The file, if the actor may download it.

    :raises NotFound: no such file, or its use belongs to a plugin that is not enabled.
    :raises Forbidden: the actor may not read it.
    """
    row = get_file(ctx, file_id)
    found = ctx.hooks.file_uses().get(row.use)
    if found is None or not ctx.hooks.is_enabled(found[0]):
        raise NotFound("There is no such file.")
    if not may_read(ctx, row):
        raise Forbidden("You are not allowed to open this file.", found[1].read_permission)
    return row


def open_file(ctx: Context, row: StoredFile) -> IO[bytes]:
    """The file's bytes, as a seekable binary stream (close it when done)."""
    return _blobs(ctx).open(row.sha256)


def url_for_file(row: StoredFile) -> str:
    """The path the file is served at (``/files/12/notes.pdf``)."""
    return f"/files/{row.id}/{quote(row.filename, safe='')}"


def _forget_blobs(ctx: Context, shas: set[str]) -> None:
    """After commit, delete the blobs of ``shas`` that no row names any more."""
    if not shas or ctx.lms is None:
        return
    runtime = ctx.lms

    def delete_unused() -> None:
        with runtime.session() as session:
            used = set(
                session.scalars(
                    select(StoredFile.sha256).where(StoredFile.sha256.in_(sorted(shas)))
                )
            )
        for sha in shas - used:
            runtime.files.delete(sha)

    ctx.after_commit.append(delete_unused)


def delete_file(ctx: Context, row: StoredFile) -> None:
    """Delete a file's row; its bytes go after commit when no other row names them.

    The caller checks who may delete (as it checked who may store).
    """
    row = ctx.attach(row)
    audit(ctx, "file.delete", ("file", row.id, row.filename), use=row.use, sha256=row.sha256)
    ctx.session.delete(row)
    ctx.session.flush()
    _forget_blobs(ctx, {row.sha256})


def files_of(ctx: Context, user: User) -> list[StoredFile]:
    """The files whose owner is ``user``, oldest first."""
    return list(
        ctx.session.scalars(
            select(StoredFile).where(StoredFile.owner_id == user.id).order_by(StoredFile.id)
        )
    )


def erase_files_of(ctx: Context, user: User) -> int:
    """Delete every file ``user`` owns (bytes another row still names stay). Returns how many.

    Files they uploaded for others (course material) stay, no longer naming them.
    """
    rows = files_of(ctx, user)
    shas = {row.sha256 for row in rows}
    for row in rows:
        ctx.session.delete(row)
    uploaded = ctx.session.scalars(select(StoredFile).where(StoredFile.created_by_id == user.id))
    for row in uploaded:
        row.created_by_id = None
    ctx.session.flush()
    _forget_blobs(ctx, shas)
    return len(rows)
