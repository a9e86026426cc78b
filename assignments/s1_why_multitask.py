# %% [raw]
# # ASSIGNMENT CONFIG
# name: s1_why_multitask
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 1: why multi-task learning, and the article's example
#
# Session 1 of the course: chapters 1 (*Why multi-task learning?*) and 1b (*The article's worked example*). The
# questions are the chapters' exercises `ch1-ex-task`, `ch1-ex-count`, `ch1-ex-init`, `ch1b-ex-alpha` and
# `ch1b-ex-test`, cut to sizes that run in seconds on a CPU. Replace every `...` with your code, run the
# `grader.check` cell after each question, and keep the names the questions ask for: the autograder calls them.
# Question 0 is worked for you. Question 6 is a written answer, marked by hand.

# %%
import copy
import math

import torch
import torch.nn.functional as F

import mtl_utils as mu
from mtl_utils.evidence import stats
from mtl_utils.foundations import cost
from mtl_utils.foundations.mnist import Split

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked).** An untrained head's cross-entropy starts near $\log K$ for $K$ classes. The cell below
# builds the book's two-headed LeNet and computes the digit head's loss on a batch of random images.

# %%
torch.manual_seed(0)
images = 2 * torch.randn(256, 1, 28, 28)
labels = torch.randint(0, 10, (256,))
net = mu.HardSharingNet.for_tasks([mu.foundations.tasks.digit_task(), mu.foundations.tasks.parity_task()])
with torch.no_grad():
    initial_loss = F.cross_entropy(net(images)["digit"], labels).item()
print(f"initial loss {initial_loss:.3f}, log 10 = {math.log(10):.3f}")

# %% [raw]
# # BEGIN TESTS

