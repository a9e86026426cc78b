# %% [raw]
# # ASSIGNMENT CONFIG
# name: s5_task_weighting_and_gradients
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 5: optimizing several losses
#
# Session 5 of the course: chapters 7 (*Balancing task losses*) and 8 (*Conflicting gradients*). The questions
# come from the exercises `ch7-ex-forms`, `ch7-ex-units`, `ch8-ex-mgda`, `ch8-ex-order` and `ch7-ex-budget`, on
# small tensors. Replace every `...`, run each `grader.check` cell, and keep the names the questions ask for.
# Question 0 is worked for you; Question 5 is a written answer, marked by hand.

# %%
import math

import torch

from mtl_utils.optimization import weighting as W

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked).** MGDA's min-norm point for two tasks has a closed form: the weight of task 1 is
# $\gamma = \operatorname{clip}\big((G_{22} - G_{12}) / (G_{11} + G_{22} - 2 G_{12}), 0, 1\big)$ for the Gramian
# $G = J J^\top$. The library solves the general problem iteratively; for two tasks they agree.

# %%
J = torch.tensor([[1.0, 0.5, 0.0], [-0.2, 1.0, 0.3]], dtype=torch.float64)
G = J @ J.T
gamma_example = float(((G[1, 1] - G[0, 1]) / (G[0, 0] + G[1, 1] - 2 * G[0, 1])).clamp(0, 1))
library_example = W.min_norm_weights(G)
print(gamma_example, library_example.tolist())

# %% [raw]
# # BEGIN TESTS

# %%
def test_closed_form_matches_the_library(env):
    assert abs(env["gamma_example"] - float(env["library_example"][0])) < 1e-8

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 3

# %% [markdown]
# **Question 1** (`ch7-ex-forms`). Kendall et al. use $\tfrac12 e^{-s} L + \tfrac12 s$ for a regression loss and
# $e^{-s} L + \tfrac12 s$ for a classification loss. Write `settled_weight(loss, form)`: minimize the form
# (`"regression"` or `"classification"`) over a grid of $s$ (`torch.linspace(-8, 8, 160_001)`) and return the
# weight on $L$ at the minimum ($\tfrac12 e^{-s}$ or $e^{-s}$), as a float. What weight do both forms settle on?

# %% [raw]
# # BEGIN SOLUTION

# %%
def settled_weight(loss, form):
    """The weight on the loss at the minimizing s of Kendall et al.'s regression or classification form."""
    # BEGIN SOLUTION
    s = torch.linspace(-8, 8, 160_001, dtype=torch.float64)
    if form == "regression":
        return float(0.5 * torch.exp(-s[(0.5 * torch.exp(-s) * loss + 0.5 * s).argmin()]))
    return float(torch.exp(-s[(torch.exp(-s) * loss + 0.5 * s).argmin()]))
    # END SOLUTION


print({L: (round(settled_weight(L, "regression"), 3), round(settled_weight(L, "classification"), 3))
       for L in (0.05, 0.3, 2.0)})

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_returns_a_positive_weight(env):
    assert env["settled_weight"](1.0, "regression") > 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_both_forms_settle_on_one_over_twice_the_loss(env):
    for loss in (0.05, 0.3, 2.0, 7.0):
        for form in ("regression", "classification"):
            assert abs(env["settled_weight"](loss, form) - 1 / (2 * loss)) < 1e-2 / loss

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 2

# %% [markdown]
# **Question 2** (`ch7-ex-units`). A change of unit: write `loss_and_gradient(scale)`, the squared error
# `((scale * prediction - scale * target) ** 2).mean()` of the tensors below and the norm of its gradient with
# respect to `prediction` (the unscaled one, which the network outputs), as a pair of floats. By what factor do both
# grow when the unit is ten times smaller (`scale=10`)?

# %%
torch.manual_seed(0)
prediction, target = torch.randn(100), torch.randn(100)

# %% [raw]
# # BEGIN SOLUTION

# %%
def loss_and_gradient(scale):
    """The scaled squared error and the norm of its gradient with respect to the prediction."""
    # BEGIN SOLUTION
    p = prediction.clone().requires_grad_(True)
    loss = ((scale * p - scale * target) ** 2).mean()
    loss.backward()
    return loss.item(), p.grad.norm().item()
    # END SOLUTION


print(loss_and_gradient(1), loss_and_gradient(10))

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_a_tenfold_unit_is_a_static_weight_of_one_hundred(env):
    (l1, g1), (l10, g10) = env["loss_and_gradient"](1), env["loss_and_gradient"](10)
    assert abs(l10 / l1 - 100) < 1e-3 and abs(g10 / g1 - 100) < 1e-3
    assert abs(l1 - float(((env["prediction"] - env["target"]) ** 2).mean())) < 1e-5

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 3

