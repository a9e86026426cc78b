import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mtl_utils.foundations import plots  # noqa: E402
from mtl_utils.foundations.train import History  # noqa: E402


def test_learning_curves_one_line_per_run():
    runs = {name: History([{"epoch": e, "seconds": e, "digit_eval_accuracy": 0.9 + e / 100 + k}
                           for e in (1, 2, 3)]) for k, name in enumerate(["a", "b"])}
    ax = plots.learning_curves(runs, "digit_eval_accuracy")
    assert len(ax.lines) == 2 and list(ax.lines[0].get_xdata()) == [1, 2, 3]
    with pytest.raises(ValueError, match="no column 'loss'"):
        plots.learning_curves(runs, "loss")
    plt.close("all")


def test_bar_compare_and_tradeoff():
    table = pd.DataFrame({"accuracy": [97.5, 98.1]}, index=["single", "hard"])
    ax = plots.bar_compare(table, "accuracy")
    assert len(ax.patches) == 2
    with pytest.raises(ValueError, match="no column"):
        plots.bar_compare(table, "seconds")
    points = pd.DataFrame({"r": [0, 1], "digit": [2.0, 2.3], "parity": [50.0, 1.0]})
    ax = plots.tradeoff(points, "digit", "parity", label="r")
    assert len(ax.texts) == 2
    with pytest.raises(ValueError, match="no column 'ink'"):
        plots.tradeoff(points, "digit", "ink")
    plt.close("all")
