# %% [raw]
# # ASSIGNMENT CONFIG
# name: s2_relatedness_and_baselines
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 2: tasks, relatedness and honest baselines
#
# Session 2 of the course: chapters 2 (*Tasks and relatedness*) and 3 (*Single-task baselines*). The questions
# come from the exercises `ch2-ex-big`, `ch2-ex-rotation`, `ch3-ex-seeds` and `ch3-ex-parity`, on small
# synthetic inputs so that they run in seconds. Replace every `...`, run each `grader.check` cell, and keep the
# names the questions ask for. Question 0 is worked for you; Question 5 is a written answer, marked by hand.

# %%
import math

import torch

from mtl_utils.evidence import stats
from mtl_utils.relatedness import similarity

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked).** On balanced digits, parity carries exactly one bit, and the digit determines it, so
# $I(\text{digit}; \text{parity}) = H(\text{parity})$.

# %%
digits = torch.arange(10).repeat(100)
parity = (digits % 2 == 0).long()
h_parity = similarity.entropy_bits(parity)
i_digit_parity = similarity.mutual_information_bits(digits, parity)
print(f"H(parity) = {h_parity:.4f} bits, I(digit; parity) = {i_digit_parity:.4f} bits")

# %% [raw]
# # BEGIN TESTS

# %%
def test_parity_is_one_bit_of_the_digit(env):
    assert abs(env["h_parity"] - 1) < 1e-12 and abs(env["i_digit_parity"] - 1) < 1e-12

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 3

# %% [markdown]
# **Question 1.** Write `mutual_information(a, b)`: the mutual information in bits of two integer label tensors of
# the same samples, from their joint frequency table: $I = \sum_{x,y} p(x,y) \log_2 \frac{p(x,y)}{p(x)p(y)}$, over
# the cells with $p(x,y) > 0$. Do not call `similarity.mutual_information_bits` (the autograder compares with it).

# %% [raw]
# # BEGIN SOLUTION

# %%
def mutual_information(a, b):
    """I(A; B) in bits from the joint frequencies of two label tensors."""
    # BEGIN SOLUTION
    a, b = a.long(), b.long()
    joint = torch.zeros(int(a.max()) + 1, int(b.max()) + 1, dtype=torch.float64)
    joint.index_put_((a, b), torch.ones(len(a), dtype=torch.float64), accumulate=True)
    joint /= joint.sum()
    outer = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
    seen = joint > 0
    return float((joint[seen] * (joint[seen] / outer[seen]).log2()).sum())
    # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_digit_and_parity(env):
    import torch
    digits = torch.arange(10).repeat(10)
    assert abs(env["mutual_information"](digits, digits % 2) - 1) < 1e-9

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_against_the_library_on_random_labels(env):
    import torch

    from mtl_utils.relatedness import similarity
    gen = torch.Generator().manual_seed(7)
    for _ in range(5):
        a = torch.randint(0, 6, (500,), generator=gen)
        b = (a + torch.randint(0, 3, (500,), generator=gen)) % 4
        assert abs(env["mutual_information"](a, b) - similarity.mutual_information_bits(a, b)) < 1e-9
    a = torch.randint(0, 5, (400,), generator=gen)
    assert abs(env["mutual_information"](a, a) - similarity.entropy_bits(a)) < 1e-9

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 1

# %% [markdown]
# **Question 2** (`ch2-ex-big`). Set `i_big_parity` to the mutual information between "is the digit at least 5?"
# and parity on the balanced `digits` of Question 0, and `i_big_digit` to that between "at least 5" and the digit.
# Both tasks are functions of the digit: are they related to each other?

# %% [raw]
# # BEGIN SOLUTION

# %%
big = (digits >= 5).long()
i_big_parity = mutual_information(big, parity)  # SOLUTION
i_big_digit = mutual_information(big, digits)  # SOLUTION
print(f"I(big; parity) = {i_big_parity:.4f} bits, I(big; digit) = {i_big_digit:.4f} bits")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_big_and_parity(env):
    import math
    # among 0-4 three digits are even, among 5-9 two: I = 1 - H(3/5)
    h = -(0.6 * math.log2(0.6) + 0.4 * math.log2(0.4))
    assert abs(env["i_big_parity"] - (1 - h)) < 1e-9
    assert abs(env["i_big_digit"] - 1) < 1e-9

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 3

# %% [markdown]
# **Question 3** (`ch2-ex-rotation`). Write `cka(x, y)`, linear CKA between two feature matrices of the same $n$
# inputs: centre each column, then $\lVert Y^\top X \rVert_F^2 / (\lVert X^\top X \rVert_F \lVert Y^\top Y
# \rVert_F)$. Then set `cka_rotated` to the CKA between `features` and `features @ rotation` below, and
# `unit_corr` to the mean absolute correlation between unit $i$ of `features` and unit $i$ of the rotated features.
# Why does the unit-by-unit comparison fail where CKA does not?

