"""Procedural scenes with exact dense labels, and a loader for NYUv2 in the layout that MTAN and LibMTL use.

NYUv2 (segmentation, depth and surface normals of indoor rooms) is the standard dense multi-task benchmark, but it
cannot be downloaded here and it needs a GPU. ``make_scenes`` builds the same task structure from geometry: a pinhole
camera at the origin looks along +z at a floor (``y = -1``), a back wall and a few spheres, boxes and cylinders
standing on the floor. Ray casting in NumPy gives, per pixel, the class of the surface hit, its depth (the z of the hit
point) and its unit normal. The input image is what a camera would see: Lambertian shading under a random light, a
per-class albedo with a texture, and pixel noise, stored as grayscale ``uint8`` so that ``mtl_utils.foundations.data.TaskData``
carries it unchanged. Scenes are drawn from a seed, so the same seed gives the same scenes, and are cached on disk.

``load_nyuv2`` reads the preprocessed NYUv2 (``<root>/<split>/{image,label,depth,normal}/<i>.npy``) into the same
``Scenes`` container, so a chapter's code runs on the real data unchanged. The book does not download it.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..foundations.mnist import write_atomic

__all__ = ["CLASSES", "Scenes", "render", "make_scenes", "scene_cache_dir", "load_nyuv2"]

#: The surface classes, in label order.
CLASSES = ("wall", "floor", "sphere", "box", "cylinder")
FLOOR_Y = -1.0
#: Base albedo per class (each scene jitters it), so that intensity alone hints at, but does not fix, the class.
ALBEDO = np.array([0.55, 0.45, 0.75, 0.65, 0.85])
_VERSION = 1  # bump when the renderer changes, so that cached scenes are rebuilt


@dataclass(frozen=True)
class Scenes:
    """Images with their dense labels, aligned on the first dimension.

    ``images`` uint8 ``[N, H, W]``; ``label`` int64 ``[N, H, W]`` (class index, −1 where unlabelled); ``depth`` float32
    ``[N, 1, H, W]`` (0 where unknown); ``normal`` float32 ``[N, 3, H, W]`` (unit vectors, 0 where unknown).
    """

    images: torch.Tensor
    label: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor

    def __post_init__(self) -> None:
        n, h, w = self.images.shape if self.images.dim() == 3 else (None, None, None)
        if self.images.dtype != torch.uint8 or n is None:
            raise ValueError(f"images must be uint8 [N, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        for name, shape in (("label", (n, h, w)), ("depth", (n, 1, h, w)), ("normal", (n, 3, h, w))):
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(getattr(self, name).shape)}")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> "Scenes":
        """The scenes at ``index`` (a slice or an index tensor)."""
        return Scenes(self.images[index], self.label[index], self.depth[index], self.normal[index])


def _check_size(size: int, what: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"{what} must be an int, got {type(size).__name__}")
    if size < 8 or size % 4:
        raise ValueError(f"{what} must be a multiple of 4 and at least 8 (the networks pool twice), got {size}")
    return size


def _rays(size: int, fov_degrees: float = 60.0) -> np.ndarray:
    """Unit ray directions ``[size*size, 3]`` of a pinhole camera at the origin looking along +z (y up, row 0 on top)."""
    half = np.tan(np.radians(fov_degrees) / 2)
    coords = (np.arange(size) + 0.5) / size * 2 - 1  # pixel centres in (-1, 1)
    x, y = np.meshgrid(coords * half, -coords * half)
    d = np.stack([x, y, np.ones_like(x)], axis=-1).reshape(-1, 3)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _sphere(d: np.ndarray, centre: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameter ``t`` of the nearest hit (inf on a miss) and the outward normal, for rays from the origin."""
    b = d @ centre
    disc = b ** 2 - (centre @ centre - radius ** 2)
    t = np.where(disc >= 0, b - np.sqrt(np.maximum(disc, 0)), np.inf)
    t = np.where(t > 1e-6, t, np.inf)
    return t, (t[:, None] * d - centre) / radius


def _box(d: np.ndarray, centre: np.ndarray, half: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Slab test on a box rotated by ``yaw`` about the vertical axis: ``t`` of the entry point and its normal."""
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # box frame -> world
    o, dl = -centre @ rot, d @ rot  # the origin and the rays in the box frame
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-half - o) / dl, (half - o) / dl
    near, far = np.minimum(t1, t2), np.maximum(t1, t2)
    near = np.nan_to_num(near, nan=-np.inf)
    t_in, t_out = near.max(axis=1), np.nan_to_num(far, nan=np.inf).min(axis=1)
    t = np.where((t_in <= t_out) & (t_in > 1e-6), t_in, np.inf)
    axis = near.argmax(axis=1)
    local = np.zeros_like(d)
    local[np.arange(len(d)), axis] = -np.sign(dl[np.arange(len(d)), axis])
    return t, local @ rot.T


def _cylinder(d: np.ndarray, centre: np.ndarray, radius: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """A vertical cylinder standing on the floor at ``centre`` (x, z): side or top cap, ``t`` and normal."""
    cx, cz = centre
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = d[:, 0] * cx + d[:, 2] * cz
    disc = b ** 2 - a * (cx ** 2 + cz ** 2 - radius ** 2)
    t_side = np.where(disc >= 0, (b - np.sqrt(np.maximum(disc, 0))) / a, np.inf)
    y_side = t_side * d[:, 1]
    t_side = np.where((t_side > 1e-6) & (y_side >= FLOOR_Y) & (y_side <= FLOOR_Y + height), t_side, np.inf)
    with np.errstate(divide="ignore"):
        t_top = np.where(d[:, 1] > 0, (FLOOR_Y + height) / d[:, 1], np.inf)
    p = t_top[:, None] * d
    inside = np.isfinite(t_top) & ((p[:, 0] - cx) ** 2 + (p[:, 2] - cz) ** 2 <= radius ** 2)
    t_top = np.where(inside, t_top, np.inf)
    side = t_side <= t_top
    t = np.minimum(t_side, t_top)
    hit = np.where(np.isfinite(t), t, 0)[:, None] * d
    n_side = np.stack([hit[:, 0] - cx, np.zeros(len(d)), hit[:, 2] - cz], axis=1) / radius
    return t, np.where(side[:, None], n_side, np.array([0.0, 1.0, 0.0]))


def _planes(d: np.ndarray, wall_z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The floor and the back wall: every ray hits one of them. Returns ``t``, the normals and the class (0 or 1)."""
    with np.errstate(divide="ignore"):
        t_floor = np.where(d[:, 1] < 0, FLOOR_Y / d[:, 1], np.inf)
    t_wall = wall_z / d[:, 2]
    floor = t_floor < t_wall
    normal = np.where(floor[:, None], np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]))
    return np.where(floor, t_floor, t_wall), normal, floor.astype(np.int64)


def render(objects: list[tuple], size: int, wall_z: float = 8.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray-cast a scene: ``(label [H, W], depth [H, W], normal [3, H, W])`` with ``H = W = size``.

    ``objects`` holds ``("sphere", centre (x, y, z), radius)``, ``("box", centre, half sizes, yaw)`` or
    ``("cylinder", (x, z), radius, height)``; the depth is the z of the hit point.
    """
    size = _check_size(size)
    d = _rays(size)
    t, normal, label = _planes(d, wall_z)
    casters = {"sphere": _sphere, "box": _box, "cylinder": _cylinder}
    for obj in objects:
        if obj[0] not in casters:
            raise ValueError(f"unknown object kind {obj[0]!r}; use one of {sorted(casters)}")
        t_obj, n_obj = casters[obj[0]](d, *(np.asarray(a, dtype=float) for a in obj[1:]))
        closer = t_obj < t
        t, label = np.where(closer, t_obj, t), np.where(closer, CLASSES.index(obj[0]), label)
        normal = np.where(closer[:, None], n_obj, normal)
    normal = normal / np.linalg.norm(normal, axis=1, keepdims=True)
    return label.reshape(size, size), (t * d[:, 2]).reshape(size, size), normal.T.reshape(3, size, size)


def _random_objects(rng: np.random.Generator) -> list[tuple]:
    objects = []
    for _ in range(rng.integers(3, 6)):
        kind = CLASSES[2 + rng.integers(3)]
        x, z = rng.uniform(-2.0, 2.0), rng.uniform(2.5, 6.0)
        if kind == "sphere":
            r = rng.uniform(0.4, 0.9)
            objects.append(("sphere", (x, FLOOR_Y + r, z), r))
        elif kind == "box":
            half = rng.uniform([0.25, 0.25, 0.25], [0.7, 0.8, 0.7])
            objects.append(("box", (x, FLOOR_Y + half[1], z), half, rng.uniform(0, np.pi / 2)))
        else:
            objects.append(("cylinder", (x, z), rng.uniform(0.25, 0.6), rng.uniform(0.5, 1.8)))
    return objects


def _shade(rng: np.random.Generator, label: np.ndarray, depth: np.ndarray, normal: np.ndarray,
           noise: float) -> np.ndarray:
    """Lambertian image: albedo (per class, jittered, textured) × (ambient + max(0, n·l)) + Gaussian noise."""
    size = label.shape[0]
    light = np.array([rng.uniform(-1, 1), rng.uniform(0.3, 1.2), -rng.uniform(0.3, 1.0)])  # towards the light
    light /= np.linalg.norm(light)
    albedo = np.clip(ALBEDO + rng.normal(0, 0.08, len(ALBEDO)), 0.1, 1.0)[label]
    coords = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(coords, coords)
    floor_tex = 0.85 + 0.15 * np.sign(np.sin(6 * np.pi * u / depth)) * np.sign(np.sin(3 * np.pi * depth))  # checks
    wall_tex = 0.9 + 0.1 * np.sin(2 * np.pi * (rng.uniform(3, 6) * v + rng.uniform(0, 1)))  # stripes
    texture = np.where(label == 1, floor_tex, np.where(label == 0, wall_tex, 1.0))
    texture = texture * (1 + 0.08 * rng.standard_normal((size, size)))  # fine speckle on every surface
    shading = 0.25 + np.clip(np.einsum("chw,c->hw", normal, light), 0, None)
    image = albedo * texture * shading / 1.25 + noise * rng.standard_normal((size, size))
    return np.clip(np.round(255 * image), 0, 255).astype(np.uint8)


def scene_cache_dir() -> Path:
    """Where generated scenes are cached: ``$MTL_DATA_DIR/scenes`` if set, else ``~/.cache/mtl_utils/scenes``."""
    root = os.environ.get("MTL_DATA_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "mtl_utils") / "scenes"


def make_scenes(n: int, size: int = 32, seed: int = 0, noise: float = 0.03, cache: bool = True) -> Scenes:
    """``n`` random scenes of ``size × size`` pixels drawn from ``seed`` (scene ``i`` uses ``seed`` and ``i``).

    With ``cache=True`` the result is stored in ``scene_cache_dir()`` and read back on the next call.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    size = _check_size(size)
    if not noise >= 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    path = scene_cache_dir() / f"scenes-v{_VERSION}-n{n}-s{size}-seed{seed}-noise{noise:g}.pt"
    if cache and path.is_file():
        try:
            return Scenes(**torch.load(path, weights_only=True))
        except Exception:  # unreadable or truncated: rebuild below
            pass
    images, labels, depths, normals = [], [], [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        label, depth, normal = render(_random_objects(rng), size, wall_z=rng.uniform(7.0, 9.0))
        images.append(_shade(rng, label, depth, normal, noise))
        labels.append(label), depths.append(depth), normals.append(normal)
    scenes = Scenes(torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels)),
                    torch.from_numpy(np.stack(depths)[:, None].astype(np.float32)),
                    torch.from_numpy(np.stack(normals).astype(np.float32)))
    if cache:
        buffer = io.BytesIO()
        torch.save({k: getattr(scenes, k) for k in ("images", "label", "depth", "normal")}, buffer)
        write_atomic(path, buffer.getvalue())
    return scenes


