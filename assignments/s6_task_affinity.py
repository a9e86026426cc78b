# %% [raw]
# # ASSIGNMENT CONFIG
# name: s6_task_affinity
# init_cell: true
# check_all_cell: false
# export_cell: false
# tests:
#   ok_format: false
# generate:
#   pdf: false

# %% [markdown]
# # Assignment 6: which tasks to train together
#
# Session 6 of the course: chapter 9 (*Which tasks to train together?*). The questions come from the exercises
# `ch9-ex-asymmetry`, `ch9-ex-predictor-groups` and `ch9-ex-random`, and from the chapter's rank correlations over
# six tasks. Replace every `...`, run each `grader.check` cell, and keep the names the questions ask for.
# Question 0 is worked for you; Question 3 is a written answer, marked by hand.

# %%
import itertools

import numpy as np
import pandas as pd

from mtl_utils.evidence import stats
from mtl_utils.relatedness import affinity

# %% [raw]
# # BEGIN QUESTION
# name: q0
# points: 1

# %% [markdown]
# **Question 0 (worked**, `ch9-ex-asymmetry`). TAG's affinity `Z.loc[i, j]` says how much a step on task $j$'s
# loss lowers task $i$'s. It is not symmetric. The table below is an illustration, not a measurement.

# %%
names = ["digit", "parity", "ge5", "ink", "stroke"]
Z = pd.DataFrame([[0.0, 0.010, 0.008, -0.004, -0.006], [0.030, 0.0, 0.012, -0.002, -0.003],
                  [0.025, 0.009, 0.0, -0.001, -0.002], [-0.003, -0.001, 0.000, 0.0, 0.020],
                  [-0.005, -0.002, -0.001, 0.018, 0.0]], index=names, columns=names)
parity_from_digit, digit_from_parity = Z.loc["parity", "digit"], Z.loc["digit", "parity"]
print(f"Z[parity <- digit] = {parity_from_digit:+.3f}, Z[digit <- parity] = {digit_from_parity:+.3f}")

# %% [raw]
# # BEGIN TESTS

# %%
def test_the_richer_task_helps_the_poorer_more(env):
    assert env["parity_from_digit"] > env["digit_from_parity"]

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q1
# points: 4

# %% [markdown]
# **Question 1** (`ch9-ex-predictor-groups`). Write `best_two_groups(table)`: the split of the tasks of a square
# affinity table into two non-empty groups with the highest total affinity, by exhaustive search, as
# `(groups, score)`. A task's score is the mean of `table.loc[task, other]` over the *other* members of its group
# (0 if it is alone), and a split's score is the sum over all tasks, as in TAG. Return the groups as lists of names.
# Then set `split_Z` to the groups your function chooses for `Z`. (The autograder compares your function with
# `affinity.best_split` on other tables; do not call it.)

# %% [raw]
# # BEGIN SOLUTION

# %%
def best_two_groups(table):
    """The two-group split with the highest total affinity onto each task from its group."""
    # BEGIN SOLUTION
    tasks = list(table.index)
    best = None
    for labels in itertools.product((0, 1), repeat=len(tasks) - 1):
        labels = (0, *labels)
        if len(set(labels)) < 2:
            continue
        groups = [[t for t, g in zip(tasks, labels) if g == k] for k in (0, 1)]
        score = sum(float(table.loc[t, [o for o in group if o != t]].mean()) if len(group) > 1 else 0.0
                    for group in groups for t in group)
        if best is None or score > best[1]:
            best = (groups, score)
    return best
    # END SOLUTION


split_Z = best_two_groups(Z)[0]  # SOLUTION
print(split_Z)

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_two_groups_cover_the_tasks(env):
    groups, _ = env["best_two_groups"](env["Z"])
    assert len(groups) == 2 and sorted(sum(groups, [])) == sorted(env["Z"].index)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_against_best_split(env):
    import numpy as np
    import pandas as pd

    from mtl_utils.relatedness import affinity

    def as_sets(groups):
        return {frozenset(g) for g in groups}

    assert as_sets(env["split_Z"]) == {frozenset({"digit", "parity", "ge5"}), frozenset({"ink", "stroke"})}
    rng = np.random.default_rng(4)
    for n in (3, 5, 6):
        names = [f"t{i}" for i in range(n)]
        table = pd.DataFrame(rng.normal(size=(n, n)), index=names, columns=names)
        groups, score = env["best_two_groups"](table)
        expected, expected_score = affinity.best_split(table, groups=2)
        assert as_sets(groups) == as_sets(expected) and abs(score - expected_score) < 1e-9

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2
# points: 3

# %% [markdown]
# **Question 2.** Over six tasks, how much can a rank correlation show? Write `spearman_exact(x, y)`: Spearman's
# $\rho$ (the Pearson correlation of the ranks; use `pd.Series(...).rank()`) and its *exact* two-sided permutation
# p-value, the share of all $n!$ orders of `y` whose $|\rho^*| \ge |\rho| - 10^{-12}$, as `(rho, p)`. Then set
# `rho_example, p_example` for the predictor and the measured transfer below. Would $\rho = 0.6$ over six tasks be
# evidence of anything?

# %%
predictor = [0.92, 0.55, 0.61, 0.05, 0.08, 0.01]
transfer = [1.9, 2.4, 1.1, -0.8, -1.2, 0.3]

# %% [raw]
# # BEGIN SOLUTION

# %%
def spearman_exact(x, y):
    """Spearman's rho and its exact two-sided permutation p-value."""
    # BEGIN SOLUTION
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    rho = float(np.corrcoef(rx, ry)[0, 1])
    perms = [float(np.corrcoef(rx, np.array(p))[0, 1]) for p in itertools.permutations(ry)]
    return rho, sum(abs(r) >= abs(rho) - 1e-12 for r in perms) / len(perms)
    # END SOLUTION


rho_example, p_example = spearman_exact(predictor, transfer)  # SOLUTION
print(f"rho = {rho_example:.3f}, exact p = {p_example:.3f}")

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_rho_is_a_correlation(env):
    assert -1 <= env["rho_example"] <= 1 and 0 < env["p_example"] <= 1

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_against_rank_correlation(env):
    import numpy as np

    from mtl_utils.evidence import stats
    rng = np.random.default_rng(9)
    cases = [(env["predictor"], env["transfer"]), (list(rng.normal(size=6)), list(rng.normal(size=6))),
             ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])]
    for x, y in cases:
        rho, p = env["spearman_exact"](x, y)
        expected = stats.rank_correlation(x, y, n_boot=200)
        assert abs(rho - expected.rho) < 1e-9 and abs(p - expected.p) < 1e-9

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3
# points: 3
# manual: true

# %% [markdown]
# **Question 3** (`ch9-ex-random`; written). The random-label task has nothing to teach the digit, yet in chapter 9
# it did not hurt it in 200 steps. Why not? What would you change to give "wasted capacity" a fair chance to show,
# and what control would the comparison need?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# In 200 steps of 64 images the network sees a fraction of the random-labelled images once and cannot memorize
# them; their gradients change direction from batch to batch and largely cancel, acting like noise, a mild
# regulariser. Harm needs training long enough to fit the random labels, or a trunk too small for both. A fair test
# trains digit alone and digit + random for the same longer schedule, with each arm's number of steps chosen on the
# validation split, over five seeds, paired.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION
