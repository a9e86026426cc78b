# %% [raw]
# # ASSIGNMENT CONFIG
# name: s3_hard_sharing
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 3: hard parameter sharing
#
# Session 3 of the course: chapter 4 (*Hard parameter sharing*). The questions come from the exercises
# `ch4-ex-freeze`, `ch4-ex-steps` and `ch4-ex-ink` and from the chapter's $\Delta_m$, on small synthetic inputs.
# Replace every `...`, run each `grader.check` cell, and keep the names the questions ask for. Question 0 is worked
# for you; Question 4 is a written answer, marked by hand.

# %%
import copy

import pandas as pd
import torch
import torch.nn.functional as F

import mtl_utils as mu
from mtl_utils.evidence import stats
from mtl_utils.foundations import cost

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked).** Hard sharing for digit and parity against two single-task networks: the parameter ratio.

# %%
tasks = [mu.foundations.tasks.digit_task(), mu.foundations.tasks.parity_task()]
torch.manual_seed(0)
shared_net = mu.HardSharingNet.for_tasks(tasks)
separate = sum(cost.count_parameters(mu.SingleTaskNet(t)) for t in tasks)
sharing_ratio = cost.count_parameters(shared_net) / separate
print(f"hard sharing / separate networks: {sharing_ratio:.3f}")

# %% [raw]
# # BEGIN TESTS

# %%
def test_hard_sharing_needs_about_half(env):
    assert 0.5 < env["sharing_ratio"] < 0.52

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 2

# %% [markdown]
# **Question 1.** Write `delta_m(metrics, single, lower_is_better=())` by hand: the mean over tasks of
# $(-1)^{l_t}(M_t - M_t^\text{single}) / M_t^\text{single}$, times 100, with $l_t = 1$ for the tasks in
# `lower_is_better`. Then set `run_dm` to the $\Delta_m\%$ of the run below against its single-task networks.
# (The autograder compares your function with `stats.delta_m`.)

# %%
run = {"digit": 98.95, "parity": 99.41}
single = {"digit": 99.02, "parity": 99.27}

# %% [raw]
# # BEGIN SOLUTION

# %%
def delta_m(metrics, single, lower_is_better=()):
    """Δm% of a multi-task model's metrics against the single-task ones (positive is better)."""
    # BEGIN SOLUTION
    terms = [(-1 if t in lower_is_better else 1) * (metrics[t] - single[t]) / abs(single[t]) for t in metrics]
    return 100 * sum(terms) / len(terms)
    # END SOLUTION


run_dm = delta_m(run, single)  # SOLUTION
print(f"Δm = {run_dm:+.3f}%")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_equal_metrics_give_zero(env):
    assert env["delta_m"]({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0}) == 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_delta_m_matches_the_library(env):
    from mtl_utils.evidence import stats
    assert abs(env["run_dm"] - stats.delta_m({"digit": 98.95, "parity": 99.41},
                                             {"digit": 99.02, "parity": 99.27})) < 1e-9
    m, s = {"acc": 0.9, "rmse": 0.2, "iou": 0.5}, {"acc": 0.95, "rmse": 0.25, "iou": 0.4}
    for lower in [(), ("rmse",)]:
        assert abs(env["delta_m"](m, s, lower) - stats.delta_m(m, s, lower)) < 1e-9

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 3

# %% [markdown]
# **Question 2** (`ch4-ex-freeze`). Write `probe_from(model)`: a new `mu.HardSharingNet` whose trunk is a *copy* of
# `model.trunk` with its gradients switched off, and whose only head is a fresh `torch.nn.Linear(84, 10)` named
# `"digit"`. Training it can then change the head only. The autograder trains your probe for a step and checks that.

# %% [raw]
# # BEGIN SOLUTION

# %%
def probe_from(model):
    """A fresh digit head on a frozen copy of model's trunk."""
    # BEGIN SOLUTION
    probe = mu.HardSharingNet(copy.deepcopy(model.trunk), {"digit": torch.nn.Linear(84, 10)})
    probe.trunk.requires_grad_(False)
    return probe
    # END SOLUTION


