"""Colab's path, reproduced offline as far as this machine allows: chapters 1 and 12 and the closing chapter run
through the first cell's Colab branch, which installs ``mtl_utils`` for real with pip, in a fresh virtual
environment. The closing chapter runs alone, as Colab opens it: it reads the results that the package ships.

- The environment has only the packages that Colab preinstalls and the book uses (``COLAB_PACKAGES`` and what they
  depend on). They are not installed again: they are linked from this project's ``.venv`` (a torch download per run
  would take longer than the chapters), and the fresh environment sees them through a ``.pth`` file, as a
  ``--system-site-packages`` environment sees its base. Everything else (``torchjd`` and its solvers, ``mtl_utils``)
  is what the first cell's ``%pip install`` brings from PyPI and from the repository.
- A stand-in ``google.colab`` module is imported when the kernel starts, as on Colab, so the first cell takes its
  Colab branch.
- The repository URL of the first cell (``_config.yml``'s ``repository.url``) is swapped for a ``git+file://`` clone
  of this repository's commit (``HEAD``: what is not committed is not tested). Nothing else of the cell changes.
- Each chapter runs alone in an empty folder, as Colab opens a single notebook, with an empty model cache.

Needs PyPI (pip fetches ``torchjd`` and its solvers; pip's cache makes later runs quicker) and git. Run with
``make colab`` (``make test`` runs it too); about three minutes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import first_cell  # noqa: E402

# The closing chapter trains nothing: it reads the results that mtl_utils ships (mtl_utils.evidence.shipped_results).
CHAPTERS = ["01_why_multitask.ipynb", "12_mixture_of_experts.ipynb", "16_when_mtl_pays_off.ipynb"]
# What Colab's runtime has installed that the book's notebooks and mtl_utils import (torchjd is not among them).
COLAB_PACKAGES = ["torch", "torchvision", "numpy", "pandas", "matplotlib", "tqdm", "ipykernel"]
KERNEL_START = "import google.colab; from ipykernel import kernelapp; kernelapp.launch_new_instance()"


def dependency_closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, with their dependencies (no extras), from this interpreter."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed here
        seen[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return list(seen.values())


def link_site(dists: list[metadata.Distribution], target: Path) -> int:
    """Symbolic links in ``target`` to the top-level files and folders of ``dists``; return how many."""
    target.mkdir(parents=True)
    tops = set()
    for dist in dists:
        base = Path(dist.locate_file(""))
        for file in dist.files or []:
            if file.parts and file.parts[0] != ".." and not file.name.endswith(".pth"):
                tops.add(base / file.parts[0])
    for top in tops:
        (target / top.name).symlink_to(top)
    return len(tops)


def run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """A fresh environment with Colab's packages, a kernel that imports google.colab, and a clone of HEAD."""
    tmp = tmp_path_factory.mktemp("colab")
    commit = run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], 30).stdout.strip()
    clone = tmp / "repository"
    run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(clone)], 300)
    run(["git", "-C", str(clone), "checkout", "--quiet", commit], 60)

    venv = tmp / "venv"
    # --upgrade-deps: a current pip, as on Colab (the pip that ensurepip bundles may reject a git+file:// URL)
    run([sys._base_executable, "-m", "venv", "--upgrade-deps", str(venv)], 300)
    python = venv / "bin" / "python"
    site_packages = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], 60)
                         .stdout.strip())
    dists = dependency_closure(COLAB_PACKAGES)
    assert "mtl_utils" not in {canonicalize_name(d.metadata["Name"]) for d in dists}
    link_site(dists, tmp / "colab-site")
    (site_packages / "colab-preinstalled.pth").write_text(f"{tmp / 'colab-site'}\n")

    stub = tmp / "stub" / "google" / "colab"  # google/ stays a namespace package, as with google.protobuf
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab: the first cell only asks whether it is '
                                      'imported."""\n')
    kernel = tmp / "jupyter" / "kernels" / "colab"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-c", KERNEL_START, "-f", "{connection_file}"],
        "display_name": "Colab stand-in", "language": "python",
        "env": {"PYTHONPATH": str(tmp / "stub")}}))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTL_", "PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(JUPYTER_PATH=str(tmp / "jupyter"), MTL_MODEL_CACHE=str(tmp / "models"), MTL_PROGRESS="0",
               MTL_THREADS="1", MTL_RESULTS_DIR=str(tmp / "results"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    if os.environ.get("MTL_DATA_DIR"):  # offline MNIST; Colab downloads it
        env["MTL_DATA_DIR"] = os.environ["MTL_DATA_DIR"]
    return {"tmp": tmp, "clone": clone, "commit": commit, "python": python, "site": site_packages, "env": env}


def test_the_fresh_environment_lacks_what_the_first_cell_installs(colab):
    probe = "import importlib.util as u; print(u.find_spec('torch') is not None, u.find_spec('mtl_utils') is None, " \
            "u.find_spec('torchjd') is None)"
    done = run([str(colab["python"]), "-c", probe], 120, env=colab["env"], cwd=colab["tmp"])
    assert done.stdout.split() == ["True", "True", "True"], "torch preinstalled; mtl_utils and torchjd not yet"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_through_the_colab_branch(colab, chapter):
    nb = json.loads((colab["clone"] / "book" / chapter).read_text(encoding="utf-8"))
    committed = "".join(nb["cells"][0]["source"])
    assert committed == first_cell.cell_source(), "the committed first cell is the book's setup cell"
    local = first_cell.cell_source(url=f"file://{colab['clone']}")
    assert local == committed.replace(first_cell.repository_url(ROOT), f"file://{colab['clone']}")
    nb["cells"][0]["source"] = local.splitlines(keepends=True)
    work = colab["tmp"] / Path(chapter).stem
    work.mkdir()
    (work / chapter).write_text(json.dumps(nb), encoding="utf-8")

    jupyter_execute = Path(sys.executable).parent / "jupyter-execute"
    run([str(jupyter_execute), "--kernel_name=colab", "--timeout=1500", f"--output={work / 'executed.ipynb'}",
         str(work / chapter)], 1500, env=colab["env"], cwd=work)

    cells = json.loads((work / "executed.ipynb").read_text(encoding="utf-8"))["cells"]
    errors = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    # The install happened in the fresh environment, from the clone, with torchjd from PyPI.
    where = run([str(colab["python"]), "-c", "import mtl_utils, torchjd; print(mtl_utils.__file__); "
                 "print(torchjd.__file__)"], 120, env=colab["env"], cwd=work).stdout.split()
    assert all(Path(p).is_relative_to(colab["site"]) for p in where), where
    direct_url = next(colab["site"].glob("mtl_utils-*.dist-info")) / "direct_url.json"
    origin = json.loads(direct_url.read_text())
    assert origin["url"] == f"file://{colab['clone']}" and origin["vcs_info"]["commit_id"] == colab["commit"]
