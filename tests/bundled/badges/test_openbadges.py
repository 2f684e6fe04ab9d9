"""Open Badges 2.0 (hosted) and 3.0 (VC-JWT): the public documents, baking, signing.

Awards are made through ``plugins.badges.services`` (``award_badge``/``revoke_award``), as
the site makes them. Independent checks use openbadgeslib (PyPI): its OB 2.0 hosted
verifier fetches our documents (through the test client), its baking extractors read our
baked images, and its OB 3.0 verifier checks our VC-JWT against the JWK we publish.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

import jwt
import png  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives import serialization
from openbadgeslib.ob2.verifier import OB2VerificationError
from openbadgeslib.ob2.verifier import OB2Verifier
from openbadgeslib.ob3.verifier import OB3VerificationError
from openbadgeslib.ob3.verifier import OB3Verifier
from sqlalchemy import select

from lms_core.runtime import LMS
from lms_core.testing import AuthActions
from lms_core.testing import Factory
from lms_core.testing import json_of
from lms_core.testing import text_of
from lms_core.web import create_app
from plugins.badges import openbadges as ob
from plugins.badges import services
from plugins.badges.images import validate_png
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass
from plugins.badges.models import SigningKey

BASE = "http://127.0.0.1:5000"
PASSWORD = "correct horse battery"


def make_png(width: int = 4, height: int = 4) -> bytes:
    """A small RGB PNG built by hand (zlib + struct)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes([200, 40, 40]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class World:
    """A site with the badges plugin, an admin, a learner holding an award, and a web client."""

    def __init__(self, site: LMS) -> None:
        self.site = site
        make = Factory(site)
        self.admin = make.admin(password=PASSWORD, name="Ada Admin")
        self.learner = make.user("lea@example.com", password=PASSWORD, name="Lea Learner")
        self.other = make.user(password=PASSWORD, name="Otto Other")
        with site.transaction(self.admin) as ctx:
            badge = services.create_badge_class(
                ctx,
                name="Python Pioneer",
                description="Finished the Python track.",
                criteria_text="Complete every Python course.",
            )
            award = services.award_badge(
                ctx, badge, ctx.attach(self.learner), evidence="Built a web crawler."
            )
            assert award is not None
            self.slug, self.uid = badge.slug, award.uid
        app = create_app(lms=site)
        app.config.update(TESTING=True)
        self.app = app
        self.client = app.test_client()

    def award(self, session: Any) -> Award:
        return session.scalars(select(Award).where(Award.uid == self.uid)).one()

    def badge(self, session: Any) -> BadgeClass:
        return session.scalars(select(BadgeClass).where(BadgeClass.slug == self.slug)).one()

    def login(self, user: Any) -> Any:
        return AuthActions(self.client).login(user.email, PASSWORD)

    def get(self, url: str) -> Any:
        assert url.startswith(BASE), url
        return self.client.get(url[len(BASE) :])

    def fetcher(self) -> Callable[[str], bytes]:
        """An ``url -> bytes`` download function answering through the test client."""

        def download(url: str) -> bytes:
            response = self.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return bytes(response.data)

        return download

    def revoke(self, reason: str = "Issued by mistake.") -> None:
        with self.site.transaction(self.admin) as ctx:
            assert services.revoke_award(ctx, self.award(ctx.session), reason)


@pytest.fixture
def world(site: LMS) -> World:
    """On the badges tests' ``site`` (conftest.py: the plugin loaded and switched on)."""
    return World(site)


# -- Open Badges 2.0 documents ---------------------------------------------------------


def test_issuer_and_badge_class_documents(world: World) -> None:
    response = world.client.get("/badges/public/issuer")
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    issuer = response.get_json(force=True)
    assert issuer["@context"] == "https://w3id.org/openbadges/v2"
    assert issuer["type"] == "Issuer"
    assert issuer["id"] == f"{BASE}/badges/public/issuer"
    assert issuer["name"] == world.site.config.site_name
    assert issuer["url"].startswith(BASE)

    response = world.client.get(f"/badges/public/classes/{world.slug}")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    badge = response.get_json(force=True)
    assert badge["type"] == "BadgeClass"
    assert badge["id"] == f"{BASE}/badges/public/classes/{world.slug}"
    assert badge["name"] == "Python Pioneer"
    assert badge["description"] == "Finished the Python track."
    assert badge["criteria"] == {"narrative": "Complete every Python course."}
    assert badge["issuer"] == issuer["id"]
    assert world.get(badge["image"]).status_code == 200

    assert world.client.get("/badges/public/classes/no-such-badge").status_code == 404


def test_assertion_document_hashes_the_recipient(world: World) -> None:
    response = world.client.get(f"/badges/public/assertions/{world.uid}")
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    doc = response.get_json(force=True)
    with world.site.session() as session:
        salt = world.award(session).salt
    assert doc["@context"] == "https://w3id.org/openbadges/v2"
    assert doc["type"] == "Assertion"
    assert doc["id"] == f"{BASE}/badges/public/assertions/{world.uid}"
    assert doc["badge"] == f"{BASE}/badges/public/classes/{world.slug}"
    assert doc["verification"] == {"type": "hosted"}
    assert doc["recipient"] == {
        "type": "email",
        "hashed": True,
        "salt": salt,
        "identity": "sha256$" + hashlib.sha256(f"lea@example.com{salt}".encode()).hexdigest(),
    }
    assert len(salt) >= 16
    assert "lea@example.com" not in response.get_data(as_text=True)
    assert dt.datetime.fromisoformat(doc["issuedOn"]).tzinfo is not None
    assert "expires" not in doc
    assert doc["evidence"] == [{"type": "Evidence", "narrative": "Built a web crawler."}]
    assert world.client.get("/badges/public/assertions/nope").status_code == 404


def test_independent_ob2_hosted_verifier_accepts_then_sees_the_revocation(world: World) -> None:
    verifier = OB2Verifier(download=world.fetcher())
    doc = json_of(world.client.get(f"/badges/public/assertions/{world.uid}"))
    verified = verifier.verify_hosted(
        doc, expected_recipient="lea@example.com", check_revocation=True
    )
    assert verified.id == doc["id"]
    with pytest.raises(OB2VerificationError):
        verifier.verify_hosted(doc, expected_recipient="someone@example.com")

    world.revoke("Plagiarised project.")
    with pytest.raises(OB2VerificationError):
        verifier.verify_hosted(doc, check_revocation=True)


def test_revoked_assertion_answers_revoked(world: World) -> None:
    world.revoke("Plagiarised project.")
    response = world.client.get(f"/badges/public/assertions/{world.uid}")
    assert response.status_code == 200
    assert response.get_json(force=True) == {
        "@context": "https://w3id.org/openbadges/v2",
        "id": f"{BASE}/badges/public/assertions/{world.uid}",
        "revoked": True,
        "revocationReason": "Plagiarised project.",
    }
    revocations = json_of(world.client.get("/badges/public/revocations"))
    assert revocations["type"] == "RevocationList"
    assert revocations["revokedAssertions"] == [
        {
            "id": f"{BASE}/badges/public/assertions/{world.uid}",
            "revocationReason": "Plagiarised project.",
        }
    ]
    assert world.client.get(f"/badges/public/assertions/{world.uid}/baked").status_code == 410
    page = world.client.get(f"/badges/public/assertions/{world.uid}/page")
    assert page.status_code == 200
    assert "Revoked" in page.get_data(as_text=True)
    assert "Plagiarised project." in page.get_data(as_text=True)


# -- Baking ----------------------------------------------------------------------------


def test_baked_svg_of_the_default_image(world: World) -> None:
    response = world.client.get(f"/badges/public/assertions/{world.uid}/baked")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert (
        response.headers["Content-Security-Policy"]
        == "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert '.svg"' in response.headers["Content-Disposition"]
    baked = bytes(response.data)
    assertion = json_of(world.client.get(f"/badges/public/assertions/{world.uid}"))
    assert json.loads(ob.unbake_svg(baked) or "") == assertion
    assert b'xmlns:openbadges="http://openbadges.org"' in baked
    assert f'verify="{assertion["id"]}"'.encode() in baked
    # The element is the first child of <svg>.
    assert baked.index(b"<openbadges:assertion") == baked.index(b">", baked.index(b"<svg")) + 1
    # An independent extractor finds the element (it reads the verify attribute: the URL).
    assert OB2Verifier.extract_token_from_svg(baked) == assertion["id"]
    # And the baked copy verifies as a hosted badge against the issuer's copy.
    OB2Verifier(download=world.fetcher()).verify_hosted(
        ob.unbake_svg(baked) or "", expected_recipient="lea@example.com"
    )


def test_badge_image_route_serves_svg_safely(world: World) -> None:
    response = world.client.get(f"/badges/public/classes/{world.slug}/image")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert (
        response.headers["Content-Security-Policy"]
        == "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<svg" in response.data and b"PP" in response.data


def test_baked_png_of_an_uploaded_png(world: World) -> None:
    picture = make_png(8, 6)
    with world.site.transaction(world.admin) as ctx:
        services.set_badge_image(ctx, world.badge(ctx.session), picture, "image/png")
    image = world.client.get(f"/badges/public/classes/{world.slug}/image")
    assert image.status_code == 200
    assert image.mimetype == "image/png" and image.data == picture

    response = world.client.get(f"/badges/public/assertions/{world.uid}/baked")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    baked = bytes(response.data)
    assertion = json_of(world.client.get(f"/badges/public/assertions/{world.uid}"))
    assert json.loads(ob.unbake_png(baked) or "") == assertion
    assert validate_png(baked) == (8, 6)
    # iTXt right after IHDR: signature (8) + IHDR chunk (12 + 13).
    assert baked[33 + 4 : 33 + 8] == b"iTXt"
    assert json.loads(OB2Verifier.extract_token_from_png(baked)) == assertion
    # An independent PNG decoder still reads the picture.
    width, height, rows, _info = png.Reader(bytes=baked).read()
    assert (width, height, len(list(rows))) == (8, 6, 6)


def test_bake_png_replaces_an_earlier_assertion() -> None:
    once = ob.bake_png(make_png(), {"id": "first"})
    twice = ob.bake_png(once, "https://example.org/assertions/2")
    assert ob.unbake_png(twice) == "https://example.org/assertions/2"
    assert twice.count(b"openbadges\x00") == 1
    assert ob.unbake_png(make_png()) is None
    assert ob.unbake_png(b"not a png") is None


def test_bake_svg_keeps_the_document_and_escapes_cdata() -> None:
    svg = (
        b'<?xml version="1.0"?>\n<!-- a <svg> in a comment -->\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" data-x="a>b" viewBox="0 0 1 1"><rect/></svg>'
    )
    tricky = {"id": "https://example.org/a", "narrative": "ends ]]> here"}
    baked = ob.bake_svg(svg, tricky, "https://example.org/a")
    assert json.loads(ob.unbake_svg(baked) or "") == tricky
    assert baked.startswith(b'<?xml version="1.0"?>\n<!-- a <svg> in a comment -->\n')
    assert b'data-x="a>b"' in baked and b"<rect/></svg>" in baked
    rebaked = ob.bake_svg(baked, {"id": "second"}, "https://example.org/b")
    assert json.loads(ob.unbake_svg(rebaked) or "") == {"id": "second"}
    assert rebaked.count(b"<openbadges:assertion") == 1
    assert rebaked.count(b"xmlns:openbadges") == 1
    empty = ob.bake_svg(b'<svg xmlns="http://www.w3.org/2000/svg"/>', {"id": "x"}, "u")
    assert json.loads(ob.unbake_svg(empty) or "") == {"id": "x"}


# -- The public page -------------------------------------------------------------------


def test_public_page_shows_the_name_never_the_email(world: World) -> None:
    response = world.client.get(f"/badges/public/assertions/{world.uid}/page")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Lea Learner" in html and "Python Pioneer" in html
    assert "Complete every Python course." in html
    assert "Valid" in html
    assert "lea@example.com" not in html
    assert "linkedin.com/sharing" in html
    assert "credential.jwt" not in html  # anonymous visitors get no credential link
    assert "style=" not in html and "<script>" not in html

    assert world.login(world.learner).status_code == 302
    html = text_of(world.client.get(f"/badges/public/assertions/{world.uid}/page"))
    assert "credential.jwt" in html and "linkedin.com/profile/add" in html


def test_public_page_of_a_nameless_earner_and_an_expired_badge(world: World) -> None:
    with world.site.transaction(system=True) as ctx:
        award = world.award(ctx.session)
        award.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        ctx.attach(world.learner).name = ""
    html = text_of(world.client.get(f"/badges/public/assertions/{world.uid}/page"))
    assert "Expired" in html
    assert "A learner" in html and "lea@example.com" not in html
    doc = json_of(world.client.get(f"/badges/public/assertions/{world.uid}"))
    assert dt.datetime.fromisoformat(doc["expires"]) < dt.datetime.now(dt.UTC)


# -- Open Badges 3.0 -------------------------------------------------------------------


def _verifier_from_jwks(world: World, kid: str) -> OB3Verifier:
    keys = {k["kid"]: k for k in json_of(world.client.get("/badges/public/jwks.json"))["keys"]}
    public_key = jwt.PyJWK(keys[kid]).key
    return OB3Verifier(public_key)


def _credential(world: World) -> str:
    assert world.login(world.learner).status_code == 302
    response = world.client.get(f"/badges/public/assertions/{world.uid}/credential.jwt")
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return response.get_data(as_text=True)


def test_ob3_credential_verifies_with_an_independent_verifier(world: World) -> None:
    token = _credential(world)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["typ"] == "vc+jwt"
    assert header["kid"] == f"{BASE}/badges/public/keys/badges-1"
    # The kid dereferences to the public JWK.
    assert json_of(world.get(header["kid"]))["x"]

    credential = _verifier_from_jwks(world, header["kid"]).verify(token)
    assert credential.issuer.id == f"{BASE}/badges/public/issuer"
    assert credential.achievement.name == "Python Pioneer"
    assert credential.achievement.id == f"{BASE}/badges/public/classes/{world.slug}"
    with world.site.session() as session:
        salt = world.award(session).salt
    (identifier,) = credential.identifiers
    assert identifier.identity_hash == ob.identity_hash("lea@example.com", salt)
    assert identifier.identity_type == "emailAddress" and identifier.hashed
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert payload["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert payload["iss"] == payload["issuer"]["id"]
    assert payload["jti"] == payload["id"] == f"urn:uuid:{world.uid}"
    assert payload["credentialSubject"]["type"] == ["AchievementSubject"]
    assert "lea@example.com" not in json.dumps(payload)


def test_tampered_ob3_credential_fails(world: World) -> None:
    token = _credential(world)
    verifier = _verifier_from_jwks(world, jwt.get_unverified_header(token)["kid"])
    header_b64, payload_b64, signature = token.split(".")
    payload = json.loads(jwt.utils.base64url_decode(payload_b64))
    payload["credentialSubject"]["achievement"]["name"] = "Python Grandmaster"
    forged_payload = jwt.utils.base64url_encode(json.dumps(payload).encode()).decode()
    with pytest.raises(OB3VerificationError, match="signature"):
        verifier.verify(f"{header_b64}.{forged_payload}.{signature}")

    # Signed by some other Ed25519 key: fails against the site's published key.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    impostor = jwt.encode(payload, Ed25519PrivateKey.generate(), algorithm="EdDSA")
    with pytest.raises(OB3VerificationError):
        verifier.verify(impostor)


def test_only_the_owner_or_an_awarder_downloads_the_credential(world: World) -> None:
    url = f"/badges/public/assertions/{world.uid}/credential.jwt"
    anonymous = world.client.get(url)
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    assert world.login(world.other).status_code == 302
    assert world.client.get(url).status_code == 403
    assert AuthActions(world.client).logout().status_code == 302
    assert world.login(world.admin).status_code == 302  # holds badges.award site-wide
    assert world.client.get(url).status_code == 200
    world.revoke()
    assert world.client.get(url).status_code == 410


def test_jwks_is_public(world: World) -> None:
    response = world.client.get("/badges/public/jwks.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    (key,) = response.get_json(force=True)["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    assert "d" not in key
    assert key["kid"] == f"{BASE}/badges/public/keys/badges-1"
    # Asking again does not make another key.
    again = json_of(world.client.get("/badges/public/jwks.json"))["keys"]
    assert again == [key]


def test_signing_key_is_created_once_and_stored_encrypted(world: World) -> None:
    with world.site.transaction(system=True) as ctx:
        kid, private, jwk = ob.signing_key(ctx)
    with world.site.transaction(system=True) as ctx:
        kid2, private2, jwk2 = ob.signing_key(ctx)
    assert kid == kid2 == "badges-1" and jwk == jwk2
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert raw == private2.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    with world.site.session() as session:
        rows = session.scalars(select(SigningKey)).all()
    assert len(rows) == 1
    stored = bytes(rows[0].private_key)
    assert raw not in stored and der not in stored
    assert "d" not in rows[0].public_jwk


def test_a_changed_site_secret_is_reported_not_papered_over(world: World, lms_factory: Any) -> None:
    with world.site.transaction(system=True) as ctx:
        ob.signing_key(ctx)
    other = lms_factory(["plugins.badges.hooks"], secret_key="a different secret entirely")
    with other.transaction(system=True) as ctx, pytest.raises(ob.SigningKeyError, match="secret"):
        ob.signing_key(ctx)


def test_concurrent_first_use_keeps_the_winners_key(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser of the race read "no key" before the winner committed: its insert of the
    same kid fails on the unique constraint, and it reads the winner's key instead."""
    with world.site.transaction(system=True) as ctx:
        winner = ob.signing_key(ctx)
    real = ob._current_key
    calls = []

    def stale_then_fresh(session: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real(session)

    monkeypatch.setattr(ob, "_current_key", stale_then_fresh)
    with world.site.transaction(system=True) as ctx:
        loser = ob.signing_key(ctx)
    assert len(calls) == 2
    assert loser[0] == winner[0] and loser[2] == winner[2]
    with world.site.session() as session:
        assert len(session.scalars(select(SigningKey)).all()) == 1


def test_disabled_plugin_hides_the_public_documents(lms_factory: Any) -> None:
    site = lms_factory(["plugins.badges.hooks"], enabled=())
    app = create_app(lms=site)
    app.config.update(TESTING=True)
    assert app.test_client().get("/badges/public/issuer").status_code == 404
