import io

import pytest

pytest.importorskip("matplotlib")
from matplotlib import image as mpimg  # noqa: E402

from services.evaluator.plot import plot_experiment, plot_rows  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_rows_png_with_and_without_intervals():
    rows = [
        {"slice": s, "class": c, "ap50": 0.5 + 0.1 * i, "ap50_low": lo, "ap50_high": hi}
        for s, lo, hi in (("occluded<=5", 0.4, 0.8), ("all", None, None))
        for i, c in enumerate(("all", "car", "truck"))
    ]
    png = plot_rows(rows)
    assert png.startswith(PNG)
    assert mpimg.imread(io.BytesIO(png)).shape[0] > 100


def test_plot_experiment_png():
    table = [
        {"arm": arm, "slice": s, "mean": m, "std": 0.02}
        for arm, m in (("synthetic", 0.3), ("physics", 0.4), ("cyclegan", 0.45))
        for s in ("occluded<=5", "occluded<=10", "all")
    ]
    assert plot_experiment(table).startswith(PNG)
