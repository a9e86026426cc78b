"""The book's multi-task problems beyond MNIST's own labels, each generated or loaded with no download.

``multimnist`` (two digits in one image), ``synthetic`` (two regression tasks with a relatedness dial), ``scenes``
(procedural scenes with exact dense labels; NYUv2 in the MTAN layout) and ``dense`` (per-pixel tasks and metrics).
"""
