"""Public Open Badges endpoints: what outside verifiers and visitors fetch.

Every document is built from the configured ``base_url`` (stable public URLs). JSON-LD
documents are served as ``application/ld+json`` with ``Access-Control-Allow-Origin: *`` so
browser-based verifiers can fetch them. SVG images are served with their own restrictive
Content-Security-Policy and ``nosniff`` (an SVG opened directly is a document, not an image).

==========================================  ==========  =====================================
``/badges/public/issuer``                   public      issuer Profile (OB 2.0)
``/badges/public/classes/<slug>``           public      BadgeClass (OB 2.0)
``/badges/public/classes/<slug>/image``     public      the badge image (or the generated one)
``/badges/public/assertions/<uid>``         public      Assertion (revoked: 410 ``revoked``)
``/badges/public/assertions/<uid>/baked``   public      baked SVG/PNG download (revoked: 410)
``/badges/public/assertions/<uid>/page``    public      the public badge page (HTML)
``/badges/public/revocations``              public      RevocationList (OB 2.0): ids only
``/badges/public/jwks.json``                public      JWK Set of the signing keys (OB 3.0)
``/badges/public/keys/<kid>``               public      one public JWK (the VC-JWT ``kid``)
``/badges/public/assertions/<uid>/credential.jwt``  signed in  the OB 3.0 VC-JWT (owner or
                                                               badges.award)
``/badges/public/assertions/<uid>/credential.png``  signed in  the same VC-JWT baked into
                                                               a PNG (``openbadgecredential``)
==========================================  ==========  =====================================

The public page of a revoked award says only that it was revoked: not who earned it, not
what for, not why. The earner and those who may award the badge see the whole page, with
the reason, when signed in.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import abort
from flask import render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_core.db import utcnow
from lms_core.models import User
from lms_core.services.permissions import can
from lms_core.web.db import db
from lms_core.web.db import lms
from lms_core.web.db import read_ctx
from lms_core.web.db import write
from lms_core.web.decorators import SIGNED_IN
from lms_core.web.decorators import public
from lms_core.web.decorators import requires
from plugins.badges import openbadges as ob
from plugins.badges.images import PNG_TYPE
from plugins.badges.images import SVG_TYPE
from plugins.badges.images import default_badge_png
from plugins.badges.images import default_badge_svg
from plugins.badges.models import Award
from plugins.badges.models import BadgeClass
from plugins.badges.models import SigningKey
from plugins.badges.models import SubjectId

bp = Blueprint("badges_public", __name__, url_prefix="/badges/public", template_folder="templates")

JSON_LD = "application/ld+json"
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
#: Public documents may be cached briefly; revocation must show within minutes.
CACHE = "public, max-age=300"


def _base_url() -> str:
    return lms().config.base_url


def _json(document: dict[str, Any], *, mimetype: str = JSON_LD, status: int = 200) -> Response:
    response = Response(
        json.dumps(document, ensure_ascii=False, indent=2), status=status, mimetype=mimetype
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = CACHE
    return response


def _svg(data: bytes, *, download_name: str | None = None) -> Response:
    response = Response(data, mimetype=SVG_TYPE)
    response.headers["Content-Security-Policy"] = SVG_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Access-Control-Allow-Origin"] = "*"
    if download_name:
        response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    else:
        response.headers["Cache-Control"] = CACHE
    return response


def _key_or_404(text: str) -> str:
    """A slug or uid from the URL, when it can name anything: short, and without NUL (which
    PostgreSQL refuses in any string parameter)."""
    if len(text) > 200 or "\x00" in text:
        abort(404)
    return text


def _badge_or_404(session: Session, slug: str) -> BadgeClass:
    slug = _key_or_404(slug)
    badge = session.scalars(select(BadgeClass).where(BadgeClass.slug == slug)).first()
    if badge is None:
        abort(404)
    return badge


def _award_or_404(session: Session, uid: str) -> tuple[Award, BadgeClass, User]:
    uid = _key_or_404(uid)
    row = session.execute(
        select(Award, BadgeClass, User)
        .join(BadgeClass, BadgeClass.id == Award.badge_id)
        .join(User, User.id == Award.user_id)
        .where(Award.uid == uid)
    ).first()
    if row is None:
        abort(404)
    return row[0], row[1], row[2]


def _image_of(badge: BadgeClass) -> tuple[bytes, str]:
    if badge.image and badge.image_type in (PNG_TYPE, SVG_TYPE):
        return badge.image, badge.image_type
    return default_badge_svg(badge.name, badge.slug), SVG_TYPE


def _status(award: Award) -> str:
    if award.revoked_at is not None:
        return "revoked"
    if award.expires_at is not None and ob._aware(award.expires_at) <= utcnow():
        return "expired"
    return "valid"


@bp.route("/issuer")
@public
def issuer() -> Response:
    return _json(ob.issuer_document(lms()))


@bp.route("/classes/<slug>")
@public
def badge_class(slug: str) -> Response:
    badge = _badge_or_404(db(), slug)
    return _json(ob.badge_class_document(badge, _base_url()))


@bp.route("/classes/<slug>/image")
@public
def badge_image(slug: str) -> Response:
    badge = _badge_or_404(db(), slug)
    data, content_type = _image_of(badge)
    if content_type == SVG_TYPE:
        return _svg(data)
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = CACHE
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/assertions/<uid>")
@public
def assertion(uid: str) -> Response:
    award, badge, user = _award_or_404(db(), uid)
    if award.revoked_at is not None:
        # OB 2.0 hosted verification: 410 Gone with {"id": ..., "revoked": true}.
        return _json(ob.revoked_assertion_document(award, _base_url()), status=410)
    return _json(ob.assertion_document(award, badge, user, _base_url()))


@bp.route("/assertions/<uid>/baked")
@public
def baked(uid: str) -> Response:
    award, badge, user = _award_or_404(db(), uid)
    if award.revoked_at is not None:
        abort(410)
    base_url = _base_url()
    document = ob.assertion_document(award, badge, user, base_url)
    data, content_type = _image_of(badge)
    name = f"{badge.slug}-{award.uid[:8]}"
    if content_type == PNG_TYPE:
        response = Response(ob.bake_png(data, document), mimetype=PNG_TYPE)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.png"'
        return response
    return _svg(
        ob.bake_svg(data, document, ob.assertion_url(base_url, award.uid)),
        download_name=f"{name}.svg",
    )


def _may_award(badge: BadgeClass) -> bool:
    return current_user.is_authenticated and can(
        current_user._get_current_object(), "badges.award", badge.course_id
    )


@bp.route("/assertions/<uid>/page")
@public
def page(uid: str) -> Any:
    award, badge, user = _award_or_404(db(), uid)
    base_url = _base_url()
    page_url = ob.assertion_page_url(base_url, award.uid)
    site_name = lms().config.site_name
    is_owner = current_user.is_authenticated and current_user.id == award.user_id
    if award.revoked_at is not None and not (is_owner or _may_award(badge)):
        # Anyone else learns only that it was revoked: not who, not what for, not why.
        return render_template("badges/public/revoked.html", issuer_name=site_name)
    awarded = ob._aware(award.awarded_at)
    share = {
        "linkedin": "https://www.linkedin.com/sharing/share-offsite/?"
        + urlencode({"url": page_url}),
        "email": "mailto:?"
        + urlencode(
            {"subject": f"My badge: {badge.name}", "body": f"{badge.name} — {page_url}"},
            quote_via=quote,
        ),
    }
    add_to_profile = "https://www.linkedin.com/profile/add?" + urlencode(
        {
            "startTask": "CERTIFICATION_NAME",
            "name": badge.name,
            "organizationName": site_name,
            "issueYear": awarded.year,
            "issueMonth": awarded.month,
            "certUrl": page_url,
            "certId": award.uid,
        }
    )
    return render_template(
        "badges/public/page.html",
        award=award,
        badge=badge,
        # Never the email: a person without a name is "A learner" here.
        earner=(user.name or "").strip() or "A learner",
        status=_status(award),
        awarded=awarded,
        expires=ob._aware(award.expires_at) if award.expires_at else None,
        revoked=ob._aware(award.revoked_at) if award.revoked_at else None,
        criteria=badge.criteria_text.strip() or badge.description.strip(),
        page_url=page_url,
        assertion_url=ob.assertion_url(base_url, award.uid),
        issuer_name=site_name,
        is_owner=is_owner,
        can_download_credential=is_owner or _may_award(badge),
        share=share,
        add_to_profile=add_to_profile,
    )


@bp.route("/revocations")
@public
def revocations() -> Response:
    revoked = list(
        db().scalars(select(Award.uid).where(Award.revoked_at.is_not(None)).order_by(Award.id))
    )
    return _json(ob.revocation_list_document(revoked, _base_url()))


def _ensure_signing(user_id: int | None = None) -> None:
    """Make what signing needs if it is missing: the site's signing key, and the learner's
    subject id when ``user_id`` is given (a write, once per site and once per learner)."""
    key = (
        db()
        .scalars(select(SigningKey.id).where(SigningKey.algorithm == ob.SIGNING_ALGORITHM).limit(1))
        .first()
    )
    subject = user_id is None or db().get(SubjectId, user_id) is not None
    if key is None or not subject:
        with write() as ctx:
            ob.signing_key(ctx)
            if user_id is not None:
                ob.subject_id(ctx, user_id)
        # End the read transaction so this request's session sees the new rows (SQLite's
        # read transactions keep the snapshot they started with).
        db().rollback()


@bp.route("/jwks.json")
@public
def jwks() -> Response:
    _ensure_signing()
    return _json(ob.public_jwks(db(), _base_url()), mimetype="application/jwk-set+json")


@bp.route("/keys/<kid>")
@public
def key(kid: str) -> Response:
    for jwk in ob.public_jwks(db(), _base_url())["keys"]:
        if jwk["kid"] == ob.key_url(_base_url(), kid):
            return _json(jwk, mimetype="application/jwk+json")
    abort(404)


def _credential_token(uid: str) -> tuple[str, Award, BadgeClass]:
    """The signed OB 3.0 credential of award ``uid``, for its earner or an awarder."""
    award, badge, user = _award_or_404(db(), uid)
    actor = current_user._get_current_object()
    if award.user_id != actor.id and not can(actor, "badges.award", badge.course_id):
        abort(403)
    if award.revoked_at is not None:
        abort(410)
    _ensure_signing(user.id)  # ends the read transaction: the rows reload as they are used
    token = ob.credential_jwt(read_ctx(), award, badge, user, _base_url(), create=False)
    return token, award, badge


def _download(response: Response, badge: BadgeClass, award: Award, suffix: str) -> Response:
    stamp = dt.date.today().isoformat()
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{badge.slug}-{award.uid[:8]}-{stamp}.{suffix}"'
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/assertions/<uid>/credential.jwt")
@requires(SIGNED_IN)
def credential(uid: str) -> Response:
    token, award, badge = _credential_token(uid)
    return _download(Response(token, mimetype="application/vc+jwt"), badge, award, "jwt")


@bp.route("/assertions/<uid>/credential.png")
@requires(SIGNED_IN)
def credential_png(uid: str) -> Response:
    """The OB 3.0 credential baked into the badge's PNG (iTXt ``openbadgecredential``); a
    badge whose image is an SVG, or who has none, gets the generated medal as a PNG."""
    token, award, badge = _credential_token(uid)
    picture = badge.image if badge.image and badge.image_type == PNG_TYPE else None
    baked = ob.bake_png(
        picture or default_badge_png(badge.slug), token, keyword=ob.OB3_ITXT_KEYWORD
    )
    return _download(Response(baked, mimetype=PNG_TYPE), badge, award, "png")
