"""Every internal link of the built book points to a file that exists, and to an anchor on that page if it names
one. External links are not fetched (the book must build and be tested offline)."""
from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("MTL_BOOK_HTML", ROOT / "_build" / "html"))


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.links.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.links.append(attrs["href"])


def _parse(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def test_internal_links_resolve():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}")
    pages = [p for p in HTML.rglob("*.html") if "_static" not in p.parts]
    parsed = {p: _parse(p) for p in pages}
    broken = []
    for page, info in parsed.items():
        for link in info.links:
            url = urlparse(link)
            if url.scheme or url.netloc or link.startswith(("mailto:", "javascript:")):
                continue  # external: not checked offline
            target = page if not url.path else (page.parent / unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(HTML)} -> {link}")
            elif url.fragment and target.suffix == ".html" and target in parsed:
                if unquote(url.fragment) not in parsed[target].ids:
                    broken.append(f"{page.relative_to(HTML)} -> {link} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:30])
