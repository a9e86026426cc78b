"""Tests for mtl_utils.architectures.mtan: output shapes, what each form shares, MTAN's attention, and training with fit."""
import pytest
import torch

import mtl_utils as mu
from mtl_utils.architectures import mtan
from mtl_utils.foundations.data import TaskData
from mtl_utils.settings import dense
from mtl_utils.settings.scenes import make_scenes

TASKS = dense.dense_tasks()


@pytest.mark.parametrize("name", list(mtan.ARCHITECTURES))
def test_every_form_returns_dense_outputs(name):
    torch.manual_seed(0)
    net = mtan.ARCHITECTURES[name](TASKS, width=4)
    out = net(torch.randn(2, 1, 16, 12))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "segmentation": (2, 5, 16, 12), "depth": (2, 1, 16, 12), "normal": (2, 3, 16, 12)}


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_what_is_shared():
    single, split = mtan.SingleTaskNets(TASKS, 4), mtan.SplitDecoderNet(TASKS, 4)
    shared, att = mtan.SharedDecoderNet(TASKS, 4), mtan.MTAN(TASKS, 4)
    heads = _count(shared.heads)
    encoder = _count(split.trunk)
    decoder = _count(split.decoders["depth"])
    assert _count(single) == 3 * (encoder + decoder) + heads
    assert _count(split) == encoder + 3 * decoder + heads
    assert _count(shared) == encoder + decoder + heads
    assert _count(att) == _count(shared) + _count(att.attention) + _count(att.bridges)
    # a task's output of a single-task net depends only on its own network
    x = torch.randn(2, 1, 8, 8)
    single.eval()
    before = single(x)
    with torch.no_grad():
        for p in single.nets["normal"].parameters():
            p.add_(0.5)
    after = single(x)
    torch.testing.assert_close(after["depth"], before["depth"])
    assert not torch.allclose(after["normal"], before["normal"])


def test_attention_module_by_hand():
    torch.manual_seed(0)
    a = mtan.Attention(6, 3).eval()
    u, p, prev = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    g = a.gate
    x = torch.cat([u, prev], 1)
    h = torch.relu(g[1](torch.nn.functional.conv2d(x, g[0].weight)))
    mask = torch.sigmoid(g[4](torch.nn.functional.conv2d(h, g[3].weight)))
    torch.testing.assert_close(a(u, p, prev), mask * p)
    assert ((mask > 0) & (mask < 1)).all()


def test_mtan_with_open_gates_is_the_shared_network():
    """If every mask were 1, the task branches would carry the shared decoder's last features to the heads."""
    torch.manual_seed(0)
    att = mtan.MTAN(TASKS, 4).eval()
    shared = mtan.SharedDecoderNet(TASKS, 4).eval()
    shared.trunk.load_state_dict(att.trunk.state_dict())
    shared.heads.load_state_dict(att.heads.state_dict())
    for modules in att.attention.values():
        for m in modules:
            torch.nn.init.zeros_(m.gate[3].weight)
            m.gate[4].bias.data.fill_(50.0)  # sigmoid(50) = 1 in float32
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(att(x), shared(x))


def test_fit_trains_a_dense_network():
    s = make_scenes(16, size=8, seed=0, cache=False)
    data = TaskData.from_split(s, TASKS)
    mu.seed_everything(0)
    net = mtan.SharedDecoderNet(TASKS, 4)
    history = mu.fit(net, TASKS, data, recipe=mu.Recipe(epochs=2, batch_size=8), progress=False)
    assert list(history.frame().index) == [1, 2]
    assert {"segmentation_train_pixel_acc", "depth_train_neg_abs_err", "normal_train_within_30"} <= set(
        history.frame().columns)
    out = mu.foundations.train.predict(net, TASKS, data)
    assert out["normal"].shape == (16, 3, 8, 8)
    frame = history.frame()
    for task in TASKS:  # training lowers every task's loss: the last epoch's mean loss is below the first's
        assert frame[f"{task.name}_loss"].iloc[-1] < frame[f"{task.name}_loss"].iloc[0], task.name


def test_errors():
    with pytest.raises(ValueError, match="width must be a positive int"):
        mtan.MTAN(TASKS, width=0)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        mtan.SharedDecoderNet(TASKS, in_channels=0)
    with pytest.raises(ValueError, match=r"H and W multiples of 4, got \(1, 1, 10, 8\)"):
        mtan.SplitDecoderNet(TASKS, 4)(torch.zeros(1, 1, 10, 8))
    with pytest.raises(ValueError, match="need at least one task"):
        mtan.SingleTaskNets([])


def test_networks_and_tasks_pickle():
    """side_by_side sends trained networks back from worker processes by pickling them."""
    import pickle

    net = mtan.MTAN(TASKS, 4)
    assert pickle.loads(pickle.dumps(net)).task_names == ["segmentation", "depth", "normal"]
    assert [t.name for t in pickle.loads(pickle.dumps(TASKS))] == net.task_names
