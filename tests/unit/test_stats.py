import math

import pandas as pd
import pytest

from mtl_utils import stats
from mtl_utils.data import VALIDATION_SIZE, validation_split


def test_seeds_and_offset(monkeypatch):
    monkeypatch.delenv("MTL_SEED_OFFSET", raising=False)
    assert stats.seeds() == [0, 1, 2]
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
