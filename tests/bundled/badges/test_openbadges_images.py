"""Badge image validation and the generated default image (no database needed)."""

from __future__ import annotations

import struct
import zlib

import pytest

from lms_core.errors import Invalid
from plugins.badges.images import default_badge_svg
from plugins.badges.images import validate_image


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    if crc is None:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def make_png(
    width: int = 2, height: int = 2, *, bad_crc: bool = False, trailer: bytes = b""
) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x10\x20\x30\xff" * min(width, 4) for _ in range(min(height, 4)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw), crc=0 if bad_crc else None)
        + chunk(b"IEND", b"")
        + trailer
    )


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle r="4" cx="5" cy="5"/></svg>'


def rejects(data: bytes, content_type: str, message: str, max_kb: int = 256) -> None:
    with pytest.raises(Invalid, match=message) as info:
        validate_image(data, content_type, max_kb)
    assert info.value.field == "image"


def test_accepts_a_valid_png_and_svg() -> None:
    picture = make_png()
    assert validate_image(picture, "image/png", 256) == (picture, "image/png")
    # The content decides, not a vague declared type.
    assert validate_image(picture, "application/octet-stream", 256)[1] == "image/png"
    assert validate_image(SVG, "image/svg+xml", 256) == (SVG, "image/svg+xml")
    with_decl = b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by hand -->\n' + SVG
    assert validate_image(with_decl, "image/svg+xml", 256)[1] == "image/svg+xml"


def test_rejects_oversize_with_the_numbers() -> None:
    padded = SVG.replace(b"<circle", b"<!--" + b"x" * 3000 + b"--><circle")
    assert validate_image(padded, "image/svg+xml", 4)[1] == "image/svg+xml"
    rejects(padded, "image/svg+xml", r"The image is 4 KB; the limit is 2 KB\.", max_kb=2)
    # The size is checked before anything is parsed.
    rejects(b"\x00" * (300 * 1024), "image/png", r"The image is 300 KB; the limit is 256 KB\.")


def test_rejects_what_is_not_an_image() -> None:
    rejects(b"GIF89a....", "image/gif", r"That file is not a PNG or SVG image\.")
    rejects(b"%PDF-1.7", "application/pdf", r"That file is not a PNG or SVG image\.")
    rejects(b"", "image/png", "empty")
    rejects(b"<html><body>hi</body></html>", "text/html", "root element must be <svg>")
    rejects(b"<svg><unclosed>", "image/svg+xml", r"not a PNG or SVG image")
    # Right root name, wrong namespace.
    rejects(b"<svg><rect/></svg>", "image/svg+xml", "SVG namespace")


def test_rejects_broken_pngs() -> None:
    rejects(make_png(bad_crc=True), "image/png", "bad CRC")
    rejects(make_png()[:-6], "image/png", "not a valid PNG")
    rejects(make_png(trailer=b"<script>alert(1)</script>"), "image/png", "data after IEND")
    rejects(make_png(4096, 16), "image/png", r"4096 × 16 pixels")
    rejects(b"\x89PNG\r\n\x1a\n" + chunk(b"IEND", b""), "image/png", "IHDR")
    rejects(b"not a png at all", "image/png", "not a valid PNG")


@pytest.mark.parametrize(
    ("svg", "message"),
    [
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "<script>",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><s:script xmlns:s="http://www.w3.org/2000/svg">x</s:script></svg>',
            "<script>",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handlers"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect ONCLICK="x()"/></svg>', "event handlers"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
            b'<a xlink:href=" jav&#x09;ascript:alert(1)"><text>x</text></a></svg>',
            "javascript:",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><a href="JavaScript:alert(1)">x</a></svg>',
            "javascript:",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject></svg>',
            "foreignObject",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>',
            "DOCTYPE or ENTITY",
        ),
        (
            b'<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>',
            "DOCTYPE or ENTITY",
        ),
        (
            b'<?xml-stylesheet href="https://evil.example/x.css"?><svg xmlns="http://www.w3.org/2000/svg"/>',
            "style sheets",
        ),
    ],
)
def test_rejects_active_svg_content(svg: bytes, message: str) -> None:
    rejects(svg, "image/svg+xml", message)


def test_default_image_is_a_deterministic_valid_svg() -> None:
    one = default_badge_svg("Python Pioneer", "python-pioneer")
    assert one == default_badge_svg("Python Pioneer", "python-pioneer")
    assert one != default_badge_svg("Python Pioneer", "another-seed")
    assert validate_image(one, "image/svg+xml", 256)[1] == "image/svg+xml"
    assert b">PP</text>" in one
    assert b">S</text>" not in default_badge_svg("Safety", "s")
    assert b">SA</text>" in default_badge_svg("Safety", "s")
    # Names are escaped, never markup.
    odd = default_badge_svg('<b>"Tom" & Jerry</b>', "x")
    assert validate_image(odd, "image/svg+xml", 256)[1] == "image/svg+xml"
    assert b"<b>" not in odd
