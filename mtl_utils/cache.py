"""Train a model once, keep its weights on disk, and reuse them while the configuration is unchanged.

Several chapters need the same trained networks (the single-task baselines serve as references in chapter 4 and as
teachers in chapter 6). Each cached file is named after a hash of everything that determines the weights, and
stores that configuration too. A file that cannot be read, whose configuration differs, or whose tensors do not fit
the freshly built model is never used: the model is retrained and the file replaced.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from . import __version__
from .mnist import cache_dir, write_atomic


def model_cache_dir() -> Path:
    """Where trained weights are kept: ``<user cache>/mtl_utils/models``."""
    return cache_dir() / "models"


def config_key(config: Mapping) -> str:
    """A short, stable hash of a JSON-serializable configuration (the library version included)."""
    text = json.dumps({"mtl_utils": __version__, "torch": torch.__version__.split("+")[0], **config},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
    path = Path(root or model_cache_dir()) / f"{name}-{key}.pt"
    model = build()
    if path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # unreadable or truncated: retrain below
            payload = None
        if _usable(payload, key, model):
            model.load_state_dict(payload["state_dict"])
            if verbose:
                print(f"{name}: loaded trained weights from the cache")
            return model, {**payload["info"], "cached": True}
        if verbose:
            print(f"{name}: the cached file is stale or damaged; retraining")
    info = dict(train(model))
    json.dumps(info)  # fail early, with a clear TypeError, if info cannot be stored
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"key": key, "config": json.dumps(dict(config), sort_keys=True, default=str),
                "state_dict": state, "info": info}, buffer)
    write_atomic(path, buffer.getvalue())
    if verbose:
        print(f"{name}: trained and cached")
    return model, {**info, "cached": False}
