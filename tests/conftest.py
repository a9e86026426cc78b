import os
from pathlib import Path

import pytest

from mtl_utils import load_mnist


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST, from MTL_DATA_DIR or the user cache (fetched once if needed)."""
    return load_mnist(verbose=False)


@pytest.fixture
def raw_copy(tmp_path, mnist):
    """A private copy of the four MNIST files under tmp_path/MNIST/raw, safe to damage."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (Path(mnist.root) / "MNIST" / "raw").glob("*-ubyte"):
        (raw / f.name).write_bytes(f.read_bytes())
    return tmp_path


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No MTL_DATA_DIR, and an empty user cache in a temporary folder."""
    monkeypatch.delenv("MTL_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mtl_utils"


@pytest.fixture(autouse=True)
def _no_model_cache_override(monkeypatch):
    """CI sets MTL_MODEL_CACHE for the notebooks; unit tests choose their own cache folder (XDG_CACHE_HOME or root=)."""
    monkeypatch.delenv("MTL_MODEL_CACHE", raising=False)
