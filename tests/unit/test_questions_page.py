"""The "Check your understanding" page, ``book/questions.md``.

Every notebook chapter in ``_toc.yml`` has a section on the page with 3 to 5 questions, each question an
``{admonition} Question N.k`` followed at once by a closed ``{dropdown} Answer``. The page's cross-references point
at real pages, labels and bibliography keys (the strict build would fail on a broken one), and the answers quote no
measured numbers: those belong to the notebooks that compute them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
PAGE = BOOK / "questions.md"

FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<arg>.*)$")
OPTION = re.compile(r"^:[\w-]+:")


def toc_notebooks() -> list[str]:
    """The stems of the chapters in ``_toc.yml`` that are notebooks, in book order (e.g. ``07_task_weighting``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    stems = [Path(f).with_suffix("").name if f.endswith((".md", ".ipynb")) else Path(f).name for f in files]
    return [s for s in stems if (BOOK / f"{s}.ipynb").is_file()]


def chapter_key(stem: str) -> str | None:
    """The chapter's number as the book writes it: ``07_task_weighting`` -> ``7``, ``01b_x`` -> ``1b``."""
    match = re.match(r"(\d+)([a-z]?)_", stem)
    return f"{int(match[1])}{match[2]}" if match else None


def blocks(text: str) -> list[tuple[str, str, str, list[str]]]:
    """The top-level directives of ``text`` in order, as (name, argument, body, option lines)."""
    lines, found, i = text.splitlines(), [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, end = opening["fence"], i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        assert end < len(lines), f"directive {opening['name']!r} opened on line {i + 1} is never closed"
        body = lines[i + 1 : end]
        options = [line for line in body if OPTION.match(line)]
        found.append((opening["name"], opening["arg"].strip(), "\n".join(body), options))
        i = end + 1
    return found


def sections() -> dict[str, str]:
    """The page's ``## `` sections, heading -> text (the heading line excluded)."""
    parts = re.split(r"^## (.+)$", PAGE.read_text(), flags=re.M)
    return {parts[k].strip(): parts[k + 1] for k in range(1, len(parts), 2)}


def section_for(stem: str) -> tuple[str, str]:
    """The section about chapter ``stem``: the one whose introduction links it, else the one headed by its number."""
    key = chapter_key(stem)
    for heading, body in sections().items():
        intro = body[: body.find("```")] if "```" in body else body
        if f"{{doc}}`{stem}`" in intro or (key and re.match(rf"Chapter {re.escape(key)}\b", heading)):
            return heading, body
    pytest.fail(f"book/questions.md has no section for {stem}: add '## Chapter {key}: ...' with a {{doc}} link to it")


def check_questions(heading: str, body: str) -> int:
    """Assert the question/answer structure of one section; return the number of questions."""
    found = blocks(body)
    assert found, f"section {heading!r} has no questions"
    assert len(found) % 2 == 0, f"section {heading!r}: every question needs exactly one answer after it"
    numbers = []
    for (q_name, q_arg, q_body, _), (a_name, a_arg, a_body, a_options) in zip(found[::2], found[1::2]):
        assert q_name == "admonition" and q_arg.startswith("Question "), (
            f"section {heading!r}: expected an '{{admonition}} Question N.k', got {{{q_name}}} {q_arg!r}")
        assert q_body.strip(), f"{q_arg} in {heading!r} is empty"
        assert a_name == "dropdown" and a_arg == "Answer", (
            f"{q_arg} in {heading!r} must be followed by a '{{dropdown}} Answer', got {{{a_name}}} {a_arg!r}")
        assert a_body.strip() and len(a_body.split()) >= 15, f"the answer to {q_arg} in {heading!r} is too short"
        assert not any(o.startswith(":open:") for o in a_options), f"the answer to {q_arg} must start closed"
        numbers.append(q_arg.removeprefix("Question "))
    prefixes = {n.rsplit(".", 1)[0] for n in numbers}
    assert len(prefixes) == 1, f"section {heading!r} mixes question numbers {numbers}"
    prefix = prefixes.pop()
    assert numbers == [f"{prefix}.{k}" for k in range(1, len(numbers) + 1)], (
        f"section {heading!r}: questions must be numbered {prefix}.1, {prefix}.2, ... in order, got {numbers}")
    return len(numbers)


def test_page_exists_with_a_title():
    assert PAGE.is_file(), "book/questions.md is missing"
    assert PAGE.read_text().startswith("# Check your understanding\n")


def test_the_toc_has_notebook_chapters():
    assert len(toc_notebooks()) >= 10


@pytest.mark.parametrize("stem", toc_notebooks())
def test_every_notebook_chapter_has_three_to_five_questions(stem):
    heading, body = section_for(stem)
    count = check_questions(heading, body)
    assert 3 <= count <= 5, f"section {heading!r} has {count} questions; 3 to 5 per chapter"
    key = chapter_key(stem)
    if key is not None:
        assert f"Question {key}.1" in body, f"the questions on {stem} should be numbered {key}.1, {key}.2, ..."


def test_every_section_has_questions_with_hidden_answers():
    for heading, body in sections().items():
        assert 3 <= check_questions(heading, body) <= 5, f"section {heading!r}: 3 to 5 questions"


def test_closing_chapter_section():
    closing = [h for h in sections() if h.startswith("Chapter 16")]
    assert closing, "a section for chapter 16 (when does multi-task learning pay off?) is expected"


def _labels() -> set[str]:
    """Every label a {ref} can point at: MyST targets ``(name)=`` and directive ``:label:`` options."""
    texts = [p.read_text() for p in BOOK.glob("*.md")]
    for path in BOOK.glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        texts += ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    labels = set()
    for text in texts:
        labels |= set(re.findall(r"^\(([\w-]+)\)=\s*$", text, flags=re.M))
        labels |= set(re.findall(r"^:label:\s*([\w-]+)\s*$", text, flags=re.M))
    return labels


def test_cross_references_resolve():
    text = PAGE.read_text()
    for target in re.findall(r"\{doc\}`([^`<>]+)`", text):
        assert any((BOOK / f"{target}{ext}").is_file() for ext in (".ipynb", ".md")), f"{{doc}} `{target}` has no page"
    labels = _labels()
    for target in re.findall(r"\{(?:ref|numref)\}`(?:[^`<]*<)?([\w-]+)>?`", text):
        assert target in labels, f"{{ref}} `{target}` is not a label in the book"
    keys = set(re.findall(r"^@\w+\{([^,]+),", (BOOK / "references.bib").read_text(), flags=re.M))
    for group in re.findall(r"\{(?:cite|cite:p|cite:t|footcite)\}`([^`]+)`", text):
        for key in group.split(","):
            assert key.strip() in keys, f"{{cite}} key {key.strip()!r} is not in book/references.bib"


def test_no_measured_numbers_in_the_answers():
    """Numbers live in the notebooks that compute them; the page points to the section instead."""
    text = PAGE.read_text()
    assert "±" not in text
    # "95% interval" is the convention's confidence level, not a measurement
    quoted = re.findall(r"\d+(?:\.\d+)?\s*(?:%(?!\s+(?:interval|confidence))|points?\b|percentage points)", text)
    assert not quoted, f"measured numbers quoted on the questions page: {quoted}"
