"""Make the built HTML work with no network, and keep its pages free of console errors.

- MathJax 3 is served from the build itself: Jupyter Book loads it from a CDN by default, so this copies the
  distribution that the PyPI package ``django-static-mathjax`` ships into ``_static/mathjax`` and points Sphinx's
  ``mathjax_path`` at it.
- Each inline script is emitted once: sphinx-thebe 0.3 registers its configuration script twice under Jupyter
  Book 1, which redeclares a ``const`` and raises a SyntaxError in the browser console.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path


def _mathjax_es5() -> Path:
    import mathjax  # provided by django-static-mathjax

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _copy_mathjax(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "mathjax"
        if not (target / "tex-chtml.js").is_file():
            shutil.copytree(_mathjax_es5(), target, dirs_exist_ok=True)


def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = getattr(script, "attributes", {}).get("body") or getattr(script, "filename", str(script))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _escape_bars(app, what, name, obj, options, lines):
    """Docstrings write absolute values and permuted statistics as |ρ*| ≥ |ρ|, which reST would read as substitutions
    and emphasis: escape the bars, and a star that follows a Greek letter, outside literals, so autodoc shows them as written."""
    for i, line in enumerate(lines):
        parts = line.split("``")
        lines[i] = "``".join(part if k % 2 else re.sub(r"(?<=[^\x00-\x7f])\*", r"\\*", part.replace("|", "\\|"))
                             for k, part in enumerate(parts))


def setup(app):
    if not (_mathjax_es5() / "tex-chtml.js").is_file():
        raise RuntimeError("MathJax 3 not found: pip install django-static-mathjax")
    app.config.mathjax_path = "mathjax/tex-chtml.js"
    app.connect("build-finished", _copy_mathjax)
    app.connect("html-page-context", _unique_scripts)
    app.connect("autodoc-process-docstring", _escape_bars)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
