"""mtl_utils.optimization.torchjd_weighting: TorchJD's methods through fit, and the book's own MGDA, PCGrad and CAGrad checked
against TorchJD's on random Jacobians."""
import pytest
import torch
import torchjd.aggregation as jd
from torch.testing import assert_close

import mtl_utils as mu
from mtl_utils.optimization.torchjd_weighting import (
    METHODS,
    TorchJD,
    gramian_root,
)
from mtl_utils.optimization.weighting import (
    MGDA,
    StepContext,
    cagrad_weights,
    min_norm_weights,
    pcgrad_weights,
)


def random_gramian(tasks: int, seed: int) -> torch.Tensor:
    jacobian = torch.randn(tasks, 50, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return jacobian @ jacobian.T


@pytest.mark.parametrize("tasks", [2, 3, 5])
@pytest.mark.parametrize("seed", range(5))
def test_min_norm_weights_match_torchjd_mgda(tasks, seed):
    g = random_gramian(tasks, seed)
    ours, theirs = min_norm_weights(g), jd.MGDAWeighting()(g)
    if tasks == 2:  # both land on the closed form
        assert_close(ours, theirs)
    else:
        # TorchJD's Frank-Wolfe stops once its step falls below epsilon = 1e-3, ours solves to 1e-10: the weights agree
        # to about a hundredth, and ours reach a norm at least as small.
        assert_close(ours, theirs, atol=2e-2, rtol=0)
        assert ours @ g @ ours <= theirs @ g @ theirs * (1 + 1e-9)


@pytest.mark.parametrize("tasks", [2, 3, 5])
@pytest.mark.parametrize("seed", range(5))
def test_pcgrad_weights_match_torchjd_for_the_same_random_order(tasks, seed):
    g = random_gramian(tasks, seed)
    torch.manual_seed(seed)  # both draw one permutation per task from torch's global generator, in the same order
    ours = pcgrad_weights(g)
    torch.manual_seed(seed)
    assert_close(ours, jd.PCGradWeighting()(g))


@pytest.mark.parametrize("tasks", [2, 3, 5])
@pytest.mark.parametrize("c", [0.2, 0.4, 0.8])
def test_cagrad_weights_match_torchjd_up_to_the_authors_rescaling(tasks, c):
    # The book follows the authors' code and divides the update by 1 + c²; TorchJD does not. Otherwise they agree.
    g = random_gramian(tasks, seed=tasks)
    assert_close(cagrad_weights(g, c) * (1 + c**2), jd.CAGradWeighting(c=c)(g), atol=1e-4, rtol=1e-4)


def test_gramian_root_reproduces_the_gramian_and_refuses_non_square_input():
    g = random_gramian(4, seed=0).float()
    root = gramian_root(g)
    assert_close(root @ root.T, g, atol=1e-3, rtol=1e-5)
    with pytest.raises(ValueError, match="square matrix"):
        gramian_root(torch.ones(2, 3))


@pytest.mark.filterwarnings("ignore:.*not DPP")  # cvxpy's note on the direct TorchJD call below
def test_nash_mtl_reads_the_same_weights_from_the_root_as_from_the_jacobian():
    jacobian = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
    g = jacobian @ jacobian.T
    weighting = TorchJD(["a", "b", "c"], "Nash-MTL")
    _, from_root = weighting(torch.ones(3, requires_grad=True), StepContext(0, 1, 10, gramian=lambda: g))
    assert_close(from_root, jd.NashMTL(n_tasks=3).weighting(jacobian), atol=1e-4, rtol=1e-4)


def test_weights_objective_and_loss_only_rlw():
    g = random_gramian(3, seed=1).float()
    losses = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    objective, w = TorchJD(["a", "b", "c"], "UPGrad")(losses, StepContext(0, 1, 10, gramian=lambda: g))
    assert_close(w, jd.UPGradWeighting()(g))
    assert_close(objective, (w * losses).sum())
    rlw = TorchJD(["a", "b", "c"], "RLW")
    assert rlw.gradients is None  # no task gradients: fit builds no Gramian for it
    _, w = rlw(losses, StepContext(0, 1, 10))
    assert (w > 0).all() and abs(float(w.sum()) - 1) < 1e-6  # a softmax of normal draws


def test_bad_arguments_get_one_clear_error():
    with pytest.raises(ValueError, match="unknown TorchJD method 'GradNormal'"):
        TorchJD(["a", "b"], "GradNormal")
    with pytest.raises(ValueError, match="gradients must be 'shared' or 'representation'"):
        TorchJD(["a", "b"], "UPGrad", gradients="last")
    with pytest.raises(ValueError, match="expects 2 losses"):
        TorchJD(["a", "b"], "UPGrad")(torch.ones(3), StepContext(0, 1, 10, gramian=lambda: torch.eye(3)))
    with pytest.raises(ValueError, match="needs task gradients"):
        TorchJD(["a", "b"], "IMTL-G")(torch.ones(2), StepContext(0, 1, 10))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_through_fit(method):
    tasks = [mu.digit_task(), mu.parity_task()]
    images = torch.randint(0, 256, (64, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    digits = torch.arange(64) % 10
    data = mu.TaskData(images, {"digit": digits, "parity": digits % 2})
    mu.seed_everything(0)
    model = mu.HardSharingNet.for_tasks(tasks)
    before = [p.detach().clone() for p in model.trunk.parameters()]
    history = mu.fit(model, tasks, data, recipe=mu.Recipe(epochs=1, batch_size=32), seed=0, progress=False,
                     weighting=TorchJD(tasks, method))
    assert len(history.records) == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.trunk.parameters()))


def test_heads_own_is_refused_for_a_loss_only_method_and_kept_for_a_gradient_method():
    with pytest.raises(ValueError, match="looks at losses only"):
        TorchJD(["a", "b"], "RLW", heads="own")
    with pytest.raises(ValueError, match="heads must be one of"):
        TorchJD(["a", "b"], "UPGrad", heads="mine")
    assert TorchJD(["a", "b"], "UPGrad", heads="own").heads == "own"


@pytest.mark.parametrize("tasks", [2, 3, 5])
@pytest.mark.parametrize("normalization", ["l2", "loss", "loss+"])
def test_mgda_normalizations_match_torchjd_mgda_on_the_normalized_gramian(tasks, normalization):
    # The authors' normalizations divide g_t by n_t before the min-norm solve: the same as TorchJD's MGDA on
    # G_ij / (n_i n_j). Ours solves to 1e-10, TorchJD's stops at a step of 1e-3 (see the MGDA test above).
    g = random_gramian(tasks, seed=10 + tasks)
    losses = torch.linspace(0.5, 2.5, tasks, dtype=torch.float64)
    norms = g.diagonal().sqrt()
    n = {"l2": norms, "loss": losses, "loss+": losses * norms}[normalization]
    _, ours = MGDA(list("abcde"[:tasks]), normalization=normalization)(losses, StepContext(0, 1, 10, gramian=lambda: g))
    theirs = jd.MGDAWeighting()(g / torch.outer(n, n))
    assert_close(ours, theirs, atol=2e-2 if tasks > 2 else 1e-6, rtol=0)
    assert_close(ours.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_imtlg_weights_give_equal_projections_on_the_unit_task_gradients():
    # IMTL-G's defining property (Liu et al. 2021): the update Σ_t w_t g_t has the same inner product with every
    # unit task gradient g_t / ‖g_t‖. Checked on TorchJD's weights through the book's adapter.
    jacobian = torch.randn(3, 30, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    g = jacobian @ jacobian.T
    _, w = TorchJD(["a", "b", "c"], "IMTL-G")(torch.ones(3, dtype=torch.float64),
                                              StepContext(0, 1, 10, gramian=lambda: g))
    update = w @ jacobian
    projections = (jacobian / jacobian.norm(dim=1, keepdim=True)) @ update
    assert_close(projections, projections.mean().expand(3), atol=1e-6, rtol=1e-5)
    assert (projections > 0).all()


def test_every_solves_nash_mtl_every_nth_step_and_rescales_its_weights_in_between():
    weighting = TorchJD(["a", "b", "c"], "Nash-MTL", every=3)
    solver = weighting.jd_weighting
    solves = []
    solve = solver._solve_optimization
    solver._solve_optimization = lambda gtg: solves.append(len(solves)) or solve(gtg)
    losses = torch.tensor([1.0, 2.0, 3.0], dtype=torch.double, requires_grad=True)
    for step in range(7):
        gramian = 5 * random_gramian(3, seed=step).double()  # large enough that max_norm (1) binds
        w = weighting(losses, StepContext(step, 1, 10, gramian=lambda g=gramian: g))[1]
        if step % 3:  # reused: the last solution, scaled so that the update's norm is max_norm on this Gramian
            alpha = torch.as_tensor(solver.prvs_alpha, dtype=torch.double)
            norm = (alpha @ gramian @ alpha).sqrt()
            assert_close(w, alpha * min(1.0, 1.0 / norm.item()))
        assert_close((w @ gramian @ w).sqrt(), torch.tensor(1.0, dtype=torch.double))
    assert len(solves) == 3  # steps 0, 3 and 6
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="every must be a positive integer"):
            TorchJD(["a", "b"], "Nash-MTL", every=bad)
    with pytest.raises(ValueError, match="Nash-MTL only"):
        TorchJD(["a", "b"], "UPGrad", every=2)
