"""Low-rank adapters: parameter counts, start at the base network, only A and B train, and the errors."""
import pytest
import torch
from torch import nn

from mtl_utils.architectures import adapters
from mtl_utils.foundations.models import LeNetTrunk


@pytest.mark.parametrize("rank", [1, 4, 16])
def test_rank_r_adds_the_expected_parameter_count(rank):
    trunk = LeNetTrunk()
    adapted = adapters.add_adapters(trunk, rank)
    trainable = sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    # conv 1→6 (5×5): r(6 + 25); conv 6→16: r(16 + 150); fc 256→120: r(120 + 256); fc 120→84: r(84 + 120)
    expected = rank * ((6 + 25) + (16 + 150) + (120 + 256) + (84 + 120))
    assert trainable == expected == adapters.adapter_parameter_count(trunk, rank)
    frozen = sum(p.numel() for p in adapted.parameters() if not p.requires_grad)
    assert frozen == sum(p.numel() for p in trunk.parameters())


def test_linear_adapter_by_hand():
    base = nn.Linear(3, 2)
    layer = adapters.LowRankAdapter(base, rank=1, alpha=2.0)
    with torch.no_grad():
        layer.A.copy_(torch.tensor([[1.0, 0.0, -1.0]]))
        layer.B.copy_(torch.tensor([[1.0], [2.0]]))
    x = torch.tensor([[1.0, 2.0, 3.0]])
    delta = 2.0 * torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]])  # (α/r) B A with α = 2, r = 1
    torch.testing.assert_close(layer(x), x @ (base.weight + delta).T + base.bias)


def test_adapted_network_starts_as_the_base_and_leaves_it_unchanged():
    torch.manual_seed(0)
    trunk = LeNetTrunk()
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    adapted = adapters.add_adapters(trunk, 4)
    x = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(adapted(x), trunk(x))  # B = 0 at the start
    opt = torch.optim.SGD([p for p in adapted.parameters() if p.requires_grad], lr=0.1)
    adapted(x).sum().backward()
    opt.step()
    adapted(x).sum().backward()
    opt.step()
    torch.testing.assert_close(trunk.state_dict(), before)  # the original is untouched
    assert not torch.allclose(adapted(x), trunk(x))  # the adapters learned something


def test_conv_adapter_matches_a_conv_with_the_adapted_weight():
    torch.manual_seed(1)
    base = nn.Conv2d(2, 3, 3, padding=1)
    layer = adapters.LowRankAdapter(base, rank=2)
    with torch.no_grad():
        layer.B.normal_()
    x = torch.randn(4, 2, 5, 5)
    reference = nn.functional.conv2d(x, base.weight + (layer.B @ layer.A).view(3, 2, 3, 3), base.bias, padding=1)
    torch.testing.assert_close(layer(x), reference)


@pytest.mark.parametrize("rank", [0, -1, 1.5, True])
def test_bad_rank(rank):
    with pytest.raises(ValueError, match="rank must be a positive int"):
        adapters.add_adapters(LeNetTrunk(), rank)
    with pytest.raises(ValueError, match="rank must be a positive int"):
        adapters.adapter_parameter_count(LeNetTrunk(), rank)


def test_errors_for_modules_without_layers_to_adapt():
    with pytest.raises(TypeError, match="nn.Linear or nn.Conv2d"):
        adapters.LowRankAdapter(nn.ReLU(), 1)
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv2d"):
        adapters.add_adapters(nn.Sequential(nn.ReLU()), 1)
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        adapters.add_adapters("trunk", 1)
