"""Task weighting: turn the per-task losses of one training step into the update that ``fit`` applies.

Every method is a ``Weighting``, an ``nn.Module`` called as ``objective, weights = weighting(losses, ctx)``:
``losses`` is the vector ``[L_1, …, L_T]`` of the step, still attached to the graph, ``ctx`` a ``StepContext`` that
``fit`` builds, ``objective`` the scalar that ``fit`` back-propagates and ``weights`` the detached ``[T]`` vector
``w`` that it records (the coefficient of each task's gradient in the update). Learned weights (uncertainty's
log-variances, GradNorm's logits) are parameters of the module, so ``fit`` hands them to the optimizer and they are
saved with ``state_dict``.

Two families:

- **loss-only** methods (``Static``, ``Uncertainty``, ``DWA``, ``FAMO``) look at loss values only and cost nothing
  extra (FAMO scores the batch once more after the update);
- **gradient** methods (``GradNorm``, ``PCGrad``, ``MGDA``, ``CAGrad``, ``GradientMagnitude``) look at the task gradients through the
  Gramian ``G = J Jᵀ`` (``G_ij = ⟨∇L_i, ∇L_j⟩``) over the parameters or tensor named by their ``gradients``
  attribute: ``"shared"`` (the shared trunk's parameters), ``"last_shared"`` (the last shared layer, GradNorm) or
  ``"representation"`` (the trunk's output, MGDA-UB). They cost one extra backward pass per task (through the
  heads only, for the representation). Their update on
  the shared parameters, ``Σ_t w_t ∇L_t``, is a linear combination of the task gradients, so they too return
  ``(w · L).sum()`` with ``w`` computed from ``G`` and treated as a constant.

**Heads.** By default (``heads="weighted"``) the objective is ``Σ_t w_t L_t`` for this step's ``w``, so head ``t``
receives ``w_t ∇L_t``, exactly as with static weights; the loss-weighting papers do this too, and it keeps one rule
and one backward pass. PCGrad, MGDA and CAGrad were defined on the shared parameters and leave each head its own
unweighted gradient: ``heads="own"`` (on the gradient methods) does that, and ``fit`` then back-propagates
``Σ_t w_t L_t`` into the shared parameters only and ``Σ_t L_t`` into the heads (the heads' backward runs twice,
the trunk's once).

**After the step.** A method that must see the losses after the update (FAMO) sets ``needs_after_step``; ``fit``
then scores the same batch again, without gradients, and calls ``after_step(losses)``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["StepContext", "Weighting", "Static", "Uncertainty", "DWA", "GradNorm", "FAMO", "PCGrad", "MGDA",
           "CAGrad", "GradientMagnitude", "HEADS", "MGDA_NORMALIZATIONS", "task_gradients", "task_gramian", "min_norm_weights", "pcgrad_weights", "cagrad_weights"]

@dataclass
class StepContext:
    """What a weighting may know about the current step. ``fit`` builds it; ``gramian()`` is computed on demand.

    ``step`` counts the steps done before this one (0 at the first step), ``epoch`` starts at 1.
    """

    step: int
    epoch: int
    steps_per_epoch: int
    gramian: Callable[[], Tensor] | None = None


def task_gradients(losses: Tensor, inputs: Sequence[Tensor]) -> Tensor:
    """The Jacobian ``J`` ``[T, P]``: row ``t`` is ``∇L_t`` with respect to ``inputs``, flattened and concatenated.

    The graph is kept, so the losses can still be back-propagated afterwards. An input a loss does not reach
    contributes zeros.
    """
    if losses.dim() != 1 or len(losses) == 0:
        raise ValueError(f"losses must be a non-empty vector [T], got shape {tuple(losses.shape)}")
    inputs = list(inputs)
    if not inputs:
        raise ValueError("task_gradients needs at least one input tensor")
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(x) if g is None else g).flatten() for g, x in zip(grads, inputs)]))
    return torch.stack(rows)


def task_gramian(losses: Tensor, inputs: Sequence[Tensor]) -> Tensor:
    """``G = J Jᵀ`` ``[T, T]``: the inner products of the task gradients with respect to ``inputs``."""
    jac = task_gradients(losses, inputs)
    return jac @ jac.T


def _check_gramian(gramian: Tensor) -> Tensor:
    if gramian.dim() != 2 or gramian.shape[0] != gramian.shape[1] or gramian.shape[0] == 0:
        raise ValueError(f"a Gramian must be a square [T, T] matrix, got shape {tuple(gramian.shape)}")
    return gramian.detach()


def _host(gramian: Tensor) -> np.ndarray:
    """The Gramian as a float64 NumPy array: a [T, T] solve is a few microseconds per operation on the host."""
    return _check_gramian(gramian).to(torch.float64).cpu().numpy()


def _pairwise_frank_wolfe(grad: Callable[[np.ndarray], np.ndarray],
                          line: Callable[[np.ndarray, np.ndarray, float], float],
                          n: int, iterations: int, tol: float) -> np.ndarray:
    """Minimize a convex function over the simplex with pairwise Frank-Wolfe, from ``1/n``.

    Each step moves weight from the used vertex with the largest partial derivative to the vertex with the
    smallest, by the step ``line(w, d, γ_max)`` finds on ``w + γ d``, ``γ ≤ γ_max``. Unlike plain Frank-Wolfe it can
    drop a task to exactly 0 and converges linearly. Stops when the two derivatives differ by at most ``tol``.
    """
    w = np.full(n, 1.0 / n)
    for _ in range(iterations):
        g = grad(w)
        t = int(g.argmin())
        s = int(np.where(w > 0, g, -np.inf).argmax())
        if g[s] - g[t] <= tol:
            break
        d = np.zeros(n)
        d[t], d[s] = 1.0, -1.0
        w = w + line(w, d, w[s]) * d
        w[s] = max(w[s], 0.0) if w[s] > 1e-15 else 0.0
    return w


def min_norm_weights(gramian: Tensor, iterations: int = 1000, tol: float = 1e-10) -> Tensor:
    """The point of the simplex that minimizes ``‖Σ_t w_t g_t‖² = wᵀ G w``: MGDA's min-norm problem.

    Sener & Koltun (2018, Algorithm 2) solve it with Frank-Wolfe and an exact line search; we use its pairwise
    variant (``_pairwise_frank_wolfe``), which reaches optima on the simplex's faces (a task weighted 0) in a few
    steps where plain Frank-Wolfe zig-zags. With two tasks the first step lands on the closed form
    ``γ = clip((G₂₂ − G₁₂) / (G₁₁ + G₂₂ − 2 G₁₂), 0, 1)``. Solved in float64 on the host (one small copy per step).
    """
    g = _host(gramian)

    def line(w: np.ndarray, d: np.ndarray, most: float) -> float:  # argmin over γ in [0, most] of ‖G½(w + γd)‖²
        curvature = d @ g @ d
        return float(np.clip(-(w @ g @ d) / curvature, 0.0, most)) if curvature > 0 else most

    w = _pairwise_frank_wolfe(lambda w: 2 * g @ w, line, len(g), iterations, tol * max(float(np.abs(g).max()), 1e-30))
    return torch.as_tensor(w, dtype=gramian.dtype, device=gramian.device)


def pcgrad_weights(gramian: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """PCGrad's update ``Σ_i g_i'`` written as ``Σ_j w_j g_j`` (Yu et al. 2020).

    Each task gradient ``g_i`` is projected, in a random order of the other tasks ``j``, onto the normal plane of
    every ``g_j`` it conflicts with: ``g_i' ← g_i' − min(0, ⟨g_i', g_j⟩) / ‖g_j‖² · g_j``. Every ``g_i'`` stays a
    combination ``Σ_j c_ij g_j``, and its inner products are ``c_i G``, so the Gramian is all we need.
    """
    g = _check_gramian(gramian)
    n = g.shape[0]
    coef = torch.eye(n, dtype=g.dtype, device=g.device)
    for i in range(n):
        for j in torch.randperm(n, generator=generator).tolist():
            if j == i:
                continue
            dot = coef[i] @ g[:, j]
            coef[i, j] = coef[i, j] - dot.clamp(max=0) / g[j, j].clamp_min(1e-20)
    return coef.sum(dim=0)


def cagrad_weights(gramian: Tensor, c: float = 0.4, iterations: int = 1000, tol: float = 1e-10) -> Tensor:
    """CAGrad's update ``g_0 + (√φ / ‖g_w‖) g_w``, rescaled by ``1 / (1 + c²)``, as weights on the task gradients.

    Liu et al. (2021): ``g_0`` is the average gradient, ``φ = c² ‖g_0‖²``, and ``w`` minimizes
    ``F(w) = ⟨g_w, g_0⟩ + √φ ‖g_w‖`` over the simplex, with ``g_w = Σ_t w_t g_t``. ``F`` is convex in ``w``; we
    minimize it with pairwise Frank-Wolfe and an exact line search (``F``'s derivative along the step has a
    closed-form root, see ``line``), in float64 on the host. The rescaling is the authors' code's default.
    ``c = 0`` gives the average gradient.
    """
    if not (isinstance(c, (int, float)) and 0 <= c < float("inf")):
        raise ValueError(f"CAGrad's c must be a finite number >= 0, got {c!r}")
    g = _host(gramian)
    n = len(g)
    mean = np.full(n, 1.0 / n)
    sqrt_phi = c * np.sqrt(max(mean @ g @ mean, 0.0))

    def grad(w: np.ndarray) -> np.ndarray:
        return g @ mean + sqrt_phi * (g @ w) / np.sqrt(max(w @ g @ w, 1e-30))

    def line(w: np.ndarray, d: np.ndarray, most: float) -> float:  # exact minimizer of F(w + γd), γ in [0, most]
        # F(w + γd) = const + k γ + √φ √q(γ), q(γ) = A γ² + 2 B γ + C; F' = 0 where (A γ + B) / √q = ρ = −k / √φ.
        k, a, b, cc = mean @ g @ d, d @ g @ d, w @ g @ d, w @ g @ w
        if sqrt_phi == 0 or a <= 1e-30:  # F is linear along d
            return most if k < 0 else 0.0
        rho = -k / sqrt_phi
        if rho * rho >= a:  # F' never vanishes: F falls (ρ > 0) or rises (ρ < 0) all along the segment
            return most if rho > 0 else 0.0
        q = max(a * cc - b * b, 0.0) / (a - rho * rho)  # from (A γ + B)² = A q − (A C − B²) = ρ² q
        return float(np.clip((rho * np.sqrt(q) - b) / a, 0.0, most))

    w = _pairwise_frank_wolfe(grad, line, n, iterations, tol * max(float(np.abs(g).max()), 1e-30))
    norm_gw = np.sqrt(max(w @ g @ w, 1e-30))
    weights = (mean + sqrt_phi / norm_gw * w) / (1 + c**2)
    return torch.as_tensor(weights, dtype=gramian.dtype, device=gramian.device)


HEADS = ("weighted", "own")
MGDA_NORMALIZATIONS = ("none", "l2", "loss", "loss+")


class Weighting(nn.Module):
    """The interface: ``forward(losses [T], ctx) -> (objective, weights [T])``. Subclasses set ``gradients``.

    ``tasks`` names the tasks (``Task`` objects or names) in the order of the loss vector; ``fit`` checks that they
    are its own tasks, in its order.
    """

    #: What the method needs the Gramian of, one of None (losses only), "shared", "last_shared" or "representation".
    gradients: str | None = None
    #: How the heads are trained: "weighted" (head t gets w_t ∇L_t) or "own" (head t gets ∇L_t). See the module.
    heads: str = "weighted"
    #: Whether ``fit`` must call ``after_step`` with the batch's losses after the update.
    needs_after_step: bool = False

    def __init__(self, tasks: Sequence) -> None:
        super().__init__()
        names = [getattr(t, "name", t) for t in tasks]
        if not names or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ValueError(f"a weighting needs a non-empty list of distinct task names (or Tasks), got {names}")
        self.task_names = names

    def _check(self, losses: Tensor, ctx: StepContext) -> None:
        if losses.shape != (len(self.task_names),):
            raise ValueError(f"{type(self).__name__} expects {len(self.task_names)} losses {self.task_names}, "
                             f"got shape {tuple(losses.shape)}")
        if self.gradients is not None and ctx.gramian is None:
            raise ValueError(f"{type(self).__name__} needs task gradients ({self.gradients!r}), but the step context "
                             "has no gramian; let fit build it")

    def _set_heads(self, heads: str) -> None:
        if heads not in HEADS:
            raise ValueError(f"heads must be one of {HEADS}, got {heads!r}")
        self.heads = heads

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def after_step(self, losses: Tensor) -> None:
        """Called by ``fit`` after the update with the same batch's losses (detached), if ``needs_after_step``."""


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and 0 < value < float("inf")):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class Static(Weighting):
    """Fixed weights α: the objective ``Σ_t α_t L_t``, what ``fit(weights=...)`` does (all 1 by default)."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__(list(weights))
        values = [float(v) for v in weights.values()]
        if not all(v >= 0 and v < float("inf") for v in values):
            raise ValueError(f"static weights must be finite and >= 0, got {dict(weights)}")
        self.register_buffer("alpha", torch.tensor(values))

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        return (self.alpha * losses).sum(), self.alpha.clone()


class Uncertainty(Weighting):
    """Uncertainty weighting (Kendall et al. 2018): ``Σ_t ½ exp(−s_t) L_t + ½ s_t`` with learned ``s_t = log σ_t²``.

    This is the paper's regression form, used here for every task. For classification the paper derives
    ``exp(−s) L + ½ s`` instead; we use the same form for all tasks (as LibMTL does), so that the weights
    ``w_t = ½ exp(−s_t)`` are comparable across tasks. At the optimum of ``s_t``, ``w_t = 1 / (2 L_t)``: a task's
    weight is inversely proportional to its loss. ``s`` starts at 0 (``w = ½``).
    """

    def __init__(self, tasks: Sequence) -> None:
        super().__init__(tasks)
        self.log_var = nn.Parameter(torch.zeros(len(self.task_names)))

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        w = 0.5 * torch.exp(-self.log_var)
        return (w * losses + 0.5 * self.log_var).sum(), w.detach()


class DWA(Weighting):
    """Dynamic Weight Average (Liu et al. 2019): ``w_t = T · softmax_t(r_t / temperature)``.

    ``r_t = L̄_t(k−1) / L̄_t(k−2)`` is how fast task ``t``'s average loss fell over the last two periods: a task
    whose loss falls slowly gets more weight. The paper's period is an epoch; ``period`` (in steps) lets short
    schedules update more often. The weights are 1 during the first two periods.
    """

    def __init__(self, tasks: Sequence, temperature: float = 2.0, period: int | None = None) -> None:
        super().__init__(tasks)
        self.temperature = _positive("DWA's temperature", temperature)
        if period is not None and (not isinstance(period, int) or period < 1):
            raise ValueError(f"DWA's period must be a positive number of steps or None (an epoch), got {period!r}")
        self.period = period
        n = len(self.task_names)
        self.register_buffer("running", torch.zeros(n))  # sum of the current period's losses
        self.register_buffer("previous", torch.ones(2, n))  # the averages of the last two periods

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        period = self.period or ctx.steps_per_epoch
        n = len(self.task_names)
        if ctx.step >= 2 * period:  # two periods' averages exist (counted on the host: no GPU sync)
            w = n * torch.softmax(self.previous[1] / self.previous[0] / self.temperature, dim=0)
        else:
            w = torch.ones(n, dtype=losses.dtype, device=losses.device)
        self.running += losses.detach()
        if (ctx.step + 1) % period == 0:
            self.previous = torch.stack([self.previous[1], self.running / period])
            self.running.zero_()
        return (w * losses).sum(), w


class GradNorm(Weighting):
    """GradNorm (Chen et al. 2018): learn weights that equalize the tasks' gradient norms on the last shared layer.

    With ``n_t = ‖∇_W L_t‖`` on that layer's parameters ``W`` and ``r_t = (L_t / L_t(0)) / mean_j (L_j / L_j(0))``
    (the relative inverse training rate), the weights follow the gradient of ``Σ_t |w_t n_t − mean_j(w_j n_j) ·
    r_t^α|``, the target being held constant. ``α`` is the asymmetry: larger ``α`` pushes harder on tasks that train
    slowly. We keep ``Σ_t w_t = T`` by writing ``w = T · softmax(p)`` with learned ``p`` (as LibMTL does), instead of
    renormalizing after each step. The network itself sees ``Σ_t w_t L_t`` with ``w`` held constant.
    """

    gradients = "last_shared"

    def __init__(self, tasks: Sequence, alpha: float = 1.5) -> None:
        super().__init__(tasks)
        if not (isinstance(alpha, (int, float)) and 0 <= alpha < float("inf")):
            raise ValueError(f"GradNorm's alpha must be a finite number >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.logits = nn.Parameter(torch.zeros(len(self.task_names)))
        self.register_buffer("initial", torch.zeros(len(self.task_names)))

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        if ctx.step == 0:
            self.initial = losses.detach().clone()
        w = len(self.task_names) * torch.softmax(self.logits, dim=0)
        norms = ctx.gramian().diagonal().clamp_min(0).sqrt()  # ‖∇_W L_t‖, constants here
        weighted = w * norms
        ratio = losses.detach() / self.initial
        target = (weighted.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
        balance = (weighted - target).abs().sum()
        return (w.detach() * losses).sum() + balance, w.detach()


class FAMO(Weighting):
    """FAMO (Liu et al. 2023): balance the tasks' rates of improvement at the cost of one loss-only update per step.

    The network sees ``Σ_t (z_t / c) log(L_t − L*_t + ε)`` with ``z = softmax(ξ)`` and ``c = Σ_t z_t / (L_t − L*_t + ε)``
    held constant, so task ``t``'s gradient is weighted ``w_t = z_t / (c (L_t − L*_t + ε))`` (recorded as the weights;
    ``c`` makes ``Σ_t w_t = 1``). After the update, ``after_step`` receives the same batch's new losses and
    moves the logits ``ξ`` against ``J_softmaxᵀ δ``, with ``δ_t = log(L_t^before − L*_t + ε) − log(L_t^after − L*_t + ε)``
    the log-improvement of each task, by Adam with learning rate ``lr`` and weight decay ``gamma`` (the paper's
    regularizer): a task that improved less than the others gains weight. The lower bounds ``L*_t`` are 0, as in
    the authors' code for losses that are non-negative. We follow that code (github.com/Cranial-XIX/FAMO) for the
    re-scored batch and the defaults ``lr = 0.025``, ``gamma = 0.01``, ``ε = 1e-8``. That code also clips the shared
    parameters' gradient to norm 1 by default; ``fit`` clips nothing, for any method, so we do not.
    """

    needs_after_step = True

    def __init__(self, tasks: Sequence, lr: float = 0.025, gamma: float = 0.01, eps: float = 1e-8) -> None:
        super().__init__(tasks)
        lr, eps = _positive("FAMO's lr", lr), _positive("FAMO's eps", eps)
        if not (isinstance(gamma, (int, float)) and 0 <= gamma < float("inf")):
            raise ValueError(f"FAMO's gamma must be a finite number >= 0, got {gamma!r}")
        self.eps = eps
        # The logits are FAMO's own state, updated by its own optimizer in after_step, not by fit's optimizer.
        self.logits = nn.Parameter(torch.zeros(len(self.task_names)), requires_grad=False)
        self._optimizer = torch.optim.Adam([self.logits], lr=lr, weight_decay=float(gamma))
        self._before: Tensor | None = None

    def _shifted(self, losses: Tensor) -> Tensor:
        if not bool((losses.detach() >= 0).all()):
            raise ValueError(f"FAMO needs non-negative losses (its lower bound is 0), got {losses.detach().tolist()}")
        return losses + self.eps

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        shifted = self._shifted(losses)
        z = torch.softmax(self.logits, dim=0).to(losses.dtype)
        c = (z / shifted.detach()).sum()
        self._before = shifted.detach()
        return (z / c * shifted.log()).sum(), (z / (c * shifted.detach()))

    def after_step(self, losses: Tensor) -> None:
        if self._before is None:
            raise RuntimeError("FAMO.after_step was called before a step (forward) was taken")
        delta = self._before.log() - self._shifted(losses.detach()).log()
        z = torch.softmax(self.logits.detach(), dim=0)
        self.logits.grad = (z * (delta - (z * delta).sum())).to(self.logits.dtype)  # J_softmax(ξ)ᵀ δ
        self._optimizer.step()
        self.logits.grad = None
        self._before = None


class PCGrad(Weighting):
    """PCGrad (Yu et al. 2020) on the shared parameters: project away each task gradient's conflicting components.

    See ``pcgrad_weights``. The random order of projections comes from a generator seeded with ``seed``. ``heads``:
    see the module (the paper's treatment is ``"own"``).
    """

    gradients = "shared"

    def __init__(self, tasks: Sequence, seed: int = 0, heads: str = "weighted") -> None:
        super().__init__(tasks)
        self._set_heads(heads)
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        w = pcgrad_weights(ctx.gramian(), self.generator)
        return (w * losses).sum(), w


class MGDA(Weighting):
    """MGDA-UB (Sener & Koltun 2018): the min-norm convex combination of the task gradients (``Σ_t w_t = 1``).

    ``gradients="representation"`` (the default, the paper's MGDA-UB) solves it on the gradients with respect to the
    shared representation, the trunk's output, which costs only the heads' backward passes; ``"shared"`` solves it
    on the shared parameters' gradients (plain MGDA). See ``min_norm_weights``.

    ``normalization`` is the authors' code's option (not in the paper): each task gradient ``g_t`` is divided by
    ``n_t`` before the min-norm problem is solved, with ``n_t = 1`` (``"none"``, the default), ``‖g_t‖`` (``"l2"``),
    ``L_t`` (``"loss"``) or ``L_t ‖g_t‖`` (``"loss+"``); as in that code, the weights found are then applied to the
    unnormalized losses. In Gramian terms the problem is solved on ``G_ij / (n_i n_j)``. ``heads``: see the module
    (the paper's treatment is ``"own"``).
    """

    def __init__(self, tasks: Sequence, gradients: str = "representation", normalization: str = "none",
                 heads: str = "weighted") -> None:
        super().__init__(tasks)
        if gradients not in ("representation", "shared"):
            raise ValueError(f"MGDA's gradients must be 'representation' or 'shared', got {gradients!r}")
        if normalization not in MGDA_NORMALIZATIONS:
            raise ValueError(f"MGDA's normalization must be one of {MGDA_NORMALIZATIONS}, got {normalization!r}")
        self.gradients = gradients
        self.normalization = normalization
        self._set_heads(heads)

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        gramian = ctx.gramian().detach()
        norms = gramian.diagonal().clamp_min(0).sqrt()
        scale = {"none": torch.ones_like(norms), "l2": norms, "loss": losses.detach(),
                 "loss+": losses.detach() * norms}[self.normalization]
        if not bool((scale > 0).all()):
            raise ValueError(f"MGDA's {self.normalization!r} normalization divides by {scale.tolist()}: a task "
                             "gradient or loss is 0")
        w = min_norm_weights(gramian / torch.outer(scale, scale))
        return (w * losses).sum(), w


class GradientMagnitude(Weighting):
    """The "magnitude only" control: ``w_t ∝ 1 / ‖∇L_t‖``, normalized to ``Σ_t w_t = 1``.

    Every task then contributes a gradient of the same length, as after MGDA-UB's ``"l2"`` normalization, but the
    directions are not combined by a min-norm solve. Set beside MGDA-UB it separates what equalizing gradient
    sizes does from what choosing a common descent direction does. ``gradients`` as for ``MGDA``;
    ``heads``: see the module.
    """

    def __init__(self, tasks: Sequence, gradients: str = "representation", heads: str = "weighted") -> None:
        super().__init__(tasks)
        if gradients not in ("representation", "shared"):
            raise ValueError(f"GradientMagnitude's gradients must be 'representation' or 'shared', got {gradients!r}")
        self.gradients = gradients
        self._set_heads(heads)

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        norms = ctx.gramian().detach().diagonal().clamp_min(0).sqrt()
        if not bool((norms > 0).all()):
            raise ValueError(f"GradientMagnitude needs every task gradient to be non-zero, got norms {norms.tolist()}")
        inverse = 1 / norms
        w = (inverse / inverse.sum()).to(losses.dtype)
        return (w * losses).sum(), w


class CAGrad(Weighting):
    """CAGrad (Liu et al. 2021) on the shared parameters: the update that maximizes the worst task's improvement
    within a ball of radius ``c ‖g_0‖`` around the average gradient ``g_0``. See ``cagrad_weights``. ``heads``: see
    the module (the paper's treatment is ``"own"``)."""

    gradients = "shared"

    def __init__(self, tasks: Sequence, c: float = 0.4, heads: str = "weighted") -> None:
        super().__init__(tasks)
        self._set_heads(heads)
        if not (isinstance(c, (int, float)) and 0 <= c < float("inf")):
            raise ValueError(f"CAGrad's c must be a finite number >= 0, got {c!r}")
        self.c = float(c)

    def forward(self, losses: Tensor, ctx: StepContext) -> tuple[Tensor, Tensor]:
        self._check(losses, ctx)
        w = cagrad_weights(ctx.gramian(), self.c)
        return (w * losses).sum(), w
