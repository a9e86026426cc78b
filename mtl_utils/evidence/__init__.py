"""The book's evidence rules in code, and its results on disk.

``stats`` (seeds, paired intervals, verdicts, Δm%), ``results`` (each chapter's headline results, for the closing
chapter) and ``shipped_results`` (the committed results inside the installed package, for Colab).
"""
