"""The live server behind the browser tests: one app served by werkzeug in a thread."""

from __future__ import annotations

import threading
import traceback
from typing import Any


class LiveServer:
    """A werkzeug server for one app in a background thread.

    It keeps every server error it answers (``errors``: what was asked, and the traceback),
    whether the browser loaded the page, posted a form or fetched in the background; the
    ``serve`` fixture fails the test with them.
    """

    def __init__(self, app: Any) -> None:
        from flask import got_request_exception
        from flask import request
        from flask import request_finished
        from werkzeug.serving import make_server

        self.errors: list[str] = []

        def finished(sender: Any, response: Any, **extra: Any) -> None:
            if response.status_code >= 500:
                self.errors.append(
                    f"{request.method} {request.full_path.rstrip('?')} answered {response.status}"
                )

        def raised(sender: Any, exception: BaseException, **extra: Any) -> None:
            self.errors.append("".join(traceback.format_exception(exception)))

        request_finished.connect(finished, app, weak=False)
        got_request_exception.connect(raised, app, weak=False)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