# %% [markdown]
# **Question 3** (`ch8-ex-mgda`). Write `mgda_gamma(g1, g2)`, the closed-form weight of task 1 from two gradient
# vectors (Question 0's formula with $G_{ij} = \langle g_i, g_j \rangle$). Then show numerically that for
# orthogonal gradients $\gamma = \lVert g_2 \rVert^2 / (\lVert g_1 \rVert^2 + \lVert g_2 \rVert^2)$: set
# `gamma_orthogonal` to `mgda_gamma` of `a` and `b` below. Which task gets the larger weight?

# %%
a = torch.tensor([3.0, 0.0], dtype=torch.float64)
b = torch.tensor([0.0, 1.0], dtype=torch.float64)

# %% [raw]
# # BEGIN SOLUTION

# %%
def mgda_gamma(g1, g2):
    """MGDA's weight on task 1 for two tasks, in closed form."""
    # BEGIN SOLUTION
    g11, g22, g12 = g1 @ g1, g2 @ g2, g1 @ g2
    return float(((g22 - g12) / (g11 + g22 - 2 * g12)).clamp(0, 1))
    # END SOLUTION


gamma_orthogonal = mgda_gamma(a, b)  # SOLUTION
print(gamma_orthogonal)

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_gamma_is_a_weight(env):
    assert 0 <= env["gamma_orthogonal"] <= 1

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_closed_form_against_min_norm_weights(env):
    import torch

    from mtl_utils.optimization import weighting as W
    assert abs(env["gamma_orthogonal"] - 0.1) < 1e-12
    gen = torch.Generator().manual_seed(11)
    for _ in range(20):
        J = torch.randn(2, 6, generator=gen, dtype=torch.float64) * torch.tensor([[1.0], [4.0]], dtype=torch.float64)
        assert abs(env["mgda_gamma"](J[0], J[1]) - float(W.min_norm_weights(J @ J.T)[0])) < 1e-6

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q4
# points: 3

# %% [markdown]
# **Question 4** (`ch8-ex-order`). PCGrad with three tasks projects in a random order. For the three gradients in
# the plane below, which pairwise conflict, write `pcgrad_updates(jacobian, seeds)`: the set of distinct updates
# `W.pcgrad_weights(G, torch.Generator().manual_seed(s)) @ jacobian`, one per seed, each rounded to 4 decimals as a
# tuple of floats. Set `updates` to the set for seeds 0 to 49, and `min_inner` to the smallest inner product of any
# of these updates with any task gradient. Does the order matter? Is every task improved?

# %%
J3 = torch.tensor([[1.0, 0.0], [-0.6, 0.8], [-0.6, -0.8]], dtype=torch.float64)

# %% [raw]
# # BEGIN SOLUTION

# %%
def pcgrad_updates(jacobian, seeds):
    """The distinct PCGrad updates over the given generator seeds."""
    # BEGIN SOLUTION
    gramian = jacobian @ jacobian.T
    return {tuple(round(v, 4) for v in (W.pcgrad_weights(gramian, torch.Generator().manual_seed(s))
                                        @ jacobian).tolist()) for s in seeds}
    # END SOLUTION


updates = pcgrad_updates(J3, range(50))
min_inner = min(float((J3 @ torch.tensor(u, dtype=torch.float64)).min()) for u in updates)  # SOLUTION
print(len(updates), "distinct updates; smallest inner product", min_inner)

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_updates_are_pairs(env):
    assert all(len(u) == 2 for u in env["updates"])

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_the_order_matters_with_three_tasks_and_not_with_two(env):
    import torch
    J3 = env["J3"]
    assert len(env["updates"]) > 1
    assert env["min_inner"] < 0  # three pairwise conflicting gradients in the plane: some task gets worse
    assert len(env["pcgrad_updates"](J3[:2], range(20))) == 1

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q5
# points: 3
# manual: true

# %% [markdown]
# **Question 5** (`ch7-ex-budget`; written). Chapter 7's static grid searched one weight with four values. With
# three tasks there are two free ratios. Design a search over both with the same budget of four runs, and argue
# whether four runs could tune a static weighting for ten tasks. What does that say about comparing adaptive
# methods with "tuned" static weights?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# A 2 × 2 grid over the two ratios, or four log-uniform random points; both search each ratio more coarsely than
# the one-dimensional grid. Ten tasks have nine ratios, which four runs cannot cover: the search then needs far more
# runs or structure (one weight per group of similar losses). "Tuned static weights match adaptive methods" is a
# statement about well-tuned weights; the adaptive methods' value is that they need less tuning, which matters most
# with many tasks or expensive runs. A fair comparison gives both sides the same budget, chosen on validation.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
