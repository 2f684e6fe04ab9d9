"""Open Badges: every award verifiable outside the site.

**Open Badges 2.0, hosted verification.** The issuer Profile, each BadgeClass and each
Assertion are JSON-LD documents served at stable public URLs under ``/badges/public``
(built from the configured ``base_url``, never from the request's host). The recipient is
identified by ``sha256$`` + hex(sha256(lower-cased email + salt)), the salt being the award's
own random ``salt``, so the documents never carry an email address. The Profile always has
the ``email`` the specification requires: the badges ``issuer_email`` setting, else the
site's mail sender (the badges admin page warns when neither is a real address).

A revoked assertion's URL answers ``410 Gone`` with ``{"@context", "id", "revoked": true}``
(the hosted-verification section of the specification), and the issuer's RevocationList
names every revoked assertion by id. Neither carries the ``revocationReason`` the
specification allows: the documents are public and the reason is about a person ("found
plagiarising"), so it stays in the signed-in pages, for the earner and those who award.

Baked images carry the assertion as the specification says: PNG in an ``iTXt`` chunk with
the keyword ``openbadges`` right after IHDR, SVG in an ``<openbadges:assertion verify=...>``
element that is the first child of ``<svg>`` (the assertion JSON in CDATA).

**Open Badges 3.0.** An ``OpenBadgeCredential`` (a W3C Verifiable Credential, data model
2.0) secured as a VC-JWT: the JWT payload *is* the credential (OB 3.0 §8.2, "native"
encoding) plus the registered claims ``iss`` (= issuer id), ``sub`` (=
``credentialSubject.id``), ``nbf`` (= validFrom), ``jti`` (= credential id), ``iat`` and
``exp`` (= validUntil, when the badge expires). The JOSE header is ``{"alg": "RS256",
"typ": "JWT", "kid": <URL of the public JWK>}``: OB 3.0 says ``typ``, if present, MUST be
``JWT``, and RS256 is the algorithm every conformant verifier accepts. The subject's ``id``
is the learner's pseudonymous ``urn:uuid:`` (a random UUID stored in
``badges_subject_ids`` the first time one of their credentials is signed, the same in all
of them); the subject also carries the hashed email as an ``IdentityObject``, so the
credential never shows the email in clear. A baked OB 3.0 PNG holds the compact JWS in an
``iTXt`` chunk with the keyword ``openbadgecredential``.

The site's signing keys live in ``badges_signing_keys``: the public JWK in clear, the private
key (PKCS#8 DER) encrypted with AES-256-GCM under a key derived by HKDF-SHA256 from the
site's secret key (:func:`lms_core.web._secret_key`, the same value as Flask's
``SECRET_KEY``), the key id as associated data. The RSA key (2048 bits) signs; an Ed25519
key (``EdDSA``, what earlier versions signed with) stays published in the JWK Set so the
credentials it signed still verify, and may still sign on request. A first key's id is fixed
per algorithm (``badges-rs256-1``, ``badges-1``) so that two processes creating it at once
collide on the unique ``kid``; the loser re-reads the winner's key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import struct
import uuid
import zlib
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms_core.errors import LMSError
from plugins.badges.images import PNG_SIGNATURE
from plugins.badges.images import iter_png_chunks
from plugins.badges.models import SigningKey
from plugins.badges.models import SubjectId

if TYPE_CHECKING:
    from lms_core.context import Context
    from lms_core.models import User
    from lms_core.runtime import LMS
    from plugins.badges.models import Award
    from plugins.badges.models import BadgeClass

__all__ = [
    "OB2_CONTEXT",
    "VC2_CONTEXT",
    "OB3_CONTEXT",
    "PREFIX",
    "issuer_url",
    "badge_class_url",
    "badge_image_url",
    "assertion_url",
    "assertion_page_url",
    "revocation_list_url",
    "jwks_url",
    "key_url",
    "identity_hash",
    "issuer_document",
    "badge_class_document",
    "assertion_document",
    "revoked_assertion_document",
    "revocation_list_document",
    "issuer_contact",
    "issuer_email",
    "bake_png",
    "unbake_png",
    "bake_svg",
    "unbake_svg",
    "signing_key",
    "subject_id",
    "public_jwks",
    "credential_document",
    "credential_jwt",
    "SigningKeyError",
]

OB2_CONTEXT = "https://w3id.org/openbadges/v2"
VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
#: Where the public documents live (the ``badges_public`` blueprint's url_prefix).
PREFIX = "/badges/public"
OB_SVG_NS = "http://openbadges.org"
#: The iTXt keyword of a baked OB 2.0 assertion, and of a baked OB 3.0 credential.
ITXT_KEYWORD = b"openbadges"
OB3_ITXT_KEYWORD = b"openbadgecredential"
#: What credentials are signed with (every conformant OB 3.0 verifier accepts RS256).
SIGNING_ALGORITHM = "RS256"
ALGORITHMS = ("RS256", "EdDSA")
#: Each algorithm's first key id (fixed, so concurrent first use collides on the unique kid).
FIRST_KIDS = {"RS256": "badges-rs256-1", "EdDSA": "badges-1"}
RSA_KEY_BITS = 2048
_HKDF_SALT = b"lms-badges/signing-key"
_HKDF_INFO = b"AES-256-GCM key for badges_signing_keys.private_key, v1"
_BLOB_VERSION = b"\x01"
_MAX_BAKED_TEXT = 1024 * 1024


class SigningKeyError(LMSError):
    """The signing key cannot be used (most often: the site's secret key changed)."""

    code = "signing_key"


# -- URLs ------------------------------------------------------------------------------


def _base(base_url: str) -> str:
    return base_url.rstrip("/") + PREFIX


def issuer_url(base_url: str) -> str:
    return f"{_base(base_url)}/issuer"


def badge_class_url(base_url: str, slug: str) -> str:
    return f"{_base(base_url)}/classes/{slug}"


def badge_image_url(base_url: str, slug: str) -> str:
    return f"{_base(base_url)}/classes/{slug}/image"


def assertion_url(base_url: str, uid: str) -> str:
    return f"{_base(base_url)}/assertions/{uid}"


def assertion_page_url(base_url: str, uid: str) -> str:
    return f"{_base(base_url)}/assertions/{uid}/page"


def revocation_list_url(base_url: str) -> str:
    return f"{_base(base_url)}/revocations"


def jwks_url(base_url: str) -> str:
    return f"{_base(base_url)}/jwks.json"


def key_url(base_url: str, kid: str) -> str:
    return f"{_base(base_url)}/keys/{kid}"


# -- Open Badges 2.0 documents ---------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (naive values are UTC, as SQLite returns them)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def identity_hash(email: str, salt: str) -> str:
    """``sha256$`` + hex digest of the lower-cased, trimmed email followed by the salt."""
    normalised = email.strip().lower()
    return "sha256$" + hashlib.sha256((normalised + salt).encode("utf-8")).hexdigest()


def _real_address(value: str) -> bool:
    """Whether ``value`` looks like an address someone can write to (not ``x@localhost``)."""
    local, at, domain = value.strip().rpartition("@")
    return bool(at and local and domain) and domain.lower() not in ("localhost", "localhost.")


def issuer_contact(site: LMS) -> str | None:
    """The issuer's contact address: the badges ``issuer_email`` setting, else the site's
    mail sender when it is a real address; None when neither is (the admin page warns)."""
    from lms_core.services.plugins import settings_for

    chosen = (settings_for(site, "badges").issuer_email or "").strip()
    if chosen:
        return chosen
    sender = (site.config.mail.sender or "").strip()
    return sender if _real_address(sender) else None


def issuer_email(site: LMS) -> str:
    """The Profile's ``email`` (required by OB 2.0): :func:`issuer_contact`, else the mail
    sender as configured (``lms@localhost`` by default), else ``badges@`` the site's host.
    Settings that no longer load (the admin page says why) count as no setting."""
    try:
        contact = issuer_contact(site)
    except LMSError:
        contact = None
    if contact is not None:
        return contact
    sender = (site.config.mail.sender or "").strip()
    if "@" in sender:
        return sender
    host = urlsplit(site.config.base_url).hostname or "localhost"
    return f"badges@{host}"


def issuer_document(site: LMS) -> dict[str, Any]:
    """The site's issuer Profile (OB 2.0 ``Issuer``)."""
    config = site.config
    base_url = config.base_url
    return {
        "@context": OB2_CONTEXT,
        "type": "Issuer",
        "id": issuer_url(base_url),
        "name": config.site_name,
        "url": base_url.rstrip("/") + "/",
        "email": issuer_email(site),
        "revocationList": revocation_list_url(base_url),
    }


def _criteria_narrative(badge: BadgeClass) -> str:
    return (
        badge.criteria_text.strip()
        or badge.description.strip()
        or f"Awarded to people who earned “{badge.name}”."
    )


def badge_class_document(badge: BadgeClass, base_url: str) -> dict[str, Any]:
    """The OB 2.0 ``BadgeClass`` of ``badge``."""
    return {
        "@context": OB2_CONTEXT,
        "type": "BadgeClass",
        "id": badge_class_url(base_url, badge.slug),
        "name": badge.name,
        "description": badge.description.strip() or badge.name,
        "image": badge_image_url(base_url, badge.slug),
        "criteria": {"narrative": _criteria_narrative(badge)},
        "issuer": issuer_url(base_url),
    }


def assertion_document(
    award: Award, badge: BadgeClass, user: User, base_url: str
) -> dict[str, Any]:
    """The OB 2.0 hosted ``Assertion`` of ``award`` (use :func:`revoked_assertion_document`
    once it is revoked)."""
    document: dict[str, Any] = {
        "@context": OB2_CONTEXT,
        "type": "Assertion",
        "id": assertion_url(base_url, award.uid),
        "recipient": {
            "type": "email",
            "hashed": True,
            "salt": award.salt,
            "identity": identity_hash(user.email, award.salt),
        },
        "badge": badge_class_url(base_url, badge.slug),
        "issuedOn": _iso(award.awarded_at),
        "verification": {"type": "hosted"},
    }
    if award.expires_at is not None:
        document["expires"] = _iso(award.expires_at)
    if award.evidence.strip():
        document["evidence"] = [{"type": "Evidence", "narrative": award.evidence.strip()}]
        document["narrative"] = award.evidence.strip()
    return document


def revoked_assertion_document(award: Award, base_url: str) -> dict[str, Any]:
    """What a revoked assertion's URL answers, with ``410 Gone`` (OB 2.0 hosted
    verification). No ``revocationReason``: it would tell anyone why a person lost a badge."""
    return {
        "@context": OB2_CONTEXT,
        "id": assertion_url(base_url, award.uid),
        "revoked": True,
    }


def revocation_list_document(revoked_uids: list[str], base_url: str) -> dict[str, Any]:
    """The issuer's OB 2.0 ``RevocationList`` (named by the issuer Profile): the ids of the
    revoked assertions, without reasons (see :func:`revoked_assertion_document`)."""
    return {
        "@context": OB2_CONTEXT,
        "type": "RevocationList",
        "id": revocation_list_url(base_url),
        "issuer": issuer_url(base_url),
        "revokedAssertions": [{"id": assertion_url(base_url, uid)} for uid in revoked_uids],
    }


# -- Baking ----------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _itxt_text(body: bytes) -> tuple[bytes, str] | None:
    """``(keyword, text)`` of an iTXt chunk body, or None if malformed."""
    keyword, sep, rest = body.partition(b"\x00")
    if not sep or len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    rest = rest[2:]
    _language, sep1, rest = rest.partition(b"\x00")
    _translated, sep2, text = rest.partition(b"\x00")
    if not (sep1 and sep2):
        return None
    if compressed:
        if method != 0:
            return None
        inflater = zlib.decompressobj()
        text = inflater.decompress(text, _MAX_BAKED_TEXT)
        if inflater.unconsumed_tail:
            return None
    try:
        return keyword, text.decode("utf-8")
    except UnicodeDecodeError:
        return None


def bake_png(
    png: bytes, assertion: str | dict[str, Any], *, keyword: bytes = ITXT_KEYWORD
) -> bytes:
    """``png`` with the assertion (its JSON, or a URL/JWS string) in an iTXt chunk named
    ``keyword`` right after IHDR (uncompressed, empty language tag and translated keyword):
    ``openbadges`` for an OB 2.0 assertion, :data:`OB3_ITXT_KEYWORD` for an OB 3.0
    credential. An earlier chunk of that keyword is replaced: a baked image holds one."""
    text = assertion if isinstance(assertion, str) else json.dumps(assertion, ensure_ascii=False)
    chunks = iter_png_chunks(png)
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValueError("a PNG must start with its IHDR chunk")
    itxt = _png_chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))
    out = [PNG_SIGNATURE]
    for index, (kind, body, _) in enumerate(chunks):
        if kind == b"iTXt":
            parsed = _itxt_text(body)
            if parsed is not None and parsed[0] == keyword:
                continue
        out.append(_png_chunk(kind, body))
        if index == 0:
            out.append(itxt)
    return b"".join(out)


