"""Markdown lesson text becomes HTML that is safe to show to anyone."""

from __future__ import annotations

import re

import pytest

from lms_core.markdown import render_markdown
from lms_core.markdown import sanitize_html

# An href or src that would run script (plain text mentioning "javascript:" is harmless).
_DANGEROUS_URL = re.compile(r"(href|src)\s*=\s*[\"']?\s*javascript:", re.IGNORECASE)


def test_markdown_formatting_is_kept():
    html = render_markdown(
        "## Title\n\n*em* **strong** `code` ~~gone~~\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    for fragment in (
        "<h2>Title</h2>",
        "<em>em</em>",
        "<strong>strong</strong>",
        "<code>code</code>",
    ):
        assert fragment in html
    assert "<s>gone</s>" in html or "<del>gone</del>" in html
    assert "<li>one</li>" in html
    assert "<table>" in html and "<td>1</td>" in html


def test_links_keep_their_address_and_are_marked_nofollow():
    html = render_markdown("[docs](https://example.com/docs)")
    assert 'href="https://example.com/docs"' in html
    assert "noopener" in html and "nofollow" in html


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        '<img src="x.png" onerror="alert(1)">',
        '<a href="#" onclick="alert(1)">x</a>',
        "[x](javascript:alert(1))",
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        '<iframe src="https://evil.example"></iframe>',
        '<div style="background:url(javascript:alert(1))">x</div>',
        "<svg onload=alert(1)>",
    ],
)
def test_scripts_event_handlers_and_dangerous_urls_are_removed(source):
    html = render_markdown(f"Before\n\n{source}\n\nAfter").lower()
    assert "<script" not in html
    assert "onerror" not in html and "onclick" not in html and "onload" not in html
    assert not _DANGEROUS_URL.search(html)
    assert "data:text/html" not in html
    assert "<iframe" not in html and "<svg" not in html
    assert "style=" not in html
    assert "before" in html and "after" in html


def test_text_that_looks_like_html_in_code_is_escaped_not_run():
    html = render_markdown("`<script>alert(1)</script>`")
    assert "&lt;script&gt;" in html
    assert "<script>" not in html


def test_empty_text_renders_to_nothing():
    assert render_markdown("") == ""


def test_sanitize_html_keeps_safe_tags():
    assert sanitize_html("<p>Hi <b>there</b></p>") == "<p>Hi <b>there</b></p>"
