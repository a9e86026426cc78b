"""The optimizer benchmark's protocol on the tiny synthetic setting: equal budgets, test untouched until every choice
is made, resume equal to an uninterrupted run, and the command line."""
from __future__ import annotations

import dataclasses
import math
import os
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mtl_utils import benchmark as B
from mtl_utils.benchmark import settings as BS

METHODS = ["equal", "static grid", "uncertainty", "RLW", "PCGrad"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return B.run(["tiny"], METHODS, [0, 1], processes=1)


def test_configurations_are_one_per_learning_rate():
    protocol = B.PROTOCOLS["quick"]
    for method in [*B.METHODS, B.SINGLE]:
        configs = B.configurations(method, 3, protocol)
        assert [c.lr for c in configs] == list(protocol.lrs)
    static = B.configurations("static grid", 3, protocol)
    for config in static:
        assert math.isclose(sum(config.weights) / 3, 1.0, rel_tol=1e-3)
        assert max(config.weights) / min(config.weights) <= protocol.weight_range ** 2
    assert len({c.weights for c in static}) == len(static)  # a different draw per learning rate
    assert B.configurations("static grid", 3, protocol) == static  # a fixed generator


def test_tuning_budgets_are_equal(runs):
    tuning = runs[runs.phase == "tuning"]
    budget = tuning.groupby("method")["steps"].sum()
    size = BS.SETTINGS["tiny"].sizes["quick"]
    expected = len(B.PROTOCOLS["quick"].lrs) * 2 * size.steps  # configurations × tuning seeds × steps
    assert set(budget.index) == {B.SINGLE, *METHODS}
    assert (budget == expected).all(), budget


def test_one_chosen_configuration_per_method_and_five_columns(runs):
    tuning = runs[(runs.phase == "tuning") & (runs.method != B.SINGLE)]
    chosen = tuning[tuning.chosen].groupby("method")["config"].nunique()
    assert (chosen == 1).all() and set(chosen.index) == set(METHODS)
    final = runs[(runs.phase == "final") & (runs.method != B.SINGLE)]
    assert len(final) == len(METHODS) * 2
    for column in ("setting", "method", "config", "seed", "test:task1", "test:task2", "Δm%", "steps", "seconds"):
        assert final[column].notna().all(), column
    # the chosen configuration is the one with the best mean validation Δm% over the tuning seeds
    means = tuning.groupby(["method", "config"])["val Δm%"].mean()
    for method, row in final.groupby("method").first().iterrows():
        assert means[method].idxmax() == row["config"]
    single = runs[(runs.phase == "final") & (runs.method == B.SINGLE)]
    assert (single["Δm%"] == 0).all() and len(single) == 2


class SplitTouched(Exception):
    pass


def _tiny_with(test_data) -> BS.Setting:
    return dataclasses.replace(BS.SETTINGS["tiny"], test_data=test_data)


def test_selection_never_reads_test(monkeypatch):
    phases = []
    real = B.side_by_side
    monkeypatch.setattr(B, "side_by_side", lambda fn, items, **kw: phases.append(kw["desc"]) or real(fn, items, **kw))

    def forbidden(size):
        raise SplitTouched(f"test data read after the phases {phases}")

    monkeypatch.setitem(BS.SETTINGS, "tiny", _tiny_with(forbidden))
    with pytest.raises(SplitTouched) as info:
        B.run(["tiny"], ["equal", "uncertainty"], [0, 1], processes=1)
    assert str(info.value) == "test data read after the phases ['tuning']"  # every choice was made, nothing after


def test_choices_do_not_depend_on_the_test_split(monkeypatch, runs):
    original = BS.SETTINGS["tiny"]

    def shuffled(size):  # test targets that have nothing to do with the inputs
        data = original.test_data(size)
        return BS.VectorData(data.images, {k: v.flip(0) for k, v in data.targets.items()})

    monkeypatch.setitem(BS.SETTINGS, "tiny", _tiny_with(shuffled))
    other = B.run(["tiny"], METHODS, [0, 1], processes=1)
    assert other.config.tolist() == runs.config.tolist()
    assert other["val Δm%"].equals(runs["val Δm%"])
    assert not other["Δm%"].equals(runs["Δm%"])  # the test split did change


def test_resume_equals_an_uninterrupted_run(monkeypatch, tmp_path, runs):
    calls = []
    real_fit = B.fit

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(B, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        B.run(["tiny"], METHODS, [0, 1], out=tmp_path, processes=1)
    with pytest.raises(ValueError, match="already holds runs: pass --resume"):
        B.run(["tiny"], METHODS, [0, 1], out=tmp_path, processes=1)
    calls.clear()
    monkeypatch.setattr(B, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    resumed = B.run(["tiny"], METHODS, [0, 1], out=tmp_path, resume=True, processes=1)
    total = (len(METHODS) + 1) * len(B.PROTOCOLS["quick"].lrs) * 2  # every run is a tuning run at two seeds
    assert len(calls) == total - 9  # the nine runs that finished were not trained again
    timing = ["seconds", "ms/step"]
    pd.testing.assert_frame_equal(resumed.drop(columns=timing), runs.drop(columns=timing))
    assert (tmp_path / "runs.csv").is_file()


def test_unknown_names_and_too_few_seeds():
    with pytest.raises(ValueError, match="unknown method 'Adam'; choose from equal, static grid"):
        B.run(["tiny"], ["Adam"], [0, 1])
    with pytest.raises(ValueError, match="unknown setting 'nyuv2'; choose from three-tasks"):
        B.run(["nyuv2"], ["equal"], [0, 1])
    with pytest.raises(ValueError, match="at least 2 distinct seeds"):
        B.run(["tiny"], ["equal"], [0])
    with pytest.raises(ValueError, match="unknown mode 'slow'"):
        B.run(["tiny"], ["equal"], [0, 1], mode="slow")


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        B.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for action in B.parser()._actions:
        assert action.help, action.option_strings
        for option in action.option_strings:
            assert option in text


@pytest.mark.parametrize("argv, message", [
    (["--methods", "Adam"], "unknown method 'Adam'"),
    (["--settings", "nyuv2"], "unknown setting 'nyuv2'"),
    (["--seeds", "1"], "--seeds must be at least 2"),
    (["--quick", "--full"], "not allowed with argument"),
])
def test_bad_options_give_one_clear_error(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        B.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_quick_end_to_end_on_the_tiny_setting(tmp_path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "MTL_PROGRESS": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "mtl_utils.benchmark", "--quick", "--settings", "tiny", "--seeds", "2",
                           "--out", str(tmp_path)], check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(tmp_path / "runs.csv")
    final = runs[(runs.phase == "final") & (runs.method != B.SINGLE)]
    assert sorted(final.method.unique()) == sorted(B.METHODS)
    assert "mean test Δm% over 2 seeds" in done.stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert cpu < 60, f"{cpu:.0f} s of CPU time"  # CPU time, not wall-clock: a busy CI machine does not fail it