def unbake_png(png: bytes, *, keyword: bytes = ITXT_KEYWORD) -> str | None:
    """The text baked into ``png`` under ``keyword`` (assertion JSON, URL or JWS), or None."""
    try:
        chunks = iter_png_chunks(png)
    except ValueError:
        return None
    for kind, body, _ in chunks:
        if kind == b"iTXt":
            parsed = _itxt_text(body)
            if parsed is not None and parsed[0] == keyword:
                return parsed[1]
    return None


_ASSERTION_ELEMENT = re.compile(
    rb"<openbadges:assertion\b[^>]*?(?:/>|>.*?</openbadges:assertion\s*>)", re.DOTALL
)


def _root_start_tag(svg: bytes) -> tuple[int, int]:
    """Offsets of the root element's start tag: ``(index of '<', index of its '>')``."""
    pos = 0
    n = len(svg)
    if svg.startswith(b"\xef\xbb\xbf"):
        pos = 3
    while pos < n:
        if svg[pos : pos + 1].isspace():
            pos += 1
        elif svg.startswith(b"<?", pos):
            pos = svg.index(b"?>", pos) + 2
        elif svg.startswith(b"<!--", pos):
            pos = svg.index(b"-->", pos) + 3
        elif svg.startswith(b"<!", pos):
            raise ValueError("SVG declarations are not supported")
        elif svg.startswith(b"<", pos):
            start = pos
            quote: int | None = None
            pos += 1
            while pos < n:
                c = svg[pos]
                if quote is not None:
                    if c == quote:
                        quote = None
                elif c in (0x22, 0x27):
                    quote = c
                elif c == 0x3E:  # '>'
                    return start, pos
                pos += 1
            break
        else:
            break
    raise ValueError("no root element")


