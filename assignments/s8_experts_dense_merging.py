# %% [raw]
# # ASSIGNMENT CONFIG
# name: s8_experts_dense_merging
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 8: the field's architectures: experts, dense prediction, merging
#
# Session 8 of the course: chapters 12 (*Mixture-of-experts sharing*), 13 (*Dense prediction*) and 14 (*Model
# merging and adapters*). The questions come from the chapters' MMoE networks and the exercises
# `ch12-ex-collapse`, `ch13-ex-per-task`, `ch14-ex-trim`, `ch14-ex-rebasin` and `ch14-ex-heads`, on small tensors.
# Replace every `...`, run each `grader.check` cell, and keep the names the questions ask for. Question 0 is worked
# for you; Question 6 is a written answer, marked by hand.

# %%
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from mtl_utils.architectures import merging, moe
from mtl_utils.evidence import stats
from mtl_utils.foundations import cost

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked).** The library's MMoE: every task has its own softmax gate over the shared experts, one row
# per input that sums to 1.

# %%
torch.manual_seed(0)
x = torch.randn(5, 6)
library_mmoe = moe.MMoE(["a", "b"], in_dim=6, num_experts=4, expert_hidden=5, tower_hidden=3)
library_gates = library_mmoe.gates(x)
print({t: tuple(g.shape) for t, g in library_gates.items()}, library_gates["a"].sum(1))

# %% [raw]
# # BEGIN TESTS

# %%
def test_library_gate_shapes(env):
    import torch
    gates = env["library_gates"]
    assert {t: tuple(g.shape) for t, g in gates.items()} == {"a": (5, 4), "b": (5, 4)}
    torch.testing.assert_close(gates["a"].sum(1), torch.ones(5))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 3

# %% [markdown]
# **Question 1.** Write the MMoE yourself. `MyMMoE(tasks, in_dim, num_experts, expert_hidden, tower_hidden)` has
# `num_experts` experts, each `relu(x W_e + b_e)` with `expert_hidden` units (one `nn.Linear(in_dim, expert_hidden)`
# each, in an `nn.ModuleList`), one gate `nn.Linear(in_dim, num_experts)` per task followed by a softmax, and one
# tower per task: `nn.Linear(expert_hidden, tower_hidden)`, ReLU, `nn.Linear(tower_hidden, 1)`. `gates(x)` returns
# `{task: [batch, num_experts]}`; `forward(x)` returns `{task: [batch, 1]}`, each task's tower applied to its
# gate-weighted sum of the expert outputs.

# %% [raw]
# # BEGIN SOLUTION

# %%
class MyMMoE(nn.Module):
    """Multi-gate mixture of experts: shared experts, one softmax gate and one tower per task."""

    def __init__(self, tasks, in_dim, num_experts, expert_hidden, tower_hidden):
        super().__init__()
        # BEGIN SOLUTION
        self.tasks = list(tasks)
        self.experts = nn.ModuleList(nn.Linear(in_dim, expert_hidden) for _ in range(num_experts))
        self.gate_layers = nn.ModuleDict({t: nn.Linear(in_dim, num_experts) for t in self.tasks})
        self.towers = nn.ModuleDict({t: nn.Sequential(nn.Linear(expert_hidden, tower_hidden), nn.ReLU(),
                                                      nn.Linear(tower_hidden, 1)) for t in self.tasks})
        # END SOLUTION

    def gates(self, x):
        # BEGIN SOLUTION
        return {t: torch.softmax(self.gate_layers[t](x), dim=-1) for t in self.tasks}
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        experts = torch.stack([torch.relu(e(x)) for e in self.experts], dim=1)  # [B, E, h]
        gates = self.gates(x)
        return {t: self.towers[t]((gates[t].unsqueeze(-1) * experts).sum(1)) for t in self.tasks}
        # END SOLUTION


mine = MyMMoE(["a", "b"], in_dim=6, num_experts=4, expert_hidden=5, tower_hidden=3)
print({t: tuple(y.shape) for t, y in mine(x).items()})

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_outputs_per_task(env):
    import torch
    out = env["MyMMoE"](["a", "b"], 6, 4, 5, 3)(torch.randn(2, 6))
    assert set(out) == {"a", "b"}

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_gate_shapes_outputs_and_size(env):
    import torch

    from mtl_utils.architectures import moe
    from mtl_utils.foundations import cost
    net = env["MyMMoE"](["p", "q", "r"], 7, 3, 4, 2)
    x = torch.randn(9, 7)
    gates = net.gates(x)
    assert {t: tuple(g.shape) for t, g in gates.items()} == {t: (9, 3) for t in "pqr"}
    for g in gates.values():
        torch.testing.assert_close(g.sum(1), torch.ones(9))
        assert (g >= 0).all()
    assert {t: tuple(y.shape) for t, y in net(x).items()} == {t: (9, 1) for t in "pqr"}
    assert cost.count_parameters(net) == cost.count_parameters(moe.MMoE(["p", "q", "r"], 7, 3, 4, 2))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 2

