# %% [raw]
# # ASSIGNMENT CONFIG
# name: s9_when_mtl_pays_off
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 9: when does multi-task learning pay off?
#
# Session 9 of the course: chapter 16 (*When does multi-task learning pay off?*) and the appendix (*Scaling out
# with torch.distributed*). The questions come from the exercises `appd-ex-static`, `appd-ex-pcgrad`,
# `ch16-ex-pareto` and `ch16-ex-plan`, on small tensors and tables. Replace every `...`, run each `grader.check`
# cell, and keep the names the questions ask for. Question 0 is worked for you; Question 4 is a written answer,
# marked by hand.

# %%
import pandas as pd
import torch

from mtl_utils.optimization import weighting as W

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked).** Why data parallelism is exact for a weighted sum of losses: the gradient of a mean loss
# over a global batch is the mean of the workers' gradients over equal shards.

# %%
torch.manual_seed(0)
w = torch.randn(4, requires_grad=True)
data, target = torch.randn(64, 4), torch.randn(64)


def gradient(rows):
    w.grad = None
    ((data[rows] @ w - target[rows]) ** 2).mean().backward()
    return w.grad.clone()


global_gradient = gradient(slice(0, 64))
worker_mean = (gradient(slice(0, 32)) + gradient(slice(32, 64))) / 2
print((global_gradient - worker_mean).abs().max())

# %% [raw]
# # BEGIN TESTS

# %%
def test_averaging_workers_is_exact(env):
    import torch
    torch.testing.assert_close(env["global_gradient"], env["worker_mean"])

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 4

# %% [markdown]
# **Question 1** (`appd-ex-static`). Each worker holds a Jacobian `[tasks, parameters]` of the task gradients on its
# shard. Write `combine(jacobian, method)`: the update $\sum_t w_t g_t$ with static weights `alpha` when `method ==
# "static"`, and with MGDA's weights `W.min_norm_weights(jacobian @ jacobian.T)` when `method == "mgda"`. Then
# `naive(jacobians, method)`, the mean over the workers of each worker's combined update, and
# `per_task(jacobians, method)`, the combined update of the workers' mean Jacobian. Set `static_gap` and `mgda_gap`
# to the largest absolute difference between the two orders for the two `workers` below.

# %%
alpha = torch.tensor([0.3, 0.7], dtype=torch.float64)
gen = torch.Generator().manual_seed(1)
workers = [torch.randn(2, 5, generator=gen, dtype=torch.float64) for _ in range(2)]

# %% [raw]
# # BEGIN SOLUTION

# %%
def combine(jacobian, method):
    """Σ_t w_t g_t with static weights alpha or MGDA's min-norm weights."""
    # BEGIN SOLUTION
    weights = alpha if method == "static" else W.min_norm_weights(jacobian @ jacobian.T)
    return weights @ jacobian
    # END SOLUTION


def naive(jacobians, method):
    """Combine on each worker, then average."""
    return torch.stack([combine(j, method) for j in jacobians]).mean(0)  # SOLUTION


def per_task(jacobians, method):
    """Average each task's gradient over the workers, then combine."""
    return combine(torch.stack(jacobians).mean(0), method)  # SOLUTION


static_gap = float((naive(workers, "static") - per_task(workers, "static")).abs().max())  # SOLUTION
mgda_gap = float((naive(workers, "mgda") - per_task(workers, "mgda")).abs().max())  # SOLUTION
print(f"static: {static_gap:.1e}, MGDA: {mgda_gap:.3f}")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_static_combine(env):
    import torch
    j = torch.eye(2, 5, dtype=torch.float64)
    torch.testing.assert_close(env["combine"](j, "static")[:2], env["alpha"])

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_order_matters_for_mgda_not_for_static_weights(env):
    import torch

    from mtl_utils import distributed
    assert env["static_gap"] < 1e-12
    assert env["mgda_gap"] > 1e-3
    gen = torch.Generator().manual_seed(5)
    jacobians = [torch.randn(2, 7, generator=gen, dtype=torch.float64) for _ in range(4)]
    torch.testing.assert_close(env["naive"](jacobians, "static"), env["per_task"](jacobians, "static"))
    mean = torch.stack(jacobians).mean(0)
    torch.testing.assert_close(env["per_task"](jacobians, "mgda"),
                               distributed.combine(mean, "mgda", torch.Generator().manual_seed(0)),
                               atol=1e-6, rtol=1e-6)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 2

# %% [markdown]
# **Question 2** (`appd-ex-pcgrad`). PCGrad draws a random order at every step, so every worker must draw the same
# one. Write `pcgrad_update(jacobian, seed)`: PCGrad's update `W.pcgrad_weights(G, generator) @ jacobian` with a
# `torch.Generator` seeded with `seed`. Set `same_seed_agree` to whether two workers that average the same Jacobian
# `J3` and use seed 7 compute the same update, and `orders` to the number of distinct updates (rounded to 6
# decimals) over seeds 0 to 29: what goes wrong if each worker seeds its generator with its own rank?

