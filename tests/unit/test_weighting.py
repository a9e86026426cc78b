import pytest
import torch
from torch import nn

from mtl_utils import HardSharingNet, Recipe, TaskData, fit, seed_everything
from mtl_utils.foundations.data import normalize
from mtl_utils.foundations.models import SoftSharingNet
from mtl_utils.foundations.tasks import digit_task, parity_task, stroke_task
from mtl_utils.optimization.weighting import (
    DWA,
    FAMO,
    MGDA,
    CAGrad,
    GradientMagnitude,
    GradNorm,
    PCGrad,
    Static,
    StepContext,
    Uncertainty,
    Weighting,
    cagrad_weights,
    min_norm_weights,
    pcgrad_weights,
    task_gradients,
    task_gramian,
)

TASKS = [digit_task(), parity_task(), stroke_task()]
ONE_STEP = Recipe(epochs=1, batch_size=16)


def simplex_grid(n: int = 300) -> torch.Tensor:
    return torch.tensor([(i / n, j / n, 1 - (i + j) / n) for i in range(n + 1) for j in range(n + 1 - i)],
                        dtype=torch.float64)


def gramian_of(*grads) -> torch.Tensor:
    jac = torch.stack([torch.as_tensor(g, dtype=torch.float64) for g in grads])
    return jac @ jac.T


def pcgrad_by_hand(grads: list[torch.Tensor], order: list[list[int]]) -> torch.Tensor:
    """The paper's projection on explicit vectors: g_i ← g_i − min(0, g_i·g_j)/‖g_j‖² g_j, j in the given order."""
    total = torch.zeros_like(grads[0])
    for i, g in enumerate(grads):
        g = g.clone()
        for j in order[i]:
            if j != i:
                g = g - min(0.0, float(g @ grads[j])) / float(grads[j] @ grads[j]) * grads[j]
        total += g
    return total


def test_pcgrad_leaves_agreeing_gradients_alone():
    g1, g2 = torch.tensor([1.0, 0.5], dtype=torch.float64), torch.tensor([0.5, 1.0], dtype=torch.float64)
    assert torch.equal(pcgrad_weights(gramian_of(g1, g2)), torch.ones(2, dtype=torch.float64))


def test_pcgrad_removes_the_conflicting_component():
    g1, g2 = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([-1.0, 1.0], dtype=torch.float64)
    w = pcgrad_weights(gramian_of(g1, g2))
    # g1' = g1 + ½ g2 = (½, ½) is orthogonal to g2; g2' = g2 + g1 = (0, 1) is orthogonal to g1.
    g1_projected, g2_projected = torch.tensor([0.5, 0.5], dtype=torch.float64), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(w, torch.tensor([2.0, 1.5], dtype=torch.float64))
    torch.testing.assert_close(w[0] * g1 + w[1] * g2, g1_projected + g2_projected.double())
    assert float(g1_projected @ g2) == 0 and float(g2_projected.double() @ g1) == 0


def test_pcgrad_matches_the_explicit_projection_for_three_tasks():
    torch.manual_seed(0)
    grads = list(torch.randn(3, 6, dtype=torch.float64))
    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    w = pcgrad_weights(gramian_of(*grads), gen_a)
    order = [torch.randperm(3, generator=gen_b).tolist() for _ in range(3)]
    torch.testing.assert_close(sum(wi * g for wi, g in zip(w, grads)), pcgrad_by_hand(grads, order))


@pytest.mark.parametrize("grads", [([1.0, 0.0], [0.0, 2.0]), ([1.0, 0.2], [-1.0, 0.5]), ([1.0, 1.0], [2.0, 2.1]),
                                   ([3.0, 0.0], [1.0, 0.1])])
def test_min_norm_two_tasks_matches_the_closed_form(grads):
    g = gramian_of(*grads)
    gamma = ((g[1, 1] - g[0, 1]) / (g[0, 0] + g[1, 1] - 2 * g[0, 1])).clamp(0, 1)
    torch.testing.assert_close(min_norm_weights(g), torch.stack([gamma, 1 - gamma]))