def bake_svg(svg: bytes, assertion: dict[str, Any] | str, verify_url: str) -> bytes:
    """``svg`` with ``xmlns:openbadges`` on its root and an ``<openbadges:assertion
    verify="...">`` element holding the assertion JSON (CDATA) as the root's first child.
    The rest of the document is kept byte for byte; an earlier assertion is replaced."""
    text = assertion if isinstance(assertion, str) else json.dumps(assertion, ensure_ascii=False)
    # "]]>" would end the CDATA section; in JSON, ">" may be written as \u003e instead.
    payload = text.replace("]]>", "]]\\u003e").encode("utf-8")
    svg = _ASSERTION_ELEMENT.sub(b"", svg)
    start, end = _root_start_tag(svg)
    tag = svg[start : end + 1]
    self_closing = tag.endswith(b"/>")
    head = tag[:-2] if self_closing else tag[:-1]
    if b"xmlns:openbadges" not in head:
        head = head.rstrip() + b' xmlns:openbadges="' + OB_SVG_NS.encode() + b'"'
    verify = verify_url.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").encode()
    element = (
        b'<openbadges:assertion verify="'
        + verify
        + b'"><![CDATA['
        + payload
        + b"]]></openbadges:assertion>"
    )
    if self_closing:
        root_name = re.match(rb"<([^\s/>]+)", tag)
        closing = b"</" + (root_name.group(1) if root_name else b"svg") + b">"
        return svg[:start] + head + b">" + element + closing + svg[end + 1 :]
    return svg[:start] + head + b">" + element + svg[end + 1 :]


