"""The result pages (translator models, detectors, evaluations and their comparison, experiments) with data in
them. Cheap: the pages fed API answers recorded from a real run (recorded/result_pages.json), in the default
run. Slow: the same pages on rows trained and evaluated through the API on the embedded stack."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.scenes import png_bytes
from tests.web.test_pages import _ready

RECORDED = json.loads((Path(__file__).parent / "recorded" / "result_pages.json").read_text())
PNG = png_bytes(np.full((8, 8, 3), 128, dtype=np.uint8))


def result_routes(ids: dict) -> list[str]:
    e0, e1 = ids["evaluations"]
    return [
        "#/models",
        f"#/models/{ids['model']}",
        "#/detectors",
        f"#/detectors/{ids['detector']}",
        "#/evaluations",
        f"#/evaluations/{e0}",
        f"#/evaluations/{e1}",
        f"#/evaluations/compare?a={e0}&b={e1}",
        "#/experiments",
        f"#/experiments/{ids['experiment']}",
    ]


def check_result_pages(page, url: str, ids: dict, shots: Path | None = None) -> None:  # noqa: ANN001
    """Every page renders, with no console error and no NaN/undefined/[object …] in its text, its charts
    drawn and its images loaded."""
    for route in result_routes(ids):
        page.goto(f"{url}/{route}")
        _ready(page, route.split("?")[0])
        page.wait_for_load_state("networkidle")
        text = page.inner_text("main")
        assert page.locator("h1").first.inner_text() != "Something went wrong", (route, text)
        for word in ("NaN", "undefined", "[object", "Infinity"):
            assert word not in text, (route, word, text)
        assert not page.console.errors, (route, page.console.errors)
        page.wait_for_function(
            "[...document.querySelectorAll('main img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        if shots is not None:
            page.screenshot(
                path=str(shots / f"{route.strip('#/').replace('/', '_')[:40]}.png"), full_page=True
            )
    e0, e1 = ids["evaluations"]
    # The translator model: its losses per epoch and samples per epoch.
    page.goto(f"{url}/#/models/{ids['model']}")
    _ready(page, f"#/models/{ids['model']}")
    assert page.locator("figure.chart-box svg path").count() == 8  # G_A … idt_B
    assert page.locator(".sample-row").count() == 2
    # The detector: losses (train and val) and validation scores, not lr or seconds.
    page.goto(f"{url}/#/detectors/{ids['detector']}")
    _ready(page, f"#/detectors/{ids['detector']}")
    legends = page.locator("figure.chart-box svg text").all_text_contents()
    assert {"train box", "val cls", "precision", "map50_95"} <= set(legends), legends
    assert not {"lr.pg0", "seconds", "fitness"} & set(legends), legends
    # The comparison names what it compares; axis ticks are distinct numbers.
    page.goto(f"{url}/#/evaluations/compare?a={e0}&b={e1}")
    _ready(page, "#/evaluations/compare")
    main = page.inner_text("main")
    assert f"a: evaluation {e0[:8]}" in main and "predictions file://" in main, main
    ticks = page.locator("figure.chart-box svg text[text-anchor=middle]").all_text_contents()
    assert len(set(ticks)) == len(ticks), ticks
    # The experiment: a row per arm × slice, one seed said so, and its runs linked.
    page.goto(f"{url}/#/experiments/{ids['experiment']}")
    _ready(page, f"#/experiments/{ids['experiment']}")
    main = page.inner_text("main")
    assert "needs 2+ seeds" in main and "– – –" not in main, main
    assert page.locator("table", has_text="Evaluation status").locator("a").count() == 2


def test_result_pages_render_recorded_answers(page, stack) -> None:  # noqa: ANN001
    """The pages on API answers recorded from a real run, served in place of the API."""

    def answer(route) -> None:  # noqa: ANN001
        path = route.request.url.removeprefix(stack.url)
        if path.endswith(".png") or "/samples/" in path or path.endswith("/image"):
            route.fulfill(status=200, body=PNG, content_type="image/png")
        elif path in RECORDED:
            route.fulfill(status=200, body=json.dumps(RECORDED[path]), content_type="application/json")
        else:
            route.continue_()

    page.route("**/v1/**", answer)
    check_result_pages(page, stack.url, RECORDED["_routes"])


@pytest.mark.slow
def test_result_pages_with_trained_rows(page, stack, tmp_path) -> None:  # noqa: ANN001
    """A detector trained, evaluated twice and compared, a 1 x 1 experiment and a CycleGAN trained, all
    through the API; then every result page on them."""
    from tests.web.result_data import make_result_rows

    rows = make_result_rows(stack.url, stack.data / "results")
    ids = {
        "model": rows.translator_id,
        "detector": rows.detector_id,
        "evaluations": rows.evaluation_ids,
        "experiment": rows.experiment_id,
    }
    check_result_pages(page, stack.url, ids)
    # A detector page says what the training started from.
    page.goto(f"{stack.url}/#/detectors/{rows.detector_id}")
    _ready(page, f"#/detectors/{rows.detector_id}")
    assert "trained from random (from scratch)" in page.inner_text("main")
