"""The file store: content-addressed, sniffed, size-limited, on any fsspec URL."""

from __future__ import annotations

import io
import json
import zipfile

import attrs
import pytest
from sqlalchemy import func
from sqlalchemy import select

from lms_core.errors import Forbidden
from lms_core.errors import Invalid
from lms_core.errors import NotFound
from lms_core.filestore import BlobStore
from lms_core.models import StoredFile
from lms_core.services import files
from lms_core.services.plugins import disable_plugin
from lms_core.services.privacy import erase_user
from lms_core.services.privacy import export_user
from lms_core.services.privacy import export_user_archive
from tests.file_samples import SAMPLES
from tests.file_samples import pdf

PLUGIN = "sample_plugins.certstub"


@pytest.fixture
def site(lms_factory):
    return lms_factory([PLUGIN])


def _store(site, data, filename="cert.pdf", use="certstub.pdf", owner=None, course=None):
    with site.transaction(system=True) as ctx:
        row = files.store(ctx, use=use, data=data, filename=filename, owner=owner, course=course)
        ctx.session.expunge(row)
        return row


def _rows(site) -> int:
    with site.session() as s:
        return s.scalar(select(func.count()).select_from(StoredFile))


def test_the_same_bytes_are_stored_once(site):
    a = _store(site, SAMPLES["pdf"], "a.pdf")
    b = _store(site, io.BytesIO(SAMPLES["pdf"]), "b.pdf")
    assert a.id != b.id and a.sha256 == b.sha256
    assert a.content_type == "application/pdf" and a.size == len(SAMPLES["pdf"])
    blobs = site.files.fs.find(site.files.root + "/sha256")
    assert blobs == [site.files.path(a.sha256)]
    assert site.files.path(a.sha256).endswith(f"/sha256/{a.sha256[:2]}/{a.sha256[2:4]}/{a.sha256}")
    assert site.files.fs.find(site.files.root + "/tmp") == []  # nothing half-written left
    with site.transaction(system=True) as ctx, files.open_file(ctx, a) as fh:
        assert fh.read() == SAMPLES["pdf"]


def test_a_lying_extension_is_refused(site):
    with pytest.raises(Invalid) as refused:
        _store(site, SAMPLES["png"], "certificate.pdf")
    assert refused.value.field == "file"
    assert "PNG image" in refused.value.message and "a PDF" in refused.value.message
    with pytest.raises(Invalid) as renamed:
        _store(site, SAMPLES["png"], "logo.jpg", use="certstub.badge")
    assert "named .jpg" in renamed.value.message and "PNG image" in renamed.value.message
    assert _rows(site) == 0
    assert site.files.fs.find(site.files.root) == []


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("pdf", "application/pdf"),
        ("mp4", "video/mp4"),
        ("webm", "video/webm"),
        ("mp3", "audio/mpeg"),
        ("ogg", "audio/ogg"),
        ("wav", "audio/wav"),
        ("m4a", "audio/mp4"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("odt", "application/vnd.oasis.opendocument.text"),
    ],
)
def test_lesson_files_are_typed_by_their_content(lms, factory, sample, expected):
    course = factory.course()
    with lms.transaction(system=True) as ctx:
        row = files.store(
            ctx, use="core.lesson", data=SAMPLES[sample], filename="upload", course=course
        )
        assert row.content_type == expected
        assert row.filename.startswith("upload.")  # an extension is added when there is none


@pytest.mark.parametrize("sample", ["png", "jpeg", "svg", "html", "zip", "exe"])
def test_lesson_files_refuse_what_is_not_a_document_or_media(lms, factory, sample):
    course = factory.course()
    with pytest.raises(Invalid) as refused, lms.transaction(system=True) as ctx:
        files.store(ctx, use="core.lesson", data=SAMPLES[sample], filename="x", course=course)
    assert refused.value.field == "file" and "lesson files must be" in refused.value.message


def test_svg_is_refused_even_where_images_are_accepted(site):
    with pytest.raises(Invalid, match="SVG image"):
        _store(site, SAMPLES["svg"], "badge.svg", use="certstub.badge")
    assert (
        _store(site, SAMPLES["png"], "badge.png", use="certstub.badge").content_type == "image/png"
    )


