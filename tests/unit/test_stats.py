import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from mtl_utils.evidence import stats
from mtl_utils.foundations.data import VALIDATION_SIZE, validation_split


def test_seeds_and_offset(monkeypatch):
    monkeypatch.delenv("MTL_SEED_OFFSET", raising=False)
    assert stats.seeds() == [0, 1, 2, 3, 4]  # a method comparison uses at least five seeds
    monkeypatch.setenv("MTL_SEED_OFFSET", "100")
    assert stats.seeds(4) == [100, 101, 102, 103]
    monkeypatch.setenv("MTL_SEED_OFFSET", "abc")
    with pytest.raises(ValueError, match="MTL_SEED_OFFSET"):
        stats.seeds()
    with pytest.raises(ValueError, match="positive"):
        stats.seeds(0)


def test_binomial_se():
    assert stats.binomial_se(0.99, 10_000) == pytest.approx(math.sqrt(0.99 * 0.01 / 10_000))
    assert stats.binomial_se(0.99, 10_000) == pytest.approx(0.000995, rel=1e-3)  # about 0.1 points at 99%
    with pytest.raises(ValueError, match="fraction"):
        stats.binomial_se(99.0, 10_000)


def test_mean_std():
    assert stats.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    with pytest.raises(ValueError, match="two seeds"):
        stats.mean_std([1.0])
    with pytest.raises(ValueError, match="NaN"):
        stats.mean_std([1.0, float("nan")])


def test_summarize():
    runs = pd.DataFrame({"method": ["a", "a", "a", "b", "b", "b"], "seed": [0, 1, 2] * 2,
                         "acc": [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]})
    table = stats.summarize(runs, "method")
    assert table.loc["a", ("acc", "mean")] == 2.0 and table.loc["a", ("acc", "std")] == 1.0
    assert table.loc["b", ("acc", "n")] == 3 and ("seed", "mean") not in table.columns
    with pytest.raises(ValueError, match="no column"):
        stats.summarize(runs, "model")


def test_delta_m_sign_convention():
    single = {"digit": 0.98, "stroke": 0.5}
    assert stats.delta_m(single, single, {"stroke"}) == 0.0
    # better accuracy and lower error both count as positive
    better = stats.delta_m({"digit": 0.99, "stroke": 0.45}, single, lower_is_better={"stroke"})
    assert better == pytest.approx(100 * (0.01 / 0.98 + 0.05 / 0.5) / 2)
    assert stats.delta_m({"digit": 0.97, "stroke": 0.5}, single, {"stroke"}) < 0
    with pytest.raises(ValueError, match="same tasks"):
        stats.delta_m({"digit": 0.9}, single)
    with pytest.raises(ValueError, match="unknown"):
        stats.delta_m(single, single, {"parity"})
    with pytest.raises(ValueError, match="non-zero"):
        stats.delta_m({"digit": 0.9}, {"digit": 0.0})


def test_validation_split(mnist):
    train, val = validation_split(mnist.train)
    assert len(train) == 50_000 and len(val) == VALIDATION_SIZE == 10_000
    assert (val.images == mnist.train.images[50_000:]).all() and (train.labels == mnist.train.labels[:50_000]).all()
    assert set(val.labels.tolist()) == set(range(10))
    with pytest.raises(ValueError, match="n_val"):
        validation_split(mnist.train, 60_000)
    with pytest.raises(ValueError, match="Split"):
        validation_split(mnist)


# --- The t distribution, against SciPy --------------------------------------------------------------------------------

@pytest.mark.parametrize("df", range(1, 31))
def test_t_quantile_matches_scipy(df):
    for p in (0.0005, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 0.9, 0.95, 0.975, 0.995, 0.9995):
        expected = scipy.stats.t.ppf(p, df)
        assert stats.t_quantile(p, df) == pytest.approx(expected, rel=1e-8, abs=1e-10)
    for t in (-40.0, -3.0, -0.7, 0.0, 0.2, 1.5, 6.0):
        assert stats.t_cdf(t, df) == pytest.approx(scipy.stats.t.cdf(t, df), rel=1e-9, abs=1e-14)


def test_t_quantile_errors():
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\)"):
        stats.t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="df must be positive"):
        stats.t_quantile(0.9, 0)


