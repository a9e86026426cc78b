"""The glossary of book/notation.md is linked from the chapters: every ``{term}`` resolves, every entry is used.

A chapter links the first use of a glossary term with ``{term}`hard sharing``` or ``{term}`heads <head>```.
Sphinx matches terms without regard to case, and so does this test.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
NOTATION = BOOK / "notation.md"
TERM = re.compile(r"\{term\}`([^`]+)`")


def glossary_entries(text: str) -> list[list[str]]:
    """The glossary block of ``text`` as entries, each the list of its terms (lower case): a definition may have
    several terms, one a line, before its indented text."""
    block = re.search(r"^```\{glossary\}\n(.*?)^```$", text, re.M | re.S)
    if not block:
        raise ValueError("no ```{glossary} block")
    entries, previous_was_term = [], False
    for line in block.group(1).splitlines():
        is_term = bool(line.strip()) and not line[0].isspace() and not line.startswith(":")
        if is_term and previous_was_term:
            entries[-1].append(line.strip().lower())
        elif is_term:
            entries.append([line.strip().lower()])
        previous_was_term = is_term
    return entries


def term_targets(text: str) -> list[str]:
    """The glossary terms that ``{term}`` roles in ``text`` point to (lower case)."""
    targets = (re.sub(r"^.*<(.+)>$", r"\1", ref, flags=re.S) for ref in TERM.findall(text))
    return [" ".join(target.split()).lower() for target in targets]  # a role may wrap over two lines


def _markdown(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


PAGES = sorted([*BOOK.glob("*.md"), *BOOK.glob("*.ipynb")])
ENTRIES = glossary_entries(NOTATION.read_text(encoding="utf-8"))
DEFINED = {term for entry in ENTRIES for term in entry}


def test_the_parsers_on_a_small_glossary():
    text = "x\n```{glossary}\n:sorted:\n\nMMoE\nOMoE\n  Two kinds.\n\nhead\n  A layer.\n```\n"
    assert glossary_entries(text) == [["mmoe", "omoe"], ["head"]]
    assert term_targets("the {term}`heads <head>` and {term}`MMoE`, not `{term}`") == ["head", "mmoe"]
    assert term_targets("a {term}`single-task\nbaseline` and {term}`baselines <single-task\nbaseline>`") == [
        "single-task baseline", "single-task baseline"]


def test_terms_are_unique():
    terms = [term for entry in ENTRIES for term in entry]
    assert len(terms) == len(set(terms)), sorted({t for t in terms if terms.count(t) > 1})


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_term_link_resolves(page):
    unknown = sorted(set(term_targets(_markdown(page))) - DEFINED)
    assert not unknown, f"{page.name}: {{term}} targets with no glossary entry in notation.md: {unknown}"


def test_every_entry_is_used_outside_the_glossary():
    used = {target for page in PAGES if page != NOTATION for target in term_targets(_markdown(page))}
    unused = [entry for entry in ENTRIES if not used.intersection(entry)]
    assert not unused, ("glossary entries that no page links with {term} (link the first use in a chapter, or "
                        f"remove the entry): {unused}")


def test_the_chapters_link_the_glossary():
    chapters = [p for p in PAGES if p.suffix == ".ipynb"]
    unlinked = [p.name for p in chapters if not term_targets(_markdown(p))]
    assert not unlinked, f"chapters that link no glossary term: {unlinked}"
