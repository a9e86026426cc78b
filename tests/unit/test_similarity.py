import math

import pytest
import torch

from mtl_utils.relatedness.similarity import (
    entropy_bits,
    linear_cka,
    mutual_information_bits,
    quantile_bins,
)


def test_entropy_and_mutual_information_known_values():
    digit = torch.arange(10).repeat(100)
    parity = (digit % 2 == 0).long()
    assert entropy_bits(digit) == pytest.approx(math.log2(10))
    assert entropy_bits(parity) == pytest.approx(1.0)
    # parity is a function of the digit: I(digit; parity) = H(parity)
    assert mutual_information_bits(digit, parity) == pytest.approx(1.0)
    assert mutual_information_bits(parity, digit) == pytest.approx(1.0)
    # a label is fully informative about itself
    assert mutual_information_bits(digit, digit) == pytest.approx(math.log2(10))
    # independent by construction: every (a, b) pair occurs equally often
    a, b = torch.arange(4).repeat_interleave(5), torch.arange(5).repeat(4)
    assert mutual_information_bits(a, b) == pytest.approx(0.0, abs=1e-12)


def test_quantile_bins_are_balanced():
    values = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    bins = quantile_bins(values, 10)
    assert bins.min() == 0 and bins.max() == 9
    assert torch.bincount(bins).tolist() == [100] * 10
    assert entropy_bits(bins) == pytest.approx(math.log2(10))


def test_linear_cka_invariances():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 20, generator=g)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=g))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0)  # rotation, scale and shift
    y = torch.randn(500, 7, generator=g)  # another width, independent of x
    assert 0.0 <= linear_cka(x, y) < 0.1
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))


def test_bad_inputs():
    with pytest.raises(ValueError, match="integer tensor"):
        mutual_information_bits(torch.rand(5), torch.arange(5))
    with pytest.raises(ValueError, match="equal length"):
        mutual_information_bits(torch.arange(5), torch.arange(4))
    with pytest.raises(ValueError, match="bins must be"):
        quantile_bins(torch.rand(5), 1)
    with pytest.raises(ValueError, match="1-D float"):
        quantile_bins(torch.arange(5), 2)
    with pytest.raises(ValueError, match="same number of rows"):
        linear_cka(torch.rand(5, 2), torch.rand(4, 2))
    with pytest.raises(ValueError, match="constant features"):
        linear_cka(torch.ones(5, 2), torch.rand(5, 2))