def _resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, size=(size, size), mode=mode)


def load_nyuv2(root: str | os.PathLike, split: str = "train", size: int | None = None) -> Scenes:
    """Read preprocessed NYUv2 from ``<root>/<split>/{image,label,depth,normal}/<i>.npy`` into ``Scenes``.

    This is the layout that MTAN's and LibMTL's ``create_dataset.py`` read: ``image`` ``[H, W, 3]`` in [0, 1],
    ``label`` ``[H, W]`` (13 classes, −1 unlabelled), ``depth`` ``[H, W, 1]`` (0 where missing), ``normal``
    ``[H, W, 3]``. ``split`` is ``"train"`` or ``"val"`` (their test set). The image becomes grayscale (luma) ``uint8``,
    as ``TaskData`` expects. With ``size``, everything is resized to ``size × size`` (bilinear for the image, nearest
    for the labels, depth and normals, as their augmentation does), so that the chapter's small networks run on it.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if size is not None:
        size = _check_size(size)
    base = Path(root) / split
    parts = ("image", "label", "depth", "normal")
    missing = [p for p in parts if not (base / p).is_dir()]
    if missing:
        raise ValueError(f"no NYUv2 folder(s) {missing} under {base}; expected <root>/<split>/{{{','.join(parts)}}}")
    count = len(list((base / "image").glob("*.npy")))
    if count == 0:
        raise ValueError(f"no .npy images in {base / 'image'}")
    arrays = {p: np.stack([np.load(base / p / f"{i}.npy") for i in range(count)]) for p in parts}
    image = torch.from_numpy(arrays["image"]).float().permute(0, 3, 1, 2)
    if image.shape[1] != 3:
        raise ValueError(f"NYUv2 images must be [H, W, 3], got {tuple(arrays['image'].shape[1:])}")
    gray = (0.299 * image[:, 0] + 0.587 * image[:, 1] + 0.114 * image[:, 2]).unsqueeze(1)
    label = torch.from_numpy(arrays["label"]).float().unsqueeze(1)
    depth = torch.from_numpy(arrays["depth"]).float().permute(0, 3, 1, 2)
    normal = torch.from_numpy(arrays["normal"]).float().permute(0, 3, 1, 2)
    if size is not None:
        gray, label = _resize(gray, size, "bilinear"), _resize(label, size, "nearest")
        depth, normal = _resize(depth, size, "nearest"), _resize(normal, size, "nearest")
    images = (gray.squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8)
    return Scenes(images, label.squeeze(1).long(), depth, normal)