@pytest.mark.parametrize("seed", range(4))
def test_min_norm_three_tasks_beats_a_brute_force_search(seed):
    torch.manual_seed(seed)
    jac = torch.randn(3, 8, dtype=torch.float64)
    jac[1] = -0.6 * jac[0] + 0.3 * jac[1]  # a conflicting pair, so the optimum may sit on a face
    g = jac @ jac.T
    w = min_norm_weights(g)
    grid = simplex_grid()
    brute = ((grid @ g) * grid).sum(1).min()
    assert w.min() >= 0 and abs(float(w.sum()) - 1) < 1e-9
    assert float(w @ g @ w) <= float(brute) + 1e-9
    assert float(w @ g @ w) >= float(brute) - 1e-2 * float(brute)  # the grid is within 1% of the optimum


@pytest.mark.parametrize("seed", range(3))
def test_cagrad_inner_problem_beats_a_brute_force_search(seed):
    torch.manual_seed(seed)
    g = gramian_of(*torch.randn(3, 8, dtype=torch.float64))
    c = 0.5
    coefficients = cagrad_weights(g, c)
    mean = torch.full((3,), 1 / 3, dtype=torch.float64)
    inner = coefficients * (1 + c**2) - mean  # = √φ / ‖g_w‖ · w
    inner = inner / inner.sum()
    sqrt_phi = c * (mean @ g @ mean).sqrt()
    grid = simplex_grid()
    brute = (grid @ g @ mean + sqrt_phi * ((grid @ g) * grid).sum(1).sqrt()).min()
    assert float(inner @ g @ mean + sqrt_phi * (inner @ g @ inner).sqrt()) <= float(brute) + 1e-9
    torch.testing.assert_close(cagrad_weights(g, 0.0), mean)  # c = 0 is the average gradient


def test_task_gramian_is_the_gradient_inner_products():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    losses = torch.stack([(x**2).sum(), 3 * x[0]])
    jac = task_gradients(losses, [x])
    torch.testing.assert_close(jac, torch.tensor([[2.0, 4.0], [3.0, 0.0]]))
    torch.testing.assert_close(task_gramian(losses, [x]), jac @ jac.T)
    losses.sum().backward()  # the graph survives
    torch.testing.assert_close(x.grad, torch.tensor([5.0, 4.0]))


def test_uncertainty_log_variances_get_gradients():
    weighting = Uncertainty(["a", "b"])
    losses = torch.tensor([2.0, 0.5], requires_grad=True)
    objective, w = weighting(losses, StepContext(0, 1, 10))
    objective.backward()
    # d/ds [½ e^{−s} L + ½ s] = ½ (1 − L) at s = 0.
    torch.testing.assert_close(weighting.log_var.grad, torch.tensor([-0.5, 0.25]))
    torch.testing.assert_close(w, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(losses.grad, torch.tensor([0.5, 0.5]))


def test_dwa_weights_the_task_whose_loss_falls_slowest():
    weighting = DWA(["fast", "slow"], temperature=2.0, period=1)
    history = [torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.9]), torch.tensor([0.2, 0.85])]
    weights = [weighting(losses, StepContext(step, 1, 100))[1] for step, losses in enumerate(history)]
    assert torch.equal(weights[0], torch.ones(2)) and torch.equal(weights[1], torch.ones(2))
    expected = 2 * torch.softmax(torch.tensor([0.5, 0.9]) / 2.0, dim=0)
    torch.testing.assert_close(weights[2], expected)


@pytest.fixture(scope="module")
def tiny(mnist):
    return TaskData.from_split(mnist.train, TASKS).subset(torch.arange(64))


METHODS = {
    "static": lambda: Static({"digit": 1.0, "parity": 0.5, "stroke": 2.0}),
    "uncertainty": lambda: Uncertainty(TASKS),
    "dwa": lambda: DWA(TASKS, period=1),
    "gradnorm": lambda: GradNorm(TASKS, alpha=1.5),
    "pcgrad": lambda: PCGrad(TASKS),
    "mgda": lambda: MGDA(TASKS),
    "mgda_shared": lambda: MGDA(TASKS, gradients="shared"),
    "cagrad": lambda: CAGrad(TASKS, c=0.4),
    "famo": lambda: FAMO(TASKS),
    "magnitude": lambda: GradientMagnitude(TASKS),
    "mgda_loss+_own": lambda: MGDA(TASKS, normalization="loss+", heads="own"),
    "pcgrad_own": lambda: PCGrad(TASKS, heads="own"),
}


