# %% [raw]
# # ASSIGNMENT CONFIG
# name: s4_soft_sharing_and_distillation
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 4: soft sharing and distillation
#
# Session 4 of the course: chapters 5 (*Soft parameter sharing*) and 6 (*Knowledge distillation into a multi-task
# student*). The questions come from the exercises `ch5-ex-layers`, `ch5-ex-cost`, `ch5-ex-trace`, `ch6-ex-t2`,
# `ch6-ex-reverse` and `ch6-ex-full`. Replace every `...`, run each `grader.check` cell, and keep the names the
# questions ask for. Question 0 is worked for you; Question 5 is a written answer, marked by hand.

# %%
import torch

import mtl_utils as mu
from mtl_utils.foundations import cost, distill
from mtl_utils.foundations.losses import distillation_loss
from mtl_utils.foundations.models import CrossStitchNet, SoftSharingNet

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked**, `ch5-ex-layers`). How the LeNet trunk's parameters split between its convolutional layers
# (`features.0`, `features.3`) and its fully connected ones (`features.7`, `features.9`).

# %%
trunk = mu.LeNetTrunk()
conv = sum(p.numel() for n, p in trunk.named_parameters() if n.startswith(("features.0", "features.3")))
fc = sum(p.numel() for n, p in trunk.named_parameters() if n.startswith(("features.7", "features.9")))
print(f"convolutional {conv:,}, fully connected {fc:,} ({conv / (conv + fc):.0%} convolutional)")

# %% [raw]
# # BEGIN TESTS

# %%
def test_the_split_covers_the_trunk(env):
    import mtl_utils as mu
    from mtl_utils.foundations import cost
    assert env["conv"] + env["fc"] == cost.count_parameters(mu.LeNetTrunk())
    assert env["conv"] < env["fc"]

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 3

# %% [markdown]
# **Question 1** (`ch5-ex-cost`). Write `inference_cost(n_tasks)`: for `n_tasks` two-class tasks
# (`mu.Task(f"task{i}", 2, mu.foundations.data.parity)`), a dict that maps `"hard sharing"`, `"soft sharing"` and
# `"cross-stitch"` to a pair `(parameters, FLOPs per image)` of `mu.HardSharingNet.for_tasks(tasks)`,
# `SoftSharingNet(tasks)` and `CrossStitchNet(tasks)`, counted with `cost.count_parameters` and
# `cost.flops_per_image`. How does each grow from 2 to 10 tasks?

# %% [raw]
# # BEGIN SOLUTION

# %%
def inference_cost(n_tasks):
    """(parameters, FLOPs per image) of the three ways to share, for n two-class tasks."""
    # BEGIN SOLUTION
    tasks = [mu.Task(f"task{i}", 2, mu.foundations.data.parity) for i in range(n_tasks)]
    nets = {"hard sharing": mu.HardSharingNet.for_tasks(tasks), "soft sharing": SoftSharingNet(tasks),
            "cross-stitch": CrossStitchNet(tasks)}
    return {name: (cost.count_parameters(net), cost.flops_per_image(net)) for name, net in nets.items()}
    # END SOLUTION


print(inference_cost(2))

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_three_models(env):
    assert set(env["inference_cost"](2)) == {"hard sharing", "soft sharing", "cross-stitch"}

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_costs_and_growth(env):
    import mtl_utils as mu
    from mtl_utils.foundations import cost
    from mtl_utils.foundations.models import SoftSharingNet
    two, ten = env["inference_cost"](2), env["inference_cost"](10)
    tasks = [mu.Task(f"task{i}", 2, mu.foundations.data.parity) for i in range(10)]
    assert ten["soft sharing"] == (cost.count_parameters(SoftSharingNet(tasks)),
                                   cost.flops_per_image(SoftSharingNet(tasks)))
    assert ten["hard sharing"][0] == cost.count_parameters(mu.HardSharingNet.for_tasks(tasks))
    # soft sharing and cross-stitch run one trunk per task; hard sharing one trunk whatever the number of tasks
    assert 4.5 < ten["soft sharing"][1] / two["soft sharing"][1] < 5.5
    assert 4.5 < ten["cross-stitch"][1] / two["cross-stitch"][1] < 5.5
    assert ten["hard sharing"][1] / two["hard sharing"][1] < 1.01

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 3

# %% [markdown]
# **Question 2** (`ch5-ex-trace`). Write `trace_norm_penalty(lam)`: a function of a `SoftSharingNet` that, for each
# trunk parameter name, flattens each tower's tensor to a row, stacks the rows into a matrix $M$ (one row per task)
# and returns $\lambda \sum \lVert M \rVert_*$, the sum over parameters of the nuclear norms
# (`torch.linalg.matrix_norm(M, ord="nuc")`). It must be differentiable, since `fit` back-propagates through it.

# %% [raw]
# # BEGIN SOLUTION

# %%
def trace_norm_penalty(lam):
    """λ Σ_layers ‖[w_task1; w_task2; ...]‖_* for a SoftSharingNet's tower trunks."""
    # BEGIN SOLUTION
    def penalty(net):
        trunks = [dict(t.trunk.named_parameters()) for t in net.towers.values()]
        return lam * sum(torch.linalg.matrix_norm(torch.stack([p[k].flatten() for p in trunks]), ord="nuc")
                         for k in trunks[0])
    return penalty
    # END SOLUTION


