"""The rest of the field's gradient methods, from TorchJD, as weightings that ``fit`` trains with.

TorchJD (``torchjd`` on PyPI, MIT licence) implements many multi-task methods in the shape ``mtl_utils.optimization.weighting``
uses: the Gramian ``G = J Jᵀ`` of the task gradients in, one weight per task out. ``TorchJD`` wraps one of them as a
``Weighting``, so that ``fit(model, tasks, data, weighting=TorchJD(tasks, "UPGrad"))`` trains with it, and the book
does not re-implement what a well-kept library already provides. The update on the shared parameters is
``Σ_t w_t ∇L_t``, as for the book's own gradient methods (see ``mtl_utils.optimization.weighting`` for how heads are treated:
``heads="own"`` gives each head its own unweighted gradient, as TorchJD's ``mtl_backward`` does).

Two of TorchJD's weightings read a matrix with one row per task rather than its Gramian: Nash-MTL and the random
weights of RLW. For them the wrapper passes a square root ``M`` of the Gramian (``M Mᵀ = G``, from its
eigendecomposition): ``M`` has the task gradients' inner products, which is all that Nash-MTL uses, and RLW uses
only the number of rows. RLW needs no gradients, so it costs nothing extra. Methods that draw random numbers (RLW,
PCGrad's order) draw them from torch's global generator, which ``seed_everything`` seeds.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
import torchjd.aggregation as jd
from torch import Tensor, nn

from .weighting import StepContext, Weighting

__all__ = ["METHODS", "TorchJD", "gramian_root"]

#: The methods by name, each a function of the number of tasks that builds TorchJD's weighting with its defaults
#: (CAGrad's ``c = 0.4`` and FairGrad's ``α = 1``, the papers' settings on their multi-task benchmarks). The flag says
#: whether the weighting reads a matrix (``True``) or a Gramian.
METHODS: dict[str, tuple[Callable[[int], nn.Module], bool]] = {
    "UPGrad": (lambda n: jd.UPGradWeighting(), False),
    "DualProj": (lambda n: jd.DualProjWeighting(), False),
    "IMTL-G": (lambda n: jd.IMTLGWeighting(), False),
    "Aligned-MTL": (lambda n: jd.AlignedMTLWeighting(), False),
    "FairGrad": (lambda n: jd.FairGradWeighting(alpha=1.0), False),
    "MGDA": (lambda n: jd.MGDAWeighting(), False),
    "PCGrad": (lambda n: jd.PCGradWeighting(), False),
    "CAGrad": (lambda n: jd.CAGradWeighting(c=0.4), False),
    "Nash-MTL": (lambda n: jd.NashMTL(n_tasks=n).weighting, True),
    "RLW": (lambda n: jd.RandomWeighting(), True),
}
_LOSS_ONLY = {"RLW"}


def gramian_root(gramian: Tensor) -> Tensor:
    """A square matrix ``M`` with ``M Mᵀ = G`` for a symmetric positive semi-definite ``G`` (rounding's tiny negative
    eigenvalues are set to 0)."""
    if gramian.ndim != 2 or gramian.shape[0] != gramian.shape[1]:
        raise ValueError(f"a Gramian is a square matrix, got shape {tuple(gramian.shape)}")
    eigenvalues, vectors = torch.linalg.eigh(gramian.double())
    return (vectors * eigenvalues.clamp_min(0).sqrt()).to(gramian.dtype)


class TorchJD(Weighting):
    """TorchJD's weighting ``method`` (a name in ``METHODS``) as a ``Weighting`` for ``fit``.

    ``gradients`` is where the task gradients are taken: ``"shared"`` (the shared trunk's parameters, as the methods'
    papers define them) or ``"representation"`` (the trunk's output, cheaper, as MGDA-UB does). RLW ignores it.
    ``heads``: ``"weighted"`` or ``"own"`` (see ``mtl_utils.optimization.weighting``); RLW, a loss-only method, weights its heads.
    ``every`` (Nash-MTL only, whose solve is the dearest of these methods): solve the bargaining problem at every
    ``every``-th step only; in between, reuse its last solution, scaled down where the update's norm on the shared
    parameters would exceed ``max_norm`` (1), as the ``update_weights_every`` option of the authors' code does (it
    clips the summed gradient). The scale needs the current task gradients, so they are still computed at every step:
    the solve is saved, not the gradients. 1, the default, solves at every step.
    """

    def __init__(self, tasks: Sequence, method: str, gradients: str = "shared", heads: str = "weighted",
                 every: int = 1) -> None:
        super().__init__(tasks)
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer (solve every `every` steps), got {every!r}")
        if method not in METHODS:
            raise ValueError(f"unknown TorchJD method {method!r}; choose one of {sorted(METHODS)}")
        if every != 1 and method != "Nash-MTL":
            raise ValueError(f"every applies to Nash-MTL only (its update_weights_every), not to {method}")
        self.every = every
        if gradients not in ("shared", "representation"):
            raise ValueError(f"gradients must be 'shared' or 'representation', got {gradients!r}")
        self.method = method
        build, self._reads_matrix = METHODS[method]
        self.jd_weighting = build(len(self.task_names))
        if every != 1:
            self.jd_weighting.update_weights_every = every
        self.gradients = None if method in _LOSS_ONLY else gradients
        if self.gradients is None and heads != "weighted":
            raise ValueError(f"{method} looks at losses only, so its heads are weighted; heads='own' needs a gradient "
                             "method")
        self._set_heads(heads)

    def extra_repr(self) -> str:
        return f"method={self.method!r}, gradients={self.gradients!r}, heads={self.heads!r}, every={self.every}"

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        if self.gradients is None:
            statistic = losses.detach().unsqueeze(1)  # RLW reads only the number of rows
        else:
            gramian = ctx.gramian().detach()
            statistic = gramian_root(gramian) if self._reads_matrix else gramian
        with warnings.catch_warnings():  # cvxpy (Nash-MTL's solver) warns on every call that it cannot cache
            warnings.filterwarnings("ignore", message=".*not DPP.*")
            w = self.jd_weighting(statistic).detach().to(losses.dtype)
        return (w * losses).sum(), w
