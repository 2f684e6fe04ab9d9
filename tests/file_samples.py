"""The first bytes of real formats, enough for libmagic to tell them apart."""

from __future__ import annotations

import io
import struct
import zipfile

from lms_core.sample_files import pdf
from lms_core.sample_files import wav

__all__ = ["SAMPLES", "pdf", "wav", "mp4"]


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(size: int = 4096) -> bytes:
    """An ISO media file of about ``size`` bytes (an ftyp box, then data)."""
    head = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")
    return (
        head
        + _box(b"mdat", bytes(range(256)) * ((size - len(head)) // 256 + 1))[: size - len(head)]
    )


def _zip(entries: list[tuple[str, str]], first: tuple[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        if first:
            zf.writestr(zipfile.ZipInfo(first[0]), first[1])
        for name, text in entries:
            zf.writestr(name, text)
    return out.getvalue()


SAMPLES = {
    "pdf": pdf(["Sample"]),
    "mp4": mp4(),
    "webm": bytes.fromhex(
        "1a45dfa39f4286810142f7810142f2810442f381084282847765626d4287810442858102"
    )
    + bytes(64),
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(400),
    "wav": wav(0.1),
    "ogg": b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x01vorbis" + bytes(64),
    "m4a": _box(b"ftyp", b"M4A \x00\x00\x00\x00M4A mp42isom") + _box(b"mdat", bytes(64)),
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    + bytes(20),
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(64),
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "docx": _zip(
        [
            (
                "[Content_Types].xml",
                '<Types><Override ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
            ),
            ("_rels/.rels", "<x/>"),
            ("word/document.xml", "<w/>"),
        ]
    ),
    "odt": _zip(
        [("content.xml", "<x/>")], first=("mimetype", "application/vnd.oasis.opendocument.text")
    ),
    "zip": _zip([("a.txt", "hi")]),
    "exe": b"MZ\x90\x00" + bytes(100),
}
