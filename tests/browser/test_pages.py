"""Open every page of the built book in headless Chromium, with the network cut except for localhost.

Run after the book is built (``make test`` does both). Chromium and its driver come from Debian's packages
(``apt-get install chromium chromium-driver``); a missing browser is a failure, not a skip.
"""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
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

    handler = functools.partial(Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("Chromium is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--window-size=1280,1600",
                 # cut the network: every host name fails to resolve except the local server
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.set_page_load_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield chrome
    chrome.quit()


def _errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def _math_typeset(browser) -> bool:
    return browser.execute_script("""
        const math = document.querySelectorAll('.math, span.math, div.math');
        return Array.from(math).every(m => m.querySelector('mjx-container') !== null);
    """)


@pytest.mark.parametrize("page", toc_pages())
def test_page_loads_cleanly(browser, server, page):
    browser.get_log("browser")  # drop what earlier pages left
    browser.get(f"{server}/{page}.html")
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.readyState") == "complete")
    n_math = browser.execute_script("return document.querySelectorAll('.math').length")
    if n_math:
        WebDriverWait(browser, 30).until(_math_typeset, message=f"{page}: math was not typeset by MathJax")
    broken = browser.execute_script("""
        return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
    """)
    assert broken == [], f"{page}: images that did not load: {broken}"
    assert browser.title, f"{page}: no title"
    browser.save_screenshot(str(SHOTS / f"{page.replace('/', '_')}.png"))
    errors = _errors(browser)
    assert not errors, f"{page}: console errors:\n" + "\n".join(errors)


def test_chapter_one_has_figure_and_math(browser, server):
    browser.get(f"{server}/book/01_why_multitask.html")
    WebDriverWait(browser, 30).until(_math_typeset)
    figures = browser.execute_script(
        "return Array.from(document.querySelectorAll('.cell_output img')).map(i => i.naturalWidth)")
    assert figures and min(figures) > 100, f"chapter 1 should show a rendered figure, found widths {figures}"
    n_typeset = browser.execute_script("return document.querySelectorAll('mjx-container').length")
    assert n_typeset >= 3, "chapter 1's equations should be typeset"