probe = probe_from(shared_net)
print(sum(p.numel() for p in probe.parameters() if p.requires_grad), "trainable parameters")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_probe_has_one_digit_head(env):
    probe = env["probe_from"](env["shared_net"])
    assert list(probe.heads) == ["digit"]

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_probe_trains_only_its_head(env):
    import torch
    import torch.nn.functional as F
    net = env["shared_net"]
    original = {k: v.clone() for k, v in net.trunk.state_dict().items()}
    probe = env["probe_from"](net)
    assert sum(p.numel() for p in probe.parameters() if p.requires_grad) == 850
    assert probe.trunk is not net.trunk
    head_before = probe.heads["digit"].weight.clone()
    opt = torch.optim.SGD([p for p in probe.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    F.cross_entropy(probe(x)["digit"], y).backward()
    opt.step()
    assert all(torch.equal(v, probe.trunk.state_dict()[k]) for k, v in original.items())
    assert all(torch.equal(v, net.trunk.state_dict()[k]) for k, v in original.items())
    assert not torch.equal(head_before, probe.heads["digit"].weight)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 3

# %% [markdown]
# **Question 3** (`ch4-ex-steps`). The table `validation` holds the validation accuracy of each arm (rows: seeds)
# for 50, 150 and 300 steps, and `test` the test accuracy of the same runs. Write `choose_steps(table, arm)`: the
# number of steps with the best *mean* validation accuracy over the seeds for that arm. Then set `comparison` to
# `stats.paired(a, b)` of the two chosen arms' *test* accuracies, `"digit + parity"` minus `"digit only"`, paired
# by seed, and `words` to `stats.verdict(comparison, unit="points")`.

# %%
seeds = [0, 1, 2, 3, 4]
columns = pd.MultiIndex.from_product([["digit only", "digit + parity"], [50, 150, 300]], names=["arm", "steps"])
validation = pd.DataFrame([[70.1, 74.0, 73.2, 76.5, 79.9, 80.4], [69.5, 73.1, 73.5, 75.9, 80.2, 79.8],
                           [71.0, 74.4, 72.9, 77.0, 80.8, 81.0], [70.4, 73.6, 73.8, 76.1, 79.7, 80.9],
                           [69.9, 74.2, 73.0, 76.8, 80.1, 81.2]], index=seeds, columns=columns)
test = validation + pd.DataFrame([[0.3, -0.2, 0.1, -0.4, 0.2, 0.0]] * 5, index=seeds, columns=columns)

# %% [raw]
# # BEGIN SOLUTION

# %%
def choose_steps(table, arm):
    """The number of steps with the best mean over the seeds, for one arm."""
    return int(table[arm].mean().idxmax())  # SOLUTION


chosen = {arm: choose_steps(validation, arm) for arm in ["digit only", "digit + parity"]}
comparison = stats.paired(test["digit + parity"][chosen["digit + parity"]],  # SOLUTION
                          test["digit only"][chosen["digit only"]])  # SOLUTION
words = stats.verdict(comparison, unit="points")  # SOLUTION
print(chosen, words)

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_choose_steps_returns_a_grid_value(env):
    assert env["choose_steps"](env["validation"], "digit only") in (50, 150, 300)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_choice_on_validation_and_paired_test_comparison(env):
    from mtl_utils.evidence import stats
    val, test = env["validation"], env["test"]
    assert env["choose_steps"](val, "digit only") == 150
    assert env["choose_steps"](val, "digit + parity") == 300
    expected = stats.paired(test["digit + parity"][300], test["digit only"][150])
    assert abs(env["comparison"].mean - expected.mean) < 1e-9
    assert abs(env["comparison"].lo - expected.lo) < 1e-9
    assert env["words"] == stats.verdict(expected, unit="points")

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
# **Question 4** (`ch4-ex-ink`; written). Before running it: if the stroke-width regression replaced parity as the
# auxiliary task in the label-scarcity study (100 digit labels, all 50,000 stroke labels), would it help the digit?
# Argue from chapter 2's relatedness measures and from the scale of the stroke loss, and say which comparison,
# paired by seed, would decide it.

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# Little or no help is expected: the stroke width carries almost no information about the digit class (a tiny
# mutual information) and the stroke networks' features resemble the digit network's least. With equal weights the
# stroke loss, on another scale, pulls on the trunk far harder at first, so a loss of digit accuracy would not
# surprise. Decide it with `stats.paired` against "digit only" and against the shuffled-label control, five seeds,
# and let the interval choose the words.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