# %%
torch.manual_seed(0)
features = torch.randn(300, 20) @ torch.randn(20, 20)
rotation = torch.linalg.qr(torch.randn(20, 20))[0]

# %% [raw]
# # BEGIN SOLUTION

# %%
def cka(x, y):
    """Linear centred kernel alignment of two [n, width] feature matrices."""
    # BEGIN SOLUTION
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    num = torch.linalg.matrix_norm(y.T @ x) ** 2
    return float(num / (torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)))
    # END SOLUTION


rotated = features @ rotation
cka_rotated = cka(features, rotated)  # SOLUTION
unit_corr = torch.stack([torch.corrcoef(torch.stack([features[:, i], rotated[:, i]]))[0, 1]  # SOLUTION
                         for i in range(features.shape[1])]).abs().mean().item()  # SOLUTION
print(f"CKA with the rotated features {cka_rotated:.4f}; mean |unit correlation| {unit_corr:.3f}")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_cka_of_features_with_themselves(env):
    import torch
    x = torch.randn(50, 4)
    assert abs(env["cka"](x, x) - 1) < 1e-9

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_cka_matches_the_library_and_is_rotation_invariant(env):
    import torch

    from mtl_utils.relatedness import similarity
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(200, 12, generator=gen), torch.randn(200, 7, generator=gen)
    y = y + x[:, :7]
    assert abs(env["cka"](x, y) - similarity.linear_cka(x, y)) < 1e-9
    q = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=torch.float64))[0].float()
    assert abs(env["cka"](x @ q, y) - similarity.linear_cka(x, y)) < 1e-5
    assert abs(env["cka_rotated"] - 1) < 1e-6
    assert env["unit_corr"] < 0.6

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q4
# points: 3

# %% [markdown]
# **Question 4** (`ch3-ex-seeds`). A paired t test at the 5% level detects a true difference $\delta$ with power
# about 0.8 once $n \ge (t_{0.975,\,n-1} + t_{0.8,\,n-1})^2\,\sigma_d^2 / \delta^2$. Write `detectable(n, sigma_d)`,
# the difference $(t_{0.975,\,n-1} + t_{0.8,\,n-1})\,\sigma_d / \sqrt{n}$ that $n$ seeds detect with power 0.8, and
# `seeds_needed(sigma_d, delta)`, the smallest $n \ge 2$ with `detectable(n, sigma_d) <= delta`. Use
# `stats.t_quantile(p, df)`. How many seeds does a difference of 0.05 points need when $\sigma_d = 0.06$ points?

# %% [raw]
# # BEGIN SOLUTION

# %%
def detectable(n, sigma_d):
    """The true difference that a paired t test over n seeds detects with power 0.8."""
    # BEGIN SOLUTION
    return (stats.t_quantile(0.975, n - 1) + stats.t_quantile(0.8, n - 1)) * sigma_d / math.sqrt(n)
    # END SOLUTION


def seeds_needed(sigma_d, delta):
    """The smallest number of seeds that detects delta with power 0.8."""
    # BEGIN SOLUTION
    return next(n for n in range(2, 100_000) if detectable(n, sigma_d) <= delta)
    # END SOLUTION


print(seeds_needed(0.06, 0.05), round(detectable(5, 0.06), 3))

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_more_seeds_detect_less(env):
    assert env["detectable"](20, 1.0) < env["detectable"](5, 1.0)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_power_calculation(env):
    import math

    from mtl_utils.evidence import stats

    def bound(n, s):
        return (stats.t_quantile(0.975, n - 1) + stats.t_quantile(0.8, n - 1)) * s / math.sqrt(n)

    for n, s in [(5, 0.06), (3, 1.0), (30, 0.2)]:
        assert abs(env["detectable"](n, s) - bound(n, s)) < 1e-9
    for s, d in [(0.06, 0.05), (0.1, 0.05), (1.0, 2.0)]:
        n = env["seeds_needed"](s, d)
        assert bound(n, s) <= d and (n == 2 or bound(n - 1, s) > d)

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
# **Question 5** (`ch3-ex-parity`; written). You try to make the parity baseline stronger: a lower peak learning
# rate (0.005 or 0.003), or 8 epochs instead of 5. Which data do you judge the variants on, how many seeds do you
# need, what do you write if no interval excludes 0, and what do you do with the test set?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# Train each variant and the book's recipe on the same five seeds (`stats.seeds()`), score them on the validation
# split, choose by the mean over the seeds, and call a variant better only if `stats.paired(variant, book)` gives an
# interval above 0. Otherwise the verdict is "no difference detected", not "equal", and the book's recipe stays.
# Only the chosen recipe's final networks are scored on the test set, once; picking on the test set would make its
# score optimistic.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
