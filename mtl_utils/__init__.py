"""mtl_utils: the reusable pieces of the book *Multi-Task Learning in PyTorch*, grouped by the book's parts.

``foundations`` (data, tasks, networks, ``fit``, cost, caching, runs side by side: chapters 1 to 6), ``evidence``
(paired intervals and verdicts; each chapter's results on disk), ``optimization`` (task weighting and gradient
methods: chapters 7, 8 and 8b), ``relatedness`` (which tasks to train together: chapters 2 and 9), ``settings``
(MultiMNIST, the MMoE synthetic tasks, procedural dense scenes), ``architectures`` (multi-LeNet, the small
Transformer, mixtures of experts, MTAN, merging and adapters: chapters 10 to 14), ``benchmark`` (the optimizer
benchmark of chapter 15, ``python -m mtl_utils.benchmark``) and ``distributed`` (the appendix on scaling out).
The names below are the ones nearly every chapter uses, importable from the top.
"""
__version__ = "0.1.0"

from .foundations.data import TaskData, load_mnist, stratified_subset, validation_split
from .foundations.models import HardSharingNet, LeNetTrunk, SingleTaskNet
from .foundations.tasks import Task, digit_task, ink_task, parity_task
from .foundations.train import ARTICLE_RECIPE, BOOK_RECIPE, History, Recipe, evaluate, fit, predict, seed_everything

__all__ = ["TaskData", "load_mnist", "stratified_subset", "validation_split", "HardSharingNet", "LeNetTrunk", "SingleTaskNet", "Task",
           "digit_task", "ink_task", "parity_task", "ARTICLE_RECIPE", "BOOK_RECIPE", "History", "Recipe",
           "evaluate", "fit", "predict", "seed_everything"]
