"""The live server behind the browser tests keeps every server error it answers."""

from __future__ import annotations

import http.client

from liveserver import LiveServer

from lms_core.web import create_app
from lms_core.web.decorators import public


def test_the_live_server_keeps_each_server_error_with_its_traceback(lms):
    app = create_app(lms=lms)

    @public
    def boom():
        raise RuntimeError("the page broke")

    app.add_url_rule("/boom", "boom", boom)
    server = LiveServer(app)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server.server_port, timeout=10)
        statuses = []
        for path in ("/auth/login", "/boom"):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()
    finally:
        server.stop()
    assert statuses == [200, 500]
    assert len(server.errors) == 2, server.errors
    traceback_text, summary = server.errors
    assert "RuntimeError: the page broke" in traceback_text and "in boom" in traceback_text
    assert summary == "GET /boom answered 500 INTERNAL SERVER ERROR"
