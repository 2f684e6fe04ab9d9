"""Badge images: validation of uploaded PNG/SVG files and a generated default medal.

Uploaded images are checked, not trusted:

* PNG: the signature, then every chunk is walked (lengths in bounds, CRC-32 verified), IHDR
  must come first with sane dimensions (at most 2048 × 2048), at least one IDAT, and IEND
  must end the file (nothing may trail it: no polyglot files).
* SVG: DOCTYPE and ENTITY declarations are refused before parsing (no XXE, no entity
  expansion bombs); the document must parse and its root must be ``<svg>`` in the SVG
  namespace; ``<script>``, ``<foreignObject>`` and other embedding elements, ``on*``
  event-handler attributes and ``javascript:`` links are refused.

The validated bytes are stored as they were uploaded (so the artist's file is kept intact);
SVGs are additionally served with a restrictive Content-Security-Policy.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import math
import re
import struct
import zlib
from xml.etree import ElementTree

from lms_core.errors import Invalid

__all__ = [
    "PNG_SIGNATURE",
    "PNG_TYPE",
    "SVG_TYPE",
    "MAX_DIMENSION",
    "validate_image",
    "validate_png",
    "validate_svg",
    "default_badge_svg",
    "default_badge_png",
    "iter_png_chunks",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_TYPE = "image/png"
SVG_TYPE = "image/svg+xml"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
#: Largest accepted width or height of a PNG badge, in pixels.
MAX_DIMENSION = 2048
#: Elements that run code or embed other documents: never allowed in a badge.
FORBIDDEN_SVG_ELEMENTS = frozenset(
    {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener"}
)
_DANGEROUS_URL = re.compile(r"^(javascript|vbscript|data:text/html)", re.IGNORECASE)
_NOT_AN_IMAGE = "That file is not a PNG or SVG image."


def validate_image(data: bytes, content_type: str, max_kb: int) -> tuple[bytes, str]:
    """Check an uploaded badge image; return ``(data, canonical content type)``.

    The kind is decided by the content (a PNG signature, or an XML document), not by the
    declared ``content_type`` alone (browsers send ``application/octet-stream`` for some
    files); a declared type that is neither PNG nor SVG is refused unless the content is one.
    Raises :class:`~lms_core.errors.Invalid` (``field="image"``) with a message for the user.
    """
    if not data:
        raise Invalid("The image file is empty.", field="image")
    limit = max_kb * 1024
    if len(data) > limit:
        size_kb = (len(data) + 1023) // 1024
        raise Invalid(f"The image is {size_kb} KB; the limit is {max_kb} KB.", field="image")
    declared = (content_type or "").split(";")[0].strip().lower()
    if data.startswith(PNG_SIGNATURE):
        validate_png(data)
        return data, PNG_TYPE
    if declared == PNG_TYPE:
        raise Invalid("That file is not a valid PNG image.", field="image")
    if _looks_like_xml(data) or declared == SVG_TYPE:
        validate_svg(data)
        return data, SVG_TYPE
    raise Invalid(_NOT_AN_IMAGE, field="image")


def _looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"<")


def iter_png_chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """The chunks of a PNG as ``(type, data, offset of the chunk)``; CRCs are verified.

    Raises :class:`ValueError` with a short reason when the file is not a well-formed PNG.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("no PNG signature")
    chunks: list[tuple[bytes, bytes, int]] = []
    pos = len(PNG_SIGNATURE)
    end = len(data)
    while pos < end:
        if pos + 12 > end:
            raise ValueError("truncated chunk header")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if length > 0x7FFFFFFF or pos + 12 + length > end:
            raise ValueError("chunk length out of bounds")
        if not all(65 <= c <= 90 or 97 <= c <= 122 for c in kind):
            raise ValueError("invalid chunk type")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in {kind.decode('ascii')} chunk")
        chunks.append((kind, body, pos))
        pos += 12 + length
        if kind == b"IEND":
            if pos != end:
                raise ValueError("data after IEND")
            return chunks
    raise ValueError("no IEND chunk")


def validate_png(data: bytes) -> tuple[int, int]:
    """Check a PNG's structure; return its ``(width, height)``. Raises Invalid."""
    try:
        chunks = iter_png_chunks(data)
    except ValueError as exc:
        raise Invalid(f"That file is not a valid PNG image ({exc}).", field="image") from None
    kind, header, _ = chunks[0]
    if kind != b"IHDR" or len(header) != 13:
        raise Invalid("That file is not a valid PNG image (no IHDR header).", field="image")
    width, height, depth, color, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", header
    )
    if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
        raise Invalid(
            f"The image is {width} × {height} pixels; the largest allowed is "
            f"{MAX_DIMENSION} × {MAX_DIMENSION}.",
            field="image",
        )
    allowed_depths = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
    if (
        depth not in allowed_depths.get(color, set())
        or compression != 0
        or filtering != 0
        or interlace not in (0, 1)
    ):
        raise Invalid("That file is not a valid PNG image (bad IHDR header).", field="image")
    if not any(k == b"IDAT" for k, _, _ in chunks):
        raise Invalid("That file is not a valid PNG image (no image data).", field="image")
    return width, height


