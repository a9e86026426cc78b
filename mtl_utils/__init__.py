"""mtl_utils: the reusable pieces of the book *Multi-Task Learning in PyTorch*.

Modules: ``mnist`` (verified offline data), ``data`` (labels, budgets, batching), ``tasks`` (``Task``), ``models``
(LeNet trunk; single-task, hard-sharing, soft-sharing and cross-stitch networks), ``losses`` (combining task losses,
distillation), ``distill`` (distillation objectives for ``fit``), ``train`` (``fit``, ``evaluate``), ``cost``
(parameters, FLOPs, latency), ``cache`` (train once, reuse the weights), ``baselines`` (the shared reference
networks), ``stats`` (seeds, paired intervals, verdicts, Δm%), ``parallel`` (runs side by side in worker
processes), ``weighting`` (task-weighting and gradient methods for ``fit``),
``similarity`` (mutual information, CKA), ``affinity`` (which tasks to train together), ``multimnist`` and
``multilenet`` (the MultiMNIST benchmark and its network), ``transformer`` (a tiny ViT with a query token per task),
``distributed`` (data-parallel training), ``plots`` and ``results`` (each chapter's headline results on disk, for
the closing chapter).
"""
__version__ = "0.1.0"

from .data import TaskData, load_mnist, stratified_subset, validation_split
from .models import HardSharingNet, LeNetTrunk, SingleTaskNet
from .tasks import Task, digit_task, ink_task, parity_task
from .train import ARTICLE_RECIPE, BOOK_RECIPE, History, Recipe, evaluate, fit, predict, seed_everything

__all__ = ["TaskData", "load_mnist", "stratified_subset", "validation_split", "HardSharingNet", "LeNetTrunk", "SingleTaskNet", "Task",
           "digit_task", "ink_task", "parity_task", "ARTICLE_RECIPE", "BOOK_RECIPE", "History", "Recipe",
           "evaluate", "fit", "predict", "seed_everything"]
