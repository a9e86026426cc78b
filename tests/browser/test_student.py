"""The student edition of the HTML book (``make student``): every page of the table of contents renders, and no
solution, solution cell or answer is left in it. Its internal links are checked by ``test_links.py`` run with
``MTL_BOOK_HTML`` pointing at it (``make test`` does both)."""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path

import chromium
import pytest
from test_pages import toc_pages

ROOT = Path(__file__).resolve().parents[2]
STUDENT_HTML = Path(os.environ.get("MTL_STUDENT_HTML", ROOT / "_build" / "student" / "html"))
# What a solution or an answer leaves in the HTML: sphinx-exercise's solution admonition, a code cell tagged
# ``solution`` (Jupyter Book turns tags into ``tag_`` classes), a questions-page answer dropdown.
LEFTOVERS = ('class="solution', "tag_solution", ">Answer<")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    if not (STUDENT_HTML / "index.html").is_file():
        pytest.fail(f"no student edition in {STUDENT_HTML.relative_to(ROOT)}: run `make student` first")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(STUDENT_HTML)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.mark.parametrize("page", toc_pages())
def test_no_solution_or_answer_is_left(page):
    html = (STUDENT_HTML / f"{page}.html").read_text(encoding="utf-8")
    found = [leftover for leftover in LEFTOVERS if leftover in html]
    assert not found, f"{page}: the student edition still has {found}"


def test_the_exercises_and_questions_stay():
    assert len(re.findall(r'class="exercise', (STUDENT_HTML / "book" / "01_why_multitask.html").read_text())) >= 3
    assert "Question 1.1" in (STUDENT_HTML / "book" / "questions.html").read_text()


def test_chapters_render_in_the_browser(server):
    browser = chromium.start(page_load_timeout=60)
    try:
        for page in ("book/01_why_multitask", "book/questions"):
            browser.get(f"{server}/{page}.html")
            assert browser.find_elements("css selector", "main h1"), f"{page} has no title"
            errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, f"{page}: console errors {errors}"
    finally:
        browser.quit()