def unbake_svg(svg: bytes) -> str | None:
    """The assertion baked into ``svg`` (its JSON text, else its ``verify`` URL), or None."""
    lowered = svg.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        return None
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError:
        return None
    element = root.find(f".//{{{OB_SVG_NS}}}assertion")
    if element is None:
        return None
    text = (element.text or "").strip()
    return text or element.get("verify")


# -- Open Badges 3.0: the signing key --------------------------------------------------


def _site_secret(ctx: Context) -> bytes:
    if ctx.lms is not None:
        from lms_core.web import _secret_key

        return _secret_key(ctx.lms.config).encode("utf-8")
    from flask import current_app
    from flask import has_app_context

    if has_app_context():
        return str(current_app.config["SECRET_KEY"]).encode("utf-8")
    raise RuntimeError("signing badges needs the runtime (ctx.lms) or a Flask app context")


def _wrapping_key(secret: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret
    )
    return AESGCM(derived)


def _encrypt(secret: bytes, kid: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    return _BLOB_VERSION + nonce + _wrapping_key(secret).encrypt(nonce, plaintext, kid.encode())


def _decrypt(secret: bytes, kid: str, blob: bytes) -> bytes:
    if not blob.startswith(_BLOB_VERSION) or len(blob) < 1 + 12 + 16:
        raise SigningKeyError(f"The badge signing key {kid} is stored in an unknown format.")
    nonce, ciphertext = blob[1:13], blob[13:]
    try:
        return _wrapping_key(secret).decrypt(nonce, ciphertext, kid.encode())
    except InvalidTag:
        raise SigningKeyError(
            f"The badge signing key {kid} cannot be decrypted: the site's secret key has "
            "changed since it was made. Restore the old secret key (config secret_key, or "
            "the instance folder's secret_key file)."
        ) from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


PrivateKey = Ed25519PrivateKey | RSAPrivateKey


def _public_jwk(private: PrivateKey) -> dict[str, Any]:
    if isinstance(private, RSAPrivateKey):
        numbers = private.public_key().public_numbers()

        def b64int(value: int) -> str:
            return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {"kty": "RSA", "n": b64int(numbers.n), "e": b64int(numbers.e)}
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def _new_key(secret: bytes, kid: str, algorithm: str) -> SigningKey:
    private: PrivateKey = (
        generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        if algorithm == "RS256"
        else Ed25519PrivateKey.generate()
    )
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        private_key=_encrypt(secret, kid, der),
        public_jwk=_public_jwk(private),
    )