# %% [markdown]
# **Question 2** (`ch12-ex-collapse`). Write `collapse_experts(model)` for the library's `moe.MMoE`: copy expert 0
# into every other expert, in place (the experts are stored together: `model.experts.weight` is
# `[experts, in_dim, hidden]` and `model.experts.bias` is `[experts, hidden]`), and return the model. The gates
# stay as they are. What can still break the symmetry during training?

# %% [raw]
# # BEGIN SOLUTION

# %%
def collapse_experts(model):
    """Make every expert of an MMoE a copy of expert 0 (in place)."""
    # BEGIN SOLUTION
    with torch.no_grad():
        model.experts.weight.copy_(model.experts.weight[:1].expand_as(model.experts.weight))
        model.experts.bias.copy_(model.experts.bias[:1].expand_as(model.experts.bias))
    return model
    # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_every_expert_computes_the_same(env):
    import torch

    from mtl_utils.architectures import moe
    torch.manual_seed(3)
    model = moe.MMoE(["a", "b"], in_dim=6, num_experts=4, expert_hidden=5, tower_hidden=3)
    gate_before = model.gate_layers["a"].weight.clone()
    first = model.experts.weight[0].clone()
    out = env["collapse_experts"](model).experts(torch.randn(8, 6))  # [B, E, h]
    for e in range(1, 4):
        torch.testing.assert_close(out[:, e], out[:, 0])
    assert torch.equal(model.experts.weight[0], first) and torch.equal(model.gate_layers["a"].weight, gate_before)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 3

# %% [markdown]
# **Question 3** (`ch13-ex-per-task`). NYUv2 has three tasks and nine metrics. Write `dm_per_task(metrics, single,
# groups, lower)`: $\Delta_m\%$ within each task (`stats.delta_m` over that task's metrics, `lower` naming the
# metrics where lower is better), then the mean over the tasks; and `dm_over_metrics(metrics, single, lower)`:
# `stats.delta_m` over all nine at once. Compute both for `run` below, as `per_task` and `over_nine`. Which
# metrics decide the nine-metric mean?

# %%
groups = {"segmentation": ["mIoU", "pixel acc"], "depth": ["abs err", "rel err"],
          "normals": ["mean angle", "median angle", "within 11.25", "within 22.5", "within 30"]}
lower = ["abs err", "rel err", "mean angle", "median angle"]
single = {"mIoU": 40.0, "pixel acc": 65.0, "abs err": 0.60, "rel err": 0.25, "mean angle": 24.0,
          "median angle": 18.0, "within 11.25": 30.0, "within 22.5": 57.0, "within 30": 69.0}
run = {"mIoU": 39.2, "pixel acc": 64.5, "abs err": 0.62, "rel err": 0.26, "mean angle": 23.5,
       "median angle": 16.9, "within 11.25": 31.5, "within 22.5": 58.0, "within 30": 69.6}

# %% [raw]
# # BEGIN SOLUTION

# %%
def dm_per_task(metrics, single, groups, lower):
    """Δm% within each task, then averaged over the tasks (LibMTL's summary)."""
    # BEGIN SOLUTION
    per = [stats.delta_m({m: metrics[m] for m in names}, {m: single[m] for m in names},
                         [m for m in names if m in lower]) for names in groups.values()]
    return sum(per) / len(per)
    # END SOLUTION


def dm_over_metrics(metrics, single, lower):
    """Δm% over every metric at once."""
    return stats.delta_m(metrics, single, lower)  # SOLUTION


per_task = dm_per_task(run, single, groups, lower)  # SOLUTION
over_nine = dm_over_metrics(run, single, lower)  # SOLUTION
print(f"per task {per_task:+.2f}%, over the nine metrics {over_nine:+.2f}%")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_no_change_is_zero(env):
    assert env["dm_per_task"](env["single"], env["single"], env["groups"], env["lower"]) == 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_both_summaries(env):
    from mtl_utils.evidence import stats
    run, single, groups, lower = env["run"], env["single"], env["groups"], env["lower"]

    def rel(m):
        return (-1 if m in lower else 1) * (run[m] - single[m]) / single[m]

    per = [100 * sum(rel(m) for m in names) / len(names) for names in groups.values()]
    assert abs(env["per_task"] - sum(per) / 3) < 1e-9
    assert abs(env["over_nine"] - 100 * sum(rel(m) for m in run) / 9) < 1e-9
    other = {m: v * 1.01 for m, v in run.items()}
    assert abs(env["dm_over_metrics"](other, single, lower) - stats.delta_m(other, single, lower)) < 1e-9

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q4
# points: 3

