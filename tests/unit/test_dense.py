"""Tests for mtl_utils.settings.dense: the dense losses and the nine metrics on hand-computed cases."""
import math

import numpy as np
import pytest
import torch

from mtl_utils.settings import dense
from mtl_utils.settings.scenes import make_scenes


def test_segmentation_metrics_by_hand():
    # 2 classes, 4 pixels: truth [0, 0, 1, 1], prediction [0, 1, 1, 1], plus one ignored pixel (−1)
    truth = torch.tensor([[[0, 0, 1, 1, -1]]])
    pred = torch.tensor([0, 1, 1, 1, 0])
    logits = torch.nn.functional.one_hot(pred, 2).T.reshape(1, 2, 1, 5).float()
    m = dense.segmentation_metrics(logits, truth)
    # class 0: hits 1, union 2 -> 1/2; class 1: hits 2, union 3 -> 2/3; pixel accuracy 3/4
    assert m["mIoU"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["pixel acc"] == pytest.approx(3 / 4)


def test_miou_skips_classes_absent_from_truth_and_prediction():
    truth = torch.tensor([[[0, 0, 1, 1]]])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1]), 3).T.reshape(1, 3, 1, 4).float()
    assert dense.segmentation_metrics(logits, truth)["mIoU"] == 1.0  # class 2 never occurs: not a NaN, not a 0


def test_segmentation_loss_ignores_unlabelled_pixels():
    logits = torch.randn(2, 3, 4, 4)
    label = torch.randint(0, 3, (2, 4, 4))
    label[0, 0] = -1
    keep = label >= 0
    expected = torch.nn.functional.cross_entropy(logits.permute(0, 2, 3, 1)[keep], label[keep])
    torch.testing.assert_close(dense.segmentation_loss(logits, label), expected)


def test_depth_loss_and_metrics_by_hand():
    depth = torch.tensor([[[[2.0, 4.0], [0.0, 1.0]]]])  # one missing pixel (0)
    pred = torch.tensor([[[[3.0, 3.0], [9.0, 1.0]]]])
    # errors on the valid pixels: 1, 1, 0 -> abs 2/3; relative 1/2, 1/4, 0 -> 0.75/3
    assert dense.depth_loss(pred, depth).item() == pytest.approx(2 / 3)
    m = dense.depth_metrics(pred, depth)
    assert m["abs err"] == pytest.approx(2 / 3)
    assert m["rel err"] == pytest.approx(0.25)


def test_normal_loss_and_angles_by_hand():
    up = torch.tensor([0.0, 1.0, 0.0])
    normal = up.view(1, 3, 1, 1).repeat(1, 1, 1, 5)
    normal[..., 4] = 0  # missing
    angles = [0.0, 10.0, 20.0, 60.0]
    pred = torch.zeros(1, 3, 1, 5)
    for i, a in enumerate(angles):  # rotate "up" by a degrees about z, and scale it (the prediction is normalized)
        r = math.radians(a)
        pred[0, :, 0, i] = 3 * torch.tensor([math.sin(r), math.cos(r), 0.0])
    pred[0, :, 0, 4] = torch.tensor([1.0, 0, 0])
    cosines = [math.cos(math.radians(a)) for a in angles]
    assert dense.normal_loss(pred, normal).item() == pytest.approx(1 - np.mean(cosines), abs=1e-6)
    m = dense.normal_metrics(pred, normal)
    assert m["mean angle"] == pytest.approx(np.mean(angles), abs=1e-3)
    assert m["median angle"] == pytest.approx(10.0, abs=1e-3)  # torch's median of an even count is the lower one
    assert m["within 11.25"] == pytest.approx(2 / 4)
    assert m["within 22.5"] == pytest.approx(3 / 4)
    assert m["within 30"] == pytest.approx(3 / 4)


def test_perfect_predictions_score_perfectly():
    s = make_scenes(4, size=16, seed=0, cache=False)
    logits = torch.nn.functional.one_hot(s.label, 5).permute(0, 3, 1, 2).float()
    m = dense.scores({"segmentation": logits, "depth": s.depth, "normal": s.normal}, s)
    assert m["mIoU"] == 1 and m["pixel acc"] == 1 and m["abs err"] == 0 and m["rel err"] == 0
    assert m["mean angle"] == pytest.approx(0, abs=0.05) and m["within 11.25"] == 1
    assert list(m) == [k for task in dense.METRICS.values() for k in task]
    assert set(dense.LOWER_IS_BETTER) <= set(m)


