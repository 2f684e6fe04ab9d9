"""File lessons: an instructor uploads a PDF, a video or a recording; learners see it inline,
seek in it (ranges), download it, and complete it when opened or when they mark it."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func
from sqlalchemy import select

from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.models import StoredFile
from lms_core.services import file_lessons
from lms_core.services import files as file_service
from lms_core.services.enrollments import enroll
from lms_core.testing import DEFAULT_PASSWORD
from lms_core.testing import csrf_token
from lms_core.testing import text_of
from tests.file_samples import SAMPLES
from tests.file_samples import mp4


@pytest.fixture
def teacher(factory):
    return factory.user("teacher@example.com", password=DEFAULT_PASSWORD)


@pytest.fixture
def course(factory, teacher):
    return factory.course(lessons=1, instructors=[teacher])


def _upload(client, course, data, filename, *, title="Handout", completion="marked", kind="file"):
    token = csrf_token(client, f"/teach/courses/{course.id}")
    form = {
        "csrf_token": token,
        "lesson-kind": kind,
        "lesson-title": title,
        "lesson-body": "",
        "lesson-required": "y",
        "lesson-completion": completion,
    }
    if data is not None:
        form["lesson-file"] = (io.BytesIO(data), filename)
    return client.post(
        f"/teach/courses/{course.id}/lessons", data=form, content_type="multipart/form-data"
    )


def _file_lessons(lms, course):
    with lms.session() as s:
        return s.scalars(
            select(Lesson).where(Lesson.course_id == course.id, Lesson.kind == "file")
        ).all()


def _file_count(lms) -> int:
    with lms.session() as s:
        return s.scalar(select(func.count()).select_from(StoredFile))


def _file_lesson(lms, course, data, filename, completion="marked"):
    with lms.transaction(system=True) as ctx:
        lesson = file_lessons.add_file_lesson(
            ctx, ctx.attach(course), "Watch", data=data, filename=filename, completion=completion
        )
        return lesson.id, lesson.data["file_id"]


def _learner(factory, course, email="lea@example.com"):
    user = factory.user(email, password=DEFAULT_PASSWORD)
    factory.enrollment(user, course)
    return user


def test_an_instructor_uploads_a_pdf_lesson(lms, client, auth, course, teacher):
    assert auth.login("teacher@example.com").status_code == 302
    response = _upload(client, course, SAMPLES["pdf"], "Handout.pdf")
    assert response.status_code == 302
    (lesson,) = _file_lessons(lms, course)
    assert lesson.data["content_type"] == "application/pdf"
    assert lesson.data["filename"] == "Handout.pdf"
    edit = text_of(client.get(f"/teach/courses/{course.id}/lessons/{lesson.id}"))
    assert "Handout.pdf" in edit and 'enctype="multipart/form-data"' in edit


def test_a_lying_extension_is_refused_with_the_form_and_nothing_is_kept(
    lms, client, auth, course, teacher
):
    assert auth.login("teacher@example.com").status_code == 302
    page = text_of(_upload(client, course, SAMPLES["png"], "slides.pdf"), 400)
    assert "PNG image" in page and "lesson files must be" in page
    assert re.search(r'id="lesson-file-error"', page)
    page = text_of(_upload(client, course, mp4(), "notes.pdf"), 400)
    assert "named .pdf" in page
    assert _file_lessons(lms, course) == [] and _file_count(lms) == 0


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (None, None, "Choose the file to upload"),
        (b"", "empty.pdf", "The file is empty (0 bytes)"),
        (SAMPLES["html"], "page.html", "web page (HTML)"),
        (SAMPLES["exe"], "setup.exe", "Windows program"),
    ],
)
def test_hostile_uploads_get_a_clear_message(
    lms, client, auth, course, teacher, data, filename, message
):
    assert auth.login("teacher@example.com").status_code == 302
    assert message in text_of(_upload(client, course, data, filename), 400)
    assert _file_lessons(lms, course) == [] and _file_count(lms) == 0


def test_a_zero_byte_file_is_refused_by_the_service(lms, course):
    with pytest.raises(Exception, match="empty"), lms.transaction(system=True) as ctx:
        file_lessons.add_file_lesson(ctx, ctx.attach(course), "X", data=b"", filename="x.pdf")
    assert _file_count(lms) == 0


def test_a_lying_content_type_header_is_ignored(lms, client, auth, course, teacher):
    assert auth.login("teacher@example.com").status_code == 302
    token = csrf_token(client, f"/teach/courses/{course.id}")
    from werkzeug.datastructures import FileStorage

    upload = FileStorage(io.BytesIO(SAMPLES["wav"]), "tone.wav", content_type="application/pdf")
    response = client.post(
        f"/teach/courses/{course.id}/lessons",
        data={
            "csrf_token": token,
            "lesson-kind": "file",
            "lesson-title": "Tone",
            "lesson-completion": "marked",
            "lesson-file": upload,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    (lesson,) = _file_lessons(lms, course)
    assert lesson.data["content_type"] == "audio/wav"


def test_an_upload_over_the_request_limit_is_a_413_page_naming_it(
    lms, app, client, auth, course, teacher
):
    import attrs

    lms.config = attrs.evolve(lms.config, files=attrs.evolve(lms.config.files, max_upload_mb=1))
    assert auth.login("teacher@example.com").status_code == 302
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import stream_encode_multipart

    # Encoded in memory: the test client would spool a body this large to a file it never closes.
    stream, length, boundary = stream_encode_multipart(
        {
            "csrf_token": csrf_token(client, f"/teach/courses/{course.id}"),
            "lesson-kind": "file",
            "lesson-title": "Big",
            "lesson-file": FileStorage(io.BytesIO(SAMPLES["pdf"] + b"0" * 1_100_000), "big.pdf"),
        },
        use_tempfile=False,
    )
    response = client.post(
        f"/teach/courses/{course.id}/lessons",
        data=stream.read(),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    page = text_of(response, 413)
    assert "over the 1 MB limit" in page
    assert _file_count(lms) == 0


@pytest.mark.parametrize(
    ("sample", "filename", "tag"),
    [
        ("mp4", "talk.mp4", "<video"),
        ("wav", "tone.wav", "<audio"),
        ("pdf", "handout.pdf", "<iframe"),
        ("docx", "notes.docx", None),
    ],
)
def test_learners_see_the_file_inline_and_can_download_it(
    lms, client, auth, factory, course, sample, filename, tag
):
    lesson_id, file_id = _file_lesson(lms, course, SAMPLES[sample], filename)
    _learner(factory, course)
    assert auth.login("lea@example.com").status_code == 302
    page = text_of(client.get(f"/courses/{course.id}/lessons/{lesson_id}"))
    url = f"/files/{file_id}/{filename}"
    if tag:
        assert tag in page and f'src="{url}"' in page
    else:
        assert "<video" not in page and "<iframe" not in page
    assert f'href="{url}?download=1"' in page
    shown = client.get(url)
    assert shown.status_code == 200 and shown.data == SAMPLES[sample]
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    with lms.session() as session:
        assert shown.headers["ETag"].strip('"') == session.get(StoredFile, file_id).sha256
    disposition = shown.headers["Content-Disposition"]
    assert disposition.startswith("inline" if tag else "attachment")
    assert f"filename={filename}" in disposition
    downloaded = client.get(url + "?download=1")
    assert downloaded.status_code == 200
    assert downloaded.headers["Content-Disposition"].startswith("attachment")


def test_a_range_request_answers_206_with_those_bytes(lms, client, auth, factory, course):
    video = mp4(200_000)
    lesson_id, file_id = _file_lesson(lms, course, video, "talk.mp4")
    _learner(factory, course)
    assert auth.login("lea@example.com").status_code == 302
    response = client.get(f"/files/{file_id}/talk.mp4", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.data == video[1000:2000]
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(video)}"
    assert response.headers["Accept-Ranges"] == "bytes"
    tail = client.get(f"/files/{file_id}/talk.mp4", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == video[-10:]
    etag = response.headers["ETag"]
    assert client.get(f"/files/{file_id}/x", headers={"If-None-Match": etag}).status_code == 304
    beyond = client.get(f"/files/{file_id}/talk.mp4", headers={"Range": "bytes=999999999-"})
    assert beyond.status_code == 416


def test_a_file_is_refused_to_people_without_the_uses_permission(lms, app, factory, course):
    lesson_id, file_id = _file_lesson(lms, course, SAMPLES["pdf"], "handout.pdf")
    factory.user("outsider@example.com", password=DEFAULT_PASSWORD)
    _learner(factory, course)
    from lms_core.testing import AuthActions

    outsider = app.test_client()
    assert AuthActions(outsider).login("outsider@example.com").status_code == 302
    assert outsider.get(f"/files/{file_id}/handout.pdf").status_code == 403
    anonymous = app.test_client()
    response = anonymous.get(f"/files/{file_id}/handout.pdf")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert app.test_client().get("/files/999999/nothing.pdf").status_code == 404
    learner = app.test_client()
    assert AuthActions(learner).login("lea@example.com").status_code == 302
    assert learner.get(f"/files/{file_id}/handout.pdf").status_code == 200
    assert learner.get("/files/999999/nothing.pdf").status_code == 404


def test_completion_when_opened(lms, client, auth, factory, course):
    lesson_id, _ = _file_lesson(lms, course, SAMPLES["pdf"], "handout.pdf", completion="opened")
    _learner(factory, course)
    assert auth.login("lea@example.com").status_code == 302
    page = text_of(client.get(f"/courses/{course.id}/lessons/{lesson_id}"))
    assert "You completed this lesson" in page and "Mark complete" not in page
    with lms.session() as s:
        assert s.scalar(select(func.count()).select_from(LessonProgress)) == 1
    text_of(client.get(f"/courses/{course.id}/lessons/{lesson_id}"))  # opened again: once
    with lms.session() as s:
        assert s.scalar(select(func.count()).select_from(LessonProgress)) == 1


def test_completion_when_marked(lms, client, auth, factory, course):
    lesson_id, _ = _file_lesson(lms, course, SAMPLES["pdf"], "handout.pdf", completion="marked")
    _learner(factory, course)
    assert auth.login("lea@example.com").status_code == 302
    page = text_of(client.get(f"/courses/{course.id}/lessons/{lesson_id}"))
    assert "Mark complete" in page
    with lms.session() as s:
        assert s.scalar(select(func.count()).select_from(LessonProgress)) == 0
    token = csrf_token(client, f"/courses/{course.id}/lessons/{lesson_id}")
    response = client.post(
        f"/courses/{course.id}/lessons/{lesson_id}/complete", data={"csrf_token": token}
    )
    assert response.status_code == 302
    with lms.session() as s:
        assert s.scalar(select(func.count()).select_from(LessonProgress)) == 1


def test_the_instructor_switches_completion_and_replaces_the_file(
    lms, client, auth, course, teacher
):
    lesson_id, old_file = _file_lesson(lms, course, SAMPLES["pdf"], "v1.pdf")
    assert auth.login("teacher@example.com").status_code == 302
    url = f"/teach/courses/{course.id}/lessons/{lesson_id}"
    token = csrf_token(client, url)
    response = client.post(
        url,
        data={
            "csrf_token": token,
            "title": "Watch",
            "body": "",
            "required": "y",
            "completion": "opened",
            "file": (io.BytesIO(SAMPLES["mp4"]), "v2.mp4"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with lms.session() as s:
        lesson = s.get(Lesson, lesson_id)
        assert lesson.data["completion"] == "opened"
        assert lesson.data["content_type"] == "video/mp4"
        assert s.get(StoredFile, old_file) is None
    refused = client.post(
        url,
        data={"csrf_token": token, "title": "Watch", "completion": "sometimes"},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400


def test_deleting_a_file_lesson_deletes_its_file(lms, course, factory):
    lesson_id, file_id = _file_lesson(lms, course, SAMPLES["pdf"], "gone.pdf")
    from lms_core.services import courses as course_service

    with lms.transaction(system=True) as ctx:
        sha = ctx.session.get(StoredFile, file_id).sha256
        course_service.delete_lesson(ctx, ctx.session.get(Lesson, lesson_id))
    assert _file_count(lms) == 0
    assert not lms.files.exists(sha)


def test_a_file_lesson_course_can_be_enrolled_and_completed(lms, factory, course):
    # The course has one page lesson; opening the file lesson alone does not complete it.
    lesson_id, _ = _file_lesson(lms, course, SAMPLES["pdf"], "h.pdf", completion="opened")
    user = factory.user()
    with lms.transaction(system=True) as ctx:
        enrollment = enroll(ctx, ctx.attach(user), ctx.attach(course))
        assert file_lessons.lesson_opened(ctx, enrollment, ctx.session.get(Lesson, lesson_id))
        assert enrollment.status == "active"


def test_the_file_lesson_page_and_route_do_not_query_per_file(lms, factory):
    from lms_core.testing import AuthActions
    from lms_core.testing import count_statements
    from lms_core.web import create_app

    small = factory.course(lessons=1)
    large = factory.course(lessons=1)
    _, small_file = _file_lesson(lms, small, SAMPLES["pdf"], "a.pdf")
    for n in range(20):
        _file_lesson(lms, large, SAMPLES["mp4"], f"v{n}.mp4")
    large_lesson, large_file = _file_lesson(lms, large, SAMPLES["pdf"], "a.pdf")
    small_lesson = _file_lessons(lms, small)[0].id
    user = _learner(factory, small)
    factory.enrollment(user, large)
    client = create_app(lms=lms).test_client()
    assert AuthActions(client).login("lea@example.com").status_code == 302
    counts = []
    for course, lesson, file_id in (
        (small, small_lesson, small_file),
        (large, large_lesson, large_file),
    ):
        for path in (f"/courses/{course.id}/lessons/{lesson}", f"/files/{file_id}/a.pdf"):
            assert client.get(path).status_code == 200  # warm caches
            with count_statements(lms) as seen:
                assert client.get(path).status_code == 200
            counts.append(len(seen))
    assert counts[:2] == counts[2:], counts
    assert counts[1] <= 8, counts


def test_a_learner_who_left_the_course_is_refused_its_files(lms, client, auth, factory, course):
    from lms_core.services.enrollments import find_enrollment
    from lms_core.services.enrollments import withdraw

    _, file_id = _file_lesson(lms, course, SAMPLES["pdf"], "handout.pdf")
    user = _learner(factory, course)
    assert auth.login("lea@example.com").status_code == 302
    assert client.get(f"/files/{file_id}/handout.pdf").status_code == 200
    with lms.transaction(system=True) as ctx:
        withdraw(ctx, find_enrollment(ctx, ctx.attach(user), ctx.attach(course)))
    assert client.get(f"/files/{file_id}/handout.pdf").status_code == 403


def test_a_file_of_a_disabled_plugins_use_is_not_found(lms_factory, factory):
    from lms_core.services.plugins import disable_plugin
    from lms_core.testing import AuthActions
    from lms_core.web import create_app

    site = lms_factory(["sample_plugins.certstub"])
    owner = factory.user("owner@example.com", password=DEFAULT_PASSWORD)
    with site.transaction(system=True) as ctx:
        file_id = file_service.store(
            ctx, use="certstub.pdf", data=SAMPLES["pdf"], filename="c.pdf", owner=ctx.attach(owner)
        ).id
    client = create_app(lms=site).test_client()
    assert AuthActions(client).login("owner@example.com").status_code == 302
    assert client.get(f"/files/{file_id}/c.pdf").status_code == 200
    disable_plugin(site, "certstub")
    assert client.get(f"/files/{file_id}/c.pdf").status_code == 404
