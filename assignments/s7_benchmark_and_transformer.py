# %% [raw]
# # ASSIGNMENT CONFIG
# name: s7_benchmark_and_transformer
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 7: a benchmark and a Transformer
#
# Session 7 of the course: chapters 10 (*The MultiMNIST benchmark*) and 11 (*Structure sharing*). The questions come
# from the exercises `ch10-ex-paper-dm`, `ch10-ex-testval`, `ch11-ex-cost` and `ch11-ex-mask`. Replace every `...`,
# run each `grader.check` cell, and keep the names the questions ask for. Question 0 is worked for you; Question 4
# is a written answer, marked by hand.

# %%
import math

import pandas as pd
import torch

import mtl_utils as mu
from mtl_utils.architectures.transformer import SeparateViTs, TaskTokenViT
from mtl_utils.evidence import stats
from mtl_utils.foundations import cost

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked).** Sener & Koltun's MultiMNIST table as chapter 10 quotes it (accuracy in %, second-hand),
# and the binomial standard error of one accuracy of 96% on 10,000 test images, in points.

# %%
published = pd.DataFrame({
    "single-task": (97.23, 95.90), "equal weights": (96.46, 94.99), "uncertainty": (96.47, 95.29),
    "GradNorm": (96.27, 94.84), "MGDA-UB": (97.26, 95.90)}, index=["left", "right"]).T
se_points = 100 * stats.binomial_se(0.96, 10_000)
print(published, f"\nSE of one accuracy: {se_points:.3f} points")

# %% [raw]
# # BEGIN TESTS

# %%
def test_standard_error(env):
    assert abs(env["se_points"] - 100 * (0.96 * 0.04 / 10_000) ** 0.5) < 1e-9

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 2

# %% [markdown]
# **Question 1** (`ch10-ex-paper-dm`). Set `paper_dm` to a dict that maps each row of `published` to its
# $\Delta_m\%$ against the single-task row, from the paper's numbers alone, with `stats.delta_m`, and `gap` to
# MGDA-UB's $\Delta_m\%$ minus that of equal weights. Is one number per method enough to rank them?

# %% [raw]
# # BEGIN SOLUTION

# %%
paper_dm = {m: stats.delta_m(dict(r), dict(published.loc["single-task"])) for m, r in published.iterrows()}  # SOLUTION
gap = paper_dm["MGDA-UB"] - paper_dm["equal weights"]  # SOLUTION
print({m: round(v, 3) for m, v in paper_dm.items()}, round(gap, 3))

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_single_task_is_zero(env):
    assert abs(env["paper_dm"]["single-task"]) < 1e-12

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_paper_delta_m(env):
    equal = 100 * ((96.46 - 97.23) / 97.23 + (94.99 - 95.90) / 95.90) / 2
    mgda = 100 * ((97.26 - 97.23) / 97.23) / 2
    assert abs(env["paper_dm"]["equal weights"] - equal) < 1e-9
    assert abs(env["paper_dm"]["MGDA-UB"] - mgda) < 1e-9
    assert abs(env["gap"] - (mgda - equal)) < 1e-9
    assert set(env["paper_dm"]) == {"single-task", "equal weights", "uncertainty", "GradNorm", "MGDA-UB"}

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 3

# %% [markdown]
# **Question 2** (`ch10-ex-testval`). Picking the best of many evaluations on the same test set reports the
# maximum of the noise. Simulate it: write `best_epoch_bias(accuracy, n, epochs, repeats, seed)`, which draws, for
# each of `repeats` imaginary runs, `epochs` test accuracies as binomial proportions
# (`torch.distributions.Binomial(n, torch.tensor(accuracy)).sample(...) / n`, under
# `torch.manual_seed(seed)`) and returns the mean over the runs of (best accuracy − `accuracy`), in points (×100).
# Set `bias_100` for an accuracy of 0.96 on 10,000 images, 100 epochs, 200 repeats, seed 0, and compare it with the
# differences between methods in `published`.

# %% [raw]
# # BEGIN SOLUTION

