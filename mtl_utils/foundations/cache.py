"""Train a model once, keep its weights on disk, and reuse them while the configuration is unchanged.

Several chapters need the same trained networks (the single-task baselines serve as references in chapter 4 and as
teachers in chapter 6). Each cached file is named after a hash of everything that determines the weights: the
configuration, the torch version, and the source code of ``mtl_utils`` itself, so that an edit to ``fit``, a model
or the data code retrains instead of loading weights the current code would not produce. A file that cannot be read,
whose key differs, or whose tensors do not fit the freshly built model is never used: the model is retrained and the
file replaced. Files that older code made are deleted, so stale weights do not pile up.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from .mnist import cache_dir, write_atomic

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # mtl_utils/, above this subpackage


def model_cache_dir() -> Path:
    """Where trained weights are kept: ``$MTL_MODEL_CACHE`` if set (CI points it at an empty folder), else
    ``<user cache>/mtl_utils/models``."""
    override = os.environ.get("MTL_MODEL_CACHE")
    return Path(override) if override else cache_dir() / "models"


def _file_hashes(package_dir: Path) -> dict[str, str]:
    return {path.relative_to(package_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            for path in sorted(Path(package_dir).rglob("*.py"))}


@functools.cache
def module_hashes(package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """A short hash of each ``*.py`` file of the package, by its path inside the package (``"train.py"``)."""
    return _file_hashes(package_dir)


@functools.cache
def source_hash(package_dir: Path = PACKAGE_DIR) -> str:
    """A hash of every ``*.py`` file of the package (names and contents, in sorted order).

    The package is small and training touches most of it (``fit``, the models, the losses, the data), so the whole of
    it is hashed rather than a hand-kept list of modules that could fall out of date.
    """
    text = "".join(f"{name}\0{digest}\0" for name, digest in _file_hashes(package_dir).items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_key(config: Mapping) -> str:
    """A short, stable hash of a JSON-serializable configuration, the torch version and ``source_hash()``."""
    text = json.dumps({"mtl_utils_source": source_hash(), "torch": torch.__version__.split("+")[0], **config},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stem(name: str, key: str) -> str:
    """File names carry the source hash, so that files made by other code can be found without opening them."""
    return f"{name}-{source_hash()[:8]}-{key}"


def prune(name: str, root: Path | None = None) -> list[Path]:
    """Delete the cached files called ``name`` that older (or newer) ``mtl_utils`` source made; return their paths.

    Files from the current source are all kept (the book asks for a bounded set of configurations), so stale
    weights never pile up: at most one generation of files per name is on disk.
    """
    current = re.compile(rf"{re.escape(name)}-{source_hash()[:8]}-[0-9a-f]{{16}}\.pt")
    ours = re.compile(rf"{re.escape(name)}-([0-9a-f]{{8}}-)?[0-9a-f]{{16}}\.pt")
    stale = [p for p in Path(root or model_cache_dir()).glob(f"{name}-*.pt")
             if ours.fullmatch(p.name) and not current.fullmatch(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def clear(root: Path | None = None) -> int:
    """Delete every cached model (``make clean-cache``); return how many files were removed."""
    files = list(Path(root or model_cache_dir()).glob("*.pt"))
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)


def timing_note(info: Mapping) -> str:
    """Say where a training time comes from: "trained in 18.2 s", or "loaded from the cache (trained in 18.2 s)"."""
    trained = f"trained in {info['seconds']:.1f} s"
    return f"loaded from the cache ({trained} when it was made)" if info.get("cached") else trained


def _usable(payload, key: str, model: nn.Module) -> bool:
    if not isinstance(payload, dict) or payload.get("key") != key:
        return False
    state = payload.get("state_dict")
    expected = model.state_dict()
    return isinstance(state, dict) and state.keys() == expected.keys() and all(
        state[k].shape == v.shape and state[k].dtype == v.dtype for k, v in expected.items())


def train_or_load(name: str, config: Mapping, build: Callable[[], nn.Module],
                  train: Callable[[nn.Module], Mapping], root: Path | None = None,
                  verbose: bool = True) -> tuple[nn.Module, dict]:
    """Return ``(model, info)``: the cached weights if valid, else ``build()`` trained by ``train(model)``.

    ``config`` must name everything that changes the trained weights (architecture, tasks, recipe, seed, data).
    ``train`` trains the model in place and returns JSON-serializable facts about the run (e.g. seconds,
    accuracy), which are stored and returned with ``info["cached"]`` telling whether training was skipped.
    Files are loaded with ``torch.load(weights_only=True)`` and written atomically.
    """
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"cache name must use letters, digits, '.', '_' or '-', got {name!r}")
    key = config_key(config)
    path = Path(root or model_cache_dir()) / f"{_stem(name, key)}.pt"
    model = build()
    if path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # unreadable or truncated: retrain below
            payload = None
        if _usable(payload, key, model):
            model.load_state_dict(payload["state_dict"])
            info = {**payload["info"], "cached": True}
            if verbose:
                seconds = f" (trained in {info['seconds']:.1f} s when it was made)" if "seconds" in info else ""
                print(f"{name}: loaded trained weights from the cache{seconds}")
            return model, info
        if verbose:
            print(f"{name}: the cached file is stale or damaged; retraining")
    info = dict(train(model))
    json.dumps(info)  # fail early, with a clear TypeError, if info cannot be stored
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"key": key, "config": json.dumps(dict(config), sort_keys=True, default=str),
                "state_dict": state, "info": info}, buffer)
    write_atomic(path, buffer.getvalue())
    prune(name, path.parent)
    if verbose:
        print(f"{name}: trained and cached")
    return model, {**info, "cached": False}
