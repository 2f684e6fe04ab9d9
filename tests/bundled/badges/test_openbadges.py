"""Open Badges 2.0 (hosted) and 3.0 (VC-JWT): the public documents, baking, signing.

Awards are made through ``plugins.badges.services`` (``award_badge``/``revoke_award``), as
the site makes them. Independent checks use openbadgeslib (PyPI): its OB 2.0 hosted
verifier fetches our documents (through the test client), its baking extractors read our
baked images, and its OB 3.0 verifier checks our VC-JWT against the JWK we publish. What
those verifiers do not check (the JOSE header's ``typ`` and ``alg``, ``sub`` against
``credentialSubject.id``, what a revoked award tells the public) is checked here directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
import uuid
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

from lms_core.config import MailConfig
from lms_core.errors import PluginError
from lms_core.runtime import LMS
from lms_core.services.plugins import save_settings
from lms_core.testing import AuthActions
from lms_core.testing import Factory
from lms_core.web import create_app
from plugins.badges import openbadges as ob
from plugins.badges import services
from plugins.badges.images import validate_png
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass
from plugins.badges.models import SigningKey
from plugins.badges.models import SubjectId

BASE = "http://127.0.0.1:5000"
PASSWORD = "correct horse battery"
BADGES = "plugins.badges.hooks"
PLAGIARISM = "Plagiarism found in the final assessment"


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

    def login(self, user: Any) -> None:
        assert AuthActions(self.client).login(user.email, PASSWORD).status_code == 302

    def logout(self) -> None:
        assert AuthActions(self.client).logout().status_code == 302

    def fetch(self, path: str, status: int = 200) -> Any:
        """GET ``path``, checking the status code."""
        response = self.client.get(path)
        assert response.status_code == status, (path, response.status_code)
        return response

    def get(self, url: str) -> Any:
        assert url.startswith(BASE), url
        return self.client.get(url[len(BASE) :])

    def fetcher(self) -> Callable[[str], bytes]:
        """An ``url -> bytes`` download function answering through the test client."""

        def download(url: str) -> bytes:
            response = self.get(url)
            if response.status_code != 200:  # as an HTTP client raises on 4xx
                raise OSError(f"HTTP {response.status_code} from {url}")
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
    assert issuer["email"] == "lms@localhost"  # no badges setting: the mail sender
    assert issuer["revocationList"] == f"{BASE}/badges/public/revocations"

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
    doc = world.fetch(f"/badges/public/assertions/{world.uid}").get_json(force=True)
    verified = verifier.verify_hosted(
        doc, expected_recipient="lea@example.com", check_revocation=True
    )
    assert verified.id == doc["id"]
    with pytest.raises(OB2VerificationError):
        verifier.verify_hosted(doc, expected_recipient="someone@example.com")

    world.revoke(PLAGIARISM)
    with pytest.raises(OB2VerificationError, match="HTTP 410"):
        verifier.verify_hosted(doc, check_revocation=True)


def test_a_verifier_holding_a_cached_assertion_learns_the_revocation_from_the_list(
    world: World,
) -> None:
    """A verifier that still has the assertion (a cache, a backpack's copy) fetches the
    issuer's RevocationList and finds the assertion's id in it."""
    cached = world.fetch(f"/badges/public/assertions/{world.uid}").get_data()
    live = world.fetcher()

    def cache_first(url: str) -> bytes:
        return cached if url.endswith(world.uid) else live(url)

    world.revoke(PLAGIARISM)
    verifier = OB2Verifier(download=cache_first)
    with pytest.raises(OB2VerificationError, match="has been revoked$"):
        verifier.verify_hosted(json.loads(cached), check_revocation=True)


def test_a_revoked_assertion_answers_410_gone_with_its_revocation_body(world: World) -> None:
    world.revoke(PLAGIARISM)
    response = world.client.get(f"/badges/public/assertions/{world.uid}")
    assert response.status_code == 410
    assert response.mimetype == "application/ld+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.get_json(force=True) == {
        "@context": "https://w3id.org/openbadges/v2",
        "id": f"{BASE}/badges/public/assertions/{world.uid}",
        "revoked": True,
    }
    assert world.client.get(f"/badges/public/assertions/{world.uid}/baked").status_code == 410


def test_the_revocation_list_names_revoked_assertions_and_nothing_about_their_earners(
    world: World,
) -> None:
    world.revoke(PLAGIARISM)
    response = world.client.get("/badges/public/revocations")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.get_json(force=True) == {
        "@context": "https://w3id.org/openbadges/v2",
        "type": "RevocationList",
        "id": f"{BASE}/badges/public/revocations",
        "issuer": f"{BASE}/badges/public/issuer",
        "revokedAssertions": [{"id": f"{BASE}/badges/public/assertions/{world.uid}"}],
    }
    text = response.get_data(as_text=True)
    for secret in ("Plagiarism", "Lea Learner", "lea@example.com"):
        assert secret not in text


def test_the_public_page_of_a_revoked_award_says_only_that_it_was_revoked(
    world: World,
) -> None:
    world.revoke(PLAGIARISM)
    url = f"/badges/public/assertions/{world.uid}/page"
    for visitor in (None, world.other):  # anonymous, then someone signed in
        if visitor is not None:
            world.login(visitor)
        response = world.client.get(url)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "Revoked award" in html and "revoked this award" in html
        for secret in (
            "Plagiarism",
            "Lea Learner",
            "lea@example.com",
            "Built a web crawler.",  # the evidence
            "Python Pioneer",  # what it was for
            "linkedin.com",
        ):
            assert secret not in html, (visitor, secret)


def test_the_earner_and_admins_still_see_why_an_award_was_revoked(world: World) -> None:
    world.revoke(PLAGIARISM)
    url = f"/badges/public/assertions/{world.uid}/page"
    world.login(world.learner)
    mine = world.client.get("/badges/")
    assert mine.status_code == 200
    assert PLAGIARISM in mine.get_data(as_text=True)
    page = world.client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert PLAGIARISM in html and "Python Pioneer" in html and "you earned this badge" in html
    assert "credential.jwt" not in html and "/baked" not in html  # nothing to share now

    world.logout()
    world.login(world.admin)
    page = world.client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert PLAGIARISM in html and "Lea Learner" in html and "you may award it" in html


# -- The issuer's email (OB 2.0 requires one) -------------------------------------------


def _issuer(site: LMS) -> dict[str, Any]:
    app = create_app(lms=site)
    app.config.update(TESTING=True)
    response = app.test_client().get("/badges/public/issuer")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json(force=True)
    return document


def _admin_page(world: World) -> str:
    world.login(world.admin)
    response = world.client.get("/badges/admin")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_the_issuer_email_is_the_badges_setting(world: World) -> None:
    save_settings(world.site, "badges", {"issuer_email": "badges@school.example"})
    assert _issuer(world.site)["email"] == "badges@school.example"
    assert 'id="issuer-warning"' not in _admin_page(world)


def test_without_the_setting_the_issuer_email_is_the_mail_sender(lms_factory: Any) -> None:
    site = lms_factory([BADGES], mail=MailConfig(sender="noreply@school.example"))
    assert _issuer(site)["email"] == "noreply@school.example"
    world = World(site)
    assert 'id="issuer-warning"' not in _admin_page(world)


@pytest.mark.parametrize(("sender", "shown"), [("lms@localhost", "lms@localhost"), ("", None)])
def test_with_neither_the_admin_page_warns_and_the_profile_still_has_an_email(
    lms_factory: Any, sender: str, shown: str | None
) -> None:
    site = lms_factory([BADGES], mail=MailConfig(sender=sender))
    email = _issuer(site)["email"]
    assert email == (shown or "badges@127.0.0.1")
    html = _admin_page(World(site))
    assert 'id="issuer-warning"' in html
    assert "set issuer_email in the badges plugin" in html and email in html


def test_an_issuer_email_that_is_no_address_is_refused(world: World) -> None:
    with pytest.raises(
        PluginError,
        match=r"Setting 'Issuer email' \(issuer_email\): must be an email address, or empty",
    ):
        save_settings(world.site, "badges", {"issuer_email": "not an address"})
    assert _issuer(world.site)["email"] == "lms@localhost"


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
    assertion = world.fetch(f"/badges/public/assertions/{world.uid}").get_json(force=True)
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
    image = world.fetch(f"/badges/public/classes/{world.slug}/image")
    assert image.mimetype == "image/png" and image.data == picture

    response = world.client.get(f"/badges/public/assertions/{world.uid}/baked")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    baked = bytes(response.data)
    assertion = world.fetch(f"/badges/public/assertions/{world.uid}").get_json(force=True)
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

    world.login(world.learner)
    html = world.fetch(f"/badges/public/assertions/{world.uid}/page").get_data(as_text=True)
    assert "credential.jwt" in html and "linkedin.com/profile/add" in html


def test_public_page_of_a_nameless_earner_and_an_expired_badge(world: World) -> None:
    with world.site.transaction(system=True) as ctx:
        award = world.award(ctx.session)
        award.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        ctx.attach(world.learner).name = ""
    html = world.fetch(f"/badges/public/assertions/{world.uid}/page").get_data(as_text=True)
    assert "Expired" in html
    assert "A learner" in html and "lea@example.com" not in html
    doc = world.fetch(f"/badges/public/assertions/{world.uid}").get_json(force=True)
    assert dt.datetime.fromisoformat(doc["expires"]) < dt.datetime.now(dt.UTC)


# -- Open Badges 3.0 -------------------------------------------------------------------

RSA_KID = f"{BASE}/badges/public/keys/badges-rs256-1"


def _jwks(world: World) -> dict[str, dict[str, Any]]:
    response = world.client.get("/badges/public/jwks.json")
    assert response.status_code == 200
    return {k["kid"]: k for k in response.get_json(force=True)["keys"]}


def _public_key(world: World, kid: str) -> Any:
    return jwt.PyJWK(_jwks(world)[kid]).key


def _verifier_from_jwks(world: World, kid: str) -> OB3Verifier:
    return OB3Verifier(_public_key(world, kid))


def _credential(
    world: World, uid: str | None = None, suffix: str = "jwt", *, sign_in: bool = True
) -> Any:
    """The earner's download (signing in as the learner first, unless told not to)."""
    if sign_in:
        world.login(world.learner)
    response = world.client.get(f"/badges/public/assertions/{uid or world.uid}/credential.{suffix}")
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "private, no-store"
    return response.get_data(as_text=True) if suffix == "jwt" else bytes(response.data)


def _verified(world: World, token: str) -> dict[str, Any]:
    """The payload, after PyJWT checked the signature with the published key (RS256 only)."""
    key = _public_key(world, jwt.get_unverified_header(token)["kid"])
    payload: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"])
    return payload


def test_ob3_credential_verifies_with_an_independent_verifier(world: World) -> None:
    token = _credential(world)
    credential = _verifier_from_jwks(world, RSA_KID).verify(token)
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


def test_ob3_jose_header_is_typ_jwt_signed_rs256_with_a_published_kid(world: World) -> None:
    token = _credential(world)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": RSA_KID}
    # The kid dereferences to the public RSA JWK, which is also in the JWK Set.
    response = world.get(RSA_KID)
    assert response.status_code == 200
    jwk = response.get_json(force=True)
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["use"] == "sig"
    assert {"n", "e"} <= set(jwk) and not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    assert _jwks(world)[RSA_KID] == jwk
    assert jwt.PyJWK(jwk).key.key_size >= 2048
    assert _verified(world, token)["jti"] == f"urn:uuid:{world.uid}"


def test_ob3_subject_is_a_stable_pseudonymous_urn_uuid_and_sub_names_it(world: World) -> None:
    first = _verified(world, _credential(world))
    subject = first["credentialSubject"]["id"]
    assert subject.startswith("urn:uuid:")
    assert uuid.UUID(subject[len("urn:uuid:") :]).version == 4  # random, not derived
    assert first["sub"] == subject

    # The same learner: the same id in every credential, of this award and of another.
    assert _verified(world, _credential(world, sign_in=False))["credentialSubject"]["id"] == subject
    with world.site.transaction(world.admin) as ctx:
        badge = services.create_badge_class(ctx, name="Second badge")
        award = services.award_badge(ctx, badge, ctx.attach(world.learner))
        assert award is not None
        second_uid = award.uid
    again = _verified(world, _credential(world, second_uid, sign_in=False))
    assert again["sub"] == again["credentialSubject"]["id"] == subject

    # It is stored (so it survives restarts), and another learner has another one.
    with world.site.session() as session:
        row = session.get(SubjectId, world.learner.id)
        assert row is not None and uuid.UUID(row.uuid).urn == subject
        with world.site.transaction(world.admin) as ctx:
            other_award = services.award_badge(ctx, badge, ctx.attach(world.other))
            assert other_award is not None
            other_uid = other_award.uid
    world.logout()
    world.login(world.admin)
    response = world.client.get(f"/badges/public/assertions/{other_uid}/credential.jwt")
    assert response.status_code == 200
    other = _verified(world, response.get_data(as_text=True))
    assert other["sub"] == other["credentialSubject"]["id"] != subject


def _itxt_chunks(data: bytes) -> dict[bytes, str]:
    """keyword -> text of every uncompressed iTXt chunk, read with pypng."""
    out = {}
    for kind, body in png.Reader(bytes=data).chunks():
        if kind == b"iTXt":
            keyword, rest = body.split(b"\x00", 1)
            assert rest[:2] == b"\x00\x00"  # not compressed
            _language, _translated, text = rest[2:].split(b"\x00", 2)
            out[keyword] = text.decode("utf-8")
    return out


def test_ob3_baked_png_holds_the_jwt_in_an_openbadgecredential_chunk(world: World) -> None:
    baked = _credential(world, suffix="png")
    chunks = _itxt_chunks(baked)
    assert set(chunks) == {b"openbadgecredential"}
    token = chunks[b"openbadgecredential"]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": RSA_KID}
    payload = _verified(world, token)
    assert payload["jti"] == f"urn:uuid:{world.uid}"
    assert payload["sub"] == payload["credentialSubject"]["id"]
    _verifier_from_jwks(world, RSA_KID).verify(token)
    # A badge without a PNG of its own gets the generated medal; it is a picture still.
    width, height, rows, _info = png.Reader(bytes=baked).read()
    assert (width, height, len(list(rows))) == (256, 256, 256)
    assert validate_png(baked) == (256, 256)


def test_ob3_baked_png_uses_the_badges_own_png(world: World) -> None:
    picture = make_png(8, 6)
    with world.site.transaction(world.admin) as ctx:
        services.set_badge_image(ctx, world.badge(ctx.session), picture, "image/png")
    baked = _credential(world, suffix="png")
    width, height, _rows, _info = png.Reader(bytes=baked).read()
    assert (width, height) == (8, 6)
    token = _itxt_chunks(baked)[b"openbadgecredential"]
    assert _verified(world, token)["credentialSubject"]["achievement"]["name"] == "Python Pioneer"
    assert ob.unbake_png(baked, keyword=ob.OB3_ITXT_KEYWORD) == token
    assert ob.unbake_png(baked) is None  # no OB 2.0 assertion in this one


def test_the_credential_downloads_are_offered_to_the_earner(world: World) -> None:
    world.login(world.learner)
    for url in ("/badges/", f"/badges/public/assertions/{world.uid}/page"):
        response = world.client.get(url)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert f"/badges/public/assertions/{world.uid}/credential.jwt" in html
        assert f"/badges/public/assertions/{world.uid}/credential.png" in html


def test_tampered_ob3_credential_fails(world: World) -> None:
    token = _credential(world)
    verifier = _verifier_from_jwks(world, jwt.get_unverified_header(token)["kid"])
    header_b64, payload_b64, signature = token.split(".")
    payload = json.loads(jwt.utils.base64url_decode(payload_b64))
    payload["credentialSubject"]["achievement"]["name"] = "Python Grandmaster"
    forged_payload = jwt.utils.base64url_encode(json.dumps(payload).encode()).decode()
    with pytest.raises(OB3VerificationError, match="signature"):
        verifier.verify(f"{header_b64}.{forged_payload}.{signature}")

    # Signed by some other RSA key: fails against the site's published key.
    from cryptography.hazmat.primitives.asymmetric import rsa

    impostor_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = jwt.encode(payload, impostor_key, algorithm="RS256", headers={"kid": RSA_KID})
    with pytest.raises(OB3VerificationError):
        verifier.verify(impostor)


def test_only_the_owner_or_an_awarder_downloads_the_credential(world: World) -> None:
    for suffix in ("jwt", "png"):
        url = f"/badges/public/assertions/{world.uid}/credential.{suffix}"
        anonymous = world.client.get(url)
        assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
        world.login(world.other)
        assert world.client.get(url).status_code == 403
        world.logout()
        world.login(world.admin)  # holds badges.award site-wide
        assert world.client.get(url).status_code == 200
        world.logout()
    world.revoke()
    world.login(world.admin)
    for suffix in ("jwt", "png"):
        url = f"/badges/public/assertions/{world.uid}/credential.{suffix}"
        assert world.client.get(url).status_code == 410


def test_jwks_is_public(world: World) -> None:
    response = world.client.get("/badges/public/jwks.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    (key,) = response.get_json(force=True)["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256"
    assert "d" not in key
    assert key["kid"] == RSA_KID
    # Asking again does not make another key.
    again = world.fetch("/badges/public/jwks.json").get_json(force=True)["keys"]
    assert again == [key]


def _der(private: Any) -> bytes:
    return bytes(
        private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_signing_key_is_created_once_and_stored_encrypted(world: World) -> None:
    with world.site.transaction(system=True) as ctx:
        kid, private, jwk = ob.signing_key(ctx)
    with world.site.transaction(system=True) as ctx:
        kid2, private2, jwk2 = ob.signing_key(ctx)
    assert kid == kid2 == "badges-rs256-1" and jwk == jwk2
    assert _der(private) == _der(private2)
    with world.site.session() as session:
        rows = session.scalars(select(SigningKey)).all()
    assert len(rows) == 1 and rows[0].algorithm == "RS256"
    stored = bytes(rows[0].private_key)
    assert _der(private) not in stored
    d = private.private_numbers().d
    assert d.to_bytes((d.bit_length() + 7) // 8, "big") not in stored
    assert set(rows[0].public_jwk) == {"kty", "n", "e"}


def test_an_eddsa_key_from_before_stays_published_and_may_still_sign(world: World) -> None:
    """Sites that signed with Ed25519 keep that key in the JWK Set (their credentials still
    verify); new credentials are RS256; EdDSA is still there for those who ask."""
    with world.site.transaction(system=True) as ctx:
        old_kid, old_private, _jwk = ob.signing_key(ctx, algorithm="EdDSA")
        old_token = ob.credential_jwt(
            ctx,
            world.award(ctx.session),
            world.badge(ctx.session),
            ctx.attach(world.learner),
            BASE,
            algorithm="EdDSA",
        )
    assert old_kid == "badges-1"
    header = jwt.get_unverified_header(old_token)
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": f"{BASE}/badges/public/keys/badges-1"}
    keys = _jwks(world)
    assert set(keys) == {header["kid"], RSA_KID}
    assert keys[header["kid"]]["kty"] == "OKP" and keys[header["kid"]]["alg"] == "EdDSA"
    _verifier_from_jwks(world, header["kid"]).verify(old_token)

    token = _credential(world)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert (
        jwt.decode(old_token, options={"verify_signature": False})["sub"]
        == _verified(world, token)["sub"]
    )


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

    def stale_then_fresh(session: Any, algorithm: str) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real(session, algorithm)

    monkeypatch.setattr(ob, "_current_key", stale_then_fresh)
    with world.site.transaction(system=True) as ctx:
        loser = ob.signing_key(ctx)
    assert len(calls) == 2
    assert loser[0] == winner[0] and loser[2] == winner[2]
    with world.site.session() as session:
        assert len(session.scalars(select(SigningKey)).all()) == 1


def test_concurrent_first_use_keeps_the_winners_subject_id(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world.site.transaction(system=True) as ctx:
        winner = ob.subject_id(ctx, world.learner.id)
    real = ob._subject_row
    calls = []

    def stale_then_fresh(session: Any, user_id: int) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real(session, user_id)

    monkeypatch.setattr(ob, "_subject_row", stale_then_fresh)
    with world.site.transaction(system=True) as ctx:
        loser = ob.subject_id(ctx, world.learner.id)
    assert len(calls) == 2 and loser == winner
    with world.site.session() as session:
        assert len(session.scalars(select(SubjectId)).all()) == 1


def test_the_subject_id_is_in_the_privacy_export_and_goes_with_erasure(world: World) -> None:
    with world.site.transaction(system=True) as ctx:
        subject = ob.subject_id(ctx, world.learner.id)
    with world.site.transaction(system=True) as ctx:
        exported = services.export_user_data(ctx, world.learner.id)
    assert exported is not None and exported["credential_subject_id"] == subject
    with world.site.transaction(system=True) as ctx:
        services.erase_user_data(ctx, world.learner.id)
    with world.site.session() as session:
        assert session.get(SubjectId, world.learner.id) is None


def test_disabled_plugin_hides_the_public_documents(lms_factory: Any) -> None:
    site = lms_factory(["plugins.badges.hooks"], enabled=())
    app = create_app(lms=site)
    app.config.update(TESTING=True)
    assert app.test_client().get("/badges/public/issuer").status_code == 404
