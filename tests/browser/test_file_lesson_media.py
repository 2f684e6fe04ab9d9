"""File lessons in a real browser, under the site's real CSP: the recording plays and seeks
(range requests), the PDF loads in its frame."""

from __future__ import annotations

from lms_core import sample_files
from lms_core.services import file_lessons

PASSWORD = "correct horse battery staple"


def _until(page, check, tries: int = 100) -> None:
    for _ in range(tries):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError("the condition did not hold within 10 s")


def test_a_learner_plays_a_recording_and_opens_a_pdf(lms, factory, live_server, browser, sign_in):
    course = factory.course("AUD-1", title="Listening", lessons=1)
    with lms.transaction(system=True) as ctx:
        audio = file_lessons.add_file_lesson(
            ctx, ctx.attach(course), "Welcome", data=sample_files.wav(3.0), filename="welcome.wav"
        ).id
        handout = file_lessons.add_file_lesson(
            ctx,
            ctx.attach(course),
            "Handout",
            data=sample_files.pdf(["Hello from the handout"]),
            filename="handout.pdf",
            completion="opened",
        ).id
    factory.enrollment(factory.user("ada@example.com", password=PASSWORD), course)

    # No bypass_csp here: the media and the PDF frame must load under the site's own policy.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_in(page, live_server, "ada@example.com")
        ranges: list[int] = []
        page.on(
            "response",
            lambda r: ranges.append(r.status) if "/files/" in r.url else None,
        )
        assert page.goto(f"{live_server}/courses/{course.id}/lessons/{audio}").status == 200
        player = page.locator("audio.lesson-media")
        player.wait_for()
        # Polled from Python: wait_for_function would evaluate a string, which the CSP forbids.
        _until(page, lambda: player.evaluate("a => a.readyState") >= 1)
        duration = player.evaluate("a => a.duration")
        assert 2.9 < duration < 3.1
        player.evaluate("a => { a.currentTime = 2.5; }")
        _until(
            page,
            lambda: player.evaluate("a => !a.seeking && Math.abs(a.currentTime - 2.5) < 0.1"),
        )
        assert player.evaluate("a => a.error") is None
        assert 206 in ranges or 200 in ranges

        ranges.clear()
        assert page.goto(f"{live_server}/courses/{course.id}/lessons/{handout}").status == 200
        frame = page.locator("iframe.lesson-pdf")
        frame.wait_for()
        page.wait_for_timeout(500)
        assert 200 in ranges or 206 in ranges
        assert page.get_by_text("You completed this lesson").is_visible()
    finally:
        context.close()