def test_tasks_feed_fit():
    tasks = dense.dense_tasks()
    assert [t.name for t in tasks] == ["segmentation", "depth", "normal"]
    assert [t.num_outputs for t in tasks] == [5, 1, 3]
    s = make_scenes(3, size=16, seed=0, cache=False)
    assert tasks[1].label_fn(s) is s.depth
    assert tasks[1].metric(s.depth + 0.5, s.depth) == pytest.approx(-0.5)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"depth: output must have 1 channel\(s\), got 2"):
        dense.depth_loss(torch.zeros(1, 2, 4, 4), torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"normal: output must be \[B, C, H, W\]"):
        dense.normal_metrics(torch.zeros(3, 4, 4), torch.ones(1, 3, 4, 4))
    with pytest.raises(ValueError, match="segmentation: output .* and target .* do not match"):
        dense.segmentation_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 5, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"unknown dense task\(s\) \['edges'\]"):
        dense.scores({"edges": torch.zeros(1, 1, 4, 4)}, make_scenes(1, size=8, cache=False))
    with pytest.raises(TypeError, match="data must be a Scenes"):
        dense.scores({}, {"label": None})
    with pytest.raises(ValueError, match="num_classes must be an int of at least 2"):
        dense.dense_tasks(1)


def test_normal_mask_tests_every_channel_not_their_sum():
    """The documented difference from LibMTL: a valid normal whose channels sum to 0 is kept, not dropped."""
    r = 1 / math.sqrt(2)
    normal = torch.tensor([r, -r, 0.0]).view(1, 3, 1, 1).repeat(1, 1, 1, 3)  # channels sum to 0, yet a unit normal
    normal[..., 2] = 0  # really missing: every channel 0
    pred = torch.zeros(1, 3, 1, 3)
    pred[0, :, 0, 0] = torch.tensor([r, -r, 0.0])  # right: 0°
    pred[0, :, 0, 1] = torch.tensor([r, r, 0.0])  # perpendicular: 90°
    pred[0, :, 0, 2] = torch.tensor([1.0, 0.0, 0.0])
    m = dense.normal_metrics(pred, normal)
    assert m["mean angle"] == pytest.approx(45.0, abs=1e-3)  # both sum-zero pixels count, the missing one does not
    assert dense.normal_loss(pred, normal).item() == pytest.approx(0.5, abs=1e-6)
    libmtl_mask = normal.sum(dim=1).ne(0)  # LibMTL's test would drop all three pixels here
    assert not libmtl_mask.any() and dense._valid(normal).tolist() == [[[True, True, False]]]


def test_nyuv2_layout_feeds_thirteen_class_tasks_and_scores(tmp_path):
    """load_nyuv2's output (13 classes, −1 labels, missing depth) goes through dense_tasks(13), TaskData and scores."""
    from mtl_utils.foundations.data import TaskData
    from mtl_utils.settings.scenes import load_nyuv2

    rng = np.random.default_rng(0)
    for i in range(2):
        depth = rng.uniform(0.5, 9, (8, 8, 1)).astype(np.float32)
        depth[0, 0] = 0
        normal = rng.normal(size=(8, 8, 3)).astype(np.float32)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        normal[1, 1] = 0
        label = rng.integers(-1, 13, (8, 8)).astype(np.float32)
        for part, a in zip(("image", "label", "depth", "normal"),
                           (rng.uniform(0, 1, (8, 8, 3)).astype(np.float32), label, depth, normal)):
            (tmp_path / "val" / part).mkdir(parents=True, exist_ok=True)
            np.save(tmp_path / "val" / part / f"{i}.npy", a)
    s = load_nyuv2(tmp_path, "val")
    tasks = dense.dense_tasks(13)
    data = TaskData.from_split(s, tasks)
    assert tuple(data.targets["segmentation"].shape) == (2, 8, 8)
    logits = torch.nn.functional.one_hot(s.label.clamp_min(0), 13).permute(0, 3, 1, 2).float()
    m = dense.scores({"segmentation": logits, "depth": s.depth, "normal": s.normal}, s)
    assert m["mIoU"] == 1 and m["pixel acc"] == 1 and m["abs err"] == 0  # the −1 and 0 pixels are left out
    assert m["mean angle"] == pytest.approx(0, abs=0.05) and list(m) == [k for t in dense.METRICS.values() for k in t]
    assert tasks[0].loss(logits * 50, s.label).item() < 1e-6
