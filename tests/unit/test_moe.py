import pytest
import torch
import torch.nn.functional as F

from mtl_utils.architectures.moe import (
    CGC,
    Experts,
    MMoE,
    OMoE,
    SharedBottom,
    shared_bottom_width,
)
from mtl_utils.foundations.tasks import Task, mse_loss, r2_score
from mtl_utils.foundations.train import outputs_by_task

TASKS = ["task1", "task2"]


def count(net):
    return sum(p.numel() for p in net.parameters())


def build(kind):
    torch.manual_seed(0)
    return {"sb": lambda: SharedBottom(TASKS, in_dim=10, width=12), "omoe": lambda: OMoE(TASKS, in_dim=10),
            "mmoe": lambda: MMoE(TASKS, in_dim=10), "cgc": lambda: CGC(TASKS, in_dim=10)}[kind]()


@pytest.mark.parametrize("kind, experts", [("sb", 1), ("omoe", 8), ("mmoe", 8), ("cgc", 6)])
def test_outputs_gates_and_expert_shapes_and_gates_sum_to_one(kind, experts):
    net, x = build(kind), torch.randn(5, 10)
    out = net(x)
    tasks = [Task(t, 1, lambda s: None, loss=mse_loss, metric=r2_score) for t in TASKS]
    assert {k: tuple(v.shape) for k, v in outputs_by_task(out, tasks, 5).items()} == {t: (5, 1) for t in TASKS}
    gates, outputs = net.gates(x), net.expert_outputs(x)
    for t in TASKS:
        assert gates[t].shape == (5, experts) and (gates[t] >= 0).all()
        torch.testing.assert_close(gates[t].sum(1), torch.ones(5))
        assert outputs[t].shape[:2] == (5, experts)


def test_mmoe_forward_by_hand_and_omoe_shares_one_gate():
    net, x = build("mmoe"), torch.randn(4, 10)
    h = torch.stack([F.relu(x @ net.experts.weight[e] + net.experts.bias[e]) for e in range(8)], 1)
    for t in TASKS:
        g = torch.softmax(x @ net.gate_layers[t].weight.T + net.gate_layers[t].bias, -1)
        torch.testing.assert_close(net(x)[t], net.towers[t]((g.unsqueeze(-1) * h).sum(1)))
    omoe = build("omoe")
    gates = omoe.gates(x)
    assert torch.equal(gates["task1"], gates["task2"])
    assert not torch.equal(net.gates(x)["task1"], net.gates(x)["task2"])


def test_cgc_task_gates_see_own_and_shared_experts_only():
    net, x = build("cgc"), torch.randn(3, 10)
    outs = net.expert_outputs(x)
    torch.testing.assert_close(outs["task1"][:, 2:], outs["task2"][:, 2:])  # the 4 shared experts
    torch.testing.assert_close(outs["task1"][:, :2], net.own["task1"](x))
    # changing task2's own experts leaves task1's output unchanged
    before = net(x)["task1"]
    with torch.no_grad():
        net.own["task2"].weight.add_(1.0)
    torch.testing.assert_close(net(x)["task1"], before)


def test_parameter_counts_by_hand():
    # experts 8·(100·16 + 16), gates 2·(100·8 + 8), towers 2·(16·8 + 8 + 8 + 1)
    assert count(MMoE(TASKS)) == 8 * 1616 + 2 * 808 + 2 * 145
    assert count(OMoE(TASKS)) == 8 * 1616 + 808 + 2 * 145
    assert count(CGC(TASKS)) == 8 * 1616 + 2 * (100 * 6 + 6) + 2 * 145
    assert count(SharedBottom(TASKS, width=113)) == 101 * 113 + 2 * (113 * 8 + 8 + 9)
    width = shared_bottom_width(count(MMoE(TASKS)))
    assert abs(count(SharedBottom(TASKS, width=width)) - count(MMoE(TASKS))) <= 117 // 2
    assert all(abs(count(SharedBottom(TASKS, width=w)) - count(MMoE(TASKS)))
               >= abs(count(SharedBottom(TASKS, width=width)) - count(MMoE(TASKS))) for w in (width - 1, width + 1))


def test_experts_init_like_linear_and_batched_equals_loop():
    torch.manual_seed(0)
    experts = Experts(50, 3, 4)
    assert experts.weight.abs().max() <= 50 ** -0.5 and experts.bias.abs().max() <= 50 ** -0.5
    x = torch.randn(6, 50)
    loop = torch.stack([F.relu(x @ experts.weight[e] + experts.bias[e]) for e in range(3)], 1)
    torch.testing.assert_close(experts(x), loop)


@pytest.mark.parametrize("make, word", [
    (lambda: MMoE([]), "tasks"), (lambda: MMoE(["a", "a"]), "tasks"), (lambda: OMoE(["a"], num_experts=0), "num_experts"),
    (lambda: SharedBottom(["a"], width=0), "width"), (lambda: CGC(["a"], task_experts=0), "task_experts"),  # intentional, see CGC
    (lambda: CGC(["a"], shared_experts=-1), "shared_experts"),
    (lambda: CGC(["a"], shared_experts=0), "shared_experts"),  # intentional: no shared experts is no sharing
    (lambda: Experts(0, 2, 2), "in_dim"),
    (lambda: MMoE(["a"], expert_hidden=1.5), "hidden"), (lambda: shared_bottom_width(0), "target_parameters")])
def test_bad_input_gets_one_clear_error(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_forward_rejects_a_batch_that_is_not_2d():
    with pytest.raises(ValueError, match="x must be"):
        build("mmoe")(torch.randn(10))