# --- paired: mean, interval and p over seeds --------------------------------------------------------------------------

A = [98.9, 99.1, 98.7, 99.3, 99.0, 98.8]
B = [98.6, 99.0, 98.5, 98.9, 99.1, 98.4]


def test_paired_t_matches_scipy_ttest_rel():
    r = stats.paired(A, B)
    ref = scipy.stats.ttest_rel(A, B)
    diffs = np.subtract(A, B)
    assert r.mean == pytest.approx(diffs.mean()) and r.n == 6 and r.method == "t" and r.confidence == 0.95
    assert r.p == pytest.approx(ref.pvalue, rel=1e-8)
    lo, hi = ref.confidence_interval(0.95)
    assert (r.lo, r.hi) == (pytest.approx(lo, rel=1e-8), pytest.approx(hi, rel=1e-8))


@pytest.mark.parametrize("n", [2, 3, 5, 8, 20])
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_paired_half_width_is_t_times_se(n, confidence):
    diffs = np.random.default_rng(n).normal(0.3, 1.0, n)
    r = stats.paired(diffs, 0, confidence=confidence)
    half = scipy.stats.t.ppf((1 + confidence) / 2, n - 1) * diffs.std(ddof=1) / math.sqrt(n)
    assert (r.hi - r.lo) / 2 == pytest.approx(half, rel=1e-8)
    assert (r.lo + r.hi) / 2 == pytest.approx(diffs.mean())
    assert r.p == pytest.approx(scipy.stats.ttest_1samp(diffs, 0).pvalue, rel=1e-7)


def test_paired_one_sample_forms_agree():
    gains = [0.4, 0.1, 0.3, 0.6, 0.2]
    assert stats.paired(gains) == stats.paired(gains, 0) == stats.paired(gains, [0.0] * 5)
    assert stats.paired(np.array(gains) + 1, 1.0).mean == pytest.approx(0.32)


def test_paired_series_align_by_seed():
    a = pd.Series(A, index=range(6))
    b = pd.Series(B, index=range(6))
    shuffled = b.iloc[[3, 1, 5, 0, 2, 4]]
    assert stats.paired(a, shuffled) == stats.paired(A, B)
    with pytest.raises(ValueError, match=r"unpaired seeds: \[5\] only in the first, \[6\] only in the second"):
        stats.paired(a, pd.Series(B, index=[0, 1, 2, 3, 4, 6]))