def validate_svg(data: bytes) -> None:
    """Check an SVG is a plain, script-free image. Raises Invalid."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The SVG image must be UTF-8 text.", field="image") from None
    lowered = text.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise Invalid(
            "SVG images with DOCTYPE or ENTITY declarations are not accepted.", field="image"
        )
    if "<?xml-stylesheet" in lowered:
        raise Invalid("SVG images may not load style sheets.", field="image")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        raise Invalid(_NOT_AN_IMAGE, field="image") from None
    if root.tag != f"{{{SVG_NS}}}svg":
        raise Invalid(
            "That file is not an SVG image (its root element must be <svg> in the SVG namespace).",
            field="image",
        )
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = _local(element.tag).lower()
        if name in FORBIDDEN_SVG_ELEMENTS:
            raise Invalid(
                f"SVG images may not contain <{_local(element.tag)}> elements.", field="image"
            )
        for attribute, value in element.attrib.items():
            local = _local(attribute).lower()
            if local.startswith("on"):
                raise Invalid(
                    f"SVG images may not contain event handlers ({_local(attribute)}=...).",
                    field="image",
                )
            cleaned = re.sub(r"[\x00-\x20]", "", value)
            if local in ("href", "src", "action", "formaction", "values", "to", "from") and (
                _DANGEROUS_URL.match(cleaned)
            ):
                raise Invalid("SVG images may not contain javascript: links.", field="image")
            if "javascript:" in cleaned.lower():
                raise Invalid("SVG images may not contain javascript: links.", field="image")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag.split(":")[-1]


def _initials(name: str) -> str:
    words = [w for w in re.split(r"[\s\-_/]+", name) if w and w[0].isalnum()]
    if not words:
        return "★"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[1][0]).upper()


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def _colours(seed: str) -> dict[str, tuple[float, float, float]]:
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65535
    return {
        "main": colorsys.hls_to_rgb(hue, 0.42, 0.62),
        "dark": colorsys.hls_to_rgb(hue, 0.28, 0.62),
        "light": colorsys.hls_to_rgb(hue, 0.72, 0.70),
    }


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


@functools.lru_cache(maxsize=64)
def default_badge_png(seed: str, size: int = 256) -> bytes:
    """The generated medal as a PNG (for an OB 3.0 baked PNG of a badge without a PNG of
    its own): the SVG's scalloped rim, disc and dotted ring in the same colours, without the
    initials (no font renderer here). ``size`` × ``size`` RGBA, deterministic for ``seed``."""
    colours = {k: bytes(round(c * 255) for c in v) for k, v in _colours(seed).items()}
    clear = b"\x00\x00\x00\x00"
    rows = []
    centre = (size - 1) / 2
    scale = size / 256
    for y in range(size):
        row = bytearray(b"\x00")  # filter type 0 (None) for each scanline
        dy = y - centre
        for x in range(size):
            dx = x - centre
            distance = math.hypot(dx, dy) / scale
            # 16 scallops between radius 86 and 96, as in the SVG's rim.
            rim = 91 + 5 * math.cos(16 * math.atan2(dy, dx))
            if distance <= 76:
                ring = abs(distance - 66) <= 1.5 and math.sin(48 * math.atan2(dy, dx)) > 0.3
                row += (colours["light"] if ring else colours["main"]) + b"\xff"
            elif distance <= rim:
                row += colours["dark"] + b"\xff"
            else:
                row += clear
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


def default_badge_svg(name: str, seed: str) -> bytes:
    """A generated medal for a badge without an image: deterministic for ``(name, seed)``.

    A ribbon, a scalloped rim and a disc in a colour derived from ``seed`` (the badge's
    slug), with the badge's initials in the middle. 256 × 256, no scripts, no external
    resources, plain presentation attributes.
    """
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65535
    main = _hex(colorsys.hls_to_rgb(hue, 0.42, 0.62))
    dark = _hex(colorsys.hls_to_rgb(hue, 0.28, 0.62))
    light = _hex(colorsys.hls_to_rgb(hue, 0.72, 0.70))
    ribbon = _hex(colorsys.hls_to_rgb((hue + 0.5) % 1.0, 0.40, 0.55))
    ribbon_dark = _hex(colorsys.hls_to_rgb((hue + 0.5) % 1.0, 0.27, 0.55))
    initials = _initials(name)
    font_size = 64 if len(initials) > 1 else 76
    # A 16-point scalloped rim around (128, 112).
    points = []
    for i in range(32):
        radius = 96 if i % 2 == 0 else 86
        angle = math.pi * 2 * i / 32 - math.pi / 2
        points.append(f"{128 + radius * math.cos(angle):.1f},{112 + radius * math.sin(angle):.1f}")
    rim = " ".join(points)
    title = _escape(name)
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256" role="img" aria-label="{title}">
  <title>{title}</title>
  <polygon points="78,170 58,246 88,232 104,252 120,180" fill="{ribbon}"/>
  <polygon points="178,170 198,246 168,232 152,252 136,180" fill="{ribbon_dark}"/>
  <polygon points="{rim}" fill="{dark}"/>
  <circle cx="128" cy="112" r="76" fill="{main}"/>
  <circle cx="128" cy="112" r="66" fill="none" stroke="{light}" stroke-width="3" stroke-dasharray="2 6" stroke-linecap="round"/>
  <path d="M70 92 A62 62 0 0 1 186 92" fill="none" stroke="#ffffff" stroke-opacity="0.25" stroke-width="8" stroke-linecap="round"/>
  <text x="128" y="112" dy="0.35em" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" font-weight="700" font-size="{font_size}" fill="#ffffff">{_escape(initials)}</text>
</svg>
"""
    return svg.encode("utf-8")