# %%
def best_epoch_bias(accuracy, n, epochs, repeats, seed=0):
    """Mean excess, in points, of the best of `epochs` noisy test accuracies over the true one."""
    # BEGIN SOLUTION
    torch.manual_seed(seed)
    draws = torch.distributions.Binomial(n, torch.tensor(accuracy)).sample((repeats, epochs)) / n
    return float(100 * (draws.max(dim=1).values - accuracy).mean())
    # END SOLUTION


bias_100 = best_epoch_bias(0.96, 10_000, 100, 200, seed=0)  # SOLUTION
print(f"best of 100 epochs: +{bias_100:.2f} points")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_one_epoch_has_no_bias_on_average(env):
    assert abs(env["best_epoch_bias"](0.96, 10_000, 1, 2000, seed=1)) < 0.02

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_best_of_many_is_biased_by_about_two_and_a_half_standard_errors(env):
    se = 100 * (0.96 * 0.04 / 10_000) ** 0.5
    # the expected maximum of 100 independent standard normals is about 2.51
    assert 2.2 * se < env["bias_100"] < 2.8 * se
    assert env["best_epoch_bias"](0.96, 10_000, 10, 500, seed=2) < env["best_epoch_bias"](0.96, 10_000, 100, 500, seed=2)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 3

# %% [markdown]
# **Question 3** (`ch11-ex-cost`). Write `vit_cost(n_tasks)`: for `n_tasks` ten-class tasks
# (`mu.Task(f"t{i}", 10, mu.foundations.data.digit)`), a dict that maps `"separate"` and `"task tokens"` to
# `(parameters, FLOPs per image)` of `SeparateViTs(tasks)` and `TaskTokenViT(tasks)`, counted with
# `cost.count_parameters` and `cost.flops_per_image` (switch PyTorch's fast attention path off while counting with
# `torch.backends.mha.set_fastpath_enabled(False)`, and on again afterwards). How do they grow from 2 to 10 tasks?

# %% [raw]
# # BEGIN SOLUTION

# %%
def vit_cost(n_tasks):
    """(parameters, FLOPs per image) of separate encoders and task tokens for n ten-class tasks."""
    # BEGIN SOLUTION
    tasks = [mu.Task(f"t{i}", 10, mu.foundations.data.digit) for i in range(n_tasks)]
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        nets = {"separate": SeparateViTs(tasks), "task tokens": TaskTokenViT(tasks)}
        return {name: (cost.count_parameters(net), cost.flops_per_image(net)) for name, net in nets.items()}
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    # END SOLUTION


print(vit_cost(2), vit_cost(10))

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_two_models(env):
    assert set(env["vit_cost"](2)) == {"separate", "task tokens"}

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_flop_counts(env):
    import torch

    import mtl_utils as mu
    from mtl_utils.architectures.transformer import (
        SeparateViTs,
        TaskTokenViT,
    )
    from mtl_utils.foundations import cost
    two, ten = env["vit_cost"](2), env["vit_cost"](10)
    tasks = [mu.Task(f"t{i}", 10, mu.foundations.data.digit) for i in range(10)]
    torch.backends.mha.set_fastpath_enabled(False)
    expected = {"separate": (cost.count_parameters(SeparateViTs(tasks)), cost.flops_per_image(SeparateViTs(tasks))),
                "task tokens": (cost.count_parameters(TaskTokenViT(tasks)),
                                cost.flops_per_image(TaskTokenViT(tasks)))}
    torch.backends.mha.set_fastpath_enabled(True)
    assert ten == expected
    assert abs(ten["separate"][1] / two["separate"][1] - 5) < 0.01  # T whole encoders
    assert ten["task tokens"][1] / two["task tokens"][1] < 2  # one more token per task, not one more encoder

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q4
# points: 3
# manual: true

# %% [markdown]
# **Question 4** (`ch11-ex-mask`; written). In chapter 11 no token attends to the task tokens. What changes for the
# task-token network if the patches may attend to them, as patches attend to `[CLS]` in a standard ViT? Is it then
# still "one shared structure"?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# The patch tokens would depend on the task tokens: from the second layer on, the shared sequence carries
# information from every task's query, so tasks can interfere (or help) through it at every layer, not only through
# the shared weights, and adding a task changes what the other heads see. With the mask, the patch path is exactly
# hard sharing's, and the tasks differ only in what each asks of it.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
