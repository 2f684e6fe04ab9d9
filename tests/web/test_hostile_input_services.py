"""Odd input to the pages of the platform services (notifications, background tasks,
schedules, files) never makes a 500: each answer is a page or a refusal, never a crash.

The test client raises on any 5xx, so every request below fails the test if one happens;
each also asserts the exact status it expects.
"""

from __future__ import annotations

import pytest

from lms_core.testing import csrf_token

PASSWORD = "correct horse battery"
HUGE = "9223372036854775808"  # 2**63
#: Form values, already URL-encoded (so broken UTF-8 can be sent as it would arrive).
ODD = [
    "",
    "x" * 5_000_000,  # 5 MB
    "%00",
    "%ED%A0%80",  # an unpaired surrogate, as UTF-8 bytes (broken Unicode)
    "%FF%FE",  # not UTF-8 at all
    HUGE,
    "-1",
    "..%2F..%2Fetc%2Fpasswd",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
]


def _post(client, path: str, token: str, fields: dict[str, str]):
    body = "&".join([f"csrf_token={token}", *(f"{k}={v}" for k, v in fields.items())])
    return client.post(path, data=body.encode(), content_type="application/x-www-form-urlencoded")


@pytest.fixture
def signed_in(factory, auth):
    person = factory.admin("ada@example.com", password=PASSWORD)
    assert auth.login("ada@example.com", PASSWORD).status_code == 302
    return person


@pytest.mark.parametrize("value", ODD, ids=range(len(ODD)))
def test_odd_preferences_are_refused_or_ignored(client, signed_in, value):
    token = csrf_token(client, "/notifications/preferences")
    answer = _post(
        client,
        "/notifications/preferences",
        token,
        {"core.enrolled": value, (value[:100] or "k"): "email"},
    )
    assert answer.status_code in (302, 400, 413, 422)


@pytest.mark.parametrize("value", ODD, ids=range(len(ODD)))
def test_odd_admin_notification_rules_are_refused_or_ignored(client, signed_in, value):
    token = csrf_token(client, "/admin/notifications/")
    answer = _post(
        client,
        "/admin/notifications/",
        token,
        {"default:core.enrolled": value, "mandatory:core.enrolled": value},
    )
    assert answer.status_code in (302, 400, 413, 422)


@pytest.mark.parametrize("path", ["/notifications/{}/read", "/notifications/{}/open"])
@pytest.mark.parametrize("ident", [HUGE, "0", "-1", "1e9"])
def test_odd_notification_ids_are_not_found(client, signed_in, path, ident):
    token = csrf_token(client, "/notifications/")
    answer = client.post(path.format(ident), data={"csrf_token": token})
    assert answer.status_code == 404


def test_mark_all_read_with_an_offsite_next_stays_on_the_site(client, signed_in):
    token = csrf_token(client, "/notifications/")
    answer = client.post(
        "/notifications/read-all", data={"csrf_token": token, "next": "https://evil.example/"}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/")


@pytest.mark.parametrize("token", ["x", "a.b.c", "\x00", "%ff%fe", "x" * 4000])
def test_odd_unsubscribe_tokens_are_refused(client, token):
    assert client.get(f"/unsubscribe/{token}").status_code in (400, 404)
    assert client.post(
        f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
    ).status_code in (400, 404)


@pytest.mark.parametrize("name", ["nope", "%00", "core.prune_audit%00", "x" * 4000, "..", "%ff"])
def test_odd_schedule_names_are_named_in_a_message(client, signed_in, name):
    token = csrf_token(client, "/admin/schedules")
    for action in ("run", "toggle"):
        answer = client.post(f"/admin/schedules/{name}/{action}", data={"csrf_token": token})
        assert answer.status_code in (302, 404)


@pytest.mark.parametrize("ident", [HUGE, "0", "-5", "abc"])
def test_odd_job_and_file_ids_are_not_found(client, signed_in, ident):
    assert client.get(f"/jobs/{ident}").status_code == 404
    assert client.get(f"/files/{ident}/x.pdf").status_code == 404


def test_an_odd_range_header_on_a_file_is_answered(client, signed_in, lms, factory):
    from lms_core.services import files

    course = factory.course()
    with lms.transaction(system=True) as ctx:
        stored = files.store(
            ctx,
            use="core.lesson",
            data=b"%PDF-1.4\n%odd\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
            filename="x.pdf",
            course=ctx.attach(course),
        )
        url = files.url_for_file(stored)
    for header in ("bytes=999999999-", "bytes=5-2", "bytes=-0", "lines=1-2", "bytes=" + HUGE + "-"):
        answer = client.get(url, headers={"Range": header})
        assert answer.status_code in (200, 206, 416), header