def _current_key(session: Session, algorithm: str) -> SigningKey | None:
    return session.scalars(
        select(SigningKey)
        .where(SigningKey.algorithm == algorithm)
        .order_by(SigningKey.id.desc())
        .limit(1)
    ).first()


def signing_key(
    ctx: Context, *, algorithm: str = SIGNING_ALGORITHM, create: bool = True
) -> tuple[str, PrivateKey, dict[str, Any]]:
    """The site's current signing key for ``algorithm`` (RS256 unless asked for EdDSA):
    ``(kid, private key, public JWK)``.

    Made on first use inside ``ctx``'s transaction (a savepoint): if another process made
    it at the same moment, the unique ``kid`` refuses the second row and the winner's key is
    read instead. With ``create=False`` a missing key raises :class:`SigningKeyError`.
    """
    if algorithm not in ALGORITHMS:
        raise SigningKeyError(f"Badges are not signed with {algorithm}.")
    session = ctx.session
    secret = _site_secret(ctx)
    row = _current_key(session, algorithm)
    if row is None:
        if not create:
            raise SigningKeyError(f"The site has no {algorithm} badge signing key yet.")
        candidate = _new_key(secret, FIRST_KIDS[algorithm], algorithm)
        try:
            with session.begin_nested():
                session.add(candidate)
        except IntegrityError:
            row = None
        else:
            row = candidate
        if row is None:
            row = _current_key(session, algorithm)
            if row is None:  # pragma: no cover - the winner's row is committed by now
                raise SigningKeyError("The badge signing key could not be created; try again.")
    der = _decrypt(secret, row.kid, row.private_key)
    private = serialization.load_der_private_key(der, password=None)
    wanted = RSAPrivateKey if algorithm == "RS256" else Ed25519PrivateKey
    if not isinstance(private, wanted):
        raise SigningKeyError(f"The badge signing key {row.kid} is not an {algorithm} key.")
    return row.kid, private, dict(row.public_jwk)


def public_jwks(session: Session, base_url: str) -> dict[str, Any]:
    """Every signing key's public part as a JWK Set (old keys stay, so old credentials
    still verify). Each key's ``kid`` is the URL its credentials name in their header."""
    keys = session.scalars(select(SigningKey).order_by(SigningKey.id)).all()
    return {
        "keys": [
            {
                **key.public_jwk,
                "kid": key_url(base_url, key.kid),
                "alg": key.algorithm,
                "use": "sig",
            }
            for key in keys
        ]
    }


# -- Open Badges 3.0: the learner's pseudonymous id ------------------------------------


def _subject_row(session: Session, user_id: int) -> SubjectId | None:
    return session.get(SubjectId, user_id, populate_existing=True)