# %%
J3 = torch.tensor([[1.0, 0.0], [-0.6, 0.8], [-0.6, -0.8]], dtype=torch.float64)

# %% [raw]
# # BEGIN SOLUTION

# %%
def pcgrad_update(jacobian, seed):
    """PCGrad's update with its projection order drawn from a generator seeded with seed."""
    # BEGIN SOLUTION
    gramian = jacobian @ jacobian.T
    return W.pcgrad_weights(gramian, torch.Generator().manual_seed(seed)) @ jacobian
    # END SOLUTION


same_seed_agree = bool(torch.equal(pcgrad_update(J3, 7), pcgrad_update(J3.clone(), 7)))  # SOLUTION
orders = len({tuple(round(v, 6) for v in pcgrad_update(J3, s).tolist()) for s in range(30)})  # SOLUTION
print(same_seed_agree, orders)

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_same_seed_same_update_and_orders_differ(env):
    import torch

    from mtl_utils.optimization import weighting as W
    J3 = env["J3"]
    assert env["same_seed_agree"] is True and env["orders"] > 1
    expected = W.pcgrad_weights(J3 @ J3.T, torch.Generator().manual_seed(3)) @ J3
    torch.testing.assert_close(env["pcgrad_update"](J3, 3), expected)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 3

# %% [markdown]
# **Question 3** (`ch16-ex-pareto`). A method is *dominated* in a setting when another method of the same setting is
# at least as good by $\Delta_m$ (higher is better) and at least as fast (lower time), and strictly better on one of
# the two. Write `pareto_front(points)`: for a table with columns `setting`, `method`, `dm` and `time`, a dict that
# maps each setting to the list of its methods that no other method of that setting dominates, in table order.
# Set `front` for the illustrative table below.

# %%
points = pd.DataFrame({
    "setting": ["A"] * 4 + ["B"] * 3,
    "method": ["single-task", "equal", "static", "cagrad", "single-task", "equal", "mgda"],
    "dm": [0.0, -1.2, -0.4, 0.9, 0.0, 0.3, 0.3],
    "time": [2.0, 1.0, 1.0, 2.1, 2.0, 1.0, 1.4]})

# %% [raw]
# # BEGIN SOLUTION

# %%
def pareto_front(points):
    """Per setting, the methods that no other method of the setting dominates on (Δm up, time down)."""
    # BEGIN SOLUTION
    fronts = {}
    for setting, group in points.groupby("setting", sort=False):
        rows = group.to_dict("records")

        def dominated(a):
            return any(b["dm"] >= a["dm"] and b["time"] <= a["time"] and (b["dm"] > a["dm"] or b["time"] < a["time"])
                       for b in rows)

        fronts[setting] = [a["method"] for a in rows if not dominated(a)]
    return fronts
    # END SOLUTION


front = pareto_front(points)  # SOLUTION
print(front)

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_one_front_per_setting(env):
    assert set(env["front"]) == {"A", "B"}

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_fronts(env):
    import pandas as pd
    assert env["front"] == {"A": ["single-task", "static", "cagrad"], "B": ["equal"]}
    table = pd.DataFrame({"setting": ["x"] * 3 + ["y"], "method": ["a", "b", "c", "d"],
                          "dm": [1.0, 1.0, 2.0, 0.0], "time": [1.0, 1.0, 3.0, 1.0]})
    assert env["pareto_front"](table) == {"x": ["a", "b", "c"], "y": ["d"]}

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q4
# points: 4
# manual: true

# %% [markdown]
# **Question 4** (`ch16-ex-plan`; written). You have 500 labelled chest X-rays for one diagnosis and 20,000 X-rays
# labelled for five other findings. Using the decision guide of chapter 16, write down the experiments you would
# run, in order, before deciding whether to train one multi-task network, and what result of each would change
# your plan.

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# 1. Hold out a validation split and keep the test set for the end; every choice is made on validation.
# 2. Train the single-task diagnosis network over five seeds; every gain is a paired difference with its 95%
#    interval, and counts only when the interval excludes zero.
# 3. Rank the five findings by how much their labels tell about the diagnosis (label NMI where both labels exist):
#    cheap, coarse, a way to pick what to measure.
# 4. Measure the transfer of the top candidates in a hard-sharing network, five seeds each, with a shuffled-label
#    control for the best one; drop a candidate whose interval lies below zero.
# 5. If the losses differ in kind or scale, tune static weights on validation and compare a gradient method with
#    them, counting its cost per step.
# 6. Only then score the final networks and the single-task baseline once on the test set.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
