"""The course kit's pages: the generated table of reading and run times is fresh, and the pages' links are real."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import course_times  # noqa: E402
from test_glossary import glossary_entries  # noqa: E402

BOOK = ROOT / "book"
PAGES = [BOOK / "instructors.md", BOOK / "notation.md"]


def test_committed_course_times_are_what_the_script_writes():
    committed = (BOOK / "course_times.md").read_text()
    assert committed == course_times.render(), (
        "book/course_times.md is stale: run `python tools/course_times.py` and commit it")


def test_every_toc_notebook_that_exists_is_in_the_table():
    notebooks = course_times.toc_notebooks()
    assert any(nb.name == "01_why_multitask.ipynb" for nb in notebooks)
    table = (BOOK / "course_times.md").read_text()
    rows = re.findall(r"^\| \{doc\}`([\w-]+)` \|", table, re.M)
    assert rows == [nb.stem for nb in notebooks], "one row per notebook of _toc.yml, in its order"


def test_run_time_comes_from_the_runtime_table_or_says_not_measured(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "  - file: book/a\n  - file: book/b\n  - file: book/missing\n")
    markdown = {"cell_type": "markdown", "metadata": {}, "source": ["word " * 400]}
    code = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": ["x = 1\n", "\n", "y = 2\n"]}
    for name in ("a", "b"):
        (tmp_path / "book" / f"{name}.ipynb").write_text(json.dumps({"cells": [markdown, code]}))
    (tmp_path / "book" / "runtime_table.md").write_text(
        "| notebook | seconds | budget (s) | within it |\n|---|---:|---:|:---:|\n| a.ipynb | 12.5 | 120 | yes |\n")
    text = course_times.render(tmp_path)
    # 400 words / 200 + 2 code lines / 10 = 2.2 minutes, rounded up to 3; b has no row in the runtime table
    assert "| {doc}`a` | 3 | 12.5 | not measured |" in text
    assert "| {doc}`b` | 3 | not measured | not measured |" in text
    (tmp_path / "book" / "runtime_table_one_core.md").write_text(
        "| notebook | seconds | budget (s) | within it |\n|---|---:|---:|:---:|\n| b.ipynb | 30.0 | 120 | yes |\n")
    text = course_times.render(tmp_path)
    assert "| {doc}`a` | 3 | 12.5 | not measured |" in text
    assert "| {doc}`b` | 3 | not measured | 30.0 |" in text
    assert "missing" not in text


def test_a_runtime_table_without_rows_is_an_error(tmp_path):
    table = tmp_path / "runtime_table.md"
    table.write_text("| name | time |\n|---|---|\n| chapter one | 3 |\n")
    with pytest.raises(ValueError, match="has no row"):
        course_times.run_seconds(table)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_doc_links_point_to_pages_of_the_book(page):
    text = page.read_text()
    docs = set(re.findall(r"\{doc\}`(?:[^`<]*<)?([\w./-]+)>?`", text))
    assert docs, "the page links to the chapters"
    for doc in docs:
        being_written = doc == "16_when_mtl_pays_off"  # the closing chapter, written at the same time as these pages
        assert any((BOOK / f"{doc}{ext}").is_file() for ext in (".ipynb", ".md")) or being_written, \
            f"{page.name}: no page book/{doc} for {{doc}}`{doc}`"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_citations_exist_in_the_bibliography(page):
    keys = set(re.findall(r"^@\w+\{([^,]+),", (BOOK / "references.bib").read_text(), re.M))
    for group in re.findall(r"\{(?:foot)?cite\}`([^`]+)`", page.read_text()):
        for key in group.split(","):
            assert key.strip() in keys, f"{page.name}: unknown citation key {key}"


def _glossary_entries() -> list[list[str]]:
    """The glossary of notation.md as entries, each the list of its terms (lower case)."""
    return glossary_entries((BOOK / "notation.md").read_text())


def test_every_glossary_entry_points_to_a_chapter():
    """No cap on the number of entries: tests/unit/test_glossary.py checks instead that every entry is linked."""
    entries = _glossary_entries()
    text = (BOOK / "notation.md").read_text()
    block = re.search(r"^```\{glossary\}\n(.*?)^```$", text, re.M | re.S).group(1)
    definitions = re.split(r"\n\n(?=\S)", block.split("\n\n", 1)[1])
    assert len(definitions) == len(entries)
    for terms, definition in zip(entries, definitions):
        assert "{doc}`" in definition, f"the entry {terms} points to no chapter"


def test_every_term_used_is_defined():
    defined = {term for entry in _glossary_entries() for term in entry}
    used = set()
    for page in PAGES:
        for ref in re.findall(r"\{term\}`([^`]+)`", page.read_text()):
            used.add(re.sub(r".*<(.+)>$", r"\1", ref).strip().lower())
    assert used <= defined, f"{{term}} targets without a glossary entry: {sorted(used - defined)}"


def test_every_exercise_reference_is_a_label_in_a_chapter():
    labels = set()
    for nb in BOOK.glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            labels.update(re.findall(r"^:label: ([\w-]+)", "".join(cell["source"]), re.M))
    for page in PAGES:
        for ref in re.findall(r"\{ref\}`([^`]+)`", page.read_text()):
            target = re.sub(r".*<(.+)>$", r"\1", ref).strip()
            assert target in labels, f"{page.name}: no exercise labelled {target}"


def test_the_instructors_page_includes_the_generated_times_and_types_none():
    text = (BOOK / "instructors.md").read_text()
    assert "```{include} course_times.md" in text
    assert not re.search(r"\b\d+\s*(?:min|minutes|s|seconds)\b", text), "reading and run times come from the include"


def test_learning_outcome_headings_carry_the_chapters_titles():
    headings = re.findall(r"^### \{doc\}`(.+) <([\w-]+)>`$", (BOOK / "instructors.md").read_text(), re.M)
    assert len(headings) >= len(course_times.toc_notebooks()) - 1, "one heading per chapter"
    for title, stem in headings:
        path = BOOK / f"{stem}.ipynb"
        if not path.is_file():  # a chapter that is being written
            continue
        markdown = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                             if c["cell_type"] == "markdown")
        actual = re.search(r"^# (.+)$", markdown, re.M).group(1).replace("`", "")
        assert title == actual, f"instructors.md calls {stem} '{title}', the chapter's title is '{actual}'"
