"""Open every page of the built book in headless Chromium, with the network cut except for localhost.

Run after the book is built (``make test`` does both). Chromium and its driver come from Debian's packages
(``apt-get install chromium chromium-driver``); a missing browser is a failure, not a skip. Set ``MTL_BOOK_HTML``
to test a build elsewhere than ``_build/html``.
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import chromium
import pytest
import yaml
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("MTL_BOOK_HTML", ROOT / "_build" / "html"))
SHOTS = ROOT / "_build" / "screenshots"


def toc_pages() -> list[str]:
    """Every page named in _toc.yml, as a path without suffix (e.g. ``book/intro``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            pages.append(chapter["file"])
            pages += [s["file"] for s in chapter.get("sections", [])]
    return [p.rsplit(".", 1)[0] if p.endswith((".md", ".ipynb")) else p for p in pages]


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}; run `make book` (or the build step of `make test`) first")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    chrome = chromium.start(page_load_timeout=60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield chrome
    chrome.quit()


def _console_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def _remote_requests(browser) -> list[str]:
    return chromium.remote_requests(browser.get_log("performance"))


def _math_typeset(browser) -> bool:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('.math'))"
        ".every(m => m.querySelector('mjx-container') !== null);")


def _open(browser, url: str) -> None:
    browser.get_log("browser"), browser.get_log("performance")  # drop what earlier pages left
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.readyState") == "complete")


@pytest.mark.parametrize("page", toc_pages())
def test_page(browser, server, page):
    """The page loads offline with no console errors, its images load, and its math is typeset."""
    _open(browser, f"{server}/{page}.html")
    if browser.execute_script("return document.querySelectorAll('.math').length"):
        WebDriverWait(browser, 30).until(_math_typeset, message=f"{page}: math was not typeset by MathJax")
        raw = browser.execute_script("return document.querySelector('article').innerText.match(/\\$\\$|\\\\\\[/g)")
        assert not raw, f"{page}: raw TeX delimiters left in the text"
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);")
    assert broken == [], f"{page}: images that did not load: {broken}"
    assert browser.title, f"{page}: no title"
    browser.save_screenshot(str(SHOTS / f"{page.replace('/', '_')}.png"))
    errors = _console_errors(browser)
    assert not errors, f"{page}: console errors:\n" + "\n".join(errors)
    remote = _remote_requests(browser)
    assert not remote, f"{page}: requests outside localhost:\n" + "\n".join(remote)


def test_chapter_one_has_figure_and_math(browser, server):
    _open(browser, f"{server}/book/01_why_multitask.html")
    WebDriverWait(browser, 30).until(_math_typeset)
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('.cell_output img')).map(i => i.naturalWidth)")
    assert widths and min(widths) > 100, f"chapter 1 should show rendered figures, found widths {widths}"
    assert browser.execute_script("return document.querySelectorAll('mjx-container').length") >= 3


def test_solutions_are_collapsed(browser, server):
    _open(browser, f"{server}/book/01_why_multitask.html")
    heights = browser.execute_script(
        "return Array.from(document.querySelectorAll('.solution')).map("
        "s => Array.from(s.children).filter(c => !c.classList.contains('admonition-title'))"
        ".reduce((h, c) => h + c.offsetHeight, 0));")
    assert heights and max(heights) == 0, f"solution bodies should start hidden, heights {heights}"


@pytest.mark.parametrize("term, page", [("label scarcity", "04_hard_sharing"), ("objective", "01_why_multitask")])
def test_search_finds_chapter(browser, server, term, page):
    if f"book/{page}" not in toc_pages():
        pytest.fail(f"{page} is not in the table of contents")
    _open(browser, f"{server}/search.html?q={term.replace(' ', '+')}")
    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script("return document.querySelectorAll('#search-results li a').length > 0"),
        message=f"no search results for {term!r}")
    hits = browser.execute_script("return Array.from(document.querySelectorAll('#search-results li a')).map(a => a.href)")
    assert any(page in h for h in hits), f"searching {term!r} should find {page}; got {hits}"


def test_bibliography_and_api_pages(browser, server):
    _open(browser, f"{server}/book/bibliography.html")
    n_entries = browser.execute_script("return document.querySelectorAll('.citation').length")
    assert n_entries >= 9
    _open(browser, f"{server}/book/api.html")
    documented = browser.execute_script("return Array.from(document.querySelectorAll('dt.sig')).map(d => d.id)")
    for name in ("mtl_utils.foundations.train.fit", "mtl_utils.foundations.tasks.Task", "mtl_utils.foundations.models.HardSharingNet",
                 "mtl_utils.foundations.mnist.load_mnist"):
        assert name in documented, f"{name} missing from the API page"


CODE_THAT_SCROLLS = """
// Open every collapsed block first (solutions, hidden inputs), so that their code is measured too.
document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
document.querySelectorAll('details').forEach(d => { d.open = true; });
return Array.from(document.querySelectorAll('article div.highlight pre'))
  .filter(pre => !pre.closest('.cell_output'))  // outputs (wide tables, long printed lines) may scroll
  .filter(pre => pre.scrollWidth > pre.clientWidth)
  .map(pre => {
    const longest = pre.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '');
    return `${pre.scrollWidth} > ${pre.clientWidth} px, longest line (${longest.length} characters): ${longest}`;
  });
"""


@pytest.mark.parametrize("page", [p for p in toc_pages() if (ROOT / f"{p}.ipynb").is_file()])
def test_code_fits_the_column(browser, server, page):
    """At a 1,280-px window no code block of a chapter scrolls sideways: the cells are formatted to pyproject.toml's
    line length (tests/unit/test_code_width.py) and book/_static/code.css gives the column room for it."""
    _open(browser, f"{server}/{page}.html")
    assert browser.execute_script("return window.innerWidth") == 1280, "the browser tests use a 1,280-px window"
    assert browser.execute_script("return document.querySelectorAll('article div.highlight pre').length"), \
        f"{page}: no code block found (has the theme's markup changed?)"
    wide = browser.execute_script(CODE_THAT_SCROLLS)
    assert not wide, f"{page}: {len(wide)} code blocks scroll sideways:\n" + "\n".join(wide)
