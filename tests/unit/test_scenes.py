"""Tests for mtl_utils.settings.scenes: the ray caster's geometry, the generator's determinism and the NYUv2 loader."""
import numpy as np
import pytest
import torch

from mtl_utils.settings import scenes
from mtl_utils.settings.scenes import (
    CLASSES,
    Scenes,
    load_nyuv2,
    make_scenes,
    render,
)


def _centre_ray_depth_of_sphere(z: float, r: float) -> float:
    return z - r  # the ray through the image centre runs along +z and first meets the sphere at z − r


def test_sphere_depth_matches_the_analytic_value():
    size, z, r = 32, 4.0, 1.0
    label, depth, normal = render([("sphere", (0.0, 0.0, z), r)], size, wall_z=8.0)
    # the four centre pixels are at ±(0.5/16)·tan(30°) off axis: solve |t d − c| = r for them exactly
    d = scenes._rays(size).reshape(size, size, 3)[size // 2, size // 2]
    b = d[2] * z
    t = b - np.sqrt(b ** 2 - (z ** 2 - r ** 2))
    assert depth[size // 2, size // 2] == pytest.approx(t * d[2], rel=1e-12)
    # and close to z − r, the depth on the optical axis (the pixel centres are half a pixel off it)
    assert depth[size // 2, size // 2] == pytest.approx(_centre_ray_depth_of_sphere(z, r), abs=5e-3)
    # every sphere pixel's hit point lies on the sphere, and its normal is the radial direction
    rays = scenes._rays(size).reshape(size, size, 3)
    hit = rays * (depth / rays[..., 2])[..., None]
    on = label == CLASSES.index("sphere")
    assert on.sum() > 50
    np.testing.assert_allclose(np.linalg.norm(hit[on] - (0, 0, z), axis=1), r, atol=1e-9)
    np.testing.assert_allclose(normal.transpose(1, 2, 0)[on], (hit[on] - (0, 0, z)) / r, atol=1e-9)


def test_class_masks_match_the_geometry():
    size, z, r = 32, 5.0, 1.0
    label, depth, normal = render([("sphere", (0.0, 0.0, z), r)], size, wall_z=8.0)
    rays = scenes._rays(size).reshape(size, size, 3)
    # a ray meets the sphere iff its distance from the centre's line of sight is below r
    b = rays[..., 2] * z
    meets = b ** 2 - (z ** 2 - r ** 2) >= 0
    np.testing.assert_array_equal(label == CLASSES.index("sphere"), meets)
    # elsewhere: floor (y = −1) for rays pointing down that reach it before the wall, else the wall
    down = rays[..., 1] < 0
    floor_first = down & (-1 / np.where(down, rays[..., 1], -1) * rays[..., 2] < 8.0)
    np.testing.assert_array_equal(label[~meets] == CLASSES.index("floor"), floor_first[~meets])
    np.testing.assert_allclose(depth[label == 0], 8.0)  # the wall is the plane z = 8
    np.testing.assert_allclose(normal[:, label == 1].T, np.tile([0.0, 1.0, 0.0], ((label == 1).sum(), 1)))


def test_box_and_cylinder_faces():
    label, depth, normal = render([("box", (0.0, 0.0, 4.0), (1.0, 1.0, 1.0), 0.0)], 16)
    centre = label[6:10, 6:10]
    assert (centre == CLASSES.index("box")).all()
    np.testing.assert_allclose(depth[6:10, 6:10], 3.0)  # the front face is the plane z = 4 − 1
    np.testing.assert_allclose(normal[:, 8, 8], [0.0, 0.0, -1.0], atol=1e-12)
    label, depth, normal = render([("cylinder", (0.0, 4.0), 0.5, 3.0)], 16)
    assert label[8, 8] == CLASSES.index("cylinder")
    d = scenes._rays(16).reshape(16, 16, 3)[8, 8]
    hit = d * depth[8, 8] / d[2]
    assert np.hypot(hit[0], hit[2] - 4.0) == pytest.approx(0.5, abs=1e-9)  # the hit point is on the side
    np.testing.assert_allclose(normal[:, 8, 8], [hit[0] / 0.5, 0.0, (hit[2] - 4.0) / 0.5], atol=1e-9)
    assert depth[8, 8] == pytest.approx(3.5, abs=0.02)  # near z = 4 − 0.5, where the side faces the camera


def test_normals_are_unit_and_labels_in_range():
    s = make_scenes(20, size=16, seed=3, cache=False)
    norms = s.normal.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    assert s.label.min() >= 0 and s.label.max() < len(CLASSES)
    assert (s.depth > 0).all()
    assert s.images.dtype == torch.uint8 and s.images.shape == (20, 16, 16)


def test_same_seed_same_scenes_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_DATA_DIR", str(tmp_path))
    a = make_scenes(6, size=16, seed=7)
    assert any((tmp_path / "scenes").iterdir())
    b = make_scenes(6, size=16, seed=7)  # read from the cache
    c = make_scenes(6, size=16, seed=7, cache=False)  # rendered again
    d = make_scenes(6, size=16, seed=8, cache=False)
    for name in ("images", "label", "depth", "normal"):
        assert torch.equal(getattr(a, name), getattr(b, name))
        assert torch.equal(getattr(a, name), getattr(c, name))
    assert not torch.equal(a.images, d.images)
    # scene i depends on (seed, i) only: a longer set starts with the same scenes
    assert torch.equal(make_scenes(3, size=16, seed=7, cache=False).label, a.label[:3])


@pytest.mark.parametrize("size, error, message", [(30, ValueError, "multiple of 4"), (4, ValueError, "at least 8"),
                                                  (16.0, TypeError, "size must be an int")])
def test_bad_sizes(size, error, message):
    with pytest.raises(error, match=message):
        make_scenes(2, size=size, cache=False)
    with pytest.raises(error, match=message):
        render([], size)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be positive"):
        make_scenes(0, cache=False)
    with pytest.raises(TypeError, match="n must be an int"):
        make_scenes(2.0, cache=False)
    with pytest.raises(ValueError, match="noise must be non-negative"):
        make_scenes(2, size=16, noise=-1, cache=False)
    with pytest.raises(ValueError, match="unknown object kind 'cone'"):
        render([("cone", (0, 0, 4), 1.0)], 16)
    with pytest.raises(ValueError, match=r"label must have shape \(2, 8, 8\)"):
        Scenes(torch.zeros(2, 8, 8, dtype=torch.uint8), torch.zeros(2, 8, 7, dtype=torch.long),
               torch.zeros(2, 1, 8, 8), torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="images must be uint8"):
        Scenes(torch.zeros(2, 8, 8), torch.zeros(2, 8, 8), torch.zeros(2, 1, 8, 8), torch.zeros(2, 3, 8, 8))


def _write_nyu(root, split, n, h=12, w=16, seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(n):
        image = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
        label = rng.integers(-1, 13, (h, w)).astype(np.float32)
        depth = rng.uniform(0.5, 9, (h, w, 1)).astype(np.float32)
        depth[0, 0] = 0  # a missing depth
        normal = rng.normal(size=(h, w, 3)).astype(np.float32)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        for part, a in zip(("image", "label", "depth", "normal"), (image, label, depth, normal)):
            (root / split / part).mkdir(parents=True, exist_ok=True)
            np.save(root / split / part / f"{i}.npy", a)
        arrays.append((image, label, depth, normal))
    return arrays


def test_nyuv2_loader_reads_the_layout(tmp_path):
    written = _write_nyu(tmp_path, "train", 3)
    _write_nyu(tmp_path, "val", 2, seed=1)
    s = load_nyuv2(tmp_path, "train")
    assert len(s) == 3 and len(load_nyuv2(tmp_path, "val")) == 2
    image, label, depth, normal = written[1]
    luma = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    np.testing.assert_array_equal(s.images[1].numpy(), np.round(luma * 255).astype(np.uint8))
    np.testing.assert_array_equal(s.label[1].numpy(), label.astype(np.int64))
    np.testing.assert_array_equal(s.depth[1, 0].numpy(), depth[..., 0])
    np.testing.assert_array_equal(s.normal[1].numpy(), normal.transpose(2, 0, 1))
    assert s.label.dtype == torch.int64 and s.label.min() == -1


def test_nyuv2_loader_resizes(tmp_path):
    _write_nyu(tmp_path, "train", 2, h=16, w=16)
    s = load_nyuv2(tmp_path, "train", size=8)
    assert s.images.shape == (2, 8, 8) and s.depth.shape == (2, 1, 8, 8) and s.normal.shape == (2, 3, 8, 8)
    full = load_nyuv2(tmp_path, "train")
    torch.testing.assert_close(s.label, full.label[:, ::2, ::2])  # nearest neighbour keeps every other pixel


def test_nyuv2_loader_errors(tmp_path):
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        load_nyuv2(tmp_path, "test")
    with pytest.raises(ValueError, match=r"no NYUv2 folder\(s\) \['image', 'label', 'depth', 'normal'\]"):
        load_nyuv2(tmp_path, "train")
    for part in ("image", "label", "depth", "normal"):
        (tmp_path / "val" / part).mkdir(parents=True)
    with pytest.raises(ValueError, match="no .npy images"):
        load_nyuv2(tmp_path, "val")
    with pytest.raises(ValueError, match="multiple of 4"):
        load_nyuv2(tmp_path, "val", size=10)