# %% [markdown]
# **Question 4** (`ch14-ex-trim`). Write TIES-merging's task vector for flat vectors: `ties_flat(vectors, k)` takes a
# `[tasks, parameters]` tensor and a percentage `k`, and (1) trims each row to its entries whose magnitude is among
# its top `k` percent (keep `max(1, ceil(k / 100 * parameters))` entries; ties at the threshold are kept), (2)
# elects each entry's sign as the sign of the sum of the trimmed values, (3) averages only the trimmed, non-zero
# values with the elected sign (0 where there are none). With `k = 100` only steps 2 and 3 act.

# %% [raw]
# # BEGIN SOLUTION

# %%
def ties_flat(vectors, k):
    """The TIES-merged task vector of a [tasks, parameters] tensor."""
    # BEGIN SOLUTION
    keep = max(1, int(np.ceil(k / 100 * vectors.shape[1])))
    threshold = vectors.abs().topk(keep, dim=1).values[:, -1:]
    trimmed = torch.where(vectors.abs() >= threshold, vectors, torch.zeros_like(vectors))
    sign = trimmed.sum(0).sign()
    agree = (trimmed != 0) & (trimmed.sign() == sign)
    return (trimmed * agree).sum(0) / agree.sum(0).clamp_min(1)
    # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_one_task_at_full_k_is_itself(env):
    import torch
    v = torch.tensor([[1.0, -2.0, 0.5]])
    torch.testing.assert_close(env["ties_flat"](v, 100), v[0])

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_against_the_library(env):
    import torch

    from mtl_utils.architectures import merging
    gen = torch.Generator().manual_seed(8)
    for k in (10, 20, 50, 100):
        flat = torch.randn(3, 40, generator=gen)
        expected = merging.ties_vector([{"w": row.view(5, 8)} for row in flat], k)["w"].reshape(-1)
        torch.testing.assert_close(env["ties_flat"](flat, k), expected)
    v = torch.tensor([[1.0, -1.0], [2.0, 3.0]])
    torch.testing.assert_close(env["ties_flat"](v, 100), torch.tensor([1.5, 3.0]))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q5
# points: 3

# %% [markdown]
# **Question 5** (`ch14-ex-rebasin`). Two networks can compute the same function with their hidden units in a
# different order. Write `permute_hidden(first, second, perm)`: new copies of two `nn.Linear` layers (hidden units
# between them) with the hidden units reordered by `perm` (rows of `first.weight` and `first.bias`, columns of
# `second.weight`), and `match_units(w_a, w_b)`: the permutation `perm` that maximizes the summed correlation
# between row `i` of `w_a` and row `perm[i]` of `w_b`, found with `linear_sum_assignment` on the correlation matrix
# (as a `torch.long` tensor).

# %% [raw]
# # BEGIN SOLUTION

# %%
def permute_hidden(first, second, perm):
    """Copies of two consecutive Linear layers with their hidden units reordered by perm."""
    # BEGIN SOLUTION
    a, b = nn.Linear(first.in_features, first.out_features), nn.Linear(second.in_features, second.out_features)
    with torch.no_grad():
        a.weight.copy_(first.weight[perm])
        a.bias.copy_(first.bias[perm])
        b.weight.copy_(second.weight[:, perm])
        b.bias.copy_(second.bias)
    return a, b
    # END SOLUTION


def match_units(w_a, w_b):
    """perm such that row perm[i] of w_b best matches row i of w_a (weight matching)."""
    # BEGIN SOLUTION
    n = len(w_a)
    corr = np.corrcoef(w_a.detach().numpy(), w_b.detach().numpy())[:n, n:]
    _, cols = linear_sum_assignment(-corr)
    return torch.as_tensor(cols, dtype=torch.long)
    # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_permuting_keeps_the_function_and_matching_undoes_a_permutation(env):
    import torch
    from torch import nn
    torch.manual_seed(6)
    first, second = nn.Linear(10, 16), nn.Linear(16, 3)
    perm = torch.randperm(16)
    a, b = env["permute_hidden"](first, second, perm)
    x = torch.randn(20, 10)
    torch.testing.assert_close(b(torch.relu(a(x))), second(torch.relu(first(x))))
    assert not torch.equal(a.weight, first.weight)
    noisy = a.weight.detach() + 0.01 * torch.randn(16, 10)
    found = env["match_units"](first.weight.detach(), noisy)
    torch.testing.assert_close(noisy[found], first.weight.detach(), atol=0.1, rtol=0)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q6
# points: 3
# manual: true

# %% [markdown]
# **Question 6** (`ch14-ex-heads`; written). Chapter 14's fine-tunes start from a linear probe and keep its head
# frozen. If they instead trained a new random head together with the trunk, what should happen to a task-arithmetic
# merge of them, and why?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# The merge should get worse. A head trained with the trunk learns to read the *fine-tuned* trunk's features; the
# merge moves the trunk only part of the way along each task vector (λ < 1, and the other tasks' vectors pull
# elsewhere), so each head sees features it was never trained on. Probing first and fine-tuning against a fixed head
# keeps every point between the start and the fine-tune readable by that head.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