@pytest.mark.parametrize("name", METHODS)
def test_every_method_trains_a_tiny_model(tiny, name):
    seed_everything(0)
    net = HardSharingNet.for_tasks(TASKS, width=0.5)
    before = [p.detach().clone() for p in net.parameters()]
    weighting = METHODS[name]()
    learned = [p.detach().clone() for p in weighting.parameters()]
    history = fit(net, TASKS, tiny, recipe=ONE_STEP, steps_per_epoch=3, weighting=weighting, progress=False)
    assert all(not torch.equal(a, b) for a, b in zip(before, net.trunk.parameters()))
    assert len(history.step_weights) == 3 and all(len(w) == 3 for w in history.step_weights)
    frame = history.weight_frame([t.name for t in TASKS])
    assert list(frame.columns) == ["digit", "parity", "stroke"] and torch.isfinite(torch.tensor(frame.values)).all()
    record = history.records[0]
    torch.testing.assert_close(torch.tensor([record[f"{t.name}_weight"] for t in TASKS]),
                               torch.tensor(frame.values, dtype=torch.float32).mean(0))
    for a, b in zip(learned, weighting.parameters()):  # learned weights are optimized
        assert not torch.equal(a, b)


def test_equal_static_weights_give_the_default_fit_exactly(tiny):
    results = []
    for weighting in (None, Static({t.name: 1.0 for t in TASKS})):
        seed_everything(0)
        net = HardSharingNet.for_tasks(TASKS, width=0.5)
        fit(net, TASKS, tiny, recipe=ONE_STEP, weighting=weighting, progress=False)
        results.append(torch.cat([p.flatten() for p in net.parameters()]))
    assert torch.equal(*results)


def test_static_weights_match_fit_weights(tiny):
    alpha = {"digit": 1.0, "parity": 0.5, "stroke": 2.0}
    results = []
    for kwargs in ({"weights": alpha}, {"weighting": Static(alpha)}):
        seed_everything(0)
        net = HardSharingNet.for_tasks(TASKS, width=0.5)
        fit(net, TASKS, tiny, recipe=ONE_STEP, progress=False, **kwargs)
        results.append(torch.cat([p.flatten() for p in net.parameters()]))
    torch.testing.assert_close(*results)


def test_gradnorm_moves_weight_towards_the_task_with_small_gradients():
    weighting = GradNorm(["big", "small"], alpha=0.0)
    losses = torch.tensor([1.0, 1.0], requires_grad=True)
    gramian = torch.diag(torch.tensor([100.0, 1.0]))  # gradient norms 10 and 1
    objective, w = weighting(losses, StepContext(0, 1, 10, gramian=lambda: gramian))
    objective.backward()
    torch.testing.assert_close(w, torch.ones(2))
    assert weighting.logits.grad[1] < 0 < weighting.logits.grad[0]  # a descent step raises the small task's weight