def subject_id(ctx: Context, user_id: int, *, create: bool = True) -> str:
    """The learner's ``urn:uuid:`` in credentials: the same in every credential of theirs,
    random (not derived from their email or id), made on first need in ``ctx``'s
    transaction (a savepoint; a concurrent first use collides on the primary key and the
    winner's id is read). With ``create=False`` a missing id raises :class:`SigningKeyError`."""
    session = ctx.session
    row = _subject_row(session, user_id)
    if row is None:
        if not create:
            raise SigningKeyError("This learner has no credential subject id yet.")
        candidate = SubjectId(user_id=user_id, uuid=str(uuid.uuid4()))
        try:
            with session.begin_nested():
                session.add(candidate)
        except IntegrityError:
            pass  # the savepoint's rollback took the candidate out of the session
        else:
            row = candidate
        if row is None:
            row = _subject_row(session, user_id)
            if row is None:  # pragma: no cover - the winner's row is committed by now
                raise SigningKeyError("The credential subject id could not be made; try again.")
    return uuid.UUID(row.uuid).urn


# -- Open Badges 3.0: the credential ---------------------------------------------------


def _credential_id(award: Award, base_url: str) -> str:
    try:
        return uuid.UUID(award.uid).urn
    except ValueError:
        return assertion_page_url(base_url, award.uid)


def credential_document(
    award: Award,
    badge: BadgeClass,
    user: User,
    base_url: str,
    issuer_name: str,
    subject: str,
) -> dict[str, Any]:
    """The unsigned ``OpenBadgeCredential`` of ``award`` (VC data model 2.0) for the
    learner whose pseudonymous id is ``subject`` (see :func:`subject_id`)."""
    achievement: dict[str, Any] = {
        "id": badge_class_url(base_url, badge.slug),
        "type": ["Achievement"],
        "name": badge.name,
        "description": badge.description.strip() or badge.name,
        "criteria": {"narrative": _criteria_narrative(badge)},
        "image": {"id": badge_image_url(base_url, badge.slug), "type": "Image"},
    }
    credential: dict[str, Any] = {
        "@context": [VC2_CONTEXT, OB3_CONTEXT],
        "id": _credential_id(award, base_url),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": badge.name,
        "issuer": {"id": issuer_url(base_url), "type": ["Profile"], "name": issuer_name},
        "validFrom": _iso(award.awarded_at),
        "credentialSubject": {
            "id": subject,
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": identity_hash(user.email, award.salt),
                    "identityType": "emailAddress",
                    "hashed": True,
                    "salt": award.salt,
                }
            ],
            "achievement": achievement,
        },
    }
    if award.expires_at is not None:
        credential["validUntil"] = _iso(award.expires_at)
    if award.evidence.strip():
        credential["evidence"] = [{"type": ["Evidence"], "narrative": award.evidence.strip()}]
    return credential


def credential_jwt(
    ctx: Context,
    award: Award,
    badge: BadgeClass,
    user: User,
    base_url: str,
    *,
    create: bool = True,
    algorithm: str = SIGNING_ALGORITHM,
) -> str:
    """The award as an OpenBadgeCredential signed with the site's key (compact VC-JWT):
    RS256 by default, EdDSA on request (with the site's Ed25519 key).

    The signing key and the learner's subject id are made on first use in ``ctx``'s
    transaction unless ``create`` is False (read-only callers make sure they exist first)."""
    issuer_name = ctx.lms.config.site_name if ctx.lms is not None else "Learning Platform"
    kid, private, _jwk = signing_key(ctx, algorithm=algorithm, create=create)
    subject = subject_id(ctx, user.id, create=create)
    credential = credential_document(award, badge, user, base_url, issuer_name, subject)
    issued = _aware(award.awarded_at)
    payload: dict[str, Any] = {
        **credential,
        "iss": credential["issuer"]["id"],
        "sub": subject,
        "jti": credential["id"],
        "nbf": int(issued.timestamp()),
        "iat": int(dt.datetime.now(dt.UTC).timestamp()),
    }
    if award.expires_at is not None:
        payload["exp"] = int(_aware(award.expires_at).timestamp())
    # PyJWT writes "typ": "JWT" itself; it is named so that no default can change it.
    headers = {"kid": key_url(base_url, kid), "typ": "JWT"}
    return jwt.encode(payload, private, algorithm=algorithm, headers=headers)