def test_size_limits_per_use_and_empty_files(site):
    big = pdf(["x" * 80] * 40) + b"%" + b"0" * 6000
    with pytest.raises(Invalid, match=r"over the 5 kB limit for certificates"):
        _store(site, big)

    class Unseekable(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            chunk = self._data.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    with pytest.raises(Invalid, match="over the 5 kB limit"):
        _store(site, Unseekable(big))
    with pytest.raises(Invalid, match="empty"):
        _store(site, b"")
    with pytest.raises(Invalid, match="not a file use"):
        _store(site, SAMPLES["pdf"], use="nobody.nothing")
    assert _rows(site) == 0
    assert site.files.fs.find(site.files.root) == []


def test_the_config_can_change_a_uses_limit(lms_factory):
    site = lms_factory([PLUGIN])
    cfg = attrs.evolve(
        site.config, files=attrs.evolve(site.config.files, limits={"certstub.pdf": 1})
    )
    bigger = lms_factory([PLUGIN], files=cfg.files)
    big = pdf(["x"]) + b"0" * 6000
    with pytest.raises(Invalid):
        _store(site, big)
    assert _store(bigger, big).size == len(big)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\ann\\cert.pdf", "cert.pdf"),
        ("\udcff\udcfebad\x00name.pdf", "bad_name.pdf"),
        ("", "file.pdf"),
        (None, "file.pdf"),
        ("...", "file.pdf"),
        ("Zertifikat für Ünal.pdf", "Zertifikat für Ünal.pdf"),
        ("a" * 400 + ".pdf", "a" * 196 + ".pdf"),
    ],
)
def test_filenames_are_cleaned_for_display(site, given, kept):
    assert _store(site, SAMPLES["pdf"], given).filename == kept


def test_another_fsspec_url_holds_the_blobs(lms_factory, tmp_path):
    site = lms_factory([PLUGIN])
    url = "memory://lms-test-files"
    other = lms_factory([PLUGIN], files=attrs.evolve(site.config.files, url=url))
    row = _store(other, SAMPLES["pdf"])
    assert BlobStore(url).exists(row.sha256)
    assert not site.files.exists(row.sha256)
    BlobStore(url).fs.rm("/lms-test-files", recursive=True)


def test_read_access_follows_the_uses_permission_and_the_owner(site, factory):
    owner = factory.user()
    stranger = factory.user()
    admin = factory.admin()
    row = _store(site, SAMPLES["pdf"], owner=owner)
    for who, allowed in ((owner, True), (admin, True), (stranger, False), (None, False)):
        with site.transaction(who) as ctx:
            if allowed:
                assert files.readable_file(ctx, row.id).id == row.id
            else:
                with pytest.raises(Forbidden):
                    files.readable_file(ctx, row.id)
    disable_plugin(site, "certstub")
    with pytest.raises(NotFound), site.transaction(owner) as ctx:
        files.readable_file(ctx, row.id)


def test_a_users_files_go_with_their_export_and_erasure(site, factory):
    ann = factory.user()
    bob = factory.user()
    mine = _store(site, SAMPLES["pdf"], "ann.pdf", owner=ann)
    shared = _store(site, SAMPLES["pdf"], "bob.pdf", owner=bob)  # the same bytes as Ann's
    only_mine = _store(site, pdf(["Ann only"]), "ann2.pdf", owner=ann)
    with site.transaction(system=True) as ctx:
        data = export_user(ctx, ann.email)
    exported = {f["filename"]: f for f in data["files"]}
    assert set(exported) == {"ann.pdf", "ann2.pdf"}
    assert exported["ann.pdf"]["sha256"] == mine.sha256
    archive = io.BytesIO()
    with site.transaction(system=True) as ctx:
        export_user_archive(ctx, ann.email, archive)
    with zipfile.ZipFile(archive) as zf:
        assert json.loads(zf.read("export.json"))["files"] == data["files"]
        assert zf.read(exported["ann.pdf"]["archive_path"]) == SAMPLES["pdf"]
        assert zf.read(exported["ann2.pdf"]["archive_path"]) == pdf(["Ann only"])
    with site.transaction(system=True) as ctx:
        erase_user(ctx, ann.email)
    with site.session() as s:
        left = s.scalars(select(StoredFile.filename)).all()
    assert left == ["bob.pdf"]
    assert site.files.exists(shared.sha256)  # Bob's row still names those bytes
    assert not site.files.exists(only_mine.sha256)
