import numpy as np
import pytest
import torch
from PIL import Image

from mtl_utils.foundations.data import TaskData
from mtl_utils.settings import multimnist as mm


@pytest.fixture(scope="module")
def parts(mnist):
    return mm.load_multimnist(mnist)


def test_shapes_dtype_and_sizes(parts):
    train, val, test = parts
    assert [len(p) for p in parts] == [50_000, 10_000, 10_000]
    for p in parts:
        assert p.images.dtype == torch.uint8 and p.images.shape[1:] == (28, 28)
        assert p.left.dtype == p.right.dtype == torch.int64


def test_labels_of_both_digits(parts, mnist):
    train, _, test = parts
    assert torch.equal(train.left, mnist.train.labels[:50_000])
    assert torch.equal(train.right, mnist.train.labels[:50_000][train.partner])
    assert torch.equal(test.right, mnist.test.labels[test.partner])


def test_overlap_rule_and_resize_match_a_pil_reference(mnist):
    left, right = mnist.train.images[:5], mnist.train.images[5:10]
    got = mm.compose(left, right)
    for i in range(5):
        canvas = np.zeros((36, 36), dtype=np.uint8)
        canvas[0:28, 0:28] = left[i].numpy()
        canvas[6:34, 6:34] = np.maximum(canvas[6:34, 6:34], right[i].numpy())
        expected = np.asarray(Image.fromarray(canvas).resize((28, 28), Image.NEAREST))
        assert np.array_equal(got[i].numpy(), expected)


def test_overlap_takes_the_maximum():
    left = torch.zeros(1, 28, 28, dtype=torch.uint8)
    right = torch.zeros(1, 28, 28, dtype=torch.uint8)
    left[0, 27, 27], right[0, 21, 21] = 100, 200  # both land on canvas pixel (27, 27)
    canvas_pixel = 27
    out_index = int((mm._NEAREST == canvas_pixel).nonzero()[0])
    assert mm.compose(left, right)[0, out_index, out_index] == 200
    left[0, 27, 27], right[0, 21, 21] = 200, 100
    assert mm.compose(left, right)[0, out_index, out_index] == 200  # the maximum, whichever digit holds it


def test_determinism_and_seed(mnist):
    small = mnist.test.subset(torch.arange(500))
    a, b = mm.make_composites(small, seed=3), mm.make_composites(small, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.partner, b.partner)
    assert not torch.equal(a.partner, mm.make_composites(small, seed=4).partner)


def test_no_test_or_validation_image_inside_a_training_composite(parts, mnist):
    train, val, test = parts
    assert int(train.partner.max()) < 50_000  # partners come from the first 50,000 training images only
    assert int(val.partner.max()) < 10_000 and int(test.partner.max()) < 10_000
    # the right half of a training composite is made from its partner, a training image
    i = 123
    again = mm.compose(mnist.train.images[i:i + 1], mnist.train.images[int(train.partner[i])].unsqueeze(0))
    assert torch.equal(again[0], train.images[i])


def test_tasks_and_taskdata(parts):
    test = parts[2]
    data = TaskData.from_split(test, [mm.left_task(), mm.right_task()])
    assert set(data.targets) == {"left", "right"} and torch.equal(data.targets["right"], test.right)


def test_bad_input(mnist):
    with pytest.raises(ValueError, match="uint8"):
        mm.compose(mnist.test.images[:2].float(), mnist.test.images[:2])
    with pytest.raises(ValueError, match="same shape"):
        mm.compose(mnist.test.images[:2], mnist.test.images[:3])
    with pytest.raises(ValueError, match="Split"):
        mm.make_composites(mnist)