@pytest.mark.parametrize("make, message", [
    (lambda: Static({"digit": 1.0, "parity": -1.0}), "finite and >= 0"),
    (lambda: Uncertainty([]), "non-empty list of distinct"),
    (lambda: Uncertainty(["a", "a"]), "non-empty list of distinct"),
    (lambda: DWA(["a", "b"], temperature=0), "temperature must be a finite number > 0"),
    (lambda: DWA(["a", "b"], period=0), "period must be a positive number"),
    (lambda: GradNorm(["a", "b"], alpha=-1), "alpha must be a finite number >= 0"),
    (lambda: MGDA(["a", "b"], gradients="heads"), "'representation' or 'shared'"),
    (lambda: CAGrad(["a", "b"], c=float("nan")), "c must be a finite number >= 0"),
    (lambda: MGDA(["a", "b"], normalization="L2"), "normalization must be one of"),
    (lambda: MGDA(["a", "b"], heads="mine"), "heads must be one of"),
    (lambda: CAGrad(["a", "b"], heads="weighed"), "heads must be one of"),
    (lambda: GradientMagnitude(["a", "b"], gradients="last_shared"), "'representation' or 'shared'"),
    (lambda: FAMO(["a", "b"], lr=0), "FAMO's lr must be a finite number > 0"),
    (lambda: FAMO(["a", "b"], gamma=-0.1), "FAMO's gamma must be a finite number >= 0"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_are_refused(tiny):
    with pytest.raises(ValueError, match="expects 2 losses"):
        Uncertainty(["a", "b"])(torch.ones(3), StepContext(0, 1, 1))
    with pytest.raises(ValueError, match="no gramian"):
        PCGrad(["a", "b"])(torch.ones(2), StepContext(0, 1, 1))
    with pytest.raises(ValueError, match="square"):
        min_norm_weights(torch.ones(2, 3))
    net = HardSharingNet.for_tasks(TASKS, width=0.5)
    with pytest.raises(ValueError, match="either weights= .* or weighting="):
        fit(net, TASKS, tiny, weights={t.name: 1.0 for t in TASKS}, weighting=Uncertainty(TASKS), progress=False)
    with pytest.raises(ValueError, match="built for tasks \\['parity', 'digit', 'stroke'\\]"):
        fit(net, TASKS, tiny, weighting=Uncertainty(["parity", "digit", "stroke"]), progress=False)
    with pytest.raises(ValueError, match="must be a mtl_utils.optimization.weighting.Weighting"):
        fit(net, TASKS, tiny, weighting=lambda losses, ctx: losses.sum(), progress=False)
    soft = SoftSharingNet(TASKS)
    with pytest.raises(ValueError, match="needs the shared parameters: give SoftSharingNet a `trunk`"):
        fit(soft, TASKS, tiny, weighting=PCGrad(TASKS), recipe=ONE_STEP, progress=False)
    with pytest.raises(ValueError, match="needs the shared representation"):
        fit(soft, TASKS, tiny, weighting=MGDA(TASKS), recipe=ONE_STEP, progress=False)


class TwoLayerTrunkNet(nn.Module):
    """A model that names its shared parameters and last shared layer itself."""

    def __init__(self):
        super().__init__()
        self.body, self.last = nn.Linear(784, 16), nn.Linear(16, 8)
        self.heads = nn.ModuleDict({t.name: nn.Linear(8, t.num_outputs) for t in TASKS})

    def shared_parameters(self):
        return [*self.body.parameters(), *self.last.parameters()]

    def last_shared_layer(self):
        return self.last

    def forward(self, x):
        z = torch.relu(self.last(torch.relu(self.body(x.flatten(1)))))
        return {name: head(z) for name, head in self.heads.items()}


@pytest.mark.parametrize("name", ["gradnorm", "pcgrad", "cagrad"])
def test_models_may_name_their_shared_parameters(tiny, name):
    net = TwoLayerTrunkNet()
    before = net.last.weight.detach().clone()
    fit(net, TASKS, tiny, recipe=ONE_STEP, steps_per_epoch=2, weighting=METHODS[name](), progress=False)
    assert not torch.equal(before, net.last.weight)



def two_task_context(gramian: torch.Tensor) -> StepContext:
    return StepContext(0, 1, 10, gramian=lambda: gramian)


@pytest.mark.parametrize("normalization, first", [
    ("none", 9 / 10),  # G = diag(1, 9): γ = G22 / (G11 + G22)
    ("l2", 1 / 2),  # unit gradients
    ("loss", 9 / 9.25),  # L = (2, 1): diag(1/4, 9)
    ("loss+", 1 / 1.25),  # L ‖g‖ = (2, 3): diag(1/4, 1)
])
def test_mgda_normalizations_match_the_hand_computed_weights(normalization, first):
    losses = torch.tensor([2.0, 1.0])
    gramian = torch.diag(torch.tensor([1.0, 9.0]))  # orthogonal gradients of lengths 1 and 3
    _, w = MGDA(["a", "b"], normalization=normalization)(losses, two_task_context(gramian))
    torch.testing.assert_close(w, torch.tensor([first, 1 - first]))


def test_mgda_normalization_refuses_a_zero_loss():
    with pytest.raises(ValueError, match="'loss' normalization divides by"):
        MGDA(["a", "b"], normalization="loss")(torch.tensor([0.0, 1.0]), two_task_context(torch.eye(2)))


def test_gradient_magnitude_weights_are_inverse_norms():
    gramian = torch.tensor([[1.0, 0.5], [0.5, 9.0]])  # norms 1 and 3
    _, w = GradientMagnitude(["a", "b"])(torch.ones(2), two_task_context(gramian))
    torch.testing.assert_close(w, torch.tensor([0.75, 0.25]))
    with pytest.raises(ValueError, match="every task gradient to be non-zero"):
        GradientMagnitude(["a", "b"])(torch.ones(2), two_task_context(torch.diag(torch.tensor([1.0, 0.0]))))


def test_famo_weights_are_the_gradient_of_its_objective():
    famo = FAMO(["a", "b", "c"])
    famo.logits.data = torch.tensor([0.3, -0.2, 0.1])
    losses = torch.tensor([2.0, 0.5, 1.0], requires_grad=True)
    objective, w = famo(losses, StepContext(0, 1, 10))
    (grad,) = torch.autograd.grad(objective, losses)
    torch.testing.assert_close(w, grad)
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))  # c normalizes the weights


def test_famo_moves_weight_to_the_task_that_improved_less():
    famo = FAMO(["fast", "slow"], lr=0.025, gamma=0.0)
    famo(torch.tensor([2.0, 1.0]), StepContext(0, 1, 10))
    famo.after_step(torch.tensor([1.0, 1.0]))  # "fast" halved its loss, "slow" did not move
    # J_softmaxᵀ δ = (+, −); Adam's first step moves each logit by lr against the sign of its gradient.
    torch.testing.assert_close(famo.logits.detach(), torch.tensor([-0.025, 0.025]), atol=1e-6, rtol=0)
    with pytest.raises(RuntimeError, match="before a step"):
        famo.after_step(torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="non-negative losses"):
        famo(torch.tensor([-1.0, 1.0]), StepContext(0, 1, 10))


class FixedWeights(Weighting):
    """A gradient method whose weights are fixed: what fit does with the heads is then easy to compute by hand."""

    gradients = "shared"

    def __init__(self, tasks, w, heads):
        super().__init__(tasks)
        self.w = torch.tensor(w)
        self._set_heads(heads)

    def forward(self, losses, ctx):
        self._check(losses, ctx)
        ctx.gramian()
        return (self.w * losses).sum(), self.w


@pytest.mark.parametrize("heads", ["weighted", "own"])
def test_heads_get_their_own_or_weighted_gradient(tiny, heads):
    tasks, w = TASKS[:2], [0.25, 0.75]
    sgd = Recipe(epochs=1, batch_size=len(tiny), lr=1.0, optimizer="sgd", momentum=0.0, schedule="constant")
    seed_everything(0)
    net = HardSharingNet.for_tasks(tasks, width=0.5)
    start = {k: v.detach().clone() for k, v in net.state_dict().items()}
    fit(net, tasks, tiny, recipe=sgd, weighting=FixedWeights(tasks, w, heads), progress=False)
    # By hand: one full-batch SGD step of size 1 from the same start.
    seed_everything(0)
    ref = HardSharingNet.for_tasks(tasks, width=0.5)
    out = ref(normalize(tiny.images))
    losses = [t.loss(out[t.name], tiny.targets[t.name]) for t in tasks]
    trunk = list(ref.trunk.parameters())
    shared = torch.autograd.grad(sum(wt * L for wt, L in zip(w, losses)), trunk, retain_graph=True)
    for (name, head), loss, wt in zip(ref.heads.items(), losses, w):
        grads = torch.autograd.grad(loss * (1.0 if heads == "own" else wt), list(head.parameters()), retain_graph=True)
        for p, g in zip(head.parameters(), grads):
            p.data -= g
    for p, g in zip(trunk, shared):
        p.data -= g
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(net.state_dict()[key], value, msg=key)
    assert any(not torch.equal(start[k], v) for k, v in net.state_dict().items() if k.startswith("heads"))


def test_after_step_gets_the_same_batch_scored_after_the_update(tiny):
    class Recorder(Static):
        needs_after_step = True

        def __init__(self, weights):
            super().__init__(weights)
            self.calls = []

        def forward(self, losses, ctx):
            self.before = losses.detach()
            return super().forward(losses, ctx)

        def after_step(self, losses):
            self.calls.append((self.before, losses))

    tasks = TASKS[:2]
    recorder = Recorder({t.name: 1.0 for t in tasks})
    sgd = Recipe(epochs=1, batch_size=len(tiny), lr=0.05, optimizer="sgd", momentum=0.0, schedule="constant")
    seed_everything(0)
    net = HardSharingNet.for_tasks(tasks, width=0.5)
    fit(net, tasks, tiny, recipe=sgd, steps_per_epoch=2, weighting=recorder, progress=False)
    assert len(recorder.calls) == 2
    before, after = recorder.calls[0]
    assert after.shape == (2,) and float(after.sum()) < float(before.sum())  # a small full-batch step lowers the loss
