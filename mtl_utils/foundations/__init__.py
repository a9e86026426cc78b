"""Foundations (chapters 1 to 6): the data, the tasks, the networks and the training loop every chapter builds on.

``mnist`` (verified offline data), ``data`` (labels, budgets, batching), ``tasks`` (``Task``), ``models`` (the LeNet
trunk; single-task, hard-sharing, soft-sharing and cross-stitch networks), ``losses`` (combining task losses,
distillation), ``distill`` (distillation objectives for ``fit``), ``train`` (``fit``, ``evaluate``), ``cost``
(parameters, FLOPs, latency), ``cache`` (train once, reuse the weights), ``parallel`` (runs side by side in worker
processes), ``baselines`` (the shared reference networks) and ``plots`` (the book's repeated figures).
"""