def test_paired_identical_differences():
    r = stats.paired([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert (r.mean, r.lo, r.hi, r.p) == (1.0, 1.0, 1.0, 0.0) and r.excludes_zero()
    r = stats.paired([1.0, 2.0], [1.0, 2.0], method="bootstrap")
    assert (r.mean, r.lo, r.hi, r.p) == (0.0, 0.0, 0.0, 1.0) and not r.excludes_zero()


def test_paired_errors():
    with pytest.raises(ValueError, match="unequal lengths: 3 and 2"):
        stats.paired([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least two seeds"):
        stats.paired([1.0], [0.5])
    with pytest.raises(ValueError, match="at least two seeds"):
        stats.paired([1.0])
    with pytest.raises(ValueError, match="NaN"):
        stats.paired([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        stats.paired([1.0, 2.0], [1.0, float("inf")])
    with pytest.raises(ValueError, match="unknown method 'wilcoxon'"):
        stats.paired(A, B, method="wilcoxon")
    for confidence in (0.0, 1.0, 95):
        with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\)"):
            stats.paired(A, B, confidence=confidence)
    with pytest.raises(ValueError, match="one-dimensional"):
        stats.paired([[1.0, 2.0]], [[1.0, 2.0]])


def test_paired_bootstrap_is_deterministic_and_sensible():
    diffs = np.random.default_rng(1).normal(0.5, 0.3, 8)
    r1 = stats.paired(diffs, method="bootstrap")
    assert r1 == stats.paired(diffs, method="bootstrap", rng_seed=0)
    assert stats.paired(diffs, method="bootstrap", rng_seed=1) != r1
    t = stats.paired(diffs)
    assert r1.method == "bootstrap" and r1.mean == t.mean and r1.lo < r1.mean < r1.hi
    assert r1.hi - r1.lo < t.hi - t.lo  # the percentile interval is narrower than t at n = 8 (known undercoverage)
    assert r1.p == pytest.approx(1 / 10_000)  # every resampled mean is above 0: p is clipped to 1/B
    ref = scipy.stats.bootstrap((diffs,), np.mean, method="percentile", n_resamples=10_000, random_state=0)
    assert r1.lo == pytest.approx(ref.confidence_interval.low, abs=0.03)
    assert r1.hi == pytest.approx(ref.confidence_interval.high, abs=0.03)
    mixed = stats.paired([0.2, -0.1, 0.3, -0.2, 0.1], method="bootstrap", n_boot=2_000)
    assert mixed.lo < 0 < mixed.hi and 0.3 < mixed.p <= 1


def test_format_and_str():
    r = stats.Paired(mean=1.234, lo=0.449, hi=2.011, n=5, p=0.01, method="t", confidence=0.95)
    assert str(r) == "+1.23 [+0.45, +2.01]"
    assert r.format(1) == "+1.2 [+0.4, +2.0]" and r.format(3) == "+1.234 [+0.449, +2.011]"
    assert str(stats.Paired(0.0, -0.8, 0.7, 5, 0.9, "t", 0.95)) == "+0.00 [-0.80, +0.70]"  # never "-0.00" for 0
    # an end just below 0 keeps its sign, so the printed interval reaches 0 as the verdict says
    low = stats.Paired(0.19, -0.0008, 0.38, 5, 0.06, "t", 0.95)
    assert str(low) == "+0.19 [-0.00, +0.38]" and "no difference detected" in stats.verdict(low)


# --- verdict, claim and paired_table ----------------------------------------------------------------------------------

POS = stats.Paired(1.234, 0.449, 2.011, 5, 0.01, "t", 0.95)
NEG = stats.Paired(-0.8, -1.2, -0.4, 5, 0.01, "t", 0.95)
NULL = stats.Paired(0.1, -0.3, 0.5, 5, 0.6, "t", 0.95)


def test_verdict_words_follow_the_interval():
    assert stats.verdict(POS, unit="points") == "better by +1.23 [+0.45, +2.01] points"
    assert stats.verdict(NEG, unit="points") == "worse by -0.80 [-1.20, -0.40] points"
    assert stats.verdict(NULL, unit="points") == \
        "no difference detected (the interval [-0.30, +0.50] points allows either)"
    assert stats.verdict(NULL) == "no difference detected (the interval [-0.30, +0.50] allows either)"
    assert stats.verdict(POS) == "better by +1.23 [+0.45, +2.01]"
    assert stats.verdict(POS, better="helps", worse="hurts") == "helps by +1.23 [+0.45, +2.01]"
    assert stats.verdict(NEG, better="helps", worse="hurts", unit="%") == "hurts by -0.80 [-1.20, -0.40] %"
    assert stats.verdict(NEG, digits=1) == "worse by -0.8 [-1.2, -0.4]"
    touching = stats.Paired(0.5, 0.0, 1.0, 5, 0.05, "t", 0.95)  # an interval that touches 0 does not exclude it
    assert stats.verdict(touching).startswith("no difference detected") and not touching.excludes_zero()


def test_claim_checks_the_claimed_side():
    stats.claim(POS, "positive")
    stats.claim(NEG, "negative")
    with pytest.raises(AssertionError, match=r"worse by -0\.80 \[-1\.20, -0\.40\]"):
        stats.claim(NEG, "positive")
    with pytest.raises(AssertionError, match=r"better by \+1\.23"):
        stats.claim(POS, "negative")
    with pytest.raises(AssertionError, match="no difference detected"):
        stats.claim(NULL, "positive")
    with pytest.raises(ValueError, match="side must be"):
        stats.claim(POS, "better")


def test_paired_table():
    table = stats.paired_table({"MTL vs single": POS, "PCGrad vs sum": NULL}, unit="points")
    assert list(table.columns) == ["difference", "95% interval", "n", "p", "verdict"]
    assert list(table.index) == ["MTL vs single", "PCGrad vs sum"]
    assert table.loc["MTL vs single", "difference"] == "+1.23"
    assert table.loc["MTL vs single", "95% interval"] == "[+0.45, +2.01]"
    assert table.loc["PCGrad vs sum", "n"] == 5 and table.loc["PCGrad vs sum", "p"] == 0.6
    assert table.loc["PCGrad vs sum", "verdict"] == stats.verdict(NULL, unit="points")
    with pytest.raises(ValueError, match="no comparisons"):
        stats.paired_table({})
    with pytest.raises(ValueError, match="mix confidence"):
        stats.paired_table({"a": POS, "b": stats.Paired(1.0, 0.5, 1.5, 5, 0.01, "t", 0.9)})


# --- rank_correlation -------------------------------------------------------------------------------------------------

def _scipy_exact_p(x, y, alternative):
    def statistic(yy):
        return scipy.stats.spearmanr(x, yy).statistic
    return scipy.stats.permutation_test((y,), statistic, permutation_type="pairings", n_resamples=np.inf,
                                        alternative=alternative, vectorized=False).pvalue


RANK_CASES = [  # (x, y): no ties, ties in one variable, ties in both; n = 5..7
    ([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0]),
    ([0.3, 0.1, 0.4, 0.1, 0.5, 0.9], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    ([1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3.0, 1.0, 2.0, 2.0, 5.0, 7.0, 7.0]),
    ([5.0, 1.0, 4.0, 4.0, 2.0, 3.0, 0.5], [0.1, 0.9, 0.2, 0.4, 0.4, 0.5, 0.8]),
]


@pytest.mark.parametrize("x, y", RANK_CASES)
def test_rank_correlation_matches_scipy(x, y):
    ref = scipy.stats.spearmanr(x, y).statistic
    for alternative in ("greater", "less"):
        r = stats.rank_correlation(x, y, alternative=alternative, n_boot=500)
        assert r.rho == pytest.approx(ref, abs=1e-12) and r.exact and r.n == len(x) and r.alternative == alternative
        assert r.p == pytest.approx(_scipy_exact_p(x, y, alternative), abs=1e-12)
    # two-sided means |ρ*| ≥ |ρ|: SciPy's exact p for the statistic |ρ|, alternative "greater"
    r = stats.rank_correlation(x, y, n_boot=500)
    expected = scipy.stats.permutation_test(
        (y,), lambda yy: abs(scipy.stats.spearmanr(x, yy).statistic), permutation_type="pairings",
        n_resamples=np.inf, alternative="greater", vectorized=False).pvalue
    assert r.p == pytest.approx(expected, abs=1e-12)
    if len(set(x)) == len(x) or len(set(y)) == len(y):  # ρ's null is symmetric here, so SciPy's two-sided p agrees
        assert r.p == pytest.approx(_scipy_exact_p(x, y, "two-sided"), abs=1e-12)
    assert -1.0 <= r.lo <= r.hi <= 1.0


def test_rank_correlation_perfect_and_monte_carlo():
    r = stats.rank_correlation([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], alternative="greater")
    assert r.rho == pytest.approx(1.0) and r.p == pytest.approx(1 / 120) and r.lo == r.hi == pytest.approx(1.0)
    x = np.arange(12.0)
    y = x + np.random.default_rng(0).normal(0, 3, 12)
    r = stats.rank_correlation(x, y, n_boot=4_000)
    assert not r.exact and r.rho == pytest.approx(scipy.stats.spearmanr(x, y).statistic)
    ref = scipy.stats.permutation_test((y,), lambda yy: abs(scipy.stats.spearmanr(x, yy).statistic),
                                       permutation_type="pairings", n_resamples=4_000, alternative="greater",
                                       vectorized=False, random_state=1).pvalue
    assert r.p == pytest.approx(ref, abs=0.01)
    assert r == stats.rank_correlation(x, y, n_boot=4_000)  # deterministic
    assert r.lo < r.rho < r.hi


def test_rank_correlation_errors():
    with pytest.raises(ValueError, match="unequal lengths"):
        stats.rank_correlation([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="at least three"):
        stats.rank_correlation([1, 2], [2, 1])
    with pytest.raises(ValueError, match="NaN"):
        stats.rank_correlation([1, 2, float("nan")], [1, 2, 3])
    with pytest.raises(ValueError, match="constant"):
        stats.rank_correlation([1, 1, 1, 1], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="unknown alternative"):
        stats.rank_correlation([1, 2, 3], [1, 2, 3], alternative="two_sided")
