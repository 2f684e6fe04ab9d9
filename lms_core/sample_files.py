"""Small real files built in code: the demo's lesson files, and test material.

``pdf(lines)`` is a valid one-page PDF (browsers' viewers open it); ``wav(seconds)`` a short
tone. No binary files ship in the repository.
"""

from __future__ import annotations

import io
import math
import wave

__all__ = ["pdf", "wav"]


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf(lines: list[str], *, title: str = "Document") -> bytes:
    """A one-page A4 PDF showing ``lines`` (Latin-1 text) in Helvetica."""
    body = ["BT", "/F1 14 Tf", "72 770 Td", "18 TL"]
    for line in lines:
        body.append(f"({_pdf_text(line)}) '")
    body.append("ET")
    stream = "\n".join(body).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Title (" + _pdf_text(title).encode("latin-1", "replace") + b") >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, len(objects), xref)
    )
    return out.getvalue()


def wav(seconds: float = 1.0, *, hz: int = 440, rate: int = 8000) -> bytes:
    """A mono 8-bit WAV of a sine tone."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        frames.append(128 + int(60 * math.sin(2 * math.pi * hz * i / rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()
