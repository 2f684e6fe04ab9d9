"""The file store's bytes: content-addressed blobs on any fsspec filesystem.

A blob lives at ``<root>/sha256/ab/cd/<hex>``: the same bytes are kept once whatever their
names. A blob is written under a temporary name and then moved into place, so a crash never
leaves half a blob under its final name. The core writes no storage backend of its own:
``file://`` (the default, a folder in the instance path), ``memory://`` (tests) or any URL
an installed fsspec implementation understands (``s3://``, ``gcs://``, a shared folder).

The type of a file is sniffed from its first bytes with libmagic (``python-magic``), never
taken from its name or the uploader's Content-Type.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import IO
from typing import Any

import fsspec
import magic
from attrs import frozen

__all__ = ["BlobStore", "Received", "sniff", "SNIFF_BYTES"]

#: How much of a file the sniffer sees: enough for libmagic to look inside the zip
#: containers of Office and OpenDocument files.
SNIFF_BYTES = 1024 * 1024
CHUNK = 1024 * 1024

#: libmagic's names for types that have a registered (IANA) name browsers know better.
_CANONICAL = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-m4a": "audio/mp4",
    "video/x-m4v": "video/mp4",
    "audio/x-flac": "audio/flac",
    "application/x-pdf": "application/pdf",
}


def sniff(head: bytes) -> str:
    """The content type of a file whose first bytes are ``head`` (``application/octet-stream``
    when libmagic cannot tell)."""
    found = magic.from_buffer(head, mime=True) or "application/octet-stream"
    return _CANONICAL.get(found, found)


@frozen
class Received:
    """What :meth:`BlobStore.put` stored."""

    sha256: str
    size: int


class BlobStore:
    """Blobs under one fsspec URL."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url, **options)
        self.root = root.rstrip("/")

    def path(self, sha256: str) -> str:
        return f"{self.root}/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        return bool(self.fs.exists(self.path(sha256)))

    def put(self, chunks: Iterator[bytes]) -> Received:
        """Write ``chunks`` as one blob; the same bytes already stored are kept, not copied.

        The bytes go to ``<root>/tmp/<random>`` first, hashed as they pass, then move to
        their final name. Whatever the caller raises while ``chunks`` runs (a size limit, a
        dropped upload), the temporary file is removed and nothing else is written.
        """
        tmp_dir = f"{self.root}/tmp"
        self.fs.makedirs(tmp_dir, exist_ok=True)
        tmp = f"{tmp_dir}/{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        try:
            with self.fs.open(tmp, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            final = self.path(sha)
            if self.fs.exists(final):
                self.fs.rm(tmp)
            else:
                self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
                self.fs.mv(tmp, final)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise
        return Received(sha256=sha, size=size)

    def open(self, sha256: str) -> IO[bytes]:
        """The blob for reading (seekable, so a range can be served without reading the rest)."""
        fh: IO[bytes] = self.fs.open(self.path(sha256), "rb")
        return fh

    def delete(self, sha256: str) -> None:
        path = self.path(sha256)
        if self.fs.exists(path):
            self.fs.rm(path)