torch.manual_seed(0)
soft = SoftSharingNet([mu.foundations.tasks.digit_task(), mu.foundations.tasks.parity_task()])
print(float(trace_norm_penalty(0.01)(soft)))

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_penalty_is_a_scalar_tensor(env):
    value = env["trace_norm_penalty"](0.01)(env["soft"])
    assert value.dim() == 0 and value.requires_grad

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_penalty_value(env):
    import torch

    import mtl_utils as mu
    from mtl_utils.foundations.models import SoftSharingNet
    torch.manual_seed(5)
    net = SoftSharingNet([mu.foundations.tasks.digit_task(), mu.foundations.tasks.parity_task()])
    a, b = (dict(t.trunk.named_parameters()) for t in net.towers.values())
    expected = sum(torch.linalg.svdvals(torch.stack([a[k].flatten(), b[k].flatten()])).sum() for k in a)
    assert abs(float(env["trace_norm_penalty"](0.5)(net)) - 0.5 * float(expected)) < 1e-3
    # identical towers: each layer's matrix has rank 1 and nuclear norm √2 ‖w‖
    net.towers["parity"].trunk.load_state_dict(net.towers["digit"].trunk.state_dict())
    same = sum(2 ** 0.5 * a[k].detach().norm() for k in a)
    assert abs(float(env["trace_norm_penalty"](1.0)(net)) - float(same)) < 1e-3

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 3

# %% [markdown]
# **Question 3** (`ch6-ex-t2`). Why the $T^2$ factor? Write `soft_gradient_norms(temperature)`: the norm of the
# gradient of `distillation_loss(student, teacher, target, temperature, beta=1.0)` (the soft term *with* its
# factor $T^2$) with respect to the student logits below, and the same norm divided by $T^2$ (the gradient without
# the factor), as a pair of floats. Then set `ratio_with` and `ratio_without` to the factor by which each norm
# changes from $T = 1$ to $T = 16$.

# %%
gen = torch.Generator().manual_seed(0)
student = torch.randn(64, 10, generator=gen)
teacher = 3 * torch.randn(64, 10, generator=gen)
target = torch.zeros(64, dtype=torch.long)

# %% [raw]
# # BEGIN SOLUTION

# %%
def soft_gradient_norms(temperature):
    """(gradient norm with T², gradient norm without T²) of the soft distillation term."""
    # BEGIN SOLUTION
    logits = student.clone().requires_grad_(True)
    distillation_loss(logits, teacher, target, temperature, beta=1.0).backward()
    with_t2 = logits.grad.norm().item()
    return with_t2, with_t2 / temperature**2
    # END SOLUTION


ratio_with = soft_gradient_norms(16)[0] / soft_gradient_norms(1)[0]  # SOLUTION
ratio_without = soft_gradient_norms(16)[1] / soft_gradient_norms(1)[1]  # SOLUTION
print(f"×{ratio_with:.2f} with the factor, ×{ratio_without:.4f} without")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_two_norms_at_t_equal_one(env):
    a, b = env["soft_gradient_norms"](1)
    assert abs(a - b) < 1e-9

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_the_factor_keeps_the_gradient_scale(env):
    import torch

    from mtl_utils.foundations.losses import distillation_loss
    assert env["ratio_without"] < 0.01 and 0.1 < env["ratio_with"] < 10
    logits = env["student"].clone().requires_grad_(True)
    distillation_loss(logits, env["teacher"], env["target"], 4, beta=1.0).backward()
    with_t2, without = env["soft_gradient_norms"](4)
    assert abs(with_t2 - logits.grad.norm().item()) < 1e-6 and abs(without - with_t2 / 16) < 1e-7

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q4
# points: 2

# %% [markdown]
# **Question 4** (`ch6-ex-reverse`). To distil a *parity* teacher into a *digit* student, group the student's
# digit probabilities into parity. Write `parity_log_probs(digit_logits)`: a `[batch, 2]` tensor whose column 0 is
# $\log \sum_{k \text{ odd}} p_k$ and column 1 is $\log \sum_{k \text{ even}} p_k$ (the parity task's convention:
# class 1 is even), with $p$ the softmax of the digit logits. Use `torch.logsumexp` on the log-softmax.

# %% [raw]
# # BEGIN SOLUTION

# %%
def parity_log_probs(digit_logits):
    """Log-probabilities of odd and even from digit logits."""
    # BEGIN SOLUTION
    log_p = torch.log_softmax(digit_logits, dim=1)
    return torch.stack([torch.logsumexp(log_p[:, 1::2], dim=1), torch.logsumexp(log_p[:, 0::2], dim=1)], dim=1)
    # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_shape(env):
    import torch
    assert env["parity_log_probs"](torch.randn(3, 10)).shape == (3, 2)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_matches_group_logits(env):
    import torch

    from mtl_utils.foundations import distill
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(1))
    expected = distill.group_logits(logits, [[1, 3, 5, 7, 9], [0, 2, 4, 6, 8]])
    torch.testing.assert_close(env["parity_log_probs"](logits), expected)
    torch.testing.assert_close(env["parity_log_probs"](logits).exp().sum(1), torch.ones(50))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q5
# points: 2
# manual: true

# %% [markdown]
# **Question 5** (`ch6-ex-full`; written). If you distilled the two teachers into a student trained on all 50,000
# images, with the book's full recipe, and compared it with chapter 4's hard-sharing network over five seeds, what
# would you expect the paired interval to show, and why?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# No difference detected is the likely outcome (an interval that includes zero). The student now has every label
# its teachers had; the only extra information in the soft targets is the teachers' similarity structure between
# digits, which a student with 50,000 images learns from the data. A null is reported as "no difference detected",
# with its interval, not as "equal".

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
