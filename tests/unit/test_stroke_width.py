import pytest
import torch

from mtl_utils import TaskData
from mtl_utils.foundations.data import Split, stroke_width
from mtl_utils.foundations.tasks import stroke_task


def bars(widths, length=20):
    """One image per width: a horizontal bar of that many rows and ``length`` columns."""
    images = torch.zeros(len(widths), 28, 28, dtype=torch.uint8)
    for i, w in enumerate(widths):
        images[i, 4 : 4 + w, 4 : 4 + length] = 255
    return Split(images, torch.zeros(len(widths), dtype=torch.long))


def test_stroke_width_recovers_the_width_of_a_long_bar():
    w = stroke_width(bars([1, 2, 3, 4]))
    assert torch.all(w.diff() > 0)  # thicker pen, larger estimate
    assert w.tolist() == pytest.approx([1, 2, 3, 4], rel=0.2)


def test_blank_image_has_zero_width_not_nan():
    split = Split(torch.zeros(2, 28, 28, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))
    assert stroke_width(split).tolist() == [0.0, 0.0]


def test_stroke_task_on_mnist(mnist):
    split = mnist.train.subset(torch.arange(500))
    data = TaskData.from_split(split, [stroke_task()])
    w = data.targets["stroke"]
    assert w.dtype == torch.float32 and 1.0 < w.mean() < 3.5
    assert stroke_task().num_outputs == 1 and stroke_task().metric_name == "r2"