# %%
def test_initial_loss_is_near_log_k(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    assert abs(env["initial_loss"] - math.log(10)) < 0.1

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 2

# %% [markdown]
# **Question 1** (`ch1-ex-task`). Define a third task, "is the digit at least 5?", as a `mu.Task` named `big`, with
# two outputs, trained with cross-entropy and scored with accuracy (the defaults). Its label function receives a
# `Split` and returns one class per image: 1 for the digits 5 to 9, 0 otherwise.

# %% [raw]
# # BEGIN SOLUTION

# %%
big_task = mu.Task("big", 2, lambda split: (split.labels >= 5).long())  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_big_is_a_task(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    assert isinstance(env["big_task"], mu.Task)
    assert env["big_task"].name == "big"

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_big_labels_and_width(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    task = env["big_task"]
    from mtl_utils.foundations.mnist import Split

    split = Split(torch.zeros(20, 28, 28, dtype=torch.uint8), torch.arange(20) % 10)
    assert task.num_outputs == 2
    assert torch.equal(task.label_fn(split).long(), (torch.arange(20) % 10 >= 5).long())
    assert task.loss is F.cross_entropy

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 3

# %% [markdown]
# **Question 2** (`ch1-ex-count`). Write `parameter_ratio(n_tasks)`: the parameters of one hard-sharing network
# (`mu.HardSharingNet.for_tasks`) for `n_tasks` ten-class tasks, divided by those of `n_tasks` separate networks
# (`mu.SingleTaskNet`), counted with `cost.count_parameters`. Then set `ratio_limit` to the value the ratio
# approaches as the number of tasks grows, computed from the parameters of one trunk (`mu.LeNetTrunk`) and one head.

# %% [raw]
# # BEGIN SOLUTION

# %%
def ten_class_tasks(n_tasks):
    return [mu.Task(f"task{i}", 10, mu.foundations.data.digit) for i in range(n_tasks)]


def parameter_ratio(n_tasks):
    """Hard sharing's parameters over those of separate networks, for n ten-class tasks."""
    # BEGIN SOLUTION
    tasks = ten_class_tasks(n_tasks)
    shared = cost.count_parameters(mu.HardSharingNet.for_tasks(tasks))
    separate = sum(cost.count_parameters(mu.SingleTaskNet(t)) for t in tasks)
    return shared / separate
    # END SOLUTION


p_trunk = cost.count_parameters(mu.LeNetTrunk())
p_head = cost.count_parameters(mu.HardSharingNet.for_tasks(ten_class_tasks(1)).heads["task0"])
ratio_limit = p_head / (p_trunk + p_head)  # SOLUTION
print({n: round(parameter_ratio(n), 3) for n in (2, 5, 10)}, round(ratio_limit, 3))

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_ratio_is_a_number_below_one(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    assert 0 < env["parameter_ratio"](2) < 1

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_ratios_and_limit(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    trunk = cost.count_parameters(mu.LeNetTrunk())
    head = 84 * 10 + 10
    for n in (2, 5, 10):
        expected = (trunk + n * head) / (n * (trunk + head))
        assert abs(env["parameter_ratio"](n) - expected) < 1e-9
    assert abs(env["ratio_limit"] - head / (trunk + head)) < 1e-9

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 2

# %% [markdown]
# **Question 3** (`ch1-ex-init`). Write `loss_with_scaled_head(factor)`: a deep copy of Question 0's `net` whose
# digit head (`heads["digit"]`, a `Linear` layer) has its weight and bias multiplied by `factor`, and its
# cross-entropy on `images` and `labels`, as a float. With `factor=1` it is `initial_loss`. What happens at 20?

# %% [raw]
# # BEGIN SOLUTION

# %%
def loss_with_scaled_head(factor):
    """The digit loss of a copy of `net` whose digit head is scaled by `factor`."""
    # BEGIN SOLUTION
    scaled = copy.deepcopy(net)
    with torch.no_grad():
        scaled.heads["digit"].weight.mul_(factor)
        scaled.heads["digit"].bias.mul_(factor)
        return F.cross_entropy(scaled(images)["digit"], labels).item()
    # END SOLUTION


print(loss_with_scaled_head(1), loss_with_scaled_head(20))

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_factor_one_is_the_initial_loss(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    assert abs(env["loss_with_scaled_head"](1) - env["initial_loss"]) < 1e-5

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_scaling_makes_the_loss_much_larger_and_leaves_net_alone(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    before = [p.clone() for p in env["net"].parameters()]
    assert env["loss_with_scaled_head"](20) > math.log(10) + 1
    assert all(torch.equal(a, b) for a, b in zip(before, env["net"].parameters()))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q4
# points: 3

# %% [markdown]
# **Question 4** (`ch1b-ex-alpha`). Is $\alpha_\text{digit} = \alpha_\text{parity} = 0.5$ the same as halving the
# learning rate? Write `losses(alpha, lr, optimizer)`: train the small two-headed model that `make_model()` returns,
# from that same start, for 20 full-batch steps on `x`, `y_a` and `y_b` below, minimizing
# `alpha * (loss_a + loss_b)` with `torch.optim.SGD(..., lr=lr, momentum=0.9)` when `optimizer == "sgd"` and
# `torch.optim.Adam(..., lr=lr)` when `optimizer == "adam"`; return the 20 *unweighted* losses `loss_a + loss_b`
# before each step, as a tensor. Then compare `losses(0.5, 0.1, "sgd")` with `losses(1.0, 0.05, "sgd")`, and the
# same pair of weights with Adam at one learning rate.

# %%
torch.manual_seed(1)
x = torch.randn(64, 8)
y_a, y_b = torch.randint(0, 3, (64,)), torch.randint(0, 2, (64,))


def make_model():
    torch.manual_seed(2)
    return torch.nn.ModuleDict({"trunk": torch.nn.Linear(8, 16), "a": torch.nn.Linear(16, 3),
                                "b": torch.nn.Linear(16, 2)})


def task_losses(model):
    z = torch.relu(model["trunk"](x))
    return F.cross_entropy(model["a"](z), y_a), F.cross_entropy(model["b"](z), y_b)

# %% [raw]
# # BEGIN SOLUTION

# %%
def losses(alpha, lr, optimizer="sgd", steps=20):
    """The unweighted loss before each step of training with weights alpha on both tasks."""
    # BEGIN SOLUTION
    model = make_model()
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    recorded = []
    for _ in range(steps):
        loss_a, loss_b = task_losses(model)
        recorded.append((loss_a + loss_b).detach())
        opt.zero_grad()
        (alpha * (loss_a + loss_b)).backward()
        opt.step()
    return torch.stack(recorded)
    # END SOLUTION


print((losses(0.5, 0.1) - losses(1.0, 0.05)).abs().max())

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_twenty_losses(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    assert env["losses"](1.0, 0.05).shape == (20,)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_half_weights_equal_half_learning_rate_with_sgd_but_not_with_adam(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    f = env["losses"]
    torch.testing.assert_close(f(0.5, 0.1, "sgd"), f(1.0, 0.05, "sgd"), rtol=1e-4, atol=1e-5)
    assert (f(0.5, 0.1, "sgd") - f(1.0, 0.1, "sgd")).abs().max() > 1e-3
    # Adam divides by the gradient's own size: a common factor on the loss cancels, the learning rate does not
    torch.testing.assert_close(f(0.5, 0.01, "adam"), f(1.0, 0.01, "adam"), rtol=1e-3, atol=1e-4)
    assert (f(1.0, 0.01, "adam") - f(1.0, 0.005, "adam")).abs().max() > 1e-3

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q5
# points: 1

# %% [markdown]
# **Question 5** (`ch1b-ex-test`, second part). Write `se_difference(accuracy, n)`: the binomial standard error of
# the difference between two independent accuracies like `accuracy`, each measured on `n` images. Use
# `stats.binomial_se` for one accuracy.

# %% [raw]
# # BEGIN SOLUTION

# %%
def se_difference(accuracy, n):
    """Standard error of the difference of two independent accuracies of about `accuracy` on `n` images."""
    return math.sqrt(2) * stats.binomial_se(accuracy, n)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_se_difference(env):
    import math

    import torch
    import torch.nn.functional as F

    import mtl_utils as mu
    from mtl_utils.evidence import stats
    from mtl_utils.foundations import cost
    for acc, n in [(0.99, 10_000), (0.9, 1_000), (0.5, 100)]:
        assert abs(env["se_difference"](acc, n) - math.sqrt(2 * acc * (1 - acc) / n)) < 1e-12

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q6
# points: 2
# manual: true

# %% [markdown]
# **Question 6** (`ch1b-ex-test`, first part; written). You trained the article's model for 5, 10 and 20 epochs and
# reported the best of the three test accuracies. Why is that number optimistic, and how does chapter 3 avoid the
# problem?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# The best of several test scores is a maximum over noisy measurements, so it is biased upwards, and the test set
# has been used to make a choice: it no longer estimates how the chosen model does on new images. Chapter 3 makes
# every choice on a validation split (the last 10,000 training images) and scores the test set once.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
